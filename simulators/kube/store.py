"""The object store: every persisted Kubernetes object, keyed by (kind, namespace, name).

It owns the API-server bookkeeping a client can observe: the cluster-wide `resourceVersion` counter (bumped on
every real change, untouched by no-op updates), `uid`, `creationTimestamp`, `generation` (bumped on spec
changes), optimistic concurrency (409 Conflict on a stale resourceVersion), namespace lifecycle (404 for a
missing namespace, everything removed with it) and garbage collection through `ownerReferences`.

Objects are copy-on-write: a stored dict is never mutated after it is stored, so readers can hold references
without locking and each `Entry` caches its JSON encoding — a 5,000-pod list is a byte join, not 5,000
`json.dumps` calls.
"""
from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from datetime import datetime, timezone

from . import admission
from .errors import ApiError
from .resources import BY_KIND, Resource
from .selectors import FieldSelector, LabelSelector

GENERATION_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Ingress", "NetworkPolicy", "Job",
                    "PodDisruptionBudget"}
RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand alphabet
MAX_EVENTS = 2000


def now_rfc3339(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s: str | None) -> float:
    if not s:
        return 0.0
    try:
        return datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return 0.0


def rand_suffix(n: int = 5, rng: random.Random | None = None) -> str:
    r = rng or random
    return "".join(r.choice(RAND_ALPHABET) for _ in range(n))


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Entry:
    """A stored object plus its lazily computed JSON encoding (valid forever: objects are immutable)."""
    __slots__ = ("obj", "_json")

    def __init__(self, obj: dict):
        self.obj = obj
        self._json = None

    def json(self) -> bytes:
        if self._json is None:
            self._json = dumps(self.obj)
        return self._json


