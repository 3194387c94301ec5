"""HTTP front end: URL routing, verbs, content types, Status errors, fault injection and the `/_sim/*` admin API.

Paths are parsed exactly as the API server lays them out:
  /api/v1/<plural>[/<name>[/<sub>]]                              cluster-scoped kinds, or all-namespace lists
  /api/v1/namespaces/<ns>/<plural>[/<name>[/<sub>]]              namespaced kinds
  /apis/<group>/<version>/...                                    same shapes for named groups
Verbs map as GET item=get, GET collection=list (or watch), POST=create, PUT=update, PATCH=patch,
DELETE item=delete, DELETE collection=deletecollection.  Responses are JSON (`text/plain` for pod logs);
every failure is a `Status` object.  Lists are assembled from each entry's cached JSON (see store.Entry).
"""
from __future__ import annotations

import base64
import collections
import json
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from . import resources as R
from . import tables, telemetry
from .errors import ApiError
from .patch import apply_patch
from .resources import BY_KIND, lookup
from .selectors import FieldSelector, LabelSelector
from ..httpserver import SimulatorHTTPServer
from .store import dumps

JSON = "application/json"
REQUEST_LOG_SIZE = 20000
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


class Response:
    __slots__ = ("code", "ctype", "body", "stream", "close")

    def __init__(self, code=200, body=b"", ctype=JSON, stream=None, close=False):
        self.code, self.body, self.ctype, self.stream, self.close = code, body, ctype, stream, close


def _json(obj, code=200) -> Response:
    return Response(code, dumps(obj))


def _status_response(err: ApiError) -> Response:
    return Response(err.code, dumps(err.status()))


def _q1(query: dict, key: str, default=None):
    v = query.get(key)
    return v[0] if v else default


def _qbool(query: dict, key: str) -> bool:
    return str(_q1(query, key, "")).lower() in ("true", "1", "yes")


def _qint(query: dict, key: str) -> int | None:
    v = _q1(query, key)
    if v in (None, ""):
        return None
    try:
        return int(v)
    except ValueError:
        raise ApiError.bad_request(f"invalid value for {key}: {v!r}") from None


