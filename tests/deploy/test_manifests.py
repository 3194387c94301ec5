"""deploy/k8s: what the manifests say (read as YAML) and that a Kubernetes API accepts them — applied to the
simulator with the official client and with the real `kubectl` (`apply -f` per file, then `apply -k`), then read
back: replicas, probes, strategies, the migration Job (run to completion), RBAC objects, the disruption budget."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import kubernetes
import pytest
import yaml
from kubernetes.client.rest import ApiException

from simulators.kube import KubeSimulator

from .support import (K8S_DIR, SECRET_FILE, by_kind, known_settings, kustomization, load_docs, manifest_files,
                      pod_specs, procfile)

NS = "poddesk"
KUBECTL = shutil.which("kubectl")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def docs():
    return load_docs()


def _containers(spec: dict) -> list[dict]:
    return (spec.get("initContainers") or []) + spec["containers"]


# ---------------------------------------------------------------------------------------------- static checks
def test_kustomization_lists_every_manifest_except_the_placeholder_secret():
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization()["resources"]) == on_disk - {SECRET_FILE}
    assert kustomization()["resources"][0] == "namespace.yaml"


def test_every_namespaced_object_lives_in_the_poddesk_namespace(docs):
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for d in docs:
        if d["kind"] not in cluster_scoped:
            assert d["metadata"].get("namespace") == NS, (d["kind"], d["metadata"]["name"])


def test_processes_run_the_procfile_commands(docs):
    deployments = by_kind(docs, "Deployment")
    commands = procfile()
    for process in ("web", "worker", "scheduler"):
        container = deployments[f"poddesk-{process}"]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == commands[process], process
    job = by_kind(docs, "Job")["poddesk-migrate"]["spec"]
    assert job["template"]["spec"]["containers"][0]["command"] == ["flask", "db", "upgrade"]


def test_web_is_replicated_probed_and_hardened(docs):
    web = by_kind(docs, "Deployment")["poddesk-web"]["spec"]
    assert web["replicas"] >= 2 and web["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = web["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/api/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/api/health", "port": "http"}
    assert {"name": "http", "containerPort": 5000} in container["ports"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    pdb = by_kind(docs, "PodDisruptionBudget")["poddesk-web"]["spec"]
    assert pdb["minAvailable"] == 1 and pdb["minAvailable"] < web["replicas"]
    assert pdb["selector"]["matchLabels"] == web["selector"]["matchLabels"]
    service = by_kind(docs, "Service")["poddesk-web"]["spec"]
    assert service["selector"] == web["selector"]["matchLabels"]
    backend = by_kind(docs, "Ingress")["poddesk"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "poddesk-web" and backend["port"]["name"] in {p["name"] for p in service["ports"]}


def test_worker_and_scheduler_shapes(docs):
    deployments = by_kind(docs, "Deployment")
    worker, scheduler = deployments["poddesk-worker"]["spec"], deployments["poddesk-scheduler"]["spec"]
    assert worker["replicas"] == 2
    job_timeout = int(by_kind(docs, "ConfigMap")["poddesk-config"]["data"]["JOB_TIMEOUT"])
    assert worker["template"]["spec"]["terminationGracePeriodSeconds"] > job_timeout  # a running job may finish
    assert scheduler["replicas"] == 1 and scheduler["strategy"] == {"type": "Recreate"}
    job = by_kind(docs, "Job")["poddesk-migrate"]["spec"]
    assert job["backoffLimit"] >= 1 and job["ttlSecondsAfterFinished"] > 0
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_pods_are_non_root_read_only_and_only_api_callers_get_a_token(docs):
    sa = by_kind(docs, "ServiceAccount")["poddesk"]
    assert sa["automountServiceAccountToken"] is False
    for name, spec in pod_specs(docs).items():
        assert spec["serviceAccountName"] == "poddesk", name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for c in _containers(spec):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (name, c["name"])
            tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
            assert "emptyDir" in volumes[tmp["name"]], (name, c["name"])
            assert c["image"] == "registry.example.com/poddesk:0.1.0", (name, c["name"])
    # Only the processes that call the Kubernetes API mount the token.
    mounted = {n for n, s in pod_specs(docs).items() if s.get("automountServiceAccountToken")}
    assert mounted == {"Deployment/poddesk-web", "Deployment/poddesk-worker"}
    images = kustomization()["images"]
    assert [i["name"] for i in images] == ["registry.example.com/poddesk"]


def test_pods_wait_for_the_migration_before_starting(docs):
    for name, spec in pod_specs(docs).items():
        if name.startswith("Deployment/"):
            init = spec["initContainers"][0]
            assert init["name"] == "wait-for-migrations" and "flask db current" in init["command"][-1], name
            assert "(head)" in init["command"][-1], name


def test_settings_are_known_and_secrets_are_placeholders(docs):
    config = by_kind(docs, "ConfigMap")["poddesk-config"]["data"]
    secret = by_kind(docs, "Secret")["poddesk-secrets"]
    known = known_settings()
    assert set(config) <= known, set(config) - known
    assert set(secret["stringData"]) <= known, set(secret["stringData"]) - known
    assert config["PODDESK_ENV"] == "production" and config["KUBE_IN_CLUSTER"] == "true"
    assert config["BILLING_TIMEZONE"] == "Asia/Jakarta" and config["APPS_DOMAIN"]
    assert "MIDTRANS_API_BASE_URL" not in config and "KUBE_API_URL" not in config  # simulator-only settings
    assert {"SECRET_KEY", "JWT_SECRET", "DATABASE_URL", "REDIS_URL", "MIDTRANS_SERVER_KEY"} <= set(secret["stringData"])
    assert "data" not in secret and all("change-me" in v for v in secret["stringData"].values())
    assert not set(config) & set(secret["stringData"])
    for key in config:
        assert not any(word in key for word in ("SECRET", "PASSWORD", "_KEY", "TOKEN")), key
    # Every workload reads exactly these two sources.
    for name, spec in pod_specs(docs).items():
        for c in _containers(spec):
            assert c["envFrom"] == [{"configMapRef": {"name": "poddesk-config"}},
                                    {"secretRef": {"name": "poddesk-secrets"}}], (name, c["name"])


# ---------------------------------------------------------------------------------------------- applied
@pytest.fixture(scope="module")
def sim():
    with KubeSimulator(port=0, pod_start_delay=0.1, nodes=2, interval=0.05) as s:
        yield s


def _client(sim) -> kubernetes.client.ApiClient:
    cfg = kubernetes.client.Configuration()
    cfg.host = sim.url
    return kubernetes.client.ApiClient(cfg)


def _read_back(api: kubernetes.client.ApiClient) -> None:
    apps, core = kubernetes.client.AppsV1Api(api), kubernetes.client.CoreV1Api(api)
    web = apps.read_namespaced_deployment("poddesk-web", NS)
    assert web.spec.replicas >= 2
    probes = web.spec.template.spec.containers[0]
    assert probes.readiness_probe.http_get.path == "/api/health/ready"
    assert probes.liveness_probe.http_get.path == "/api/health"
    scheduler = apps.read_namespaced_deployment("poddesk-scheduler", NS)
    assert scheduler.spec.replicas == 1 and scheduler.spec.strategy.type == "Recreate"
    assert apps.read_namespaced_deployment("poddesk-worker", NS).spec.replicas == 2
    job = kubernetes.client.BatchV1Api(api).read_namespaced_job("poddesk-migrate", NS)
    assert job.spec.backoff_limit == 3 and job.spec.template.spec.restart_policy == "Never"
    rbac = kubernetes.client.RbacAuthorizationV1Api(api)
    for name in ("poddesk-instances", "poddesk-cluster"):
        assert rbac.read_cluster_role(name).rules
        binding = rbac.read_cluster_role_binding(name)
        assert binding.role_ref.name == name
        assert [(s.kind, s.namespace, s.name) for s in binding.subjects] == [("ServiceAccount", NS, "poddesk")]
    assert core.read_namespaced_service_account("poddesk", NS).automount_service_account_token is False
    assert core.read_namespaced_config_map("poddesk-config", NS).data["PODDESK_ENV"] == "production"
    assert kubernetes.client.PolicyV1Api(api).read_namespaced_pod_disruption_budget("poddesk-web", NS)


def test_apply_with_the_official_client(sim, docs):
    """`kubernetes.utils.create_from_yaml` (one typed call per object), then the controllers run: the migration
    Job completes, both web pods are ready and the budget allows one disruption."""
    sim.reset()
    api = _client(sim)
    created = kubernetes.utils.create_from_yaml(api, yaml_objects=docs)
    assert len(created) == len(docs)
    _read_back(api)
    batch = kubernetes.client.BatchV1Api(api)
    # The simulator's background controller runs too: settle until the Job has caught up with its pod.
    deadline = time.monotonic() + 10
    while True:
        sim.tick(settle=True)
        job = batch.read_namespaced_job("poddesk-migrate", NS)
        if job.status.succeeded or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert job.status.succeeded == 1 and {c.type for c in job.status.conditions} >= {"Complete"}
    assert job.status.completion_time is not None
    web = kubernetes.client.AppsV1Api(api).read_namespaced_deployment_status("poddesk-web", NS)
    assert web.status.ready_replicas == 2
    pdb = kubernetes.client.PolicyV1Api(api).read_namespaced_pod_disruption_budget("poddesk-web", NS)
    assert (pdb.status.current_healthy, pdb.status.desired_healthy, pdb.status.disruptions_allowed) == (2, 1, 1)
    # Creating them again is refused object by object (what `kubectl apply` turns into updates).
    with pytest.raises(kubernetes.utils.FailToCreateError) as exc:
        kubernetes.utils.create_from_yaml(api, yaml_objects=docs[:2])
    assert all(isinstance(e, ApiException) and e.status == 409 for e in exc.value.api_exceptions)


# ---------------------------------------------------------------------------------------------- kubectl
def _kubectl_or_skip():
    if KUBECTL is None:
        if IN_CI:
            raise RuntimeError("kubectl is required in CI (CI=true) but was not found on PATH")
        pytest.skip("kubectl is not installed (shutil.which('kubectl') is None)")


@pytest.fixture
def kubectl(sim, tmp_path):
    _kubectl_or_skip()
    config = sim.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}

    def run(*args, check=True):
        proc = subprocess.run([KUBECTL, "--kubeconfig", str(config), *args], capture_output=True, text=True,
                              timeout=60, env=env)
        if check:
            assert proc.returncode == 0, f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
        return proc
    return run


def test_apply_with_kubectl(sim, kubectl, tmp_path):
    sim.reset()
    args = ["apply"]
    for path in manifest_files():
        args += ["-f", str(path)]
    out = kubectl(*args).stdout
    assert out.count(" created") == len(load_docs()), out
    # The README's command: everything already there is unchanged (the Secret is not part of it).
    out = kubectl("apply", "-k", str(K8S_DIR)).stdout
    lines = out.strip().splitlines()
    assert len(lines) == len(load_docs(manifest_files(with_secret=False))), out
    assert all(line.endswith((" unchanged", " configured")) for line in lines), out
    assert not any("secret/" in line for line in lines)
    _read_back(_client(sim))
    kubectl("wait", "--for=condition=complete", "job/poddesk-migrate", "-n", NS, "--timeout=20s")
    kubectl("rollout", "status", "deployment/poddesk-web", "-n", NS, "--timeout=20s")
    listed = json.loads(kubectl("get", "deploy,job,pdb,sa,cm,svc,ing,pvc,netpol", "-n", NS, "-o", "json").stdout)
    kinds = {(i["kind"], i["metadata"]["name"]) for i in listed["items"]}
    assert {("Deployment", "poddesk-web"), ("Deployment", "poddesk-worker"), ("Deployment", "poddesk-scheduler"),
            ("Job", "poddesk-migrate"), ("PodDisruptionBudget", "poddesk-web"), ("ServiceAccount", "poddesk"),
            ("ConfigMap", "poddesk-config"), ("Service", "poddesk-web"), ("Ingress", "poddesk"),
            ("PersistentVolumeClaim", "poddesk-uploads"), ("NetworkPolicy", "poddesk-web")} <= kinds
    roles = kubectl("get", "clusterroles,clusterrolebindings", "-o", "name").stdout.split()
    assert {"clusterrole.rbac.authorization.k8s.io/poddesk-instances",
            "clusterrolebinding.rbac.authorization.k8s.io/poddesk-cluster"} <= set(roles)


def test_a_new_release_needs_a_new_migration_job(sim, kubectl, tmp_path):
    """A Job's pod template is immutable: applying a new image tag over the finished Job is refused (hence the
    README's `kubectl delete job` before an upgrade); after the delete the new Job is created and runs."""
    sim.reset()
    kubectl("apply", "-f", str(K8S_DIR / "namespace.yaml"), "-f", str(K8S_DIR / "migrate-job.yaml"))
    job = yaml.safe_load((K8S_DIR / "migrate-job.yaml").read_text())
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/poddesk:0.2.0"
    upgraded = tmp_path / "migrate-job.yaml"
    upgraded.write_text(yaml.safe_dump(job))
    proc = kubectl("apply", "-f", str(upgraded), check=False)
    assert proc.returncode != 0 and "field is immutable" in proc.stderr, proc.stderr
    kubectl("delete", "job", "poddesk-migrate", "-n", NS)
    assert "created" in kubectl("apply", "-f", str(upgraded)).stdout
    kubectl("wait", "--for=condition=complete", "job/poddesk-migrate", "-n", NS, "--timeout=20s")
