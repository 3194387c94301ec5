"""Admin analytics AN1-AN5: query validation, shapes, and the [fix]ed windows, revenue and churn (spec §3.12)."""
from __future__ import annotations

import contextlib
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from webapp.accounts import services as accounts
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.cluster.models import InstanceStatus, ServiceInstance
from webapp.db import utcnow
from webapp.extensions import db
from webapp.reporting import analytics
from webapp.subscriptions.models import SubscriptionStatus

from ..conftest import assert_envelope


T = TransactionType
_tx_numbers = itertools.count(5001)
_instance_numbers = itertools.count(1)
ROUTES = ["revenue", "subscriptions", "users", "service-control"]


def days_ago(n: float) -> datetime:
    return utcnow() - timedelta(days=n)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def tx(user, amount, type_=T.SUBSCRIPTION, *, when=None, status=TransactionStatus.COMPLETED, subscription=None):
    row = Transaction(custom_id=f"TXMP-{next(_tx_numbers)}", user_id=user.id, type=type_, status=status, amount=amount,
                      balance_before=0, balance_after=0, description=f"{type_.value} for tests",
                      subscription_id=subscription.id if subscription else None,
                      created_at=when or utcnow() - timedelta(minutes=5), completed_at=when)
    db.session.add(row)
    db.session.flush()
    return row


def instance(subscription, status=InstanceStatus.RUNNING, *, updated=None):
    n = next(_instance_numbers)
    row = ServiceInstance(subscription_id=subscription.id, name=f"app-{n}", subdomain=f"app-{n}-test",
                          namespace="customers", status=status, created_at=updated or utcnow(),
                          updated_at=updated or utcnow())
    db.session.add(row)
    db.session.flush()
    return row


def get(api, admin, route, query=""):
    return api.get(f"/api/admin/analytics/{route}{'?' + query if query else ''}", as_user=admin)


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("query, message", [
    ("period=invalid", "Period must be one of: 7d, 30d, 90d, 1y"),
    ("period=", "Period must be one of: 7d, 30d, 90d, 1y"),
    ("startDate=invalid-date&endDate=2024-08-30", "Start date must be in ISO format (YYYY-MM-DD)"),
    ("startDate=2024-02-30&endDate=2024-03-30", "Start date must be a valid date"),
    ("startDate=2024-08-01&endDate=30-08-2024", "End date must be in ISO format (YYYY-MM-DD)"),
    ("startDate=2024-08-01&endDate=2024-13-01", "End date must be a valid date"),
    ("startDate=2024-08-30&endDate=2024-08-01", "End date must be after start date"),
    ("startDate=2024-08-01", "Both startDate and endDate must be provided together"),
    ("endDate=2024-08-30", "Both startDate and endDate must be provided together"),
    ("period=7d&groupBy=day", '"groupBy" is not allowed'),
])
def test_query_validation(api, admin, route, query, message):
    assert_envelope(get(api, admin, route, query), 400, message)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("query", ["", "period=7d", "period=30d", "period=90d", "period=1y",
                                   "startDate=2024-08-01&endDate=2024-08-01",
                                   "startDate=2024-08-01T00:00:00Z&endDate=2024-08-30T12:00:00Z",
                                   "period=7d&startDate=2024-08-01&endDate=2024-08-30"])
def test_valid_queries(api, admin, route, query):
    assert_envelope(get(api, admin, route, query), 200)


def test_dashboard_takes_no_query(api, admin):
    assert_envelope(get(api, admin, "dashboard", "period=invalid"), 200, "Dashboard analytics retrieved successfully")


@pytest.mark.parametrize("route", ["dashboard"] + ROUTES)
def test_admin_only(api, customer, route):
    assert_envelope(api.get(f"/api/admin/analytics/{route}"), 401, "Access token is required")
    assert_envelope(api.get(f"/api/admin/analytics/{route}", token="bad"), 403, "Invalid or expired token")
    assert_envelope(api.get(f"/api/admin/analytics/{route}", as_user=customer), 403,
                    "Access denied. Insufficient permissions.")


