"""Billing statistics (spec §3.13, B1, the billing-stats job) and the console Billing page's KPIs and series.

Month window [fix §5 item 23]: [first day of the month 00:00, first day of the next month 00:00) in
BILLING_TIMEZONE, so the last day's revenue counts. Only COMPLETED SUBSCRIPTION transactions are revenue
(creation, reactivation and renewal charges; upgrades excluded; free 0-amount rows count as 0).
"""
from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from sqlalchemy import and_, func, select

from .. import clock
from ..billing.models import Transaction, TransactionStatus, TransactionType
from ..catalog.models import Service
from ..db import as_utc, isoformat
from ..extensions import db
from .models import Subscription, SubscriptionStatus

ACTIVE = SubscriptionStatus.ACTIVE


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """[start of this month, start of next month) in the billing zone, returned in UTC."""
    local = clock.local(now)
    start_local = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = clock.to_utc(start_local)
    return start, clock.add_months(start, 1)


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    local = clock.local(now).replace(hour=0, minute=0, second=0, microsecond=0)
    start = clock.to_utc(local)
    return start, clock.add_days(start, 1)


def _count(*conditions) -> int:
    return db.session.execute(select(func.count()).select_from(Subscription).where(*conditions)).scalar_one()


def billing_stats(*, now: datetime | None = None) -> dict:
    """B1: {totalActiveSubscriptions, subscriptionsDueForRenewal, subscriptionsInGracePeriod, monthlyRevenue,
    failedRenewals, lastUpdated} (+ the month window used)."""
    now = now or clock.now()
    start, end = month_bounds(now)
    revenue = db.session.execute(
        select(func.coalesce(func.sum(Transaction.amount), 0))
        .where(Transaction.type == TransactionType.SUBSCRIPTION, Transaction.status == TransactionStatus.COMPLETED,
               Transaction.created_at >= start, Transaction.created_at < end)).scalar_one()
    auto = and_(Subscription.status == ACTIVE, Subscription.auto_renew.is_(True))
    return {
        "totalActiveSubscriptions": _count(auto),
        "subscriptionsDueForRenewal": _count(auto, Subscription.next_billing <= now),
        "subscriptionsInGracePeriod": _count(Subscription.status == ACTIVE, Subscription.grace_period_end.is_not(None)),
        "monthlyRevenue": int(revenue or 0),
        "failedRenewals": _count(Subscription.status == ACTIVE, Subscription.failed_charges > 0),
        "lastUpdated": isoformat(now),
        "period": {"start": isoformat(start), "end": isoformat(end), "timezone": clock.billing_zone().key},
    }


def dashboard(*, now: datetime | None = None, days: int = 30) -> dict:
    """The console Billing page: KPIs and the series of its charts."""
    now = now or clock.now()
    day_start, day_end = day_bounds(now)
    mrr = db.session.execute(select(func.coalesce(func.sum(Subscription.monthly_price), 0))
                             .where(Subscription.status == ACTIVE, Subscription.auto_renew.is_(True))).scalar_one()
    auto = and_(Subscription.status == ACTIVE, Subscription.auto_renew.is_(True))
    kpis = {
        "mrr": int(mrr or 0),
        "dueToday": _count(auto, Subscription.next_billing < day_end),
        "inGrace": _count(Subscription.status == ACTIVE, Subscription.grace_period_end.is_not(None)),
        "failedRenewals": _count(Subscription.status == ACTIVE, Subscription.failed_charges > 0),
        "active": _count(Subscription.status == ACTIVE),
    }
    stats = billing_stats(now=now)
    return {"kpis": kpis, "stats": stats, "daily": daily_renewals(now=now, days=days),
            "byStatus": subscriptions_by_status(), "byService": subscriptions_by_service()}


def daily_renewals(*, now: datetime, days: int = 30) -> list[dict]:
    """Per billing-zone day of the last `days` days: renewals (count, revenue) and all subscription revenue."""
    first, _ = day_bounds(clock.add_days(now, -(days - 1)))
    rows = db.session.execute(
        select(Transaction.created_at, Transaction.amount, Transaction.idempotency_key)
        .where(Transaction.type == TransactionType.SUBSCRIPTION, Transaction.status == TransactionStatus.COMPLETED,
               Transaction.created_at >= first)).all()
    series: OrderedDict[str, dict] = OrderedDict()
    for offset in range(days):
        day = clock.local(clock.add_days(first, offset)).date().isoformat()
        series[day] = {"day": day, "renewals": 0, "renewalRevenue": 0, "revenue": 0}
    for created_at, amount, key in rows:
        day = clock.local(as_utc(created_at)).date().isoformat()
        if day not in series:
            continue
        series[day]["revenue"] += int(amount)
        if key and key.startswith("renewal:"):
            series[day]["renewals"] += 1
            series[day]["renewalRevenue"] += int(amount)
    return list(series.values())


def subscriptions_by_status() -> dict[str, int]:
    rows = db.session.execute(select(Subscription.status, func.count()).group_by(Subscription.status)).all()
    counts = {status.value: 0 for status in SubscriptionStatus}
    for status, count in rows:
        counts[status.value if isinstance(status, SubscriptionStatus) else str(status)] = count
    return counts


def subscriptions_by_service(limit: int = 15) -> list[dict]:
    rows = db.session.execute(
        select(Service.name, func.count(Subscription.id))
        .join(Subscription, Subscription.service_id == Service.id)
        .where(Subscription.status == ACTIVE)
        .group_by(Service.name).order_by(func.count(Subscription.id).desc(), Service.name).limit(limit)).all()
    return [{"service": name, "active": count} for name, count in rows]

