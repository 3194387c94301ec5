"""The stale top-up sweep (jobs.payments.expire_stale_top_ups): confirm with Midtrans first, then settle or fail."""
from __future__ import annotations

from datetime import timedelta

from jobs.payments import expire_stale_top_ups
from jobs.queue import get_queue, run_burst
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.db import utcnow
from webapp.extensions import db
from webapp.payments import services


def _aged(user, amount, minutes=120, method="QRIS", token=True):
    if token:
        row = services.start_top_up(user.id, amount, method).transaction
    else:
        row = ledger.open_pending(user.id, amount, type=TransactionType.TOP_UP, description="crashed",
                                  payment_method=f"MIDTRANS_{method}")
    row = db.session.get(Transaction, row.id)
    row.created_at = utcnow() - timedelta(minutes=minutes)
    db.session.commit()
    return row.id


def _status(order):
    db.session.expire_all()
    return db.session.get(Transaction, order).status


def test_sweep_confirms_with_midtrans_before_failing(customer, midtrans):
    still_pending = _aged(customer, 10_000)
    paid = _aged(customer, 20_000)
    midtrans.complete(paid, notify=False)                            # webhook lost: the sweep credits it
    unknown = _aged(customer, 30_000, token=False)                   # crashed before Snap: Midtrans never saw it
    fresh = _aged(customer, 40_000, minutes=5)
    counts = expire_stale_top_ups()
    assert counts == {"checked": 3, "credited": 1, "failed": 2, "skipped": 0}
    assert _status(still_pending) == TransactionStatus.FAILED
    assert midtrans.transaction(still_pending)["transaction_status"] == "expire"   # no late payment possible
    assert _status(paid) == TransactionStatus.COMPLETED
    assert _status(unknown) == TransactionStatus.FAILED
    assert _status(fresh) == TransactionStatus.PENDING
    db.session.refresh(customer)
    assert customer.credit_balance == 20_000 == ledger.ledger_sum(customer.id)
    assert expire_stale_top_ups() == {"checked": 0, "credited": 0, "failed": 0, "skipped": 0}


def test_sweep_leaves_rows_alone_when_midtrans_is_down(customer, midtrans):
    order = _aged(customer, 10_000)
    midtrans.set_faults(down=True)
    assert expire_stale_top_ups()["skipped"] == 1
    assert _status(order) == TransactionStatus.PENDING


def test_job_runs_on_a_real_rq_worker(app, committing_db, midtrans):
    from webapp.accounts.models import User

    user = User(name="Queued", email="queued@example.com", credit_balance=0, total_top_up=0, total_spent=0)
    db.session.add(user)
    db.session.commit()
    order = _aged(user, 15_000)
    midtrans.complete(order, notify=False)
    queue = get_queue()
    queue.empty()
    queue.enqueue("jobs.payments.expire_stale_top_ups")
    run_burst(app)
    assert _status(order) == TransactionStatus.COMPLETED
    assert db.session.get(User, user.id).credit_balance == 15_000
