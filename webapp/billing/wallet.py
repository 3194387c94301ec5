"""Wallet queries (W1, W2, W7, W8), admin wallet reports (A1-A3) and admin balance adjustments (A4-A6).

Adjustments have ONE implementation, `adjust_balance`, used by the API (A4/A5), the bulk route (A6, all items in
the caller's single transaction) and the console's "Adjust balance" form. It moves money only through
`ledger.credit/debit` (row lock, ledger row), records the admin (`processed_by`), the reason (`admin_notes`),
`paymentMethod ADMIN_MANUAL`, and writes an audit entry in the same transaction. Admin credits do not count as
top-ups and admin deductions do not count as spending (spec §5 item 21). Wallets cannot go negative (a database
CHECK), so `allowNegative` is refused with 400 when it would be needed (spec §5 item 19, the "or 400" branch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, bindparam, case, func, or_, select

from ..accounts.errors import UserNotFound
from ..accounts.models import User
from ..audit import services as audit
from ..db import as_utc, utcnow
from ..errors import DomainError
from ..extensions import db
from . import ledger
from .errors import IdempotencyKeyReused
from .models import Transaction, TransactionStatus, TransactionType


class InsufficientBalance(DomainError):
    status, message = 400, "Insufficient balance. User has {balance} credits, but {amount} credits requested for deduction."


class DuplicateUserInAdjustments(DomainError):
    status, message = 400, "Duplicate userId in adjustments"


class UsersNotFound(DomainError):
    status, message = 404, "One or more users not found"


class BulkValidationErrors(DomainError):
    status, message = 400, "Validation errors"


class InvalidIdempotencyKey(DomainError):
    status, message = 400, "Idempotency-Key must be 1-100 printable characters"


CREDIT, DEBIT = "CREDIT", "DEBIT"
_CREDIT_TYPES = (TransactionType.TOP_UP, TransactionType.REFUND, TransactionType.COUPON_REDEMPTION)


def direction(row: Transaction) -> str:
    """Fix §3.4: CREDIT or DEBIT, from the type; admin adjustments from their metadata or balances."""
    if row.type in _CREDIT_TYPES:
        return CREDIT
    if row.type == TransactionType.ADMIN_ADJUSTMENT:
        kind = str((row.metadata_ or {}).get("adjustmentType", "")).lower()
        if kind in ("credit", "debit"):
            return CREDIT if kind == "credit" else DEBIT
        return DEBIT if row.balance_after < row.balance_before else CREDIT
    return DEBIT


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BILLING_TIMEZONE") or "Asia/Jakarta")


def _month_start() -> datetime:
    now = utcnow().astimezone(_zone())
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _user(user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise UserNotFound()
    return user


# ------------------------------------------------------------------------------------------ W1
def wallet_info(user_id: str) -> dict:
    """The user, this month's spending and the 10 newest ledger rows (read-only rows: the columns the presenter and
    `direction` read, not ORM objects). One round trip for both ledger reads: the month's sum rides on every row
    as an uncorrelated subquery (PostgreSQL computes it once); no rows means no transactions, so a sum of 0."""
    user = _user(user_id)
    rows = db.session.execute(_wallet_info_statement(), {"user_id": user.id, "month_start": _month_start()}).all()
    return {"user": user, "monthly_spending": int(rows[0].monthly_spending) if rows else 0, "recent": rows}


_wallet_info_stmt = None


def _wallet_info_statement():
    """Built once (statement construction cost more CPU than running it); the values are bound per call."""
    global _wallet_info_stmt
    if _wallet_info_stmt is None:
        user_id = bindparam("user_id")
        monthly = select(func.coalesce(func.sum(Transaction.amount), 0)).where(
            Transaction.user_id == user_id, Transaction.status == TransactionStatus.COMPLETED,
            Transaction.type.in_((TransactionType.SUBSCRIPTION, TransactionType.UPGRADE)),
            Transaction.completed_at >= bindparam("month_start")).scalar_subquery()
        _wallet_info_stmt = (
            select(Transaction.id, Transaction.custom_id, Transaction.type, Transaction.status, Transaction.amount,
                   Transaction.description, Transaction.created_at, Transaction.completed_at, Transaction.metadata_,
                   Transaction.balance_before, Transaction.balance_after, monthly.label("monthly_spending"))
            .where(Transaction.user_id == user_id)
            .order_by(Transaction.created_at.desc(), Transaction.id.desc()).limit(10))
    return _wallet_info_stmt


# ------------------------------------------------------------------------------------------ W2
@dataclass(frozen=True)
class Page:
    rows: list
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.limit) if self.total else 0


def list_transactions(user_id: str, *, page: int = 1, limit: int = 20, type: str | None = None,
                      status: str | None = None, start: datetime | None = None, end: datetime | None = None,
                      end_exclusive: bool = False) -> Page:
    """Newest first. Either date bound alone filters (fix 31); a date-only end means "through that day"
    (the caller passes the next midnight with end_exclusive=True)."""
    conditions = [Transaction.user_id == user_id]
    if type:
        conditions.append(Transaction.type == TransactionType(type))
    if status:
        conditions.append(Transaction.status == TransactionStatus(status))
    if start is not None:
        conditions.append(Transaction.created_at >= start)
    if end is not None:
        conditions.append(Transaction.created_at < end if end_exclusive else Transaction.created_at <= end)
    total = db.session.execute(select(func.count()).select_from(Transaction).where(*conditions)).scalar_one()
    rows = db.session.execute(select(Transaction).where(*conditions)
                              .order_by(Transaction.created_at.desc(), Transaction.id.desc())
                              .offset((page - 1) * limit).limit(limit)).scalars().all()
    return Page(rows, total, page, limit)


# ------------------------------------------------------------------------------------------ W7
def _bucket(moment: datetime, period: str) -> str:
    local = as_utc(moment).astimezone(_zone())
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        sunday = local.date() - timedelta(days=(local.weekday() + 1) % 7)
        return sunday.isoformat()
    if period == "year":
        return local.strftime("%Y")
    return local.strftime("%Y-%m")


def wallet_statistics(user_id: str, period: str = "month") -> dict:
    completed = and_(Transaction.user_id == user_id, Transaction.status == TransactionStatus.COMPLETED)
    total, count = db.session.execute(select(func.coalesce(func.sum(Transaction.amount), 0), func.count())
                                      .where(completed)).one()
    by_type = {t.value: {"totalAmount": int(s), "count": c} for t, s, c in db.session.execute(
        select(Transaction.type, func.coalesce(func.sum(Transaction.amount), 0), func.count())
        .where(completed).group_by(Transaction.type)).all()}
    recent = db.session.execute(select(Transaction).where(completed,
                                                          Transaction.completed_at >= utcnow() - timedelta(days=30))
                                .order_by(Transaction.completed_at.desc()).limit(100)).scalars().all()
    buckets: dict[str, dict] = {}
    for row in recent:
        bucket = buckets.setdefault(_bucket(row.completed_at, period), {"totalAmount": 0, "count": 0, "byType": {}})
        bucket["totalAmount"] += row.amount
        bucket["count"] += 1
        kind = bucket["byType"].setdefault(row.type.value, {"amount": 0, "count": 0})
        kind["amount"] += row.amount
        kind["count"] += 1
    return {"overview": {"totalAmount": int(total), "totalTransactions": count,
                         "averageAmount": round(int(total) / count, 2) if count else 0},
            "byType": by_type, "periodStats": buckets,
            "recentActivity": [{"type": r.type.value, "amount": r.amount, "completedAt": r.completed_at}
                               for r in recent[:10]]}


# ------------------------------------------------------------------------------------------ W8
def check_credit(user_id: str, amount: int) -> dict:
    user = _user(user_id)
    sufficient = user.credit_balance >= amount
    return {"userId": user.id, "userName": user.name, "currentBalance": user.credit_balance, "requiredAmount": amount,
            "hasSufficientCredit": sufficient, "shortfall": 0 if sufficient else amount - user.credit_balance}


# ------------------------------------------------------------------------------------------ A1
def admin_statistics() -> dict:
    users = db.session.execute(select(
        func.count(), func.count().filter(User.credit_balance > 0), func.count().filter(User.credit_balance < 0),
        func.count().filter(User.credit_balance == 0), func.coalesce(func.sum(User.credit_balance), 0),
        func.avg(User.credit_balance), func.min(User.credit_balance), func.max(User.credit_balance),
        func.coalesce(func.sum(User.total_top_up), 0), func.avg(User.total_top_up),
        func.coalesce(func.sum(User.total_spent), 0), func.avg(User.total_spent))).one()
    total_tx, recent = db.session.execute(select(func.count(), func.count().filter(
        Transaction.created_at >= utcnow() - timedelta(hours=24))).select_from(Transaction)).one()
    completed = Transaction.status == TransactionStatus.COMPLETED
    by_type = [{"type": t.value, "count": c, "totalAmount": int(s or 0),
                "completed": {"count": cc, "totalAmount": int(cs or 0)}}
               for t, c, s, cc, cs in db.session.execute(
                   select(Transaction.type, func.count(), func.sum(Transaction.amount), func.count().filter(completed),
                          func.sum(case((completed, Transaction.amount), else_=0)))
                   .group_by(Transaction.type).order_by(Transaction.type)).all()]

    def rounded(value):
        return int(round(float(value))) if value is not None else 0

    return {"users": {"total": users[0], "withBalance": users[1], "withNegativeBalance": users[2],
                      "withZeroBalance": users[3]},
            "transactions": {"total": total_tx, "recent24h": recent, "byType": by_type},
            "balances": {"totalBalance": int(users[4]), "averageBalance": rounded(users[5]),
                         "minBalance": int(users[6] or 0), "maxBalance": int(users[7] or 0)},
            "topUps": {"totalTopUps": int(users[8]), "averageTopUp": rounded(users[9])},
            "spending": {"totalSpent": int(users[10]), "averageSpent": rounded(users[11])}}


# ------------------------------------------------------------------------------------------ A2
_SORTS = {"creditBalance": User.credit_balance, "totalTopUp": User.total_top_up, "totalSpent": User.total_spent,
          "createdAt": User.created_at}


def admin_overview(*, page: int = 1, limit: int = 10, search: str | None = None, sort_by: str = "totalSpent",
                   sort_order: str = "desc", min_balance: int | None = None, max_balance: int | None = None) -> dict:
    from ..subscriptions.models import Subscription, SubscriptionStatus

    conditions = [User.deleted_at.is_(None)]
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\")))
    if min_balance is not None:
        conditions.append(User.credit_balance >= min_balance)
    if max_balance is not None:
        conditions.append(User.credit_balance <= max_balance)
    column = _SORTS[sort_by]
    total = db.session.execute(select(func.count()).select_from(User).where(*conditions)).scalar_one()
    users = db.session.execute(select(User).where(*conditions)
                               .order_by(column.desc() if sort_order == "desc" else column.asc(), User.id)
                               .offset((page - 1) * limit).limit(limit)).scalars().all()
    ids = [u.id for u in users]
    active = dict(db.session.execute(select(Subscription.user_id, func.count()).where(
        Subscription.user_id.in_(ids), Subscription.status == SubscriptionStatus.ACTIVE)
        .group_by(Subscription.user_id)).all()) if ids else {}
    tx_counts = dict(db.session.execute(select(Transaction.user_id, func.count()).where(
        Transaction.user_id.in_(ids)).group_by(Transaction.user_id)).all()) if ids else {}
    summary = db.session.execute(select(
        func.coalesce(func.sum(User.credit_balance), 0), func.coalesce(func.sum(User.total_top_up), 0),
        func.coalesce(func.sum(User.total_spent), 0), func.avg(User.credit_balance), func.avg(User.total_top_up),
        func.avg(User.total_spent)).where(User.deleted_at.is_(None))).one()
    pages = math.ceil(total / limit) if total else 0
    return {"users": [{"user": u, "activeSubscriptions": active.get(u.id, 0),
                       "totalTransactions": tx_counts.get(u.id, 0)} for u in users],
            "pagination": {"currentPage": page, "totalPages": pages, "totalCount": total, "hasNext": page < pages,
                           "hasPrev": page > 1},
            "summary": {"totalBalance": int(summary[0]), "totalTopUps": int(summary[1]), "totalSpent": int(summary[2]),
                        "averageBalance": int(round(float(summary[3] or 0))),
                        "averageTopUp": int(round(float(summary[4] or 0))),
                        "averageSpent": int(round(float(summary[5] or 0)))}}


# ------------------------------------------------------------------------------------------ A3
def admin_user_wallet(user_id: str) -> dict:
    from ..subscriptions.models import Subscription, SubscriptionStatus

    user = _user(user_id)
    recent = db.session.execute(select(Transaction).where(Transaction.user_id == user.id)
                                .order_by(Transaction.created_at.desc(), Transaction.id.desc()).limit(20)).scalars().all()
    subscriptions = db.session.execute(select(Subscription).where(
        Subscription.user_id == user.id, Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(Subscription.created_at.desc())).scalars().all()
    return {"user": user, "recent": recent, "subscriptions": subscriptions}


# ------------------------------------------------------------------------------------------ A4 / A5 / A6
ADD, DEDUCT = "ADD", "DEDUCT"


@dataclass(frozen=True)
class Adjustment:
    transaction: Transaction
    user: User
    previous_balance: int
    applied: bool  # False: the Idempotency-Key was used before; nothing changed


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not (0 < len(key) <= 100) or not key.isprintable():
        raise InvalidIdempotencyKey()
    return key


def adjust_balance(actor, user_id: str, *, amount: int, kind: str, reason: str, description: str | None = None,
                   allow_negative: bool = False, source: str = "api", bulk: bool = False,
                   idempotency_key: str | None = None) -> Adjustment:
    """Add (kind ADD) or deduct (kind DEDUCT) credit as an administrator, inside the caller's transaction."""
    if kind not in (ADD, DEDUCT):
        raise DomainError('Type must be either "ADD" or "DEDUCT"')
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise DomainError("Reason must be at least 5 characters long")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise DomainError("Amount must be greater than 0")
    if not bulk:
        check_idempotency_key(idempotency_key)
    ledger_key = f"admin-adjustment:{getattr(actor, 'id', 'system')}:{idempotency_key}" if idempotency_key else None
    user = ledger.lock_user(user_id)
    if user.deleted_at is not None:
        raise UserNotFound()
    if ledger_key and (existing := ledger.find_by_idempotency_key(ledger_key)) is not None:
        # A replay must be the same request; a key reused for another user, direction or amount is refused.
        same_direction = (existing.balance_after > existing.balance_before) == (kind == ADD)
        if existing.user_id != user.id or existing.amount != amount or not same_direction:
            raise IdempotencyKeyReused()
        return Adjustment(existing, user, existing.balance_before, applied=False)
    previous = user.credit_balance
    label = ("Bulk " if bulk else "") + ("Admin Credit Addition" if kind == ADD else "Admin Credit Deduction")
    metadata = {"type": "ADMIN_ADJUSTMENT", "adjustmentType": "credit" if kind == ADD else "debit", "reason": reason,
                "description": description, "adminId": getattr(actor, "id", None),
                "adminEmail": getattr(actor, "email", None), "source": source}
    if bulk:
        metadata["bulkOperation"] = True
    common = dict(type=TransactionType.ADMIN_ADJUSTMENT, description=f"{label}: {reason}", metadata=metadata,
                  idempotency_key=ledger_key, processed_by=getattr(actor, "id", None), admin_notes=reason)
    if kind == ADD:
        posting = ledger.credit(user.id, amount, payment_method="ADMIN_MANUAL", counts_as_top_up=False, **common)
    else:
        if previous < amount:
            # The wallet cannot go below zero (CHECK constraint), whatever allowNegative says.
            raise InsufficientBalance(balance=previous, amount=amount)
        posting = ledger.debit(user.id, amount, counts_as_spend=False, **common)
        if posting.applied:
            posting.transaction.payment_method = "ADMIN_MANUAL"
    row = posting.transaction
    audit.record(actor=actor, action="wallet.credit_added" if kind == ADD else "wallet.credit_deducted",
                 target_type="user", target_id=user.id, before={"creditBalance": previous},
                 after={"creditBalance": user.credit_balance, "transactionId": row.id, "customId": row.custom_id,
                        "amount": amount, "allowNegative": allow_negative, "bulk": bulk},
                 reason=reason, source=source)
    return Adjustment(row, user, previous, applied=posting.applied)