class ApiServer:
    """Transport-independent request handling; `handle()` returns a Response."""

    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store
        self.faults = sim.faults
        self.requests = 0
        # What an authorizer would see for each request the API handled (after faults and authentication):
        # {"verb", "apiGroup", "apiVersion", "resource", "subresource", "namespace", "name", "method", "path"},
        # or {"verb", "nonResourceURL", "method", "path"} for discovery, /version, /healthz, ...
        self.request_log: collections.deque = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self.scrapes = telemetry.Scrapes()

    # ------------------------------------------------------------------------------------------ entry
    def handle(self, method: str, raw_path: str, headers, body: bytes) -> Response:
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            if path == "/_sim" or path.startswith("/_sim/"):
                return self._admin(method, path, query, body)
            self.requests += 1
            fault, delay = self.faults.api_fault(path)
            if delay:
                time.sleep(delay)
            if fault:
                kind, arg = fault
                if kind == "down" and arg == "close":
                    return Response(close=True)
                code = 503 if kind == "down" else int(arg)
                reason = {500: "InternalError", 502: "InternalError", 503: "ServiceUnavailable",
                          504: "Timeout", 429: "TooManyRequests"}.get(code, "InternalError")
                msg = "the server is currently unable to handle the request" if code == 503 else \
                    "an error on the server (\"simulated fault\") has prevented the request from succeeding"
                return _status_response(ApiError(code, reason, msg, {}))
            if self.sim.token and headers.get("Authorization") != f"Bearer {self.sim.token}":
                return _status_response(ApiError(401, "Unauthorized", "Unauthorized"))
            return self._api(method, path, query, headers, body)
        except ApiError as e:
            return _status_response(e)
        except Exception as e:  # noqa: BLE001 - surfaced as a 500 Status, like an apiserver panic handler
            traceback.print_exc()
            return _status_response(ApiError(500, "InternalError", f"an error on the server (\"{e}\") has "
                                                                   f"prevented the request from succeeding", {}))

    # ------------------------------------------------------------------------------------------ routing
    def _api(self, method, path, query, headers, body) -> Response:
        record = {"verb": method.lower(), "nonResourceURL": path, "method": method, "path": path}
        self.request_log.append(record)
        if path == "/version":
            return _json(R.K8S_VERSION)
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/api":
            return _json(R.api_versions(f"{self.sim.host}:{self.sim.port}"))
        if path == "/apis":
            return _json(R.api_group_list())
        if path == "/openapi/v2":
            if "protobuf" in (headers.get("Accept") or ""):
                raise ApiError.path_not_found(path)  # only the JSON rendering is available
            return _json(R.OPENAPI_V2)
        if path == "/openapi/v3":
            return _json(R.openapi_v3_root())
        if path.startswith("/openapi/v3/"):
            doc = R.openapi_v3_doc(path[len("/openapi/v3/"):])
            if doc is None:
                raise ApiError.path_not_found(path)
            return _json(doc)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                doc = R.api_group(parts[1])
                if doc is None:
                    raise ApiError.path_not_found(path)
                return _json(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError.path_not_found(path)
        if not rest:
            doc = R.resource_list(group, version)
            if doc is None:
                raise ApiError.path_not_found(path)
            return _json(doc)
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            cand = lookup(group, version, rest[2])
            if cand is not None and cand.namespaced:
                ns, rest = rest[1], rest[2:]
        res = lookup(group, version, rest[0])
        if res is None or len(rest) > 3:
            raise ApiError.path_not_found(path)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if (res.namespaced and ns is None and name is not None) or (not res.namespaced and ns is not None):
            raise ApiError.path_not_found(path)
        if sub is not None and sub not in res.subresources:
            raise ApiError.path_not_found(path)
        record.pop("nonResourceURL")
        record.update({"verb": _verb(method, name, query), "apiGroup": group, "apiVersion": version,
                       "resource": res.plural, "subresource": sub or "", "namespace": ns or "", "name": name or ""})
        if res.computed:
            if method != "GET":
                raise ApiError.method_not_allowed()
            return self._metrics(res, ns, name, query)
        ctype = headers.get("Content-Type", JSON)
        accept = headers.get("Accept", "") or ""
        dry_run = bool(query.get("dryRun"))
        if method == "GET":
            if name is None:
                if _qbool(query, "watch"):
                    return self._watch(res, ns, query)
                return self._list(res, ns, query, accept)
            if sub == "log":
                return self._log(ns, name, query)
            if sub == "scale":
                return _json(self._scale_of(res, self.store.get(res, ns, name).obj))
            entry = self.store.get(res, ns or "", name)
            if "as=Table" in accept:
                return _json(tables.table(res, [entry.obj], include_object=True))
            return Response(200, entry.json())
        if method == "POST":
            if name is not None:
                raise ApiError.method_not_allowed()
            obj = self._body(body, ctype)
            created = self.store.create(res, ns or "", obj, dry_run=dry_run)
            return _json(created, 201)
        if method == "PUT":
            if name is None:
                raise ApiError.method_not_allowed()
            obj = self._body(body, ctype)
            if sub == "scale":
                return self._put_scale(res, ns, name, obj, dry_run)
            if sub == "finalize":
                return _json(self.store.get(res, ns or "", name).obj)
            return _json(self.store.update(res, ns or "", name, obj, subresource=sub, dry_run=dry_run))
        if method == "PATCH":
            if name is None:
                raise ApiError.method_not_allowed()
            return self._patch(res, ns or "", name, sub, self._body(body, ctype), ctype, dry_run)
        if method == "DELETE":
            opts = self._body(body, ctype) if body.strip() else {}
            propagation = _q1(query, "propagationPolicy") or (opts or {}).get("propagationPolicy")
            if (opts or {}).get("orphanDependents") is True or _qbool(query, "orphanDependents"):
                propagation = "Orphan"
            pre = (opts or {}).get("preconditions")
            if name is None:
                return self._delete_collection(res, ns, query, propagation, dry_run)
            gone = self.store.delete(res, ns or "", name, propagation=propagation, preconditions=pre,
                                     dry_run=dry_run)
            if res.kind in ("Pod", "Namespace"):
                return _json(gone)
            details = {"name": name, "kind": res.plural, "uid": gone["metadata"]["uid"]}
            if res.group:
                details["group"] = res.group
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "details": details})
        raise ApiError.method_not_allowed()

    @staticmethod
    def _body(body: bytes, ctype: str):
        if "protobuf" in (ctype or "") or "cbor" in (ctype or ""):
            # Only JSON (and YAML) bodies are understood; clients get the same 415 a server without
            # the serializer would send.
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                           f'accepted media types include: application/json, application/yaml (got "{ctype}")', {})
        if not body:
            raise ApiError.bad_request("the request body is empty")
        try:
            return json.loads(body)
        except ValueError:
            if "yaml" in (ctype or ""):
                import yaml
                try:
                    return yaml.safe_load(body)
                except yaml.YAMLError as e:
                    raise ApiError.bad_request(f"error decoding YAML: {e}") from None
            raise ApiError.bad_request("the server rejected our request due to an error in our request: "
                                       "invalid character in JSON body") from None

    # ------------------------------------------------------------------------------------------ list / watch
    def _selectors(self, res, query):
        return LabelSelector(_q1(query, "labelSelector")), FieldSelector(_q1(query, "fieldSelector"), res.kind)

    def _list(self, res, ns, query, accept) -> Response:
        label, field = self._selectors(res, query)
        entries = self.store.select(res.kind, ns, label, field)
        rv = str(self.store.rv)
        limit = _qint(query, "limit") or 0
        cont = _q1(query, "continue")
        if cont:
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont.encode()))
                start_key = (tok["ns"], tok["name"])
                rv = tok.get("rv", rv)
            except (ValueError, KeyError, TypeError):
                raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent "
                                               "list result. You can start a new list without the continue "
                                               "parameter.", {}) from None
            entries = [e for e in entries if (e.obj["metadata"].get("namespace", ""), e.obj["metadata"]["name"])
                       > start_key]
        meta = {"resourceVersion": rv}
        if limit and len(entries) > limit:
            last = entries[limit - 1].obj["metadata"]
            token = {"rv": rv, "ns": last.get("namespace", ""), "name": last["name"]}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(entries) - limit
            entries = entries[:limit]
        if "as=Table" in accept:
            table = tables.table(res, [e.obj for e in entries], include_object=True)
            table["metadata"] = meta
            return _json(table)
        head = dumps({"apiVersion": res.api_version, "kind": f"{res.kind}List", "metadata": meta})
        body = b"".join([head[:-1], b',"items":[', b",".join(e.json() for e in entries), b"]}"])
        return Response(200, body)

    def _watch(self, res, ns, query) -> Response:
        """A polling watch: ADDED/MODIFIED/DELETED events until timeoutSeconds (capped) or shutdown."""
        label, field = self._selectors(res, query)
        timeout = min(_qint(query, "timeoutSeconds") or 30, 300)
        since_rv = _qint(query, "resourceVersion") or 0
        stopping = self.sim._stopping

        def stream():
            known: dict = {}
            first = True
            deadline = time.time() + timeout
            while time.time() < deadline and not stopping.is_set():
                current = {}
                for e in self.store.select(res.kind, ns, label, field):
                    m = e.obj["metadata"]
                    current[(m.get("namespace", ""), m["name"])] = e
                for key, e in current.items():
                    rv = int(e.obj["metadata"]["resourceVersion"])
                    if key not in known:
                        if not (first and since_rv and rv <= since_rv):
                            yield b'{"type":"ADDED","object":' + e.json() + b"}\n"
                    elif known[key] is not e:
                        yield b'{"type":"MODIFIED","object":' + e.json() + b"}\n"
                for key, e in known.items():
                    if key not in current:
                        yield b'{"type":"DELETED","object":' + e.json() + b"}\n"
                known, first = current, False
                stopping.wait(0.2)
        return Response(200, stream=stream())

    def _delete_collection(self, res, ns, query, propagation, dry_run) -> Response:
        label, field = self._selectors(res, query)
        gone = []
        for e in self.store.select(res.kind, ns, label, field):
            m = e.obj["metadata"]
            try:
                gone.append(self.store.delete(res, m.get("namespace", ""), m["name"], propagation=propagation,
                                              dry_run=dry_run))
            except ApiError:
                pass
        return _json({"apiVersion": res.api_version, "kind": f"{res.kind}List",
                      "metadata": {"resourceVersion": str(self.store.rv)}, "items": gone})

    # ------------------------------------------------------------------------------------------ patch / scale
    def _patch(self, res, ns, name, sub, patch, ctype, dry_run) -> Response:
        with self.store.lock:  # read-patch-write is atomic, like the API server's internal retry loop
            if sub == "scale":
                cur = self.store.get(res, ns, name).obj
                scale = apply_patch(self._scale_of(res, cur), patch, ctype)
                return self._put_scale(res, ns, name, scale, dry_run)
            try:
                cur = self.store.get(res, ns, name).obj
            except ApiError as e:
                if e.code == 404 and "apply-patch" in (ctype or ""):
                    return _json(self.store.create(res, ns, patch, dry_run=dry_run), 201)
                raise
            patched = apply_patch(cur, patch, ctype)
            if not isinstance(patched, dict):
                raise ApiError.bad_request("patch produced a non-object document")
            return _json(self.store.update(res, ns, name, patched, subresource=sub, dry_run=dry_run))

    @staticmethod
    def _scale_of(res, obj) -> dict:
        meta = obj["metadata"]
        sel = (obj.get("spec") or {}).get("selector") or {}
        sel_str = ",".join(f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items()))
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta["uid"],
                             "resourceVersion": meta["resourceVersion"],
                             "creationTimestamp": meta.get("creationTimestamp")},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": sel_str}}

    def _put_scale(self, res, ns, name, scale, dry_run) -> Response:
        if not isinstance(scale, dict):
            raise ApiError.bad_request("invalid Scale body")
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                                           f'{replicas}: must be greater than or equal to 0',
                           {"name": name, "group": "autoscaling", "kind": "Scale"})
        with self.store.lock:
            cur = self.store.get(res, ns, name).obj
            sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != cur["metadata"]["resourceVersion"]:
                raise ApiError.conflict(res, name)
            new = json.loads(json.dumps(cur))
            new["spec"]["replicas"] = replicas
            updated = self.store.update(res, ns, name, new, dry_run=dry_run)
        return _json(self._scale_of(res, updated))

    # ------------------------------------------------------------------------------------------ logs
    def _log(self, ns, name, query) -> Response:
        pod = self.store.get(BY_KIND["Pod"], ns, name).obj
        names = telemetry.container_names(pod)
        container = _q1(query, "container")
        if not container:
            if len(names) != 1:
                raise ApiError.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                           f"[{' '.join(names)}]")
            container = names[0]
        if container not in names:
            raise ApiError.bad_request(f"container {container} is not valid for pod {name}")
        previous = _qbool(query, "previous")
        window = telemetry.log_window(pod, container, previous)
        if window is None:
            if previous:
                raise ApiError.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            cs = next((c for c in (pod.get("status") or {}).get("containerStatuses") or []
                       if c.get("name") == container), {})
            reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason", "ContainerCreating")
            if reason in ("ErrImagePull", "ImagePullBackOff"):
                raise ApiError.bad_request(f'container "{container}" in pod "{name}" is waiting to start: trying and '
                                           f'failing to pull image')
            raise ApiError.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        start, end, crashed = window
        tail = _qint(query, "tailLines")
        since = None
        if _qint(query, "sinceSeconds") is not None:
            since = time.time() - _qint(query, "sinceSeconds")
        elif _q1(query, "sinceTime"):
            from .store import parse_rfc3339
            since = parse_rfc3339(_q1(query, "sinceTime"))
        timestamps = _qbool(query, "timestamps")
        limit_bytes = _qint(query, "limitBytes")
        lines, next_index = telemetry.log_lines(pod, container, start, end, crashed, tail=tail, since=since,
                                                timestamps=timestamps)
        text = "".join(line + "\n" for line in lines).encode()
        if limit_bytes is not None:
            text = text[:limit_bytes]
        ctype = "text/plain"
        if not _qbool(query, "follow") or crashed:
            return Response(200, text, ctype)
        uid = pod["metadata"]["uid"]
        stopping = self.sim._stopping

        def stream():
            yield text
            idx = next_index
            while not stopping.is_set():
                stopping.wait(0.5)
                cur = self.store.peek("Pod", ns, name)
                if cur is None or cur["metadata"]["uid"] != uid:
                    return
                w = telemetry.log_window(cur, container, False)
                if w is None:
                    return
                more, idx = telemetry.log_lines(cur, container, w[0], w[1], w[2], timestamps=timestamps,
                                                first_index=idx)
                if more:
                    yield "".join(line + "\n" for line in more).encode()
                if w[2]:
                    return
        return Response(200, ctype=ctype, stream=stream())

    # ------------------------------------------------------------------------------------------ metrics
    def _metrics(self, res, ns, name, query) -> Response:
        label, field = self._selectors(res, query)
        now = time.time()
        if res.kind == "NodeMetrics":
            usage: dict[str, list] = {}
            for e in self._running_pods(None, None):
                _, _, cpu, mem = self.scrapes.pod(e, now, dumps)
                acc = usage.setdefault(e.obj["spec"].get("nodeName"), [0, 0])
                acc[0], acc[1] = acc[0] + cpu, acc[1] + mem
            nodes = self.store.select("Node", None, label, None)
            items = [telemetry.node_metrics(e.obj, *usage.get(e.obj["metadata"]["name"], (0, 0)), now)
                     for e in nodes if _node_ready(e.obj)]
            encoded = [dumps(i) for i in items]
        else:
            scraped = [self.scrapes.pod(e, now, dumps) for e in self._running_pods(ns, label)]
            if ns is None and not label.reqs:
                self.scrapes.forget_except({(s[0]["metadata"].get("namespace"), s[0]["metadata"]["name"])
                                            for s in scraped})
            items, encoded = [s[0] for s in scraped], [s[1] for s in scraped]
        kept = [(i, b) for i, b in zip(items, encoded) if field.matches(i)]
        if name is not None:
            for i, _ in kept:
                if i["metadata"]["name"] == name:
                    return _json(i)
            raise ApiError.not_found(res, name)
        head = dumps({"kind": f"{res.kind}List", "apiVersion": "metrics.k8s.io/v1beta1",
                      "metadata": {"resourceVersion": ""}})
        return Response(200, b"".join([head[:-1], b',"items":[', b",".join(b for _, b in kept), b"]}"]))

    def _running_pods(self, ns, label):
        """Pods metrics-server reports: Running, with at least one running container."""
        for e in self.store.select("Pod", ns, label, None):
            p = e.obj
            if (p.get("status") or {}).get("phase") == "Running" and any(
                    "running" in (c.get("state") or {}) for c in p["status"].get("containerStatuses") or []):
                yield e

    # ------------------------------------------------------------------------------------------ admin
    def _admin(self, method, path, query, body) -> Response:
        sim = self.sim
        data = {}
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                return _json({"error": "body must be JSON"}, 400)
        op = path[len("/_sim/"):] if path.startswith("/_sim/") else ""
        try:
            if op in ("", "health", "state") and method == "GET":
                return _json(sim.summary())
            if op == "faults":
                if method == "GET":
                    return _json(self.faults.faults.to_dict())
                if method in ("PUT", "POST", "PATCH"):
                    return _json(self.faults.update(data, replace=(method == "PUT")))
                if method == "DELETE":
                    return _json(self.faults.update({}, replace=True))
            if method == "POST" and op == "reset":
                sim.reset(**data)
                return _json(sim.summary())
            if method == "POST" and op == "seed":
                t0 = time.time()
                out = sim.seed(**data)
                out["seconds"] = round(time.time() - t0, 3)
                return _json(out)
            if method == "POST" and op == "tick":
                return _json(sim.tick(settle=bool(data.get("settle", False))))
            if method == "POST" and op == "snapshot":
                return _json({"written": sim.save_state(data.get("path"))})
            if op == "requests" and method == "GET":
                return _json({"items": list(self.request_log.copy())})
            if op == "requests" and method == "DELETE":
                self.request_log.clear()
                return _json({"items": []})
            if method == "GET" and op == "kubeconfig":
                return Response(200, json.dumps(sim.kubeconfig_dict(), indent=2).encode(), "application/yaml")
        except (TypeError, ValueError) as e:
            return _json({"error": str(e)}, 400)
        return _json({"error": f"no admin operation {method} {path}"}, 404)


