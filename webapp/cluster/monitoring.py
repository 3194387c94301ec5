"""Read-only views of the cluster for the admin API (K1-K7, logs) and the console pages.

One list call per resource (fix 25: no per-pod or per-node metrics round trips), parsed from raw JSON (camelCase,
as the original returned it) and joined in memory. Lists are big (5,000 pods are ~9 MB of JSON): `_raw` decodes them
with orjson and keeps the cyclic garbage collector paused while they are decoded and turned into rows (the collector
otherwise rescans the fresh objects again and again, about half of the decoding time). Optional `namespace` / `limit` narrow a list (fix 29). Every
function raises `ClusterUnavailable("Kubernetes cluster not accessible")` when the API server is unreachable.
"""
from __future__ import annotations

import contextlib
import gc
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from kubernetes.client.rest import ApiException
from sqlalchemy import select

from ..db import isoformat, utcnow
from ..extensions import db
from .client import MSG_MONITORING, api_message, ensure_available, is_not_found, reraise_as
from .errors import ContainerNotFound, NodeNotFound, PodNotFound
from .quantity import cpu_usage, mebibytes, memory_usage, millicores, safe_quantity

log = logging.getLogger(__name__)


def _kube():
    db.session.commit()  # read-only request: end the DB transaction before talking to the cluster
    return ensure_available(MSG_MONITORING)


