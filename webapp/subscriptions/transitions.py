"""The subscription state machine (spec §1.4) as data, and the only functions that move a status.

Every transition is one conditional UPDATE (`WHERE id = :id AND status = :observed [AND ...]`) run in the
caller's transaction (flush, never commit). The UPDATE is the guard: of two concurrent callers only one
changes the row; the other re-reads and finds the transition already done (`changed=False`, a no-op) or
illegal (`IllegalTransition`, a typed 400). Side effects follow only a row that really changed:

- quota: a subscription holds one slot of its plan exactly while its status is in LIVE_STATUSES.
  Leaving that set releases the slot, entering it allocates one; both happen once because they follow the
  UPDATE that changed the status (cancel-then-expire races release once);
- instances: leaving the live set terminates the subscription's instances through
  `cluster.services.terminate_subscription_instances` (rows now, Kubernetes cleanup enqueued after commit);
- an audit row (before/after, reason, actor or the job) for every change.

Batch variants for the renewal pass (PostgreSQL): `advance_periods` (T3) and `set_grace_periods` (T5) move
many rows with one UPDATE each, same guards, values and audit rows.

Lock order, when a caller also moves money: user row (ledger.lock_user) -> subscription row -> plan rows
(ascending id). Money itself is the caller's business (services.py, renewals.py).

Status changes (T1-T11 of the spec; "live" = ACTIVE, PENDING_UPGRADE, PENDING_PAYMENT):

| transition           | from                                   | to        | spec   | side effects                                           |
|----------------------|----------------------------------------|-----------|--------|--------------------------------------------------------|
| activate_new         | (no row)                               | ACTIVE    | T1     | insert; quota +1; one live row per user+service (DB)   |
| reactivate_expired   | EXPIRED                                | ACTIVE    | T2     | same row, new period/plan; quota +1; grace, fails reset |
| advance_period       | ACTIVE (end_date = expected)           | ACTIVE    | T3     | new end date, grace cleared, failedCharges 0           |
| change_plan          | ACTIVE (plan_id = expected)            | ACTIVE    | T4     | quota moved old -> new plan                            |
| set_grace_period     | ACTIVE (grace not set)                 | ACTIVE    | T5     | grace end set once; failedCharges +1 only then         |
| expire_subscription  | live, SUSPENDED                        | EXPIRED   | T6-T8  | quota -1 if live; autoRenew off; grace cleared; instances terminated |
| cancel_by_user       | live, SUSPENDED, EXPIRED               | CANCELLED | T9     | quota -1 if live; autoRenew off; endDate kept; instances terminated |
| force_cancel         | live, SUSPENDED, EXPIRED               | CANCELLED | T10    | as T9 and endDate = now (refund: the service)          |
| set_status (admin)   | any                                    | any other | T11    | quota follows liveness (fix 17); nothing else          |

"Settled" statuses make a repeat a no-op instead of an error: cancelling a CANCELLED row, expiring an
EXPIRED (or CANCELLED) one. Services turn a no-op into the spec's 400 where the API asks for one
("Subscription is already cancelled").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, any_, bindparam, case, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from .. import bulk, clock
from ..audit.models import AuditEntry
from ..audit.services import record
from ..catalog.errors import QuotaExhausted
from ..catalog.quota import allocate_quota, release_quota
from ..db import isoformat, new_id, utcnow
from ..extensions import db
from .errors import (ActiveSubscriptionExists, ConcurrentUpdate, IllegalTransition, NewPlanFull, PlanFullRetryLater,
                     SubscriptionNotFound)
from .models import LIVE_STATUSES, Subscription, SubscriptionStatus

S = SubscriptionStatus
ALL = frozenset(S)
LIVE = frozenset(LIVE_STATUSES)


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset  # statuses the transition may start from
    target: SubscriptionStatus | None  # None: the status stays (same-status transitions)
    settled: frozenset = frozenset()  # statuses where it is already done: a repeat is a no-op
    verb: str = ""  # for the IllegalTransition message
    spec: str = ""


TRANSITIONS: dict[str, Transition] = {t.name: t for t in (
    Transition("activate_new", frozenset(), S.ACTIVE, verb="create", spec="T1"),
    Transition("reactivate_expired", frozenset({S.EXPIRED}), S.ACTIVE, verb="reactivate", spec="T2"),
    Transition("advance_period", frozenset({S.ACTIVE}), None, verb="renew", spec="T3"),
    Transition("change_plan", frozenset({S.ACTIVE}), None, verb="change the plan of", spec="T4"),
    Transition("set_grace_period", frozenset({S.ACTIVE}), None, verb="set a grace period on", spec="T5"),
    Transition("expire", LIVE | {S.SUSPENDED}, S.EXPIRED, settled=frozenset({S.EXPIRED, S.CANCELLED}),
               verb="expire", spec="T6/T7/T8"),
    Transition("cancel_by_user", LIVE | {S.SUSPENDED, S.EXPIRED}, S.CANCELLED, settled=frozenset({S.CANCELLED}),
               verb="cancel", spec="T9"),
    Transition("force_cancel", LIVE | {S.SUSPENDED, S.EXPIRED}, S.CANCELLED, settled=frozenset({S.CANCELLED}),
               verb="cancel", spec="T10"),
    Transition("set_status", ALL, None, verb="edit", spec="T11"),  # target chosen by the admin
)}

# (from, to) pairs the business logic can produce (the admin free edit, T11, can produce any pair).
ALLOWED: frozenset[tuple[SubscriptionStatus | None, SubscriptionStatus]] = frozenset(
    {(None, S.ACTIVE)}
    | {(src, t.target or src) for t in TRANSITIONS.values() if t.name != "set_status" for src in t.sources}
)


def can_transition(name: str, current: SubscriptionStatus) -> bool:
    return current in TRANSITIONS[name].sources


@dataclass
class Outcome:
    """What a transition did. `changed=False`: nothing happened (already done, or a same-status guard failed)."""

    subscription: Subscription
    changed: bool
    previous_status: SubscriptionStatus
    quota_released: bool = False
    instances_terminated: int = 0
    before: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------- helpers
_SNAPSHOT_FIELDS = ("status", "plan_id", "start_date", "end_date", "next_billing", "last_billed", "monthly_price",
                    "last_charge_amount", "failed_charges", "auto_renew", "grace_period_end", "cancelled_at",
                    "previous_plan_id", "upgrade_date")


def snapshot(subscription: Subscription, fields=_SNAPSHOT_FIELDS) -> dict:
    out = {}
    for name in fields:
        value = getattr(subscription, name)
        out[name] = value.value if isinstance(value, S) else isoformat(value) if isinstance(value, datetime) else value
    return out


def load(subscription_id: str, *, lock: bool = False, user_id: str | None = None) -> Subscription:
    """The row as committed now (identity map refreshed); FOR UPDATE when `lock`; 404 when absent or
    (with `user_id`) owned by someone else."""
    query = select(Subscription).where(Subscription.id == subscription_id)
    if user_id is not None:
        query = query.where(Subscription.user_id == user_id)
    if lock:
        query = query.with_for_update(of=Subscription, key_share=True)
    subscription = db.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if subscription is None:
        raise SubscriptionNotFound()
    return subscription


def _audit(name: str, subscription: Subscription, before: dict, *, actor, source: str, reason: str | None,
           extra: dict | None = None) -> None:
    after = snapshot(subscription)
    changed_before = {k: v for k, v in before.items() if after.get(k) != v}
    changed_after = {k: after[k] for k in changed_before}
    if extra:
        changed_after.update(extra)
    record(actor=actor, action=f"subscription.{name}", target_type="subscription", target_id=subscription.id,
           before=changed_before, after=changed_after, reason=reason, source=source)


def _allocate(plan_id: str, error=PlanFullRetryLater) -> None:
    try:
        allocate_quota(plan_id)
    except QuotaExhausted:
        raise error() from None


def _move(transition: Transition, subscription_id: str, values: dict, *, target: SubscriptionStatus | None = None,
          extra_where=()) -> tuple[bool, SubscriptionStatus, Subscription, dict]:
    """Run the conditional UPDATE; return (changed, previous status, fresh row, snapshot before).

    Re-reads and retries when the status moved between the read and the UPDATE (a concurrent writer),
    so the caller always learns the status the change really started from.
    """
    target = target or transition.target
    for _ in range(5):
        subscription = load(subscription_id)
        before = snapshot(subscription)
        current = subscription.status
        if current not in transition.sources:
            if current in transition.settled:
                return False, current, subscription, before
            raise IllegalTransition(action=transition.verb, current=current.value.lower())
        new_values = dict(values)
        if target is not None:
            new_values["status"] = target
        result = db.session.execute(
            update(Subscription).where(Subscription.id == subscription_id, Subscription.status == current,
                                       *extra_where)
            .values(**new_values).returning(Subscription.id).execution_options(synchronize_session=False)).first()
        if result is not None:
            return True, current, load(subscription_id), before
        if extra_where:
            # The status matched but a same-status guard (end date, plan, grace) did not: nothing to do.
            fresh = load(subscription_id)
            if fresh.status == current:
                return False, current, fresh, before
    raise ConcurrentUpdate()


def _leave_live(outcome: Outcome) -> Outcome:
    """Side effects of a row that just left the live statuses: one quota slot back, instances terminated."""
    if outcome.previous_status in LIVE and outcome.subscription.status not in LIVE:
        outcome.quota_released = release_quota(outcome.subscription.plan_id)
    return outcome


def _terminate_instances(subscription_id: str) -> int:
    from ..cluster.services import terminate_subscription_instances

    return terminate_subscription_instances(subscription_id)


# ------------------------------------------------------------------------------------ T1 / T2: start
def activate_new(*, user_id: str, plan, start: datetime, end: datetime, monthly_price: int,
                 last_charge_amount: int | None, auto_renew: bool = True, actor=None, source: str = "api",
                 reason: str | None = None) -> Subscription:
    """T1: insert an ACTIVE subscription and take one quota slot of `plan`.

    ActiveSubscriptionExists (409) when the user already has a live subscription of the plan's service
    (the partial unique index decides, also under concurrent creates); PlanFullRetryLater (503) when
    the plan has no free slot. The caller then rolls the whole transaction back.
    """
    subscription = Subscription(user_id=user_id, service_id=plan.service_id, plan_id=plan.id, status=S.ACTIVE,
                                start_date=start, end_date=end, next_billing=end if auto_renew else None,
                                monthly_price=monthly_price, last_charge_amount=last_charge_amount,
                                failed_charges=0, auto_renew=auto_renew)
    try:
        with db.session.begin_nested():
            db.session.add(subscription)
    except IntegrityError:
        raise ActiveSubscriptionExists() from None
    _allocate(plan.id)
    record(actor=actor, action="subscription.activate_new", target_type="subscription", target_id=subscription.id,
           before=None, after=snapshot(subscription), reason=reason, source=source)
    return subscription


def reactivate_expired(subscription_id: str, *, plan, start: datetime, end: datetime, monthly_price: int,
                       last_charge_amount: int | None, actor=None, source: str = "api",
                       reason: str | None = None) -> Outcome:
    """T2: EXPIRED -> ACTIVE on the same row with a fresh period (possibly a new plan of the same service);
    takes one quota slot. A row that is live again (a concurrent reactivation) is a 409."""
    transition = TRANSITIONS["reactivate_expired"]
    values = dict(plan_id=plan.id, start_date=start, end_date=end, next_billing=end, last_billed=None,
                  monthly_price=monthly_price, last_charge_amount=last_charge_amount, auto_renew=True,
                  grace_period_end=None, failed_charges=0, cancelled_at=None)
    try:
        with db.session.begin_nested():
            changed, previous, subscription, before = _move(transition, subscription_id, values)
    except IntegrityError:
        raise ActiveSubscriptionExists() from None
    except IllegalTransition:
        current = load(subscription_id).status
        if current in LIVE:
            raise ActiveSubscriptionExists() from None
        raise
    _allocate(plan.id)
    _audit("reactivate_expired", subscription, before, actor=actor, source=source, reason=reason)
    return Outcome(subscription, changed, previous, before=before)


# --------------------------------------------------------------------------------- T3 / T4 / T5
def advance_period(subscription_id: str, *, expected_end_date: datetime, new_end_date: datetime,
                   charged_amount: int, monthly_price: int | None = None, actor=None, source: str = "job",
                   reason: str | None = None) -> Outcome:
    """T3: after a successful renewal charge, move the period on: end_date = new_end_date,
    next_billing = new_end_date (null when autoRenew is off), last_billed = now, last_charge_amount,
    failed_charges 0, grace cleared; `monthly_price` refreshes the cached price when given.

    Guard: status ACTIVE and end_date = expected_end_date. `changed=False` means another run already
    advanced this period: the caller must not charge (roll back). IllegalTransition when not ACTIVE.
    Suggested order for a renewal: advance_period first (the guard), then ledger.debit with the
    (subscription, period) idempotency key, in the same transaction.
    """
    transition = TRANSITIONS["advance_period"]
    values = dict(end_date=new_end_date, last_billed=clock.now(), last_charge_amount=charged_amount,
                  failed_charges=0, grace_period_end=None,
                  next_billing=case((Subscription.auto_renew.is_(True), new_end_date), else_=None))
    if monthly_price is not None:
        values["monthly_price"] = monthly_price
    changed, previous, subscription, before = _move(
        transition, subscription_id, values, extra_where=(Subscription.end_date == clock.to_utc(expected_end_date),))
    if changed:
        _audit("advance_period", subscription, before, actor=actor, source=source, reason=reason,
               extra={"charged_amount": charged_amount})
    return Outcome(subscription, changed, previous, before=before)


def change_plan(subscription_id: str, *, from_plan_id: str, to_plan, last_charge_amount: int, actor=None,
                source: str = "api", reason: str | None = None) -> Outcome:
    """T4: ACTIVE -> ACTIVE on another plan of the same service; quota moves old -> new plan.

    Guard: status ACTIVE and plan_id = from_plan_id (a concurrent plan change makes this a 409).
    NewPlanFull (503) when the new plan has no free slot. end_date / next_billing do not change.
    """
    transition = TRANSITIONS["change_plan"]
    now = clock.now()
    values = dict(plan_id=to_plan.id, monthly_price=to_plan.monthly_price, previous_plan_id=from_plan_id,
                  upgrade_date=now, last_charge_amount=last_charge_amount)
    changed, previous, subscription, before = _move(transition, subscription_id, values,
                                                    extra_where=(Subscription.plan_id == from_plan_id,))
    if not changed:
        raise ConcurrentUpdate()
    # Plan rows in ascending id order: two opposite plan changes cannot deadlock.
    for plan_id in sorted({from_plan_id, to_plan.id}):
        if plan_id == from_plan_id and plan_id != to_plan.id:
            release_quota(plan_id)
        elif plan_id == to_plan.id and plan_id != from_plan_id:
            _allocate(plan_id, NewPlanFull)
    _audit("change_plan", subscription, before, actor=actor, source=source, reason=reason)
    return Outcome(subscription, changed, previous, before=before)


def set_grace_period(subscription_id: str, *, days: int, actor=None, source: str = "job",
                     reason: str | None = None, replace: bool = False) -> Outcome:
    """T5: grace_period_end = now + `days` days and failed_charges + 1, only when no grace is running
    (fix 12: a retried renewal never extends it; `changed=False` then). `replace=True` (an explicit
    admin decision) sets a new end even over a running grace, still counting a failed charge only when
    none was running. IllegalTransition when the subscription is not ACTIVE."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError("days must be a positive whole number")
    transition = TRANSITIONS["set_grace_period"]
    grace_end = clock.add_days(clock.now(), days)
    values = dict(grace_period_end=grace_end, failed_charges=case(
        (Subscription.grace_period_end.is_(None), Subscription.failed_charges + 1), else_=Subscription.failed_charges))
    extra = () if replace else (Subscription.grace_period_end.is_(None),)
    changed, previous, subscription, before = _move(transition, subscription_id, values, extra_where=extra)
    if changed:
        _audit("set_grace_period", subscription, before, actor=actor, source=source, reason=reason,
               extra={"days": days})
    return Outcome(subscription, changed, previous, before=before)


