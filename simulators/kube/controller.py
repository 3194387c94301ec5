"""The control plane in miniature: deployment, replicaset, job, scheduler, kubelet, PV binder, ingress and
disruption-budget controllers.

One `tick()` runs every controller once over the current store (a background thread calls it whenever the
store changes, and at least every `interval` seconds).  What the product can observe:

* Deployment -> ReplicaSet `<deploy>-<template hash>` -> Pods `<rs>-<5 chars>`; a pod-template change (e.g. the
  `kubectl.kubernetes.io/restartedAt` annotation) creates a new ReplicaSet and rolls over with the
  RollingUpdate maxSurge/maxUnavailable arithmetic (old pods leave once new ones are ready) or Recreate.
* Pods are scheduled onto the least-loaded Ready node, stay Pending for `pod_start_delay` seconds, then run;
  workload faults make them never ready, crash-loop or fail to pull their image.
* Deployment/ReplicaSet status (replicas, readyReplicas, availableReplicas, updatedReplicas,
  observedGeneration, Available/Progressing conditions) with `omitempty` semantics for zero counts.
* PVCs bind to a generated PV (local-path style), ingresses get a load-balancer address, events are recorded.
* Jobs run one pod at a time; a running job pod exits 0 after `pod_start_delay` seconds, the Job becomes
  Complete (or Failed past `backoffLimit` / `activeDeadlineSeconds`) and the TTL controller deletes it
  `ttlSecondsAfterFinished` seconds later. PodDisruptionBudgets get their status (expected/healthy pods,
  disruptionsAllowed).

Controllers never overwrite a client's write: every write is conditional on the resourceVersion they read
(`Store.put`), and a skipped write is simply retried on the next tick.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
import time

from .admission import _qos, default_pod_spec
from .errors import ApiError
from .resources import BY_KIND
from .selectors import LabelSelector
from .store import RAND_ALPHABET, Store, now_rfc3339, parse_rfc3339, rand_suffix

REVISION = "deployment.kubernetes.io/revision"


def template_hash(template: dict) -> str:
    t = copy.deepcopy(template)
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    digest = hashlib.blake2b(json.dumps(t, sort_keys=True).encode(), digest_size=8).digest()
    n = int.from_bytes(digest, "big")
    out = []
    for _ in range(10):
        n, r = divmod(n, len(RAND_ALPHABET))
        out.append(RAND_ALPHABET[r])
    return "".join(out)


def _int_or_percent(v, total: int, round_up: bool) -> int:
    if isinstance(v, str) and v.endswith("%"):
        x = int(v[:-1]) * total / 100
        return math.ceil(x) if round_up else math.floor(x)
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def _controller_ref(obj: dict) -> dict | None:
    for r in obj["metadata"].get("ownerReferences") or []:
        if r.get("controller"):
            return r
    return None


def _owner_ref(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def pod_ready(pod: dict) -> bool:
    st = pod.get("status") or {}
    if st.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


def _cond(conds: list, ctype: str, status: str, reason: str, message: str, now: str,
          update_time: bool = False) -> list:
    """Set a condition, keeping lastTransitionTime unless the status flips (as the controllers do)."""
    out = [c for c in conds if c.get("type") != ctype]
    old = next((c for c in conds if c.get("type") == ctype), None)
    c = {"type": ctype, "status": status}
    if update_time:
        same = old and old.get("status") == status and old.get("reason") == reason and old.get("message") == message
        c["lastUpdateTime"] = old.get("lastUpdateTime", now) if same else now
    c["lastTransitionTime"] = old["lastTransitionTime"] if old and old.get("status") == status \
        and old.get("lastTransitionTime") else now
    c["reason"], c["message"] = reason, message
    if old and update_time is False and old.get("lastProbeTime") is not None:
        c["lastProbeTime"] = old["lastProbeTime"]
    out.append(c)
    return sorted(out, key=lambda x: x["type"])


class Controller:
    def __init__(self, store: Store, faults, pod_start_delay: float = 0.5, interval: float = 0.1):
        self.store = store
        self.faults = faults
        self.pod_start_delay = pod_start_delay
        self.interval = interval
        self._tick_lock = threading.RLock()  # re-entrant: reset() seeds (and ticks) while holding it
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._seen: dict[str, float] = {}  # pod uid -> time the kubelet first saw it (start delay clock)
        self._crash_since: dict[str, float] = {}  # pod uid -> time it started crash-looping
        self._ip_seq = 0
        self.ticks = 0
        self.events_enabled = True

    # ------------------------------------------------------------------------------------- lifecycle
    def start(self):
        if self._thread:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kube-sim-controller", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self.store.changed.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self):
        while not self._stop.is_set():
            self.store.changed.wait(self.interval)
            self.store.changed.clear()
            if self._stop.is_set():
                break
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a controller bug must not kill the simulator
                import traceback
                traceback.print_exc()
            time.sleep(0.01)  # coalesce bursts of writes

    def tick(self, settle: bool = False, max_passes: int = 20) -> dict:
        """Run every controller once; with settle=True repeat (ignoring start delays) until nothing changes."""
        with self._tick_lock:
            passes, before = 0, self.store.writes
            while True:
                w0 = self.store.writes
                self._reconcile(immediate=settle)
                passes += 1
                self.ticks += 1
                if not settle or self.store.writes == w0 or passes >= max_passes:
                    break
            return {"passes": passes, "writes": self.store.writes - before, "resourceVersion": str(self.store.rv)}

    def forget(self):
        self._seen.clear()
        self._crash_since.clear()

    # ------------------------------------------------------------------------------------- reconcile
    def _reconcile(self, immediate: bool):
        self._deployments()
        self._replicasets()
        self._jobs(immediate)
        self._pods(immediate)
        self._pvcs()
        self._ingresses()
        self._nodes()
        self._pdbs()

    def _event(self, obj: dict, reason: str, message: str, etype: str = "Normal", component: str = ""):
        if not self.events_enabled:
            return
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        ts = now_rfc3339()
        ev = {"metadata": {"name": f"{meta['name']}.{hashlib.md5((meta.get('uid', '') + reason + message + str(time.time())).encode()).hexdigest()[:16]}",
                           "namespace": ns},
              "involvedObject": {"kind": obj["kind"], "namespace": meta.get("namespace"), "name": meta["name"],
                                 "uid": meta.get("uid"), "apiVersion": obj["apiVersion"],
                                 "resourceVersion": meta.get("resourceVersion")},
              "reason": reason, "message": message, "source": {"component": component},
              "firstTimestamp": ts, "lastTimestamp": ts, "count": 1, "type": etype, "eventTime": None,
              "reportingComponent": component, "reportingInstance": ""}
        if not meta.get("namespace"):
            ev["involvedObject"].pop("namespace")
        try:
            self.store.create(BY_KIND["Event"], ns, ev, internal=True)
        except ApiError:
            pass  # namespace vanished meanwhile

    # --- deployments --------------------------------------------------------------------------------
    def _deployments(self):
        store = self.store
        rs_by_owner: dict[str, list[dict]] = {}
        for rs in store.objects("ReplicaSet"):
            ref = _controller_ref(rs)
            if ref:
                rs_by_owner.setdefault(ref["uid"], []).append(rs)
        pods_by_owner = self._pods_by_owner()
        for d in store.objects("Deployment"):
            if d["metadata"].get("deletionTimestamp"):
                continue
            try:
                self._sync_deployment(d, rs_by_owner.get(d["metadata"]["uid"], []), pods_by_owner)
            except ApiError:
                continue

    def _pods_by_owner(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for p in self.store.objects("Pod"):
            ref = _controller_ref(p)
            if ref:
                out.setdefault(ref["uid"], []).append(p)
        return out

    def _sync_deployment(self, d: dict, rss: list[dict], pods_by_owner: dict):
        store, meta, spec = self.store, d["metadata"], d["spec"]
        ns, name = meta["namespace"], meta["name"]
        desired = spec.get("replicas", 1)
        h = template_hash(spec["template"])
        new_rs = next((r for r in rss if r["metadata"].get("labels", {}).get("pod-template-hash") == h), None)
        old_rss = [r for r in rss if r is not new_rs]
        max_rev = max([int(r["metadata"].get("annotations", {}).get(REVISION, "0")) for r in rss] or [0])
        strategy = spec.get("strategy") or {}
        recreate = strategy.get("type") == "Recreate"
        ru = strategy.get("rollingUpdate") or {}
        max_surge = 0 if recreate else _int_or_percent(ru.get("maxSurge", "25%"), desired, True)
        max_unavail = desired if recreate else _int_or_percent(ru.get("maxUnavailable", "25%"), desired, False)
        if not recreate and max_surge == 0 and max_unavail == 0:
            max_unavail = 1
        created = False
        if new_rs is None and not spec.get("paused"):
            labels = {**(spec["template"].get("metadata") or {}).get("labels", {}), "pod-template-hash": h}
            tmpl = copy.deepcopy(spec["template"])
            tmpl.setdefault("metadata", {})["labels"] = dict(labels)
            sel = copy.deepcopy(spec["selector"])
            sel.setdefault("matchLabels", {})["pod-template-hash"] = h
            rs_body = {"metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": labels,
                                    "annotations": {REVISION: str(max_rev + 1),
                                                    "deployment.kubernetes.io/desired-replicas": str(desired),
                                                    "deployment.kubernetes.io/max-replicas": str(desired + max_surge)},
                                    "ownerReferences": [_owner_ref(d)]},
                       "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds", 0),
                                "selector": sel, "template": tmpl},
                       "status": {"replicas": 0}}
            try:
                new_rs = store.create(BY_KIND["ReplicaSet"], ns, rs_body, internal=True)
            except ApiError as e:
                if e.code != 409:
                    raise
                new_rs = store.peek("ReplicaSet", ns, f"{name}-{h}")
            created = True
        elif new_rs is not None and int(new_rs["metadata"].get("annotations", {}).get(REVISION, "0")) < max_rev:
            # Rolling back to a template seen before: that ReplicaSet becomes the newest revision again.
            new_rs = self._put_rs(new_rs, annotations={REVISION: str(max_rev + 1)})
        if new_rs is None:
            return

        def ready_count(rs):
            return sum(1 for p in pods_by_owner.get(rs["metadata"]["uid"], []) if pod_ready(p))

        def pod_count(rs):
            return sum(1 for p in pods_by_owner.get(rs["metadata"]["uid"], [])
                       if not p["metadata"].get("deletionTimestamp"))

        # --- scale (the rolling-update arithmetic of the deployment controller, simplified) --------
        new_target = new_rs["spec"].get("replicas", 0)
        if recreate:
            old_pods = sum(pod_count(r) for r in old_rss)
            for r in old_rss:
                if r["spec"].get("replicas", 0):
                    self._scale_rs(d, r, 0)
            new_target = desired if old_pods == 0 else 0
        else:
            all_spec = sum(r["spec"].get("replicas", 0) for r in rss if r is not new_rs) + new_target
            if new_target < desired:
                new_target = min(desired, new_target + max(0, desired + max_surge - all_spec))
            elif new_target > desired:
                new_target = desired
            min_available = desired - max_unavail
            total_ready = sum(ready_count(r) for r in rss)
            budget = max(0, total_ready - min_available)
            for r in sorted(old_rss, key=lambda x: int(x["metadata"].get("annotations", {}).get(REVISION, "0"))):
                cur = r["spec"].get("replicas", 0)
                if not cur:
                    continue
                unready = max(0, pod_count(r) - ready_count(r))
                drop = min(cur, unready)  # unhealthy old replicas can always go
                extra = min(cur - drop, budget)
                budget -= extra
                if drop + extra:
                    self._scale_rs(d, r, cur - drop - extra)
        if new_target != new_rs["spec"].get("replicas", 0):
            new_rs = self._scale_rs(d, new_rs, new_target)

        # --- history cleanup ---------------------------------------------------------------------
        limit = spec.get("revisionHistoryLimit", 10)
        idle = [r for r in old_rss if not r["spec"].get("replicas", 0) and not pod_count(r)]
        idle.sort(key=lambda x: int(x["metadata"].get("annotations", {}).get(REVISION, "0")))
        for r in idle[: max(0, len(idle) - limit)]:
            try:
                store.delete(BY_KIND["ReplicaSet"], ns, r["metadata"]["name"])
            except ApiError:
                pass

        # --- status --------------------------------------------------------------------------------
        cur = store.peek("Deployment", ns, name)
        if cur is None or cur["metadata"]["uid"] != meta["uid"]:
            return
        rss_now = [r for r in store.objects("ReplicaSet", ns) if (_controller_ref(r) or {}).get("uid") == meta["uid"]]
        pods_by_owner = self._pods_by_owner()
        total = sum(pod_count(r) for r in rss_now)
        updated = pod_count(new_rs)
        ready = sum(ready_count(r) for r in rss_now)
        spec_total = sum(r["spec"].get("replicas", 0) for r in rss_now)
        now = now_rfc3339()
        old_status = cur.get("status") or {}
        conds = list(old_status.get("conditions") or [])
        avail_ok = ready >= desired - max_unavail
        conds = _cond(conds, "Available", "True" if avail_ok else "False",
                      "MinimumReplicasAvailable" if avail_ok else "MinimumReplicasUnavailable",
                      "Deployment has minimum availability." if avail_ok
                      else "Deployment does not have minimum availability.", now, update_time=True)
        rs_name = new_rs["metadata"]["name"]
        complete = updated == desired and total == desired and ready >= desired
        prog = next((c for c in conds if c["type"] == "Progressing"), None)
        if complete:
            conds = _cond(conds, "Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{rs_name}" has successfully progressed.', now, update_time=True)
        elif created:
            conds = _cond(conds, "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"',
                          now, update_time=True)
        else:
            deadline = spec.get("progressDeadlineSeconds", 600)
            since = parse_rfc3339((prog or {}).get("lastUpdateTime")) or time.time()
            if prog and prog.get("reason") == "ProgressDeadlineExceeded":
                pass
            elif prog and prog.get("reason") in ("ReplicaSetUpdated", "NewReplicaSetCreated") \
                    and time.time() - since > deadline:
                conds = _cond(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                              f'ReplicaSet "{rs_name}" has timed out progressing.', now, update_time=True)
            else:
                conds = _cond(conds, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is '
                              f'progressing.', now, update_time=True)
        status = {"observedGeneration": meta.get("generation", 1)}
        for key, val in (("replicas", total), ("updatedReplicas", updated), ("readyReplicas", ready),
                         ("availableReplicas", ready), ("unavailableReplicas", max(0, spec_total - ready))):
            if val:
                status[key] = val  # zero counts are omitted (omitempty), as on a real cluster
        status["conditions"] = conds
        new = copy.deepcopy(cur)
        new["status"] = status
        rev = new_rs["metadata"].get("annotations", {}).get(REVISION)
        if rev and new["metadata"].get("annotations", {}).get(REVISION) != rev:
            new["metadata"].setdefault("annotations", {})[REVISION] = rev
        store.put(new)

    def _put_rs(self, rs: dict, annotations: dict | None = None, replicas: int | None = None) -> dict:
        new = copy.deepcopy(rs)
        if annotations:
            new["metadata"].setdefault("annotations", {}).update(annotations)
        if replicas is not None:
            new["spec"]["replicas"] = replicas
            if new["spec"] != rs["spec"]:
                new["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
        return self.store.put(new)

    def _scale_rs(self, d: dict, rs: dict, replicas: int) -> dict:
        old = rs["spec"].get("replicas", 0)
        out = self._put_rs(rs, replicas=replicas)
        if out["spec"].get("replicas") == replicas and old != replicas:
            direction = "up" if replicas > old else "down"
            self._event(d, "ScalingReplicaSet", f'Scaled {direction} replica set {rs["metadata"]["name"]} from '
                                                f'{old} to {replicas}', component="deployment-controller")
        return out

    # --- replicasets ----------------------------------------------------------------------------------
    def _replicasets(self):
        pods_by_owner = self._pods_by_owner()
        for rs in self.store.objects("ReplicaSet"):
            if rs["metadata"].get("deletionTimestamp"):
                continue
            try:
                self._sync_rs(rs, pods_by_owner.get(rs["metadata"]["uid"], []))
            except ApiError:
                continue

    def _sync_rs(self, rs: dict, pods: list[dict]):
        store, meta = self.store, rs["metadata"]
        ns = meta["namespace"]
        desired = rs["spec"].get("replicas", 1)
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if len(live) < desired:
            for _ in range(desired - len(live)):
                pod = self._pod_from_template(rs)
                created = store.create(BY_KIND["Pod"], ns, pod, internal=True)
                self._event(rs, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                            component="replicaset-controller")
                live.append(created)
        elif len(live) > desired:
            # Delete the least useful pods first: unscheduled, pending, not ready, then the newest.
            def rank(p):
                st = p.get("status") or {}
                return (bool(p["spec"].get("nodeName")), st.get("phase") == "Running", pod_ready(p),
                        -parse_rfc3339(p["metadata"].get("creationTimestamp")))
            for p in sorted(live, key=rank)[: len(live) - desired]:
                try:
                    store.delete(BY_KIND["Pod"], ns, p["metadata"]["name"])
                    self._event(rs, "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}",
                                component="replicaset-controller")
                except ApiError:
                    pass
                live.remove(p)
        cur = store.peek("ReplicaSet", ns, meta["name"])
        if cur is None:
            return
        ready = sum(1 for p in live if pod_ready(p))
        sel = LabelSelector.from_match(rs["spec"].get("selector"))
        status = {"replicas": len(live), "observedGeneration": meta.get("generation", 1)}
        labeled = sum(1 for p in live if sel.matches(p["metadata"].get("labels")))
        if labeled:
            status["fullyLabeledReplicas"] = labeled
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        if (cur.get("status") or {}) != status:
            new = copy.deepcopy(cur)
            new["status"] = status
            store.put(new)

    def _pod_from_template(self, rs: dict) -> dict:
        tmpl = copy.deepcopy(rs["spec"]["template"])
        tmeta = tmpl.get("metadata") or {}
        spec = tmpl.get("spec") or {}
        default_pod_spec(spec, is_pod=True)
        meta = {"name": f"{rs['metadata']['name']}-{rand_suffix()}", "generateName": f"{rs['metadata']['name']}-",
                "namespace": rs["metadata"]["namespace"], "labels": tmeta.get("labels") or {},
                "ownerReferences": [_owner_ref(rs)]}
        if tmeta.get("annotations"):
            meta["annotations"] = tmeta["annotations"]
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
                "status": {"phase": "Pending", "qosClass": _qos_of(spec)}}

    # --- jobs ----------------------------------------------------------------------------------------
    def _jobs(self, immediate: bool):
        """batch/v1 Jobs: one pod at a time; a pod whose containers have been running `pod_start_delay` seconds
        exits 0 (Succeeded) unless a workload fault keeps it from running. `completions` successes make the Job
        Complete, `backoffLimit` + 1 failures make it Failed (BackoffLimitExceeded); finished Jobs are deleted
        `ttlSecondsAfterFinished` seconds after they finish (the TTL controller)."""
        store = self.store
        jobs = store.objects("Job")
        if not jobs:
            return  # the common case: no pass over every pod
        now = time.time()
        pods_by_owner = self._pods_by_owner()
        for job in jobs:
            meta, spec = job["metadata"], job.get("spec") or {}
            if meta.get("deletionTimestamp"):
                continue
            ns = meta["namespace"]
            status = job.get("status") or {}
            finished = _finished_at(status)
            if finished is not None:
                ttl = spec.get("ttlSecondsAfterFinished")
                if ttl is not None and (immediate and ttl == 0 or now - finished >= ttl):
                    try:
                        store.delete(BY_KIND["Job"], ns, meta["name"], propagation="Background")
                    except ApiError:
                        pass
                continue
            pods = pods_by_owner.get(meta["uid"], [])
            try:
                self._sync_job(job, pods, immediate, now)
            except ApiError:
                continue

    def _sync_job(self, job: dict, pods: list[dict], immediate: bool, now: float):
        store, meta, spec = self.store, job["metadata"], job.get("spec") or {}
        ns = meta["namespace"]
        for p in pods:  # the "container exits 0" step of the kubelet for job pods
            st = p.get("status") or {}
            started = [c for c in st.get("containerStatuses") or [] if (c.get("state") or {}).get("running")]
            if st.get("phase") != "Running" or not started or p["metadata"].get("deletionTimestamp"):
                continue
            since = min(parse_rfc3339(c["state"]["running"].get("startedAt")) for c in started)
            if not immediate and now - since < self.pod_start_delay:
                continue
            done = copy.deepcopy(p)
            self._complete_pod(done, now)
            store.put(done)
        pods = [store.peek("Pod", ns, p["metadata"]["name"]) or p for p in pods]
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                  and not p["metadata"].get("deletionTimestamp")]
        completions = spec.get("completions", 1)
        ts = now_rfc3339(now)
        cur = store.peek("Job", ns, meta["name"])
        if cur is None:
            return
        status = copy.deepcopy(cur.get("status") or {})
        status.setdefault("startTime", ts)
        conds = status.get("conditions") or []
        deadline = spec.get("activeDeadlineSeconds")
        if succeeded >= completions:
            msg = "Reached expected number of succeeded pods"
            conds = _job_cond(_job_cond(conds, "SuccessCriteriaMet", "CompletionsReached", msg, ts),
                              "Complete", "CompletionsReached", msg, ts)
            status["completionTime"] = ts
            self._event(cur, "Completed", "Job completed", component="job-controller")
        elif failed > spec.get("backoffLimit", 6) or (
                deadline is not None and now - parse_rfc3339(status["startTime"]) >= deadline):
            reason, msg = (("BackoffLimitExceeded", "Job has reached the specified backoff limit")
                           if failed > spec.get("backoffLimit", 6) else
                           ("DeadlineExceeded", "Job was active longer than specified deadline"))
            conds = _job_cond(_job_cond(conds, "FailureTarget", reason, msg, ts), "Failed", reason, msg, ts)
            for p in active:
                try:
                    store.delete(BY_KIND["Pod"], ns, p["metadata"]["name"])
                except ApiError:
                    pass
            active = []
            self._event(cur, reason, msg, "Warning", "job-controller")
        elif not active and not spec.get("suspend"):
            pod = self._pod_from_template(job)
            created = store.create(BY_KIND["Pod"], ns, pod, internal=True)
            self._event(cur, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                        component="job-controller")
            active = [created]
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if pod_ready(p))
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}
        for key, value in (("succeeded", succeeded), ("failed", failed)):
            if value:
                status[key] = value
        if not status["active"]:
            status.pop("active")
        if conds:
            status["conditions"] = conds
        if status != (cur.get("status") or {}):
            new = copy.deepcopy(cur)
            new["status"] = status
            store.put(new)

    @staticmethod
    def _complete_pod(pod: dict, now: float):
        st = pod["status"]
        ts = now_rfc3339(now)
        st["phase"] = "Succeeded"
        for c in st.get("containerStatuses") or []:
            started = ((c.get("state") or {}).get("running") or {}).get("startedAt", ts)
            c.update({"ready": False, "started": False,
                      "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                               "finishedAt": ts, "containerID": c.get("containerID", "")}}})
        for ctype in ("Ready", "ContainersReady"):
            st["conditions"] = _cond(st.get("conditions") or [], ctype, "False", "PodCompleted", "", ts)
        st["conditions"] = _cond(st["conditions"], "PodReadyToStartContainers", "False", None, None, ts)
        for c in st["conditions"]:
            c.setdefault("lastProbeTime", None)
            if not c.get("reason"):
                c.pop("reason", None)
            if not c.get("message"):
                c.pop("message", None)

    # --- pod disruption budgets ---------------------------------------------------------------------
    def _pdbs(self):
        """policy/v1 status: expected/healthy pods of the selector and how many may be evicted now."""
        for pdb in self.store.objects("PodDisruptionBudget"):
            meta, spec = pdb["metadata"], pdb.get("spec") or {}
            sel = LabelSelector.from_match(spec.get("selector") or {})
            pods = [p for p in self.store.objects("Pod", meta["namespace"])
                    if (spec.get("selector") or {}) and sel.matches(p["metadata"].get("labels"))
                    and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                    and not p["metadata"].get("deletionTimestamp")]
            expected = len(pods)
            healthy = sum(1 for p in pods if pod_ready(p))
            if spec.get("maxUnavailable") is not None:
                desired = max(0, expected - _int_or_percent(spec["maxUnavailable"], expected, True))
            else:
                desired = _int_or_percent(spec.get("minAvailable", 1), expected, True)
            allowed = max(0, healthy - desired)
            ts = now_rfc3339()
            old = pdb.get("status") or {}
            conds = _cond(old.get("conditions") or [], "DisruptionAllowed", "True" if allowed else "False",
                          "SufficientPods" if allowed else "InsufficientPods", "", ts)
            for c in conds:
                c["observedGeneration"] = meta.get("generation", 1)
            status = {"currentHealthy": healthy, "desiredHealthy": desired, "disruptionsAllowed": allowed,
                      "expectedPods": expected, "observedGeneration": meta.get("generation", 1),
                      "conditions": conds}
            if status != old:
                new = copy.deepcopy(pdb)
                new["status"] = status
                self.store.put(new)

    # --- scheduler + kubelet ---------------------------------------------------------------------------
    def _pods(self, immediate: bool):
        store = self.store
        now = time.time()
        pods = store.objects("Pod")
        nodes = [n for n in store.objects("Node") if _node_ready(n) and not (n.get("spec") or {}).get("unschedulable")]
        load: dict[str, int] = {n["metadata"]["name"]: 0 for n in nodes}
        for p in pods:
            nn = p["spec"].get("nodeName")
            if nn in load:
                load[nn] += 1
        rs_owner: dict[str, str] = {}
        if self.faults.has_workload_faults():
            for rs in store.objects("ReplicaSet"):
                ref = _controller_ref(rs)
                if ref and ref.get("kind") == "Deployment":
                    rs_owner[rs["metadata"]["uid"]] = ref["name"]
        live_uids = set()
        for p in pods:
            uid = p["metadata"]["uid"]
            live_uids.add(uid)
            st = p.get("status") or {}
            ref = _controller_ref(p)
            deploy = rs_owner.get(ref["uid"]) if ref else None
            fault = self.faults.workload_fault(p, deploy)
            if st.get("phase") == "Running" and fault is None and pod_ready(p) and uid not in self._crash_since:
                continue  # steady state: nothing to do (the common case when thousands of pods run)
            if st.get("phase") in ("Succeeded", "Failed"):
                continue
            new = copy.deepcopy(p)
            if not new["spec"].get("nodeName"):
                if not load:
                    self._set_unschedulable(new)
                    store.put(new)
                    continue
                node = min(load, key=lambda k: (load[k], k))
                load[node] += 1
                new["spec"]["nodeName"] = node
                self._event(p, "Scheduled", f"Successfully assigned {p['metadata']['namespace']}/"
                                            f"{p['metadata']['name']} to {node}", component="default-scheduler")
            self._seen.setdefault(uid, now)
            if immediate:
                self._seen[uid] = min(self._seen[uid], now - self.pod_start_delay)
            # Once started, a pod never goes back to "creating" (faults only change its containers' state).
            due = st.get("phase") == "Running" or now - self._seen[uid] >= self.pod_start_delay
            self._kubelet(new, fault, due, now)
            store.put(new)
        for uid in list(self._seen):
            if uid not in live_uids:
                self._seen.pop(uid, None)
                self._crash_since.pop(uid, None)

    def _set_unschedulable(self, pod: dict):
        st = pod.setdefault("status", {})
        st["phase"] = "Pending"
        st["conditions"] = _cond(st.get("conditions") or [], "PodScheduled", "False", "Unschedulable",
                                 "0/0 nodes are available: no nodes available to schedule pods.", now_rfc3339())
        for c in st["conditions"]:
            c.setdefault("lastProbeTime", None)

    def _node_ip(self, node_name: str) -> str:
        node = self.store.peek("Node", "", node_name) or {}
        for a in (node.get("status") or {}).get("addresses") or []:
            if a.get("type") == "InternalIP":
                return a["address"]
        return "10.0.0.1"

    def _pod_ip(self, node_name: str) -> str:
        self._ip_seq += 1
        idx = int("".join(ch for ch in node_name if ch.isdigit()) or "0") % 250
        return f"10.42.{idx}.{(self._ip_seq % 250) + 2}"

    def _kubelet(self, pod: dict, fault: str | None, due: bool, now: float):
        """Compute the pod status the kubelet would report now."""
        spec, st, meta = pod["spec"], pod.setdefault("status", {}), pod["metadata"]
        ts = now_rfc3339(now)
        node = spec["nodeName"]
        st.setdefault("phase", "Pending")
        st["hostIP"] = self._node_ip(node)
        st["hostIPs"] = [{"ip": st["hostIP"]}]
        st.setdefault("startTime", ts)
        st.setdefault("qosClass", _qos_of(spec))
        conds = st.get("conditions") or []
        conds = _cond(conds, "PodScheduled", "True", None, None, ts)
        running = due and fault != "image_pull_error"
        names = [c["name"] for c in spec.get("containers") or []]
        images = {c["name"]: c.get("image", "") for c in spec.get("containers") or []}
        old_cs = {c["name"]: c for c in st.get("containerStatuses") or []}
        statuses = []
        uid = meta["uid"]
        if fault != "crash_loop":
            self._crash_since.pop(uid, None)
        for cname in names:
            image = images[cname]
            base = {"name": cname, "image": image, "imageID": "", "restartCount": 0, "ready": False,
                    "started": False, "lastState": {}}
            prev = old_cs.get(cname) or {}
            if not running:
                if fault == "image_pull_error" and due:
                    reason = "ImagePullBackOff" if prev.get("state", {}).get("waiting", {}).get("reason") in (
                        "ErrImagePull", "ImagePullBackOff") else "ErrImagePull"
                    msg = (f'Back-off pulling image "{image}"' if reason == "ImagePullBackOff" else
                           f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
                           f'pull access denied, repository does not exist or may require authorization')
                    base["state"] = {"waiting": {"reason": reason, "message": msg}}
                else:
                    base["state"] = {"waiting": {"reason": "ContainerCreating"}}
                statuses.append(base)
                continue
            digest = hashlib.sha256(image.encode()).hexdigest()
            base["imageID"] = f"{_image_ref(image)}@sha256:{digest}"
            cid = "containerd://" + hashlib.sha256(f"{uid}/{cname}".encode()).hexdigest()
            if fault == "crash_loop":
                since = self._crash_since.setdefault(uid, now)
                period = self.faults.faults.crash_period
                restarts = 1 + int((now - since) / period)
                started = since + (restarts - 1) * period
                base.update({"restartCount": restarts, "containerID": cid + f"-{restarts}",
                             "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                   "message": f"back-off {min(300, 10 * 2 ** min(restarts - 1, 5))}s "
                                                              f"restarting failed container={cname} "
                                                              f"pod={meta['name']}_{meta['namespace']}({uid})"}},
                             "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                          "startedAt": now_rfc3339(started),
                                                          "finishedAt": now_rfc3339(started + period / 2),
                                                          "containerID": cid + f"-{restarts}"}}})
                if prev.get("restartCount", 0) < restarts and prev.get("state", {}).get("waiting"):
                    self._event(pod, "BackOff", f"Back-off restarting failed container {cname} in pod "
                                                f"{meta['name']}_{meta['namespace']}({uid})", "Warning", "kubelet")
            else:
                run_since = (prev.get("state") or {}).get("running", {}).get("startedAt") or ts
                base.update({"containerID": cid, "started": True, "ready": fault != "never_ready",
                             "restartCount": prev.get("restartCount", 0) if prev.get("state", {}).get("running")
                             else prev.get("restartCount", 0),
                             "lastState": prev.get("lastState") or {},
                             "state": {"running": {"startedAt": run_since}}})
                if not prev.get("state", {}).get("running"):
                    self._event(pod, "Pulled", f'Container image "{image}" already present on machine', "Normal",
                                "kubelet")
                    self._event(pod, "Started", f"Started container {cname}", "Normal", "kubelet")
            statuses.append(base)
        all_ready = bool(statuses) and all(c["ready"] for c in statuses)
        unready = [c["name"] for c in statuses if not c["ready"]]
        if running:
            st["phase"] = "Running"
            if not st.get("podIP"):
                st["podIP"] = self._pod_ip(node)
                st["podIPs"] = [{"ip": st["podIP"]}]
        conds = _cond(conds, "PodReadyToStartContainers", "True" if running else "False", None, None, ts)
        conds = _cond(conds, "Initialized", "True", None, None, ts)
        msg = None if all_ready else f"containers with unready status: [{' '.join(unready)}]"
        reason = None if all_ready else "ContainersNotReady"
        conds = _cond(conds, "Ready", "True" if all_ready else "False", reason, msg, ts)
        conds = _cond(conds, "ContainersReady", "True" if all_ready else "False", reason, msg, ts)
        for c in conds:
            c.setdefault("lastProbeTime", None)
            if c.get("reason") is None:
                c.pop("reason", None)
            if c.get("message") is None:
                c.pop("message", None)
        order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
        st["conditions"] = sorted(conds, key=lambda c: order.index(c["type"]) if c["type"] in order else 99)
        st["containerStatuses"] = statuses

    # --- storage, ingress, nodes -------------------------------------------------------------------------
    def _pvcs(self):
        store = self.store
        for pvc in store.objects("PersistentVolumeClaim"):
            if (pvc.get("status") or {}).get("phase") == "Bound":
                continue
            meta, spec = pvc["metadata"], pvc["spec"]
            pv_name = f"pvc-{meta['uid']}"
            size = spec["resources"]["requests"]["storage"]
            if store.peek("PersistentVolume", "", pv_name) is None:
                node = (store.objects("Node") or [{"metadata": {"name": "node-1"}}])[0]["metadata"]["name"]
                pv = {"metadata": {"name": pv_name, "annotations": {
                          "pv.kubernetes.io/provisioned-by": "rancher.io/local-path"},
                          "finalizers": ["kubernetes.io/pv-protection"]},
                      "spec": {"capacity": {"storage": size}, "accessModes": spec.get("accessModes"),
                               "persistentVolumeReclaimPolicy": "Delete",
                               "storageClassName": spec.get("storageClassName"), "volumeMode": "Filesystem",
                               "hostPath": {"path": f"/var/lib/rancher/k3s/storage/{pv_name}_{meta['namespace']}_"
                                                    f"{meta['name']}", "type": "DirectoryOrCreate"},
                               "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                            "name": meta["name"], "namespace": meta["namespace"],
                                            "uid": meta["uid"]},
                               "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                                   {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
                      "status": {"phase": "Bound"}}
                try:
                    store.create(BY_KIND["PersistentVolume"], "", pv, internal=True)
                except ApiError:
                    pass
            new = copy.deepcopy(pvc)
            new["spec"]["volumeName"] = pv_name
            new["metadata"].setdefault("annotations", {}).update({
                "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.beta.kubernetes.io/storage-provisioner": "rancher.io/local-path",
                "volume.kubernetes.io/storage-provisioner": "rancher.io/local-path"})
            new["metadata"]["finalizers"] = ["kubernetes.io/pvc-protection"]
            new["status"] = {"phase": "Bound", "accessModes": spec.get("accessModes"), "capacity": {"storage": size}}
            store.put(new)
            self._event(pvc, "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}",
                        component="rancher.io/local-path_local-path-provisioner")
        # Reclaim policy Delete: a PV goes when its claim is gone.
        for pv in store.objects("PersistentVolume"):
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            claim = store.peek("PersistentVolumeClaim", ref.get("namespace", ""), ref.get("name", ""))
            if ref and (claim is None or claim["metadata"]["uid"] != ref.get("uid")):
                try:
                    store.delete(BY_KIND["PersistentVolume"], "", pv["metadata"]["name"])
                except ApiError:
                    pass

    def _ingresses(self):
        nodes = self.store.objects("Node")
        ips = [{"ip": self._node_ip(n["metadata"]["name"])} for n in nodes[:1]] or [{"ip": "10.0.0.1"}]
        for ing in self.store.objects("Ingress"):
            if ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
                continue
            new = copy.deepcopy(ing)
            new["status"] = {"loadBalancer": {"ingress": ips}}
            self.store.put(new)

    def _nodes(self):
        bad = set(self.faults.faults.node_not_ready)
        for n in self.store.objects("Node"):
            want = "Unknown" if n["metadata"]["name"] in bad else "True"
            conds = (n.get("status") or {}).get("conditions") or []
            ready = next((c for c in conds if c.get("type") == "Ready"), None)
            if ready and ready.get("status") == want:
                continue
            new = copy.deepcopy(n)
            ts = now_rfc3339()
            for c in new["status"]["conditions"]:
                if c["type"] == "Ready":
                    c.update({"status": want, "lastTransitionTime": ts, "lastHeartbeatTime": ts,
                              "reason": "KubeletReady" if want == "True" else "NodeStatusUnknown",
                              "message": "kubelet is posting ready status" if want == "True"
                              else "Kubelet stopped posting node status."})
            self.store.put(new)


def _job_cond(conds: list, ctype: str, reason: str, message: str, ts: str) -> list:
    """Job conditions are appended in the order they happen (SuccessCriteriaMet before Complete)."""
    return [c for c in conds if c.get("type") != ctype] + [
        {"type": ctype, "status": "True", "lastProbeTime": ts, "lastTransitionTime": ts, "reason": reason,
         "message": message}]


def _finished_at(status: dict) -> float | None:
    for c in status.get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return parse_rfc3339(status.get("completionTime") or c.get("lastTransitionTime"))
    return None


def _node_ready(n: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (n.get("status") or {}).get("conditions") or [])


def _image_ref(image: str) -> str:
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":")[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in name.split("/")[0] and ":" not in name.split("/")[0]:
        name = f"docker.io/{name}"
    return name


def _qos_of(spec: dict) -> str:
    return _qos(spec)
