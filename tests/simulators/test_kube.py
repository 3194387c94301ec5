"""The Kubernetes simulator driven through the official Python client over real HTTP."""
from __future__ import annotations

import json
import re
import time
import urllib.request

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from simulators.kube import KubeSimulator
from tests.simulators.kube_conftest_helpers import (clients, deployment_manifest, ingress_manifest, service_manifest,
                                                    wait_until)

NS = "user-abc123"


@pytest.fixture(scope="module")
def sim():
    # A long start delay makes Pending observable; tests advance time with sim.tick(settle=True).
    with KubeSimulator(port=0, pod_start_delay=1.5, nodes=3) as s:
        yield s


@pytest.fixture(scope="module")
def api(sim):
    return clients(sim.url)


@pytest.fixture(scope="module")
def ns(api):
    core = api[0]
    core.create_namespace({"metadata": {"name": NS, "labels": {"minispod.com/managed": "true"}}})
    return NS


def http(sim, method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(sim.url + path, method=method, data=json.dumps(body).encode() if body is not None
                                 else None, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def status_body(exc: ApiException) -> dict:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def deploy_pods(core, ns, instance):
    return core.list_namespaced_pod(ns, label_selector=f"app=ghost-blog,instance={instance}").items


# ---------------------------------------------------------------------------------------------------------------

def test_discovery_documents(sim):
    code, body = http(sim, "GET", "/version")
    assert code == 200 and json.loads(body)["major"] == "1"
    groups = {g["name"] for g in json.loads(http(sim, "GET", "/apis")[1])["groups"]}
    assert {"apps", "networking.k8s.io", "metrics.k8s.io"} <= groups
    core = {r["name"] for r in json.loads(http(sim, "GET", "/api/v1")[1])["resources"]}
    assert {"pods", "pods/log", "services", "secrets", "configmaps", "persistentvolumeclaims", "nodes", "events",
            "namespaces"} <= core
    apps = json.loads(http(sim, "GET", "/apis/apps/v1")[1])["resources"]
    scale = next(r for r in apps if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert "deploy" in next(r for r in apps if r["name"] == "deployments")["shortNames"]
    assert kubernetes.client.VersionApi(kubernetes.client.ApiClient(_cfg(sim))).get_code().git_version.startswith("v1.")


def _cfg(sim):
    cfg = kubernetes.client.Configuration()
    cfg.host = sim.url
    return cfg


def test_seeded_nodes(api):
    core = api[0]
    nodes = core.list_node().items
    assert len(nodes) == 3
    n = core.read_node(nodes[0].metadata.name)
    assert n.status.capacity["cpu"] and n.status.allocatable["memory"].endswith("Ki")
    assert n.status.node_info.kubelet_version.startswith("v1.")
    assert {a.type for a in n.status.addresses} == {"InternalIP", "Hostname"}
    assert any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)
    with pytest.raises(ApiException) as e:
        core.read_node("non-existent-node")
    assert e.value.status == 404 and status_body(e.value)["reason"] == "NotFound"


def test_provisioning_objects(sim, api, ns):
    core, apps, net, _ = api
    name, inst = "ghost-blog-abc123-m3x9k2", "inst-1"
    core.create_namespaced_secret(ns, {"metadata": {"name": f"{name}-secret", "labels": {"instance": inst}},
                                       "stringData": {"DB_PASSWORD": "s3cret"}})
    sec = core.read_namespaced_secret(f"{name}-secret", ns)
    assert sec.type == "Opaque" and sec.data == {"DB_PASSWORD": "czNjcmV0"}
    core.create_namespaced_config_map(ns, {"metadata": {"name": f"{name}-config", "labels": {"instance": inst}},
                                           "data": {"INSTANCE_ID": inst}})
    core.create_namespaced_persistent_volume_claim(ns, {
        "metadata": {"name": f"{name}-pvc", "labels": {"instance": inst}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
                 "storageClassName": "local-path"}})
    dep = apps.create_namespaced_deployment(ns, deployment_manifest(name, inst))
    assert dep.metadata.uid and dep.metadata.generation == 1 and dep.metadata.resource_version
    assert dep.spec.strategy.type == "RollingUpdate"
    assert dep.spec.template.spec.containers[0].resources.limits == {"cpu": "250m", "memory": "256Mi"}
    svc = core.create_namespaced_service(ns, service_manifest(name, inst))
    assert re.match(r"^10\.43\.\d+\.\d+$", svc.spec.cluster_ip)
    # Replace without clusterIP keeps the allocated address (spec §4 #10).
    body = service_manifest(name, inst)
    body["metadata"]["resourceVersion"] = svc.metadata.resource_version
    assert core.replace_namespaced_service(f"{name}-svc", ns, body).spec.cluster_ip == svc.spec.cluster_ip
    host = "ghostblog-abc123-m3x9k2.minispod.com"
    net.create_namespaced_ingress(ns, ingress_manifest(name, inst, host))
    sim.tick(settle=True)
    pvc = core.read_namespaced_persistent_volume_claim(f"{name}-pvc", ns)
    assert pvc.status.phase == "Bound" and pvc.status.capacity == {"storage": "5Gi"}
    ing = net.read_namespaced_ingress(f"{name}-ingress", ns)
    assert ing.spec.tls[0].hosts == [host] and ing.status.load_balancer.ingress[0].ip
    d = apps.read_namespaced_deployment(name, ns)
    assert d.status.ready_replicas == 1 and d.status.available_replicas == 1 and d.status.updated_replicas == 1
    assert d.status.observed_generation == 1
    conds = {c.type: c for c in d.status.conditions}
    assert conds["Available"].status == "True" and conds["Progressing"].reason == "NewReplicaSetAvailable"
    pods = deploy_pods(core, ns, inst)
    assert len(pods) == 1 and pods[0].metadata.name.startswith(f"{name}-")
    assert pods[0].metadata.owner_references[0].kind == "ReplicaSet"
    assert pods[0].status.container_statuses[0].ready and pods[0].status.container_statuses[0].restart_count == 0
    # all-namespace lists used by the admin K4-K7 endpoints
    assert any(x.metadata.name == name for x in apps.list_deployment_for_all_namespaces().items)
    assert any(x.metadata.name == f"{name}-svc" for x in core.list_service_for_all_namespaces().items)
    assert any(x.metadata.name == f"{name}-ingress" for x in net.list_ingress_for_all_namespaces().items)


def test_lists_and_selectors(sim, api, ns):
    core, apps, _, _ = api
    apps.create_namespaced_deployment(ns, deployment_manifest("sel-a", "sel-1"))
    apps.create_namespaced_deployment(ns, deployment_manifest("sel-b", "sel-2", replicas=2))
    sim.tick(settle=True)
    assert len(deploy_pods(core, ns, "sel-2")) == 2
    assert len(core.list_namespaced_pod(ns, label_selector="instance in (sel-1,sel-2)").items) == 3
    assert all(p.metadata.labels["instance"] != "sel-1"
               for p in core.list_namespaced_pod(ns, label_selector="instance!=sel-1").items)
    assert [d.metadata.name for d in apps.list_namespaced_deployment(ns, field_selector="metadata.name=sel-b").items] \
        == ["sel-b"]
    running = core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    assert len(running) >= 3 and all(p.status.phase == "Running" for p in running)
    assert core.list_namespaced_pod(ns, field_selector="status.phase=Pending").items == []
    raw = json.loads(http(sim, "GET", f"/api/v1/namespaces/{ns}/pods")[1])
    assert raw["apiVersion"] == "v1" and raw["kind"] == "PodList" and raw["metadata"]["resourceVersion"]
    assert all(i["apiVersion"] == "v1" and i["kind"] == "Pod" for i in raw["items"])
    # pagination with limit/continue returns every item exactly once
    page1 = core.list_namespaced_pod(ns, limit=2)
    assert len(page1.items) == 2 and page1.metadata._continue
    page2 = core.list_namespaced_pod(ns, limit=100, _continue=page1.metadata._continue)
    names = [p.metadata.name for p in page1.items + page2.items]
    assert sorted(names) == sorted(p.metadata.name for p in core.list_namespaced_pod(ns).items)
    with pytest.raises(ApiException) as e:
        core.list_namespaced_pod(ns, field_selector="spec.bogus=1")
    assert e.value.status == 400


def test_pending_then_running(sim, api, ns):
    core, apps, _, _ = api
    apps.create_namespaced_deployment(ns, deployment_manifest("slow-start", "slow-1"))
    sim.tick()
    pods = wait_until(lambda: deploy_pods(core, ns, "slow-1"))
    assert pods[0].status.phase == "Pending"
    assert pods[0].status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    assert apps.read_namespaced_deployment("slow-start", ns).status.ready_replicas is None  # omitempty
    wait_until(lambda: deploy_pods(core, ns, "slow-1")[0].status.phase == "Running", timeout=5)
    pod = deploy_pods(core, ns, "slow-1")[0]
    assert pod.status.pod_ip and pod.spec.node_name and pod.status.container_statuses[0].state.running.started_at
    wait_until(lambda: apps.read_namespaced_deployment("slow-start", ns).status.available_replicas == 1)


def test_scale_subresource_stop_and_start(sim, api, ns):
    core, apps, _, _ = api
    apps.create_namespaced_deployment(ns, deployment_manifest("scaler", "scale-1"))
    sim.tick(settle=True)
    assert len(deploy_pods(core, ns, "scale-1")) == 1
    scale = apps.patch_namespaced_deployment_scale("scaler", ns, {"spec": {"replicas": 0}})
    assert scale.spec.replicas == 0
    sim.tick(settle=True)
    assert deploy_pods(core, ns, "scale-1") == []
    d = apps.read_namespaced_deployment("scaler", ns)
    assert d.spec.replicas == 0 and d.status.replicas is None and d.status.ready_replicas is None
    assert d.metadata.generation == 2 and d.status.observed_generation == 2
    # start again with a read-modify-replace, the way the original code does it (§3.6)
    d.spec.replicas = 1
    apps.replace_namespaced_deployment("scaler", ns, d)
    sim.tick(settle=True)
    pods = deploy_pods(core, ns, "scale-1")
    assert len(pods) == 1 and pods[0].status.phase == "Running"
    assert apps.read_namespaced_deployment_scale("scaler", ns).status.replicas == 1


def test_rolling_restart_creates_new_replicaset(sim, api, ns):
    core, apps, _, _ = api
    apps.create_namespaced_deployment(ns, deployment_manifest("roller", "roll-1"))
    sim.tick(settle=True)
    old_pod = deploy_pods(core, ns, "roll-1")[0].metadata.name
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}}
    d = apps.patch_namespaced_deployment("roller", ns, patch)  # strategic merge patch (client default)
    assert d.metadata.generation == 2
    sim.tick()  # surge: the new pod starts while the old one still serves
    names = {p.metadata.name for p in deploy_pods(core, ns, "roll-1")}
    assert old_pod in names and len(names) == 2
    sim.tick(settle=True)
    pods = deploy_pods(core, ns, "roll-1")
    assert len(pods) == 1 and pods[0].metadata.name != old_pod and pods[0].status.phase == "Running"
    assert pods[0].metadata.annotations["kubectl.kubernetes.io/restartedAt"] == "2025-01-01T00:00:00Z"
    rss = apps.list_namespaced_replica_set(ns, label_selector="instance=roll-1").items
    assert len(rss) == 2
    by_rev = {r.metadata.annotations["deployment.kubernetes.io/revision"]: r for r in rss}
    assert by_rev["1"].spec.replicas == 0 and by_rev["2"].spec.replicas == 1
    d = apps.read_namespaced_deployment("roller", ns)
    assert d.status.updated_replicas == 1 and d.status.observed_generation == 2


