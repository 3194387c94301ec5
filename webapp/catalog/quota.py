"""Plan capacity: the `used_quota` slot counter, admin changes to `total_quota`, and quota reporting.

Two notions of "used" exist (spec §3.11): the `used_quota` column, moved only by `allocate_quota` /
`release_quota` as conditional UPDATEs, and the live count of subscriptions holding a slot
(`LIVE_STATUSES`). Admin screens report the live count; capacity changes are checked against the larger
of the two so neither the catalog nor the quota screens can go negative; `reconcile_used_quota` repairs
drift. Functions run inside the caller's unit of work (flush, never commit).
"""
from __future__ import annotations

import logging
import math

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from ..audit.services import record
from ..extensions import db
from ..subscriptions.models import LIVE_STATUSES, Subscription
from .errors import (BulkQuotaInvalid, DuplicatePlanIds, PlanNotFound, PlansNotFound, QuotaBelowActiveSubscriptions,
                     QuotaExhausted)
from .models import ServicePlan

log = logging.getLogger(__name__)

CRITICAL_UTILIZATION = 90
WARNING_UTILIZATION = 75


# -------------------------------------------------------------------------------------- slot counter
def allocate_quota(plan_id: str) -> None:
    """Take one slot of the plan, or raise QuotaExhausted. Works on inactive plans too (fix 26):
    whether a *new* subscription may use an inactive plan is the subscription flow's decision."""
    result = db.session.execute(
        update(ServicePlan).where(ServicePlan.id == plan_id, ServicePlan.used_quota < ServicePlan.total_quota)
        .values(used_quota=ServicePlan.used_quota + 1).execution_options(synchronize_session="fetch"))
    if result.rowcount == 1:
        return
    row = db.session.execute(select(ServicePlan.total_quota, ServicePlan.used_quota)
                             .where(ServicePlan.id == plan_id)).first()
    if row is None:
        raise PlanNotFound()
    raise QuotaExhausted(available=max(row.total_quota - row.used_quota, 0))


def release_quota(plan_id: str) -> bool:
    """Give one slot back; False when the counter was already 0 (drift, logged, never negative).
    Callers guard it with their own state transition so a subscription releases only once."""
    result = db.session.execute(
        update(ServicePlan).where(ServicePlan.id == plan_id, ServicePlan.used_quota > 0)
        .values(used_quota=ServicePlan.used_quota - 1).execution_options(synchronize_session="fetch"))
    if result.rowcount == 1:
        return True
    if db.session.execute(select(ServicePlan.id).where(ServicePlan.id == plan_id)).first() is None:
        raise PlanNotFound()
    log.warning("release_quota on plan %s with used_quota already 0", plan_id)
    return False


# ------------------------------------------------------------------------------------- live counts
def live_subscription_counts(plan_ids=None) -> dict[str, int]:
    """Subscriptions holding a slot, per plan id (one grouped query; all plans when `plan_ids` is None)."""
    query = (select(Subscription.plan_id, func.count()).where(Subscription.status.in_(LIVE_STATUSES))
             .group_by(Subscription.plan_id))
    if plan_ids is not None:
        if not plan_ids:
            return {}
        query = query.where(Subscription.plan_id.in_(list(plan_ids)))
    return dict(db.session.execute(query).all())


def quota_floor(plan: ServicePlan) -> int:
    """The lowest total_quota the plan may have: max(used_quota column, live subscriptions) (fix 21)."""
    return max(plan.used_quota, live_subscription_counts([plan.id]).get(plan.id, 0))


def _lock_plans(plan_ids) -> dict[str, ServicePlan]:
    # Sorted lock order: two bulk updates over overlapping plans cannot deadlock each other.
    rows = db.session.execute(
        select(ServicePlan).where(ServicePlan.id.in_(sorted(plan_ids))).order_by(ServicePlan.id)
        .with_for_update(key_share=True).execution_options(populate_existing=True)).scalars().all()
    return {plan.id: plan for plan in rows}


# ------------------------------------------------------------------------------- capacity changes
def set_total_quota(*, actor, plan_id: str, total_quota: int, reason: str, source: str = "api") -> ServicePlan:
    """Q4: change a plan's capacity (0..10000), never below what is in use; the reason goes to the audit log."""
    return _set_totals(actor, [(plan_id, total_quota)], reason, source, single=True)[0]


def bulk_set_total_quota(*, actor, updates: list[tuple[str, int]], reason: str, source: str = "api"
                         ) -> list[ServicePlan]:
    """Q5: change several capacities, given as (plan_id, total_quota) pairs, all or none (fix 27).

    Duplicates are a 400, unknown ids a 404, totals below use a 400 listing every offending plan.
    """
    return _set_totals(actor, updates, reason, source, single=False)


