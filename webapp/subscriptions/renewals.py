"""The billing passes (spec §3.8-§3.11): renewals, grace-period ends, auto-renew-off ends, low-credit warnings,
grace reminders. The jobs (`jobs/billing.py`) and the admin routes (B2-B5, B7) call these functions.

Exactly-once renewal per (subscription, period), whoever runs the pass and however often:
- work is claimed in batches with `SELECT ... FOR UPDATE OF subscriptions, users SKIP LOCKED` (PostgreSQL):
  two workers (cron + a manual run, two replicas) never hold the same subscription, and a claim never waits,
  so a pass cannot deadlock with the API (which locks user -> subscription);
- each subscription is renewed inside its own SAVEPOINT: the conditional period advance
  (`transitions.advance_period`, `WHERE end_date = :expected`) and the ledger debit with the idempotency key
  `renewal:<subscription id>:<period end date>` (unique index) either both happen or neither does;
- one failing subscription rolls back its savepoint only; the batch goes on (§5 items 1, 19).
Batches commit as they go; the pass walks the due rows in (user id, id) order and finishes with a short
sweep of rows that were locked by someone else when first met.

Policy decisions where the original is wrong (§5):
- the renewal charges the subscription's cached `monthly_price` (item 10); a free (0 IDR) plan writes a
  0-amount ledger row with the same key;
- a renewal never needs a quota slot (item 14): it keeps the slot it holds, so `quotaExceeded` stays 0;
- the grace period is set once per failed period (`set_grace_period` refuses to extend a running grace,
  item 12); the pass retries the charge while in grace, and expires when the grace is over;
- auto-renew off: the subscription expires at its end date (item 13); the grace pass never charges a
  subscription whose auto-renew was turned off during grace, and never expires a paid period early (item 15);
- catch-up (item 18): a period is renewed from its old end date (same day of month, end-of-month clamped in
  BILLING_TIMEZONE); when that is still in the past (months behind), the new period starts now.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import joinedload

from .. import clock
from ..accounts.models import User
from ..billing import ledger
from ..billing.errors import InsufficientCredit
from ..billing.models import TransactionType
from ..catalog.models import Service, ServicePlan
from ..db import as_utc, isoformat
from ..errors import DomainError
from ..extensions import db
from ..notifications import messages
from . import transitions
from .models import Subscription, SubscriptionStatus
from .scheduler import BillingSettings, current_settings

log = logging.getLogger(__name__)

ACTIVE = SubscriptionStatus.ACTIVE
# Small transactions: each renewal uses two savepoints (ours, the ledger's); PostgreSQL caches 64 subtransaction
# ids per transaction and slows every snapshot down beyond that (measured: 500 per batch is ~60% slower than 30).
BATCH_SIZE = 30
STRAGGLER_SWEEPS = 3


class AlreadyCharged(DomainError):
    """The period's idempotency key is already used although the period did not advance (admin edits)."""

    status, message = 409, "This billing period was already charged"


# ------------------------------------------------------------------------------------------ results
@dataclass
class RenewalResult:
    processed: int = 0
    successful: int = 0
    failed: int = 0
    insufficientCredit: int = 0
    quotaExceeded: int = 0  # kept for the original's shape; a renewal never needs a new slot (§5 item 14)
    gracePeriodsStarted: int = 0
    expired: int = 0
    alreadyRenewed: int = 0
    errors: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class GraceResult:
    processed: int = 0
    expired: int = 0
    renewed: int = 0
    skipped: int = 0
    errors: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------ helpers
def idempotency_key(subscription_id: str, period_end: datetime) -> str:
    return f"renewal:{subscription_id}:{messages.period_key(period_end)}"


def _anchor_day(subscription: Subscription) -> int | None:
    """The day of month renewals keep (the start day) unless an admin moved the end date off it."""
    start = clock.local(as_utc(subscription.start_date)).day
    end = clock.local(as_utc(subscription.end_date))
    next_day = (end + clock.DAY).day
    if end.day == start or (start > end.day and next_day == 1):  # on the start day, or clamped to month end
        return start
    return None


