"""Admin billing routes B1-B9: paths, statuses, messages, shapes (spec §2 B1-B9, §4.3)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.queue import get_queue, redis_connection
from tests.conftest import assert_envelope
from tests.notifications.billing_helpers import instances_stub  # noqa: F401 (fixture)
from webapp import clock
from webapp.billing import ledger
from webapp.billing.models import TransactionType
from webapp.catalog.models import ServicePlan
from webapp.extensions import db
from webapp.notifications.models import Notification, NotificationType
from webapp.subscriptions.models import Subscription, SubscriptionStatus

S = SubscriptionStatus
JOBS = ["daily-renewals", "grace-period", "low-credit-notifications", "grace-period-reminders", "billing-stats"]


@pytest.fixture(autouse=True)
def _clean(app, instances_stub):
    connection = redis_connection()
    connection.flushdb()
    yield
    get_queue().empty()
    connection.flushdb()


def due(make, *, balance=100_000, price=50_000, hours_ago=1, **kw):
    user = make.user(credit_balance=balance)
    plan = kw.pop("plan", None) or make.plan(monthly_price=price, used_quota=1)
    end = clock.now() - timedelta(hours=hours_ago)
    return make.subscription(user=user, plan=plan, start_date=end - timedelta(days=30), end_date=end,
                             next_billing=end, monthly_price=price, **kw)


def fresh(sub):
    db.session.expire_all()
    return db.session.get(Subscription, sub.id)


# ------------------------------------------------------------------------------------------ auth
@pytest.mark.parametrize("method, path", [
    ("GET", "/api/admin/billing/stats"), ("POST", "/api/admin/billing/process-renewals"),
    ("POST", "/api/admin/billing/process-grace-period"), ("GET", "/api/admin/billing/low-credit"),
    ("POST", "/api/admin/billing/send-low-credit-notifications"), ("GET", "/api/admin/billing/job-status"),
    ("POST", "/api/admin/billing/run-job/billing-stats"),
    ("POST", "/api/admin/billing/set-grace-period/clnonexistentsubscription"),
    ("POST", "/api/admin/billing/expire/clnonexistentsubscription"),
])
def test_admin_only(api, customer, method, path):
    assert_envelope(api.call(method, path), 401, "Access token is required")
    assert_envelope(api.call(method, path, token="non_admin_token"), 403, "Invalid or expired token")
    assert_envelope(api.call(method, path, as_user=customer), 403, "Access denied. Insufficient permissions.")


# -------------------------------------------------------------------------------------------- B1
def test_b1_stats_counts_and_this_months_revenue(api, admin, make):
    due(make)  # due for renewal
    in_grace = due(make, balance=0)
    db.session.execute(db.update(Subscription).where(Subscription.id == in_grace.id)
                       .values(grace_period_end=clock.now() + timedelta(days=3), failed_charges=1))
    due(make, auto_renew=False)  # not counted as auto-renewing
    paying = make.user(credit_balance=80_000)
    ledger.debit(paying.id, 30_000, type=TransactionType.SUBSCRIPTION, description="Subscription to X")
    ledger.debit(paying.id, 20_000, type=TransactionType.UPGRADE, description="Upgrade")  # not revenue here
    body = assert_envelope(api.get("/api/admin/billing/stats", as_user=admin), 200,
                           "Billing statistics retrieved successfully")
    data = body["data"]
    assert {k: data[k] for k in ("totalActiveSubscriptions", "subscriptionsDueForRenewal",
                                 "subscriptionsInGracePeriod", "monthlyRevenue", "failedRenewals")} == {
        "totalActiveSubscriptions": 2, "subscriptionsDueForRenewal": 2, "subscriptionsInGracePeriod": 1,
        "monthlyRevenue": 30_000, "failedRenewals": 1}
    assert data["lastUpdated"].endswith("Z")


def test_b1_month_window_includes_the_whole_last_day(make):
    """[fix §5 item 23] a charge at 23:30 on the last day of the month (Jakarta) is this month's revenue."""
    from tests.notifications.billing_helpers import jkt
    from webapp.billing.models import Transaction
    from webapp.subscriptions.billing_stats import billing_stats, month_bounds

    assert month_bounds(jkt(2026, 1, 31, 23, 30)) == (jkt(2026, 1, 1), jkt(2026, 2, 1))
    user = make.user(credit_balance=100_000)
    posting = ledger.debit(user.id, 45_000, type=TransactionType.SUBSCRIPTION, description="Auto-renewal")
    db.session.execute(db.update(Transaction).where(Transaction.id == posting.transaction.id)
                       .values(created_at=jkt(2026, 1, 31, 23, 30)))
    with clock.frozen(jkt(2026, 1, 31, 23, 45)):
        assert billing_stats()["monthlyRevenue"] == 45_000
    with clock.frozen(jkt(2026, 2, 1, 0, 5)):
        assert billing_stats()["monthlyRevenue"] == 0