@contextlib.contextmanager
def _gc_paused():
    """No cyclic GC while large acyclic JSON trees are built (only the thread that paused it resumes it)."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _raw(kube, method, *args, **kwargs) -> Any:
    """`kube.raw` (a generated method without model deserialization: the parsed camelCase JSON), decoded faster."""
    response = method(*args, _preload_content=False, **kwargs)
    try:
        with _gc_paused():
            return orjson.loads(response.data)
    finally:
        response.release_conn()


def _list(kube, all_ns_method, ns_method, namespace: str | None, limit: int | None, **kwargs) -> list[dict]:
    extra = dict(kwargs)
    if limit:
        extra["limit"] = limit
    if namespace:
        return _raw(kube, ns_method, namespace, **extra).get("items") or []
    return _raw(kube, all_ns_method, **extra).get("items") or []


def _metrics_list(kube, plural: str, namespace: str | None = None) -> list[dict] | None:
    """metrics.k8s.io list (None when metrics-server is not installed)."""
    try:
        if plural == "nodes":
            data = _raw(kube, kube.custom.list_cluster_custom_object, "metrics.k8s.io", "v1beta1", "nodes")
        elif namespace:
            data = _raw(kube, kube.custom.list_namespaced_custom_object, "metrics.k8s.io", "v1beta1", namespace, "pods")
        else:
            data = _raw(kube, kube.custom.list_cluster_custom_object, "metrics.k8s.io", "v1beta1", "pods")
    except ApiException as exc:
        log.info("metrics.k8s.io %s unavailable: %s", plural, api_message(exc))
        return None
    return data.get("items") or []


def _resources_of(container: dict, with_storage: bool = False) -> dict:
    res = container.get("resources") or {}
    out = {}
    for kind in ("requests", "limits"):
        values = res.get(kind) or {}
        entry = {"cpu": values.get("cpu", "0m"), "memory": values.get("memory", "0Mi")}
        if with_storage and values.get("ephemeral-storage"):
            entry["storage"] = values["ephemeral-storage"]
        out[kind] = entry
    return out


# ------------------------------------------------------------------------------------------------ nodes
def _node_status(node: dict) -> str:
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        return "Unknown"
    return "Ready" if ready.get("status") == "True" else "NotReady"


def _capacity(values: dict | None) -> dict:
    values = values or {}
    return {"cpu": values.get("cpu"), "memory": values.get("memory"), "pods": values.get("pods"),
            "storage": values.get("ephemeral-storage")}


def _node_metrics(item: dict | None) -> dict | None:
    if not item:
        return None
    usage = item.get("usage") or {}
    return {"timestamp": item.get("timestamp"), "window": item.get("window"),
            "usage": {"cpu": cpu_usage(usage.get("cpu")), "memory": memory_usage(usage.get("memory"))}}


def _node_row(node: dict, metrics: dict | None) -> dict:
    meta, status = node["metadata"], node.get("status") or {}
    info = status.get("nodeInfo") or {}
    return {"name": meta["name"], "status": _node_status(node), "version": info.get("kubeletVersion"),
            "os": info.get("osImage"), "kernel": info.get("kernelVersion"),
            "containerRuntime": info.get("containerRuntimeVersion"), "capacity": _capacity(status.get("capacity")),
            "allocatable": _capacity(status.get("allocatable")), "conditions": status.get("conditions") or [],
            "addresses": status.get("addresses") or [], "nodeInfo": info, "createdAt": meta.get("creationTimestamp"),
            "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {},
            "metrics": _node_metrics(metrics)}


def list_nodes() -> dict:
    """K1: every node with its metrics (two calls in all)."""
    with reraise_as(MSG_MONITORING):
        kube = _kube()
        nodes = _raw(kube, kube.core.list_node).get("items") or []
        metrics = {m["metadata"]["name"]: m for m in _metrics_list(kube, "nodes") or []}
    rows = [_node_row(n, metrics.get(n["metadata"]["name"])) for n in nodes]
    return {"nodes": rows, "total": len(rows)}


def get_node(name: str) -> dict:
    """K2: one node, 404 "Node '<name>' not found"."""
    with reraise_as(MSG_MONITORING):
        kube = _kube()
        try:
            node = _raw(kube, kube.core.read_node, name)
        except ApiException as exc:
            if is_not_found(exc) or exc.status == 400:
                raise NodeNotFound(name=name) from None
            raise
        try:
            metrics = kube.custom.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", name)
        except ApiException:
            metrics = None
    row = _node_row(node, metrics)
    spec = node.get("spec") or {}
    detail = {"name": row["name"], "uid": node["metadata"].get("uid"), "status": row["status"],
              "version": row["version"], "os": row["os"], "kernel": row["kernel"],
              "containerRuntime": row["containerRuntime"], "architecture": row["nodeInfo"].get("architecture"),
              "capacity": row["capacity"], "allocatable": row["allocatable"], "conditions": row["conditions"],
              "addresses": row["addresses"], "nodeInfo": row["nodeInfo"], "taints": spec.get("taints") or [],
              "createdAt": row["createdAt"], "labels": row["labels"], "annotations": row["annotations"], "spec": spec,
              "metrics": row["metrics"]}
    return {"node": detail}


def node_capacity_rows() -> list[dict]:
    """Console Nodes page: per node, CPU (millicores) and memory (MiB) requested, used and allocatable.

    Three calls: nodes, pods (for requests, summed per node), node metrics."""
    with reraise_as(MSG_MONITORING), _gc_paused():  # as in list_pods: the pod list is dropped before GC resumes
        kube = _kube()
        nodes = _raw(kube, kube.core.list_node).get("items") or []
        pods = _raw(kube, kube.core.list_pod_for_all_namespaces,
                    field_selector="status.phase!=Succeeded,status.phase!=Failed").get("items") or []
        metrics = {m["metadata"]["name"]: m for m in _metrics_list(kube, "nodes") or []}
        requested: dict[str, list] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if not node:
                continue
            acc = requested.setdefault(node, [0, 0, 0])
            acc[2] += 1
            for c in (pod.get("spec") or {}).get("containers") or []:
                req = (c.get("resources") or {}).get("requests") or {}
                acc[0] += safe_quantity(req.get("cpu"))
                acc[1] += safe_quantity(req.get("memory"))
        del pods
    rows = []
    for node in nodes:
        name = node["metadata"]["name"]
        alloc = (node.get("status") or {}).get("allocatable") or {}
        usage = (metrics.get(name) or {}).get("usage") or {}
        req = requested.get(name, [0, 0, 0])
        rows.append({"name": name, "status": _node_status(node),
                     "cpuAllocatable": int(safe_quantity(alloc.get("cpu")) * 1000),
                     "cpuRequested": int(req[0] * 1000),
                     "cpuUsed": int(safe_quantity(usage.get("cpu")) * 1000) if usage else None,
                     "memAllocatable": int(safe_quantity(alloc.get("memory")) / 2 ** 20),
                     "memRequested": int(req[1] / 2 ** 20),
                     "memUsed": int(safe_quantity(usage.get("memory")) / 2 ** 20) if usage else None,
                     "pods": req[2], "podsAllocatable": int(safe_quantity(alloc.get("pods")))})
    return rows


# ------------------------------------------------------------------------------------------------ namespaces
def list_namespaces() -> dict:
    """K3."""
    with reraise_as(MSG_MONITORING):
        kube = _kube()
        items = _raw(kube, kube.core.list_namespace).get("items") or []
    rows = [{"name": n["metadata"]["name"], "status": (n.get("status") or {}).get("phase"),
             "createdAt": n["metadata"].get("creationTimestamp"), "labels": n["metadata"].get("labels") or {}}
            for n in items]
    return {"namespaces": rows, "total": len(rows)}


# ------------------------------------------------------------------------------------------------ deployments
def _deployment_row(d: dict) -> dict:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return {"name": d["metadata"]["name"], "namespace": d["metadata"].get("namespace"),
            "replicas": spec.get("replicas"), "readyReplicas": status.get("readyReplicas") or 0,
            "availableReplicas": status.get("availableReplicas") or 0,
            "unavailableReplicas": status.get("unavailableReplicas") or 0,
            "conditions": status.get("conditions") or [],
            "containers": [{"name": c.get("name"), "image": c.get("image"), "resources": _resources_of(c),
                            "ports": [{"containerPort": p.get("containerPort"), "name": p.get("name"),
                                       "protocol": p.get("protocol") or "TCP"} for p in c.get("ports") or []],
                            "volumeMounts": [{"name": v.get("name"), "mountPath": v.get("mountPath"),
                                              "readOnly": bool(v.get("readOnly", False))}
                                             for v in c.get("volumeMounts") or []]} for c in containers],
            "images": [c.get("image") for c in containers], "createdAt": d["metadata"].get("creationTimestamp"),
            "labels": d["metadata"].get("labels") or {}}


def list_deployments(namespace: str | None = None, limit: int | None = None) -> dict:
    """K4."""
    with reraise_as(MSG_MONITORING):
        kube = _kube()
        items = _list(kube, kube.apps.list_deployment_for_all_namespaces, kube.apps.list_namespaced_deployment,
                      namespace, limit)
    rows = [_deployment_row(d) for d in items]
    return {"deployments": rows, "total": len(rows)}


# ------------------------------------------------------------------------------------------------ pods
def _pod_row(pod: dict, metrics: dict | None) -> dict:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    statuses = {c.get("name"): c for c in status.get("containerStatuses") or []}
    usage_by_container = {c.get("name"): c.get("usage") or {} for c in (metrics or {}).get("containers") or []}
    containers = []
    for c in spec.get("containers") or []:
        usage = usage_by_container.get(c.get("name"))
        containers.append({
            "name": c.get("name"), "image": c.get("image"), "ready": bool(statuses.get(c.get("name"), {}).get("ready")),
            "resources": _resources_of(c, with_storage=True),
            "usage": ({"cpu": cpu_usage(usage.get("cpu")), "memory": memory_usage(usage.get("memory"))}
                      if usage is not None else None),
            "ports": c.get("ports") or [], "volumeMounts": c.get("volumeMounts") or []})
    return {"name": meta["name"], "namespace": meta.get("namespace"), "status": status.get("phase"),
            "nodeName": spec.get("nodeName"), "podIP": status.get("podIP"), "hostIP": status.get("hostIP"),
            "restarts": sum(int(c.get("restartCount") or 0) for c in statuses.values()),
            "createdAt": meta.get("creationTimestamp"), "containers": containers,
            "metricsTimestamp": (metrics or {}).get("timestamp"), "metricsWindow": (metrics or {}).get("window")}


def _pod_summary(pod: dict, metrics: dict | None) -> dict:
    """What the console Pods page shows of a pod: no per-container detail, usage summed (CPU m, memory MiB)."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    usage_by_container = {c.get("name"): c.get("usage") or {} for c in (metrics or {}).get("containers") or []}
    cpu, memory = 0, 0
    for c in spec.get("containers") or []:
        usage = usage_by_container.get(c.get("name"))
        if usage is not None:
            cpu += millicores(usage.get("cpu"))
            memory += mebibytes(usage.get("memory"))
    restarts = {c.get("name"): int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []}
    return {"name": meta["name"], "namespace": meta.get("namespace"), "status": status.get("phase"),
            "nodeName": spec.get("nodeName"), "restarts": sum(restarts.values()),
            "createdAt": meta.get("creationTimestamp"), "cpu": cpu, "memory": memory}