def next_period_end(subscription: Subscription, now: datetime) -> datetime:
    old_end = as_utc(subscription.end_date)
    new_end = clock.add_months(old_end, 1, anchor_day=_anchor_day(subscription))
    if new_end <= now:  # months behind (auto-renew re-enabled late, admin edits): restart the period now
        new_end = clock.add_months(now, 1)
    return new_end


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


class _Names:
    """Service and plan names for descriptions and messages, read once per pass."""

    def __init__(self):
        self.services: dict[str, str] = {}
        self.plans: dict[str, str] = {}

    def load(self, rows) -> None:
        service_ids = {r.service_id for r in rows} - set(self.services)
        plan_ids = {r.plan_id for r in rows} - set(self.plans)
        if service_ids:
            self.services.update(db.session.execute(select(Service.id, Service.name)
                                                    .where(Service.id.in_(service_ids))).all())
        if plan_ids:
            self.plans.update(db.session.execute(select(ServicePlan.id, ServicePlan.name)
                                                 .where(ServicePlan.id.in_(plan_ids))).all())


_CLAIM_COLUMNS = (Subscription.id, Subscription.user_id, Subscription.service_id, Subscription.plan_id,
                  Subscription.start_date, Subscription.end_date, Subscription.grace_period_end,
                  Subscription.auto_renew, Subscription.monthly_price, User.email, User.name)


def _claim(ids: list[str], condition) -> list:
    """Lock the still-matching rows among `ids` (skipping rows someone else holds), in (user, id) order.

    Plain columns, not entities: the ledger's UPDATE of users synchronises every User object in the session,
    so keeping a batch of them in the identity map would make each charge O(batch)."""
    query = (select(*_CLAIM_COLUMNS).join(User, User.id == Subscription.user_id)
             .where(Subscription.id.in_(ids), condition)
             .order_by(Subscription.user_id, Subscription.id))
    if _is_postgres():
        query = query.with_for_update(of=(Subscription, User), skip_locked=True)
    return list(db.session.execute(query).all())


def _walk(condition, handle, *, batch_size: int, limit: int | None) -> int:
    """Claim and handle every row matching `condition`, in batches; returns how many were handled."""
    query = select(Subscription.id).where(condition).order_by(Subscription.user_id, Subscription.id)
    if limit:
        query = query.limit(limit)
    ids = list(db.session.execute(query).scalars())
    db.session.commit()  # end the read; every batch is its own transaction
    seen: set[str] = set()
    names = _Names()

    def run(chunk_ids):
        for start in range(0, len(chunk_ids), batch_size):
            chunk = chunk_ids[start:start + batch_size]
            rows = _claim(chunk, condition)
            names.load(rows)
            for row in rows:
                seen.add(row.id)
                handle(_facts(row, names))
            db.session.commit()

    run(ids)
    for _ in range(STRAGGLER_SWEEPS):  # rows another transaction held when we met them
        left = [i for i in ids if i not in seen]
        if not left:
            break
        still = set(db.session.execute(select(Subscription.id).where(Subscription.id.in_(left), condition)).scalars())
        db.session.commit()
        left = [i for i in left if i in still]
        if not left:
            break
        run(left)
    return len(seen)


def _error(facts: "_Facts", exc: Exception) -> dict:
    text = exc.text if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
    return {"subscriptionId": facts.id, "userId": facts.user_id, "userEmail": facts.user_email, "error": text}


# ------------------------------------------------------------------------------------ one renewal
@dataclass
class _Facts:
    """Plain values of a claimed row: nothing here expires when a savepoint rolls back."""

    id: str
    user_id: str
    user_email: str
    user_name: str
    start_date: datetime
    end_date: datetime
    grace_period_end: datetime | None
    auto_renew: bool
    price: int
    service_name: str
    plan_name: str

    @property
    def user(self) -> "_Who":
        return _Who(self.user_id, self.user_email, self.user_name)


