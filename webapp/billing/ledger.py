"""The wallet ledger: the only code that changes a user's balance.

Every function runs inside the caller's DB transaction (flush, never commit) and follows one pattern:
lock the user row (SELECT ... FOR UPDATE), check, change the balance, write exactly one Transaction row
with a TXMP-<n> id and the balance before/after. A CHECK keeps balances >= 0, so even a bug cannot
overdraw a wallet. Operations that can repeat pass an `idempotency_key`: the second call changes
nothing and returns the first posting (`applied=False`); a unique index backs this under any race.

Counters: `total_top_up` grows only with real top-ups (Midtrans, admin credit marked as such), never
with refunds or coupons... except welcome/credit coupons, which the original counted as top-ups and
clients display as such; callers say which with `counts_as_top_up`. `total_spent` grows with charges
and shrinks with refunds (never below 0).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from ..accounts.errors import UserNotFound
from ..accounts.models import User
from ..db import utcnow
from ..extensions import db
from .errors import InsufficientCredit, InvalidAmount
from .models import Transaction, TransactionNumber, TransactionStatus, TransactionType

MAX_AMOUNT = 2_000_000_000  # well inside BIGINT; larger single movements are input errors


@dataclass(frozen=True)
class Posting:
    transaction: Transaction
    applied: bool  # False: the idempotency key was already used, nothing changed


def next_transaction_custom_id() -> str:
    """TXMP-<n> from the database sequence (PostgreSQL) or its AUTOINCREMENT stand-in (SQLite)."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        number = db.session.execute(text("SELECT nextval('transaction_sequence')")).scalar_one()
    else:
        number = db.session.execute(insert(TransactionNumber).values()).inserted_primary_key[0] + 100
    return f"TXMP-{number}"