def test_patch_flavours(sim, api, ns):
    core, apps, _, _ = api
    apps.create_namespaced_deployment(ns, deployment_manifest("patchy", "patch-1"))
    # strategic merge: containers merge by name, env by name, $patch: delete removes an element
    smp = {"spec": {"template": {"spec": {"containers": [{"name": "ghost-blog", "env": [
        {"name": "NEW", "value": "1"}, {"name": "NODE_ENV", "$patch": "delete"}]}]}}}}
    d = apps.patch_namespaced_deployment("patchy", ns, smp)
    c = d.spec.template.spec.containers[0]
    assert c.image == "ghost:5-alpine" and {e.name for e in c.env} == {"INSTANCE_ID", "NEW"}
    # JSON merge patch replaces lists
    code, body = http(sim, "PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/patchy",
                      {"metadata": {"labels": {"extra": "yes", "user": None}}}, "application/merge-patch+json")
    assert code == 200 and json.loads(body)["metadata"]["labels"].get("extra") == "yes"
    assert "user" not in json.loads(body)["metadata"]["labels"]
    # JSON patch
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3},
           {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]
    code, body = http(sim, "PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/patchy", ops,
                      "application/json-patch+json")
    assert code == 200 and json.loads(body)["spec"]["replicas"] == 3
    code, body = http(sim, "PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/patchy",
                      [{"op": "remove", "path": "/spec/nope"}], "application/json-patch+json")
    assert code == 422
    code, body = http(sim, "PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/patchy", {"a": 1}, "text/plain")
    assert code == 415


