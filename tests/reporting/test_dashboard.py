"""`reporting.dashboard`: the console home aggregates and the customer 360 reader, against factory data."""
from __future__ import annotations

from datetime import timedelta

from webapp.audit.services import record
from webapp.billing.models import TransactionStatus, TransactionType
from webapp.cluster.models import InstanceStatus
from webapp.db import utcnow
from webapp.extensions import db
from webapp.reporting import dashboard
from webapp.subscriptions.models import SubscriptionStatus
from webapp.support.models import TicketStatus

from .builders import count_queries, instance, notification, redemption, ticket, tx

T = TransactionType


def test_today_is_the_billing_zone_day(app):
    day = dashboard.today()
    assert day.end - day.start == timedelta(days=1)
    assert day.start <= day.now < day.end
    # Asia/Jakarta (UTC+7): local midnight is 17:00 UTC.
    assert (day.start.hour, day.start.minute) == (17, 0)


def test_kpis_count_exactly_what_was_created(make, admin):
    day = dashboard.today()
    yesterday = day.start - timedelta(hours=1)
    alice, bob = make.user(), make.user()
    make.user(created_at=yesterday)                      # not today
    make.user(deleted_at=utcnow())                       # soft-deleted: not counted
    # 3 completed top-ups today; one yesterday, one pending and one failed today do not count.
    for amount in (10_000, 20_000, 30_000):
        tx(alice, amount)
    tx(alice, 99_000, at=yesterday)
    tx(bob, 50_000, status=TransactionStatus.PENDING)
    tx(bob, 70_000, status=TransactionStatus.FAILED)
    # Revenue: SUBSCRIPTION + UPGRADE today; refunds, admin adjustments and yesterday's charges excluded.
    tx(alice, 25_000, T.SUBSCRIPTION)
    tx(bob, 5_000, T.UPGRADE)
    tx(bob, 40_000, T.SUBSCRIPTION, at=yesterday)
    tx(bob, 7_000, T.REFUND)
    tx(bob, 8_000, T.ADMIN_ADJUSTMENT)
    # Subscriptions: MRR = ACTIVE auto-renewing only.
    now = utcnow()
    make.subscription(user=alice, plan=make.plan(monthly_price=50_000), monthly_price=50_000,
                      next_billing=now + timedelta(hours=2))                       # due
    make.subscription(user=alice, plan=make.plan(), monthly_price=100_000,
                      next_billing=now - timedelta(hours=1), grace_period_end=now + timedelta(days=2))  # due, grace
    make.subscription(user=alice, plan=make.plan(), monthly_price=70_000, auto_renew=False, next_billing=None)
    make.subscription(user=bob, plan=make.plan(), monthly_price=30_000, next_billing=now + timedelta(hours=48))
    make.subscription(user=bob, plan=make.plan(), monthly_price=90_000, status=SubscriptionStatus.EXPIRED,
                      next_billing=now + timedelta(hours=1), grace_period_end=now)

    k = dashboard.kpis()
    assert k["newCustomers"] == 2
    assert (k["topUpCount"], k["topUpAmount"]) == (3, 60_000)
    assert k["revenue"] == 30_000
    assert k["mrr"] == 180_000
    assert k["dueRenewals"] == 2
    assert k["inGrace"] == 1
    assert k["activeSubscriptions"] == 4


def test_daily_series_buckets_by_billing_zone_day(make):
    user = make.user()
    day = dashboard.today()
    tx(user, 11_000, at=day.start + timedelta(minutes=30))        # local 00:30 today
    tx(user, 22_000, at=day.start - timedelta(minutes=30))        # local 23:30 yesterday (same UTC date)
    tx(user, 5_000, T.SUBSCRIPTION, at=day.start + timedelta(minutes=40))
    tx(user, 3_000, T.UPGRADE, at=day.start - timedelta(days=10))
    tx(user, 1_000, T.SUBSCRIPTION, at=day.start - timedelta(days=95))   # outside the window
    tx(user, 9_000, T.REFUND, at=day.start + timedelta(minutes=50))      # not revenue
    series = dashboard.daily_money(days=90)
    assert len(series) == 90
    assert series[-1]["day"] == (day.start + timedelta(hours=7)).date().isoformat()
    assert [d["day"] for d in series] == sorted(d["day"] for d in series)
    assert series[-1] == {"day": series[-1]["day"], "revenue": 5_000, "topUps": 11_000, "topUpCount": 1}
    assert (series[-2]["topUps"], series[-2]["revenue"]) == (22_000, 0)
    assert series[-11]["revenue"] == 3_000
    assert sum(d["revenue"] for d in series) == 8_000
    assert sum(d["topUps"] for d in series) == 33_000


def test_subscription_breakdown_by_status_and_service(make):
    user, other = make.user(), make.user()
    n8n = make.service(name="n8n")
    ghost = make.service(name="Ghost")
    p1, p2 = make.plan(service=n8n), make.plan(service=ghost)
    make.subscription(user=user, plan=p1)
    make.subscription(user=other, plan=p1)
    make.subscription(user=user, plan=p2, status=SubscriptionStatus.CANCELLED)
    make.subscription(user=other, plan=p2, status=SubscriptionStatus.EXPIRED)
    data = dashboard.subscription_breakdown()
    assert data["byStatus"]["ACTIVE"] == 2 and data["byStatus"]["CANCELLED"] == 1
    assert data["byStatus"]["EXPIRED"] == 1 and data["byStatus"]["SUSPENDED"] == 0
    assert data["total"] == 4
    assert [(s["service"], s["byStatus"]) for s in data["byService"]] == [
        ("Ghost", {"CANCELLED": 1, "EXPIRED": 1}), ("n8n", {"ACTIVE": 2})]