@dataclass(frozen=True)
class _Who:
    id: str
    email: str
    name: str


def _facts(row, names: _Names) -> _Facts:
    return _Facts(row.id, row.user_id, row.email, row.name, as_utc(row.start_date), as_utc(row.end_date),
                  as_utc(row.grace_period_end), bool(row.auto_renew), int(row.monthly_price),
                  names.services.get(row.service_id, "Service"), names.plans.get(row.plan_id, "Plan"))


def renew_one(facts: _Facts, now: datetime, *, source: str) -> bool:
    """Charge one period and advance it, in the caller's savepoint. True: renewed now; False: the period was
    already advanced by someone else (nothing charged). InsufficientCredit propagates (the caller rolls back)."""
    new_end = next_period_end(facts, now)
    outcome = transitions.advance_period(facts.id, expected_end_date=facts.end_date, new_end_date=new_end,
                                         charged_amount=facts.price, source=source, reason="Auto-renewal")
    if not outcome.changed:
        return False
    description = f"Auto-renewal: {facts.service_name} - {facts.plan_name} plan"
    metadata = {"subscriptionId": facts.id, "serviceName": facts.service_name, "planName": facts.plan_name,
                "isAutoRenewal": True, "periodStart": isoformat(facts.end_date), "periodEnd": isoformat(new_end)}
    key = idempotency_key(facts.id, facts.end_date)
    if facts.price > 0:
        posting = ledger.debit(facts.user_id, facts.price, type=TransactionType.SUBSCRIPTION, description=description,
                               metadata=metadata, subscription_id=facts.id, idempotency_key=key)
    else:
        posting = ledger.record_free(facts.user_id, type=TransactionType.SUBSCRIPTION, description=description,
                                     metadata=metadata, subscription_id=facts.id, idempotency_key=key)
    if not posting.applied:
        raise AlreadyCharged()
    messages.renewal_success(facts, user=facts.user, charged_amount=facts.price, period_end=facts.end_date,
                             new_end_date=new_end, transaction_id=posting.transaction.custom_id)
    return True


def _after_insufficient(facts: _Facts, exc: InsufficientCredit, now: datetime, settings: BillingSettings,
                        *, source: str) -> str:
    """The charge failed for lack of credit: start the grace period once, or expire. Returns what happened."""
    subscription = transitions.load(facts.id)
    balance = ledger.lock_user(facts.user_id).credit_balance
    grace = as_utc(subscription.grace_period_end)
    reason = exc.text
    if not settings.grace_enabled:
        transitions.expire_subscription(facts.id, reason=f"Renewal failed: {reason} (grace period disabled)",
                                        source=source)
        messages.renewal_failure(facts, user=facts.user, reason=reason, period_end=facts.end_date, grace_days=None,
                                 grace_period_end=None, required=facts.price, balance=balance)
        return "expired"
    if grace is None or grace <= facts.end_date:
        # No grace yet, or a stale one that ended before this period did (an admin's, §5 item 15): start one.
        outcome = transitions.set_grace_period(facts.id, days=settings.grace_days, source=source,
                                               reason=f"Renewal failed: {reason}", replace=grace is not None)
        messages.renewal_failure(facts, user=facts.user, reason=reason, period_end=facts.end_date,
                                 grace_days=settings.grace_days,
                                 grace_period_end=as_utc(outcome.subscription.grace_period_end),
                                 required=facts.price, balance=balance)
        return "grace" if outcome.changed else "in-grace"
    if grace <= now:
        transitions.expire_subscription(facts.id, reason=f"Grace period ended without payment: {reason}",
                                        source=source)
        return "expired"
    return "in-grace"  # retried during the grace period; the grace end does not move


# ------------------------------------------------------------------------------------------ passes
def due_condition(now: datetime):
    return and_(Subscription.status == ACTIVE, Subscription.auto_renew.is_(True), Subscription.next_billing <= now)


def ended_without_renewal_condition(now: datetime):
    """ACTIVE, auto-renew off, period over (§5 item 13)."""
    return and_(Subscription.status == ACTIVE, Subscription.auto_renew.is_(False), Subscription.end_date <= now)


