"""The Kubernetes API (the cluster simulator) down or slow: routes answer 503 in the envelope within
KUBE_TIMEOUT_SECONDS, provisioning jobs fail, are retried by RQ and succeed once the cluster is back; when the
retries run out the instance ends in ERROR (with cleanup), never stuck in PROVISIONING."""
from __future__ import annotations

import time

import pytest
from rq.job import JobStatus

from jobs.queue import enqueue_due, get_queue, run_burst
from tests.cluster.fixtures import ghost_plan, new_instance
from tests.conftest import assert_envelope
from webapp.cluster.models import InstanceStatus, ServiceInstance
from webapp.extensions import db

from .proxy import TcpProxy

KUBE_TIMEOUT = 1.0


@pytest.fixture
def cluster(app, kube_sim, monkeypatch):
    """The app talks to the simulator through a proxy (cut = connection refused), with a 1 s read timeout."""
    host, port = kube_sim.url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port)).start()
    monkeypatch.setitem(app.config, "KUBE_API_URL", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setitem(app.config, "KUBE_TIMEOUT_SECONDS", KUBE_TIMEOUT)
    yield proxy
    proxy.stop()


def _later() -> float:
    return time.time() + 3600  # past every retry interval (10/30/90 s): what waiting would do


@pytest.mark.parametrize("fault", ["refused", "slow"])
def test_k8s_routes_answer_503_within_the_timeout(api, admin, customer, make, kube_sim, cluster, fault):
    plan = ghost_plan(make)
    instance = new_instance(make, user=customer, plan=plan)
    assert_envelope(api.get("/api/admin/k8s/namespaces", as_user=admin), 200)  # warm: the timing below is the fault's
    if fault == "refused":
        cluster.cut()
    else:
        kube_sim.set_faults(slow_ms=int(KUBE_TIMEOUT * 1000 * 3))
    for path, user in (("/api/admin/k8s/nodes", admin), ("/api/admin/k8s/pods", admin),
                       ("/api/admin/k8s/deployments", admin), (f"/api/instances/{instance.id}/logs", customer)):
        started = time.monotonic()
        r = api.get(path, as_user=user)
        elapsed = time.monotonic() - started
        body = assert_envelope(r, 503)
        assert "Kubernetes" in body["message"] or "unavailable" in body["message"], body
        assert elapsed < KUBE_TIMEOUT * 2 + 0.5, (path, elapsed)
    sub = make.subscription(user=customer, plan=make.plan())  # another service: no instance yet
    r = api.post("/api/instances", as_user=customer, json={"subscriptionId": sub.id})
    assert_envelope(r, 503, "Service provisioning temporarily unavailable")
    assert db.session.query(ServiceInstance).filter_by(subscription_id=sub.id).count() == 0  # nothing written
    kube_sim.clear_faults()
    cluster.restore()
    assert_envelope(api.get("/api/admin/k8s/namespaces", as_user=admin), 200)


def test_provisioning_is_retried_and_succeeds_once_the_cluster_is_back(app, make, kube_sim, cluster):
    cluster.cut()
    instance = new_instance(make)  # commits: the job is pushed to RQ
    queue = get_queue()
    job = queue.fetch_job(instance.id) or queue.fetch_job(queue.job_ids[0])
    run_burst(app)
    db.session.expire_all()
    assert db.session.get(ServiceInstance, instance.id).status is InstanceStatus.PROVISIONING
    job.refresh()
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == 2  # RQ Retry: waiting 10 s
    cluster.restore()
    assert enqueue_due(until=_later()) == 1
    run_burst(app)
    db.session.expire_all()
    assert db.session.get(ServiceInstance, instance.id).status is InstanceStatus.RUNNING


def test_when_the_retries_run_out_the_instance_ends_in_error_not_provisioning(app, make, kube_sim, cluster):
    cluster.cut()
    instance = new_instance(make)
    run_burst(app)
    for _ in range(3):  # the three retries, the cluster still down
        assert enqueue_due(until=_later()) == 1
        run_burst(app)
    db.session.expire_all()
    row = db.session.get(ServiceInstance, instance.id)
    assert row.status is InstanceStatus.ERROR and "Provisioning failed" in row.health_status
    assert enqueue_due(until=_later()) == 0 and get_queue().count == 0
