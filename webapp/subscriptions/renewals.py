"""The billing passes (spec §3.8-§3.11): renewals, grace-period ends, auto-renew-off ends, low-credit warnings,
grace reminders. The jobs (`jobs/billing.py`) and the admin routes (B2-B5, B7) call these functions.

Exactly-once renewal per (subscription, period), whoever runs the pass and however often:
- work is claimed in batches with `SELECT ... FOR NO KEY UPDATE OF subscriptions, users SKIP LOCKED` (PostgreSQL):
  two workers (cron + a manual run, two replicas) never hold the same subscription or wallet, and a claim never
  waits, so a pass cannot deadlock with the API (which locks user -> subscription);
- the period advance is conditional (`WHERE status = 'ACTIVE' AND end_date = :expected`) and the ledger row
  carries the idempotency key `renewal:<subscription id>:<period end date>` (unique index): both happen in the
  same transaction or neither does.
Batches commit as they go; the pass walks the due rows in (user id, id) order and finishes with a short
sweep of rows that were locked by someone else when first met. An exception between batches (a crash, a kill)
leaves every committed batch complete and the rest untouched: the next run picks up the rest.

Two ways to run a batch, one set of rules (`decide_renewal`, `decide_failure` decide; both paths obey them):
- set-based (PostgreSQL, the default there): a batch of up to BATCH_SIZE (1,000) claimed rows is ONE
  transaction: lock the wallets (`ledger.lock_users`), decide every renewal in (user id, id) order against
  the running balance (a user's several due subscriptions are paid in subscription-id order while the wallet
  lasts; one that does not fit is skipped and a later, cheaper one may still be paid), then one statement per
  write: period advances + audit (`transitions.advance_periods`), ledger rows + balances (`ledger.post_debits`),
  grace starts + audit (`transitions.set_grace_periods`), notifications (`notifications.services.deferred`).
  Rare follow-ups (expiry when grace is off or over) run the one-row transition inside the same transaction.
  If anything in the batch fails, the batch rolls back and is redone by the per-row path, so one bad
  subscription still never aborts the others (§5 item 19);
- per-row (the embedded SQLite profile, and the fallback above): each subscription in its own SAVEPOINT,
  ROW_BATCH_SIZE rows per transaction (PostgreSQL caches 64 subtransaction ids per transaction and slows every
  snapshot down beyond that).

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

import enum
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import String, and_, any_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import joinedload

from .. import clock
from ..accounts.models import User
from ..billing import ledger
from ..billing.errors import InsufficientCredit
from ..billing.models import TransactionType
from ..catalog.models import Service, ServicePlan
from ..db import as_utc, isoformat, utcnow
from ..errors import DomainError
from ..extensions import db
from ..notifications import messages
from ..notifications import services as notification_services
from . import transitions
from .models import Subscription, SubscriptionStatus
from .scheduler import BillingSettings, current_settings

log = logging.getLogger(__name__)

ACTIVE = SubscriptionStatus.ACTIVE
BATCH_SIZE = 1000  # rows per set-based renewal transaction (PostgreSQL)
ROW_BATCH_SIZE = 30  # rows per per-row transaction (two savepoints each; see the module docstring)
STRAGGLER_SWEEPS = 3


class AlreadyCharged(DomainError):
    """The period's idempotency key is already used although the period did not advance (admin edits)."""

    status, message = 409, "This billing period was already charged"


