"""Jobs are enqueued only after commit, through the outbox, and survive Redis being down."""
import pytest

from jobs.queue import get_queue, run_burst
from tests import job_fixtures
from webapp.extensions import db
from webapp.outbox import OutboxJob, dispatch_pending, enqueue


@pytest.fixture
def queue(app):
    q = get_queue()
    q.empty()
    job_fixtures.CALLS.clear()
    yield q
    q.empty()


def test_job_is_pushed_after_commit_and_runs(app, queue):
    row = enqueue("tests.job_fixtures.remember", 42, tag="x")
    assert queue.count == 0  # nothing leaves before the commit
    db.session.commit()
    assert queue.job_ids == [row.id]
    run_burst(app)
    assert job_fixtures.CALLS == [(42, "x")]
    db.session.refresh(row)
    assert row.dispatched_at is not None and row.attempts == 1


def test_rolled_back_work_enqueues_nothing(app, queue):
    enqueue("tests.job_fixtures.remember", 1)
    db.session.rollback()
    assert queue.count == 0 and db.session.query(OutboxJob).count() == 0


def test_redis_down_keeps_the_job_in_the_outbox_until_the_sweep(app, queue, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    row = enqueue("tests.job_fixtures.remember", 7)
    db.session.commit()  # the commit succeeds although Redis is unreachable
    db.session.refresh(row)
    assert row.dispatched_at is None and row.attempts == 1 and row.last_error
    monkeypatch.undo()
    assert dispatch_pending() == 1
    assert queue.job_ids == [row.id]
    assert dispatch_pending() == 0  # never pushed twice
    run_burst(app)
    assert job_fixtures.CALLS == [(7, None)]


def test_releasing_a_savepoint_does_not_push_the_outer_transactions_jobs(app, queue):
    row = enqueue("tests.job_fixtures.remember", 3)
    with db.session.begin_nested():
        db.session.flush()  # a savepoint released inside the transaction
    assert queue.count == 0
    db.session.commit()
    assert queue.job_ids == [row.id]