def test_errors_are_status_objects(sim, api, ns):
    core, apps, _, _ = api
    with pytest.raises(ApiException) as e:
        apps.read_namespaced_deployment("does-not-exist", ns)
    body = status_body(e.value)
    assert e.value.status == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'deployments.apps "does-not-exist" not found'
    assert body["details"] == {"name": "does-not-exist", "group": "apps", "kind": "deployments"}
    apps.create_namespaced_deployment(ns, deployment_manifest("twice", "twice-1"))
    with pytest.raises(ApiException) as e:
        apps.create_namespaced_deployment(ns, deployment_manifest("twice", "twice-1"))
    assert e.value.status == 409 and status_body(e.value)["reason"] == "AlreadyExists"
    # read-modify-replace with a stale resourceVersion -> Conflict
    d = apps.read_namespaced_deployment("twice", ns)
    apps.patch_namespaced_deployment("twice", ns, {"metadata": {"labels": {"touched": "1"}}})
    d.spec.template.metadata.annotations = {"kubectl.kubernetes.io/restartedAt": "now"}
    with pytest.raises(ApiException) as e:
        apps.replace_namespaced_deployment("twice", ns, d)
    assert e.value.status == 409 and status_body(e.value)["reason"] == "Conflict"
    assert "the object has been modified" in status_body(e.value)["message"]
    for bad in ("Ghost-Blog", "blög-1", "under_score"):
        with pytest.raises(ApiException) as e:
            apps.create_namespaced_deployment(ns, deployment_manifest(bad, "bad"))
        body = status_body(e.value)
        assert e.value.status == 422 and body["reason"] == "Invalid"
        assert body["details"]["causes"][0]["field"] == "metadata.name"
    with pytest.raises(ApiException) as e:  # Service names must be DNS-1035 labels (leading letter)
        core.create_namespaced_service(ns, {**service_manifest("x", "x"), "metadata": {"name": "1abc-svc"}})
    assert e.value.status == 422
    bad = deployment_manifest("mismatch", "m-1")
    bad["spec"]["selector"]["matchLabels"]["app"] = "other"
    with pytest.raises(ApiException) as e:
        apps.create_namespaced_deployment(ns, bad)
    assert e.value.status == 422 and "does not match template" in status_body(e.value)["message"]
    with pytest.raises(ApiException) as e:  # update of a missing object is a 404 (the app then creates it)
        core.replace_namespaced_config_map("missing-config", ns, {"metadata": {"name": "missing-config"}})
    assert e.value.status == 404 and status_body(e.value)["reason"] == "NotFound"
    with pytest.raises(ApiException) as e:  # namespace must exist
        core.create_namespaced_config_map("user-missing", {"metadata": {"name": "c"}})
    assert e.value.status == 404 and 'namespaces "user-missing" not found' in status_body(e.value)["message"]
    code, body = http(sim, "GET", "/apis/apps/v1/namespaces/x/widgets")
    assert code == 404 and json.loads(body)["kind"] == "Status"


