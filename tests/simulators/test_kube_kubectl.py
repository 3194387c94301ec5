"""The Kubernetes simulator driven by the real `kubectl` binary through a generated kubeconfig."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from simulators.kube import KubeSimulator
from tests.simulators.kube_conftest_helpers import (clients, deployment_manifest, ingress_manifest, service_manifest,
                                                    wait_until)

KUBECTL = shutil.which("kubectl")
IN_CI = os.environ.get("CI", "").lower() == "true"
NS = "user-kubectl1"
NAME = "ghost-blog-kctl01-m3x9k2"

if KUBECTL is None:
    if IN_CI:
        # In CI the binary is part of the toolchain: missing kubectl is a failure, never a skip.
        raise RuntimeError("kubectl is required in CI (CI=true) but was not found on PATH")
    pytest.skip("kubectl is not installed (shutil.which('kubectl') is None); install it to run these tests",
                allow_module_level=True)


@pytest.fixture(scope="module")
def sim():
    with KubeSimulator(port=0, pod_start_delay=0.2, nodes=3) as s:
        yield s


@pytest.fixture(scope="module")
def kubeconfig(sim, tmp_path_factory):
    return sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")


@pytest.fixture(scope="module")
def workload(sim):
    core, apps, net, _ = clients(sim.url)
    core.create_namespace({"metadata": {"name": NS}})
    apps.create_namespaced_deployment(NS, deployment_manifest(NAME, "kctl-1"))
    core.create_namespaced_service(NS, service_manifest(NAME, "kctl-1"))
    net.create_namespaced_ingress(NS, ingress_manifest(NAME, "kctl-1", "ghostblog-kctl01.minispod.com"))
    sim.tick(settle=True)
    return core, apps


def kubectl(kubeconfig, *args, check=True):
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": os.path.dirname(str(kubeconfig))}
    proc = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          timeout=30, env=env)
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return proc


def test_get_pods_all_namespaces(kubeconfig, workload):
    out = kubectl(kubeconfig, "get", "pods", "-A").stdout
    assert out.splitlines()[0].split()[:4] == ["NAMESPACE", "NAME", "READY", "STATUS"]
    row = next(line for line in out.splitlines() if line.startswith(NS))
    assert NAME in row and "Running" in row and "1/1" in row
    assert "kube-system" in out


def test_get_json(kubeconfig, workload):
    doc = json.loads(kubectl(kubeconfig, "get", "deploy,svc,ingress", "-n", NS, "-o", "json").stdout)
    kinds = {(i["kind"], i["metadata"]["name"]) for i in doc["items"]}
    assert {("Deployment", NAME), ("Service", f"{NAME}-svc"), ("Ingress", f"{NAME}-ingress")} <= kinds
    dep = next(i for i in doc["items"] if i["kind"] == "Deployment")
    assert dep["status"]["readyReplicas"] == 1


def test_describe_deployment(kubeconfig, workload):
    out = kubectl(kubeconfig, "describe", "deployment", NAME, "-n", NS).stdout
    assert f"Name:                   {NAME}" in out
    assert "1 desired | 1 updated | 1 total | 1 available | 0 unavailable" in out
    assert "NewReplicaSet:" in out and "ScalingReplicaSet" in out


def test_scale_to_zero(sim, kubeconfig, workload):
    core, apps = workload
    out = kubectl(kubeconfig, "scale", f"deployment/{NAME}", "--replicas=0", "-n", NS).stdout
    assert "scaled" in out
    sim.tick(settle=True)
    assert apps.read_namespaced_deployment(NAME, NS).spec.replicas == 0
    assert core.list_namespaced_pod(NS, label_selector="instance=kctl-1").items == []
    kubectl(kubeconfig, "scale", f"deployment/{NAME}", "--replicas=1", "-n", NS)
    sim.tick(settle=True)
    assert len(core.list_namespaced_pod(NS, label_selector="instance=kctl-1").items) == 1


def test_rollout_restart(sim, kubeconfig, workload):
    core, apps = workload
    before = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="instance=kctl-1").items}
    out = kubectl(kubeconfig, "rollout", "restart", f"deployment/{NAME}", "-n", NS).stdout
    assert "restarted" in out
    tmpl = apps.read_namespaced_deployment(NAME, NS).spec.template
    assert "kubectl.kubernetes.io/restartedAt" in tmpl.metadata.annotations
    sim.tick(settle=True)
    after = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="instance=kctl-1").items}
    assert len(after) == 1 and not (after & before)


def test_logs_tail(kubeconfig, workload):
    core, _ = workload
    pod = wait_until(lambda: [p for p in core.list_namespaced_pod(NS, label_selector="instance=kctl-1").items
                              if p.status.phase == "Running"])[0].metadata.name
    wait_until(lambda: len(kubectl(kubeconfig, "logs", pod, "--tail=5", "-n", NS).stdout.splitlines()) == 5)
    out = kubectl(kubeconfig, "logs", pod, "--tail=5", "-n", NS).stdout
    assert len(out.splitlines()) == 5


def test_top_pods(kubeconfig, workload):
    out = kubectl(kubeconfig, "top", "pods", "-n", NS).stdout
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert any(r.startswith(NAME) and r.split()[1].endswith("m") and r.split()[2].endswith("Mi") for r in rows)


def test_errors_reach_kubectl(kubeconfig, workload):
    proc = kubectl(kubeconfig, "get", "deployment", "nope", "-n", NS, check=False)
    assert proc.returncode == 1 and 'deployments.apps "nope" not found' in proc.stderr
