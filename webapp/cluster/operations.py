"""The bodies of the cluster jobs (run by `jobs/cluster.py` on RQ workers, never in a request).

Shape of every job: a short transaction reads the row and makes its status move (committed), the network work runs
with no transaction open (plain `InstanceSpec` snapshot, no ORM object touched), then a second short transaction
records the outcome with a conditional UPDATE. Repeating a job is harmless: a row that is not in the status the
job expects is left alone, objects that exist are updated, objects that are gone count as deleted.

Cluster outages (`ClusterUnavailable`) are re-raised while RQ has retries left (the outbox enqueues with
`Retry(max=3, interval=[10, 30, 90])`); on the last attempt the row is moved to its failure status instead.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from kubernetes.client.rest import ApiException
from sqlalchemy import select

from ..db import as_utc, utcnow
from ..extensions import db
from ..outbox import enqueue
from . import manifests as m
from . import workloads as w
from .client import ClusterUnavailable, api_message, get_kube
from .models import InstanceStatus as S
from .models import ServiceInstance
from .status import transition, update_if

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ helpers
def spec_of(instance: ServiceInstance) -> m.InstanceSpec:
    """Snapshot of the row, its subscription's current plan and its service (the plan is read when the job runs)."""
    subscription = instance.subscription
    plan, service = subscription.plan, subscription.service
    config = current_app.config
    return m.InstanceSpec(
        instance_id=instance.id, user_id=subscription.user_id, namespace=instance.namespace,
        base=instance.deployment_name or instance.name, slug=service.slug, image=service.docker_image,
        port=int(service.default_port), cpu_milli=int(plan.cpu_milli), memory_mb=int(plan.memory_mb),
        storage_gb=plan.storage_gb, host=instance.custom_domain or instance.subdomain,
        env=dict(instance.env_vars or {}), ingress_class=config.get("INGRESS_CLASS") or "nginx",
        cert_issuer=config.get("CERT_ISSUER") or "letsencrypt-prod",
        storage_class=config.get("K8S_STORAGE_CLASS") or "", ssl=True)


def _load(instance_id: str) -> ServiceInstance | None:
    return db.session.get(ServiceInstance, instance_id, populate_existing=True)


def _status(instance_id: str) -> S | None:
    value = db.session.execute(select(ServiceInstance.status).where(ServiceInstance.id == instance_id)).scalar()
    db.session.commit()  # end the read transaction before the next network call
    return value


def _retries_left() -> bool:
    try:
        from rq import get_current_job

        job = get_current_job()
    except Exception:  # noqa: BLE001 - not on an RQ worker
        return False
    return bool(job is not None and (job.retries_left or 0) > 0)


def _settings() -> tuple[float, float, float]:
    config = current_app.config
    return (float(config.get("PROVISION_READY_TIMEOUT", 300)), float(config.get("ROLLOUT_TIMEOUT", 180)),
            float(config.get("KUBE_POLL_INTERVAL", 5)))


