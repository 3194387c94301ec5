"""The ledger's batch primitives (PostgreSQL): many debits in one INSERT and one UPDATE, same rows as one by one."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webapp.accounts.models import User
from webapp.billing import ledger
from webapp.billing.errors import InsufficientCredit
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.extensions import db


def entry(user, amount, key=None, **kw):
    return ledger.BatchEntry(user_id=user.id, amount=amount, type=TransactionType.SUBSCRIPTION,
                             description=f"charge {amount}", metadata={"n": amount}, idempotency_key=key, **kw)


def test_debits_chain_per_user_in_order_and_move_balances_once(make):
    a, b = make.user(credit_balance=100_000), make.user(credit_balance=30_000)
    balances = ledger.lock_users([b.id, a.id])
    assert balances == {a.id: 100_000, b.id: 30_000}
    postings = ledger.post_debits([entry(a, 50_000, "k1"), entry(b, 30_000, "k2"), entry(a, 20_000, "k3"),
                                   entry(a, 0, "k4", counts_as_spend=False)], balances)
    assert [(p.balance_before, p.balance_after) for p in postings] == [
        (100_000, 50_000), (30_000, 0), (50_000, 30_000), (30_000, 30_000)]
    numbers = [int(p.custom_id.split("-")[1]) for p in postings]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    db.session.expire_all()
    assert (db.session.get(User, a.id).credit_balance, db.session.get(User, a.id).total_spent) == (30_000, 70_000)
    assert db.session.get(User, b.id).credit_balance == 0
    row = db.session.execute(select(Transaction).where(Transaction.idempotency_key == "k3")).scalar_one()
    assert (row.custom_id, row.amount, row.balance_before, row.balance_after, row.status, row.type,
            row.metadata_, row.description) == (postings[2].custom_id, 20_000, 50_000, 30_000,
                                                TransactionStatus.COMPLETED, TransactionType.SUBSCRIPTION,
                                                {"n": 20_000}, "charge 20000")
    assert row.completed_at is not None and row.created_at is not None
    assert ledger.used_idempotency_keys(["k1", "k4", "nope"]) == {"k1", "k4"}


def test_an_entry_the_wallet_cannot_cover_writes_nothing(make):
    user = make.user(credit_balance=60_000)
    balances = ledger.lock_users([user.id])
    with pytest.raises(InsufficientCredit):
        ledger.post_debits([entry(user, 50_000), entry(user, 20_000)], balances)
    assert db.session.execute(select(func.count()).select_from(Transaction)).scalar_one() == 0
    db.session.expire_all()
    assert db.session.get(User, user.id).credit_balance == 60_000


def test_a_used_idempotency_key_fails_the_whole_batch_at_the_unique_index(make):
    user = make.user(credit_balance=100_000)
    ledger.debit(user.id, 10_000, type=TransactionType.SUBSCRIPTION, description="first", idempotency_key="dup")
    balances = ledger.lock_users([user.id])
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            ledger.post_debits([entry(user, 5_000, "fresh"), entry(user, 5_000, "dup")], balances)
    db.session.expire_all()
    assert db.session.get(User, user.id).credit_balance == 90_000
    assert ledger.used_idempotency_keys(["fresh", "dup"]) == {"dup"}
