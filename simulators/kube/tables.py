"""Server-side printing: `meta.k8s.io/v1` Table responses for `kubectl get` (requested with `Accept: ...;as=Table`).

kubectl prints whatever columns the server returns, so these mirror the upstream printers (READY, STATUS,
RESTARTS, AGE for pods, UP-TO-DATE/AVAILABLE for deployments, ...).  Kinds without a printer get NAME/AGE.
"""
from __future__ import annotations

import time

from .store import parse_rfc3339


def human_age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    s = int(time.time() - parse_rfc3339(ts))
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 730:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d"


def _col(name, typ="string", fmt="", priority=0, desc=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc or name, "priority": priority}


def _pod_row(p):
    st = p.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((p.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in cs)
    reason = st.get("reason") or st.get("phase", "Unknown")
    for c in cs:
        w = (c.get("state") or {}).get("waiting")
        if w and w.get("reason"):
            reason = w["reason"]
        t = (c.get("state") or {}).get("terminated")
        if t and t.get("reason") and st.get("phase") in ("Succeeded", "Failed"):
            reason = t["reason"]
    if p["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [p["metadata"]["name"], f"{ready}/{total}", reason, restarts, human_age(p["metadata"].get(
        "creationTimestamp")), st.get("podIP") or "<none>", (p.get("spec") or {}).get("nodeName") or "<none>",
        "<none>", "<none>"]


