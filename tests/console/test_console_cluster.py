"""Cluster pages of the console: live data with Plotly figures (local plotly.js), a banner when the cluster is
down, instance pages with objects, events and logs, and actions through the cluster services."""
from __future__ import annotations

import re

import pytest

from tests.cluster.fixtures import kube_sim, no_cluster, running_instance  # noqa: F401
from webapp.cluster.models import InstanceStatus as S
from webapp.cluster.models import ServiceInstance
from webapp.extensions import db

from .conftest import csrf_from, flashed_text

PAGES = ["/admin/cluster/nodes/", "/admin/cluster/pods/", "/admin/cluster/deployments/", "/admin/cluster/services/",
         "/admin/cluster/ingresses/", "/admin/cluster/namespaces/", "/admin/cluster/instances/"]
LIVE_PAGES = [p for p in PAGES if not p.endswith("instances/")]


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def instance(app, make, kube_sim):
    return running_instance(app, make, user=make.user(email="owner@example.com"))


def test_pages_need_an_administrator(console, customer):
    for url in PAGES:
        response = console.client.get(url)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], url
    console.force_session(customer)
    for url in PAGES + ["/admin/cluster/instances/live/?id=x"]:
        assert console.client.get(url).status_code == 403, url


@pytest.mark.usefixtures("kube_sim")
def test_every_page_renders_with_data(signed_in, instance):
    for url in PAGES:
        page = text(signed_in.client.get(url))
        assert "data-cluster-banner" not in page, url
    nodes = text(signed_in.client.get("/admin/cluster/nodes/"))
    assert '<script src="/static/vendor/plotly.min.js"' in nodes and "cdn" not in nodes.lower()
    assert nodes.count('class="plotly-graph-div"') == 2 and "node-1" in nodes and "Allocatable" in nodes
    pods = text(signed_in.client.get("/admin/cluster/pods/"))
    assert pods.count('class="plotly-graph-div"') == 3 and "Pods per phase" in pods
    assert f'data-pod="{instance.pod_name}"' in pods and "coredns" in pods
    deployments = text(signed_in.client.get("/admin/cluster/deployments/"))
    assert instance.deployment_name in deployments and "ghost:5-alpine" in deployments
    services = text(signed_in.client.get("/admin/cluster/services/"))
    assert instance.service_name in services and "80→http/TCP" in services
    ingresses = text(signed_in.client.get("/admin/cluster/ingresses/"))
    assert instance.subdomain in ingresses and "owner@example.com" in ingresses
    assert f"/admin/cluster/instances/live/?id={instance.id}" in ingresses
    namespaces = text(signed_in.client.get("/admin/cluster/namespaces/"))
    assert instance.namespace in namespaces and "kube-system" in namespaces


@pytest.mark.usefixtures("kube_sim")
def test_pods_filters_sorting_and_paging(signed_in, instance):
    page = text(signed_in.client.get(f"/admin/cluster/pods/?namespace={instance.namespace}&status=Running"))
    assert re.findall(r'data-pod="([^"]+)"', page) == [instance.pod_name]
    assert text(signed_in.client.get("/admin/cluster/pods/?status=Failed")).count("data-pod=") == 0
    by_name = re.findall(r'data-pod="([^"]+)"', text(signed_in.client.get("/admin/cluster/pods/?sort=name")))
    assert by_name == sorted(by_name)
    desc = re.findall(r'data-pod="([^"]+)"', text(signed_in.client.get("/admin/cluster/pods/?sort=name&desc=1")))
    assert desc == sorted(desc, reverse=True)
    for odd in ("?sort=nope&page=-4", "?page=abc", "?namespace=%00", "?status=" + "x" * 500):
        assert signed_in.client.get("/admin/cluster/pods/" + odd).status_code == 200, odd


def test_banner_when_the_cluster_is_down(signed_in, kube_sim, instance):
    kube_sim.set_faults(down=True)
    for url in LIVE_PAGES:
        page = text(signed_in.client.get(url))
        assert "data-cluster-banner" in page and "The Kubernetes cluster is unreachable" in page, url
    page = text(signed_in.client.get(f"/admin/cluster/instances/live/?id={instance.id}"))
    assert "data-cluster-banner" in page and instance.name in page


def test_banner_when_no_cluster_is_configured(signed_in, no_cluster):
    page = text(signed_in.client.get("/admin/cluster/nodes/"))
    assert "data-cluster-banner" in page


@pytest.mark.usefixtures("kube_sim")
def test_instance_page_shows_objects_events_and_logs(signed_in, instance):
    listing = text(signed_in.client.get("/admin/cluster/instances/"))
    assert instance.name in listing
    page = text(signed_in.client.get(f"/admin/cluster/instances/live/?id={instance.id}"))
    for kind, name in (("Deployment", instance.deployment_name), ("Pod", instance.pod_name),
                       ("Service", instance.service_name), ("Ingress", instance.ingress_name),
                       ("PersistentVolumeClaim", f"{instance.name}-pvc"), ("Secret", f"{instance.name}-secret")):
        assert f'data-object="{kind}/{name}"' in page, kind
    assert "ScalingReplicaSet" in page or "Scheduled" in page  # events of the instance's objects
    logs = re.search(r"<pre[^>]*data-logs>(.*?)</pre>", page, re.S).group(1)
    assert "Ghost" in logs
    assert "owner@example.com" in page
    missing = signed_in.client.get("/admin/cluster/instances/live/?id=nope", follow_redirects=True)
    assert "Service instance not found" in flashed_text(missing)


@pytest.mark.usefixtures("kube_sim")
def test_instance_actions_go_through_the_services(app, signed_in, instance):
    url = f"/admin/cluster/instances/live/?id={instance.id}"
    token = csrf_from(text(signed_in.client.get(url)))
    response = signed_in.client.post("/admin/cluster/instances/live/action/", follow_redirects=True,
                                     data={"csrf_token": token, "id": instance.id, "action": "stop"})
    assert "Stop requested" in flashed_text(response)
    db.session.expire_all()
    assert db.session.get(ServiceInstance, instance.id).status is S.STOPPING
    from webapp.audit.models import AuditEntry

    audit = db.session.query(AuditEntry).filter_by(action="instance.stop", target_id=instance.id).one()
    assert audit.source == "console" and audit.after == {"status": "STOPPING"}
    response = signed_in.client.post("/admin/cluster/instances/live/action/", follow_redirects=True,
                                     data={"csrf_token": token, "id": instance.id, "action": "restart"})
    assert "Can only restart running service instances" in flashed_text(response)
    response = signed_in.client.post("/admin/cluster/instances/live/action/", follow_redirects=True,
                                     data={"id": instance.id, "action": "start"})
    assert response.status_code in (200, 400)
    db.session.expire_all()
    assert db.session.get(ServiceInstance, instance.id).status is S.STOPPING


def test_plotly_is_served_locally(client):
    response = client.get("/static/vendor/plotly.min.js")
    assert response.status_code == 200 and b"plotly.js" in response.data[:200]
    response.close()
