"""The console home dashboard and the customer 360 page, read with a fixed number of SQL queries.

Plain functions over the models (no Flask request state), each running the same number of queries whatever
the size of the tables: filtered aggregates in one SELECT, GROUP BY for the series, LIMITs for the lists.

Definitions (the console links every number to the list behind it):
- "Today" is the current day in BILLING_TIMEZONE, [00:00, next 00:00), like the billing statistics.
- New customers: users with role USER created today (soft-deleted accounts excluded).
- Top-ups: COMPLETED TOP_UP transactions created today (count and IDR).
- Revenue: COMPLETED SUBSCRIPTION + UPGRADE charges created today (what customers spent on services; a top-up
  and the charge it pays for are not counted twice, as in `reporting.analytics`).
- MRR: sum of `monthly_price` of ACTIVE auto-renewing subscriptions (as `subscriptions.billing_stats`).
- Due renewals: ACTIVE auto-renewing subscriptions whose next billing falls before now + 24 h (overdue ones
  included: the renewal job charges them on its next pass).
- In grace: ACTIVE subscriptions with a grace period end (as `subscriptions.billing_stats`).
- Ticket backlog: tickets per status; the ones waiting for staff (not CLOSED, `waiting_since` set) bucketed by
  how long they have waited (< 1 day, 1-3 days, > 3 days); the rest of the open ones are answered (waiting for
  the customer).
- Cluster health: service instances per status; ERROR separately.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select

from .. import clock
from ..accounts.models import Role, User
from ..audit.models import AuditEntry
from ..billing.coupon_models import CouponRedemption
from ..billing.models import Transaction, TransactionStatus, TransactionType
from ..catalog.models import Service
from ..cluster.models import InstanceStatus, ServiceInstance
from ..extensions import db
from ..notifications.models import Notification
from ..subscriptions.models import Subscription, SubscriptionStatus
from ..support.models import Ticket, TicketStatus

SPENDING_TYPES = (TransactionType.SUBSCRIPTION, TransactionType.UPGRADE)
SERIES_DAYS = 90
DUE_WINDOW = timedelta(hours=24)
TICKET_BUCKETS = (("lt1d", "< 1 day"), ("1to3d", "1-3 days"), ("gt3d", "> 3 days"))


@dataclass(frozen=True)
class Day:
    """A billing-zone calendar day as a UTC interval [start, end), and the instant it was computed at."""

    start: datetime
    end: datetime
    now: datetime


def today(now: datetime | None = None) -> Day:
    now = clock.to_utc(now) if now is not None else clock.now()
    local = clock.local(now).replace(hour=0, minute=0, second=0, microsecond=0)
    start = clock.to_utc(local)
    return Day(start, clock.add_days(start, 1), now)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum_if(condition, value):
    return func.coalesce(func.sum(case((condition, value), else_=literal(0))), 0)


def _scalar(query):
    return query.scalar_subquery()


def local_day(column):
    """The billing-zone calendar day of a timestamp as 'YYYY-MM-DD', computed by the database."""
    zone = clock.billing_zone()
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(zone.key, column), "YYYY-MM-DD")
    # SQLite (embedded mode) has no zone database: the zone's current offset (exact for Asia/Jakarta, no DST).
    offset = int(clock.local(clock.now()).utcoffset().total_seconds() // 60)
    return func.strftime("%Y-%m-%d", column, f"{offset:+d} minutes")


# ------------------------------------------------------------------------------------------- headline numbers
def kpis(*, now: datetime | None = None) -> dict:
    """Today's numbers and the subscription KPIs: ONE query."""
    day = today(now)
    completed_today = and_(Transaction.status == TransactionStatus.COMPLETED, Transaction.created_at >= day.start,
                           Transaction.created_at < day.end)
    is_top_up = Transaction.type == TransactionType.TOP_UP
    is_spending = Transaction.type.in_(SPENDING_TYPES)
    money = select(_count_if(is_top_up), _sum_if(is_top_up, Transaction.amount),
                   _sum_if(is_spending, Transaction.amount)).where(completed_today).subquery()
    active = Subscription.status == SubscriptionStatus.ACTIVE
    auto = and_(active, Subscription.auto_renew.is_(True))
    subs = select(
        _sum_if(auto, Subscription.monthly_price).label("mrr"),
        _count_if(and_(auto, Subscription.next_billing.is_not(None),
                       Subscription.next_billing < day.now + DUE_WINDOW)).label("due"),
        _count_if(and_(active, Subscription.grace_period_end.is_not(None))).label("grace"),
        _count_if(active).label("active"),
    ).subquery()
    new_customers = _scalar(select(func.count()).select_from(User).where(
        User.role == Role.USER, User.deleted_at.is_(None), User.created_at >= day.start, User.created_at < day.end))
    row = db.session.execute(select(new_customers, *money.c, subs.c.mrr, subs.c.due, subs.c.grace, subs.c.active)
                             .select_from(money).join(subs, literal(True))).one()
    return {"newCustomers": int(row[0]), "topUpCount": int(row[1]), "topUpAmount": int(row[2]),
            "revenue": int(row[3]), "mrr": int(row[4]), "dueRenewals": int(row[5]), "inGrace": int(row[6]),
            "activeSubscriptions": int(row[7]), "dayStart": day.start, "dayEnd": day.end, "now": day.now}


