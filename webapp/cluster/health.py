"""Instance health: the per-instance check (H3), the sweep (H2 and the periodic job), summaries (H1, H4).

The sweep makes one cluster-wide list call per kind (deployments, pods, pod metrics) whatever the number of
instances, joins in memory, and only then writes: an outage raises `ClusterUnavailable` before anything is
written (fix 21: never store health derived from an outage). Writes are conditional on the row still being
RUNNING *and* unchanged since it was read (fix 12), so a stop or restart in between wins.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from kubernetes.client.rest import ApiException
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from ..catalog.models import Service
from ..db import isoformat, utcnow
from ..extensions import db
from ..subscriptions.models import Subscription
from . import client
from .client import MSG_HEALTH, ClusterUnavailable, api_message, is_not_found, reraise_as
from .models import InstanceStatus as S
from .models import ServiceInstance
from .quantity import _round, safe_quantity
from .status import transition

log = logging.getLogger(__name__)

SWEEP_LOCK = "poddesk:cluster:health-sweep"
TIME_RANGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def is_healthy_text(text: str | None) -> bool:
    """Fix 27: "Healthy - Restarted" is healthy too."""
    return bool(text) and text.startswith("Healthy")


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    namespace: str
    deployment: str
    status: S
    updated_at: datetime


def _target(instance: ServiceInstance) -> Target:
    return Target(instance.id, instance.name, instance.namespace, instance.deployment_name or instance.name,
                  instance.status, instance.updated_at)


# ----------------------------------------------------------------------------------------------- assess
def _deployment_view(target: Target, dep: dict | None) -> dict:
    if dep is None:
        return {"name": target.deployment, "namespace": target.namespace, "isReady": False,
                "error": f'deployments.apps "{target.deployment}" not found'}
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    replicas = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    ready, available = int(status.get("readyReplicas") or 0), int(status.get("availableReplicas") or 0)
    return {"name": target.deployment, "namespace": target.namespace, "replicas": replicas, "readyReplicas": ready,
            "availableReplicas": available, "updatedReplicas": int(status.get("updatedReplicas") or 0),
            "isReady": replicas > 0 and ready >= replicas and available >= replicas,
            "conditions": status.get("conditions") or [],
            "creationTimestamp": (dep.get("metadata") or {}).get("creationTimestamp")}


def _pod_view(pod: dict) -> dict:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {"name": pod["metadata"]["name"], "phase": (pod.get("status") or {}).get("phase"),
            "isReady": bool(statuses) and all(c.get("ready") for c in statuses),
            "restarts": sum(int(c.get("restartCount") or 0) for c in statuses),
            "startTime": pod["metadata"].get("creationTimestamp"),
            "containerStatuses": [{"name": c.get("name"), "ready": bool(c.get("ready")),
                                   "restartCount": int(c.get("restartCount") or 0),
                                   "state": next(iter((c.get("state") or {}).keys()), None)} for c in statuses]}


def _metrics_view(pod_names: set[str], metrics_items: list[dict]) -> dict | None:
    """Fix 23: metrics of exactly the instance's pods (by name), not a name-prefix match."""
    items = [i for i in metrics_items if i["metadata"]["name"] in pod_names]
    if not items:
        return None
    cpu, memory, containers = Decimal(0), Decimal(0), 0
    for item in items:
        for container in item.get("containers") or []:
            containers += 1
            cpu += safe_quantity((container.get("usage") or {}).get("cpu"))
            memory += safe_quantity((container.get("usage") or {}).get("memory"))
    return {"timestamp": items[0].get("timestamp"), "window": items[0].get("window"), "totalPods": len(items),
            "totalContainers": containers,
            "cpu": {"nanocores": int(cpu * 10 ** 9), "millicores": _round(cpu * 1000, 2), "cores": _round(cpu, 3)},
            "memory": {"bytes": int(memory), "megabytes": _round(memory / 2 ** 20, 2),
                       "gigabytes": _round(memory / 2 ** 30, 3)}}