# ------------------------------------------------------------------------ T3 / T5 in batches
# The renewal pass (renewals.py) moves up to a thousand rows per transaction: one conditional UPDATE per
# transition (per-row values through `UPDATE ... FROM unnest(...)`, webapp/bulk.py), one INSERT of the audit
# rows; the same guards, values and audit rows as the one-row functions above. The caller holds the rows'
# locks; rows whose guard fails are simply not in the result (no retry, no IllegalTransition). PostgreSQL only;
# the embedded SQLite profile uses the one-row functions.

_RETURNING = ", ".join(["t.id"] + [f"t.{name}" for name in _SNAPSHOT_FIELDS])


def _id_array(ids):
    return bindparam(None, list(ids), type_=ARRAY(String))  # one array parameter, not a thousand placeholders


def _snapshots(subscription_ids) -> dict[str, dict]:
    table = Subscription.__table__
    rows = db.session.execute(select(table.c.id, *(table.c[name] for name in _SNAPSHOT_FIELDS))
                              .where(table.c.id == any_(_id_array(subscription_ids)))).all()
    return {row.id: snapshot(row) for row in rows}


def _audit_rows(name: str, befores: dict, rows, *, actor, source: str, reasons, extra: dict) -> list[dict]:
    """AuditEntry rows exactly as `_audit` records them (changed fields only), for a bulk INSERT."""
    out = []
    now = utcnow()
    for row in rows:
        before, after = befores[row.id], snapshot(row)
        changed_before = {k: v for k, v in before.items() if after.get(k) != v}
        changed_after = {k: after[k] for k in changed_before}
        changed_after.update(extra.get(row.id, {}))
        out.append(dict(id=new_id(), actor_id=getattr(actor, "id", None), actor_email=getattr(actor, "email", None),
                        action=f"subscription.{name}", target_type="subscription", target_id=row.id,
                        before=changed_before, after=changed_after, reason=reasons(row.id), source=source,
                        created_at=now))
    return out