def _pods_joined(namespace: str | None, limit: int | None, row) -> list[dict]:
    """`row(pod, its metrics or None)` for every pod: one pod list and one pod-metrics list, fetched concurrently."""
    # One collector pause from decoding to the rows, and the decoded lists dropped inside it: re-enabling the
    # collector while they are alive would make it scan every one of their objects (~50 ms for 5,000 pods).
    with reraise_as(MSG_MONITORING), _gc_paused():
        kube = _kube()
        # The two lists are independent (the API server does the waiting, not us).
        with ThreadPoolExecutor(max_workers=1) as pool:
            metrics_future = pool.submit(_metrics_list, kube, "pods", namespace)
            items = _list(kube, kube.core.list_pod_for_all_namespaces, kube.core.list_namespaced_pod, namespace,
                          limit)
            metrics_items = metrics_future.result() or []
        metrics = {(m["metadata"].get("namespace"), m["metadata"]["name"]): m for m in metrics_items}
        rows = [row(p, metrics.get((p["metadata"].get("namespace"), p["metadata"]["name"]))) for p in items]
        del items, metrics_items, metrics
    return rows


def list_pods(namespace: str | None = None, limit: int | None = None) -> dict:
    """K5: pods with per-container usage."""
    rows = _pods_joined(namespace, limit, _pod_row)
    return {"pods": rows, "total": len(rows)}


