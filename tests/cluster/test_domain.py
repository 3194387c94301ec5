"""Cluster services against the database and the simulator: guards, health, reconciler, orphans, client."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.cluster import health, operations, workloads
from webapp.cluster import services as cluster
from webapp.cluster.client import ClusterUnavailable, ensure_available, get_kube, is_available
from webapp.cluster.errors import InstanceAlreadyExists, SubscriptionNotActive
from webapp.cluster.models import InstanceStatus as S
from webapp.cluster.models import ServiceInstance
from webapp.cluster.status import InvalidTransitionTable, transition
from webapp.db import utcnow
from webapp.extensions import db
from webapp.outbox import OutboxJob

from .fixtures import ghost_plan, new_instance, objects_of, run_jobs, running_instance


def reload(instance):
    db.session.expire_all()
    return db.session.get(ServiceInstance, instance.id)


def test_one_live_instance_per_subscription(app, make, kube_sim):
    instance = new_instance(make)
    subscription = instance.subscription
    with pytest.raises(InstanceAlreadyExists):
        cluster.create_instance(subscription)
    # the database refuses it too, whatever the code does
    twin = ServiceInstance(subscription_id=subscription.id, name="x", subdomain="x.example.com", namespace="n",
                           status=S.STOPPED)
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(twin)
    # a terminated one does not count
    cluster.terminate_subscription_instances(subscription.id)
    assert cluster.create_instance(subscription).status is S.PENDING


def test_inactive_subscription_gets_no_instance(app, make, kube_sim):
    subscription = make.subscription(user=make.user(), plan=ghost_plan(make), status="CANCELLED")
    with pytest.raises(SubscriptionNotActive):
        cluster.create_instance(subscription)


def test_transitions_are_conditional(app, make, kube_sim):
    instance = new_instance(make)
    assert transition(instance.id, S.PROVISIONING, expected={S.PENDING}) is True
    assert transition(instance.id, S.PROVISIONING, expected={S.PENDING}) is False  # the second caller loses
    with pytest.raises(InvalidTransitionTable):
        transition(instance.id, S.RUNNING, expected={S.TERMINATED})


def test_health_sweep_stores_metrics_and_catches_a_missing_deployment(app, make, kube_sim):
    plan = ghost_plan(make)
    healthy = running_instance(app, make, plan=plan)
    broken = running_instance(app, make, plan=plan)
    from simulators.kube.resources import BY_KIND

    kube_sim.store.delete(BY_KIND["Deployment"], broken.namespace, broken.deployment_name)
    kube_sim.tick(settle=True)
    result = health.run_sweep()
    by_id = {r["instanceId"]: r for r in result["results"]}
    assert by_id[healthy.id]["isHealthy"] is True and by_id[healthy.id]["metrics"]["cpu"]["millicores"] > 0
    assert by_id[broken.id]["isHealthy"] is False
    healthy, broken = reload(healthy), reload(broken)
    assert healthy.health_status == "Healthy" and healthy.cpu_usage is not None and healthy.memory_usage > 0
    assert healthy.health_failures == 0 and healthy.last_health_check
    assert broken.status is S.ERROR and broken.health_status == "Unhealthy: Deployment not found"


def test_health_counts_consecutive_failures_without_changing_status(app, make, kube_sim):
    instance = running_instance(app, make)
    kube_sim.set_faults(never_ready=[f"instance={instance.id}"])
    from webapp.cluster.client import get_kube as gk

    workloads.rollout_restart(gk(), operations.spec_of(reload(instance)))  # new pod that never becomes ready
    kube_sim.tick(settle=True)
    for expected in (1, 2):
        health.run_sweep()
        instance = reload(instance)
        assert instance.status is S.RUNNING and instance.health_failures == expected
        assert instance.health_status.startswith("Unhealthy:")


def test_health_write_loses_to_a_concurrent_change(app, make, kube_sim):
    instance = running_instance(app, make)
    target = health._target(reload(instance))
    db.session.execute(update(ServiceInstance).where(ServiceInstance.id == instance.id).values(
        updated_at=utcnow() + timedelta(seconds=1), health_status="changed meanwhile"))
    health._store(target, {"deployment": {}, "healthStatus": "Healthy", "isHealthy": True, "metrics": None})
    assert reload(instance).health_status == "changed meanwhile"


def test_cluster_down_health_writes_nothing(app, make, kube_sim):
    instance = running_instance(app, make)
    before = (instance.health_status, instance.last_health_check)
    kube_sim.set_faults(down=True)
    with pytest.raises(ClusterUnavailable) as exc:
        health.run_sweep()
    assert exc.value.text == "Kubernetes cluster not available for health checks"
    instance = reload(instance)
    assert (instance.health_status, instance.last_health_check) == before and instance.status is S.RUNNING


def test_reconciler_repairs_stuck_rows(app, make, kube_sim):
    plan = ghost_plan(make)
    restarting = running_instance(app, make, plan=plan)
    transition(restarting.id, S.RESTARTING, expected={S.RUNNING})
    stuck = new_instance(make, plan=plan)
    transition(stuck.id, S.PROVISIONING, expected={S.PENDING})
    fresh = new_instance(make, plan=plan)
    old = utcnow() - timedelta(hours=2)
    db.session.execute(update(ServiceInstance).where(ServiceInstance.id.in_([stuck.id, restarting.id]))
                       .values(updated_at=old))
    db.session.commit()

    def provision_jobs():
        return [r.func for r in db.session.execute(select(OutboxJob.func, OutboxJob.args)).all()
                if r.args == [stuck.id] and r.func == "jobs.cluster.provision_instance"]

    before = len(provision_jobs())
    repaired = operations.reconcile_stale()
    # A lost provisioning job is enqueued once more first (a killed worker must not leave a paid instance in ERROR).
    assert repaired == {stuck.id: "RESUBMITTED", restarting.id: "RUNNING"}
    assert (reload(stuck).status, reload(stuck).health_status) == (S.PROVISIONING, operations.RESUBMITTED)
    assert len(provision_jobs()) == before + 1
    # Stuck again after that try: ERROR, as before.
    db.session.execute(update(ServiceInstance).where(ServiceInstance.id == stuck.id).values(updated_at=old))
    db.session.commit()
    assert operations.reconcile_stale() == {stuck.id: "ERROR"}
    assert reload(stuck).health_status == "Provisioning failed: timed out"
    assert reload(fresh).status is S.PENDING


def test_orphan_sweep_removes_objects_nobody_owns(app, make, kube_sim):
    instance = running_instance(app, make)
    spec = operations.spec_of(reload(instance))
    ghost = operations.spec_of(reload(instance)).__class__(**{**spec.__dict__, "instance_id": "corphan0000000000000000001",
                                                               "base": "ghost-blog-corphan0000000000000000001"})
    workloads.apply_all(get_kube(), ghost)
    assert objects_of(kube_sim, ghost.instance_id)
    operations.sweep_orphans()
    assert objects_of(kube_sim, ghost.instance_id) == {}
    assert objects_of(kube_sim, instance.id)["Deployment"]  # owned objects stay


def test_health_sweep_job_takes_a_lock(app, make, kube_sim):
    from jobs.queue import redis_connection

    lock = redis_connection().lock(health.SWEEP_LOCK, timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert health.health_sweep() == {"skipped": "another sweep is running"}
    finally:
        lock.release()
    assert health.health_sweep()["success"] is True


def test_client_from_kubeconfig_and_unconfigured(app, kube_sim, tmp_path, monkeypatch):
    path = kube_sim.write_kubeconfig(tmp_path / "config")
    monkeypatch.setitem(app.config, "KUBE_API_URL", None)
    monkeypatch.setitem(app.config, "KUBECONFIG_PATH", str(path))
    assert is_available()
    assert get_kube().version.get_code().major == "1"
    monkeypatch.setitem(app.config, "KUBECONFIG_PATH", None)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not is_available()
    with pytest.raises(ClusterUnavailable) as exc:
        ensure_available("Service restart temporarily unavailable")
    assert (exc.value.status, exc.value.text) == (503, "Service restart temporarily unavailable")


def test_every_call_has_a_timeout(app, kube_sim, monkeypatch):
    monkeypatch.setitem(app.config, "KUBE_TIMEOUT_SECONDS", 0.3)
    kube_sim.set_faults(slow_ms=1500)
    kube = get_kube()
    with pytest.raises(ClusterUnavailable):
        kube.core.list_namespace()
    kube_sim.set_faults(down=True, down_mode="close", slow_ms=0)
    with pytest.raises(ClusterUnavailable):
        kube.core.list_namespace()


def test_instance_metrics(app, make, kube_sim):
    instance = running_instance(app, make)
    metrics = cluster.instance_metrics(reload(instance))
    assert metrics["instanceId"] == instance.id and metrics["cpu"]["limit"] == 500
    assert 0 < metrics["cpu"]["usage"] <= 500 and 0 < metrics["memory"]["usage"] <= 512
    assert 0 <= metrics["memory"]["percentage"] <= 100
    kube_sim.set_faults(down=True)
    with pytest.raises(ClusterUnavailable) as exc:
        cluster.instance_metrics(reload(instance))
    assert exc.value.text == "Kubernetes cluster not available"


def test_create_instance_keeps_the_callers_after_commit_work(app, make, kube_sim):
    """create_instance's savepoint must not run (and drop) work the caller registered before it."""
    from webapp.db import on_commit

    ran = []
    plan = ghost_plan(make)
    subscription = make.subscription(user=make.user(), plan=plan)
    on_commit(lambda: ran.append("caller"))
    instance = cluster.create_instance(subscription)
    assert ran == []  # nothing runs before the commit
    db.session.commit()
    assert ran == ["caller"]
    from jobs.queue import get_queue

    assert get_queue().job_ids and reload(instance).status is S.PENDING
