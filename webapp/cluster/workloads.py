"""Cluster-side steps of the instance jobs: create-or-update the objects, wait for a rollout, delete by label.

Network only: these functions take a `Kube` and a plain `InstanceSpec`, never a database object, and are called
by `operations` outside any transaction. Everything is idempotent: AlreadyExists means "already done", a 404 on
delete means "already gone".
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from kubernetes.client.rest import ApiException

from ..db import isoformat, utcnow
from . import manifests as m
from .client import Kube, api_message, is_conflict, is_not_found
from .quantity import safe_quantity

log = logging.getLogger(__name__)

BAD_WAITING_REASONS = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                       "CreateContainerConfigError", "CreateContainerError"}
BAD_POLLS_BEFORE_FAILING = 3


class WorkloadFailed(Exception):
    """The workload cannot become ready (crash loop, image pull, deployment gone): fail fast."""


class ReadinessTimeout(WorkloadFailed):
    pass


class Aborted(Exception):
    """The instance changed status under the job (terminated meanwhile): stop waiting."""


# ------------------------------------------------------------------------------------------------ apply
def _create_or_replace(create: Callable, read: Callable, replace: Callable, body: dict, *, keep: Callable | None = None):
    """POST; on 409 read + PUT with the read resourceVersion (retried on Conflict)."""
    try:
        return create(body)
    except ApiException as exc:
        if not is_conflict(exc):
            raise
    for _ in range(3):
        current = read()
        new = {**body, "metadata": {**body["metadata"], "resourceVersion": current.metadata.resource_version}}
        if keep:
            keep(current, new)
        try:
            return replace(new)
        except ApiException as exc:
            if not is_conflict(exc):
                raise
    raise WorkloadFailed(f"could not update {body['kind']} {body['metadata']['name']}: conflicting writers")


def ensure_namespace(kube: Kube, spec: m.InstanceSpec) -> None:
    try:
        kube.core.create_namespace(m.namespace_manifest(spec, isoformat(utcnow())))
    except ApiException as exc:
        if not is_conflict(exc):
            raise


def ensure_secret(kube: Kube, spec: m.InstanceSpec) -> None:
    """Generated credentials: created once, never regenerated (the app's data was initialised with them)."""
    keys = spec.secret_keys
    if not keys:
        return
    name, ns = spec.names.secret, spec.namespace
    try:
        current = kube.core.read_namespaced_secret(name, ns)
    except ApiException as exc:
        if not is_not_found(exc):
            raise
        try:
            kube.core.create_namespaced_secret(ns, m.secret_manifest(spec, {k: m.generate_secret_value() for k in keys}))
        except ApiException as exc2:
            if not is_conflict(exc2):
                raise
        return
    missing = [k for k in keys if k not in (current.data or {})]
    if missing:
        kube.core.patch_namespaced_secret(name, ns, {"stringData": {k: m.generate_secret_value() for k in missing}})


def ensure_pvc(kube: Kube, spec: m.InstanceSpec) -> None:
    body = m.pvc_manifest(spec)
    if body is None:
        return
    try:
        kube.core.create_namespaced_persistent_volume_claim(spec.namespace, body)
    except ApiException as exc:
        if not is_conflict(exc):
            raise
        expand_pvc(kube, spec)


def expand_pvc(kube: Kube, spec: m.InstanceSpec) -> bool:
    """Grow the claim when the plan has more storage (never shrink); True when a patch was sent."""
    wanted = m.storage_quantity(spec.storage_gb)
    if wanted is None:
        return False
    try:
        current = kube.core.read_namespaced_persistent_volume_claim(spec.names.pvc, spec.namespace)
    except ApiException as exc:
        if is_not_found(exc):
            return False
        raise
    have = ((current.spec.resources.requests or {}) if current.spec and current.spec.resources else {}).get("storage")
    if safe_quantity(wanted) <= safe_quantity(have):
        return False
    try:
        kube.core.patch_namespaced_persistent_volume_claim(
            spec.names.pvc, spec.namespace, {"spec": {"resources": {"requests": {"storage": wanted}}}})
    except ApiException as exc:  # storage class without expansion: keep running, say so in the log
        log.warning("PVC %s/%s could not be expanded to %s: %s", spec.namespace, spec.names.pvc, wanted,
                    api_message(exc))
        return False
    return True


def ensure_deployment(kube: Kube, spec: m.InstanceSpec, replicas: int = 1) -> None:
    body = m.deployment_manifest(spec, replicas)
    _create_or_replace(lambda b: kube.apps.create_namespaced_deployment(spec.namespace, b),
                       lambda: kube.apps.read_namespaced_deployment(spec.names.deployment, spec.namespace),
                       lambda b: kube.apps.replace_namespaced_deployment(spec.names.deployment, spec.namespace, b),
                       body)


def ensure_service(kube: Kube, spec: m.InstanceSpec) -> None:
    def keep_cluster_ip(current, new):
        new["spec"] = {**new["spec"], "clusterIP": current.spec.cluster_ip}

    _create_or_replace(lambda b: kube.core.create_namespaced_service(spec.namespace, b),
                       lambda: kube.core.read_namespaced_service(spec.names.service, spec.namespace),
                       lambda b: kube.core.replace_namespaced_service(spec.names.service, spec.namespace, b),
                       m.service_manifest(spec), keep=keep_cluster_ip)


def ensure_ingress(kube: Kube, spec: m.InstanceSpec) -> None:
    _create_or_replace(lambda b: kube.net.create_namespaced_ingress(spec.namespace, b),
                       lambda: kube.net.read_namespaced_ingress(spec.names.ingress, spec.namespace),
                       lambda b: kube.net.replace_namespaced_ingress(spec.names.ingress, spec.namespace, b),
                       m.ingress_manifest(spec))


def apply_all(kube: Kube, spec: m.InstanceSpec) -> None:
    """Every object of the instance, in dependency order (§1.4); safe to repeat."""
    ensure_namespace(kube, spec)
    ensure_secret(kube, spec)
    ensure_pvc(kube, spec)
    ensure_deployment(kube, spec)
    ensure_service(kube, spec)
    ensure_ingress(kube, spec)


# ------------------------------------------------------------------------------------------------ delete
def delete_all(kube: Kube, namespace: str, instance_id: str) -> int:
    """Delete every object labelled `instance=<id>` (fix 15: by label, not by name); returns how many went.

    Deployments go with Background propagation, so their ReplicaSets and Pods are garbage-collected."""
    selector = f"instance={instance_id}"
    calls = [
        (kube.net.delete_collection_namespaced_ingress, {}),
        (kube.core.delete_collection_namespaced_service, {}),
        (kube.apps.delete_collection_namespaced_deployment, {"propagation_policy": "Background"}),
        (kube.apps.delete_collection_namespaced_replica_set, {"propagation_policy": "Background"}),
        (kube.core.delete_collection_namespaced_persistent_volume_claim, {}),
        (kube.core.delete_collection_namespaced_secret, {}),
        (kube.core.delete_collection_namespaced_config_map, {}),  # the original's ConfigMap, if any
    ]
    deleted = 0
    for method, extra in calls:
        try:
            result = kube.raw(method, namespace, label_selector=selector, **extra)
        except ApiException as exc:
            if is_not_found(exc):  # the namespace itself is gone
                return deleted
            raise
        deleted += len(result.get("items") or [])
    return deleted


def leftovers(kube: Kube, namespace: str, instance_id: str) -> list[str]:
    """`kind/name` of objects still labelled with the instance (empty once cleanup is complete)."""
    selector = f"instance={instance_id}"
    lists = [("Ingress", kube.net.list_namespaced_ingress), ("Service", kube.core.list_namespaced_service),
             ("Deployment", kube.apps.list_namespaced_deployment),
             ("PersistentVolumeClaim", kube.core.list_namespaced_persistent_volume_claim),
             ("Secret", kube.core.list_namespaced_secret), ("ConfigMap", kube.core.list_namespaced_config_map)]
    out = []
    for kind, method in lists:
        try:
            items = kube.raw(method, namespace, label_selector=selector).get("items") or []
        except ApiException as exc:
            if is_not_found(exc):
                return []
            raise
        out += [f"{kind}/{i['metadata']['name']}" for i in items if not i["metadata"].get("deletionTimestamp")]
    return out


# ------------------------------------------------------------------------------------------------ read
@dataclass
class PodView:
    name: str
    phase: str
    ready: bool
    restarts: int
    created_at: str | None
    deleting: bool
    waiting_reason: str | None


def pod_view(pod: dict) -> PodView:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    waiting = next((((c.get("state") or {}).get("waiting") or {}).get("reason") for c in statuses
                    if (c.get("state") or {}).get("waiting")), None)
    return PodView(name=pod["metadata"]["name"], phase=status.get("phase") or "Unknown",
                   ready=bool(statuses) and all(c.get("ready") for c in statuses),
                   restarts=sum(int(c.get("restartCount") or 0) for c in statuses),
                   created_at=pod["metadata"].get("creationTimestamp"),
                   deleting=bool(pod["metadata"].get("deletionTimestamp")), waiting_reason=waiting)


def instance_pods(kube: Kube, namespace: str, instance_id: str) -> list[PodView]:
    """The instance's pods, newest first (one list call, by label)."""
    try:
        items = kube.raw(kube.core.list_namespaced_pod, namespace, label_selector=f"instance={instance_id}")["items"]
    except ApiException as exc:
        if is_not_found(exc):
            return []
        raise
    pods = [pod_view(p) for p in items]
    pods.sort(key=lambda p: (p.created_at or "", p.name), reverse=True)
    return pods


def newest_running_pod(pods: list[PodView]) -> str | None:
    for pod in pods:
        if pod.phase == "Running" and pod.ready and not pod.deleting:
            return pod.name
    return None


def rollout_complete(dep: dict) -> bool:
    """Fix 22: the *new* template is fully rolled out, not merely "Available" (true for the old RS mid-rollout)."""
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    replicas = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    updated, total = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    ready, available = int(status.get("readyReplicas") or 0), int(status.get("availableReplicas") or 0)
    return updated == replicas and total == replicas and ready >= replicas and available >= replicas


def wait_rollout(kube: Kube, spec: m.InstanceSpec, *, timeout: float, interval: float, timeout_message: str,
                 abort: Callable[[], bool] | None = None, want_pod: bool = True) -> str | None:
    """Poll the Deployment (with backoff ×1.5, capped at 6× the first interval) until its rollout is complete;
    return the newest running pod's name. Fails fast on crash loops / image pull errors."""
    deadline = time.monotonic() + timeout
    delay, bad_polls = interval, 0
    while True:
        try:
            dep = kube.raw(kube.apps.read_namespaced_deployment, spec.names.deployment, spec.namespace)
        except ApiException as exc:
            if is_not_found(exc):
                raise WorkloadFailed("Deployment not found") from exc
            raise
        pods = instance_pods(kube, spec.namespace, spec.instance_id)
        if rollout_complete(dep):
            pod = newest_running_pod(pods)
            if pod or not want_pod:
                return pod
        reasons = {p.waiting_reason for p in pods if p.waiting_reason in BAD_WAITING_REASONS and not p.deleting}
        bad_polls = bad_polls + 1 if reasons else 0
        if bad_polls >= BAD_POLLS_BEFORE_FAILING:
            raise WorkloadFailed(", ".join(sorted(reasons)))
        if abort is not None and abort():
            raise Aborted()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadinessTimeout(timeout_message)
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, interval * 6)


def wait_no_pods(kube: Kube, spec: m.InstanceSpec, *, timeout: float, interval: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        if not instance_pods(kube, spec.namespace, spec.instance_id):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, interval * 6)


def scale(kube: Kube, spec: m.InstanceSpec, replicas: int) -> None:
    """The scale subresource (fix 13: no read-modify-replace of the whole Deployment)."""
    kube.apps.patch_namespaced_deployment_scale(spec.names.deployment, spec.namespace, {"spec": {"replicas": replicas}})


def rollout_restart(kube: Kube, spec: m.InstanceSpec) -> None:
    """What `kubectl rollout restart` does: a strategic-merge patch of one pod-template annotation."""
    kube.apps.patch_namespaced_deployment(spec.names.deployment, spec.namespace, {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": isoformat(utcnow())}}}}})


def patch_resources(kube: Kube, spec: m.InstanceSpec) -> None:
    kube.apps.patch_namespaced_deployment(spec.names.deployment, spec.namespace, m.resources_patch(spec))