# ------------------------------------------------------------------------------------------------- series
def daily_money(*, now: datetime | None = None, days: int = SERIES_DAYS) -> list[dict]:
    """Revenue (SUBSCRIPTION + UPGRADE) and top-ups per billing-zone day, oldest first, every day of the
    window present (zeros included): ONE query."""
    day = today(now)
    first = clock.add_days(day.start, -(days - 1))
    bucket = local_day(Transaction.created_at).label("day")
    is_top_up = Transaction.type == TransactionType.TOP_UP
    rows = db.session.execute(
        select(bucket, _sum_if(Transaction.type.in_(SPENDING_TYPES), Transaction.amount),
               _sum_if(is_top_up, Transaction.amount), _count_if(is_top_up))
        .where(Transaction.status == TransactionStatus.COMPLETED, Transaction.created_at >= first,
               Transaction.created_at < day.end, Transaction.type.in_((*SPENDING_TYPES, TransactionType.TOP_UP)))
        .group_by(bucket)).all()
    series: OrderedDict[str, dict] = OrderedDict()
    for offset in range(days):
        key = clock.local(clock.add_days(first, offset)).date().isoformat()
        series[key] = {"day": key, "revenue": 0, "topUps": 0, "topUpCount": 0}
    for key, revenue, top_ups, top_up_count in rows:
        if key in series:
            series[key].update(revenue=int(revenue), topUps=int(top_ups), topUpCount=int(top_up_count))
    return list(series.values())


def subscription_breakdown() -> dict:
    """Subscriptions per status and per service (with each service's statuses): ONE query."""
    rows = db.session.execute(
        select(Service.id, Service.name, Subscription.status, func.count(Subscription.id))
        .join(Subscription, Subscription.service_id == Service.id)
        .group_by(Service.id, Service.name, Subscription.status)).all()
    by_status = {status.value: 0 for status in SubscriptionStatus}
    services: dict[str, dict] = {}
    for service_id, name, status, count in rows:
        status = status.value if isinstance(status, SubscriptionStatus) else str(status)
        by_status[status] = by_status.get(status, 0) + count
        entry = services.setdefault(service_id, {"serviceId": service_id, "service": name, "total": 0,
                                                 "byStatus": {}})
        entry["byStatus"][status] = count
        entry["total"] += count
    by_service = sorted(services.values(), key=lambda s: (-s["total"], s["service"]))
    return {"byStatus": by_status, "byService": by_service, "total": sum(by_status.values())}


def ticket_backlog(*, now: datetime | None = None) -> dict:
    """Tickets per status, and the open ones waiting for staff bucketed by waiting time: ONE query."""
    now = clock.to_utc(now) if now is not None else clock.now()
    waiting = and_(Ticket.status != TicketStatus.CLOSED, Ticket.waiting_since.is_not(None))
    one_day, three_days = now - timedelta(days=1), now - timedelta(days=3)
    rows = db.session.execute(
        select(Ticket.status, func.count(),
               _count_if(and_(waiting, Ticket.waiting_since > one_day)),
               _count_if(and_(waiting, Ticket.waiting_since <= one_day, Ticket.waiting_since > three_days)),
               _count_if(and_(waiting, Ticket.waiting_since <= three_days)))
        .group_by(Ticket.status)).all()
    by_status = {status.value: 0 for status in TicketStatus}
    buckets = {key: 0 for key, _ in TICKET_BUCKETS}
    for status, count, lt1, d1to3, gt3 in rows:
        by_status[status.value if isinstance(status, TicketStatus) else str(status)] = count
        buckets["lt1d"] += int(lt1)
        buckets["1to3d"] += int(d1to3)
        buckets["gt3d"] += int(gt3)
    open_total = sum(n for s, n in by_status.items() if s != TicketStatus.CLOSED.value)
    waiting_total = sum(buckets.values())
    return {"byStatus": by_status, "waiting": buckets, "waitingTotal": waiting_total, "open": open_total,
            "answered": open_total - waiting_total}


