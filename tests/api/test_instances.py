"""Customer instance routes I1-I9 and the log stream, against the Kubernetes simulator."""
from __future__ import annotations

import pytest

from jobs.queue import get_queue
from tests.cluster.fixtures import ghost_plan, kube_sim, new_instance, objects_of, run_jobs, running_instance  # noqa: F401
from tests.conftest import assert_envelope
from webapp.cluster.models import InstanceStatus as S
from webapp.cluster.models import ServiceInstance
from webapp.cluster.status import transition
from webapp.extensions import db

pytestmark = pytest.mark.usefixtures("kube_sim")


def reload(instance):
    db.session.expire_all()
    return db.session.get(ServiceInstance, instance.id)


def count_instances() -> int:
    db.session.expire_all()
    return db.session.query(ServiceInstance).count()


# ------------------------------------------------------------------------------------------------ I1
def test_create_provisions_the_callers_subscription(app, api, make, customer, kube_sim):
    subscription = make.subscription(user=customer, plan=ghost_plan(make))
    r = api.post("/api/instances", as_user=customer, json={"subscriptionId": subscription.id})
    body = assert_envelope(r, 201, "Service instance provisioning started successfully")
    data = body["data"]
    assert data["instance"]["status"] == "PENDING" and data["instance"]["podName"] is None
    assert data["estimatedTime"] == "2-5 minutes" and len(data["nextSteps"]) == 3
    assert data["instance"]["envVars"]["ADMIN_PASSWORD"] == "[secret]"
    assert data["instance"]["cpuUsage"] is None and data["instance"]["sslEnabled"] is True
    assert get_queue().count == 1
    run_jobs(app)
    instance = db.session.get(ServiceInstance, data["instance"]["id"])
    assert instance.status is S.RUNNING
    assert objects_of(kube_sim, instance.id)["Deployment"] == [instance.name]
    # a second one for the same subscription is refused
    r = api.post("/api/instances", as_user=customer, json={"subscriptionId": subscription.id})
    assert_envelope(r, 409, "Subscription already has an active service instance")


@pytest.mark.parametrize("body, status, message", [
    ({}, 400, "Subscription ID is required"),
    ({"subscriptionId": ""}, 400, "Subscription ID is required"),
    ({"subscriptionId": 5}, 400, "Subscription ID must be a string"),
    ({"subscriptionId": "x" * 101}, 400, None),
    ({"subscriptionId": "nope", "extra": 1}, 400, '"extra" is not allowed'),
    ({"subscriptionId": "cdoesnotexist0000000000000"}, 404, "Subscription not found"),
])
def test_create_bad_input(api, customer, body, status, message):
    assert_envelope(api.post("/api/instances", as_user=customer, json=body), status, message)
    assert count_instances() == 0


def test_create_on_someone_elses_or_inactive_subscription(api, make, customer, other_customer):
    plan = ghost_plan(make)
    theirs = make.subscription(user=other_customer, plan=plan)
    assert_envelope(api.post("/api/instances", as_user=customer, json={"subscriptionId": theirs.id}), 404,
                    "Subscription not found")
    mine = make.subscription(user=customer, plan=plan, status="SUSPENDED")
    assert_envelope(api.post("/api/instances", as_user=customer, json={"subscriptionId": mine.id}), 400,
                    "Can only provision instances for active subscriptions")
    assert count_instances() == 0 and get_queue().count == 0


def test_create_with_the_cluster_down_is_503_and_changes_nothing(api, make, customer, kube_sim):
    subscription = make.subscription(user=customer, plan=ghost_plan(make))
    kube_sim.set_faults(down=True)
    r = api.post("/api/instances", as_user=customer, json={"subscriptionId": subscription.id})
    assert_envelope(r, 503, "Service provisioning temporarily unavailable")
    assert count_instances() == 0 and get_queue().count == 0


# ------------------------------------------------------------------------------------------------ I2, I3
def test_list_filters(app, api, make, customer, other_customer):
    plan = ghost_plan(make)
    running = running_instance(app, make, user=customer, plan=plan)
    mine_pending = new_instance(make, user=customer, plan=make.plan())
    transition(mine_pending.id, S.TERMINATED, expected={S.PENDING})
    new_instance(make, user=other_customer, plan=plan)
    db.session.commit()

    def ids(query=""):
        body = assert_envelope(api.get(f"/api/instances{query}", as_user=customer), 200,
                               "Service instances retrieved successfully")
        assert body["data"]["total"] == len(body["data"]["instances"])
        return [i["id"] for i in body["data"]["instances"]]

    assert ids() == [running.id]
    assert ids("?includeTerminated=true") == [mine_pending.id, running.id]
    assert ids("?status=RUNNING") == [running.id]  # fix 6: the filter applies on its own
    assert ids("?status=TERMINATED") == [mine_pending.id]
    assert ids("?status=STOPPED&includeTerminated=true") == []
    listed = api.get("/api/instances", as_user=customer).get_json()["data"]["instances"][0]
    assert listed["subscription"]["service"]["slug"] == "ghost-blog" and listed["subscription"]["plan"]["cpuMilli"] == 500
    assert_envelope(api.get("/api/instances?status=INVALID_STATUS", as_user=customer), 400,
                    "Status must be one of: PENDING, PROVISIONING, RUNNING, STOPPED, ERROR, TERMINATED, MAINTENANCE")
    assert_envelope(api.get("/api/instances?status=RESTARTING", as_user=customer), 400)
    assert_envelope(api.get("/api/instances?includeTerminated=yes", as_user=customer), 400,
                    "includeTerminated must be 'true' or 'false'")


