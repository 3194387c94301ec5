"""Simulator additions for deployment manifests: batch/v1 Jobs (run to completion, failure limits, TTL),
rbac.authorization.k8s.io/v1 and policy/v1 objects with their validation and status, their discovery documents,
and the request log (authorization attributes of every API request)."""
from __future__ import annotations

import json
import time
import urllib.request

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from simulators.kube import KubeSimulator

NS = "ops"


@pytest.fixture(scope="module")
def sim():
    with KubeSimulator(port=0, pod_start_delay=0.2, nodes=2, interval=0.05) as s:
        kubernetes.client.CoreV1Api(_api(s)).create_namespace({"metadata": {"name": NS}})
        yield s


def _api(sim) -> kubernetes.client.ApiClient:
    cfg = kubernetes.client.Configuration()
    cfg.host = sim.url
    return kubernetes.client.ApiClient(cfg)


def _get(sim, path):
    with urllib.request.urlopen(sim.url + path, timeout=10) as r:
        return json.loads(r.read())


def job_body(name: str, **spec) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": "busybox:1.36", "command": ["true"]}]}}, **spec}}


def test_discovery_lists_the_new_groups(sim):
    groups = {g["name"]: g["preferredVersion"]["groupVersion"] for g in _get(sim, "/apis")["groups"]}
    assert groups["batch"] == "batch/v1" and groups["policy"] == "policy/v1"
    assert groups["rbac.authorization.k8s.io"] == "rbac.authorization.k8s.io/v1"
    batch = {r["name"]: r for r in _get(sim, "/apis/batch/v1")["resources"]}
    assert batch["jobs"]["namespaced"] and "jobs/status" in batch
    rbac = {r["name"]: r["namespaced"] for r in _get(sim, "/apis/rbac.authorization.k8s.io/v1")["resources"]}
    assert rbac == {"roles": True, "rolebindings": True, "clusterroles": False, "clusterrolebindings": False}
    policy = {r["name"]: r for r in _get(sim, "/apis/policy/v1")["resources"]}
    assert policy["poddisruptionbudgets"]["shortNames"] == ["pdb"]
    core = {r["name"] for r in _get(sim, "/api/v1")["resources"]}
    assert {"serviceaccounts", "configmaps"} <= core


def test_job_runs_to_completion_and_its_pod_completes(sim):
    api = _api(sim)
    batch, core = kubernetes.client.BatchV1Api(api), kubernetes.client.CoreV1Api(api)
    job = batch.create_namespaced_job(NS, job_body("migrate", backoffLimit=2))
    uid = job.metadata.uid
    # Defaults and the generated selector, as the API server's Job strategy sets them.
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    labels = job.spec.template.metadata.labels
    assert labels["batch.kubernetes.io/job-name"] == "migrate" and labels["controller-uid"] == uid
    assert (job.spec.parallelism, job.spec.completions, job.spec.backoff_limit) == (1, 1, 2)
    sim.tick(settle=True)
    job = batch.read_namespaced_job("migrate", NS)
    assert job.status.succeeded == 1 and not job.status.active and job.status.completion_time
    assert [c.type for c in job.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    pods = core.list_namespaced_pod(NS, label_selector="job-name=migrate").items
    assert len(pods) == 1 and pods[0].status.phase == "Succeeded"
    terminated = pods[0].status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert pods[0].metadata.owner_references[0].kind == "Job"
    # The template is immutable; deleting the Job takes its pods with it.
    with pytest.raises(ApiException) as exc:
        batch.patch_namespaced_job("migrate", NS, {"spec": {"template": {"spec": {"containers": [
            {"name": "main", "image": "busybox:1.37"}]}}}})
    assert exc.value.status == 422 and "field is immutable" in json.loads(exc.value.body)["message"]
    batch.delete_namespaced_job("migrate", NS, propagation_policy="Background")
    assert core.list_namespaced_pod(NS, label_selector="job-name=migrate").items == []


def test_job_validation_and_failure_and_ttl(sim):
    api = _api(sim)
    batch = kubernetes.client.BatchV1Api(api)
    bad = job_body("always")
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    with pytest.raises(ApiException) as exc:
        batch.create_namespaced_job(NS, bad)
    assert exc.value.status == 422 and "spec.template.spec.restartPolicy" in exc.value.body
    # A pod that never runs (image pull fault) hits activeDeadlineSeconds: Failed, its pods are removed.
    sim.set_faults(image_pull_error=["job-name=stuck"])
    try:
        batch.create_namespaced_job(NS, job_body("stuck", activeDeadlineSeconds=1))
        time.sleep(1.2)
        sim.tick(settle=True)
        status = batch.read_namespaced_job("stuck", NS).status
        assert {c.type: c.reason for c in status.conditions}["Failed"] == "DeadlineExceeded"
    finally:
        sim.clear_faults()
    # ttlSecondsAfterFinished: 0 deletes the Job as soon as it has finished.
    batch.create_namespaced_job(NS, job_body("short-lived", ttlSecondsAfterFinished=0))
    sim.tick(settle=True)
    sim.tick(settle=True)
    with pytest.raises(ApiException) as exc:
        batch.read_namespaced_job("short-lived", NS)
    assert exc.value.status == 404


def test_rbac_objects_are_validated(sim):
    rbac = kubernetes.client.RbacAuthorizationV1Api(_api(sim))
    role = rbac.create_cluster_role({"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]})
    assert role.rules[0].resources == ["pods", "pods/log"]
    with pytest.raises(ApiException) as exc:
        rbac.create_namespaced_role(NS, {"metadata": {"name": "bad"}, "rules": [{"apiGroups": [""],
                                                                                  "resources": ["pods"], "verbs": []}]})
    assert exc.value.status == 422 and "rules[0].verbs" in exc.value.body
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"}
    with pytest.raises(ApiException) as exc:
        rbac.create_cluster_role_binding({"metadata": {"name": "no-ns"}, "roleRef": ref,
                                          "subjects": [{"kind": "ServiceAccount", "name": "app"}]})
    assert exc.value.status == 422 and "subjects[0].namespace: Required value" in exc.value.body
    binding = rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "app"}, "roleRef": ref, "subjects": [
        {"kind": "ServiceAccount", "name": "app", "namespace": NS}]})
    assert binding.role_ref.name == "reader"
    with pytest.raises(ApiException) as exc:
        rbac.patch_namespaced_role_binding("app", NS, {"roleRef": {**ref, "name": "other"}})
    assert exc.value.status == 422 and "cannot change roleRef" in exc.value.body


