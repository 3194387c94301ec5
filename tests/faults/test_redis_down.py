"""Redis down (the proxy in front of it refuses connections): the API keeps answering, work committed meanwhile
waits in the outbox with its error, readiness says 503, and once Redis is back the sweep pushes it and it runs."""
from __future__ import annotations

import time

from jobs.queue import get_queue, run_burst
from tests.cluster.fixtures import ghost_plan
from tests.conftest import assert_envelope
from tests.factories import PASSWORD
from webapp.cluster.models import InstanceStatus, ServiceInstance
from webapp.extensions import db
from webapp.notifications.delivery import deliver_pending
from webapp.notifications.models import Notification, NotificationStatus, NotificationType
from webapp.outbox import OutboxJob, dispatch_pending

from .conftest import token_for


def test_redis_down_loses_nothing(fault_app, fclient, fmake, redis_proxy):
    with fault_app.app_context():
        get_queue().empty()
        plan = ghost_plan(fmake)
        user = fmake.user(email="down@example.com", credit_balance=500_000)
        db.session.commit()
        plan_id, service_slug = plan.id, plan.service.slug
        token = token_for(fault_app, user)
    auth = {"Authorization": f"Bearer {token}"}

    redis_proxy.cut()
    started = time.monotonic()
    # Reads, sign-in (rate limited through Redis) and the wallet still answer.
    catalog = assert_envelope(fclient.get("/api/catalog/services", headers=auth), 200)
    assert any(s["slug"] == service_slug for s in catalog["data"]["services"])
    assert_envelope(fclient.post("/api/auth/login", json={"email": "down@example.com", "password": PASSWORD}), 200)
    assert_envelope(fclient.post("/api/auth/login", json={"email": "down@example.com", "password": "wrong-one"}), 401)
    wallet = assert_envelope(fclient.get("/api/wallet/info", headers=auth), 200)["data"]["wallet"]
    assert wallet["creditBalance"] == 500_000
    # Writes commit; their jobs wait in the outbox.
    assert_envelope(fclient.post("/api/subscriptions", headers=auth, json={"planId": plan_id}), 201)
    assert_envelope(fclient.post("/api/tickets", headers=auth,
                                 json={"subject": "Is Redis down?", "description": "Just checking the outbox."}), 201)
    ready = assert_envelope(fclient.get("/api/health/ready"), 503, "Service not ready: redis unavailable")
    assert ready["data"] == {"database": "ok", "redis": "unavailable"}
    assert time.monotonic() - started < 10  # refused connections fail fast: no request waited on a timeout

    with fault_app.app_context():
        row = db.session.query(OutboxJob).filter_by(func="jobs.cluster.provision_instance").one()
        assert row.dispatched_at is None and row.attempts == 1 and row.last_error
        instance = db.session.query(ServiceInstance).one()
        assert instance.status is InstanceStatus.PENDING
        ticket_note = db.session.query(Notification).filter_by(type=NotificationType.TICKET_OPENED).one()
        assert ticket_note.status is NotificationStatus.PENDING
        row_id, instance_id, note_id = row.id, instance.id, ticket_note.id
        assert dispatch_pending() == 0  # the sweep while Redis is still down: nothing lost, one more attempt
        db.session.refresh(row)
        assert row.attempts == 2 and row.dispatched_at is None
        db.session.commit()

    redis_proxy.restore()
    assert_envelope(fclient.get("/api/health/ready"), 200)
    with fault_app.app_context():
        assert dispatch_pending() == 1
        assert dispatch_pending() == 0  # never pushed twice
        run_burst(fault_app)
        db.session.expire_all()
        assert db.session.get(ServiceInstance, instance_id).status is InstanceStatus.RUNNING
        assert db.session.get(OutboxJob, row_id).last_error is None
        assert deliver_pending()["sent"] >= 1  # the delivery job needs Redis (leases): it works again
        db.session.expire_all()
        assert db.session.get(Notification, note_id).status is NotificationStatus.SENT
        db.session.commit()
        get_queue().empty()