def assess(target: Target, dep: dict | None, pods: list[dict], metrics_items: list[dict]) -> dict:
    now = isoformat(utcnow())
    base = {"instanceId": target.id, "instanceName": target.name, "namespace": target.namespace,
            "status": target.status.value}
    if target.status is not S.RUNNING:
        return {**base, "isHealthy": False, "healthStatus": f"Instance status: {target.status.value}",
                "lastChecked": now, "metrics": None, "pods": [], "deployment": None, "errors": []}
    deployment = _deployment_view(target, dep)
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    pod_views = [_pod_view(p) for p in live]
    errors = []
    if dep is None:
        errors.append("Deployment not found")
    elif deployment["replicas"] == 0:
        errors.append("Deployment scaled to zero")
    elif not deployment["isReady"]:
        errors.append("Deployment not ready")
    healthy = [p for p in pod_views if p["phase"] == "Running" and p["isReady"]]
    unhealthy = len(pod_views) - len(healthy)
    if unhealthy:
        errors.append(f"{unhealthy} unhealthy pods")
    if not pod_views and dep is not None:
        errors.append("No pods found")
    is_healthy = deployment["isReady"] and bool(healthy) and unhealthy == 0
    return {**base, "isHealthy": is_healthy,
            "healthStatus": "Healthy" if is_healthy else f"Unhealthy: {', '.join(errors)}",
            "lastChecked": now, "metrics": _metrics_view({p["name"] for p in pod_views}, metrics_items),
            "pods": pod_views, "deployment": deployment, "errors": errors}


# ----------------------------------------------------------------------------------------------- H3
def instance_health(instance: ServiceInstance) -> dict:
    """Live check of one instance (H3); writes nothing. 503 when the cluster is unreachable."""
    target = _target(instance)
    db.session.commit()  # end the read transaction before the network calls
    if target.status is not S.RUNNING:
        return assess(target, None, [], [])
    with reraise_as(MSG_HEALTH):
        kube = client.ensure_available(MSG_HEALTH)
        try:
            dep = kube.raw(kube.apps.read_namespaced_deployment, target.deployment, target.namespace)
        except ApiException as exc:
            if not is_not_found(exc):
                raise
            dep = None
        selector = f"instance={target.id}"
        pods = kube.raw(kube.core.list_namespaced_pod, target.namespace, label_selector=selector)["items"]
        metrics = _pod_metrics(kube, target.namespace, selector)
    return assess(target, dep, pods, metrics)


def _pod_metrics(kube, namespace: str | None, selector: str) -> list[dict]:
    try:
        if namespace is None:
            data = kube.custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods", label_selector=selector)
        else:
            data = kube.custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods",
                                                             label_selector=selector)
    except ApiException as exc:  # metrics-server missing: health without metrics
        log.info("pod metrics unavailable: %s", api_message(exc))
        return []
    return data.get("items") or []


# ----------------------------------------------------------------------------------------------- sweep
def run_sweep() -> dict:
    """Check every RUNNING instance and store the results (H2, and the periodic job). 503 on outage."""
    instances = db.session.execute(select(ServiceInstance).where(
        ServiceInstance.status.in_([S.RUNNING, S.PROVISIONING]))).scalars().all()
    targets = [_target(i) for i in instances]
    db.session.commit()
    with reraise_as(MSG_HEALTH):
        kube = client.ensure_available(MSG_HEALTH)
        selector = "minispod.com/managed=true"
        deployments = kube.raw(kube.apps.list_deployment_for_all_namespaces, label_selector=selector)["items"]
        pods = kube.raw(kube.core.list_pod_for_all_namespaces, label_selector=selector)["items"]
        metrics = _pod_metrics(kube, None, selector)
    dep_by_key = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in deployments}
    pods_by_instance: dict[str, list[dict]] = {}
    for pod in pods:
        instance_id = (pod["metadata"].get("labels") or {}).get("instance")
        if instance_id:
            pods_by_instance.setdefault(instance_id, []).append(pod)
    results = [assess(t, dep_by_key.get((t.namespace, t.deployment)), pods_by_instance.get(t.id, []), metrics)
               for t in targets]
    for target, result in zip(targets, results):
        if target.status is S.RUNNING:
            _store(target, result)
    db.session.commit()
    healthy = sum(1 for r in results if r["isHealthy"])
    return {"success": True, "instancesChecked": len(results), "healthyInstances": healthy,
            "unhealthyInstances": len(results) - healthy, "results": results, "timestamp": isoformat(utcnow())}


def _store(target: Target, result: dict) -> None:
    now = utcnow()
    if result["deployment"] and result["deployment"].get("error"):
        # The workload is gone: the instance is not running, whatever the row said (fix 23).
        transition(target.id, S.ERROR, expected={S.RUNNING}, health_status="Unhealthy: Deployment not found",
                   last_health_check=now)
        return
    values: dict = {"health_status": result["healthStatus"][:2000], "last_health_check": now}
    if result["metrics"]:
        values["cpu_usage"] = Decimal(str(result["metrics"]["cpu"]["millicores"]))
        values["memory_usage"] = Decimal(str(result["metrics"]["memory"]["megabytes"]))
    values["health_failures"] = 0 if result["isHealthy"] else ServiceInstance.health_failures + 1
    db.session.execute(update(ServiceInstance).where(
        ServiceInstance.id == target.id, ServiceInstance.status == S.RUNNING,
        ServiceInstance.updated_at == target.updated_at).values(**values).execution_options(synchronize_session=False))