def process_renewals(*, now: datetime | None = None, batch_size: int = BATCH_SIZE, limit: int | None = None,
                     source: str = "job") -> dict:
    """The daily renewal pass (§3.8, B2): renew every due subscription once, start grace periods, expire
    subscriptions whose grace is over or whose auto-renew is off at their end date. Returns the counts."""
    settings = current_settings()
    now = now or clock.now()
    result = RenewalResult()

    def handle(facts: _Facts) -> None:
        result.processed += 1
        try:
            with db.session.begin_nested():
                renewed = renew_one(facts, now, source=source)
            if renewed:
                result.successful += 1
            else:
                result.alreadyRenewed += 1
            return
        except InsufficientCredit as exc:
            result.failed += 1
            result.insufficientCredit += 1
            result.errors.append(_error(facts, exc))
            try:
                with db.session.begin_nested():
                    what = _after_insufficient(facts, exc, now, settings, source=source)
                result.gracePeriodsStarted += what == "grace"
                result.expired += what == "expired"
            except Exception as follow_up:  # noqa: BLE001 - never abort the batch (§5 item 19)
                log.exception("renewal follow-up failed for %s", facts.id)
                result.errors.append(_error(facts, follow_up))
        except AlreadyCharged:
            result.alreadyRenewed += 1
        except Exception as exc:  # noqa: BLE001 - one failing subscription never aborts the batch
            log.exception("renewal failed for %s", facts.id)
            result.failed += 1
            result.errors.append(_error(facts, exc))

    _walk(due_condition(now), handle, batch_size=batch_size, limit=limit)
    result.expired += _expire_ended(now, batch_size=batch_size, source=source, errors=result.errors)
    _schedule_delivery()
    return result.as_dict()


def _expire_ended(now: datetime, *, batch_size: int, source: str, errors: list) -> int:
    expired = 0

    def handle(facts: _Facts) -> None:
        nonlocal expired
        try:
            with db.session.begin_nested():
                outcome = transitions.expire_subscription(facts.id, source=source,
                                                          reason="Subscription ended (auto-renew is off)")
            expired += outcome.changed
        except Exception as exc:  # noqa: BLE001
            log.exception("expiry failed for %s", facts.id)
            errors.append(_error(facts, exc))

    _walk(ended_without_renewal_condition(now), handle, batch_size=batch_size, limit=None)
    return expired


def grace_condition(now: datetime):
    return and_(Subscription.status == ACTIVE, Subscription.grace_period_end.is_not(None),
                Subscription.grace_period_end <= now)


def process_grace_period(*, now: datetime | None = None, batch_size: int = BATCH_SIZE, source: str = "job") -> dict:
    """The grace pass (§3.9, B3): for each ACTIVE subscription whose grace ended, renew it if the wallet now
    covers the price, else expire it. Auto-renew off during grace: expire, never charge. A grace an admin set on
    a period that is still paid (end date in the future) is left alone (§5 item 15)."""
    now = now or clock.now()
    result = GraceResult()

    def handle(facts: _Facts) -> None:
        result.processed += 1
        try:
            if facts.end_date > now:
                result.skipped += 1
                return
            if not facts.auto_renew:
                with db.session.begin_nested():
                    outcome = transitions.expire_subscription(
                        facts.id, source=source, reason="Grace period ended; auto-renew is off")
                result.expired += outcome.changed
                return
            try:
                with db.session.begin_nested():
                    renewed = renew_one(facts, now, source=source)
                result.renewed += renewed
                return
            except InsufficientCredit as exc:
                with db.session.begin_nested():
                    outcome = transitions.expire_subscription(
                        facts.id, source=source, reason=f"Grace period ended without payment: {exc.text}")
                result.expired += outcome.changed
        except Exception as exc:  # noqa: BLE001 - one failing subscription never aborts the batch
            log.exception("grace processing failed for %s", facts.id)
            error = _error(facts, exc)
            error.pop("userEmail")
            result.errors.append(error)

    _walk(grace_condition(now), handle, batch_size=batch_size, limit=None)
    _schedule_delivery()
    return result.as_dict()


