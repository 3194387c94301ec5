"""The ledger primitives: one row per balance change, idempotency keys, exactly-once settlement, races."""
import random
import re
import threading

import pytest

from webapp.billing import ledger
from webapp.billing.errors import InsufficientCredit, InvalidAmount
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.extensions import db


def test_credit_debit_refund_write_one_row_each_with_balances(make):
    user = make.user()
    c = ledger.credit(user.id, 100_000, type=TransactionType.TOP_UP, description="top-up", counts_as_top_up=True)
    d = ledger.debit(user.id, 30_000, type=TransactionType.SUBSCRIPTION, description="n8n Basic")
    r = ledger.refund(user.id, 10_000, description="prorated refund", reason="cancelled")
    assert [(p.transaction.balance_before, p.transaction.balance_after) for p in (c, d, r)] == [
        (0, 100_000), (100_000, 70_000), (70_000, 80_000)]
    assert all(re.fullmatch(r"TXMP-\d+", p.transaction.custom_id) for p in (c, d, r))
    assert len({p.transaction.custom_id for p in (c, d, r)}) == 3
    db.session.refresh(user)
    assert (user.credit_balance, user.total_top_up, user.total_spent) == (80_000, 100_000, 20_000)
    assert r.transaction.type == TransactionType.REFUND and r.transaction.metadata_["refundReason"] == "cancelled"
    assert ledger.ledger_sum(user.id) == user.credit_balance


def test_refund_never_inflates_total_top_up_and_spent_never_negative(make):
    user = make.user()
    ledger.refund(user.id, 5_000, description="goodwill")
    db.session.refresh(user)
    assert (user.credit_balance, user.total_top_up, user.total_spent) == (5_000, 0, 0)


def test_insufficient_credit_changes_nothing(make):
    user = make.user()
    ledger.credit(user.id, 1_000, type=TransactionType.ADMIN_ADJUSTMENT, description="x")
    with pytest.raises(InsufficientCredit) as error:
        ledger.debit(user.id, 1_001, type=TransactionType.SUBSCRIPTION, description="too much")
    assert error.value.text == "Insufficient credit. Balance: 1000, Required: 1001"
    db.session.refresh(user)
    assert user.credit_balance == 1_000 and db.session.query(Transaction).count() == 1


@pytest.mark.parametrize("amount", [0, -5, 1.5, "100", True, 10**12])
def test_amounts_must_be_positive_integers(make, amount):
    user = make.user()
    with pytest.raises(InvalidAmount):
        ledger.credit(user.id, amount, type=TransactionType.ADMIN_ADJUSTMENT, description="x")


def test_idempotency_key_applies_once(make):
    user = make.user(credit_balance=0)
    ledger.credit(user.id, 50_000, type=TransactionType.TOP_UP, description="seed")
    first = ledger.debit(user.id, 20_000, type=TransactionType.SUBSCRIPTION, description="renewal",
                         idempotency_key="renewal:s1:2026-11")
    again = ledger.debit(user.id, 20_000, type=TransactionType.SUBSCRIPTION, description="renewal",
                         idempotency_key="renewal:s1:2026-11")
    assert first.applied and not again.applied and again.transaction.id == first.transaction.id
    db.session.refresh(user)
    assert user.credit_balance == 30_000


def test_settle_pending_credits_stored_amount_once(make):
    user = make.user()
    pending = ledger.open_pending(user.id, 75_000, type=TransactionType.TOP_UP, description="Top-up",
                                  payment_method="MIDTRANS_QRIS")
    assert pending.status == TransactionStatus.PENDING
    db.session.refresh(user)
    assert user.credit_balance == 0
    assert ledger.settle_pending(pending.id, metadata={"midtrans_status": "settlement"}).applied
    assert not ledger.settle_pending(pending.id).applied
    db.session.refresh(user)
    assert (user.credit_balance, user.total_top_up) == (75_000, 75_000)
    assert not ledger.mark_pending(pending.id, TransactionStatus.FAILED)  # never downgrades COMPLETED