# ------------------------------------------------------------------------------------------- AN1
def test_dashboard(api, admin, make):
    rich = make.user(email="rich@example.com", credit_balance=500_000)
    poor = make.user(email="poor@example.com", credit_balance=10_000)
    broke = make.user(email="broke@example.com", credit_balance=0)
    idle = make.user(email="idle@example.com", credit_balance=10_000)  # low balance but nothing running
    gone = make.user(email="gone@example.com")
    accounts.delete_user(admin, gone.id)

    tight = make.plan(total_quota=2)
    roomy = make.plan(total_quota=10)
    sub_rich = make.subscription(user=rich, plan=tight)
    make.subscription(user=poor, plan=tight)
    make.subscription(user=broke, plan=roomy)
    make.subscription(user=idle, plan=roomy, status=SubscriptionStatus.CANCELLED)
    instance(sub_rich)

    tx(rich, 50_000, T.SUBSCRIPTION, subscription=sub_rich)
    tx(rich, 20_000, T.UPGRADE, subscription=sub_rich)
    tx(rich, 100_000, T.TOP_UP)                             # not revenue
    tx(rich, 30_000, T.SUBSCRIPTION, status=TransactionStatus.PENDING)
    tx(rich, 40_000, T.SUBSCRIPTION, when=days_ago(31))     # outside 30 days
    for i in range(10):
        tx(poor, 1_000 + i, T.REFUND, when=utcnow() - timedelta(minutes=1, seconds=-i))
    newest = tx(poor, 7, T.ADMIN_ADJUSTMENT, when=utcnow() - timedelta(seconds=1))

    body = assert_envelope(get(api, admin, "dashboard"), 200, "Dashboard analytics retrieved successfully")
    data = body["data"]["dashboardAnalytics"]
    assert set(data) == {"summary", "alerts", "recentActivity"}
    assert data["summary"] == {"revenue30d": 70_000, "totalUsers": 5, "activeSubscriptions": 3, "totalInstances": 1}
    assert data["alerts"] == {"lowBalanceUsers": 1, "criticalQuotaPlans": 1}
    recent = data["recentActivity"]["transactions"]
    assert len(recent) == 10
    assert recent[0]["customId"] == newest.custom_id and recent[0]["id"] == newest.id
    assert set(recent[0]) == {"id", "customId", "type", "amount", "status", "user", "createdAt"}
    assert recent[0]["user"] == {"email": "poor@example.com", "name": poor.name}
    assert recent[0]["type"] == "ADMIN_ADJUSTMENT" and recent[0]["status"] == "COMPLETED" and recent[0]["amount"] == 7
    created = [r["createdAt"] for r in recent]
    assert created == sorted(created, reverse=True)


# ------------------------------------------------------------------------------------------- AN2
def test_revenue_counts_spending_once_and_reports_top_ups_apart(api, admin, customer, make):
    alpha = make.plan(service=make.service(name="Alpha"))
    beta = make.plan(service=make.service(name="Beta"))
    sub_a = make.subscription(user=customer, plan=alpha)
    sub_b = make.subscription(user=customer, plan=beta, status=SubscriptionStatus.CANCELLED)
    tx(customer, 200_000, T.TOP_UP)
    tx(customer, 50_000, T.SUBSCRIPTION, subscription=sub_a)
    tx(customer, 25_000, T.UPGRADE, subscription=sub_a)
    tx(customer, 100_000, T.SUBSCRIPTION, subscription=sub_b)
    tx(customer, 30_000, T.SUBSCRIPTION)                                    # creation charge without a subscription id
    tx(customer, 40_000, T.REFUND, subscription=sub_b)
    tx(customer, 20_000, T.COUPON_REDEMPTION)                               # welcome credit: not revenue
    tx(customer, 99_000, T.SUBSCRIPTION, status=TransactionStatus.FAILED)  # not completed

    data = assert_envelope(get(api, admin, "revenue"), 200, "Revenue analytics retrieved successfully")["data"]
    report = data["revenueAnalytics"]
    assert set(report) == {"summary", "byService", "dailyBreakdown"}
    assert report["summary"] == {"totalRevenue": 205_000, "subscriptionRevenue": 205_000, "topUpRevenue": 200_000,
                                 "refundAmount": 40_000, "netRevenue": 165_000}
    assert report["byService"] == [
        {"serviceId": beta.service_id, "serviceName": "Beta", "revenue": 100_000, "transactionCount": 1},
        {"serviceId": alpha.service_id, "serviceName": "Alpha", "revenue": 75_000, "transactionCount": 2},
    ]
    today = utcnow().date().isoformat()
    if (utcnow() - timedelta(minutes=5)).date().isoformat() == today:  # all rows fell on today's date
        assert report["dailyBreakdown"] == [{"date": today, "revenue": 205_000, "refunds": 40_000,
                                             "netRevenue": 165_000, "transactionCount": 5}]