def cluster_health() -> dict:
    """Service instances per status (every status present), ERROR singled out: ONE query."""
    rows = db.session.execute(select(ServiceInstance.status, func.count()).group_by(ServiceInstance.status)).all()
    by_status = {status.value: 0 for status in InstanceStatus}
    for status, count in rows:
        by_status[status.value if isinstance(status, InstanceStatus) else str(status)] = count
    return {"byStatus": by_status, "error": by_status[InstanceStatus.ERROR.value],
            "total": sum(by_status.values()),
            "live": sum(n for s, n in by_status.items() if s != InstanceStatus.TERMINATED.value)}


def overview(*, now: datetime | None = None, days: int = SERIES_DAYS) -> dict:
    """Everything the console home shows: five queries."""
    now = clock.to_utc(now) if now is not None else clock.now()
    return {"kpis": kpis(now=now), "daily": daily_money(now=now, days=days),
            "subscriptions": subscription_breakdown(), "tickets": ticket_backlog(now=now),
            "cluster": cluster_health()}


# ---------------------------------------------------------------------------------------------- customer 360
LEDGER_ROWS = 15
LIST_ROWS = 50
NOTIFICATION_ROWS = 20
AUDIT_ROWS = 50


@dataclass
class Customer360:
    user: User
    ledger: list[Transaction]
    ledger_total: int
    subscriptions: list[Subscription]
    instances: dict[str, list[ServiceInstance]]
    redemptions: list[CouponRedemption]
    tickets: list[Ticket]
    ticket_total: int
    notifications: list[Notification]
    audit: list[AuditEntry]


def customer_360(user_id: str) -> Customer360 | None:
    """One customer's profile, money, services, support and audit trail (None when there is no such live
    account): nine queries, whatever the customer has."""
    from sqlalchemy.orm import joinedload

    if not isinstance(user_id, str) or not 0 < len(user_id) <= 64 or "\x00" in user_id:
        return None
    user = db.session.execute(select(User).where(User.id == user_id, User.deleted_at.is_(None))
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    if user is None:
        return None
    ledger = list(db.session.execute(
        select(Transaction).where(Transaction.user_id == user.id)
        .order_by(Transaction.created_at.desc(), Transaction.id.desc()).limit(LEDGER_ROWS)).scalars())
    ledger_total, ticket_total = db.session.execute(select(
        _scalar(select(func.count()).select_from(Transaction).where(Transaction.user_id == user.id)),
        _scalar(select(func.count()).select_from(Ticket).where(Ticket.user_id == user.id)))).one()
    subscriptions = list(db.session.execute(
        select(Subscription).where(Subscription.user_id == user.id)
        .options(joinedload(Subscription.service), joinedload(Subscription.plan))
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())).unique().scalars())
    instances: dict[str, list[ServiceInstance]] = {s.id: [] for s in subscriptions}
    if subscriptions:
        for instance in db.session.execute(
                select(ServiceInstance).where(ServiceInstance.subscription_id.in_(list(instances)))
                .order_by(ServiceInstance.created_at.desc(), ServiceInstance.id)).scalars():
            instances[instance.subscription_id].append(instance)
    redemptions = list(db.session.execute(
        select(CouponRedemption).where(CouponRedemption.user_id == user.id)
        .options(joinedload(CouponRedemption.coupon))
        .order_by(CouponRedemption.redeemed_at.desc(), CouponRedemption.id).limit(LIST_ROWS)).unique().scalars())
    tickets = list(db.session.execute(
        select(Ticket).where(Ticket.user_id == user.id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(LIST_ROWS)).scalars())
    notifications = list(db.session.execute(
        select(Notification).where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(NOTIFICATION_ROWS)).scalars())
    audit = list(db.session.execute(
        select(AuditEntry).where(or_(
            and_(AuditEntry.target_type == "user", AuditEntry.target_id == user.id),
            and_(AuditEntry.target_type == "subscription",
                 AuditEntry.target_id.in_(select(Subscription.id).where(Subscription.user_id == user.id))),
            and_(AuditEntry.target_type == "ticket",
                 AuditEntry.target_id.in_(select(Ticket.id).where(Ticket.user_id == user.id)))))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(AUDIT_ROWS)).scalars())
    return Customer360(user=user, ledger=ledger, ledger_total=int(ledger_total), subscriptions=subscriptions,
                       instances=instances, redemptions=redemptions, tickets=tickets, ticket_total=int(ticket_total),
                       notifications=notifications, audit=audit)


__all__ = ["Customer360", "Day", "cluster_health", "customer_360", "daily_money", "kpis", "overview",
           "subscription_breakdown", "ticket_backlog", "today"]