# -------------------------------------------------------------------------------------------- B2/B3
def test_b2_process_renewals(api, admin, make):
    ok_sub = due(make)
    poor = due(make, balance=1_000)
    body = assert_envelope(api.post("/api/admin/billing/process-renewals", as_user=admin), 200,
                           "Auto-renewal processing completed")
    data = body["data"]
    assert {k: data[k] for k in ("processed", "successful", "failed", "insufficientCredit", "quotaExceeded")} == {
        "processed": 2, "successful": 1, "failed": 1, "insufficientCredit": 1, "quotaExceeded": 0}
    assert data["errors"] == [{"subscriptionId": poor.id, "userId": poor.user_id, "userEmail": poor.user.email,
                               "error": "Insufficient credit. Balance: 1000, Required: 50000"}]
    assert fresh(ok_sub).end_date > clock.now() and fresh(poor).grace_period_end is not None
    # B2 sends no ADMIN_BILLING_SUMMARY (only the daily-renewals job does).
    assert db.session.query(Notification).filter_by(type=NotificationType.ADMIN_BILLING_SUMMARY).count() == 0
    again = assert_envelope(api.post("/api/admin/billing/process-renewals", as_user=admin), 200)
    assert again["data"]["successful"] == 0 and fresh(poor).failed_charges == 1


def test_b3_process_grace_period(api, admin, make):
    sub = due(make, balance=0)
    db.session.execute(db.update(Subscription).where(Subscription.id == sub.id)
                       .values(grace_period_end=clock.now() - timedelta(minutes=5), failed_charges=1))
    body = assert_envelope(api.post("/api/admin/billing/process-grace-period", as_user=admin), 200,
                           "Grace period processing completed")
    assert {k: body["data"][k] for k in ("processed", "expired", "renewed", "errors")} == {
        "processed": 1, "expired": 1, "renewed": 0, "errors": []}
    assert fresh(sub).status == S.EXPIRED


# -------------------------------------------------------------------------------------------- B4/B5
def test_b4_low_credit_list_and_b5_notifications_once(api, admin, make):
    poor = due(make, balance=5_000, hours_ago=-24)  # renews tomorrow, cannot pay
    due(make, balance=500_000, hours_ago=-24)
    body = assert_envelope(api.get("/api/admin/billing/low-credit", as_user=admin), 200,
                           "Low credit subscriptions retrieved successfully")
    assert body["data"]["count"] == 1
    row = body["data"]["subscriptions"][0]
    assert row["id"] == poor.id and row["user"]["creditBalance"] == 5_000
    assert set(row["user"]) == {"id", "name", "email", "creditBalance"}
    assert row["service"] == {"name": poor.service.name} and row["plan"]["monthlyPrice"] == 50_000
    for _ in range(2):
        sent = assert_envelope(api.post("/api/admin/billing/send-low-credit-notifications", as_user=admin), 200,
                               "Low credit notifications sent")
        assert sent["data"] == {"processed": 1, "successful": 1, "failed": 0, "errors": []}
    assert db.session.query(Notification).filter_by(type=NotificationType.LOW_CREDIT_WARNING,
                                                    subscription_id=poor.id).count() == 1


# -------------------------------------------------------------------------------------------- B6/B7
def test_b6_job_status_before_any_scheduler(api, admin):
    body = assert_envelope(api.get("/api/admin/billing/job-status", as_user=admin), 200,
                           "Job status retrieved successfully")
    data = body["data"]
    assert (data["isRunning"], data["activeJobs"], data["jobCount"]) == (False, [], 0)
    assert data["configuration"]["gracePeriodDays"] == 7 and data["configuration"]["timezone"] == "Asia/Jakarta"
    assert [j["name"] for j in data["jobs"]] == JOBS and all(j["lastRun"] is None for j in data["jobs"])