def test_revenue_date_range_is_inclusive_and_bounds_the_daily_breakdown(api, admin, customer):
    tx(customer, 1, when=at("2024-07-31T23:59:59"))     # before the range
    tx(customer, 10, when=at("2024-08-01T00:00:00"))    # first instant of the range
    tx(customer, 20, when=at("2024-08-15T12:00:00"))
    tx(customer, 5, T.REFUND, when=at("2024-08-15T13:00:00"))
    tx(customer, 40, T.UPGRADE, when=at("2024-08-30T23:30:00"))  # last day counts (endDate inclusive)
    tx(customer, 80, when=at("2024-08-31T00:00:00"))    # after the range
    tx(customer, 160, T.TOP_UP, when=at("2024-08-20T09:00:00"))

    report = assert_envelope(get(api, admin, "revenue", "startDate=2024-08-01&endDate=2024-08-30"),
                             200)["data"]["revenueAnalytics"]
    assert report["summary"] == {"totalRevenue": 70, "subscriptionRevenue": 70, "topUpRevenue": 160,
                                 "refundAmount": 5, "netRevenue": 65}
    assert report["dailyBreakdown"] == [
        {"date": "2024-08-30", "revenue": 40, "refunds": 0, "netRevenue": 40, "transactionCount": 1},
        {"date": "2024-08-15", "revenue": 20, "refunds": 5, "netRevenue": 15, "transactionCount": 2},
        {"date": "2024-08-01", "revenue": 10, "refunds": 0, "netRevenue": 10, "transactionCount": 1},
    ]
    single_day = assert_envelope(get(api, admin, "revenue", "startDate=2024-08-15&endDate=2024-08-15"),
                                 200)["data"]["revenueAnalytics"]
    assert single_day["summary"]["totalRevenue"] == 20
    assert [d["date"] for d in single_day["dailyBreakdown"]] == ["2024-08-15"]
    # a range in the future has nothing, daily breakdown included
    future = assert_envelope(get(api, admin, "revenue", "startDate=2099-01-01&endDate=2099-12-31"),
                             200)["data"]["revenueAnalytics"]
    assert future["summary"]["totalRevenue"] == 0 and future["dailyBreakdown"] == [] and future["byService"] == []


@pytest.mark.parametrize("period, expected", [("7d", 1), ("30d", 11), ("90d", 111), ("1y", 1111)])
def test_revenue_periods(api, admin, customer, period, expected):
    tx(customer, 1, when=days_ago(1))
    tx(customer, 10, when=days_ago(20))
    tx(customer, 100, when=days_ago(60))
    tx(customer, 1000, when=days_ago(200))
    tx(customer, 10000, when=days_ago(400))
    report = assert_envelope(get(api, admin, "revenue", f"period={period}"), 200)["data"]["revenueAnalytics"]
    assert report["summary"]["totalRevenue"] == expected
    assert len(report["dailyBreakdown"]) == len(str(expected))


