"""The RBAC rules in deploy/k8s/rbac.yaml against what PodDesk really sends to the Kubernetes API.

Two views of "what PodDesk calls": statically, every `<kube>.core|apps|net|custom.<method>` the webapp package
references (mapped to verb/group/resource through the official client's own route table), and dynamically, the
simulator's request log while the app provisions, resumes, restarts, stops, starts, resizes and terminates an
instance, reads its logs, metrics and health, runs the health/orphan sweep and renders every cluster page.
Both must be allowed by the rules bound to the app's ServiceAccount, and every granted (verb, resource) must be
used: the rules are exactly what the code needs."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import update

from simulators.kube.resources import BY_KIND
from tests.cluster.fixtures import ghost_plan, new_instance, run_jobs
from webapp.cluster import health, monitoring, operations
from webapp.cluster import services as cluster
from webapp.cluster.logs import instance_logs
from webapp.cluster.models import InstanceStatus as S
from webapp.cluster.models import ServiceInstance
from webapp.extensions import db
from webapp.subscriptions.models import Subscription

from .support import ROOT, allows, app_rules, granted, load_docs, static_cluster_calls


def _split(resource: str) -> tuple[str, str]:
    name, _, sub = resource.partition("/")
    return name, sub


def test_rules_are_exactly_the_calls_in_the_code():
    calls = static_cluster_calls(ROOT / "webapp")
    rules = app_rules(load_docs())
    denied = {k: sorted(v) for k, v in calls.items() if not allows(rules, k[0], k[1], *_split(k[2]))}
    assert not denied, f"calls the RBAC rules do not allow: {denied}"
    unused = granted(rules) - set(calls)
    assert not unused, f"granted but never called by webapp/: {sorted(unused)}"


def test_rules_are_explicit_and_granted_to_the_app_only():
    docs = load_docs()
    for role in (d for d in docs if d["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["apiGroups"] + rule["resources"], rule
            assert not rule.get("nonResourceURLs"), rule
    for binding in (d for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "poddesk", "namespace": "poddesk"}]
    rules = app_rules(docs)
    # The matcher itself: what the app may and may not do.
    assert allows(rules, "list", "", "pods") and allows(rules, "get", "", "pods", "log")
    assert allows(rules, "patch", "apps", "deployments", "scale")
    assert not allows(rules, "delete", "", "namespaces")  # user namespaces are never deleted
    assert not allows(rules, "create", "", "pods", "exec") and not allows(rules, "get", "", "pods", "exec")
    assert not allows(rules, "watch", "", "secrets") and not allows(rules, "delete", "", "secrets")
    assert not allows(rules, "create", "rbac.authorization.k8s.io", "clusterrolebindings")
    assert not allows(rules, "update", "apps", "deployments", "scale")


class Recorder:
    """Collects (verb, apiGroup, resource[/sub]) of the resource requests made while the app runs a step."""

    def __init__(self, sim):
        self.sim = sim
        self.seen: dict[tuple[str, str, str], str] = {}

    def __call__(self, step: str, fn, *args, **kwargs):
        self.sim.clear_requests()
        try:
            return fn(*args, **kwargs)
        finally:
            for r in self.sim.requests_seen(clear=True):
                if "nonResourceURL" in r:
                    # Discovery and the availability probe (GET /version): every authenticated client may read
                    # them (the built-in system:public-info-viewer / system:discovery roles), no rule needed.
                    assert r["verb"] == "get" and r["nonResourceURL"] in ("/version", "/api", "/apis"), r
                    continue
                resource = r["resource"] + (f"/{r['subresource']}" if r["subresource"] else "")
                self.seen.setdefault((r["verb"], r["apiGroup"], resource), step)


def _reload(instance_id: str) -> ServiceInstance:
    db.session.expire_all()
    return db.session.get(ServiceInstance, instance_id)


def test_every_request_of_the_app_is_allowed_and_every_rule_is_used(app, make, kube_sim):
    sim = kube_sim
    record = Recorder(sim)
    plan = ghost_plan(make)
    bigger = make.plan(service=plan.service, plan_type="PRO", cpu_milli=1000, memory_mb=1024, storage_gb=Decimal("2"))
    user = make.user()
    instance = new_instance(make, user=user, plan=plan)

    # ---- provision, then a retried provisioning job that finds everything in place (409 -> read -> replace)
    # and a Secret that lacks a generated key (patched in).
    record("provision", run_jobs, app)
    instance = _reload(instance.id)
    assert instance.status is S.RUNNING, instance.health_status
    ns, secret_name = instance.namespace, f"{instance.name}-secret"
    secret = dict(sim.store.peek("Secret", ns, secret_name))
    sim.store.update(BY_KIND["Secret"], ns, secret_name, {**secret, "data": {}}, internal=True)
    db.session.execute(update(ServiceInstance).where(ServiceInstance.id == instance.id).values(status=S.PROVISIONING))
    db.session.commit()
    assert record("provision (retried)", operations.provision, instance.id) == "running"
    assert set(sim.store.peek("Secret", ns, secret_name)["data"]) == set(secret["data"])

    # ---- lifecycle jobs
    instance = _reload(instance.id)
    record("restart", cluster.restart_instance, instance)
    db.session.commit()
    record("restart job", run_jobs, app)
    instance = _reload(instance.id)
    record("stop", cluster.stop_instance, instance)
    db.session.commit()
    record("stop job", run_jobs, app)
    instance = _reload(instance.id)
    assert instance.status is S.STOPPED
    record("start", cluster.start_instance, instance)
    db.session.commit()
    record("start job", run_jobs, app)
    db.session.get(Subscription, instance.subscription_id).plan_id = bigger.id
    cluster.resize_subscription_instances(instance.subscription_id)
    db.session.commit()
    record("resize job", run_jobs, app)
    instance = _reload(instance.id)
    assert instance.status is S.RUNNING and instance.health_status == "Healthy - Updated"

    # ---- reads: instance API, admin API and console pages, health
    record("instance details", cluster.instance_details, user, instance.id)
    record("instance metrics", cluster.instance_metrics, _reload(instance.id))
    assert record("instance logs", instance_logs, _reload(instance.id), 5, False)["pod"] == instance.pod_name
    record("admin pod logs", monitoring.pod_logs, ns, instance.pod_name, None, 5)
    record("console instance page", monitoring.instance_objects, ns, instance.id, instance.deployment_name)
    record("nodes", monitoring.list_nodes)
    record("node", monitoring.get_node, "node-1")
    record("console nodes page", monitoring.node_capacity_rows)
    record("namespaces", monitoring.list_namespaces)
    for listing in (monitoring.list_deployments, monitoring.list_pods, monitoring.list_ingresses,
                    monitoring.list_services):
        record(listing.__name__, listing)
        record(listing.__name__, listing, namespace=ns)
    record("instance health", health.instance_health, _reload(instance.id))
    assert "skipped" not in record("health sweep", health.health_sweep)

    # ---- terminate
    cluster.terminate_subscription_instances(instance.subscription_id)
    db.session.commit()
    record("terminate job", run_jobs, app)
    assert _reload(instance.id).status is S.TERMINATED

    rules = app_rules(load_docs())
    denied = {k: step for k, step in record.seen.items() if not allows(rules, k[0], k[1], *_split(k[2]))}
    assert not denied, f"requests the RBAC rules would forbid (403): {denied}"
    unused = granted(rules) - set(record.seen)
    assert not unused, f"granted but not used by any step: {sorted(unused)}"
    # The running app and the static picture of the code agree.
    assert set(record.seen) == set(static_cluster_calls(ROOT / "webapp"))