def test_b6_reports_the_running_scheduler_and_b7_runs_record_the_last_run(api, admin, app):
    from jobs.scheduler import SchedulerLoop
    from webapp.subscriptions.scheduler import billing_settings

    loop = SchedulerLoop(redis_connection(), billing_settings(app.config), interval=5)
    assert loop.tick()
    assert_envelope(api.post("/api/admin/billing/run-job/billing-stats", as_user=admin), 200,
                    "Job billing-stats executed successfully")
    data = assert_envelope(api.get("/api/admin/billing/job-status", as_user=admin), 200)["data"]
    assert data["isRunning"] is True and data["activeJobs"] == JOBS and data["jobCount"] == 5
    stats_job = next(j for j in data["jobs"] if j["name"] == "billing-stats")
    assert stats_job["nextRunAt"].endswith("T16:00:00.000Z")  # 23:00 in Jakarta
    assert stats_job["lastRun"]["status"] == "finished" and stats_job["lastRun"]["source"] == "api"
    loop.stop()
    assert assert_envelope(api.get("/api/admin/billing/job-status", as_user=admin), 200)["data"]["isRunning"] is False


@pytest.mark.parametrize("name", JOBS)
def test_b7_every_job_runs(api, admin, name):
    body = assert_envelope(api.post(f"/api/admin/billing/run-job/{name}", as_user=admin), 200,
                           f"Job {name} executed successfully")
    if name in ("low-credit-notifications", "grace-period-reminders"):
        assert {k: body["data"][k] for k in ("processed", "successful", "failed")} == {
            "processed": 0, "successful": 0, "failed": 0}
    if name == "billing-stats":
        assert "monthlyRevenue" in body["data"]


def test_b7_daily_renewals_sends_the_admin_summary_once(api, admin, make):
    due(make)
    body = assert_envelope(api.post("/api/admin/billing/run-job/daily-renewals", as_user=admin), 200)
    assert body["data"]["successful"] == 1
    [summary] = db.session.execute(select(Notification).where(
        Notification.type == NotificationType.ADMIN_BILLING_SUMMARY)).scalars().all()
    assert summary.user_id is None and summary.data["successful"] == 1
    assert summary.body.startswith("Daily billing summary: 1/1 renewals successful")


@pytest.mark.parametrize("name", ["invalid-job", "DAILY-RENEWALS", "daily_renewals"])
def test_b7_unknown_job_is_400(api, admin, name):
    assert_envelope(api.post(f"/api/admin/billing/run-job/{name}", as_user=admin), 400, "Invalid job name")


# -------------------------------------------------------------------------------------------- B8
def test_b8_set_grace_period(api, admin, make):
    sub = due(make, hours_ago=-240)  # a paid period
    body = assert_envelope(api.post(f"/api/admin/billing/set-grace-period/{sub.id}", as_user=admin,
                                    json={"graceDays": 14}), 200, "Grace period of 14 days set successfully")
    data = body["data"]["subscription"]
    assert data["id"] == sub.id and data["failedCharges"] == 1 and data["gracePeriodEnd"].endswith("Z")
    sub = fresh(sub)
    assert abs((sub.grace_period_end - clock.now()) - timedelta(days=14)) < timedelta(minutes=1)
    # Default: GRACE_PERIOD_DAYS (7), not a hard-coded value; replacing a running grace counts no new failure.
    body = assert_envelope(api.post(f"/api/admin/billing/set-grace-period/{sub.id}", as_user=admin), 200,
                           "Grace period of 7 days set successfully")
    assert body["data"]["subscription"]["failedCharges"] == 1
    from webapp.audit.models import AuditEntry

    assert db.session.query(AuditEntry).filter_by(target_id=sub.id, action="subscription.set_grace_period",
                                                  actor_id=admin.id).count() == 2


@pytest.mark.parametrize("body, message", [
    ({"graceDays": 35}, "Grace days cannot exceed 30"),
    ({"graceDays": 0}, "Grace days must be at least 1"),
    ({"graceDays": "abc"}, "Grace days must be a number"),
    ({"graceDays": 2.5}, "Grace days must be an integer"),
    ({"graceDays": 7, "extra": 1}, '"extra" is not allowed'),
])
def test_b8_validation(api, admin, make, body, message):
    sub = due(make)
    assert_envelope(api.post(f"/api/admin/billing/set-grace-period/{sub.id}", as_user=admin, json=body), 400,
                    message)


