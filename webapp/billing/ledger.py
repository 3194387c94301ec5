"""The wallet ledger: the only code that changes a user's balance.

Every function runs inside the caller's DB transaction (flush, never commit) and follows one pattern:
lock the user row (SELECT ... FOR NO KEY UPDATE), check, change the balance, write exactly one Transaction
row with a TXMP-<n> id and the balance before/after. NO KEY: inserting any row that references the user
(redemption, subscription, ledger row) takes FOR KEY SHARE on it; a plain FOR UPDATE would conflict with
that, and two transactions each holding KEY SHARE while waiting for FOR UPDATE deadlock (PostgreSQL).
A CHECK keeps balances >= 0, so even a bug cannot overdraw a wallet. Operations that can repeat pass an `idempotency_key`: the second call changes
nothing and returns the first posting (`applied=False`); a unique index backs this under any race.

Counters: `total_top_up` grows only with real top-ups (Midtrans, admin credit marked as such), never
with refunds or coupons... except welcome/credit coupons, which the original counted as top-ups and
clients display as such; callers say which with `counts_as_top_up`. `total_spent` grows with charges
and shrinks with refunds (never below 0).

Batch primitives (PostgreSQL; the renewal pass): `lock_users`, `used_idempotency_keys`, `post_debits` write
many debits with the same rows and guards, one statement per kind of write (see "batch postings" below).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, String, any_, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from .. import bulk
from ..accounts.errors import UserNotFound
from ..accounts.models import User
from ..db import new_id, utcnow
from ..extensions import db
from .errors import InsufficientCredit, InvalidAmount
from .models import Transaction, TransactionNumber, TransactionStatus, TransactionType

MAX_AMOUNT = 2_000_000_000  # well inside BIGINT; larger single movements are input errors


@dataclass(frozen=True)
class Posting:
    transaction: Transaction
    applied: bool  # False: the idempotency key was already used, nothing changed
    key_conflict: bool = False  # settle_pending: the claimed key already names another row, nothing changed


def next_transaction_custom_id() -> str:
    """TXMP-<n> from the database sequence (PostgreSQL) or its AUTOINCREMENT stand-in (SQLite)."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        number = db.session.execute(text("SELECT nextval('transaction_sequence')")).scalar_one()
    else:
        number = db.session.execute(insert(TransactionNumber).values()).inserted_primary_key[0] + 100
    return f"TXMP-{number}"