def _short(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return api_message(exc)
    return str(exc) or type(exc).__name__


def _safe_delete(namespace: str, instance_id: str) -> int:
    try:
        return w.delete_all(get_kube(), namespace, instance_id)
    except (ClusterUnavailable, ApiException) as exc:
        log.warning("cleanup of instance %s failed (the orphan sweep retries): %s", instance_id, _short(exc))
        return 0


# ------------------------------------------------------------------------------------------------ provision
def provision(instance_id: str) -> str:
    """PENDING → PROVISIONING → RUNNING (pod name, URLs) or ERROR with cleanup (§3.1)."""
    ready_timeout, _, interval = _settings()
    instance = _load(instance_id)
    if instance is None or instance.status not in (S.PENDING, S.PROVISIONING):
        db.session.commit()
        return "skipped"
    if instance.status is S.PENDING:
        transition(instance_id, S.PROVISIONING, expected={S.PENDING})
    else:  # a retried job resumes (objects it created before are simply found again)
        update_if(instance_id, {S.PROVISIONING})
    spec = spec_of(instance)
    db.session.commit()

    def aborted() -> bool:
        return _status(instance_id) is not S.PROVISIONING

    try:
        kube = get_kube()
        w.apply_all(kube, spec)
        pod = w.wait_rollout(kube, spec, timeout=ready_timeout, interval=interval, abort=aborted,
                             timeout_message="Deployment failed to become ready within timeout")
    except w.Aborted:
        return _after_abort(spec)
    except ClusterUnavailable as exc:
        if _retries_left():
            raise
        return _fail_provisioning(spec, exc.text)
    except (w.WorkloadFailed, ApiException, ValueError) as exc:
        return _fail_provisioning(spec, _short(exc))
    now = utcnow()
    moved = transition(instance_id, S.RUNNING, expected={S.PROVISIONING}, pod_name=pod, health_status="Healthy",
                       last_started=now, last_health_check=now, ssl_enabled=True, health_failures=0)
    db.session.commit()
    return "running" if moved else _after_abort(spec)


def _fail_provisioning(spec: m.InstanceSpec, message: str) -> str:
    transition(spec.instance_id, S.ERROR, expected={S.PROVISIONING},
               health_status=f"Provisioning failed: {message}"[:2000])
    db.session.commit()
    _safe_delete(spec.namespace, spec.instance_id)
    return "error"


def _after_abort(spec: m.InstanceSpec) -> str:
    """The row left PROVISIONING under us; if it was terminated, make sure nothing we created survives."""
    if _status(spec.instance_id) in (S.TERMINATED, None):
        _safe_delete(spec.namespace, spec.instance_id)
    return "aborted"


# ------------------------------------------------------------------------------------------------ terminate
def terminate(instance_id: str) -> int:
    """Delete every object of a TERMINATED instance (by label; 404 = done). Raises while anything is left, so
    the job is retried; the orphan sweep catches what retries cannot."""
    instance = _load(instance_id)
    if instance is None or instance.status is not S.TERMINATED:
        db.session.commit()
        return 0
    namespace = instance.namespace
    db.session.commit()
    kube = get_kube()
    deleted = w.delete_all(kube, namespace, instance_id)
    left = w.leftovers(kube, namespace, instance_id)
    if left:
        raise RuntimeError(f"objects of instance {instance_id} still present: {', '.join(left)}")
    return deleted


# ------------------------------------------------------------------------------------------------ lifecycle
def _lifecycle(instance_id: str, current: S) -> tuple[ServiceInstance | None, m.InstanceSpec | None]:
    instance = _load(instance_id)
    if instance is None or instance.status is not current:
        db.session.commit()
        return None, None
    spec = spec_of(instance)
    db.session.commit()
    return instance, spec


def restart(instance_id: str) -> str:
    """RESTARTING → RUNNING with the new pod's name; on failure back to RUNNING (or ERROR without a Deployment)."""
    _, rollout_timeout, interval = _settings()
    _, spec = _lifecycle(instance_id, S.RESTARTING)
    if spec is None:
        return "skipped"
    try:
        kube = get_kube()
        w.rollout_restart(kube, spec)
        pod = w.wait_rollout(kube, spec, timeout=rollout_timeout, interval=interval,
                             timeout_message="Rolling restart failed to complete within timeout")
    except ClusterUnavailable as exc:
        if _retries_left():
            raise
        return _revert(instance_id, S.RESTARTING, S.RUNNING, f"Restart failed: {exc.text}")
    except (w.WorkloadFailed, ApiException) as exc:
        target = S.ERROR if _missing(exc) else S.RUNNING
        return _revert(instance_id, S.RESTARTING, target, f"Restart failed: {_short(exc)}")
    now = utcnow()
    transition(instance_id, S.RUNNING, expected={S.RESTARTING}, pod_name=pod, health_status="Healthy - Restarted",
               last_started=now, last_health_check=now, health_failures=0)
    db.session.commit()
    return "running"


def stop(instance_id: str) -> str:
    """STOPPING → STOPPED (scale to 0, wait for the pods to go); a failed scale reverts to RUNNING."""
    _, rollout_timeout, interval = _settings()
    _, spec = _lifecycle(instance_id, S.STOPPING)
    if spec is None:
        return "skipped"
    try:
        kube = get_kube()
        w.scale(kube, spec, 0)
    except ClusterUnavailable as exc:
        if _retries_left():
            raise
        return _revert(instance_id, S.STOPPING, S.RUNNING, f"Stop failed: {exc.text}")
    except ApiException as exc:
        target = S.ERROR if _missing(exc) else S.RUNNING
        return _revert(instance_id, S.STOPPING, target, f"Stop failed: {_short(exc)}")
    try:
        gone = w.wait_no_pods(kube, spec, timeout=rollout_timeout, interval=interval)
    except ClusterUnavailable:
        gone = False  # replicas are 0 already: the instance is stopped, its pods are on their way out
    now = utcnow()
    transition(instance_id, S.STOPPED, expected={S.STOPPING}, pod_name=None, last_stopped=now, last_health_check=now,
               health_status="Stopped" if gone else "Stopped (pods still terminating)")
    db.session.commit()
    return "stopped"


def start(instance_id: str) -> str:
    """STARTING → RUNNING (scale to 1, wait for readiness); on failure scale back to 0 and STOPPED (§3.6)."""
    _, rollout_timeout, interval = _settings()
    _, spec = _lifecycle(instance_id, S.STARTING)
    if spec is None:
        return "skipped"
    kube = None
    try:
        kube = get_kube()
        w.scale(kube, spec, 1)
        pod = w.wait_rollout(kube, spec, timeout=rollout_timeout, interval=interval,
                             timeout_message="Service start failed to complete within timeout")
    except ClusterUnavailable as exc:
        if _retries_left():
            raise
        return _revert(instance_id, S.STARTING, S.STOPPED, f"Start failed: {exc.text}")
    except (w.WorkloadFailed, ApiException) as exc:
        if kube is not None and not _missing(exc):
            try:
                w.scale(kube, spec, 0)
            except (ClusterUnavailable, ApiException):
                log.warning("could not scale instance %s back to 0 after a failed start", instance_id)
        target = S.ERROR if _missing(exc) else S.STOPPED
        return _revert(instance_id, S.STARTING, target, f"Start failed: {_short(exc)}")
    now = utcnow()
    transition(instance_id, S.RUNNING, expected={S.STARTING}, pod_name=pod, health_status="Healthy - Started",
               last_started=now, last_health_check=now, health_failures=0)
    db.session.commit()
    return "running"


def resize(instance_id: str) -> str:
    """Apply the subscription's current plan: container resources (patch) and a larger PVC (§3.3 fix).

    PENDING rows need nothing (provisioning reads the plan when it runs); STOPPED ones keep replicas 0; a RUNNING
    one waits for the rollout and records the new pod ("Healthy - Updated")."""
    _, rollout_timeout, interval = _settings()
    instance = _load(instance_id)
    if instance is None or instance.status in (S.TERMINATED, S.PENDING, S.ERROR):
        db.session.commit()
        return "skipped"
    status, spec = instance.status, spec_of(instance)
    db.session.commit()
    kube = get_kube()
    try:
        w.patch_resources(kube, spec)
    except ApiException as exc:
        if _missing(exc) and status is S.PROVISIONING:
            raise RuntimeError("deployment not created yet; retry") from exc
        if _missing(exc):
            return "missing"
        raise
    w.expand_pvc(kube, spec)
    if status is not S.RUNNING:
        return "patched"
    try:
        pod = w.wait_rollout(kube, spec, timeout=rollout_timeout, interval=interval,
                             timeout_message="Deployment update failed to become ready within timeout")
    except (w.WorkloadFailed, ApiException) as exc:
        update_if(instance_id, {S.RUNNING}, health_status=f"Update failed: {_short(exc)}")
        db.session.commit()
        return "failed"
    now = utcnow()
    update_if(instance_id, {S.RUNNING}, pod_name=pod, health_status="Healthy - Updated", last_health_check=now)
    db.session.commit()
    return "updated"


def _missing(exc: BaseException) -> bool:
    return (isinstance(exc, ApiException) and exc.status == 404) or (
        isinstance(exc, w.WorkloadFailed) and str(exc) == "Deployment not found")


def _revert(instance_id: str, current: S, target: S, message: str) -> str:
    transition(instance_id, target, expected={current}, health_status=message[:2000], last_health_check=utcnow())
    db.session.commit()
    return target.value.lower()


# ------------------------------------------------------------------------------------------------ reconcile
RESUBMITTED = "Provisioning resubmitted: its job was lost"


def reconcile_stale(now=None) -> dict:
    """Fix 11: rows stuck in a transitional status longer than a job can run end in a terminal one.

    PENDING/PROVISIONING: the provisioning job was lost (its worker killed mid-job, the job stuck in RQ), so it is
    enqueued once more (status kept, health_status RESUBMITTED, the clock restarts; value "RESUBMITTED"); stuck
    again after that → ERROR (+ cleanup). RESTARTING → RUNNING, STOPPING → RUNNING, STARTING → STOPPED; the health
    sweep then reports the truth."""
    now = now or utcnow()
    config = current_app.config
    limit = timedelta(seconds=float(config.get("JOB_TIMEOUT", 600)) + float(config.get("PROVISION_READY_TIMEOUT", 300)))
    moves = {S.PENDING: (S.ERROR, "Provisioning failed: timed out"),
             S.PROVISIONING: (S.ERROR, "Provisioning failed: timed out"),
             S.RESTARTING: (S.RUNNING, "Restart failed: timed out"),
             S.STOPPING: (S.RUNNING, "Stop failed: timed out"),
             S.STARTING: (S.STOPPED, "Start failed: timed out")}
    rows = db.session.execute(select(ServiceInstance.id, ServiceInstance.status, ServiceInstance.updated_at,
                                     ServiceInstance.namespace, ServiceInstance.health_status)
                              .where(ServiceInstance.status.in_(list(moves)))).all()
    repaired, cleanups = {}, []
    for row in rows:
        if as_utc(row.updated_at) > now - limit:
            continue
        if row.status in (S.PENDING, S.PROVISIONING) and row.health_status != RESUBMITTED:
            # A paid-for instance should not end in ERROR because a worker died; one more try (provision resumes).
            if update_if(row.id, {row.status}, health_status=RESUBMITTED):
                enqueue_provision(row.id)
                repaired[row.id] = "RESUBMITTED"
            continue
        target, message = moves[row.status]
        if transition(row.id, target, expected={row.status}, health_status=message):
            repaired[row.id] = target.value
            if target is S.ERROR:
                cleanups.append((row.namespace, row.id))
    db.session.commit()
    for namespace, instance_id in cleanups:
        _safe_delete(namespace, instance_id)
    return repaired


def sweep_orphans(kube=None) -> int:
    """Fix 15: delete managed objects whose instance is TERMINATED, unknown, or a failed provisioning
    (ERROR that never ran). One cluster-wide list per kind, then deletes by label per orphan."""
    kube = kube or get_kube()
    found: dict[str, str] = {}
    for method in (kube.apps.list_deployment_for_all_namespaces, kube.core.list_service_for_all_namespaces,
                   kube.net.list_ingress_for_all_namespaces,
                   kube.core.list_persistent_volume_claim_for_all_namespaces, kube.core.list_secret_for_all_namespaces):
        for item in kube.raw(method, label_selector="minispod.com/managed=true,instance").get("items") or []:
            meta = item["metadata"]
            found.setdefault(meta["labels"]["instance"], meta["namespace"])
    if not found:
        return 0
    rows = {r.id: r for r in db.session.execute(
        select(ServiceInstance.id, ServiceInstance.status, ServiceInstance.last_started, ServiceInstance.updated_at)
        .where(ServiceInstance.id.in_(list(found)))).all()}
    db.session.commit()
    grace = utcnow() - timedelta(minutes=10)
    removed = 0
    for instance_id, namespace in found.items():
        row = rows.get(instance_id)
        orphan = (row is None or row.status is S.TERMINATED
                  or (row.status is S.ERROR and row.last_started is None and as_utc(row.updated_at) < grace))
        if orphan:
            removed += w.delete_all(kube, namespace, instance_id)
    return removed


def enqueue_provision(instance_id: str) -> None:
    enqueue("jobs.cluster.provision_instance", instance_id)