def check_health(instance_id: str) -> dict | None:
    """One instance, checked and stored (the job behind `jobs.cluster.check_instance_health`)."""
    instance = db.session.get(ServiceInstance, instance_id)
    if instance is None:
        return None
    result = instance_health(instance)
    target = _target(db.session.get(ServiceInstance, instance_id, populate_existing=True))
    if target.status is S.RUNNING:
        _store(target, result)
    db.session.commit()
    return result


def health_sweep() -> dict:
    """The periodic job: one at a time (Redis lock), reconciler and orphan sweep included."""
    from jobs.queue import redis_connection

    from .operations import reconcile_stale, sweep_orphans

    lock = redis_connection().lock(SWEEP_LOCK, timeout=float(current_app.config.get("JOB_TIMEOUT", 600)),
                                   blocking=False)
    if not lock.acquire(blocking=False):
        return {"skipped": "another sweep is running"}
    try:
        repaired = reconcile_stale()
        try:
            result = run_sweep()
            orphans = sweep_orphans()
        except ClusterUnavailable as exc:
            return {"success": False, "error": exc.text, "repaired": repaired}
        return {**{k: v for k, v in result.items() if k != "results"}, "repaired": repaired,
                "orphanObjectsDeleted": orphans}
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired lock
            pass


# ----------------------------------------------------------------------------------------------- H1, H4
def health_summary() -> dict:
    rows = db.session.execute(select(ServiceInstance.status, func.count()).where(
        ServiceInstance.status != S.TERMINATED).group_by(ServiceInstance.status)).all()
    since = utcnow() - timedelta(minutes=5)
    recent = db.session.execute(select(ServiceInstance.health_status).where(
        ServiceInstance.status != S.TERMINATED, ServiceInstance.last_health_check >= since)).scalars().all()
    healthy = sum(1 for text in recent if is_healthy_text(text))
    return {"totalInstances": sum(n for _, n in rows), "statusCounts": {s.value: n for s, n in rows},
            "recentHealthChecks": len(recent), "healthyInstances": healthy,
            "unhealthyInstances": len(recent) - healthy, "lastUpdated": isoformat(utcnow())}


def health_stats(time_range: str) -> dict:
    since = utcnow() - TIME_RANGES[time_range]
    rows = db.session.execute(
        select(ServiceInstance.health_status, ServiceInstance.cpu_usage, ServiceInstance.memory_usage, Service.name)
        .join(Subscription, Subscription.id == ServiceInstance.subscription_id)
        .join(Service, Service.id == Subscription.service_id)
        .where(ServiceInstance.status != S.TERMINATED, ServiceInstance.last_health_check >= since)
        .order_by(ServiceInstance.last_health_check.desc())).all()
    healthy = sum(1 for r in rows if is_healthy_text(r.health_status))
    per_service: dict[str, dict] = {}
    for r in rows:
        entry = per_service.setdefault(r.name, {"total": 0, "healthy": 0, "unhealthy": 0})
        entry["total"] += 1
        entry["healthy" if is_healthy_text(r.health_status) else "unhealthy"] += 1
    measured = [r for r in rows if r.cpu_usage is not None and r.memory_usage is not None]

    def stats(values: list[float]) -> dict:
        if not values:
            return {"average": 0, "max": 0, "min": 0}
        return {"average": round(sum(values) / len(values), 2), "max": max(values), "min": min(values)}

    return {"timeRange": time_range, "totalInstances": len(rows), "healthyInstances": healthy,
            "unhealthyInstances": len(rows) - healthy,
            "healthPercentage": round(healthy / len(rows) * 100, 2) if rows else 0,
            "serviceStats": per_service,
            "resourceStats": {"cpu": stats([float(r.cpu_usage) for r in measured]),
                              "memory": stats([float(r.memory_usage) for r in measured])},
            "lastUpdated": isoformat(utcnow())}


def load_instance(instance_id: str) -> ServiceInstance:
    from .errors import InstanceNotFound

    instance = db.session.execute(select(ServiceInstance).options(joinedload(ServiceInstance.subscription))
                                  .where(ServiceInstance.id == instance_id)).scalar_one_or_none()
    if instance is None:
        raise InstanceNotFound()
    return instance


__all__ = ["assess", "check_health", "health_stats", "health_summary", "health_sweep", "instance_health",
           "is_healthy_text", "run_sweep", "ClusterUnavailable"]