def _insert_audit(rows: list[dict]) -> None:
    bulk.insert_rows(AuditEntry.__table__, rows)


def advance_periods(items, *, actor=None, source: str = "job", reason: str | None = None) -> set[str]:
    """T3 for many rows: `items` are (subscription id, expected end date, new end date, charged amount).
    Same values, guard (ACTIVE, end_date = expected) and audit as `advance_period`. Returns the ids that moved."""
    items = list(items)
    if not items:
        return set()
    befores = _snapshots(item[0] for item in items)
    rows = bulk.update_from(
        Subscription.__table__, "id",
        [{"id": sid, "expected": clock.to_utc(expected), "new_end": new_end, "charged": charged}
         for sid, expected, new_end, charged in items],
        typed_as={"expected": "end_date", "new_end": "end_date", "charged": "last_charge_amount"},
        set_sql=("end_date = v.new_end, last_billed = %(now)s, last_charge_amount = v.charged, failed_charges = 0, "
                 "grace_period_end = NULL, updated_at = %(stamp)s, "
                 "next_billing = CASE WHEN t.auto_renew THEN v.new_end ELSE NULL END"),
        where_sql="t.status = %(active)s AND t.end_date = v.expected",
        params={"now": clock.now(), "stamp": utcnow(), "active": S.ACTIVE.value}, returning=_RETURNING)
    charged = {sid: {"charged_amount": amount} for sid, _, _, amount in items}
    _insert_audit(_audit_rows("advance_period", befores, rows, actor=actor, source=source,
                              reasons=lambda _: reason, extra=charged))
    return {row.id for row in rows}