def drop_nulls(v):
    """Client JSON nulls decode to Go zero values that are then omitted (e.g. a pod template's
    `creationTimestamp: null` sent by `kubectl rollout undo`), so stored objects never contain them."""
    if isinstance(v, dict):
        return {k: drop_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [drop_nulls(x) for x in v]
    return v


def _strip_volatile(obj: dict) -> dict:
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta.pop("managedFields", None)
    return {**obj, "metadata": meta}


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.rv = 1000
        self.data: dict[str, dict[tuple[str, str], Entry]] = {k: {} for k in BY_KIND}
        self._ip = admission.ServiceIPs()
        self.changed = threading.Event()  # wakes the controller loop
        self.writes = 0  # used by the snapshot writer to know whether anything changed

    # ----------------------------------------------------------------------------------- helpers
    def _bump(self) -> str:
        self.rv += 1
        self.writes += 1
        self.changed.set()
        return str(self.rv)

    def allocate_cluster_ip(self) -> str:
        used = {(e.obj.get("spec") or {}).get("clusterIP") for e in self.data["Service"].values()}
        return self._ip.allocate(used)

    def reset(self):
        with self.lock:
            for d in self.data.values():
                d.clear()
            self._bump()

    # ----------------------------------------------------------------------------------- reads
    def peek(self, kind: str, ns: str, name: str) -> dict | None:
        e = self.data[kind].get((ns or "", name))
        return e.obj if e else None

    def get(self, res: Resource, ns: str, name: str) -> Entry:
        e = self.data[res.kind].get((ns or "", name))
        if e is None:
            raise ApiError.not_found(res, name)
        return e

    def select(self, kind: str, ns: str | None = None, label: LabelSelector | None = None,
               field: FieldSelector | None = None) -> list[Entry]:
        """Matching entries sorted like etcd keys (namespace, then name)."""
        with self.lock:
            items = list(self.data[kind].items())
        out = []
        for (ens, _), e in sorted(items, key=lambda kv: kv[0]):
            if ns is not None and ens != ns:
                continue
            o = e.obj
            if label is not None and label.reqs and not label.matches(o["metadata"].get("labels")):
                continue
            if field is not None and field.reqs and not field.matches(o):
                continue
            out.append(e)
        return out

    def objects(self, kind: str, ns: str | None = None) -> list[dict]:
        with self.lock:
            return [e.obj for (ens, _), e in self.data[kind].items() if ns is None or ens == ns]

    def owned_by(self, kind: str, ns: str, owner_uid: str) -> list[dict]:
        with self.lock:
            return [e.obj for (ens, _), e in self.data[kind].items() if ens == ns and any(
                r.get("uid") == owner_uid for r in e.obj["metadata"].get("ownerReferences") or [])]

    # ----------------------------------------------------------------------------------- writes
    def _check_namespace(self, res: Resource, ns: str, name: str):
        if not res.namespaced:
            return
        nso = self.peek("Namespace", "", ns)
        if nso is None:
            raise ApiError.not_found(BY_KIND["Namespace"], ns)
        if nso.get("metadata", {}).get("deletionTimestamp"):
            raise ApiError.forbidden_terminating(res, name, ns)

    def _check_type(self, res: Resource, obj: dict):
        if not isinstance(obj, dict):
            raise ApiError.bad_request("the body of the request must be a JSON object")
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if av and av != res.api_version:
            raise ApiError.bad_request(f"the API version in the data ({av}) does not match the expected API "
                                       f"version ({res.api_version})")
        if kind and kind != res.kind:
            raise ApiError.bad_request(f"{kind} in version \"{res.version}\" cannot be handled as a {res.kind}: "
                                       f"expected kind {res.kind}")

    def create(self, res: Resource, ns: str, obj: dict, *, internal: bool = False, dry_run: bool = False) -> dict:
        self._check_type(res, obj)
        obj = copy.deepcopy(obj) if internal else drop_nulls(obj)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise ApiError.bad_request("the namespace of the provided object does not match the namespace sent "
                                           "on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
            ns = ""
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + rand_suffix()
        for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation", "managedFields",
                  "selfLink"):
            meta.pop(k, None)
        if res.has_status and not internal:
            obj.pop("status", None)  # status belongs to the status subresource / controllers
        admission.default_and_validate(res, obj, None, self)
        name = meta["name"]
        with self.lock:
            self._check_namespace(res, ns, name)
            if (ns, name) in self.data[res.kind]:
                raise ApiError.already_exists(res, name)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if res.kind == "Job" and not internal:
                admission.job_generated_labels(obj)
            if res.kind in GENERATION_KINDS:
                meta["generation"] = 1
            if dry_run:
                meta["resourceVersion"] = str(self.rv)
                return obj
            meta["resourceVersion"] = self._bump()
            self.data[res.kind][(ns, name)] = Entry(obj)
            if res.kind == "Event":
                self._trim_events()
            elif res.kind == "Namespace" and not internal:
                self._namespace_defaults(name)
        return obj

    def _namespace_defaults(self, ns: str):
        # What the service-account and root-CA controllers add to every new namespace.
        for res, body in ((BY_KIND["ServiceAccount"], {"metadata": {"name": "default"}}),
                          (BY_KIND["ConfigMap"], {"metadata": {"name": "kube-root-ca.crt", "annotations": {
                              "kubernetes.io/description": "Contains a CA bundle that can be used to verify the "
                                                           "kube-apiserver when using internal endpoints such as the "
                                                           "internal service IP or kubernetes.default.svc."}},
                                                  "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nU0lNVUxBVE9S\n"
                                                                     "-----END CERTIFICATE-----\n"}})):
            try:
                self.create(res, ns, body, internal=True)
            except ApiError:
                pass

    def _trim_events(self):
        ev = self.data["Event"]
        if len(ev) > MAX_EVENTS:
            oldest = sorted(ev.items(), key=lambda kv: int(kv[1].obj["metadata"]["resourceVersion"]))
            for key, _ in oldest[: len(ev) - MAX_EVENTS]:
                del ev[key]

    def update(self, res: Resource, ns: str, name: str, obj: dict, *, subresource: str | None = None,
               internal: bool = False, dry_run: bool = False) -> dict:
        """PUT semantics (also the tail of PATCH): optimistic concurrency, status/spec separation, defaults."""
        self._check_type(res, obj)
        ns = ns if res.namespaced else ""
        obj = copy.deepcopy(obj) if internal else drop_nulls(obj)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if meta.get("name") and meta["name"] != name:
            raise ApiError.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                       f"({name})")
        if res.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise ApiError.bad_request("the namespace of the provided object does not match the namespace sent on "
                                       "the request")
        meta["name"] = name
        if res.namespaced:
            meta["namespace"] = ns
        with self.lock:
            old_entry = self.data[res.kind].get((ns, name))
            if old_entry is None:
                raise ApiError.not_found(res, name)
            old = old_entry.obj
            ometa = old["metadata"]
            sent_rv = meta.get("resourceVersion")
            if sent_rv and sent_rv != ometa["resourceVersion"]:
                raise ApiError.conflict(res, name)
            if meta.get("uid") and meta["uid"] != ometa["uid"]:
                raise ApiError.conflict(res, name, f"Precondition failed: UID in precondition: {meta['uid']}, UID in "
                                                   f"object meta: {ometa['uid']}")
            if subresource == "status":
                # Only .status changes through the status subresource.
                new = {**copy.deepcopy(old), "status": obj.get("status")}
                if obj.get("status") is None:
                    new.pop("status", None)
            else:
                new = obj
                for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                    if k in ometa:
                        meta[k] = ometa[k]
                    else:
                        meta.pop(k, None)
                meta.pop("managedFields", None)
                if res.has_status and not internal:
                    if "status" in old:
                        new["status"] = copy.deepcopy(old["status"])
                    else:
                        new.pop("status", None)
                admission.default_and_validate(res, new, old, self)
                if res.kind in GENERATION_KINDS:
                    gen = ometa.get("generation", 1)
                    meta["generation"] = gen + 1 if new.get("spec") != old.get("spec") else gen
            if _strip_volatile(new) == _strip_volatile(old):
                return old  # no-op update: the real API server does not bump resourceVersion either
            if dry_run:
                new["metadata"]["resourceVersion"] = ometa["resourceVersion"]
                return new
            new["metadata"]["resourceVersion"] = self._bump()
            self.data[res.kind][(ns, name)] = Entry(new)
            return new

    def delete(self, res: Resource, ns: str, name: str, *, propagation: str | None = None,
               preconditions: dict | None = None, dry_run: bool = False) -> dict:
        """Remove an object now and garbage-collect its dependents (Background/Foreground) or orphan them."""
        ns = ns if res.namespaced else ""
        with self.lock:
            entry = self.data[res.kind].get((ns, name))
            if entry is None:
                raise ApiError.not_found(res, name)
            obj = entry.obj
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
                raise ApiError.conflict(res, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in "
                                                   f"object meta: {obj['metadata']['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise ApiError.conflict(res, name, "Precondition failed: ResourceVersion in precondition: "
                                                   f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                                   f"{obj['metadata']['resourceVersion']}")
            gone = copy.deepcopy(obj)
            gone["metadata"]["deletionTimestamp"] = now_rfc3339()
            if res.kind == "Pod":
                gone["metadata"]["deletionGracePeriodSeconds"] = (obj.get("spec") or {}).get(
                    "terminationGracePeriodSeconds", 30)
            if dry_run:
                return gone
            if res.kind == "Namespace":
                for kind, items in self.data.items():
                    if BY_KIND[kind].namespaced:
                        for key in [k for k in items if k[0] == name]:
                            del items[key]
                gone["status"] = {"phase": "Terminating"}
            else:
                self._collect(res.kind, ns, obj["metadata"]["uid"], propagation or "Background")
            del self.data[res.kind][(ns, name)]
            gone["metadata"]["resourceVersion"] = self._bump()
            return gone

    def _collect(self, kind: str, ns: str, uid: str, propagation: str):
        for dkind, items in self.data.items():
            if dkind == "Event":
                continue
            for key, e in list(items.items()):
                refs = e.obj["metadata"].get("ownerReferences") or []
                if key[0] != ns or not any(r.get("uid") == uid for r in refs):
                    continue
                if propagation == "Orphan":
                    new = copy.deepcopy(e.obj)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid] or None
                    if new["metadata"]["ownerReferences"] is None:
                        del new["metadata"]["ownerReferences"]
                    new["metadata"]["resourceVersion"] = self._bump()
                    items[key] = Entry(new)
                else:
                    del items[key]
                    self._bump()
                    self._collect(dkind, ns, e.obj["metadata"]["uid"], propagation)

    # ----------------------------------------------------------------------------------- controller helpers
    def put(self, obj: dict) -> dict:
        """Controller write of a whole object read earlier (no admission); skipped if the object changed since
        it was read (its resourceVersion moved), a no-op if nothing differs."""
        res = BY_KIND[obj["kind"]]
        ns = obj["metadata"].get("namespace", "") if res.namespaced else ""
        key = (ns, obj["metadata"]["name"])
        with self.lock:
            old = self.data[res.kind].get(key)
            if old is None:
                return obj  # deleted meanwhile; do not resurrect it
            if old.obj["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                # Written by a client since the controller read it: drop this write, reconcile again later
                # (the controller's equivalent of a 409 Conflict).
                self.changed.set()
                return old.obj
            if _strip_volatile(old.obj) == _strip_volatile(obj):
                return old.obj
            obj["metadata"]["resourceVersion"] = self._bump()
            self.data[res.kind][key] = Entry(obj)
            return obj

    # ----------------------------------------------------------------------------------- snapshot
    def snapshot(self) -> dict:
        with self.lock:
            return {"resourceVersion": self.rv, "nextClusterIP": self._ip.next,
                    "objects": [e.obj for items in self.data.values() for e in items.values()]}

    def load(self, snap: dict):
        with self.lock:
            for d in self.data.values():
                d.clear()
            for obj in snap.get("objects", []):
                res = BY_KIND.get(obj.get("kind"))
                if res is None:
                    continue
                ns = obj["metadata"].get("namespace", "") if res.namespaced else ""
                self.data[res.kind][(ns, obj["metadata"]["name"])] = Entry(obj)
            self.rv = max(self.rv, int(snap.get("resourceVersion", 0)))
            self._ip.next = max(self._ip.next, int(snap.get("nextClusterIP", 10)))
            self._bump()
