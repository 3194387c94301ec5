"""Cluster test fixtures, importable from any test package (tests/cluster, tests/api, tests/console).

One `KubeSimulator` per test session (started on first use, stopped at exit), reached only through the app's
settings (`KUBE_API_URL`). Each test gets the simulator with no faults, short timeouts and poll intervals, and an
empty job queue. `run_jobs(app)` runs what the outbox pushed, in this thread, like a worker would.
"""
from __future__ import annotations

import atexit
from decimal import Decimal

import pytest

from jobs.queue import get_queue, run_burst
from simulators.kube import KubeSimulator
from webapp.extensions import db

_SIM: KubeSimulator | None = None


def simulator() -> KubeSimulator:
    global _SIM
    if _SIM is None:
        _SIM = KubeSimulator(port=0, pod_start_delay=0.05, nodes=3, interval=0.05).start()
        atexit.register(_SIM.stop)
    return _SIM


@pytest.fixture
def kube_sim(app, monkeypatch):
    sim = simulator()
    sim.clear_faults()
    for key, value in {"KUBE_API_URL": sim.url, "KUBE_PROBE_CACHE_SECONDS": 0, "KUBE_TIMEOUT_SECONDS": 3,
                       "KUBE_POLL_INTERVAL": 0.05, "PROVISION_READY_TIMEOUT": 10, "ROLLOUT_TIMEOUT": 10,
                       "LOG_STREAM_MAX_SECONDS": 1}.items():
        monkeypatch.setitem(app.config, key, value)
    queue = get_queue()
    queue.empty()
    yield sim
    sim.clear_faults()
    queue.empty()


@pytest.fixture
def no_cluster(app, monkeypatch):
    """Nothing configured at all (no URL, no kubeconfig, not in a cluster)."""
    for key in ("KUBE_API_URL", "KUBECONFIG_PATH"):
        monkeypatch.setitem(app.config, key, None)
    monkeypatch.setitem(app.config, "KUBE_IN_CLUSTER", False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")


def run_jobs(app) -> None:
    run_burst(app)
    db.session.expire_all()


def ghost_plan(make, **plan_kw):
    service = make.service(name="Ghost Blog", slug="ghost-blog", docker_image="ghost:5-alpine", default_port=2368,
                           env_template={"NODE_ENV": "production", "ADMIN_PASSWORD": "admin123"})
    defaults = dict(cpu_milli=500, memory_mb=512, storage_gb=Decimal("1"))
    defaults.update(plan_kw)
    return make.plan(service=service, **defaults)


def new_instance(make, user=None, plan=None):
    """A PENDING instance (row + provisioning job after commit) for a fresh ACTIVE subscription."""
    from webapp.cluster.services import create_instance

    user = user or make.user()
    plan = plan or ghost_plan(make)
    subscription = make.subscription(user=user, plan=plan)
    instance = create_instance(subscription)
    db.session.commit()
    return instance


def running_instance(app, make, user=None, plan=None):
    from webapp.cluster.models import InstanceStatus

    instance = new_instance(make, user=user, plan=plan)
    run_jobs(app)
    instance = db.session.get(type(instance), instance.id)
    assert instance.status is InstanceStatus.RUNNING, (instance.status, instance.health_status)
    return instance


def objects_of(sim: KubeSimulator, instance_id: str) -> dict[str, list[str]]:
    """Every object in the simulator labelled with the instance, by kind (straight from its store)."""
    out: dict[str, list[str]] = {}
    for kind in ("Deployment", "ReplicaSet", "Pod", "Service", "Ingress", "PersistentVolumeClaim", "Secret",
                 "ConfigMap"):
        names = [o["metadata"]["name"] for o in sim.store.objects(kind)
                 if (o["metadata"].get("labels") or {}).get("instance") == instance_id]
        if names:
            out[kind] = sorted(names)
    return out
