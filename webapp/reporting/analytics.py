"""Admin analytics (spec-accounts-catalog AN1-AN5, §3.12), computed live with SQL aggregates.

Each report runs a fixed number of aggregate queries, whatever the size of the tables.
Differences from the original, per the spec's [fix]es (field names are unchanged):

- Windows: `startDate`/`endDate` (when given, both) are honoured by every report, else `period`
  (7d, 30d, 90d and 1y = 365 days) as a rolling window back from now. Everything is UTC.
  A date-only `endDate` (or one at midnight) includes that whole day.
- Revenue: `totalRevenue` (and the dashboard's `revenue30d`) count what customers spent on services,
  SUBSCRIPTION + UPGRADE, so a top-up and the charge it later pays for are not counted twice;
  top-ups are reported on their own in `topUpRevenue`. `subscriptionRevenue` equals `totalRevenue`.
  `dailyBreakdown` lists every day of the window that has revenue or refunds, newest first.
- Churn: subscriptions cancelled in the window (by `Subscription.cancelled_at`) divided by the
  subscriptions that were live when the window started.
- Soft-deleted users are not counted as users.
- Only COMPLETED transactions count; windows apply to `created_at` (instances: `updated_at`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import and_, case, distinct, func, literal, or_, select

from ..accounts.models import User
from ..billing.models import Transaction, TransactionStatus, TransactionType
from ..catalog.models import Service, ServicePlan
from ..cluster.models import ServiceInstance
from ..db import as_utc, isoformat, utcnow
from ..extensions import db
from ..subscriptions.models import LIVE_STATUSES, Subscription, SubscriptionStatus

PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90, "1y": 365}
DEFAULT_PERIOD = "30d"
SPENDING_TYPES = (TransactionType.SUBSCRIPTION, TransactionType.UPGRADE)
LOW_BALANCE_LIMIT = 50_000  # IDR: dashboard alert for customers with live services and little credit
CRITICAL_UTILIZATION = 90  # percent, as the quota screens
RECENT_TRANSACTIONS = 10
TOP_SPENDERS = 10


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def contains(self, column):
        return and_(column >= self.start, column < self.end)


def resolve_window(period: str | None = None, start_date: datetime | None = None, end_date: datetime | None = None,
                   *, now: datetime | None = None) -> Window:
    if start_date is not None and end_date is not None:
        start, end = as_utc(start_date), as_utc(end_date)
        if end.timetz().replace(tzinfo=None) == time.min:
            end = end + timedelta(days=1)  # a date names the whole day
        else:
            end = end + timedelta(microseconds=1)  # an instant is included
        return Window(start, end)
    now = as_utc(now) if now is not None else utcnow()
    return Window(now - timedelta(days=PERIOD_DAYS[period or DEFAULT_PERIOD]), now)


def _round(value: float) -> int:
    """JavaScript's Math.round for the non-negative percentages reported here."""
    return int(math.floor(value + 0.5))


def _int(value) -> int:
    return int(value or 0)