def test_b8_limits_follow_the_settings(api, admin, make, app, monkeypatch):
    monkeypatch.setitem(app.config, "GRACE_PERIOD_MAX_DAYS", "10")
    sub = due(make)
    assert_envelope(api.post(f"/api/admin/billing/set-grace-period/{sub.id}", as_user=admin,
                             json={"graceDays": 11}), 400, "Grace days cannot exceed 10")


@pytest.mark.parametrize("path, status, message", [
    ("/api/admin/billing/set-grace-period/clnonexistentsubscription", 404, "Subscription not found"),
    ("/api/admin/billing/set-grace-period/invalid_id", 400, "Subscription ID must contain only letters and numbers"),
    ("/api/admin/billing/set-grace-period/abc", 400, "Subscription ID must be at least 20 characters long"),
    ("/api/admin/billing/set-grace-period/" + "a" * 31, 400, "Subscription ID must not exceed 30 characters"),
    ("/api/admin/billing/expire/clnonexistentsubscription", 404, "Subscription not found"),
    ("/api/admin/billing/expire/invalid_id", 400, "Subscription ID must contain only letters and numbers"),
])
def test_b8_b9_ids(api, admin, path, status, message):
    assert_envelope(api.post(path, as_user=admin, json={"graceDays": 7} if "grace" in path else {}), status, message)


def test_b8_on_an_expired_subscription_is_a_400_not_a_500(api, admin, make):
    sub = due(make, status=S.EXPIRED)
    response = api.post(f"/api/admin/billing/set-grace-period/{sub.id}", as_user=admin, json={"graceDays": 7})
    assert_envelope(response, 400)


# -------------------------------------------------------------------------------------------- B9
def test_b9_expire_once_and_again_is_harmless(api, admin, make):
    plan = make.plan(monthly_price=50_000, used_quota=1)
    sub = due(make, plan=plan, hours_ago=-100)
    body = assert_envelope(api.post(f"/api/admin/billing/expire/{sub.id}", as_user=admin,
                                    json={"reason": "Fraudulent usage"}), 200, "Subscription expired successfully")
    assert body["data"]["subscription"]["status"] == "EXPIRED" and body["data"]["subscription"]["autoRenew"] is False
    assert db.session.get(ServicePlan, plan.id).used_quota == 0
    # Again (spec §4.3 #21): still 200, but the quota is not released a second time [fix 17].
    assert_envelope(api.post(f"/api/admin/billing/expire/{sub.id}", as_user=admin, json={}), 200,
                    "Subscription expired successfully")
    db.session.expire_all()
    assert db.session.get(ServicePlan, plan.id).used_quota == 0
    [note] = db.session.execute(select(Notification).where(
        Notification.type == NotificationType.SUBSCRIPTION_SUSPENDED, Notification.subscription_id == sub.id)
    ).scalars().all()
    assert note.data["serviceName"] == sub.service.name  # real names, not "Service"/"Plan" placeholders


def test_b9_reason_validation(api, admin, make):
    sub = due(make)
    assert_envelope(api.post(f"/api/admin/billing/expire/{sub.id}", as_user=admin, json={"reason": "no"}), 400,
                    "Reason must be at least 3 characters long")
    assert_envelope(api.post(f"/api/admin/billing/expire/{sub.id}", as_user=admin, json={"reason": "x" * 501}),
                    400, "Reason cannot exceed 500 characters")


def test_malformed_json_is_400(api, admin, make):
    sub = due(make)
    response = api.post(f"/api/admin/billing/set-grace-period/{sub.id}", as_user=admin, data="{bad",
                        headers={"Content-Type": "application/json"})
    assert_envelope(response, 400, "Invalid JSON body")


def test_running_a_billing_job_is_audited(api, admin):
    from webapp.audit.models import AuditEntry
    from webapp.extensions import db

    response = api.post("/api/admin/billing/process-renewals", as_user=admin)
    assert response.status_code == 200
    entry = db.session.query(AuditEntry).filter_by(action="billing.run_job").one()
    assert entry.actor_id == admin.id and entry.target_id == "daily-renewals"