def _set_totals(actor, updates, reason: str, source: str, *, single: bool) -> list[ServicePlan]:
    # `single` gives Q4's one-plan errors: 404 "Service plan not found" and the plain 400 text.
    plan_ids = [plan_id for plan_id, _ in updates]
    if len(set(plan_ids)) != len(plan_ids):
        raise DuplicatePlanIds()
    plans = _lock_plans(plan_ids)
    if len(plans) != len(plan_ids):
        raise PlanNotFound() if single else PlansNotFound()
    live = live_subscription_counts(plan_ids)
    problems = []
    for plan_id, total in updates:
        in_use = max(plans[plan_id].used_quota, live.get(plan_id, 0))
        if total < in_use:
            problem = QuotaBelowActiveSubscriptions(total=total, active=in_use)
            if single:
                raise problem
            problems.append({"planId": plan_id, "error": problem.text})
    if problems:
        raise BulkQuotaInvalid(data={"validationErrors": problems})
    for plan_id, total in updates:
        plan = plans[plan_id]
        record(actor=actor, action="plan.quota.update", target_type="service_plan", target_id=plan_id,
               before={"total_quota": plan.total_quota}, after={"total_quota": total}, reason=reason, source=source)
        plan.total_quota = total
    db.session.flush()
    return [plans[plan_id] for plan_id in plan_ids]


def reconcile_used_quota(*, actor=None, source: str = "job") -> list[dict]:
    """Set every plan's used_quota to its live subscription count; returns the plans that changed.

    Plans are locked before counting, so an allocation in flight either finished (its subscription is
    counted) or waits for us. A live count above total_quota is clamped to the total and logged: the
    capacity itself is an admin decision, not something a repair job changes.
    """
    plans = db.session.execute(select(ServicePlan).order_by(ServicePlan.id).with_for_update(key_share=True)
                               .execution_options(populate_existing=True)).scalars().all()
    live = live_subscription_counts()
    changed = []
    for plan in plans:
        count = live.get(plan.id, 0)
        target = min(count, plan.total_quota)
        if count > plan.total_quota:
            log.warning("plan %s has %s live subscriptions for %s slots", plan.id, count, plan.total_quota)
        if target != plan.used_quota:
            changed.append({"planId": plan.id, "before": plan.used_quota, "after": target, "liveCount": count})
            record(actor=actor, action="plan.quota.reconcile", target_type="service_plan", target_id=plan.id,
                   before={"used_quota": plan.used_quota}, after={"used_quota": target}, source=source)
            plan.used_quota = target
    db.session.flush()
    return changed


# ----------------------------------------------------------------------------------------- reports
def _percentage(used: int, total: int) -> float:
    return used / total * 100 if total else 0


def _js_round(value: float) -> int:
    """Math.round, which the original used for displayed percentages (half rounds up)."""
    return math.floor(value + 0.5)


def _status(utilization: float) -> str:
    if utilization >= CRITICAL_UTILIZATION:
        return "critical"
    if utilization >= WARNING_UTILIZATION:
        return "warning"
    return "healthy"


def _plans_with_services() -> list[ServicePlan]:
    return list(db.session.execute(select(ServicePlan).options(joinedload(ServicePlan.service))).scalars())


def quota_statistics() -> dict:
    """Q1: totals and alert lists over all plans (inactive included), "used" = live subscriptions."""
    plans = _plans_with_services()
    live = live_subscription_counts()
    total = sum(plan.total_quota for plan in plans)
    used = sum(live.get(plan.id, 0) for plan in plans)
    critical, warning = [], []
    for plan in plans:
        utilization = _percentage(live.get(plan.id, 0), plan.total_quota)
        entry = {"id": plan.id, "name": plan.name, "serviceName": plan.service.name,
                 "utilization": _js_round(utilization)}
        if utilization >= CRITICAL_UTILIZATION:
            critical.append(entry)
        elif utilization >= WARNING_UTILIZATION:
            warning.append(entry)
    return {
        "overview": {"totalPlans": len(plans), "totalQuota": total, "totalUsedQuota": used,
                     "totalAvailableQuota": total - used, "overallUtilization": _js_round(_percentage(used, total))},
        "alerts": {"criticalPlans": len(critical), "warningPlans": len(warning), "criticalPlansList": critical,
                   "warningPlansList": warning},
    }


def quota_overview() -> list[dict]:
    """Q2: one row per plan, sorted by service name then plan name."""
    live = live_subscription_counts()
    rows = []
    for plan in sorted(_plans_with_services(), key=lambda p: (p.service.name, p.name)):
        used = live.get(plan.id, 0)
        utilization = _percentage(used, plan.total_quota)
        rows.append({"planId": plan.id, "planName": plan.name,
                     "service": {"id": plan.service.id, "name": plan.service.name, "slug": plan.service.slug},
                     "totalQuota": plan.total_quota, "usedQuota": used, "availableQuota": plan.total_quota - used,
                     "utilizationPercentage": _js_round(utilization), "status": _status(utilization)})
    return rows


def plan_quota_details(plan_id: str) -> tuple[ServicePlan, dict, list[Subscription]]:
    """Q3: the plan (with its service), its quota figures and the subscriptions holding its slots."""
    plan = db.session.execute(select(ServicePlan).options(joinedload(ServicePlan.service))
                              .where(ServicePlan.id == plan_id)).scalar_one_or_none()
    if plan is None:
        raise PlanNotFound()
    subscriptions = list(db.session.execute(
        select(Subscription).options(joinedload(Subscription.user))
        .where(Subscription.plan_id == plan_id, Subscription.status.in_(LIVE_STATUSES))
        .order_by(Subscription.created_at.desc())).scalars())
    used = len(subscriptions)
    quota = {"total": plan.total_quota, "used": used, "available": plan.total_quota - used,
             "utilizationPercentage": _js_round(_percentage(used, plan.total_quota))}
    return plan, quota, subscriptions