def _day(column):
    """The UTC calendar day of a timestamp as 'YYYY-MM-DD', in SQL (PostgreSQL or SQLite)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _scalar_count(model, *criteria):
    return select(func.count()).select_from(model).where(*criteria).scalar_subquery()


def _sum_if(condition, value):
    return func.coalesce(func.sum(case((condition, value), else_=literal(0))), 0)


_LIVE_USER = User.deleted_at.is_(None)
_COMPLETED = Transaction.status == TransactionStatus.COMPLETED


# ------------------------------------------------------------------------------------- AN1 dashboard
def dashboard(*, now: datetime | None = None) -> dict:
    last_30_days = resolve_window("30d", now=now)
    has_active_subscription = (
        select(Subscription.id).where(Subscription.user_id == User.id,
                                      Subscription.status == SubscriptionStatus.ACTIVE).exists())
    live_per_plan = (select(Subscription.plan_id, func.count().label("used"))
                     .where(Subscription.status.in_(LIVE_STATUSES)).group_by(Subscription.plan_id).subquery())
    critical_plans = (select(func.count()).select_from(ServicePlan)
                      .join(live_per_plan, live_per_plan.c.plan_id == ServicePlan.id)
                      .where(ServicePlan.total_quota > 0,
                             live_per_plan.c.used * 100 >= ServicePlan.total_quota * CRITICAL_UTILIZATION)
                      .scalar_subquery())
    revenue = (select(func.coalesce(func.sum(Transaction.amount), 0))
               .where(_COMPLETED, Transaction.type.in_(SPENDING_TYPES), last_30_days.contains(Transaction.created_at))
               .scalar_subquery())
    row = db.session.execute(select(
        revenue,
        _scalar_count(User, _LIVE_USER),
        _scalar_count(Subscription, Subscription.status == SubscriptionStatus.ACTIVE),
        _scalar_count(ServiceInstance),
        _scalar_count(User, _LIVE_USER, User.credit_balance > 0, User.credit_balance < LOW_BALANCE_LIMIT,
                      has_active_subscription),
        critical_plans,
    )).one()
    recent = db.session.execute(
        select(Transaction.id, Transaction.custom_id, Transaction.type, Transaction.amount, Transaction.status,
               Transaction.created_at, User.email, User.name)
        .join(User, User.id == Transaction.user_id)
        .order_by(Transaction.created_at.desc(), Transaction.id.desc()).limit(RECENT_TRANSACTIONS)).all()
    return {"dashboardAnalytics": {
        "summary": {"revenue30d": _int(row[0]), "totalUsers": row[1], "activeSubscriptions": row[2],
                    "totalInstances": row[3]},
        "alerts": {"lowBalanceUsers": row[4], "criticalQuotaPlans": _int(row[5])},
        "recentActivity": {"transactions": [
            {"id": t.id, "customId": t.custom_id, "type": t.type.value, "amount": t.amount, "status": t.status.value,
             "user": {"email": t.email, "name": t.name}, "createdAt": isoformat(t.created_at)} for t in recent]},
    }}


# --------------------------------------------------------------------------------------- AN2 revenue
def revenue(window: Window) -> dict:
    is_spending = Transaction.type.in_(SPENDING_TYPES)
    is_refund = Transaction.type == TransactionType.REFUND
    in_window = and_(_COMPLETED, window.contains(Transaction.created_at))
    spent, top_ups, refunds = db.session.execute(
        select(_sum_if(is_spending, Transaction.amount),
               _sum_if(Transaction.type == TransactionType.TOP_UP, Transaction.amount),
               _sum_if(is_refund, Transaction.amount)).where(in_window)).one()
    by_service = db.session.execute(
        select(Service.id, Service.name, func.sum(Transaction.amount).label("revenue"), func.count().label("n"))
        .select_from(Transaction)
        .join(Subscription, Subscription.id == Transaction.subscription_id)
        .join(Service, Service.id == Subscription.service_id)
        .where(in_window, is_spending)
        .group_by(Service.id, Service.name)
        .order_by(func.sum(Transaction.amount).desc(), Service.name)).all()
    day = _day(Transaction.created_at).label("day")
    daily = db.session.execute(
        select(day, _sum_if(is_spending, Transaction.amount), _sum_if(is_refund, Transaction.amount), func.count())
        .where(in_window, or_(is_spending, is_refund))
        .group_by(day).order_by(day.desc())).all()
    total, refund_amount = _int(spent), _int(refunds)
    return {"revenueAnalytics": {
        "summary": {"totalRevenue": total, "subscriptionRevenue": total, "topUpRevenue": _int(top_ups),
                    "refundAmount": refund_amount, "netRevenue": total - refund_amount},
        "byService": [{"serviceId": r.id, "serviceName": r.name, "revenue": _int(r.revenue), "transactionCount": r.n}
                      for r in by_service],
        "dailyBreakdown": [{"date": d, "revenue": _int(rev), "refunds": _int(ref), "netRevenue": _int(rev) - _int(ref),
                            "transactionCount": n} for d, rev, ref, n in daily],
    }}


# --------------------------------------------------------------------------------- AN3 subscriptions
def subscriptions(window: Window) -> dict:
    by_status = dict(db.session.execute(
        select(Subscription.status, func.count()).group_by(Subscription.status)).all())
    live_at_start = and_(
        Subscription.created_at < window.start,
        or_(Subscription.cancelled_at.is_(None), Subscription.cancelled_at >= window.start),
        or_(Subscription.status != SubscriptionStatus.EXPIRED, Subscription.end_date >= window.start),
    )
    new_in_period, cancelled_in_period, active_at_start = db.session.execute(select(
        _scalar_count(Subscription, window.contains(Subscription.created_at)),
        _scalar_count(Subscription, Subscription.cancelled_at.is_not(None), window.contains(Subscription.cancelled_at)),
        _scalar_count(Subscription, live_at_start),
    )).one()
    active = Subscription.status == SubscriptionStatus.ACTIVE
    by_service = db.session.execute(
        select(Service.id, Service.name, func.count().label("n")).select_from(Subscription)
        .join(Service, Service.id == Subscription.service_id).where(active)
        .group_by(Service.id, Service.name).order_by(func.count().desc(), Service.name)).all()
    by_plan = db.session.execute(
        select(ServicePlan.id, ServicePlan.name, Service.name.label("service_name"), func.count().label("n"))
        .select_from(Subscription)
        .join(ServicePlan, ServicePlan.id == Subscription.plan_id)
        .join(Service, Service.id == ServicePlan.service_id).where(active)
        .group_by(ServicePlan.id, ServicePlan.name, Service.name)
        .order_by(func.count().desc(), Service.name, ServicePlan.name)).all()
    churn = _round(100 * cancelled_in_period / active_at_start) if active_at_start else 0
    return {"subscriptionAnalytics": {
        "summary": {"total": sum(by_status.values()), "active": by_status.get(SubscriptionStatus.ACTIVE, 0),
                    "expired": by_status.get(SubscriptionStatus.EXPIRED, 0),
                    "cancelled": by_status.get(SubscriptionStatus.CANCELLED, 0),
                    "newInPeriod": new_in_period, "churnRate": churn},
        "byService": [{"serviceId": r.id, "serviceName": r.name, "subscriptionCount": r.n} for r in by_service],
        "byPlan": [{"planId": r.id, "planName": r.name, "serviceName": r.service_name, "subscriptionCount": r.n}
                   for r in by_plan],
    }}


# ----------------------------------------------------------------------------------------- AN4 users
def users(window: Window) -> dict:
    subscribers = (select(func.count(distinct(Subscription.user_id))).select_from(Subscription)
                   .join(User, User.id == Subscription.user_id).where(_LIVE_USER))
    total, new_in_period, active, with_subscriptions, with_balance = db.session.execute(select(
        _scalar_count(User, _LIVE_USER),
        _scalar_count(User, _LIVE_USER, window.contains(User.created_at)),
        subscribers.where(Subscription.status == SubscriptionStatus.ACTIVE).scalar_subquery(),
        subscribers.scalar_subquery(),
        _scalar_count(User, _LIVE_USER, User.credit_balance > 0),
    )).one()
    active_count = (select(func.count()).where(Subscription.user_id == User.id,
                                               Subscription.status == SubscriptionStatus.ACTIVE)
                    .correlate(User).scalar_subquery())
    spenders = db.session.execute(
        select(User.id, User.email, User.name, User.total_spent, User.credit_balance, active_count.label("active"))
        .where(_LIVE_USER).order_by(User.total_spent.desc(), User.created_at, User.id).limit(TOP_SPENDERS)).all()
    day = _day(User.created_at).label("day")
    growth = db.session.execute(
        select(day, func.count()).where(_LIVE_USER, window.contains(User.created_at))
        .group_by(day).order_by(day.desc())).all()
    return {"userAnalytics": {
        "summary": {"total": total, "newInPeriod": new_in_period, "active": active,
                    "withSubscriptions": with_subscriptions, "withBalance": with_balance,
                    "conversionRate": _round(100 * with_subscriptions / total) if total else 0},
        "topSpenders": [{"id": u.id, "email": u.email, "name": u.name, "totalSpent": u.total_spent,
                         "creditBalance": u.credit_balance, "activeSubscriptions": u.active} for u in spenders],
        "growth": [{"date": d, "newUsers": n} for d, n in growth],
    }}


# ------------------------------------------------------------------------------- AN5 service control
def service_control(window: Window) -> dict:
    total, recent = db.session.execute(select(
        _scalar_count(ServiceInstance),
        _scalar_count(ServiceInstance, window.contains(ServiceInstance.updated_at)),
    )).one()
    by_status = db.session.execute(
        select(ServiceInstance.status, func.count().label("n")).group_by(ServiceInstance.status)
        .order_by(func.count().desc(), ServiceInstance.status)).all()
    by_service = db.session.execute(
        select(Service.id, Service.name, func.count().label("n")).select_from(ServiceInstance)
        .join(Subscription, Subscription.id == ServiceInstance.subscription_id)
        .join(Service, Service.id == Subscription.service_id)
        .group_by(Service.id, Service.name).order_by(func.count().desc(), Service.name)).all()
    return {"serviceControlMetrics": {
        "summary": {"totalInstances": total, "recentStatusChanges": recent},
        "byStatus": [{"status": r.status.value, "count": r.n} for r in by_status],
        "byService": [{"serviceId": r.id, "serviceName": r.name, "instanceCount": r.n} for r in by_service],
    }}