# ------------------------------------------------------------------------------------------- AN3
def test_subscriptions_summary_breakdowns_and_churn(api, admin, make):
    users = [make.user(email=f"s{i}@example.com") for i in range(6)]
    alpha = make.plan(service=make.service(name="Alpha"), name="Alpha Basic")
    beta_service = make.service(name="Beta")
    beta_basic = make.plan(service=beta_service, name="Beta Basic")
    beta_pro = make.plan(service=beta_service, name="Beta Pro", plan_type="PRO")
    old = days_ago(60)
    # live when the 30-day window started
    make.subscription(user=users[0], plan=alpha, created_at=old)
    make.subscription(user=users[1], plan=beta_basic, created_at=old)
    make.subscription(user=users[2], plan=beta_pro, created_at=old)
    make.subscription(user=users[3], plan=beta_basic, created_at=old, status=SubscriptionStatus.CANCELLED,
                      cancelled_at=days_ago(5))                       # churned inside the window
    # not live at the start: cancelled long ago (edited recently: updatedAt must not matter)
    make.subscription(user=users[4], plan=alpha, created_at=old, status=SubscriptionStatus.CANCELLED,
                      cancelled_at=days_ago(45), updated_at=days_ago(1))
    make.subscription(user=users[5], plan=alpha, created_at=old, status=SubscriptionStatus.EXPIRED,
                      end_date=days_ago(40))
    # new in the window
    make.subscription(user=users[4], plan=beta_basic, created_at=days_ago(3))
    make.subscription(user=users[5], plan=beta_pro, created_at=days_ago(2), status=SubscriptionStatus.PENDING_PAYMENT)

    body = assert_envelope(get(api, admin, "subscriptions"), 200, "Subscription analytics retrieved successfully")
    report = body["data"]["subscriptionAnalytics"]
    assert set(report) == {"summary", "byService", "byPlan"}
    assert report["summary"] == {"total": 8, "active": 4, "expired": 1, "cancelled": 2, "newInPeriod": 2,
                                 "churnRate": 25}  # 1 churned of 4 live at the start
    assert report["byService"] == [
        {"serviceId": beta_service.id, "serviceName": "Beta", "subscriptionCount": 3},
        {"serviceId": alpha.service_id, "serviceName": "Alpha", "subscriptionCount": 1},
    ]
    assert report["byPlan"] == [
        {"planId": beta_basic.id, "planName": "Beta Basic", "serviceName": "Beta", "subscriptionCount": 2},
        {"planId": alpha.id, "planName": "Alpha Basic", "serviceName": "Alpha", "subscriptionCount": 1},
        {"planId": beta_pro.id, "planName": "Beta Pro", "serviceName": "Beta", "subscriptionCount": 1},
    ]
    # a week: nobody churned in it; everything but the two newest was live at its start
    week = assert_envelope(get(api, admin, "subscriptions", "period=7d"), 200)["data"]["subscriptionAnalytics"]
    assert week["summary"]["newInPeriod"] == 2
    assert week["summary"]["churnRate"] == 25  # the 5-day-old cancellation is inside 7 days too
    # a date range honours both ends
    ranged = assert_envelope(get(api, admin, "subscriptions",
                                 f"startDate={days_ago(50).date()}&endDate={days_ago(10).date()}"),
                             200)["data"]["subscriptionAnalytics"]
    assert ranged["summary"]["newInPeriod"] == 0
    # live at the range start: 4 active-at-60d + the one cancelled 45 days ago + the one expired 40 days ago
    assert ranged["summary"]["churnRate"] == round(100 * 1 / 6)


def test_churn_is_zero_without_a_base(api, admin, customer, make):
    make.subscription(user=customer, plan=make.plan(), status=SubscriptionStatus.CANCELLED, cancelled_at=days_ago(1))
    report = assert_envelope(get(api, admin, "subscriptions"), 200)["data"]["subscriptionAnalytics"]
    assert report["summary"]["churnRate"] == 0 and report["summary"]["newInPeriod"] == 1


# ------------------------------------------------------------------------------------------- AN4
def test_users_report(api, admin, make):
    big = make.user(email="big@example.com", name="Big Spender", total_spent=900_000, credit_balance=5,
                    created_at=days_ago(100))
    mid = make.user(email="mid@example.com", name="Mid Spender", total_spent=300_000, created_at=days_ago(10))
    make.user(email="new@example.com", name="Newcomer", created_at=days_ago(1), credit_balance=20_000)
    ghost = make.user(email="ghost@example.com", total_spent=10_000_000, created_at=days_ago(2))
    accounts.delete_user(admin, ghost.id)
    plan_a, plan_b = make.plan(), make.plan()
    make.subscription(user=big, plan=plan_a)
    make.subscription(user=big, plan=plan_b)
    make.subscription(user=mid, plan=plan_a, status=SubscriptionStatus.EXPIRED)

    body = assert_envelope(get(api, admin, "users"), 200, "User analytics retrieved successfully")
    report = body["data"]["userAnalytics"]
    assert set(report) == {"summary", "topSpenders", "growth"}
    # admin + big + mid + newcomer (the deleted user is not a user any more)
    assert report["summary"] == {"total": 4, "newInPeriod": 3, "active": 1, "withSubscriptions": 2,
                                 "withBalance": 2, "conversionRate": 50}
    spenders = report["topSpenders"]
    assert [s["email"] for s in spenders[:2]] == ["big@example.com", "mid@example.com"]
    assert spenders[0] == {"id": big.id, "email": "big@example.com", "name": "Big Spender", "totalSpent": 900_000,
                           "creditBalance": 5, "activeSubscriptions": 2}
    assert spenders[1]["activeSubscriptions"] == 0
    assert ghost.id not in {s["id"] for s in spenders}
    dates = [g["date"] for g in report["growth"]]
    assert dates == sorted(dates, reverse=True)
    assert sum(g["newUsers"] for g in report["growth"]) == 3
    assert days_ago(100).date().isoformat() not in dates
    # 1y reaches the 100-day-old account (the original treated 1y as 30d)
    year = assert_envelope(get(api, admin, "users", "period=1y"), 200)["data"]["userAnalytics"]
    assert year["summary"]["newInPeriod"] == 4
    ranged = assert_envelope(get(api, admin, "users",
                                 f"startDate={days_ago(100).date()}&endDate={days_ago(100).date()}"),
                             200)["data"]["userAnalytics"]
    assert ranged["summary"]["newInPeriod"] == 1
    assert ranged["growth"] == [{"date": days_ago(100).date().isoformat(), "newUsers": 1}]