def pod_summaries(namespace: str | None = None) -> list[dict]:
    """Console Pods page: every pod as `_pod_summary` (the same two calls as K5, far fewer objects built)."""
    return _pods_joined(namespace, None, _pod_summary)


# ------------------------------------------------------------------------------------------------ ingresses
def _ingress_row(i: dict) -> dict:
    spec, status = i.get("spec") or {}, i.get("status") or {}
    paths = []
    for rule in spec.get("rules") or []:
        for p in ((rule.get("http") or {}).get("paths")) or []:
            svc = ((p.get("backend") or {}).get("service")) or {}
            paths.append({"path": p.get("path"), "pathType": p.get("pathType"), "serviceName": svc.get("name"),
                          "servicePort": (svc.get("port") or {}).get("number")})
    lb = ((status.get("loadBalancer") or {}).get("ingress")) or []
    return {"name": i["metadata"]["name"], "namespace": i["metadata"].get("namespace"),
            "className": spec.get("ingressClassName"),
            "hosts": [r.get("host") for r in spec.get("rules") or [] if r.get("host")], "paths": paths,
            "externalIPs": [x.get("ip") or x.get("hostname") for x in lb],
            "tls": [{"hosts": t.get("hosts") or [], "secretName": t.get("secretName")} for t in spec.get("tls") or []],
            "annotations": i["metadata"].get("annotations") or {}, "createdAt": i["metadata"].get("creationTimestamp"),
            "conditions": status.get("conditions") or [], "labels": i["metadata"].get("labels") or {}}


def list_ingresses(namespace: str | None = None, limit: int | None = None) -> dict:
    """K6."""
    with reraise_as(MSG_MONITORING):
        kube = _kube()
        items = _list(kube, kube.net.list_ingress_for_all_namespaces, kube.net.list_namespaced_ingress, namespace,
                      limit)
    rows = [_ingress_row(i) for i in items]
    return {"ingresses": rows, "total": len(rows)}


# ------------------------------------------------------------------------------------------------ services
def _service_row(s: dict) -> dict:
    spec, status = s.get("spec") or {}, s.get("status") or {}
    kind = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    lb = [x.get("ip") or x.get("hostname") for x in ((status.get("loadBalancer") or {}).get("ingress")) or []]
    ports = [{"name": p.get("name"), "port": p.get("port"), "targetPort": p.get("targetPort"),
              "protocol": p.get("protocol") or "TCP", "nodePort": p.get("nodePort")} for p in spec.get("ports") or []]
    endpoints = list(external) + list(lb)
    if kind == "NodePort":
        endpoints.append(f"{spec.get('clusterIP')}:{','.join(str(p['nodePort']) for p in ports)}")
    return {"name": s["metadata"]["name"], "namespace": s["metadata"].get("namespace"), "type": kind,
            "clusterIP": spec.get("clusterIP"), "externalIPs": external, "loadBalancerIPs": lb, "ports": ports,
            "selector": spec.get("selector") or {}, "sessionAffinity": spec.get("sessionAffinity") or "None",
            "endpoints": endpoints or None, "annotations": s["metadata"].get("annotations") or {},
            "labels": s["metadata"].get("labels") or {}, "createdAt": s["metadata"].get("creationTimestamp"),
            "conditions": status.get("conditions") or []}


def list_services(namespace: str | None = None, limit: int | None = None) -> dict:
    """K7."""
    with reraise_as(MSG_MONITORING):
        kube = _kube()
        items = _list(kube, kube.core.list_service_for_all_namespaces, kube.core.list_namespaced_service, namespace,
                      limit)
    rows = [_service_row(s) for s in items]
    return {"services": rows, "total": len(rows)}