def test_delete_cascades(sim, api, ns):
    core, apps, _, _ = api
    apps.create_namespaced_deployment(ns, deployment_manifest("doomed", "doom-1", replicas=2))
    sim.tick(settle=True)
    assert len(deploy_pods(core, ns, "doom-1")) == 2
    st = apps.delete_namespaced_deployment("doomed", ns)  # the client returns the raw Status dict here
    st = st if isinstance(st, dict) else st.to_dict()
    assert st["status"] == "Success" and st["details"]["name"] == "doomed"
    assert deploy_pods(core, ns, "doom-1") == []
    assert apps.list_namespaced_replica_set(ns, label_selector="instance=doom-1").items == []
    # Orphan propagation keeps the ReplicaSet (without its owner reference)
    apps.create_namespaced_deployment(ns, deployment_manifest("orphaner", "orph-1"))
    sim.tick(settle=True)
    apps.delete_namespaced_deployment("orphaner", ns, propagation_policy="Orphan")
    rss = apps.list_namespaced_replica_set(ns, label_selector="instance=orph-1").items
    assert len(rss) == 1 and not rss[0].metadata.owner_references
    apps.delete_namespaced_replica_set(rss[0].metadata.name, ns)
    sim.tick(settle=True)
    assert deploy_pods(core, ns, "orph-1") == []


