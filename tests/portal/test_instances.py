"""My instances: status, URL, restart/stop/start, last log lines; a down cluster; isolation."""
from tests.cluster.fixtures import kube_sim, no_cluster, new_instance, run_jobs, running_instance  # noqa: F401
from webapp.cluster.models import InstanceStatus, ServiceInstance
from webapp.extensions import db

from .conftest import text


def _status(instance_id) -> InstanceStatus:
    db.session.expire_all()
    return db.session.get(ServiceInstance, instance_id).status


def test_running_instance_page_shows_url_buttons_and_logs_then_stop_and_start(app, signed_in, customer, make,
                                                                                kube_sim):
    instance = running_instance(app, make, user=customer)
    listing = signed_in.get("/portal/instances")
    assert listing.status_code == 200 and instance.public_url in text(listing)
    page = signed_in.get(f"/portal/instances/{instance.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="instance-status">RUNNING' in html and instance.public_url in html
    assert ">Restart</button>" in html and ">Stop</button>" in html and ">Start</button>" not in html
    assert 'id="logs"' in html or "No log lines yet." in html
    assert signed_in.client.post(f"/portal/instances/{instance.id}/stop").status_code == 400  # no CSRF
    assert _status(instance.id) is InstanceStatus.RUNNING
    stop = signed_in.post(f"/portal/instances/{instance.id}/stop", {}, page=f"/portal/instances/{instance.id}")
    assert stop.status_code == 303 and _status(instance.id) is InstanceStatus.STOPPING
    run_jobs(app)
    assert _status(instance.id) is InstanceStatus.STOPPED
    assert ">Start</button>" in signed_in.get(f"/portal/instances/{instance.id}").get_data(as_text=True)
    start = signed_in.post(f"/portal/instances/{instance.id}/start", {})
    assert start.status_code == 303 and _status(instance.id) is InstanceStatus.STARTING
    again = signed_in.post(f"/portal/instances/{instance.id}/start", {})  # not STOPPED any more: refused, shown
    assert again.status_code == 303 and _status(instance.id) is InstanceStatus.STARTING


def test_a_down_cluster_is_explained_and_changes_nothing(app, signed_in, customer, make, no_cluster):
    instance = new_instance(make, user=customer)
    db.session.execute(ServiceInstance.__table__.update().where(ServiceInstance.id == instance.id)
                       .values(status=InstanceStatus.RUNNING.value))
    page = signed_in.get(f"/portal/instances/{instance.id}")
    assert page.status_code == 200 and 'id="logs-error"' in page.get_data(as_text=True)
    restart = signed_in.post(f"/portal/instances/{instance.id}/restart", {})
    assert restart.status_code == 303
    assert "not available" in text(signed_in.get(f"/portal/instances/{instance.id}")).lower()
    assert _status(instance.id) is InstanceStatus.RUNNING


def test_another_customers_instance_is_404(app, signed_in, other_customer, make, no_cluster):
    theirs = new_instance(make, user=other_customer)
    assert signed_in.get(f"/portal/instances/{theirs.id}").status_code == 404
    for action in ("restart", "stop", "start"):
        assert signed_in.post(f"/portal/instances/{theirs.id}/{action}", {}).status_code == 404
    assert signed_in.post(f"/portal/instances/{theirs.id}/explode", {}).status_code == 404
    assert theirs.name not in text(signed_in.get("/portal/instances"))
    assert _status(theirs.id) is InstanceStatus.PENDING