def test_payment_after_local_failure_is_still_credited(make):
    user = make.user()
    pending = ledger.open_pending(user.id, 10_000, type=TransactionType.TOP_UP, description="Top-up", payment_method=None)
    assert ledger.mark_pending(pending.id, TransactionStatus.FAILED, metadata={"reason": "expired"})
    assert ledger.settle_pending(pending.id).applied
    db.session.refresh(user)
    assert user.credit_balance == 10_000


def _in_app(app, fn):
    def run():
        with app.app_context():
            try:
                fn()
            finally:
                db.session.remove()
    return run


def test_concurrent_credits_debits_refunds_keep_balance_equal_to_ledger(app, committing_db):
    from webapp.accounts.models import User

    user = User(name="Racer", email="racer@example.com", credit_balance=0, total_top_up=0, total_spent=0)
    db.session.add(user)
    db.session.commit()
    user_id = user.id
    errors = []

    def worker(seed):
        rng = random.Random(seed)
        for _ in range(15):
            op = rng.choice(["credit", "debit", "refund"])
            amount = rng.randint(1, 50) * 1_000
            try:
                if op == "credit":
                    ledger.credit(user_id, amount, type=TransactionType.TOP_UP, description="t", counts_as_top_up=True)
                elif op == "debit":
                    ledger.debit(user_id, amount, type=TransactionType.SUBSCRIPTION, description="d")
                else:
                    ledger.refund(user_id, amount, description="r")
                db.session.commit()
            except InsufficientCredit:
                db.session.rollback()
            except Exception as exc:  # noqa: BLE001
                db.session.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=_in_app(app, lambda s=s: worker(s))) for s in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.session.expire_all()
    user = db.session.get(User, user_id)
    rows = db.session.query(Transaction).filter_by(user_id=user_id).order_by(Transaction.custom_id).all()
    assert user.credit_balance == ledger.ledger_sum(user_id) >= 0
    assert all(r.balance_after >= 0 and r.balance_before >= 0 for r in rows)
    # The rows chain: under the row lock each movement starts where the previous one ended.
    chain = sorted(rows, key=lambda r: int(r.custom_id.split("-")[1]))
    assert all(a.balance_after == b.balance_before for a, b in zip(chain, chain[1:]))
    assert len(rows) > 20


def test_same_settlement_delivered_ten_times_concurrently_credits_once(app, committing_db):
    from webapp.accounts.models import User

    user = User(name="Payer", email="payer@example.com", credit_balance=0, total_top_up=0, total_spent=0)
    db.session.add(user)
    db.session.commit()
    pending = ledger.open_pending(user.id, 100_000, type=TransactionType.TOP_UP, description="Top-up", payment_method=None)
    db.session.commit()
    pending_id, user_id = pending.id, user.id  # read once: threads must not touch this session's objects
    applied = []

    def settle():
        applied.append(ledger.settle_pending(pending_id).applied)
        db.session.commit()

    threads = [threading.Thread(target=_in_app(app, settle)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    assert applied.count(True) == 1 and len(applied) == 10
    assert db.session.get(User, user_id).credit_balance == 100_000


def test_balance_lock_does_not_wait_for_rows_referencing_the_user(app, committing_db):
    """Another transaction that only inserted a row pointing at the user (its foreign-key check holds
    FOR KEY SHARE) must not block a balance change: the ledger locks FOR NO KEY UPDATE. A plain FOR UPDATE
    waits here, and two such transactions deadlock."""
    from sqlalchemy import text

    from webapp.accounts.models import User

    user = User(name="Holder", email="holder@example.com", credit_balance=0, total_top_up=0, total_spent=0)
    db.session.add(user)
    db.session.commit()
    user_id = user.id
    with db.engine.connect() as other:
        other.begin()
        other.execute(text("SELECT 1 FROM users WHERE id = :id FOR KEY SHARE"), {"id": user_id})
        db.session.execute(text("SET LOCAL lock_timeout = '3s'"))
        posting = ledger.credit(user_id, 5_000, type=TransactionType.TOP_UP, description="t", counts_as_top_up=True)
        db.session.commit()
        other.rollback()
    assert posting.applied and posting.transaction.balance_after == 5_000