def test_delete_namespace_removes_everything(sim, api):
    core, apps, net, _ = api
    core.create_namespace({"metadata": {"name": "user-gone"}})
    apps.create_namespaced_deployment("user-gone", deployment_manifest("app", "gone-1"))
    core.create_namespaced_service("user-gone", service_manifest("app", "gone-1"))
    net.create_namespaced_ingress("user-gone", ingress_manifest("app", "gone-1", "gone.minispod.com"))
    sim.tick(settle=True)
    assert core.list_namespaced_pod("user-gone").items
    ns_obj = core.delete_namespace("user-gone")
    ns_obj = ns_obj if isinstance(ns_obj, dict) else ns_obj.to_dict()
    assert ns_obj["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as e:
        core.read_namespace("user-gone")
    assert e.value.status == 404
    assert core.list_namespaced_pod("user-gone").items == []
    assert all(d.metadata.namespace != "user-gone" for d in apps.list_deployment_for_all_namespaces().items)
    assert all(i.metadata.namespace != "user-gone" for i in net.list_ingress_for_all_namespaces().items)


def test_pod_logs(sim, api, ns):
    core, apps, _, _ = api
    apps.create_namespaced_deployment(ns, deployment_manifest("logger", "log-1"))
    sim.tick(settle=True)
    pod = deploy_pods(core, ns, "log-1")[0].metadata.name
    time.sleep(0.05)
    full = core.read_namespaced_pod_log(pod, ns)
    assert "Ghost" in full
    tail = core.read_namespaced_pod_log(pod, ns, tail_lines=2, container="ghost-blog")
    assert tail.splitlines() == full.splitlines()[-2:]
    ts = core.read_namespaced_pod_log(pod, ns, tail_lines=3, timestamps=True)
    assert len(ts.splitlines()) == 3
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", line) for line in ts.splitlines())
    assert core.read_namespaced_pod_log(pod, ns) .splitlines()[:3] == full.splitlines()[:3]  # deterministic
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod_log(pod, ns, container="nope")
    assert e.value.status == 400 and status_body(e.value)["message"] == f"container nope is not valid for pod {pod}"
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod_log("no-such-pod", ns)
    assert e.value.status == 404


def test_metrics(sim, api, ns):
    core, apps, _, custom = api
    apps.create_namespaced_deployment(ns, deployment_manifest("measured", "met-1", cpu="200m", memory="128Mi"))
    sim.tick(settle=True)
    pod = deploy_pods(core, ns, "met-1")[0].metadata.name
    pm = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", ns, "pods")
    assert pm["kind"] == "PodMetricsList"
    item = next(i for i in pm["items"] if i["metadata"]["name"] == pod)
    assert item["window"] and item["timestamp"]
    usage = item["containers"][0]["usage"]
    assert re.match(r"^\d+n$", usage["cpu"]) and re.match(r"^\d+Ki$", usage["memory"])
    assert 0 < int(usage["cpu"][:-1]) <= 200_000_000
    assert 0 < int(usage["memory"][:-2]) * 1024 <= 128 * 1024 * 1024
    nm = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert len(nm["items"]) == 3 and all(re.match(r"^\d+n$", n["usage"]["cpu"]) for n in nm["items"])


def test_metrics_hold_for_a_window_and_follow_the_pods(sim, api, ns):
    """Like metrics-server, a pod's figures are those of the window's scrape: repeated reads agree; a pod
    replaced by a rollout leaves the list and its successor appears; a node counts its pods' usage."""
    core, apps, _, custom = api
    apps.create_namespaced_deployment(ns, deployment_manifest("window", "win-1", cpu="300m", memory="256Mi"))
    sim.tick(settle=True)
    old = deploy_pods(core, ns, "win-1")[0].metadata.name

    def pod_items():
        return {i["metadata"]["name"]: i for i in
                custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", ns, "pods")["items"]}

    first, again = pod_items(), pod_items()
    if first[old]["timestamp"] == again[old]["timestamp"]:  # same window (15 s): the same scrape
        assert first[old]["containers"] == again[old]["containers"]
    single = custom.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", ns, "pods", old)
    assert single["containers"][0]["name"] == first[old]["containers"][0]["name"]
    node_name = deploy_pods(core, ns, "win-1")[0].spec.node_name
    node = custom.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", node_name)
    assert int(node["usage"]["cpu"][:-1]) >= int(first[old]["containers"][0]["usage"]["cpu"][:-1])

    small = {"cpu": "100m", "memory": "64Mi"}
    apps.patch_namespaced_deployment("window", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "ghost-blog", "resources": {"requests": small, "limits": small}}]}}}})
    sim.tick(settle=True)
    (new,) = [p.metadata.name for p in deploy_pods(core, ns, "win-1")]
    after = pod_items()
    assert new != old and old not in after and new in after
    usage = after[new]["containers"][0]["usage"]
    assert 0 < int(usage["cpu"][:-1]) <= 100_000_000 and int(usage["memory"][:-2]) * 1024 <= 64 * 2 ** 20
    all_pods = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods")["items"]
    assert new in {i["metadata"]["name"] for i in all_pods} and old not in {i["metadata"]["name"] for i in all_pods}


