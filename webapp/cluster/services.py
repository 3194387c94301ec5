"""Cluster services: the instance lifecycle as other domains and the delivery layers use it.

Request-side functions only change rows (through `status.transition`) and enqueue jobs through the outbox; the
Kubernetes work runs in `operations` on RQ workers after the commit. The only network call a request-side
function makes is the availability probe (`client.ensure_available`, `GET /version`, ≤ 2 s, cached), made *before*
the function writes anything, so a down cluster answers 503 with no row changed.

Called inside the caller's transaction, with no network call at all: `create_instance`,
`terminate_subscription_instances`, `resize_subscription_instances` (the subscriptions domain uses them).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..db import new_id, utcnow
from ..extensions import db
from ..outbox import enqueue
from ..subscriptions.models import Subscription, SubscriptionStatus
from . import manifests as m
from .client import (MSG_GENERIC, MSG_PROVISION, MSG_RESTART, MSG_START, MSG_STOP, ClusterUnavailable,
                     ensure_available, reraise_as)
from .errors import (CannotRestart, CannotStart, CannotStop, InstanceAlreadyExists, InstanceMissingPod,
                     InstanceNotFound, MetricsNotAvailable, RetryInactiveSubscription, RetryInvalidStatus,
                     RetryWhileProvisioning, RetryWhileRunning, SubscriptionNotActive, SubscriptionNotFound,
                     TerminateThroughSubscription)
from .models import InstanceStatus as S
from .models import ServiceInstance
from .status import LIVE, transition

# Job bodies, re-exported: `services.provision(instance_id)` etc. (jobs/cluster.py calls them).
from .health import check_health, health_sweep  # noqa: F401,E402
from .operations import provision, resize, restart, start, stop, terminate  # noqa: F401,E402

JOB = "jobs.cluster."
PROVISION_NEXT_STEPS = ["Kubernetes resources are being created", "You will be notified when the service is ready",
                        "Check instance status for updates"]


# ------------------------------------------------------------------------------------------------ create
def _live_instance(subscription_id: str) -> ServiceInstance | None:
    return db.session.execute(select(ServiceInstance).where(
        ServiceInstance.subscription_id == subscription_id, ServiceInstance.status != S.TERMINATED)
        .limit(1)).scalar_one_or_none()


def create_instance(subscription: Subscription) -> ServiceInstance:
    """In the caller's transaction: a PENDING row (names from its id, so they cannot collide) and the
    `jobs.cluster.provision_instance` job, pushed to RQ only after the commit. No network call.

    400 when the subscription is not ACTIVE; 409 when it already has a live instance (also enforced by the
    partial unique index: a concurrent second insert fails inside a savepoint, the caller's transaction survives).
    """
    from flask import current_app

    if subscription.status is not SubscriptionStatus.ACTIVE:
        raise SubscriptionNotActive()
    if _live_instance(subscription.id) is not None:
        raise InstanceAlreadyExists()
    service = subscription.service
    instance_id = new_id()
    base = m.instance_base_name(service.slug, instance_id)
    host = f"{base}.{current_app.config.get('APPS_DOMAIN') or 'minispod.com'}"
    instance = ServiceInstance(
        id=instance_id, subscription_id=subscription.id, name=base, subdomain=host,
        namespace=m.namespace_for(subscription.user_id), pod_name=None, deployment_name=base,
        service_name=m.ObjectNames(base).service, ingress_name=m.ObjectNames(base).ingress, status=S.PENDING,
        ssl_enabled=True, health_failures=0,
        env_vars=m.initial_env(slug=service.slug, env_template=service.env_template, instance_id=instance_id,
                               base=base, host=host, port=int(service.default_port)),
        public_url=f"https://{host}", admin_url=f"https://{host}/admin")
    # A savepoint keeps the caller's transaction usable if the unique index refuses the row.
    try:
        with db.session.begin_nested():
            db.session.add(instance)
    except IntegrityError:
        raise InstanceAlreadyExists() from None
    enqueue(JOB + "provision_instance", instance.id)
    return instance


def provision_for_user(user, subscription_id: str) -> ServiceInstance:
    """I1 (fix 1): the caller's own ACTIVE subscription only (else 404), one live instance (409), 503 when the
    cluster is down (checked before anything is written)."""
    subscription = db.session.execute(select(Subscription).where(
        Subscription.id == subscription_id, Subscription.user_id == user.id)).scalar_one_or_none()
    if subscription is None:
        raise SubscriptionNotFound()
    if subscription.status is not SubscriptionStatus.ACTIVE:
        raise SubscriptionNotActive()
    if _live_instance(subscription.id) is not None:
        raise InstanceAlreadyExists()
    ensure_available(MSG_PROVISION)
    return create_instance(subscription)


# ------------------------------------------------------------------------------------------------ read
def _owned(user, instance_id: str):
    return (select(ServiceInstance).join(Subscription, Subscription.id == ServiceInstance.subscription_id)
            .where(ServiceInstance.id == instance_id, Subscription.user_id == user.id))


def get_user_instance(user, instance_id: str) -> ServiceInstance:
    """The caller's instance; 404 "Service instance not found" for unknown ids *and* other customers' ids."""
    if not isinstance(instance_id, str) or not instance_id or len(instance_id) > 64:
        raise InstanceNotFound()
    instance = db.session.execute(_owned(user, instance_id).options(
        joinedload(ServiceInstance.subscription).joinedload(Subscription.service),
        joinedload(ServiceInstance.subscription).joinedload(Subscription.plan))).unique().scalar_one_or_none()
    if instance is None:
        raise InstanceNotFound()
    return instance


def list_user_instances(user, *, status: str | None = None, include_terminated: bool = False) -> list[ServiceInstance]:
    """I2 (fix 6): both filters apply; `status=TERMINATED` implies includeTerminated. Newest first."""
    query = (select(ServiceInstance).join(Subscription, Subscription.id == ServiceInstance.subscription_id)
             .where(Subscription.user_id == user.id)
             .options(joinedload(ServiceInstance.subscription).joinedload(Subscription.service),
                      joinedload(ServiceInstance.subscription).joinedload(Subscription.plan))
             .order_by(ServiceInstance.created_at.desc(), ServiceInstance.id.desc()))
    if status:
        query = query.where(ServiceInstance.status == S(status))
    elif not include_terminated:
        query = query.where(ServiceInstance.status != S.TERMINATED)
    return list(db.session.execute(query).unique().scalars().all())


def live_kubernetes_status(instance: ServiceInstance) -> dict | None:
    """I3's `kubernetesStatus`: the pods of a RUNNING instance (one list call); None when not running or when the
    cluster cannot be reached (the details page still answers, as in the original)."""
    from .workloads import instance_pods

    if instance.status is not S.RUNNING:
        return None
    namespace, instance_id = instance.namespace, instance.id
    names = (instance.deployment_name, instance.service_name, instance.ingress_name)
    db.session.commit()  # read-only request: no transaction open during the network call
    try:
        kube = ensure_available(MSG_GENERIC)
        pods = instance_pods(kube, namespace, instance_id)
    except ClusterUnavailable:
        return None
    return {"pods": [{"name": p.name, "status": p.phase, "ready": p.ready, "restarts": p.restarts,
                      "createdAt": p.created_at} for p in pods if not p.deleting],
            "namespace": namespace, "deployment": names[0], "service": names[1], "ingress": names[2]}


# ------------------------------------------------------------------------------------------------ lifecycle
def restart_instance(instance: ServiceInstance) -> ServiceInstance:
    """RUNNING → RESTARTING, then `jobs.cluster.restart_instance` (rolling restart) after the commit."""
    if instance.status is not S.RUNNING:
        raise CannotRestart()
    ensure_available(MSG_RESTART)
    transition(instance, S.RESTARTING, expected={S.RUNNING}, error=CannotRestart(), health_status="Restarting...",
               last_health_check=utcnow())
    enqueue(JOB + "restart_instance", instance.id)
    return instance


def stop_instance(instance: ServiceInstance) -> ServiceInstance:
    """RUNNING → STOPPING, then `jobs.cluster.stop_instance` (scale to 0). Billing continues while stopped."""
    if instance.status is not S.RUNNING:
        raise CannotStop()
    ensure_available(MSG_STOP)
    transition(instance, S.STOPPING, expected={S.RUNNING}, error=CannotStop(), health_status="Stopping...")
    enqueue(JOB + "stop_instance", instance.id)
    return instance


def start_instance(instance: ServiceInstance) -> ServiceInstance:
    """STOPPED → STARTING, then `jobs.cluster.start_instance` (scale to 1, wait for readiness)."""
    if instance.status is not S.STOPPED:
        raise CannotStart()
    ensure_available(MSG_START)
    transition(instance, S.STARTING, expected={S.STOPPED}, error=CannotStart(), health_status="Starting...")
    enqueue(JOB + "start_instance", instance.id)
    return instance


def retry_provisioning(instance: ServiceInstance) -> ServiceInstance:
    """U8 (fix 16): an ERROR instance is retried *in place* (same row, same names: PENDING + provisioning job);
    after a TERMINATED one a new instance is created. Returns the instance being provisioned."""
    if instance.status is S.RUNNING:
        raise RetryWhileRunning()
    if instance.status in (S.PENDING, S.PROVISIONING):
        raise RetryWhileProvisioning()
    if instance.status not in (S.ERROR, S.TERMINATED):
        raise RetryInvalidStatus(status=instance.status.value)
    subscription = instance.subscription
    if subscription.status is not SubscriptionStatus.ACTIVE:
        raise RetryInactiveSubscription()
    ensure_available(MSG_PROVISION)
    if instance.status is S.TERMINATED:
        return create_instance(subscription)
    transition(instance, S.PENDING, expected={S.ERROR}, error=RetryInvalidStatus(status=instance.status.value),
               health_status="Retry provisioning initiated", health_failures=0)
    enqueue(JOB + "provision_instance", instance.id)
    return instance


def terminate_subscription_instances(subscription_id: str) -> int:
    """Every live instance of the subscription → TERMINATED now (in the caller's transaction), and one
    `jobs.cluster.terminate_instance` each to delete its objects after the commit. Idempotent: returns how many
    rows moved (0 the second time). Cancel, force-cancel and expiry all use this (fix 15: expiry tears down too)."""
    rows = db.session.execute(select(ServiceInstance.id, ServiceInstance.status).where(
        ServiceInstance.subscription_id == subscription_id, ServiceInstance.status != S.TERMINATED)).all()
    moved = 0
    now = utcnow()
    for row in rows:
        if transition(row.id, S.TERMINATED, expected=LIVE, health_status="Terminated", last_stopped=now):
            enqueue(JOB + "terminate_instance", row.id)
            moved += 1
    return moved


def user_terminate_instance(user, instance_id: str) -> tuple[ServiceInstance, bool]:
    """I5. Returns (instance, already_terminated). Live instances are ended by cancelling their subscription
    (fix 3: otherwise the subscription would keep billing for nothing); failed (ERROR) ones may be cleared here."""
    instance = get_user_instance(user, instance_id)
    if instance.status is S.TERMINATED:
        return instance, True
    if instance.status is not S.ERROR:
        raise TerminateThroughSubscription()
    transition(instance, S.TERMINATED, expected={S.ERROR}, error=TerminateThroughSubscription(),
               health_status="Terminated", last_stopped=utcnow())
    enqueue(JOB + "terminate_instance", instance.id)
    return instance, False


def resize_subscription_instances(subscription_id: str) -> int:
    """After a plan change (in the caller's transaction): one `jobs.cluster.resize_instance` per instance that
    has or will have a workload. PENDING ones need nothing (provisioning reads the plan when it runs)."""
    ids = db.session.execute(select(ServiceInstance.id).where(
        ServiceInstance.subscription_id == subscription_id,
        ServiceInstance.status.notin_([S.TERMINATED, S.ERROR, S.PENDING]))).scalars().all()
    for instance_id in ids:
        enqueue(JOB + "resize_instance", instance_id)
    return len(ids)


# ------------------------------------------------------------------------------------------------ metrics
def instance_metrics(instance: ServiceInstance) -> dict:
    """U5: live CPU/memory of a RUNNING instance against its plan (one pod-metrics list, by label; fix 26).

    400 without pod/namespace, 404 "Metrics not available for this instance", 503 when the cluster is down."""
    from kubernetes.client.rest import ApiException

    from .quantity import millicores, safe_quantity

    if not instance.pod_name or not instance.namespace:
        raise InstanceMissingPod()
    plan = instance.subscription.plan
    namespace, instance_id, status = instance.namespace, instance.id, instance.status.value
    cpu_limit, memory_limit = int(plan.cpu_milli), int(plan.memory_mb)
    db.session.commit()  # read-only: end the transaction before the network call
    with reraise_as(MSG_GENERIC):
        kube = ensure_available(MSG_GENERIC)
        try:
            data = kube.custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods",
                                                             label_selector=f"instance={instance_id}")
        except ApiException:
            raise MetricsNotAvailable() from None
    items = data.get("items") or []
    if not items:
        raise MetricsNotAvailable()
    cpu = sum(millicores((c.get("usage") or {}).get("cpu")) for i in items for c in i.get("containers") or [])
    memory = sum(safe_quantity((c.get("usage") or {}).get("memory")) for i in items for c in i.get("containers") or [])
    memory_mb = round(float(memory) / 2 ** 20, 2)
    return {"instanceId": instance_id, "status": status,
            "cpu": {"usage": cpu, "limit": cpu_limit, "percentage": round(cpu / cpu_limit * 100) if cpu_limit else 0},
            "memory": {"usage": memory_mb, "limit": memory_limit,
                       "percentage": round(memory_mb / memory_limit * 100) if memory_limit else 0},
            "timestamp": items[0].get("timestamp")}


# ------------------------------------------------------------------------------------------------ admin
def get_instance(instance_id: str) -> ServiceInstance:
    """Any instance (administrators); 404 "Service instance not found"."""
    instance = db.session.get(ServiceInstance, instance_id) if instance_id and len(instance_id) <= 64 else None
    if instance is None:
        raise InstanceNotFound()
    return instance


# ------------------------------------------------------------------------------------------------ user routes
def instance_details(user, instance_id: str) -> tuple[ServiceInstance, dict | None]:
    """I3: the caller's instance and, when RUNNING and the cluster answers, its live pods."""
    instance = get_user_instance(user, instance_id)
    return instance, live_kubernetes_status(instance)


def user_restart(user, instance_id: str) -> tuple[ServiceInstance, str | None]:
    """I7: (instance now RESTARTING, the pod being replaced)."""
    instance = get_user_instance(user, instance_id)
    old_pod = instance.pod_name
    return restart_instance(instance), old_pod


def user_stop(user, instance_id: str) -> ServiceInstance:
    return stop_instance(get_user_instance(user, instance_id))


def user_start(user, instance_id: str) -> ServiceInstance:
    return start_instance(get_user_instance(user, instance_id))


def user_logs(user, instance_id: str, *, lines: int, follow: bool) -> dict:
    """I6: the last `lines` log lines of the caller's instance."""
    from .logs import instance_logs

    return instance_logs(get_user_instance(user, instance_id), lines, follow)


def user_log_stream(user, instance_id: str, *, tail_lines: int):
    """The live log stream (Server-Sent Events generator) of the caller's instance."""
    from .logs import open_stream

    return open_stream(get_user_instance(user, instance_id), tail_lines)


def instance_health_by_id(instance_id: str) -> dict:
    """H3: live health of any instance (administrators); writes nothing."""
    from .health import instance_health

    return instance_health(get_instance(instance_id))