def set_grace_periods(items, *, days: int, actor=None, source: str = "job") -> dict[str, datetime]:
    """T5 for many rows: `items` are (subscription id, reason, replace). Same values, guard (ACTIVE; grace not
    set unless `replace`) and audit as `set_grace_period`. Returns {id: grace end} of the rows that changed."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError("days must be a positive whole number")
    items = list(items)
    if not items:
        return {}
    table = Subscription.__table__
    ids = [sid for sid, _, _ in items]
    replace_ids = [sid for sid, _, replace in items if replace]
    reasons = {sid: why for sid, why, _ in items}
    befores = _snapshots(ids)
    grace_end = clock.add_days(clock.now(), days)
    unset = table.c.grace_period_end.is_(None)
    rows = db.session.execute(
        update(table).where(table.c.id == any_(_id_array(ids)), table.c.status == S.ACTIVE,
                            or_(unset, table.c.id == any_(_id_array(replace_ids))) if replace_ids else unset)
        .values(grace_period_end=grace_end, updated_at=utcnow(),
                failed_charges=case((unset, table.c.failed_charges + 1), else_=table.c.failed_charges))
        .returning(table.c.id, *(table.c[name] for name in _SNAPSHOT_FIELDS))).all()
    _insert_audit(_audit_rows("set_grace_period", befores, rows, actor=actor, source=source,
                              reasons=reasons.get, extra={row.id: {"days": days} for row in rows}))
    return {row.id: row.grace_period_end for row in rows}


# ------------------------------------------------------------------------------ T6-T10: the end
def expire_subscription(subscription_id: str, *, reason: str | None, actor=None, source: str = "job",
                        end_now: bool = False, terminate_instances: bool = True, notify: bool = True) -> Outcome:
    """T6/T7/T8: -> EXPIRED. Quota -1 (once, only from a live status), autoRenew false, nextBilling null,
    grace cleared, instances terminated through the cluster services (fix 16), a SUBSCRIPTION_SUSPENDED
    notification recorded once per expiry (fix 26). `end_now` (admin A8) also sets end_date = now.

    Idempotent: an EXPIRED or CANCELLED row is left alone (`changed=False`).
    """
    transition = TRANSITIONS["expire"]
    now = clock.now()
    values = dict(auto_renew=False, next_billing=None, grace_period_end=None)
    if end_now:
        values["end_date"] = now
    changed, previous, subscription, before = _move(transition, subscription_id, values)
    outcome = Outcome(subscription, changed, previous, before=before)
    if not changed:
        return outcome
    _leave_live(outcome)
    if terminate_instances:
        outcome.instances_terminated = _terminate_instances(subscription_id)
    _audit("expire", subscription, before, actor=actor, source=source, reason=reason,
           extra={"quota_released": outcome.quota_released, "instances_terminated": outcome.instances_terminated})
    if notify:
        _notify_expired(subscription, reason, now)
    return outcome


def cancel_by_user(subscription_id: str, *, reason: str | None = None, actor=None, source: str = "api") -> Outcome:
    """T9: -> CANCELLED now (service stops; endDate kept; no refund). autoRenew false, nextBilling and grace
    cleared, cancelled_at = now, quota -1 when it was live, every instance terminated.
    A CANCELLED row is a no-op (`changed=False`)."""
    return _cancel("cancel_by_user", subscription_id, reason=reason, actor=actor, source=source, end_now=False)


def force_cancel(subscription_id: str, *, reason: str | None, actor=None, source: str = "api") -> Outcome:
    """T10: as cancel_by_user and end_date = now. The prorated refund is the caller's (services.force_cancel)."""
    return _cancel("force_cancel", subscription_id, reason=reason, actor=actor, source=source, end_now=True)


