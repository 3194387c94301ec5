"""Console Jobs page: queue counts, failed jobs (error, originating request id) with Requeue/Delete, and the outbox
rows Redis refused with "Dispatch now" — administrators only, CSRF on every button, an audit row per action."""
from __future__ import annotations

import pytest
from rq.registry import FailedJobRegistry

from jobs.queue import get_queue, redis_connection, run_burst
from tests.console.conftest import flashed_text
from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.outbox import OutboxJob, enqueue


@pytest.fixture(autouse=True)
def _clean(app):
    redis_connection().flushdb()
    yield
    redis_connection().flushdb()


@pytest.fixture
def failed_job(app):
    queue = get_queue()
    job = queue.enqueue("tests.ops.job_helpers.boom", 41, meta={"request_id": "req-failed-1"})
    run_burst(app)
    assert job.id in FailedJobRegistry(queue=queue)
    return job


def page(client, url="/admin/jobs/") -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return flashed_text(response)


def test_only_administrators_see_the_page(console, customer):
    r = console.client.get("/admin/jobs/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    assert console.client.post("/admin/jobs/requeue/", data={}).status_code in (302, 400)
    console.force_session(customer)
    assert console.client.get("/admin/jobs/").status_code == 403


def test_queue_counts_and_failed_job_details(signed_in, app, failed_job):
    queue = get_queue()
    queue.enqueue("tests.ops.job_helpers.say", "later")  # one waiting job
    html = page(signed_in.client)
    assert 'data-queue="default"' in html
    row = html[html.index('data-queue="default"'):]
    assert '<td data-count="queued">1</td>' in row and '<td data-count="failed">1</td>' in row
    assert '<td data-count="scheduled">0</td>' in row
    failed = html[html.index(f'data-failed-job="{failed_job.id}"'):]
    assert "tests.ops.job_helpers.boom" in failed and "(41,)" in failed
    assert "ValueError: kaboom 41" in failed and "req-failed-1" in failed
    assert 'name="csrf_token"' in failed


def test_requeue_moves_the_job_back_and_is_audited(signed_in, app, admin, failed_job):
    queue = get_queue()
    r = signed_in.post_form("/admin/jobs/", {"job_id": failed_job.id, "queue": "default"},
                            post_url="/admin/jobs/requeue/")
    assert r.status_code == 200 and f"Job {failed_job.id} requeued." in flashed_text(r)
    assert failed_job.id not in FailedJobRegistry(queue=queue) and queue.job_ids == [failed_job.id]
    entry = db.session.query(AuditEntry).filter_by(action="job.requeue", target_id=failed_job.id).one()
    assert entry.actor_id == admin.id and entry.source == "console"
    assert entry.after == {"queue": "default", "func": "tests.ops.job_helpers.boom", "request_id": "req-failed-1"}
    # a second requeue of the same job finds nothing to do
    r = signed_in.post_form("/admin/jobs/", {"job_id": failed_job.id, "queue": "default"},
                            post_url="/admin/jobs/requeue/")
    assert "no longer in the failed list" in flashed_text(r) and queue.count == 1


def test_delete_removes_the_failed_job_and_is_audited(signed_in, app, failed_job):
    queue = get_queue()
    r = signed_in.post_form("/admin/jobs/", {"job_id": failed_job.id, "queue": "default"},
                            post_url="/admin/jobs/delete/")
    assert f"Job {failed_job.id} deleted." in flashed_text(r)
    assert FailedJobRegistry(queue=queue).count == 0 and queue.fetch_job(failed_job.id) is None
    assert db.session.query(AuditEntry).filter_by(action="job.delete", target_id=failed_job.id).count() == 1


def test_buttons_without_a_csrf_token_change_nothing(signed_in, app, failed_job):
    queue = get_queue()
    for url in ("/admin/jobs/requeue/", "/admin/jobs/delete/"):
        r = signed_in.client.post(url, data={"job_id": failed_job.id, "queue": "default"})
        assert r.status_code == 400
    assert failed_job.id in FailedJobRegistry(queue=queue) and queue.count == 0
    assert db.session.query(AuditEntry).filter(AuditEntry.action.like("job.%")).count() == 0


def test_undispatched_outbox_rows_and_dispatch_now(signed_in, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens: Redis "down"
    row = enqueue("tests.ops.job_helpers.say", "from the outbox")
    db.session.commit()
    db.session.refresh(row)
    assert row.dispatched_at is None and row.attempts == 1
    html = page(signed_in.client)
    assert "Redis is unavailable" in html  # the queues part says so, the outbox part still works
    outbox = html[html.index(f'data-outbox-row="{row.id}"'):]
    assert "tests.ops.job_helpers.say" in outbox and '<td data-attempts>1</td>' in outbox
    assert "Error" in outbox or "refused" in outbox.lower()
    # still down: the button records the attempt and says why
    r = signed_in.post_form("/admin/jobs/", {"row_id": row.id}, post_url="/admin/jobs/dispatch/")
    assert "could not be pushed" in flashed_text(r)
    monkeypatch.undo()
    r = signed_in.post_form("/admin/jobs/", {"row_id": row.id}, post_url="/admin/jobs/dispatch/")
    assert f"Outbox row {row.id} pushed to the queue." in flashed_text(r)
    db.session.expire_all()
    row = db.session.get(OutboxJob, row.id)
    assert row.dispatched_at is not None and row.attempts == 3 and row.last_error is None
    assert get_queue().job_ids == [row.id]
    assert f'data-outbox-row="{row.id}"' not in page(signed_in.client)
    actions = [e.after["pushed"] for e in db.session.query(AuditEntry).filter_by(action="outbox.dispatch")
               .order_by(AuditEntry.created_at)]
    assert actions == [False, True]
    r = signed_in.post_form("/admin/jobs/", {"row_id": row.id}, post_url="/admin/jobs/dispatch/")
    assert "already dispatched" in flashed_text(r) and get_queue().count == 1


def test_the_page_works_on_the_embedded_in_memory_redis(signed_in, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "fakeredis://")
    queue = get_queue()  # (no queue.empty(): its Lua script needs lupa, which the embedded profile does not ship)
    job = queue.enqueue("tests.ops.job_helpers.boom", 5, meta={"request_id": "embedded-req"})
    run_burst(app)
    html = page(signed_in.client)
    assert f'data-failed-job="{job.id}"' in html and "embedded-req" in html and "kaboom 5" in html
    r = signed_in.post_form("/admin/jobs/", {"job_id": job.id, "queue": "default"}, post_url="/admin/jobs/requeue/")
    assert "requeued" in flashed_text(r) and job.id in queue.job_ids
    r = signed_in.post_form("/admin/jobs/", {"job_id": job.id, "queue": "default"}, post_url="/admin/jobs/delete/")
    assert "no longer in the failed list" in flashed_text(r)
    run_burst(app)  # fails again (same function) ...
    r = signed_in.post_form("/admin/jobs/", {"job_id": job.id, "queue": "default"}, post_url="/admin/jobs/delete/")
    assert "deleted" in flashed_text(r) and queue.fetch_job(job.id) is None  # ... and is deleted for good