def test_details_with_live_pods(app, api, make, customer, kube_sim):
    instance = running_instance(app, make, user=customer)
    body = assert_envelope(api.get(f"/api/instances/{instance.id}", as_user=customer), 200,
                           "Service instance details retrieved successfully")
    data = body["data"]
    assert data["instance"]["subscription"]["user"]["email"] == customer.email
    assert data["kubernetesStatus"]["pods"][0]["name"] == instance.pod_name
    assert data["kubernetesStatus"]["pods"][0]["ready"] is True
    assert data["urls"]["public"] == instance.public_url and data["ssl"] == {"enabled": True, "status": "Active"}
    assert "admin123" not in r_text(api, customer, instance)
    kube_sim.set_faults(down=True)  # the details still answer, without live data
    data = assert_envelope(api.get(f"/api/instances/{instance.id}", as_user=customer), 200)["data"]
    assert data["kubernetesStatus"] is None


def r_text(api, user, instance) -> str:
    return api.get(f"/api/instances/{instance.id}", as_user=user).get_data(as_text=True)


OWNER_ROUTES = [("GET", ""), ("DELETE", ""), ("GET", "/logs"), ("GET", "/logs/stream"), ("POST", "/restart"),
                ("PUT", "/stop"), ("PUT", "/start")]


@pytest.mark.parametrize("method, suffix", OWNER_ROUTES)
def test_other_customers_and_unknown_ids_are_404(app, api, make, customer, other_customer, method, suffix):
    instance = running_instance(app, make, user=other_customer)
    for instance_id in (instance.id, "cdoesnotexist0000000000000", "x" * 300, "..", "%27%20OR%201=1"):
        r = api.call(method, f"/api/instances/{instance_id}{suffix}", as_user=customer)
        assert_envelope(r, 404, "Service instance not found")
    r = api.call(method, f"/api/instances/%00{suffix}", as_user=customer)
    assert_envelope(r, 400, '"id" must not contain null characters')
    instance = reload(instance)
    assert instance.status is S.RUNNING and get_queue().count == 0


def test_update_route_is_gone(api, customer):
    """Fix 2: resources change only through a subscription upgrade."""
    r = api.put("/api/instances/cabc/update", as_user=customer, json={"planId": "x"})
    assert r.status_code == 404 and r.get_json() == {"success": False, "message": "Route not found"}


# ------------------------------------------------------------------------------------------------ I5
def test_delete_only_clears_failed_instances(app, api, make, customer, kube_sim):
    instance = running_instance(app, make, user=customer)
    assert_envelope(api.delete(f"/api/instances/{instance.id}", as_user=customer), 400,
                    "Cancel the subscription to terminate its service instance")
    assert reload(instance).status is S.RUNNING
    transition(instance.id, S.ERROR, expected={S.RUNNING})
    db.session.commit()
    body = assert_envelope(api.delete(f"/api/instances/{instance.id}", as_user=customer), 200,
                           "Service instance terminated successfully")
    assert body["data"]["instance"]["status"] == "TERMINATED"
    run_jobs(app)
    assert objects_of(kube_sim, instance.id) == {}
    body = assert_envelope(api.delete(f"/api/instances/{instance.id}", as_user=customer), 200)
    assert body["data"]["message"] == "Service instance already terminated"


# ------------------------------------------------------------------------------------------------ I6 + stream
def test_logs(app, api, make, customer):
    instance = running_instance(app, make, user=customer)
    body = assert_envelope(api.get(f"/api/instances/{instance.id}/logs?lines=3", as_user=customer), 200,
                           "Instance logs retrieved successfully")
    data = body["data"]
    assert data["options"] == {"lines": 3, "follow": False} and data["pod"] == instance.pod_name
    assert 1 <= len(data["logs"]) <= 3
    assert all(line["timestamp"].endswith("Z") and line["message"] and line["level"] in ("info", "warn", "error")
               for line in data["logs"])
    assert "Ghost" in " ".join(line["message"] for line in
                               api.get(f"/api/instances/{instance.id}/logs", as_user=customer).get_json()["data"]["logs"])


