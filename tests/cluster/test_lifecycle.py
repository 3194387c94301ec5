"""The whole life of an instance against the Kubernetes simulator, through the services and the jobs:
provision -> running -> restart -> stop -> start -> resize -> terminate, checking the cluster after each step."""
from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from jobs.queue import get_queue
from webapp.cluster import operations
from webapp.cluster import services as cluster
from webapp.cluster.models import InstanceStatus as S
from webapp.cluster.models import ServiceInstance
from webapp.extensions import db
from webapp.subscriptions.models import Subscription

from .fixtures import ghost_plan, new_instance, objects_of, run_jobs


def reload(instance) -> ServiceInstance:
    db.session.expire_all()
    return db.session.get(ServiceInstance, instance.id)


def deployment(sim, instance) -> dict:
    return sim.store.peek("Deployment", instance.namespace, instance.deployment_name)


def pods(sim, instance) -> list[dict]:
    return [p for p in sim.store.objects("Pod", instance.namespace)
            if p["metadata"]["labels"].get("instance") == instance.id and not p["metadata"].get("deletionTimestamp")]


def test_full_lifecycle(app, make, kube_sim):
    sim = kube_sim
    plan = ghost_plan(make)
    bigger = make.plan(service=plan.service, plan_type="PRO", cpu_milli=1000, memory_mb=1024, storage_gb=Decimal("2"))
    user = make.user()
    subscription = make.subscription(user=user, plan=plan)

    # ---- create: a PENDING row in the caller's transaction; the job leaves only after the commit
    instance = cluster.create_instance(subscription)
    assert instance.status is S.PENDING and instance.pod_name is None
    assert get_queue().count == 0
    db.session.commit()
    assert get_queue().count == 1
    assert objects_of(sim, instance.id) == {}

    # ---- provision
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.RUNNING and instance.health_status == "Healthy"
    assert instance.pod_name and instance.last_started and instance.ssl_enabled
    assert instance.public_url == f"https://{instance.subdomain}" and instance.subdomain.endswith(".minispod.com")
    objects = objects_of(sim, instance.id)
    base = instance.name
    assert objects["Deployment"] == [base] and objects["Service"] == [f"{base}-svc"]
    assert objects["Ingress"] == [f"{base}-ingress"] and objects["PersistentVolumeClaim"] == [f"{base}-pvc"]
    assert objects["Secret"] == [f"{base}-secret"] and "ConfigMap" not in objects
    assert [p["metadata"]["name"] for p in pods(sim, instance)] == [instance.pod_name]

    dep = deployment(sim, instance)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"},
                                      "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert container["volumeMounts"] == [{"name": "data-storage", "mountPath": "/var/lib/ghost/content"}]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "http"}
    env = {e["name"]: e for e in container["env"]}
    assert env["ADMIN_PASSWORD"] == {"name": "ADMIN_PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": f"{base}-secret", "key": "ADMIN_PASSWORD"}}}
    assert env["url"]["value"] == f"https://{instance.subdomain}" and env["INSTANCE_ID"]["value"] == instance.id
    # the template's default password is never used, and never stored in the database
    secret = sim.store.peek("Secret", instance.namespace, f"{base}-secret")
    generated = base64.b64decode(secret["data"]["ADMIN_PASSWORD"]).decode()
    assert generated != "admin123" and len(generated) >= 24
    assert "admin123" not in str(instance.env_vars) and generated not in str(instance.env_vars)

    ingress = sim.store.peek("Ingress", instance.namespace, f"{base}-ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": [instance.subdomain], "secretName": f"{base}-tls"}]
    assert ingress["spec"]["rules"][0]["host"] == instance.subdomain
    pvc = sim.store.peek("PersistentVolumeClaim", instance.namespace, f"{base}-pvc")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    namespace = sim.store.peek("Namespace", "", instance.namespace)
    assert namespace["metadata"]["labels"]["minispod.com/user-id"] == user.id

    # ---- restart: a new pod replaces the old one
    old_pod = instance.pod_name
    cluster.restart_instance(instance)
    assert instance.status is S.RESTARTING and instance.health_status == "Restarting..."
    db.session.commit()
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.RUNNING and instance.health_status == "Healthy - Restarted"
    assert instance.pod_name and instance.pod_name != old_pod
    assert [p["metadata"]["name"] for p in pods(sim, instance)] == [instance.pod_name]
    assert "kubectl.kubernetes.io/restartedAt" in deployment(sim, instance)["spec"]["template"]["metadata"]["annotations"]

    # ---- stop: scaled to zero, no pod left, everything else kept
    cluster.stop_instance(instance)
    db.session.commit()
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.STOPPED and instance.health_status == "Stopped" and instance.last_stopped
    assert deployment(sim, instance)["spec"]["replicas"] == 0 and pods(sim, instance) == []
    assert set(objects_of(sim, instance.id)) >= {"Deployment", "Service", "Ingress", "PersistentVolumeClaim", "Secret"}

    # ---- start
    cluster.start_instance(instance)
    db.session.commit()
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.RUNNING and instance.health_status == "Healthy - Started"
    assert deployment(sim, instance)["spec"]["replicas"] == 1
    assert [p["metadata"]["name"] for p in pods(sim, instance)] == [instance.pod_name]

    # ---- resize: the subscription moved to a bigger plan
    db.session.get(Subscription, subscription.id).plan_id = bigger.id
    assert cluster.resize_subscription_instances(subscription.id) == 1
    db.session.commit()
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.RUNNING and instance.health_status == "Healthy - Updated"
    container = deployment(sim, instance)["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "1000m", "memory": "1024Mi"}
    assert sim.store.peek("PersistentVolumeClaim", instance.namespace, f"{base}-pvc")[
        "spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert [p["metadata"]["name"] for p in pods(sim, instance)] == [instance.pod_name]
    # the secret survived every step unchanged
    assert sim.store.peek("Secret", instance.namespace, f"{base}-secret")["data"] == secret["data"]

    # ---- terminate: nothing labelled with the instance is left (PVC and Secret included); twice is fine
    assert cluster.terminate_subscription_instances(subscription.id) == 1
    assert cluster.terminate_subscription_instances(subscription.id) == 0
    db.session.commit()
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.TERMINATED and instance.health_status == "Terminated"
    assert objects_of(sim, instance.id) == {}
    assert operations.terminate(instance.id) == 0  # a repeated job: 404s are success
    assert sim.store.peek("Namespace", "", instance.namespace) is not None  # shared by the user's instances


def test_provisioning_is_idempotent_and_resumable(app, make, kube_sim):
    """A job that crashed after creating some objects is simply run again: AlreadyExists is fine, the Secret is
    not regenerated, and a repeat after success does nothing."""
    from webapp.cluster import workloads
    from webapp.cluster.client import get_kube

    instance = new_instance(make)
    spec = operations.spec_of(db.session.get(ServiceInstance, instance.id))
    kube = get_kube()
    workloads.apply_all(kube, spec)  # "the previous attempt" created everything
    secret = kube_sim.store.peek("Secret", spec.namespace, spec.names.secret)["data"]
    assert operations.provision(instance.id) == "running"
    assert operations.provision(instance.id) == "skipped"
    instance = reload(instance)
    assert instance.status is S.RUNNING
    assert kube_sim.store.peek("Secret", spec.namespace, spec.names.secret)["data"] == secret
    assert len(objects_of(kube_sim, instance.id)["Deployment"]) == 1


def test_readiness_timeout_sets_error_and_cleans_up(app, make, kube_sim, monkeypatch):
    monkeypatch.setitem(app.config, "PROVISION_READY_TIMEOUT", 0.8)
    instance = new_instance(make)
    kube_sim.set_faults(never_ready=[f"instance={instance.id}"])
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.ERROR
    assert instance.health_status == "Provisioning failed: Deployment failed to become ready within timeout"
    assert objects_of(kube_sim, instance.id) == {}


def test_crash_loop_fails_fast(app, make, kube_sim, monkeypatch):
    monkeypatch.setitem(app.config, "PROVISION_READY_TIMEOUT", 30)
    kube_sim.set_faults(crash_period=0.05)
    instance = new_instance(make)
    kube_sim.set_faults(crash_loop=[f"instance={instance.id}"])
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.ERROR and "CrashLoopBackOff" in instance.health_status
    assert objects_of(kube_sim, instance.id) == {}


def test_cluster_down_during_the_last_attempt_ends_in_error(app, make, kube_sim):
    instance = new_instance(make)
    kube_sim.set_faults(down=True)
    assert operations.provision(instance.id) == "error"  # not on an RQ worker: no retries left
    instance = reload(instance)
    assert instance.status is S.ERROR
    assert instance.health_status == "Provisioning failed: Kubernetes cluster not available"


def test_retry_provisioning_reuses_the_row_and_its_names(app, make, kube_sim, monkeypatch):
    monkeypatch.setitem(app.config, "PROVISION_READY_TIMEOUT", 0.5)
    instance = new_instance(make)
    kube_sim.set_faults(never_ready=[f"instance={instance.id}"])
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.ERROR
    kube_sim.clear_faults()
    name = instance.name
    again = cluster.retry_provisioning(instance)
    assert again.id == instance.id and again.status is S.PENDING
    assert again.health_status == "Retry provisioning initiated"
    db.session.commit()
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.RUNNING and instance.name == name
    assert db.session.query(ServiceInstance).filter_by(subscription_id=instance.subscription_id).count() == 1


def test_retry_after_termination_creates_a_new_instance(app, make, kube_sim):
    instance = new_instance(make)
    cluster.terminate_subscription_instances(instance.subscription_id)
    db.session.commit()
    run_jobs(app)
    fresh = cluster.retry_provisioning(reload(instance))
    assert fresh.id != instance.id and fresh.status is S.PENDING and fresh.name != instance.name


def test_terminate_during_provisioning_leaves_nothing(app, make, kube_sim, monkeypatch):
    """The job notices the row was terminated while it waited, and removes what it had created."""
    monkeypatch.setitem(app.config, "PROVISION_READY_TIMEOUT", 5)
    instance = new_instance(make)
    kube_sim.set_faults(never_ready=[f"instance={instance.id}"])
    calls = {"n": 0}
    real_status = operations._status

    def status_then_terminate(instance_id):
        calls["n"] += 1
        if calls["n"] == 2:
            cluster.terminate_subscription_instances(instance.subscription_id)
            db.session.commit()
        return real_status(instance_id)

    monkeypatch.setattr(operations, "_status", status_then_terminate)
    assert operations.provision(instance.id) == "aborted"
    assert reload(instance).status is S.TERMINATED
    assert objects_of(kube_sim, instance.id) == {}


@pytest.mark.parametrize("action, error", [("restart_instance", "Can only restart running service instances"),
                                           ("stop_instance", "Can only stop running service instances"),
                                           ("start_instance", "Can only start stopped service instances")])
def test_actions_in_the_wrong_state(app, make, kube_sim, action, error):
    from webapp.errors import DomainError

    instance = new_instance(make)  # PENDING
    with pytest.raises(DomainError) as exc:
        getattr(cluster, action)(instance)
    assert (exc.value.status, exc.value.text) == (400, error)
    assert reload(instance).status is S.PENDING


def test_failed_start_goes_back_to_stopped(app, make, kube_sim, monkeypatch):
    from .fixtures import running_instance

    instance = running_instance(app, make)
    cluster.stop_instance(instance)
    db.session.commit()
    run_jobs(app)
    monkeypatch.setitem(app.config, "ROLLOUT_TIMEOUT", 0.5)
    kube_sim.set_faults(never_ready=[f"instance={instance.id}"])
    cluster.start_instance(reload(instance))
    db.session.commit()
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.STOPPED
    assert instance.health_status == "Start failed: Service start failed to complete within timeout"
    assert deployment(kube_sim, instance)["spec"]["replicas"] == 0


def test_failed_restart_reverts_to_running_or_error(app, make, kube_sim):
    from .fixtures import running_instance

    instance = running_instance(app, make)
    kube_sim.store.delete(__import__("simulators.kube.resources", fromlist=["BY_KIND"]).BY_KIND["Deployment"],
                          instance.namespace, instance.deployment_name)
    cluster.restart_instance(instance)
    db.session.commit()
    run_jobs(app)
    instance = reload(instance)
    assert instance.status is S.ERROR and instance.health_status.startswith("Restart failed:")