def _verb(method: str, name: str | None, query: dict) -> str:
    """The authorization verb of a resource request (as the API server's RequestInfo computes it)."""
    if method in ("GET", "HEAD"):
        if name is not None:
            return "get"
        return "watch" if _qbool(query, "watch") else "list"
    if method == "DELETE":
        return "delete" if name is not None else "deletecollection"
    return _VERBS.get(method, method.lower())


def _node_ready(n: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (n.get("status") or {}).get("conditions") or [])


# ---------------------------------------------------------------------------------------------- transport

class _Handler(BaseHTTPRequestHandler):
    # Headers and body leave in separate writes: without TCP_NODELAY, Nagle + the client's delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "kube-sim/1.32"

    def _dispatch(self):
        api: ApiServer = self.server.api  # type: ignore[attr-defined]
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        resp = api.handle(self.command, self.path, self.headers, body)
        if resp.close:
            # Simulated outage: drop the connection without an answer (clients see a reset / remote close).
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", f"sim-{api.requests}")
        if resp.stream is None:
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in resp.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(resp.stream, "close", None)
            if close:
                close()

    def _read_chunked(self) -> bytes:
        out = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(out)
            out.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def log_message(self, fmt, *args):  # quiet unless the simulator runs verbose
        if getattr(self.server, "verbose", False):
            super().log_message(fmt, *args)


class SimHTTPServer(SimulatorHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, api: ApiServer, verbose: bool = False):
        super().__init__(addr, _Handler)
        self.api = api
        self.verbose = verbose


def serve_in_thread(server: SimHTTPServer) -> threading.Thread:
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="kube-sim-http",
                         daemon=True)
    t.start()
    return t