def test_scrapes_are_reused_within_a_window_only():
    from simulators.kube.store import Entry, dumps
    from simulators.kube.telemetry import METRICS_WINDOW, Scrapes

    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": [
        {"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}
    scrapes, entry, t = Scrapes(), Entry(pod), 1_000_000 * METRICS_WINDOW
    item, blob, cpu, mem = scrapes.pod(entry, t, dumps)
    assert scrapes.pod(entry, t + METRICS_WINDOW - 1, dumps)[0] is item  # same window: the stored scrape
    assert 0 < cpu <= 10 ** 9 and 0 < mem <= 2 ** 30 and blob == dumps(item)
    later = scrapes.pod(entry, t + METRICS_WINDOW, dumps)[0]
    assert later is not item and later["timestamp"] != item["timestamp"]  # next window: scraped again
    changed = Entry({**pod, "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "10m"}}}]}})
    assert scrapes.pod(changed, t + METRICS_WINDOW, dumps)[2] <= 10_000_000  # a changed pod is not served stale
    scrapes.forget_except(set())
    assert scrapes.pod(entry, t + METRICS_WINDOW, dumps)[0] is not later  # forgotten: computed afresh


def test_fault_api_down_and_errors(sim, api):
    core = api[0]
    sim.set_faults(down=True)
    try:
        with pytest.raises(ApiException) as e:
            core.list_namespace()
        assert e.value.status == 503 and status_body(e.value)["reason"] == "ServiceUnavailable"
        # the admin API keeps working during an outage
        assert http(sim, "GET", "/_sim/faults")[0] == 200
    finally:
        sim.clear_faults()
    code, _ = http(sim, "PUT", "/_sim/faults", {"error_rate": 1.0, "error_code": 500})
    assert code == 200
    with pytest.raises(ApiException) as e:
        core.list_namespace()
    assert e.value.status == 500
    http(sim, "DELETE", "/_sim/faults")
    sim.set_faults(slow_ms=150)
    t0 = time.time()
    core.list_namespace()
    assert time.time() - t0 >= 0.15
    sim.clear_faults()
    assert core.list_namespace().items


def test_crash_loop_and_never_ready(sim, api, ns):
    core, apps, _, _ = api
    sim.set_faults(crash_loop=["crashy"], never_ready=[f"{ns}/stuck"], crash_period=0.2)
    try:
        apps.create_namespaced_deployment(ns, deployment_manifest("crashy", "crash-1"))
        apps.create_namespaced_deployment(ns, deployment_manifest("stuck", "stuck-1"))
        sim.tick(settle=True)
        pod = deploy_pods(core, ns, "crash-1")[0]
        cs = pod.status.container_statuses[0]
        assert pod.status.phase == "Running" and not cs.ready
        assert cs.state.waiting.reason == "CrashLoopBackOff" and cs.last_state.terminated.exit_code == 1
        first = cs.restart_count
        wait_until(lambda: deploy_pods(core, ns, "crash-1")[0].status.container_statuses[0].restart_count > first,
                   timeout=3)
        d = apps.read_namespaced_deployment("crashy", ns)
        assert not d.status.ready_replicas
        assert {c.type: c.status for c in d.status.conditions}["Available"] == "False"
        assert "process exited with code 1" in core.read_namespaced_pod_log(pod.metadata.name, ns)
        stuck = deploy_pods(core, ns, "stuck-1")[0]
        assert stuck.status.phase == "Running" and not stuck.status.container_statuses[0].ready
        assert stuck.status.container_statuses[0].state.running
        assert not apps.read_namespaced_deployment("stuck", ns).status.available_replicas
    finally:
        sim.clear_faults()
    sim.tick(settle=True)
    wait_until(lambda: apps.read_namespaced_deployment("crashy", ns).status.available_replicas == 1)


def test_watch_does_not_hang(sim, ns):
    t0 = time.time()
    code, body = http(sim, "GET", f"/api/v1/namespaces/{ns}/pods?watch=true&timeoutSeconds=1")
    assert code == 200 and time.time() - t0 < 5
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert events and all(e["type"] == "ADDED" for e in events)


def test_kubeconfig_with_official_loader(sim, tmp_path):
    path = sim.write_kubeconfig(tmp_path / "kubeconfig")
    client = kubernetes.config.new_client_from_config(config_file=str(path))
    assert kubernetes.client.CoreV1Api(client).read_namespace("default").status.phase == "Active"


def test_state_file_roundtrip(tmp_path):
    state = tmp_path / "kube-state.json"
    with KubeSimulator(port=0, pod_start_delay=0, state_file=str(state), system_workloads=False) as s1:
        core = clients(s1.url)[0]
        core.create_namespace({"metadata": {"name": "user-persisted"}})
    assert state.exists()
    with KubeSimulator(port=0, state_file=str(state)) as s2:
        core = clients(s2.url)[0]
        assert core.read_namespace("user-persisted").metadata.name == "user-persisted"


def test_five_thousand_pods(api):
    with KubeSimulator(port=0, pod_start_delay=0, system_workloads=False) as big:
        code, body = http(big, "POST", "/_sim/seed", {"nodes": 50, "pods": 5000})
        assert code == 200 and json.loads(body)["total_pods"] == 5000
        # How fast is bench/cluster.py's business; here only that the whole list comes back.
        code, raw = http(big, "GET", "/api/v1/pods")
        assert code == 200 and len(json.loads(raw)["items"]) == 5000
        core = clients(big.url)[0]
        resp = core.list_pod_for_all_namespaces(_preload_content=False)
        assert len(json.loads(resp.data)["items"]) == 5000
        running = core.list_pod_for_all_namespaces(field_selector="status.phase=Running", limit=500)
        assert len(running.items) == 500 and running.metadata.remaining_item_count == 4500
        assert len(clients(big.url)[0].list_node().items) == 53


def test_follow_logs_stream_new_lines(sim, api, ns):
    core, apps, _, _ = api
    apps.create_namespaced_deployment(ns, deployment_manifest("follower", "follow-1", image="nginx:1.27"))
    sim.tick(settle=True)
    pod = deploy_pods(core, ns, "follow-1")[0].metadata.name
    resp = core.read_namespaced_pod_log(pod, ns, follow=True, timestamps=True, _preload_content=False)
    try:
        seen, deadline = b"", time.time() + 6
        for chunk in resp.stream(256, decode_content=False):
            seen += chunk
            if seen.count(b"HTTP/1.1") >= 1 or time.time() > deadline:
                break  # a periodic access-log line arrived after the start-up lines
        assert b"nginx" in seen and b"HTTP/1.1" in seen
    finally:
        resp.close()


def test_python_client_watch_terminates(sim, api, ns):
    core = api[0]
    w = kubernetes.watch.Watch()
    t0 = time.time()
    events = list(w.stream(core.list_namespaced_pod, ns, timeout_seconds=1))
    assert time.time() - t0 < 5 and events and events[0]["type"] == "ADDED"
    assert events[0]["object"].metadata.namespace == ns


def test_image_pull_and_node_faults(sim, api, ns):
    core, apps, _, _ = api
    sim.set_faults(image_pull_error=["app=pull-me"], node_not_ready=["node-3"])
    try:
        apps.create_namespaced_deployment(ns, deployment_manifest("puller", "pull-1", slug="pull-me"))
        sim.tick(settle=True)
        pod = core.list_namespaced_pod(ns, label_selector="instance=pull-1").items[0]
        assert pod.status.phase == "Pending"
        assert pod.status.container_statuses[0].state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
        with pytest.raises(ApiException) as e:
            core.read_namespaced_pod_log(pod.metadata.name, ns)
        assert e.value.status == 400 and "waiting to start" in status_body(e.value)["message"]
        node = core.read_node("node-3")
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "Unknown"
    finally:
        sim.clear_faults()
    sim.tick(settle=True)
    assert core.list_namespaced_pod(ns, label_selector="instance=pull-1").items[0].status.phase == "Running"
    assert {c.type: c.status for c in core.read_node("node-3").status.conditions}["Ready"] == "True"


def test_admin_endpoints_and_token(tmp_path):
    with KubeSimulator(port=0, pod_start_delay=5, token="s3cret", system_workloads=False,
                       run_controller=False) as s:
        cfg = kubernetes.client.Configuration()
        cfg.host = s.url
        core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(cfg))
        with pytest.raises(ApiException) as e:
            core.list_namespace()
        assert e.value.status == 401
        cfg.api_key = {"authorization": "s3cret"}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(cfg))
        core.create_namespace({"metadata": {"name": "user-admin"}})
        core.create_namespaced_pod("user-admin", {"metadata": {"name": "bare"}, "spec": {"containers": [
            {"name": "c", "image": "busybox"}]}})
        code, body = http(s, "POST", "/_sim/tick", {})
        assert code == 200 and core.read_namespaced_pod("bare", "user-admin").status.phase == "Pending"
        code, body = http(s, "POST", "/_sim/tick", {"settle": True})
        assert code == 200 and json.loads(body)["passes"] >= 1
        assert core.read_namespaced_pod("bare", "user-admin").status.phase == "Running"
        summary = json.loads(http(s, "GET", "/_sim/")[1])
        assert summary["objects"]["Pod"] == 1 and summary["objects"]["Node"] == 3
        code, body = http(s, "POST", "/_sim/reset", {"nodes": 2, "system_workloads": True})
        assert code == 200 and json.loads(body)["objects"]["Node"] == 2
        assert len(core.list_namespaced_pod("kube-system").items) == 3  # coredns, metrics-server, local-path
        with pytest.raises(ApiException):
            core.read_namespace("user-admin")
        assert http(s, "POST", "/_sim/faults", {"bogus": 1})[0] == 400


def test_command_line_entry_point(tmp_path):
    import subprocess
    import sys
    kc = tmp_path / "kc"
    proc = subprocess.Popen([sys.executable, "-m", "simulators.kube", "--port", "0", "--kubeconfig", str(kc)],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        url = re.search(r"(http://\S+)", line).group(1)
        with urllib.request.urlopen(url + "/version", timeout=5) as r:
            assert json.loads(r.read())["gitVersion"].startswith("v1.32")
        assert url in kc.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