class _BatchConflict(Exception):
    """A set-based batch met a row its locks should have made impossible: redo the batch row by row."""


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

    def merge(self, other: "RenewalResult") -> None:
        for name in ("processed", "successful", "failed", "insufficientCredit", "quotaExceeded",
                     "gracePeriodsStarted", "expired", "alreadyRenewed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


@dataclass
class GraceResult:
    processed: int = 0
    expired: int = 0
    renewed: int = 0
    skipped: int = 0
    errors: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------ the rules (pure functions)
class Verdict(str, enum.Enum):
    CHARGE = "charge"
    INSUFFICIENT = "insufficient"
    ALREADY_CHARGED = "already-charged"


def decide_renewal(balance: int, price: int, *, already_charged: bool) -> Verdict:
    """What a renewal does, given the wallet balance at that moment (after the same pass's earlier charges of
    the same user) and the price. A used period key wins over everything (nothing is charged twice); a free
    plan always renews; otherwise the balance must cover the whole price (no partial charges)."""
    if already_charged:
        return Verdict.ALREADY_CHARGED
    if price <= balance:
        return Verdict.CHARGE
    return Verdict.INSUFFICIENT


class FailureAction(str, enum.Enum):
    EXPIRE_NO_GRACE = "expire-no-grace"  # grace periods are disabled: expire now, tell the customer
    START_GRACE = "start-grace"  # first failure of this period: grace starts once, tell the customer
    EXPIRE_GRACE_OVER = "expire-grace-over"  # retried after the grace ended: expire
    IN_GRACE = "in-grace"  # retried during the grace: nothing moves (the grace end never moves, §5 item 12)


def decide_failure(*, grace_enabled: bool, grace_end: datetime | None, period_end: datetime,
                   now: datetime) -> FailureAction:
    """What follows a renewal the wallet could not pay. A grace that ended before this period did (an admin's
    on a paid period, §5 item 15) is stale: a fresh one starts."""
    if not grace_enabled:
        return FailureAction.EXPIRE_NO_GRACE
    if grace_end is None or grace_end <= period_end:
        return FailureAction.START_GRACE
    if grace_end <= now:
        return FailureAction.EXPIRE_GRACE_OVER
    return FailureAction.IN_GRACE


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


def _batch_supported() -> bool:
    """The set-based path needs PostgreSQL (FOR UPDATE SKIP LOCKED, nextval, UPDATE ... FROM VALUES)."""
    return _is_postgres()


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


def _id_in(ids: list[str]):
    """`subscriptions.id IN (...)`; one array parameter on PostgreSQL (`= ANY(:ids)`), which the driver and the
    server parse once, instead of a thousand placeholders."""
    if _is_postgres():
        return Subscription.id == any_(bindparam(None, list(ids), type_=ARRAY(String)))
    return Subscription.id.in_(ids)


def _claim(ids: list[str], condition) -> list:
    """Lock the still-matching rows among `ids` (skipping rows someone else holds), in (user, id) order.

    Plain columns, not entities: the ledger's UPDATE of users synchronises every User object in the session,
    so keeping a batch of them in the identity map would make each charge O(batch)."""
    query = (select(*_CLAIM_COLUMNS).join(User, User.id == Subscription.user_id)
             .where(_id_in(ids), condition)
             .order_by(Subscription.user_id, Subscription.id))
    if _is_postgres():
        query = query.with_for_update(of=(Subscription, User), skip_locked=True, key_share=True)
    return list(db.session.execute(query).all())


def _walk(condition, handle_rows, *, batch_size: int, limit: int | None) -> int:
    """Claim every row matching `condition` in batches and pass each batch to `handle_rows(facts)`, then
    commit; returns how many rows were claimed."""
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
            seen.update(row.id for row in rows)
            handle_rows([_facts(row, names) for row in rows])
            db.session.commit()

    run(ids)
    for _ in range(STRAGGLER_SWEEPS):  # rows another transaction held when we met them
        left = [i for i in ids if i not in seen]
        if not left:
            break
        still: set[str] = set()
        for start in range(0, len(left), 10_000):  # bounded IN lists (a driver takes at most 65,535 parameters)
            still.update(db.session.execute(select(Subscription.id)
                                            .where(_id_in(left[start:start + 10_000]), condition))
                         .scalars())
        db.session.commit()
        left = [i for i in left if i in still]
        if not left:
            break
        run(left)
    return len(seen)


def _each(handle):
    """A `_walk` batch handler running `handle(facts)` row by row."""
    def handle_rows(batch):
        for facts in batch:
            handle(facts)
    return handle_rows


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


def _description(facts: _Facts) -> str:
    return f"Auto-renewal: {facts.service_name} - {facts.plan_name} plan"


def _metadata(facts: _Facts, new_end: datetime) -> dict:
    return {"subscriptionId": facts.id, "serviceName": facts.service_name, "planName": facts.plan_name,
            "isAutoRenewal": True, "periodStart": isoformat(facts.end_date), "periodEnd": isoformat(new_end)}


def renew_one(facts: _Facts, now: datetime, *, source: str) -> bool:
    """Charge one period and advance it, in the caller's savepoint. True: renewed now; False: the period was
    already advanced by someone else (nothing charged). InsufficientCredit and AlreadyCharged propagate (the
    caller rolls the savepoint back)."""
    new_end = next_period_end(facts, now)
    outcome = transitions.advance_period(facts.id, expected_end_date=facts.end_date, new_end_date=new_end,
                                         charged_amount=facts.price, source=source, reason="Auto-renewal")
    if not outcome.changed:
        return False
    key = idempotency_key(facts.id, facts.end_date)
    balance = ledger.lock_user(facts.user_id).credit_balance
    verdict = decide_renewal(balance, facts.price, already_charged=ledger.find_by_idempotency_key(key) is not None)
    if verdict is Verdict.ALREADY_CHARGED:
        raise AlreadyCharged()
    if verdict is Verdict.INSUFFICIENT:
        raise InsufficientCredit(balance=balance, required=facts.price)
    description, metadata = _description(facts), _metadata(facts, new_end)
    if facts.price > 0:  # the ledger re-checks the balance and the key under the same lock (the money guard)
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
    action = decide_failure(grace_enabled=settings.grace_enabled, grace_end=grace, period_end=facts.end_date, now=now)
    if action is FailureAction.START_GRACE:
        outcome = transitions.set_grace_period(facts.id, days=settings.grace_days, source=source,
                                               reason=f"Renewal failed: {exc.text}", replace=grace is not None)
        _failure_notice(facts, exc, settings, balance, as_utc(outcome.subscription.grace_period_end))
        return "grace" if outcome.changed else "in-grace"
    if action in (FailureAction.EXPIRE_NO_GRACE, FailureAction.EXPIRE_GRACE_OVER):
        _expire_unpaid(facts, exc, action, settings, balance, source=source)
        return "expired"
    return "in-grace"


def _expire_unpaid(facts: _Facts, exc: InsufficientCredit, action: FailureAction, settings: BillingSettings,
                   balance: int, *, source: str) -> None:
    if action is FailureAction.EXPIRE_NO_GRACE:
        transitions.expire_subscription(facts.id, reason=f"Renewal failed: {exc.text} (grace period disabled)",
                                        source=source)
        _failure_notice(facts, exc, settings, balance, None)
    else:
        transitions.expire_subscription(facts.id, reason=f"Grace period ended without payment: {exc.text}",
                                        source=source)


def _failure_notice(facts: _Facts, exc: InsufficientCredit, settings: BillingSettings, balance: int,
                    grace_end: datetime | None) -> None:
    messages.renewal_failure(facts, user=facts.user, reason=exc.text, period_end=facts.end_date,
                             grace_days=settings.grace_days if grace_end is not None else None,
                             grace_period_end=grace_end, required=facts.price, balance=balance)


# --------------------------------------------------------------------------------- a batch at once
def renew_batch(batch: list[_Facts], now: datetime, settings: BillingSettings, *, source: str) -> RenewalResult:
    """Renew a claimed batch set-based, in the caller's transaction (PostgreSQL). `batch` is in (user id, id)
    order and its subscription and user rows are locked by the claim. Same outcome, row for row, as running
    `renew_one` / `_after_insufficient` over the batch in that order. Raises on anything unexpected; the caller
    rolls the batch back and redoes it row by row."""
    out = RenewalResult()
    balances = ledger.lock_users(f.user_id for f in batch)  # held already (the claim); in id order all the same
    keys = {f.id: idempotency_key(f.id, f.end_date) for f in batch}
    used = ledger.used_idempotency_keys(keys.values())
    running = dict(balances)
    charged: list[tuple[_Facts, datetime]] = []
    unpaid: list[tuple[_Facts, int, InsufficientCredit]] = []
    for facts in batch:
        out.processed += 1
        balance = running[facts.user_id]
        verdict = decide_renewal(balance, facts.price, already_charged=keys[facts.id] in used)
        if verdict is Verdict.ALREADY_CHARGED:
            out.alreadyRenewed += 1
        elif verdict is Verdict.CHARGE:
            running[facts.user_id] = balance - facts.price
            charged.append((facts, next_period_end(facts, now)))
        else:
            unpaid.append((facts, balance, InsufficientCredit(balance=balance, required=facts.price)))

    moved = transitions.advance_periods(((f.id, f.end_date, new_end, f.price) for f, new_end in charged),
                                        source=source, reason="Auto-renewal")
    if len(moved) != len(charged):
        raise _BatchConflict("a claimed period did not advance")
    with notification_services.deferred():
        postings = ledger.post_debits([ledger.BatchEntry(
            user_id=f.user_id, amount=f.price, type=TransactionType.SUBSCRIPTION, description=_description(f),
            metadata=_metadata(f, new_end), subscription_id=f.id, idempotency_key=keys[f.id])
            for f, new_end in charged], balances)
        for (facts, new_end), posting in zip(charged, postings):
            messages.renewal_success(facts, user=facts.user, charged_amount=facts.price, period_end=facts.end_date,
                                     new_end_date=new_end, transaction_id=posting.custom_id)
        out.successful += len(charged)
        _unpaid_batch(unpaid, now, settings, out, source=source)
    return out


def _unpaid_batch(unpaid, now: datetime, settings: BillingSettings, out: RenewalResult, *, source: str) -> None:
    graces = []
    for facts, balance, exc in unpaid:
        out.failed += 1
        out.insufficientCredit += 1
        out.errors.append(_error(facts, exc))
        action = decide_failure(grace_enabled=settings.grace_enabled, grace_end=facts.grace_period_end,
                                period_end=facts.end_date, now=now)
        if action is FailureAction.START_GRACE:
            graces.append((facts, balance, exc))
        elif action in (FailureAction.EXPIRE_NO_GRACE, FailureAction.EXPIRE_GRACE_OVER):
            _expire_unpaid(facts, exc, action, settings, balance, source=source)  # rare: the one-row transition
            out.expired += 1
    started = transitions.set_grace_periods(
        ((f.id, f"Renewal failed: {exc.text}", f.grace_period_end is not None) for f, _, exc in graces),
        days=settings.grace_days, source=source) if graces else {}
    if len(started) != len(graces):
        raise _BatchConflict("a claimed grace period did not start")
    for facts, balance, exc in graces:
        _failure_notice(facts, exc, settings, balance, as_utc(started[facts.id]))
    out.gracePeriodsStarted += len(graces)


# ------------------------------------------------------------------------------------------ passes
def due_condition(now: datetime):
    return and_(Subscription.status == ACTIVE, Subscription.auto_renew.is_(True), Subscription.next_billing <= now)


def ended_without_renewal_condition(now: datetime):
    """ACTIVE, auto-renew off, period over (§5 item 13)."""
    return and_(Subscription.status == ACTIVE, Subscription.auto_renew.is_(False), Subscription.end_date <= now)


def process_renewals(*, now: datetime | None = None, batch_size: int = BATCH_SIZE, limit: int | None = None,
                     source: str = "job") -> dict:
    """The daily renewal pass (§3.8, B2): renew every due subscription once, start grace periods, expire
    subscriptions whose grace is over or whose auto-renew is off at their end date. Returns the counts.
    `batch_size`: rows per transaction (set-based batches on PostgreSQL, per-row elsewhere)."""
    settings = current_settings()
    now = now or clock.now()
    result = RenewalResult()
    # Due, but not a row in grace that changed since this pass began: that is a grace this pass or a concurrent
    # one just started (wall-clock `updated_at`), and meeting it again would only retry it in vain and count it
    # twice. Rows in an older grace are retried as always.
    started = utcnow()
    condition = and_(due_condition(now), or_(Subscription.grace_period_end.is_(None),
                                             Subscription.updated_at < started))

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

    def handle_batch(batch: list[_Facts]) -> None:
        if not batch:
            return
        try:
            partial = renew_batch(batch, now, settings, source=source)
            db.session.commit()
        except Exception:  # noqa: BLE001 - redo this batch row by row: one bad row must not block the others
            db.session.rollback()
            log.warning("set-based renewal batch of %d failed; redoing it row by row", len(batch), exc_info=True)
            _walk_ids([f.id for f in batch], condition, _each(handle))
            return
        result.merge(partial)

    _walk(condition, handle_batch if _batch_supported() else _each(handle), batch_size=batch_size, limit=limit)
    result.expired += _expire_ended(now, batch_size=ROW_BATCH_SIZE, source=source, errors=result.errors)
    _schedule_delivery()
    return result.as_dict()


def _walk_ids(ids: list[str], condition, handle_rows) -> None:
    """Re-claim `ids` (those still matching, not held by others) ROW_BATCH_SIZE at a time and handle them."""
    names = _Names()
    for start in range(0, len(ids), ROW_BATCH_SIZE):
        rows = _claim(ids[start:start + ROW_BATCH_SIZE], condition)
        names.load(rows)
        handle_rows([_facts(row, names) for row in rows])
        db.session.commit()


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

    _walk(ended_without_renewal_condition(now), _each(handle), batch_size=batch_size, limit=None)
    return expired


def grace_condition(now: datetime):
    return and_(Subscription.status == ACTIVE, Subscription.grace_period_end.is_not(None),
                Subscription.grace_period_end <= now)


def process_grace_period(*, now: datetime | None = None, batch_size: int = ROW_BATCH_SIZE,
                         source: str = "job") -> dict:
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

    _walk(grace_condition(now), _each(handle), batch_size=batch_size, limit=None)
    _schedule_delivery()
    return result.as_dict()


# ------------------------------------------------------------------------------ low credit, reminders
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