def lock_user(user_id: str) -> User:
    user = db.session.execute(select(User).where(User.id == user_id).with_for_update(key_share=True)
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


_users, _rows = User.__table__, Transaction.__table__
# settle_pending's statements, built once (UPDATE users ... RETURNING locks the user row).
_CREDIT = (update(_users).where(_users.c.id == bindparam("uid"))
           .values(credit_balance=_users.c.credit_balance + bindparam("amount", type_=BigInteger),
                   total_top_up=_users.c.total_top_up + bindparam("top_up", type_=BigInteger))
           .returning(_users.c.credit_balance))
_COMPLETE = (update(_rows).where(_rows.c.id == bindparam("tid"), _rows.c.status != TransactionStatus.COMPLETED)
             .values({_rows.c.status: TransactionStatus.COMPLETED, _rows.c.completed_at: bindparam("completed_at"),
                      _rows.c.metadata: bindparam("metadata"), _rows.c.balance_before: bindparam("before"),
                      _rows.c.balance_after: bindparam("after")}))
_COMPLETE_AND_CLAIM = _COMPLETE.values({_rows.c.idempotency_key: bindparam("key")})


class _NotSettled(Exception):
    """Raised inside the settlement savepoint to undo the balance change when the guard did not pass."""


def settle_pending(transaction_id: str, *, metadata: dict | None = None, counts_as_top_up: bool = True,
                   claim_key: str | None = None, locked: Transaction | None = None) -> Posting:
    """Complete a PENDING/FAILED/CANCELLED row and credit its stored amount, exactly once.

    The row is locked (or `locked`, already read FOR UPDATE in this transaction by the caller), then, in one
    savepoint: the user's balance is raised by an UPDATE ... RETURNING (which locks the user row) and the
    conditional UPDATE (status <> COMPLETED) completes the ledger row with the balance before/after; that UPDATE
    is the guard a concurrent or repeated settlement cannot pass twice (failing it undoes the balance change).
    `claim_key` is written into the unique `idempotency_key` (when the row has none yet) by the same UPDATE: a key
    already used by another row undoes the savepoint and returns `Posting(row, applied=False, key_conflict=True)`.
    The ORM objects of the row and the user are expired, not re-read: they reload only if used.
    """
    row = locked if locked is not None else db.session.execute(
        select(Transaction).where(Transaction.id == transaction_id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)).scalar_one()
    if row.status == TransactionStatus.COMPLETED:
        return Posting(row, applied=False)
    amount, user_id = row.amount, row.user_id
    params = {"tid": row.id, "uid": user_id, "amount": amount, "top_up": amount if counts_as_top_up else 0,
              "metadata": {**(row.metadata_ or {}), **(metadata or {})}}
    complete = _COMPLETE
    if claim_key is not None and row.idempotency_key is None:
        complete, params["key"] = _COMPLETE_AND_CLAIM, claim_key
    # Prebuilt Core statements on the session's connection (the ORM objects are expired below): this is the hot
    # path of every Midtrans payment; building statements and the ORM UPDATE/refresh cost more CPU than the SQL.
    db.session.flush()  # Core statements do not autoflush
    conn = db.session.connection()
    try:
        with conn.begin_nested():
            after = conn.execute(_CREDIT, params).scalar_one_or_none()
            if after is None:
                raise UserNotFound()
            # Stamped once the user row is locked: completed_at orders each wallet's ledger chain (a time taken
            # before the lock could sort this row ahead of a posting that held the lock first).
            params.update(before=after - amount, after=after, completed_at=utcnow())
            if conn.execute(complete, params).rowcount != 1:
                raise _NotSettled()
    except _NotSettled:
        return Posting(row, applied=False)
    except IntegrityError:
        if complete is not _COMPLETE_AND_CLAIM:
            raise
        return Posting(row, applied=False, key_conflict=True)
    finally:
        _expire_loaded(row, user_id)
    return Posting(row, applied=True)


def _expire_loaded(row: Transaction, user_id: str) -> None:
    """Core UPDATEs bypass the ORM: drop the stale attributes of the row and (if loaded) the user."""
    db.session.expire(row)
    user = db.session.identity_map.get(identity_key(User, user_id))
    if user is not None:
        db.session.expire(user)


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


# ------------------------------------------------------------------------------------- batch postings
# The renewal pass moves thousands of wallets at once. These primitives keep every rule above (user rows locked,
# one ledger row per movement with its TXMP number and balance before/after, idempotency keys under the unique
# index, the balance CHECK) but use one statement per kind of write instead of ~8 round trips per posting.
# PostgreSQL only (they need FOR UPDATE, nextval and UPDATE ... FROM VALUES); SQLite uses the functions above.

@dataclass(frozen=True)
class BatchEntry:
    """One movement of a batch: `amount` >= 0 taken from the wallet (0: a free, zero-amount row)."""

    user_id: str
    amount: int
    type: TransactionType
    description: str
    metadata: dict | None = None
    subscription_id: str | None = None
    idempotency_key: str | None = None
    counts_as_spend: bool = True


@dataclass(frozen=True)
class BatchPosting:
    entry: BatchEntry
    custom_id: str
    balance_before: int
    balance_after: int


def lock_users(user_ids) -> dict[str, int]:
    """Lock the users' rows (FOR NO KEY UPDATE, ascending id: two lockers of overlapping sets cannot deadlock) and
    return their balances. Rows already held by this transaction are not waited for."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    users = User.__table__
    rows = db.session.execute(select(users.c.id, users.c.credit_balance).where(users.c.id == any_(_ids(ids)))
                              .order_by(users.c.id).with_for_update(key_share=True)).all()
    found = {row.id: int(row.credit_balance) for row in rows}
    if len(found) != len(ids):
        raise UserNotFound()
    return found


def used_idempotency_keys(keys) -> set[str]:
    """The keys among `keys` that already name a ledger row (checked under the users' locks by the caller)."""
    keys = list(set(keys))
    if not keys:
        return set()
    table = Transaction.__table__
    return set(db.session.execute(select(table.c.idempotency_key)
                                  .where(table.c.idempotency_key == any_(_ids(keys)))).scalars())


def _ids(values: list[str]):
    """One array parameter (`= ANY(:ids)`) instead of an IN list of a thousand placeholders."""
    return bindparam(None, list(values), type_=ARRAY(String))


def next_transaction_custom_ids(count: int) -> list[str]:
    """`count` TXMP-<n> ids from the sequence in one round trip, ascending (PostgreSQL)."""
    if count <= 0:
        return []
    numbers = db.session.execute(text("SELECT nextval('transaction_sequence') FROM generate_series(1, :n)"),
                                 {"n": count}).scalars().all()
    return [f"TXMP-{n}" for n in sorted(numbers)]


def post_debits(entries: list[BatchEntry], balances: dict[str, int]) -> list[BatchPosting]:
    """Write `entries` (in their order) as COMPLETED ledger rows and move the balances: one INSERT, one UPDATE.

    `balances` must come from `lock_users` in this transaction (the rows stay locked until the commit).
    Balances chain in order per user (the second debit of a user starts where the first ended). An entry
    the wallet cannot cover raises InsufficientCredit and nothing is written: deciding which renewals fit is
    the caller's business, this is the guard. A used idempotency key fails the INSERT (unique index)."""
    if not entries:
        return []
    running = dict(balances)
    numbers = next_transaction_custom_ids(len(entries))
    postings, rows = [], []
    deltas: dict[str, list[int]] = {}
    for entry, custom_id in zip(entries, numbers):
        _check_amount(entry.amount, allow_zero=True)
        before = running[entry.user_id]
        after = before - entry.amount
        if after < 0:
            raise InsufficientCredit(balance=before, required=entry.amount)
        running[entry.user_id] = after
        postings.append(BatchPosting(entry, custom_id, before, after))
        now = utcnow()  # per row, as one posting at a time would stamp them (created_at orders a user's ledger)
        rows.append(dict(id=new_id(), custom_id=custom_id, user_id=entry.user_id, type=entry.type,
                         status=TransactionStatus.COMPLETED, amount=entry.amount, balance_before=before,
                         balance_after=after, description=entry.description, metadata=entry.metadata,
                         subscription_id=entry.subscription_id, idempotency_key=entry.idempotency_key,
                         payment_method=None, payment_reference=None, processed_by=None, admin_notes=None,
                         completed_at=now, created_at=now, updated_at=now))
        delta = deltas.setdefault(entry.user_id, [0, 0])
        delta[0] += entry.amount
        delta[1] += entry.amount if entry.counts_as_spend else 0
    inserted = bulk.insert_rows(Transaction.__table__, rows, returning="id")
    if len(inserted) != len(rows):
        raise RuntimeError("ledger batch insert wrote fewer rows than asked")
    changed = bulk.update_from(
        User.__table__, "id", [{"id": uid, "debit": d[0], "spent": d[1]} for uid, d in deltas.items()],
        typed_as={"debit": "credit_balance", "spent": "total_spent"},
        set_sql="credit_balance = t.credit_balance - v.debit, total_spent = t.total_spent + v.spent, "
                "updated_at = %(now)s",
        params={"now": utcnow()}, returning="t.id, t.credit_balance")
    if {row.id: int(row.credit_balance) for row in changed} != {uid: running[uid] for uid in deltas}:
        raise RuntimeError("ledger batch: balances moved outside the lock")  # rolls the whole batch back
    return postings