def test_pod_disruption_budget_status(sim):
    api = _api(sim)
    apps, policy = kubernetes.client.AppsV1Api(api), kubernetes.client.PolicyV1Api(api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(NS, {"metadata": {"name": "web"}, "spec": {
        "replicas": 3, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
    with pytest.raises(ApiException) as exc:
        policy.create_namespaced_pod_disruption_budget(NS, {"metadata": {"name": "both"}, "spec": {
            "minAvailable": 1, "maxUnavailable": 1, "selector": {"matchLabels": labels}}})
    assert exc.value.status == 422
    policy.create_namespaced_pod_disruption_budget(NS, {"metadata": {"name": "web"}, "spec": {
        "minAvailable": "50%", "selector": {"matchLabels": labels}}})
    sim.tick(settle=True)
    status = policy.read_namespaced_pod_disruption_budget("web", NS).status
    assert (status.expected_pods, status.current_healthy, status.desired_healthy, status.disruptions_allowed) == \
        (3, 3, 2, 1)


def test_request_log_records_authorization_attributes(sim):
    api = _api(sim)
    sim.clear_requests()
    kubernetes.client.CoreV1Api(api).list_pod_for_all_namespaces()
    kubernetes.client.AppsV1Api(api).patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 1}})
    kubernetes.client.CoreV1Api(api).delete_collection_namespaced_secret(NS, label_selector="x=y")
    with pytest.raises(ApiException):
        kubernetes.client.BatchV1Api(api).read_namespaced_job("nope", NS)
    kubernetes.client.VersionApi(api).get_code()
    seen = [(r.get("verb"), r.get("apiGroup"), r.get("resource"), r.get("subresource"), r.get("namespace"),
             r.get("name"), r.get("nonResourceURL")) for r in sim.requests_seen()]
    assert seen == [("list", "", "pods", "", "", "", None),
                    ("patch", "apps", "deployments", "scale", NS, "web", None),
                    ("deletecollection", "", "secrets", "", NS, "", None),
                    ("get", "batch", "jobs", "", NS, "nope", None),  # recorded even when the answer is 404
                    ("get", None, None, None, None, None, "/version")]
    assert _get(sim, "/_sim/requests")["items"][0]["resource"] == "pods"
    req = urllib.request.Request(sim.url + "/_sim/requests", method="DELETE")
    urllib.request.urlopen(req, timeout=10).read()
    assert sim.requests_seen() == []