# ------------------------------------------------------------------------------------------------ logs (admin)
def pod_logs(namespace: str, pod: str, container: str | None, tail_lines: int) -> dict:
    """K8: the last lines of one container; 404 for an unknown pod or container (checked before reading)."""
    from .logs import parse_lines

    with reraise_as(MSG_MONITORING):
        kube = _kube()
        try:
            obj = _raw(kube, kube.core.read_namespaced_pod, pod, namespace)
        except ApiException as exc:
            if is_not_found(exc) or exc.status in (400, 422):
                raise PodNotFound(name=pod, namespace=namespace) from None
            raise
        names = [c["name"] for c in (obj.get("spec") or {}).get("containers") or []]
        container = container or (names[0] if names else None)
        if container not in names:
            raise ContainerNotFound(container=container, pod=pod)
        try:
            text = kube.core.read_namespaced_pod_log(pod, namespace, container=container, tail_lines=tail_lines,
                                                     timestamps=True)
        except ApiException as exc:
            if exc.status == 400:  # container not started yet: no logs
                text = ""
            else:
                raise
    return {"namespace": namespace, "pod": pod, "container": container, "containers": names,
            "logs": parse_lines(text), "options": {"tailLines": tail_lines}}


# ------------------------------------------------------------------------------------------------ console
def instance_objects(namespace: str, instance_id: str, deployment: str, tail_lines: int = 50) -> dict[str, Any]:
    """Everything the console shows for one instance: its objects (by label), events and last log lines."""
    from .logs import parse_lines

    selector = f"instance={instance_id}"
    with reraise_as(MSG_MONITORING):
        kube = _kube()

        def by_label(method):
            try:
                return _raw(kube, method, namespace, label_selector=selector).get("items") or []
            except ApiException as exc:
                if is_not_found(exc):
                    return []
                raise

        objects = {"Deployment": by_label(kube.apps.list_namespaced_deployment),
                   "Pod": by_label(kube.core.list_namespaced_pod),
                   "Service": by_label(kube.core.list_namespaced_service),
                   "Ingress": by_label(kube.net.list_namespaced_ingress),
                   "PersistentVolumeClaim": by_label(kube.core.list_namespaced_persistent_volume_claim),
                   "Secret": by_label(kube.core.list_namespaced_secret)}
        try:
            events = _raw(kube, kube.core.list_namespaced_event, namespace).get("items") or []
        except ApiException:
            events = []
        pods = sorted(objects["Pod"], key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
        logs, log_pod = [], None
        if pods:
            log_pod = pods[0]["metadata"]["name"]
            container = ((pods[0].get("spec") or {}).get("containers") or [{}])[0].get("name")
            try:
                logs = parse_lines(kube.core.read_namespaced_pod_log(log_pod, namespace, container=container,
                                                                     tail_lines=tail_lines, timestamps=True))
            except ApiException:
                logs = []
    names = {o["metadata"]["name"] for items in objects.values() for o in items}
    mine = [e for e in events if (e.get("involvedObject") or {}).get("name") in names
            or ((e.get("involvedObject") or {}).get("name") or "").startswith(f"{deployment}-")]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", reverse=True)
    for secret in objects["Secret"]:  # names and keys only, never values
        secret.pop("data", None)
        secret.pop("stringData", None)
    return {"objects": objects, "events": mine[:100], "logs": logs, "logPod": log_pod, "fetchedAt": isoformat(utcnow())}


def ingress_owners(instance_ids: set[str]) -> dict[str, dict]:
    """instance id -> {instanceId, customer email, service name} for the console Ingresses page (one query)."""
    from ..accounts.models import User
    from ..catalog.models import Service
    from ..subscriptions.models import Subscription
    from .models import ServiceInstance

    if not instance_ids:
        return {}
    rows = db.session.execute(
        select(ServiceInstance.id, ServiceInstance.status, User.email, User.id.label("user_id"), Service.name)
        .join(Subscription, Subscription.id == ServiceInstance.subscription_id)
        .join(User, User.id == Subscription.user_id).join(Service, Service.id == Subscription.service_id)
        .where(ServiceInstance.id.in_(list(instance_ids)))).all()
    return {r.id: {"instanceId": r.id, "status": r.status.value, "email": r.email, "userId": r.user_id,
                   "service": r.name} for r in rows}
