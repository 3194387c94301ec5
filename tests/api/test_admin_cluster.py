"""Admin health (H1-H4) and Kubernetes monitoring (K1-K8) routes, against the simulator."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from tests.cluster.fixtures import ghost_plan, kube_sim, new_instance, running_instance  # noqa: F401
from tests.conftest import assert_envelope
from webapp.cluster.models import InstanceStatus as S
from webapp.cluster.models import ServiceInstance
from webapp.db import utcnow
from webapp.extensions import db

pytestmark = pytest.mark.usefixtures("kube_sim")

K8S_ROUTES = ["/api/admin/k8s/nodes", "/api/admin/k8s/nodes/node-1", "/api/admin/k8s/namespaces",
              "/api/admin/k8s/deployments", "/api/admin/k8s/pods", "/api/admin/k8s/ingresses",
              "/api/admin/k8s/services", "/api/admin/k8s/logs?namespace=kube-system&pod=x"]
ALL_ADMIN = K8S_ROUTES + ["/api/admin/health/summary", "/api/admin/health/stats",
                          "/api/admin/health/instances/cabc"]


def calls(sim, fn):
    before = sim.api.requests
    result = fn()
    return result, sim.api.requests - before


@pytest.mark.parametrize("path", ALL_ADMIN)
def test_customers_and_anonymous_are_refused(api, customer, path):
    assert_envelope(api.get(path), 401, "Access token is required")
    assert_envelope(api.get(path, as_user=customer), 403, "Access denied. Insufficient permissions.")


def test_nodes(api, admin, kube_sim):
    (r, n) = calls(kube_sim, lambda: api.get("/api/admin/k8s/nodes", as_user=admin))
    data = assert_envelope(r, 200, "Kubernetes nodes retrieved successfully")["data"]
    assert n == 3  # probe + node list + one node-metrics list, whatever the number of nodes
    assert data["total"] == len(data["nodes"]) >= 3
    node = next(x for x in data["nodes"] if x["name"] == "node-1")
    assert node["status"] == "Ready" and node["version"].startswith("v1.") and node["capacity"]["cpu"] == "4"
    usage = node["metrics"]["usage"]
    assert usage["cpu"]["millicores"] > 0 and usage["cpu"]["raw"].endswith("n")
    assert usage["memory"]["bytes"] > 0 and usage["memory"]["megabytes"] > 0
    detail = assert_envelope(api.get("/api/admin/k8s/nodes/node-1", as_user=admin), 200,
                             "Node 'node-1' retrieved successfully")["data"]["node"]
    assert detail["architecture"] == "amd64" and detail["taints"] == [] and detail["metrics"]["usage"]["cpu"]
    assert_envelope(api.get("/api/admin/k8s/nodes/non-existent-node", as_user=admin), 404,
                    "Node 'non-existent-node' not found")


def test_workload_lists_include_an_instance(app, api, admin, make, kube_sim):
    instance = running_instance(app, make)
    (r, n) = calls(kube_sim, lambda: api.get("/api/admin/k8s/pods", as_user=admin))
    pods = assert_envelope(r, 200, "Kubernetes pods retrieved successfully")["data"]["pods"]
    assert n == 3  # probe + one pod list + one metrics list (no per-pod round trips)
    pod = next(p for p in pods if p["name"] == instance.pod_name)
    assert pod["namespace"] == instance.namespace and pod["status"] == "Running" and pod["restarts"] == 0
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert 0 < container["usage"]["cpu"]["millicores"] <= 500 and pod["metricsWindow"]

    scoped = api.get(f"/api/admin/k8s/pods?namespace={instance.namespace}", as_user=admin).get_json()["data"]
    assert [p["name"] for p in scoped["pods"]] == [instance.pod_name]
    assert api.get("/api/admin/k8s/pods?limit=1", as_user=admin).get_json()["data"]["total"] == 1

    deps = assert_envelope(api.get("/api/admin/k8s/deployments", as_user=admin), 200,
                           "Kubernetes deployments retrieved successfully")["data"]["deployments"]
    dep = next(d for d in deps if d["name"] == instance.deployment_name)
    assert dep["readyReplicas"] == 1 and dep["images"] == ["ghost:5-alpine"]
    assert dep["containers"][0]["volumeMounts"][0]["mountPath"] == "/var/lib/ghost/content"

    ings = assert_envelope(api.get("/api/admin/k8s/ingresses", as_user=admin), 200,
                           "Kubernetes ingresses retrieved successfully")["data"]["ingresses"]
    ing = next(i for i in ings if i["name"] == instance.ingress_name)
    assert ing["className"] == "nginx" and ing["hosts"] == [instance.subdomain]
    assert ing["tls"] == [{"hosts": [instance.subdomain], "secretName": f"{instance.name}-tls"}]
    assert ing["paths"] == [{"path": "/", "pathType": "Prefix", "serviceName": instance.service_name,
                             "servicePort": 80}]

    svcs = assert_envelope(api.get("/api/admin/k8s/services", as_user=admin), 200,
                           "Kubernetes services retrieved successfully")["data"]["services"]
    svc = next(s for s in svcs if s["name"] == instance.service_name)
    assert svc["type"] == "ClusterIP" and svc["clusterIP"] and svc["endpoints"] is None
    assert svc["ports"][0]["port"] == 80 and svc["sessionAffinity"] == "None"

    nss = assert_envelope(api.get("/api/admin/k8s/namespaces", as_user=admin), 200,
                          "Kubernetes namespaces retrieved successfully")["data"]["namespaces"]
    assert {"kube-system", instance.namespace} <= {n["name"] for n in nss}


@pytest.mark.parametrize("query, message", [("namespace=Bad_NS", "Namespace must be a valid Kubernetes namespace name"),
                                            ("limit=0", "Limit must be at least 1"),
                                            ("limit=99999", "Limit cannot exceed 10000"),
                                            ("other=1", '"other" is not allowed')])
def test_list_bad_query(api, admin, query, message):
    assert_envelope(api.get(f"/api/admin/k8s/pods?{query}", as_user=admin), 400, message)


def test_pod_logs(app, api, admin, make):
    instance = running_instance(app, make)
    base = f"/api/admin/k8s/logs?namespace={instance.namespace}&pod={instance.pod_name}"
    data = assert_envelope(api.get(base + "&tailLines=2", as_user=admin), 200, "Pod logs retrieved successfully")["data"]
    assert data["container"] == "ghost-blog" and 1 <= len(data["logs"]) <= 2
    assert_envelope(api.get(base + "&container=nope", as_user=admin), 404,
                    f"Container 'nope' not found in pod '{instance.pod_name}'")
    assert_envelope(api.get(f"/api/admin/k8s/logs?namespace={instance.namespace}&pod=gone-pod", as_user=admin), 404,
                    f"Pod 'gone-pod' not found in namespace '{instance.namespace}'")
    assert_envelope(api.get(base + "&tailLines=100000", as_user=admin), 400, "tailLines cannot exceed 5000")
    assert_envelope(api.get("/api/admin/k8s/logs?pod=x", as_user=admin), 400, "Namespace is required")
    assert_envelope(api.get(f"/api/admin/k8s/logs?namespace={instance.namespace}&pod=../x", as_user=admin), 400,
                    "Pod name must be a valid Kubernetes name")


@pytest.mark.parametrize("path", K8S_ROUTES)
def test_cluster_down_is_503(api, admin, kube_sim, path):
    kube_sim.set_faults(down=True)
    assert_envelope(api.get(path, as_user=admin), 503, "Kubernetes cluster not accessible")


# ------------------------------------------------------------------------------------------------ health
def test_health_check_summary_and_stats(app, api, admin, make, kube_sim):
    plan = ghost_plan(make)
    instance = running_instance(app, make, plan=plan)
    pending = new_instance(make, plan=plan)
    body = assert_envelope(api.post("/api/admin/health/check", as_user=admin), 200,
                           "Health check completed successfully")["data"]
    assert body["success"] is True and body["instancesChecked"] >= 1
    result = next(r for r in body["results"] if r["instanceId"] == instance.id)
    assert result["isHealthy"] is True and result["deployment"]["isReady"] and result["pods"][0]["isReady"]
    assert result["metrics"]["totalPods"] == 1
    db.session.expire_all()
    stored = db.session.get(ServiceInstance, instance.id)
    assert stored.health_status == "Healthy" and stored.cpu_usage is not None

    summary = assert_envelope(api.get("/api/admin/health/summary", as_user=admin), 200,
                              "Health summary retrieved successfully")["data"]
    assert summary["statusCounts"]["RUNNING"] >= 1 and summary["statusCounts"].get("PENDING", 0) >= 1
    assert summary["healthyInstances"] >= 1 and summary["totalInstances"] >= 2

    # "Healthy - Restarted" counts as healthy (fix 27); averages are numbers (fix 27)
    db.session.execute(update(ServiceInstance).where(ServiceInstance.id == instance.id).values(
        health_status="Healthy - Restarted", cpu_usage=Decimal("10.5"), memory_usage=Decimal("100"),
        last_health_check=utcnow()))
    db.session.execute(update(ServiceInstance).where(ServiceInstance.id == pending.id).values(
        health_status="Unhealthy: Deployment not ready", cpu_usage=Decimal("20.5"), memory_usage=Decimal("300"),
        last_health_check=utcnow() - timedelta(hours=3)))
    db.session.commit()
    stats = assert_envelope(api.get("/api/admin/health/stats?timeRange=6h", as_user=admin), 200,
                            "Health statistics retrieved successfully")["data"]
    assert (stats["totalInstances"], stats["healthyInstances"], stats["unhealthyInstances"]) == (2, 1, 1)
    assert stats["healthPercentage"] == 50.0
    assert stats["resourceStats"]["cpu"] == {"average": 15.5, "max": 20.5, "min": 10.5}
    assert stats["serviceStats"]["Ghost Blog"] == {"total": 2, "healthy": 1, "unhealthy": 1}
    one_hour = api.get("/api/admin/health/stats?timeRange=1h", as_user=admin).get_json()["data"]
    assert one_hour["totalInstances"] == 1
    assert_envelope(api.get("/api/admin/health/stats?timeRange=invalid", as_user=admin), 400,
                    "Time range must be one of: 1h, 6h, 24h, 7d")


def test_instance_health(app, api, admin, make, kube_sim):
    instance = running_instance(app, make)
    data = assert_envelope(api.get(f"/api/admin/health/instances/{instance.id}", as_user=admin), 200,
                           "Instance health status retrieved successfully")["data"]
    assert data["isHealthy"] is True and data["healthStatus"] == "Healthy" and data["errors"] == []
    assert_envelope(api.get("/api/admin/health/instances/non-existent-instance-id", as_user=admin), 404,
                    "Service instance not found")
    kube_sim.set_faults(down=True)
    assert_envelope(api.get(f"/api/admin/health/instances/{instance.id}", as_user=admin), 503,
                    "Kubernetes cluster not available for health checks")
    before = db.session.get(ServiceInstance, instance.id).last_health_check
    assert_envelope(api.post("/api/admin/health/check", as_user=admin), 503,
                    "Kubernetes cluster not available for health checks")
    db.session.expire_all()
    assert db.session.get(ServiceInstance, instance.id).last_health_check == before
    assert db.session.get(ServiceInstance, instance.id).status is S.RUNNING