def lock_user(user_id: str) -> User:
    user = db.session.execute(select(User).where(User.id == user_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    if user is None:
        raise UserNotFound()
    return user


def find_by_idempotency_key(key: str) -> Transaction | None:
    return db.session.execute(select(Transaction).where(Transaction.idempotency_key == key)).scalar_one_or_none()


def _check_amount(amount: int, *, allow_zero: bool = False) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < (0 if allow_zero else 1) or amount > MAX_AMOUNT:
        raise InvalidAmount()


def _post(user_id: str, *, delta: int, amount: int, type: TransactionType, description: str, metadata: dict | None,
          subscription_id: str | None, idempotency_key: str | None, counts_as_top_up: bool, spend_delta: int,
          payment_method: str | None = None, payment_reference: str | None = None, processed_by: str | None = None,
          admin_notes: str | None = None) -> Posting:
    user = lock_user(user_id)
    if idempotency_key:
        # Checked under the user lock: a concurrent twin waits for us, then sees our committed row.
        existing = find_by_idempotency_key(idempotency_key)
        if existing is not None:
            return Posting(existing, applied=False)
    before = user.credit_balance
    after = before + delta
    if after < 0:
        raise InsufficientCredit(balance=before, required=amount)
    now = utcnow()
    row = Transaction(custom_id=next_transaction_custom_id(), user_id=user.id, type=type,
                      status=TransactionStatus.COMPLETED, amount=amount, balance_before=before, balance_after=after,
                      description=description, metadata_=metadata, subscription_id=subscription_id,
                      idempotency_key=idempotency_key, payment_method=payment_method,
                      payment_reference=payment_reference, processed_by=processed_by, admin_notes=admin_notes,
                      completed_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.execute(update(User).where(User.id == user.id).values(
                credit_balance=User.credit_balance + delta,
                total_top_up=User.total_top_up + (amount if counts_as_top_up else 0),
                total_spent=_spent_expression(spend_delta)))
    except IntegrityError:
        if idempotency_key and (existing := find_by_idempotency_key(idempotency_key)) is not None:
            return Posting(existing, applied=False)
        raise
    db.session.refresh(user)
    return Posting(row, applied=True)


def _spent_expression(spend_delta: int):
    if spend_delta >= 0:
        return User.total_spent + spend_delta
    # Refunds lower total_spent but never below zero.
    from sqlalchemy import case

    return case((User.total_spent + spend_delta < 0, 0), else_=User.total_spent + spend_delta)


def credit(user_id: str, amount: int, *, type: TransactionType, description: str, metadata: dict | None = None,
           subscription_id: str | None = None, idempotency_key: str | None = None, counts_as_top_up: bool = False,
           payment_method: str | None = None, payment_reference: str | None = None, processed_by: str | None = None,
           admin_notes: str | None = None) -> Posting:
    """Add `amount` to the wallet."""
    _check_amount(amount)
    return _post(user_id, delta=amount, amount=amount, type=type, description=description, metadata=metadata,
                 subscription_id=subscription_id, idempotency_key=idempotency_key, counts_as_top_up=counts_as_top_up,
                 spend_delta=0, payment_method=payment_method, payment_reference=payment_reference,
                 processed_by=processed_by, admin_notes=admin_notes)


def debit(user_id: str, amount: int, *, type: TransactionType, description: str, metadata: dict | None = None,
          subscription_id: str | None = None, idempotency_key: str | None = None, counts_as_spend: bool = True,
          processed_by: str | None = None, admin_notes: str | None = None) -> Posting:
    """Take `amount` from the wallet, or raise InsufficientCredit (nothing changes)."""
    _check_amount(amount)
    return _post(user_id, delta=-amount, amount=amount, type=type, description=description, metadata=metadata,
                 subscription_id=subscription_id, idempotency_key=idempotency_key, counts_as_top_up=False,
                 spend_delta=amount if counts_as_spend else 0, processed_by=processed_by, admin_notes=admin_notes)


def refund(user_id: str, amount: int, *, description: str, reason: str = "Service cancellation",
           subscription_id: str | None = None, original_transaction_id: str | None = None,
           metadata: dict | None = None, idempotency_key: str | None = None, processed_by: str | None = None) -> Posting:
    """Give money back (type REFUND): raises the balance, lowers total_spent, never counts as a top-up."""
    _check_amount(amount)
    meta = {**(metadata or {}), "refundReason": reason, "originalTransactionId": original_transaction_id}
    return _post(user_id, delta=amount, amount=amount, type=TransactionType.REFUND, description=description,
                 metadata=meta, subscription_id=subscription_id, idempotency_key=idempotency_key,
                 counts_as_top_up=False, spend_delta=-amount, processed_by=processed_by)


def record_free(user_id: str, *, type: TransactionType, description: str, metadata: dict | None = None,
                subscription_id: str | None = None, idempotency_key: str | None = None) -> Posting:
    """A zero-amount ledger row documenting something given for free (bonus, free plan, coupon)."""
    return _post(user_id, delta=0, amount=0, type=type, description=description, metadata=metadata,
                 subscription_id=subscription_id, idempotency_key=idempotency_key, counts_as_top_up=False,
                 spend_delta=0)


def open_pending(user_id: str, amount: int, *, type: TransactionType, description: str, payment_method: str | None,
                 metadata: dict | None = None) -> Transaction:
    """A PENDING row (e.g. a Midtrans top-up waiting for payment). The balance does not move yet;
    balance_before records the balance when the payment started (informational)."""
    _check_amount(amount)
    user = db.session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    row = Transaction(custom_id=next_transaction_custom_id(), user_id=user_id, type=type,
                      status=TransactionStatus.PENDING, amount=amount, balance_before=user.credit_balance,
                      balance_after=user.credit_balance, description=description, payment_method=payment_method,
                      metadata_=metadata)
    db.session.add(row)
    db.session.flush()
    return row


def settle_pending(transaction_id: str, *, metadata: dict | None = None, counts_as_top_up: bool = True) -> Posting:
    """Complete a PENDING/FAILED/CANCELLED row and credit its stored amount, exactly once.

    The row is locked, then the user; the conditional UPDATE (status <> COMPLETED) is the guard that
    a concurrent or repeated settlement cannot pass twice.
    """
    row = db.session.execute(select(Transaction).where(Transaction.id == transaction_id).with_for_update()
                             .execution_options(populate_existing=True)).scalar_one()
    if row.status == TransactionStatus.COMPLETED:
        return Posting(row, applied=False)
    user = lock_user(row.user_id)
    before = user.credit_balance
    now = utcnow()
    changed = db.session.execute(
        update(Transaction).where(Transaction.id == row.id, Transaction.status != TransactionStatus.COMPLETED)
        .values(status=TransactionStatus.COMPLETED, balance_before=before, balance_after=before + row.amount,
                completed_at=now, metadata_={**(row.metadata_ or {}), **(metadata or {})})
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        return Posting(row, applied=False)
    db.session.execute(update(User).where(User.id == user.id).values(
        credit_balance=User.credit_balance + row.amount,
        total_top_up=User.total_top_up + (row.amount if counts_as_top_up else 0)))
    db.session.refresh(row)
    db.session.refresh(user)
    return Posting(row, applied=True)


def mark_pending(transaction_id: str, status: TransactionStatus, *, metadata: dict | None = None) -> bool:
    """Move a PENDING row to FAILED/CANCELLED (never touches a COMPLETED one). True if it moved."""
    row = db.session.get(Transaction, transaction_id)
    changed = db.session.execute(
        update(Transaction).where(Transaction.id == transaction_id, Transaction.status == TransactionStatus.PENDING)
        .values(status=status, metadata_={**((row.metadata_ if row else None) or {}), **(metadata or {})})
        .execution_options(synchronize_session=False)).rowcount
    if changed and row is not None:
        db.session.refresh(row)
    return changed == 1


def ledger_sum(user_id: str) -> int:
    """Balance implied by the ledger (credits minus debits of COMPLETED rows): must equal credit_balance."""
    rows = db.session.execute(select(Transaction.balance_before, Transaction.balance_after)
                              .where(Transaction.user_id == user_id,
                                     Transaction.status == TransactionStatus.COMPLETED)).all()
    return sum(after - before for before, after in rows)