def test_ticket_backlog_buckets_waiting_time(make):
    user = make.user()
    ticket(user, waiting_for=timedelta(hours=2))
    ticket(user, waiting_for=timedelta(hours=20))
    ticket(user, TicketStatus.IN_PROGRESS, waiting_for=timedelta(days=2))   # customer replied after staff
    ticket(user, waiting_for=timedelta(days=5))
    ticket(user, TicketStatus.IN_PROGRESS, waiting_for=None)                # answered: waiting for the customer
    ticket(user, TicketStatus.CLOSED, waiting_for=None)
    data = dashboard.ticket_backlog()
    assert data["byStatus"] == {"OPEN": 3, "IN_PROGRESS": 2, "CLOSED": 1}
    assert data["waiting"] == {"lt1d": 2, "1to3d": 1, "gt3d": 1}
    assert (data["open"], data["waitingTotal"], data["answered"]) == (5, 4, 1)


def test_cluster_health_counts_instances_by_status(make):
    user = make.user()
    subs = [make.subscription(user=user, plan=make.plan()) for _ in range(4)]
    instance(subs[0], InstanceStatus.RUNNING)
    instance(subs[1], InstanceStatus.RUNNING)
    instance(subs[2], InstanceStatus.ERROR)
    instance(subs[3], InstanceStatus.TERMINATED)
    data = dashboard.cluster_health()
    assert data["byStatus"]["RUNNING"] == 2 and data["byStatus"]["PENDING"] == 0
    assert (data["error"], data["total"], data["live"]) == (1, 4, 3)


def test_overview_when_empty(app):
    data = dashboard.overview()
    k = data["kpis"]
    assert [k[key] for key in ("newCustomers", "topUpCount", "topUpAmount", "revenue", "mrr", "dueRenewals",
                               "inGrace")] == [0] * 7
    assert len(data["daily"]) == 90 and all(d["revenue"] == d["topUps"] == 0 for d in data["daily"])
    assert data["subscriptions"]["total"] == 0 and data["subscriptions"]["byService"] == []
    assert data["tickets"]["open"] == 0 and data["cluster"]["total"] == 0


def _fill(make, n: int):
    for _ in range(n):
        user = make.user()
        sub = make.subscription(user=user, plan=make.plan(), grace_period_end=utcnow())
        instance(sub, InstanceStatus.ERROR)
        tx(user, 10_000)
        tx(user, 5_000, T.SUBSCRIPTION, subscription=sub)
        ticket(user)


def test_overview_runs_a_constant_number_of_queries(make):
    _fill(make, 1)
    with count_queries() as small:
        dashboard.overview()
    _fill(make, 8)
    with count_queries() as big:
        data = dashboard.overview()
    assert small[0] == big[0] == 5
    assert data["kpis"]["topUpCount"] == 9 and data["cluster"]["error"] == 9


# ---------------------------------------------------------------------------------------------- customer 360
def test_customer_360_reads_only_this_customer(make, admin):
    alice, bob = make.user(email="alice@c360.test"), make.user(email="bob@c360.test")
    sub = make.subscription(user=alice, plan=make.plan())
    bobs = make.subscription(user=bob, plan=make.plan())
    inst = instance(sub, InstanceStatus.ERROR)
    instance(bobs)
    mine = tx(alice, 10_000)
    tx(bob, 20_000)
    ticket(alice, subject="Alice ticket")
    ticket(bob, subject="Bob ticket")
    notification(alice, "For Alice")
    notification(bob, "For Bob")
    redemption(alice, "ALICECODE")
    redemption(bob, "BOBCODE")
    record(actor=admin, action="wallet.credit_added", target_type="user", target_id=alice.id, reason="r1")
    record(actor=admin, action="subscription.extend", target_type="subscription", target_id=sub.id, reason="r2")
    record(actor=admin, action="subscription.extend", target_type="subscription", target_id=bobs.id, reason="r3")
    record(actor=admin, action="wallet.credit_added", target_type="user", target_id=bob.id, reason="r4")

    data = dashboard.customer_360(alice.id)
    assert data.user.id == alice.id
    assert [r.id for r in data.ledger] == [mine.id] and data.ledger_total == 1
    assert [s.id for s in data.subscriptions] == [sub.id]
    assert [i.id for i in data.instances[sub.id]] == [inst.id]
    assert [t.subject for t in data.tickets] == ["Alice ticket"] and data.ticket_total == 1
    assert [n.subject for n in data.notifications] == ["For Alice"]
    assert [r.coupon.code for r in data.redemptions] == ["ALICECODE"]
    assert sorted(a.reason for a in data.audit) == ["r1", "r2"]


def test_customer_360_unknown_deleted_or_odd_ids(make):
    gone = make.user(deleted_at=utcnow())
    for user_id in ("nope", gone.id, "", "x" * 65, "a\x00b", None):
        assert dashboard.customer_360(user_id) is None


def test_customer_360_runs_a_constant_number_of_queries(make, admin):
    alice = make.user()

    def add():
        sub = make.subscription(user=alice, plan=make.plan())
        instance(sub)
        tx(alice, 10_000)
        ticket(alice)
        notification(alice)
        redemption(alice)
        record(actor=admin, action="subscription.extend", target_type="subscription", target_id=sub.id)
        db.session.flush()

    add()
    with count_queries() as small:
        dashboard.customer_360(alice.id)
    for _ in range(6):
        add()
    with count_queries() as big:
        data = dashboard.customer_360(alice.id)
    assert small[0] == big[0] <= 9
    assert len(data.subscriptions) == 7 and len(data.audit) == 7