@pytest.mark.parametrize("query, message", [("lines=2000&follow=invalid", "Lines cannot exceed 1000"),
                                            ("lines=0", "Lines must be at least 1"),
                                            ("lines=abc", "Lines must be a number"),
                                            ("lines=1.5", "Lines must be an integer"),
                                            ("follow=maybe", "Follow must be 'true' or 'false'"),
                                            ("container=x", '"container" is not allowed')])
def test_logs_bad_query(app, api, make, customer, query, message):
    instance = new_instance(make, user=customer)
    assert_envelope(api.get(f"/api/instances/{instance.id}/logs?{query}", as_user=customer), 400, message)


def test_logs_without_a_pod(api, make, customer, kube_sim):
    instance = new_instance(make, user=customer)  # PENDING: nothing runs yet
    assert_envelope(api.get(f"/api/instances/{instance.id}/logs", as_user=customer), 404,
                    "Could not find a running pod for this service.")
    kube_sim.set_faults(down=True)
    assert_envelope(api.get(f"/api/instances/{instance.id}/logs", as_user=customer), 503,
                    "Kubernetes cluster not available")


def test_log_stream_is_server_sent_events(app, api, make, customer):
    instance = running_instance(app, make, user=customer)
    r = api.get(f"/api/instances/{instance.id}/logs/stream?tailLines=2", as_user=customer)
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    text = r.get_data(as_text=True)
    events = [block for block in text.split("\n\n") if block.strip()]
    assert events[0] == f"event: log-start\ndata: Streaming logs for pod: {instance.pod_name}, container: ghost-blog"
    data_lines = [e for e in events if "event: log-data" in e]
    assert len(data_lines) >= 2 and all(e.startswith("id: ") for e in data_lines)
    assert events[-1].startswith("event: log-end") or events[-1].startswith("event: log-error")
    assert_envelope(api.get(f"/api/instances/{instance.id}/logs/stream?tailLines=5000", as_user=customer), 400,
                    "tailLines cannot exceed 1000")


# ------------------------------------------------------------------------------------------------ I7-I9
def test_lifecycle_routes(app, api, make, customer, kube_sim):
    instance = running_instance(app, make, user=customer)
    old_pod = instance.pod_name
    assert_envelope(api.put(f"/api/instances/{instance.id}/start", as_user=customer), 400,
                    "Can only start stopped service instances")
    body = assert_envelope(api.post(f"/api/instances/{instance.id}/restart", as_user=customer), 202,
                           "Service instance restart initiated successfully")
    assert body["data"]["instance"]["status"] == "RESTARTING" and body["data"]["restart"]["oldPodName"] == old_pod
    assert_envelope(api.post(f"/api/instances/{instance.id}/restart", as_user=customer), 400,
                    "Can only restart running service instances")  # a second click while it runs
    run_jobs(app)
    assert reload(instance).pod_name != old_pod
    body = assert_envelope(api.put(f"/api/instances/{instance.id}/stop", as_user=customer), 202,
                           "Service instance stop initiated successfully")
    assert body["data"]["instance"]["status"] == "STOPPING" and body["data"]["stop"]["method"] == "Scale to Zero"
    run_jobs(app)
    assert reload(instance).status is S.STOPPED
    assert_envelope(api.put(f"/api/instances/{instance.id}/stop", as_user=customer), 400,
                    "Can only stop running service instances")
    kube_sim.set_faults(down=True)
    assert_envelope(api.put(f"/api/instances/{instance.id}/start", as_user=customer), 503,
                    "Service start temporarily unavailable")
    assert reload(instance).status is S.STOPPED and get_queue().count == 0
    kube_sim.clear_faults()
    body = assert_envelope(api.put(f"/api/instances/{instance.id}/start", as_user=customer), 202)
    assert body["data"]["start"]["method"] == "Scale to One"
    run_jobs(app)
    assert reload(instance).status is S.RUNNING


@pytest.mark.parametrize("method, suffix, message", [("POST", "/restart", "Service restart temporarily unavailable"),
                                                     ("PUT", "/stop", "Service stop temporarily unavailable")])
def test_cluster_down_lifecycle_is_503_without_change(app, api, make, customer, kube_sim, method, suffix, message):
    instance = running_instance(app, make, user=customer)
    kube_sim.set_faults(down=True)
    assert_envelope(api.call(method, f"/api/instances/{instance.id}{suffix}", as_user=customer), 503, message)
    instance = reload(instance)
    assert instance.status is S.RUNNING and instance.health_status == "Healthy" and get_queue().count == 0