# ------------------------------------------------------------------------------ low credit, reminders
def low_credit_subscriptions(*, now: datetime | None = None, days: int | None = None) -> list[Subscription]:
    """§3.11: ACTIVE, auto-renew on, next billing within LOW_CREDIT_WARNING_DAYS calendar days (overdue rows
    included), and the owner's balance below the price of that renewal."""
    now = now or clock.now()
    if days is None:
        days = current_settings().low_credit_days
    horizon = clock.add_days(now, days)
    query = (select(Subscription).join(User, User.id == Subscription.user_id)
             .where(Subscription.status == ACTIVE, Subscription.auto_renew.is_(True),
                    Subscription.next_billing <= horizon, User.credit_balance < Subscription.monthly_price)
             .options(joinedload(Subscription.user), joinedload(Subscription.service), joinedload(Subscription.plan))
             .order_by(Subscription.next_billing, Subscription.id))
    return list(db.session.execute(query).scalars())


def send_low_credit_notifications(*, now: datetime | None = None) -> dict:
    """Record one LOW_CREDIT_WARNING per (subscription, period) for every low-credit subscription (B5 / job)."""
    now = now or clock.now()
    settings = current_settings()
    result = {"processed": 0, "successful": 0, "failed": 0, "errors": []}
    if not settings.low_credit_enabled:
        return result
    for subscription in low_credit_subscriptions(now=now, days=settings.low_credit_days):
        result["processed"] += 1
        try:
            with db.session.begin_nested():
                messages.low_credit_warning(subscription, user=subscription.user, now=now)
            result["successful"] += 1
        except Exception as exc:  # noqa: BLE001
            log.exception("low-credit warning failed for %s", subscription.id)
            result["failed"] += 1
            result["errors"].append({"subscriptionId": subscription.id, "userEmail": subscription.user.email,
                                     "error": str(exc)})
    db.session.commit()
    _schedule_delivery()
    return result


def send_grace_period_reminders(*, now: datetime | None = None) -> dict:
    """One GRACE_PERIOD_REMINDER a day per ACTIVE subscription still inside its grace period (§3.7; reminders
    never go to rows whose grace already ended, §5 item 26)."""
    now = now or clock.now()
    result = {"processed": 0, "successful": 0, "failed": 0, "errors": []}
    query = (select(Subscription)
             .where(Subscription.status == ACTIVE, Subscription.grace_period_end.is_not(None),
                    Subscription.grace_period_end > now)
             .options(joinedload(Subscription.user), joinedload(Subscription.service), joinedload(Subscription.plan))
             .order_by(Subscription.grace_period_end, Subscription.id))
    for subscription in db.session.execute(query).scalars():
        result["processed"] += 1
        try:
            with db.session.begin_nested():
                messages.grace_period_reminder(subscription, user=subscription.user, now=now)
            result["successful"] += 1
        except Exception as exc:  # noqa: BLE001
            log.exception("grace reminder failed for %s", subscription.id)
            result["failed"] += 1
            result["errors"].append({"subscriptionId": subscription.id, "userEmail": subscription.user.email,
                                     "error": str(exc)})
    db.session.commit()
    _schedule_delivery()
    return result


def _schedule_delivery() -> None:
    """One delivery job for whatever the pass recorded (enqueued through the outbox after the commit)."""
    try:
        from ..notifications.delivery import schedule_delivery

        schedule_delivery()
        db.session.commit()
    except Exception:  # noqa: BLE001 - delivery also runs on its own schedule; the pass's work is committed
        db.session.rollback()
        log.warning("could not schedule notification delivery", exc_info=True)


__all__ = ["process_renewals", "process_grace_period", "low_credit_subscriptions", "send_low_credit_notifications",
           "send_grace_period_reminders", "idempotency_key", "next_period_end", "RenewalResult", "GraceResult",
           "due_condition"]