@dataclass(frozen=True)
class BulkItem:
    user_id: str
    kind: str
    amount: int
    allow_negative: bool = False


def bulk_adjust(actor, items: list[BulkItem], *, reason: str, description: str | None = None, source: str = "api",
                idempotency_key: str | None = None) -> list[Adjustment]:
    """A6, all or nothing in the caller's transaction: duplicates are refused, every user must exist, every
    deduction must be covered (else 400 "Validation errors" listing them), then each item is applied."""
    check_idempotency_key(idempotency_key)
    ids = [item.user_id for item in items]
    if len(set(ids)) != len(ids):
        raise DuplicateUserInAdjustments()
    # Lock in a fixed order so two concurrent bulk adjustments cannot deadlock.
    users = {}
    for user_id in sorted(ids):
        user = db.session.execute(select(User).where(User.id == user_id, User.deleted_at.is_(None))
                                  .with_for_update(key_share=True)
                                  .execution_options(populate_existing=True)).scalar_one_or_none()
        if user is None:
            raise UsersNotFound()
        users[user_id] = user
    problems = [{"userId": item.user_id, "userEmail": users[item.user_id].email,
                 "error": InsufficientBalance(balance=users[item.user_id].credit_balance, amount=item.amount).text}
                for item in items if item.kind == DEDUCT and users[item.user_id].credit_balance < item.amount]
    if problems:
        raise BulkValidationErrors(data={"validationErrors": problems})
    results = []
    for index, item in enumerate(items):
        key = f"{idempotency_key}:{index}" if idempotency_key else None
        results.append(adjust_balance(actor, item.user_id, amount=item.amount, kind=item.kind, reason=reason,
                                      description=description, allow_negative=item.allow_negative, source=source,
                                      bulk=True, idempotency_key=key))
    return results