def test_top_spenders_is_capped_at_ten(api, admin, make):
    for i in range(12):
        make.user(email=f"spender{i}@example.com", total_spent=i * 1000)
    spenders = assert_envelope(get(api, admin, "users"), 200)["data"]["userAnalytics"]["topSpenders"]
    assert len(spenders) == 10
    assert [s["totalSpent"] for s in spenders] == [i * 1000 for i in range(11, 1, -1)]


# ------------------------------------------------------------------------------------------- AN5
def test_service_control(api, admin, customer, make):
    alpha = make.plan(service=make.service(name="Alpha"))
    beta = make.plan(service=make.service(name="Beta"))
    sub_a = make.subscription(user=customer, plan=alpha)
    sub_b = make.subscription(user=customer, plan=beta)
    sub_old = make.subscription(user=customer, plan=make.plan(service=make.service(name="Gamma")),
                                status=SubscriptionStatus.CANCELLED)
    instance(sub_a, InstanceStatus.RUNNING, updated=days_ago(1))
    instance(sub_b, InstanceStatus.STOPPED, updated=days_ago(20))
    instance(sub_old, InstanceStatus.TERMINATED, updated=days_ago(50))

    body = assert_envelope(get(api, admin, "service-control"), 200, "Service control metrics retrieved successfully")
    report = body["data"]["serviceControlMetrics"]
    assert set(report) == {"summary", "byStatus", "byService"}
    assert report["summary"] == {"totalInstances": 3, "recentStatusChanges": 2}
    assert sorted(report["byStatus"], key=lambda r: r["status"]) == [
        {"status": "RUNNING", "count": 1}, {"status": "STOPPED", "count": 1}, {"status": "TERMINATED", "count": 1}]
    assert {r["serviceName"]: r["instanceCount"] for r in report["byService"]} == {"Alpha": 1, "Beta": 1, "Gamma": 1}
    assert set(report["byService"][0]) == {"serviceId", "serviceName", "instanceCount"}
    week = assert_envelope(get(api, admin, "service-control", "period=7d"), 200)["data"]["serviceControlMetrics"]
    assert week["summary"]["recentStatusChanges"] == 1
    year = assert_envelope(get(api, admin, "service-control", "period=1y"), 200)["data"]["serviceControlMetrics"]
    assert year["summary"]["recentStatusChanges"] == 3
    ranged = assert_envelope(get(api, admin, "service-control",
                                 f"startDate={days_ago(20).date()}&endDate={days_ago(20).date()}"),
                             200)["data"]["serviceControlMetrics"]
    assert ranged["summary"]["recentStatusChanges"] == 1


# ----------------------------------------------------------------------------------- query budget
@contextlib.contextmanager
def count_queries():
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _populate(make, admin, n):
    for i in range(n):
        user = make.user(email=f"bulk{n}-{i}@example.com", credit_balance=1000)
        sub = make.subscription(user=user, plan=make.plan())
        instance(sub)
        tx(user, 1000, T.SUBSCRIPTION, subscription=sub)
        tx(user, 500, T.TOP_UP, when=days_ago(i))


@pytest.mark.parametrize("report", ["dashboard", "revenue", "subscriptions", "users", "service_control"])
def test_each_report_runs_a_fixed_number_of_queries(admin, make, report):
    def run():
        if report == "dashboard":
            return analytics.dashboard()
        return getattr(analytics, report)(analytics.resolve_window("1y"))

    _populate(make, admin, 1)
    with count_queries() as small:
        run()
    _populate(make, admin, 8)
    with count_queries() as large:
        run()
    assert 1 <= len(small) == len(large) <= 5


def test_resolve_window():
    now = at("2024-09-10T08:00:00")
    w = analytics.resolve_window("7d", now=now)
    assert (w.start, w.end) == (at("2024-09-03T08:00:00"), now)
    assert analytics.resolve_window("1y", now=now).start == now - timedelta(days=365)
    w = analytics.resolve_window("30d", at("2024-08-01T00:00:00"), at("2024-08-30T00:00:00"), now=now)
    assert (w.start, w.end) == (at("2024-08-01T00:00:00"), at("2024-08-31T00:00:00"))