def _cancel(name: str, subscription_id: str, *, reason, actor, source, end_now: bool) -> Outcome:
    now = clock.now()
    values = dict(auto_renew=False, next_billing=None, grace_period_end=None, cancelled_at=now)
    if end_now:
        values["end_date"] = now
    changed, previous, subscription, before = _move(TRANSITIONS[name], subscription_id, values)
    outcome = Outcome(subscription, changed, previous, before=before)
    if not changed:
        return outcome
    _leave_live(outcome)
    outcome.instances_terminated = _terminate_instances(subscription_id)
    _audit(name, subscription, before, actor=actor, source=source, reason=reason,
           extra={"quota_released": outcome.quota_released, "instances_terminated": outcome.instances_terminated})
    return outcome


# ------------------------------------------------------------------------------------- T11: admin
def set_status(subscription_id: str, *, status: SubscriptionStatus, actor=None, source: str = "api",
               reason: str | None = None) -> Outcome:
    """T11: the admin free edit of the status. Nothing but the quota follows (fix 17): leaving the live
    statuses releases the slot, entering them takes one (503 when full, 409 when another live row of
    the same service exists). cancelled_at is stamped when the new status is CANCELLED."""
    status = S(status)
    transition = TRANSITIONS["set_status"]
    current = load(subscription_id).status
    if current == status:
        subscription = load(subscription_id)
        return Outcome(subscription, False, current, before=snapshot(subscription))
    values: dict = {}
    if status == S.CANCELLED:
        values["cancelled_at"] = clock.now()
    try:
        with db.session.begin_nested():
            changed, previous, subscription, before = _move(transition, subscription_id, values, target=status)
    except IntegrityError:
        raise ActiveSubscriptionExists() from None
    outcome = Outcome(subscription, changed, previous, before=before)
    if changed:
        _leave_live(outcome)
        if previous not in LIVE and status in LIVE:
            _allocate(subscription.plan_id)
        _audit("set_status", subscription, before, actor=actor, source=source, reason=reason,
               extra={"quota_released": outcome.quota_released})
    return outcome


def _notify_expired(subscription: Subscription, reason: str | None, now: datetime) -> None:
    from ..notifications.messages import subscription_suspended

    # One row per expiry: the dedupe key names (subscription, period end), so the billing jobs calling
    # the same message after an expiry never send it twice.
    subscription_suspended(subscription, user=subscription.user, reason=reason or "Subscription expired", at=now)