def _containers(spec):
    cs = (((spec or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _selector(spec):
    ml = ((spec or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in ml.items()) or "<none>"


def _deploy_row(d):
    st, spec = d.get("status") or {}, d.get("spec") or {}
    names, images = _containers(spec)
    return [d["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            human_age(d["metadata"].get("creationTimestamp")), names, images, _selector(spec)]


def _rs_row(r):
    st, spec = r.get("status") or {}, r.get("spec") or {}
    names, images = _containers(spec)
    return [r["metadata"]["name"], spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
            human_age(r["metadata"].get("creationTimestamp")), names, images, _selector(spec)]


def _svc_row(s):
    spec = s.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    lb = [i.get("ip") or i.get("hostname") for i in ((s.get("status") or {}).get("loadBalancer") or {}).get(
        "ingress") or []]
    sel = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [s["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"),
            ",".join(lb) or "<none>", ports, human_age(s["metadata"].get("creationTimestamp")), sel]


def _ing_row(i):
    spec = i.get("spec") or {}
    hosts = ",".join(r.get("host", "*") for r in spec.get("rules") or []) or "*"
    addr = ",".join(x.get("ip") or x.get("hostname", "") for x in ((i.get("status") or {}).get(
        "loadBalancer") or {}).get("ingress") or [])
    cls = spec.get("ingressClassName") or "<none>"
    return [i["metadata"]["name"], cls, hosts, addr, "80, 443" if spec.get("tls") else "80",
            human_age(i["metadata"].get("creationTimestamp"))]


def _node_row(n):
    st = n.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), {})
    status = "Ready" if ready.get("status") == "True" else "NotReady"
    if (n.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = ",".join(sorted(k.split("/", 1)[1] for k in n["metadata"].get("labels", {})
                            if k.startswith("node-role.kubernetes.io/"))) or "<none>"
    ip = next((a["address"] for a in st.get("addresses") or [] if a.get("type") == "InternalIP"), "<none>")
    info = st.get("nodeInfo") or {}
    return [n["metadata"]["name"], status, roles, human_age(n["metadata"].get("creationTimestamp")),
            info.get("kubeletVersion", ""), ip, "<none>", info.get("osImage", ""), info.get("kernelVersion", ""),
            info.get("containerRuntimeVersion", "")]


def _event_row(e):
    io = e.get("involvedObject") or {}
    return [human_age(e.get("lastTimestamp") or e["metadata"].get("creationTimestamp")), e.get("type", ""),
            e.get("reason", ""), f"{(io.get('kind') or '').lower()}/{io.get('name', '')}", e.get("message", "")]


def _pvc_row(c):
    st, spec = c.get("status") or {}, c.get("spec") or {}
    modes = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    return [c["metadata"]["name"], st.get("phase", "Pending"), spec.get("volumeName", ""),
            (st.get("capacity") or {}).get("storage", ""),
            ",".join(modes.get(m, m) for m in st.get("accessModes") or []), spec.get("storageClassName", ""),
            "<unset>", human_age(c["metadata"].get("creationTimestamp"))]


def _job_row(j):
    spec, st = j.get("spec") or {}, j.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    status = ("Complete" if conds.get("Complete") == "True" else "Failed" if conds.get("Failed") == "True"
              else "Suspended" if spec.get("suspend") else "Running")
    start, end = st.get("startTime"), st.get("completionTime")
    duration = ""
    if start:
        secs = int((parse_rfc3339(end) if end else time.time()) - parse_rfc3339(start))
        duration = f"{secs}s" if secs < 120 else f"{secs // 60}m"
    return [j["metadata"]["name"], status, f"{st.get('succeeded', 0)}/{spec.get('completions', 1)}", duration,
            human_age(j["metadata"].get("creationTimestamp"))]


def _pdb_row(p):
    spec, st = p.get("spec") or {}, p.get("status") or {}
    return [p["metadata"]["name"], str(spec.get("minAvailable", "N/A")), str(spec.get("maxUnavailable", "N/A")),
            st.get("disruptionsAllowed", 0), human_age(p["metadata"].get("creationTimestamp"))]


PRINTERS = {
    "Pod": ([_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age"),
             _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
             _col("Readiness Gates", priority=1)], _pod_row),
    "Deployment": ([_col("Name", fmt="name"), _col("Ready"), _col("Up-to-date", "integer"),
                    _col("Available", "integer"), _col("Age"), _col("Containers", priority=1),
                    _col("Images", priority=1), _col("Selector", priority=1)], _deploy_row),
    "ReplicaSet": ([_col("Name", fmt="name"), _col("Desired", "integer"), _col("Current", "integer"),
                    _col("Ready", "integer"), _col("Age"), _col("Containers", priority=1),
                    _col("Images", priority=1), _col("Selector", priority=1)], _rs_row),
    "Service": ([_col("Name", fmt="name"), _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                 _col("Port(s)"), _col("Age"), _col("Selector", priority=1)], _svc_row),
    "Ingress": ([_col("Name", fmt="name"), _col("Class"), _col("Hosts"), _col("Address"), _col("Ports"),
                 _col("Age")], _ing_row),
    "Node": ([_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version"),
              _col("Internal-IP", priority=1), _col("External-IP", priority=1), _col("OS-Image", priority=1),
              _col("Kernel-Version", priority=1), _col("Container-Runtime", priority=1)], _node_row),
    "Namespace": ([_col("Name", fmt="name"), _col("Status"), _col("Age")],
                  lambda n: [n["metadata"]["name"], (n.get("status") or {}).get("phase", "Active"),
                             human_age(n["metadata"].get("creationTimestamp"))]),
    "Secret": ([_col("Name", fmt="name"), _col("Type"), _col("Data", "integer"), _col("Age")],
               lambda s: [s["metadata"]["name"], s.get("type", "Opaque"), len(s.get("data") or {}),
                          human_age(s["metadata"].get("creationTimestamp"))]),
    "ConfigMap": ([_col("Name", fmt="name"), _col("Data", "integer"), _col("Age")],
                  lambda c: [c["metadata"]["name"], len(c.get("data") or {}) + len(c.get("binaryData") or {}),
                             human_age(c["metadata"].get("creationTimestamp"))]),
    "PersistentVolumeClaim": ([_col("Name", fmt="name"), _col("Status"), _col("Volume"), _col("Capacity"),
                               _col("Access Modes"), _col("StorageClass"), _col("VolumeAttributesClass"),
                               _col("Age")], _pvc_row),
    "Job": ([_col("Name", fmt="name"), _col("Status"), _col("Completions"), _col("Duration"), _col("Age")], _job_row),
    "PodDisruptionBudget": ([_col("Name", fmt="name"), _col("Min Available"), _col("Max Unavailable"),
                             _col("Allowed Disruptions", "integer"), _col("Age")], _pdb_row),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")], _event_row),
}
DEFAULT = ([_col("Name", fmt="name"), _col("Age")],
           lambda o: [o["metadata"]["name"], human_age(o["metadata"].get("creationTimestamp"))])


def table(res, objs: list[dict], include_object: bool = True) -> dict:
    cols, row = PRINTERS.get(res.kind, DEFAULT)
    rows = []
    for o in objs:
        r = {"cells": row(o)}
        if include_object:
            r["object"] = o
        rows.append(r)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": cols,
            "rows": rows}
