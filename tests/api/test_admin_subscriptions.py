"""Admin subscription routes A1-A9: shapes, messages, money and quota, audit rows."""
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import assert_envelope
from tests.subscriptions.helpers import MISSING_ID, balance, freeze, ladder, used
from webapp import clock
from webapp.audit.models import AuditEntry
from webapp.billing.models import Transaction, TransactionType
from webapp.cluster.models import InstanceStatus, ServiceInstance
from webapp.extensions import db
from webapp.subscriptions.models import Subscription, SubscriptionStatus

S = SubscriptionStatus
UTC = timezone.utc
REASON = "Customer support decision"


@pytest.fixture
def plans(make):
    return ladder(make, name="Ghost", slug="ghost-blog")


@pytest.fixture
def rich(make):
    return make.user(email="rich@example.com", name="Rich Person", credit_balance=1_000_000)


def audits(sub_id, action=None):
    query = db.session.query(AuditEntry).filter_by(target_id=sub_id)
    if action:
        query = query.filter_by(action=action)
    return query.all()


def create(api, admin, user, plan, **kw):
    return api.post("/api/admin/subscriptions", as_user=admin, json={"userId": user.id, "planId": plan.id, **kw})


def paid_sub(api, admin, user, plan, when):
    with freeze(when):
        body = assert_envelope(create(api, admin, user, plan, reason=REASON), 201)
    return body["data"]["subscription"]["id"]


def test_admin_routes_need_an_administrator(api, customer):
    for method, path in (("POST", "/api/admin/subscriptions"), ("GET", "/api/admin/subscriptions"),
                         ("GET", "/api/admin/subscriptions/stats"), ("PUT", f"/api/admin/subscriptions/{MISSING_ID}"),
                         ("PUT", f"/api/admin/subscriptions/{MISSING_ID}/expire")):
        assert_envelope(api.call(method, path, as_user=customer, json={}), 403,
                        "Access denied. Insufficient permissions.")
        assert_envelope(api.call(method, path, json={}), 401, "Access token is required")


# ---------------------------------------------------------------------------------------------- A1
def test_admin_create_regular_and_bonus(api, make, admin, plans, rich):
    body = assert_envelope(create(api, admin, rich, plans.basic, reason="Manual signup for a customer"), 201,
                           "Subscription created successfully")
    data = body["data"]
    assert data["billing"] == {"chargeAmount": 50_000, "isBonusSubscription": False, "originalPrice": 50_000}
    assert data["user"] == {"id": rich.id, "name": "Rich Person", "email": "rich@example.com"}
    assert data["plan"] == {"id": plans.basic.id, "name": "Basic", "serviceName": "Ghost", "monthlyPrice": 50_000}
    assert data["adminAction"] == {"createdBy": admin.id, "reason": "Manual signup for a customer",
                                   "skipCreditCheck": False}
    assert balance(rich) == 950_000 and used(plans.basic) == 1
    assert audits(data["subscription"]["id"], "subscription.activate_new")[0].actor_id == admin.id

    other = make.user()
    body = assert_envelope(create(api, admin, other, plans.pro, skipCreditCheck=True), 201,
                           "Bonus subscription created successfully (no charge)")
    assert body["data"]["billing"]["isBonusSubscription"] is True
    assert body["data"]["adminAction"]["reason"] == "Admin created subscription"
    tx = db.session.query(Transaction).filter_by(user_id=other.id).one()
    assert tx.amount == 0 and tx.metadata_["isBonusSubscription"] is True
    assert tx.description == "Admin created subscription: Ghost - Pro plan"


def test_admin_create_errors(api, make, admin, plans, rich, customer):
    assert_envelope(api.post("/api/admin/subscriptions", as_user=admin, json={"userId": "invalid-user-id",
                                                                            "planId": plans.basic.id}),
                    404, "User not found")
    assert_envelope(api.post("/api/admin/subscriptions", as_user=admin, json={"userId": rich.id,
                                                                            "planId": "invalid-plan-id"}),
                    404, "Service plan not found")
    assert_envelope(create(api, admin, rich, make.plan(is_active=False)), 404, "Service plan not found")
    body = assert_envelope(create(api, admin, customer, plans.basic), 400,
                           "User has insufficient credit. Balance: 0, Required: 50000")
    assert body["data"] == {"currentBalance": 0, "requiredAmount": 50_000, "shortfall": 50_000}
    assert_envelope(create(api, admin, rich, make.plan(total_quota=1, used_quota=1)), 503,
                    "Service plan is at full capacity. Please try again later.")
    assert_envelope(create(api, admin, rich, plans.basic), 201)
    assert_envelope(create(api, admin, rich, plans.pro), 409, "User already has an active subscription for this service")
    expired = make.subscription(user=customer, plan=plans.basic, status=S.EXPIRED)
    assert_envelope(create(api, admin, customer, plans.basic, skipCreditCheck=True), 409,
                    f"User has an expired subscription for this service (ID: {expired.id}). "
                    "Use regular subscription creation endpoint to reactivate it.")


@pytest.mark.parametrize("body, message", [
    ({"reason": "Some reason here"}, "User ID is required"),
    ({"userId": "u"}, "Plan ID is required"),
    ({"userId": "u", "planId": "p", "reason": "Short"}, "Reason must be at least 10 characters long"),
    ({"userId": "u", "planId": "p", "reason": "x" * 501}, "Reason cannot exceed 500 characters"),
    ({"userId": "u", "planId": "p", "bogus": 1}, '"bogus" is not allowed'),
])
def test_admin_create_messages(api, admin, body, message):
    assert_envelope(api.post("/api/admin/subscriptions", as_user=admin, json=body), 400, message)


# ---------------------------------------------------------------------------------------------- A2
def test_admin_list_filters_and_pagination(api, make, admin, plans):
    john = make.user(name="John Test", email="john@example.com")
    jane = make.user(name="Jane", email="jane@example.com")
    a = make.subscription(user=john, plan=plans.basic, created_at=clock.now() - timedelta(days=2))
    b = make.subscription(user=jane, plan=plans.basic, status=S.CANCELLED, created_at=clock.now() - timedelta(days=1))
    c = make.subscription(user=jane, plan=plans.pro, created_at=clock.now())
    make.user()
    body = assert_envelope(api.get("/api/admin/subscriptions?limit=2", as_user=admin), 200,
                           "Subscriptions retrieved successfully")
    assert [r["id"] for r in body["data"]["subscriptions"]] == [c.id, b.id]
    assert body["data"]["pagination"] == {"currentPage": 1, "totalPages": 2, "totalCount": 3, "hasMore": True}
    row = body["data"]["subscriptions"][0]
    assert row["user"] == {"id": jane.id, "name": "Jane", "email": "jane@example.com"}
    assert set(row["service"]) == {"id", "name", "slug", "icon"} and row["_count"] == {"instances": 0}
    page2 = api.get("/api/admin/subscriptions?page=2&limit=2", as_user=admin).get_json()["data"]
    assert [r["id"] for r in page2["subscriptions"]] == [a.id] and page2["pagination"]["hasMore"] is False
    def ids(q):
        return [r["id"] for r in api.get(f"/api/admin/subscriptions?{q}", as_user=admin).get_json()["data"]["subscriptions"]]
    assert ids("status=ACTIVE&search=john") == [a.id]
    assert ids(f"userId={jane.id}") == [c.id, b.id]
    assert ids(f"serviceId={plans.service.id}&status=CANCELLED") == [b.id]
    assert ids("search=GHOST") == [c.id, b.id, a.id]
    assert ids("search=100%25") == []


@pytest.mark.parametrize("query, message", [
    ("page=0", "Page must be at least 1"), ("limit=101", "Limit cannot exceed 100"), ("limit=abc", "Limit must be a number"),
    ("status=NOPE", "Status must be one of: ACTIVE, SUSPENDED, CANCELLED, EXPIRED, PENDING_UPGRADE, PENDING_PAYMENT"),
    ("search=a", "Search term must be at least 2 characters long"),
])
def test_admin_list_messages(api, admin, query, message):
    assert_envelope(api.get(f"/api/admin/subscriptions?{query}", as_user=admin), 400, message)


# ---------------------------------------------------------------------------------------------- A3
def test_admin_stats(api, make, admin, plans):
    users = [make.user() for _ in range(4)]
    make.subscription(user=users[0], plan=plans.basic)
    make.subscription(user=users[1], plan=plans.pro)
    make.subscription(user=users[2], plan=plans.basic, status=S.CANCELLED)
    make.subscription(user=users[3], plan=plans.basic, status=S.EXPIRED,
                      created_at=datetime(2024, 8, 10, tzinfo=UTC))
    body = assert_envelope(api.get("/api/admin/subscriptions/stats", as_user=admin), 200,
                           "Subscription statistics retrieved successfully")
    data = body["data"]
    assert data["overview"] == {"totalSubscriptions": 4, "activeSubscriptions": 2, "cancelledSubscriptions": 1,
                                "cancellationRate": 25}
    assert data["revenue"] == {"monthlyRecurringRevenue": 200_000, "averageRevenuePerUser": 100_000}
    assert data["breakdown"]["byStatus"]["ACTIVE"] == 2 and data["breakdown"]["byStatus"]["SUSPENDED"] == 0
    assert data["breakdown"]["byService"] == [{"serviceId": plans.service.id, "serviceName": "Ghost",
                                               "serviceSlug": "ghost-blog", "_count": {"id": 4}}]
    assert {p["planId"]: p["_count"]["id"] for p in data["breakdown"]["byPlan"]} == {plans.basic.id: 3, plans.pro.id: 1}
    window = api.get("/api/admin/subscriptions/stats?startDate=2024-08-01&endDate=2024-08-31",
                     as_user=admin).get_json()["data"]
    assert window["overview"]["totalSubscriptions"] == 1 and window["revenue"]["averageRevenuePerUser"] == 0
    assert_envelope(api.get("/api/admin/subscriptions/stats?startDate=2024-08-01", as_user=admin), 400,
                    "Both start date and end date are required when filtering by date")
    assert_envelope(api.get("/api/admin/subscriptions/stats?startDate=2024-08-31&endDate=2024-08-01", as_user=admin),
                    400, "End date must be after start date")
    assert_envelope(api.get("/api/admin/subscriptions/stats?startDate=yesterday&endDate=2024-08-01", as_user=admin),
                    400, "Start date must be in ISO format")


# ---------------------------------------------------------------------------------------------- A4
def test_force_cancel_refunds_the_unused_part_of_what_was_paid(api, admin, plans, rich):
    sub_id = paid_sub(api, admin, rich, plans.basic, "2026-08-01T00:00:00Z")  # period Aug 1 -> Sep 1 (31 days)
    with freeze("2026-08-16T12:00:00Z"):
        body = assert_envelope(api.delete(f"/api/admin/subscriptions/{sub_id}/force-cancel", as_user=admin,
                                          json={"reason": "Abuse of the service", "processRefund": True}),
                               200, "Subscription force-cancelled successfully")
    data = body["data"]
    assert data["refund"]["amount"] == 24_194 and data["refund"]["processed"] is True  # round(50,000/31*15)
    assert data["refund"]["transactionId"].startswith("TXMP-")
    assert (data["refund"]["totalDays"], data["refund"]["daysUsed"], data["refund"]["remainingDays"]) == (31, 16, 15)
    assert data["subscription"]["status"] == "CANCELLED"
    assert data["subscription"]["endDate"] == "2026-08-16T12:00:00.000Z"
    assert data["instancesTerminated"] == 1
    assert data["adminAction"] == {"cancelledBy": admin.id, "reason": "Abuse of the service", "processRefund": True,
                                   "immediateTermination": True}
    assert balance(rich) == 950_000 + 24_194 and used(plans.basic) == 0
    tx = db.session.query(Transaction).filter_by(user_id=rich.id, type=TransactionType.REFUND).one()
    assert tx.subscription_id == sub_id and tx.description == "Admin force cancel refund: Ghost - Abuse of the service"
    assert audits(sub_id, "subscription.force_cancel")[0].reason == "Abuse of the service"
    assert_envelope(api.delete(f"/api/admin/subscriptions/{sub_id}/force-cancel", as_user=admin,
                               json={"reason": "Abuse of the service", "processRefund": True}), 400,
                    "Subscription is already cancelled")
    assert balance(rich) == 950_000 + 24_194


def test_force_cancel_without_refund_and_bonus_refunds_nothing(api, make, admin, plans, rich):
    sub_id = paid_sub(api, admin, rich, plans.basic, "2026-08-01T00:00:00Z")
    body = api.delete(f"/api/admin/subscriptions/{sub_id}/force-cancel", as_user=admin,
                      json={"reason": "Customer asked to stop"}).get_json()
    assert body["data"]["refund"] == {"amount": 0, "processed": False, "reason": "Refund not requested"}
    other = make.user()
    with freeze("2026-08-01T00:00:00Z"):
        bonus_id = assert_envelope(create(api, admin, other, plans.basic, skipCreditCheck=True),
                                   201)["data"]["subscription"]["id"]
    with freeze("2026-08-05T00:00:00Z"):
        body = api.delete(f"/api/admin/subscriptions/{bonus_id}/force-cancel", as_user=admin,
                          json={"reason": "Customer asked to stop", "processRefund": True}).get_json()
    assert body["data"]["refund"]["amount"] == 0 and body["data"]["refund"]["reason"] == "No remaining days to refund"
    assert balance(other) == 0


@pytest.mark.parametrize("body, message", [
    ({}, "Cancellation reason is required"), ({"reason": "Short"}, "Reason must be at least 10 characters long"),
    ({"reason": "x" * 501}, "Reason cannot exceed 500 characters"),
])
def test_force_cancel_messages(api, admin, body, message):
    assert_envelope(api.delete(f"/api/admin/subscriptions/{MISSING_ID}/force-cancel", as_user=admin, json=body),
                    400, message)


def test_admin_ids_can_be_any_string_and_missing_is_404(api, admin):
    assert_envelope(api.delete("/api/admin/subscriptions/invalid-id/force-cancel", as_user=admin,
                               json={"reason": "Test invalid ID"}), 404, "Subscription not found")
    for method, suffix, body in (("POST", "/refund", {"amount": 5000, "reason": REASON}),
                                 ("PUT", "/extend", {"extensionDays": 3, "reason": REASON}),
                                 ("PUT", "/upgrade", {"newPlanId": "x"}), ("PUT", "/expire", {"reason": REASON}),
                                 ("PUT", "", {"autoRenew": True})):
        assert_envelope(api.call(method, f"/api/admin/subscriptions/invalid-subscription-id{suffix}", as_user=admin,
                                 json=body), 404, "Subscription not found")


# ---------------------------------------------------------------------------------------------- A5
def test_refund_caps(api, admin, plans, rich):
    sub_id = paid_sub(api, admin, rich, plans.basic, "2026-08-01T00:00:00Z")
    body = assert_envelope(api.post(f"/api/admin/subscriptions/{sub_id}/refund", as_user=admin,
                                    json={"amount": 20_000, "reason": REASON}), 200, "Refund processed successfully")
    data = body["data"]
    assert data["refund"]["refundAmount"] == 20_000 and data["refund"]["balanceAfter"] == 970_000
    assert data["refundDetails"] == {"amount": 20_000, "refundType": "PARTIAL", "reason": REASON,
                                     "processedBy": admin.id}
    assert data["subscription"] == {"id": sub_id, "serviceName": "Ghost", "planName": "Basic", "monthlyPrice": 50_000}
    assert_envelope(api.post(f"/api/admin/subscriptions/{sub_id}/refund", as_user=admin,
                             json={"amount": 60_000, "reason": REASON}), 400,
                    "Partial refund amount cannot exceed monthly price")
    assert_envelope(api.post(f"/api/admin/subscriptions/{sub_id}/refund", as_user=admin,
                             json={"amount": 40_000, "reason": REASON, "refundType": "FULL"}), 400,
                    "Refund amount exceeds the amount paid for this subscription. Refundable: 30000")
    assert_envelope(api.post(f"/api/admin/subscriptions/{sub_id}/refund", as_user=admin,
                             json={"amount": 30_000, "reason": REASON, "refundType": "FULL"}), 200)
    assert balance(rich) == 1_000_000
    assert len(audits(sub_id, "subscription.refund")) == 2


@pytest.mark.parametrize("body, message", [
    ({"reason": REASON}, "Refund amount is required"),
    ({"amount": 500, "reason": REASON}, "Minimum refund amount is Rp 1,000"),
    ({"amount": 15_000_000, "reason": REASON}, "Maximum refund amount is Rp 10,000,000"),
    ({"amount": "abc", "reason": REASON}, "Refund amount must be a number"),
    ({"amount": 1500.5, "reason": REASON}, "Refund amount must be an integer"),
    ({"amount": 5000}, "Refund reason is required"),
    ({"amount": 5000, "reason": REASON, "refundType": "INVALID_TYPE"}, "Refund type must be either PARTIAL or FULL"),
])
def test_refund_messages(api, admin, body, message):
    assert_envelope(api.post(f"/api/admin/subscriptions/{MISSING_ID}/refund", as_user=admin, json=body), 400, message)


# ---------------------------------------------------------------------------------------------- A6
def test_extend(api, make, admin, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic, end_date=datetime(2026, 2, 25, 1, tzinfo=UTC))
    body = assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}/extend", as_user=admin,
                                   json={"extensionDays": 7, "reason": REASON}), 200,
                           "Subscription extended successfully")
    ext = body["data"]["extension"]
    assert (ext["previousEndDate"], ext["newEndDate"]) == ("2026-02-25T01:00:00.000Z", "2026-03-04T01:00:00.000Z")
    assert body["data"]["subscription"]["nextBilling"] == "2026-03-04T01:00:00.000Z"
    assert audits(sub.id, "subscription.extend")[0].reason == REASON
    sub.auto_renew = False
    db.session.flush()
    body = api.put(f"/api/admin/subscriptions/{sub.id}/extend", as_user=admin,
                   json={"extensionDays": 1, "reason": REASON}).get_json()
    assert body["data"]["subscription"]["nextBilling"] is None


@pytest.mark.parametrize("body, message", [
    ({"reason": REASON}, "Extension days is required"), ({"extensionDays": 0, "reason": REASON}, "Minimum extension is 1 day"),
    ({"extensionDays": 400, "reason": REASON}, "Maximum extension is 365 days"),
    ({"extensionDays": 5}, "Extension reason is required"),
])
def test_extend_messages(api, admin, body, message):
    assert_envelope(api.put(f"/api/admin/subscriptions/{MISSING_ID}/extend", as_user=admin, json=body), 400, message)


# ---------------------------------------------------------------------------------------------- A7
@pytest.fixture
def running(make, plans, rich):
    plans.basic.used_quota = 1
    return make.subscription(user=rich, plan=plans.basic, start_date=datetime(2026, 4, 1, tzinfo=UTC),
                             end_date=datetime(2026, 5, 1, tzinfo=UTC))


def test_admin_upgrade_downgrade_and_bonus(api, admin, plans, rich, running):
    with freeze("2026-04-16T00:00:00Z"):
        body = assert_envelope(api.put(f"/api/admin/subscriptions/{running.id}/upgrade", as_user=admin,
                                       json={"newPlanId": plans.pro.id}), 200, "Subscription upgraded successfully")
        assert body["data"]["upgrade"]["upgradeCost"] == 50_000 and balance(rich) == 950_000
        assert body["data"]["upgrade"]["fromPlan"]["id"] == plans.basic.id
        assert body["data"]["adminAction"] == {"upgradedBy": admin.id, "reason": "Admin upgrade",
                                               "skipCreditCheck": False}
        body = assert_envelope(api.put(f"/api/admin/subscriptions/{running.id}/upgrade", as_user=admin,
                                       json={"newPlanId": plans.free.id, "reason": "Downgrade requested by phone"}),
                               200, "Subscription downgraded successfully")
        assert body["data"]["upgradeCost"] == -75_000 and body["data"]["actualCharge"] == 0
        assert balance(rich) == 1_025_000
        refund = db.session.query(Transaction).filter_by(subscription_id=running.id,
                                                         type=TransactionType.REFUND).one()
        assert refund.amount == 75_000 and refund.metadata_["isDowngradeRefund"] is True
        body = assert_envelope(api.put(f"/api/admin/subscriptions/{running.id}/upgrade", as_user=admin,
                                       json={"newPlanId": plans.premium.id, "skipCreditCheck": True}), 200,
                               "Bonus upgrade completed successfully (no charge)")
        assert body["data"]["isBonusUpgrade"] is True and balance(rich) == 1_025_000
    assert (used(plans.basic), used(plans.free), used(plans.premium)) == (0, 0, 1)
    assert len(audits(running.id, "subscription.change_plan")) == 3


def test_admin_upgrade_errors(api, make, admin, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic, start_date=datetime(2026, 4, 1, tzinfo=UTC),
                            end_date=datetime(2026, 5, 1, tzinfo=UTC))
    plans.basic.used_quota = 1
    db.session.flush()
    with freeze("2026-04-16T00:00:00Z"):
        body = assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}/upgrade", as_user=admin,
                                       json={"newPlanId": plans.premium.id}), 400,
                               "User has insufficient credit for upgrade. Balance: 0, Required: 125000")
    assert body["data"] == {"currentBalance": 0, "requiredAmount": 125_000, "shortfall": 125_000}
    assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}/upgrade", as_user=admin,
                            json={"newPlanId": make.plan().id}), 400, "Cannot upgrade to a different service")
    assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}/upgrade", as_user=admin,
                            json={"newPlanId": plans.basic.id}), 400, "Subscription is already on this plan")
    assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}/upgrade", as_user=admin, json={}), 400,
                    "New plan ID is required")
    assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}/upgrade", as_user=admin,
                            json={"newPlanId": "nope"}), 404, "New service plan not found")


# ---------------------------------------------------------------------------------------------- A8
def test_admin_expire(api, make, admin, plans, rich):
    sub_id = paid_sub(api, admin, rich, plans.basic, "2026-08-01T00:00:00Z")
    with freeze("2026-08-10T00:00:00Z"):
        body = assert_envelope(api.put(f"/api/admin/subscriptions/{sub_id}/expire", as_user=admin,
                                       json={"reason": "Payment dispute with bank"}), 200,
                               "Subscription expired successfully")
    data = body["data"]
    assert data["subscription"]["status"] == "EXPIRED" and data["subscription"]["autoRenew"] is False
    assert data["subscription"]["endDate"] == "2026-08-10T00:00:00.000Z" and data["instancesTerminated"] == 1
    assert data["adminAction"] == {"expiredBy": admin.id, "reason": "Payment dispute with bank",
                                   "terminateInstances": True}
    assert used(plans.basic) == 0
    assert_envelope(api.put(f"/api/admin/subscriptions/{sub_id}/expire", as_user=admin,
                            json={"reason": "Payment dispute with bank"}), 400, "Subscription is already expired")
    assert used(plans.basic) == 0
    cancelled = make.subscription(user=make.user(), plan=plans.pro, status=S.CANCELLED)
    assert_envelope(api.put(f"/api/admin/subscriptions/{cancelled.id}/expire", as_user=admin,
                            json={"reason": "Payment dispute with bank"}), 400, "Cannot expire a cancelled subscription")


def test_admin_expire_can_keep_instances(api, make, admin, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic)
    instance = ServiceInstance(subscription_id=sub.id, name="keep", subdomain="keep.apps.test", namespace="ns",
                               status=InstanceStatus.RUNNING)
    db.session.add(instance)
    db.session.flush()
    body = api.put(f"/api/admin/subscriptions/{sub.id}/expire", as_user=admin,
                   json={"reason": "Keep the data for now", "terminateInstances": False}).get_json()
    assert body["data"]["instancesTerminated"] == 0
    db.session.refresh(instance)
    assert instance.status == InstanceStatus.RUNNING


@pytest.mark.parametrize("body, message", [
    ({}, "Expiration reason is required"), ({"reason": "Short"}, "Reason must be at least 10 characters long"),
    ({"reason": REASON, "terminateInstances": "maybe"}, "Terminate instances must be a boolean value"),
])
def test_admin_expire_messages(api, admin, body, message):
    assert_envelope(api.put(f"/api/admin/subscriptions/{MISSING_ID}/expire", as_user=admin, json=body), 400, message)


# ---------------------------------------------------------------------------------------------- A9
def test_free_edit_changes_and_audit(api, make, admin, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic, end_date=datetime(2026, 5, 1, tzinfo=UTC),
                            next_billing=datetime(2026, 5, 1, tzinfo=UTC))
    body = assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}", as_user=admin,
                                   json={"endDate": "2026-12-31T23:59:59Z", "autoRenew": False,
                                         "lastChargeAmount": None}), 200, "Subscription updated successfully")
    data = body["data"]
    assert data["subscription"]["endDate"] == "2026-12-31T23:59:59.000Z"
    assert data["subscription"]["nextBilling"] is None and data["subscription"]["lastChargeAmount"] is None
    assert data["fieldsUpdated"] == ["endDate", "autoRenew", "lastChargeAmount"]
    assert data["changes"][0] == "endDate: 2026-05-01T00:00:00.000Z → 2026-12-31T23:59:59.000Z"
    assert "autoRenew: true → false" in data["changes"]
    assert data["originalSubscription"]["autoRenew"] is True
    assert data["adminAction"]["adminName"] == "Boss Admin"
    entry = audits(sub.id, "subscription.update")[0]
    assert entry.before["auto_renew"] is True and entry.after["auto_renew"] is False
    # autoRenew true then an explicit nextBilling: the later key wins
    body = api.put(f"/api/admin/subscriptions/{sub.id}", as_user=admin,
                   json={"autoRenew": True, "nextBilling": "2026-07-01T00:00:00Z"}).get_json()
    assert body["data"]["subscription"]["nextBilling"] == "2026-07-01T00:00:00.000Z"
    body = api.put(f"/api/admin/subscriptions/{sub.id}", as_user=admin,
                   json={"nextBilling": "2026-07-01T00:00:00Z", "autoRenew": True}).get_json()
    assert body["data"]["subscription"]["nextBilling"] == "2026-12-31T23:59:59.000Z"


def test_free_edit_status_keeps_quota_consistent(api, make, admin, plans, customer):
    plans.basic.used_quota = 1
    sub = make.subscription(user=customer, plan=plans.basic)
    assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}", as_user=admin, json={"status": "SUSPENDED"}), 200)
    assert used(plans.basic) == 0
    assert_envelope(api.put(f"/api/admin/subscriptions/{sub.id}", as_user=admin, json={"status": "ACTIVE"}), 200)
    assert used(plans.basic) == 1
    make.subscription(user=customer, plan=plans.pro, status=S.CANCELLED)
    assert len(audits(sub.id, "subscription.set_status")) == 2


@pytest.mark.parametrize("body, message", [
    ({}, "At least one field must be provided for update"),
    ({"status": "INVALID_STATUS"},
     "Status must be one of: ACTIVE, SUSPENDED, CANCELLED, EXPIRED, PENDING_UPGRADE, PENDING_PAYMENT"),
    ({"endDate": "invalid-date-format"}, "End date must be in ISO format"),
    ({"invalidField": 1}, '"invalidField" is not allowed'),
    ({"monthlyPrice": -1000}, "Monthly price cannot be negative"),
    ({"failedCharges": 11}, "Failed charges cannot exceed 10"),
])
def test_free_edit_messages(api, admin, body, message):
    assert_envelope(api.put(f"/api/admin/subscriptions/{MISSING_ID}", as_user=admin, json=body), 400, message)


def test_force_cancel_refund_survives_an_admin_extension(api, admin, plans, rich):
    sub_id = paid_sub(api, admin, rich, plans.basic, "2026-08-01T00:00:00Z")
    with freeze("2026-08-02T00:00:00Z"):
        assert_envelope(api.put(f"/api/admin/subscriptions/{sub_id}/extend", as_user=admin,
                                json={"extensionDays": 10, "reason": REASON}), 200)
        body = api.delete(f"/api/admin/subscriptions/{sub_id}/force-cancel", as_user=admin,
                          json={"reason": "Customer asked to stop", "processRefund": True}).get_json()
    # The extension's free days do not create money: the refund never exceeds what was paid.
    assert 0 < body["data"]["refund"]["amount"] <= 50_000
    assert balance(rich) == 950_000 + body["data"]["refund"]["amount"]


def test_refund_with_the_same_idempotency_key_is_applied_once(api, admin, make):
    from webapp.billing import ledger
    from webapp.billing.models import TransactionType
    from webapp.extensions import db
    from webapp.subscriptions import services

    from tests.subscriptions.helpers import balance, ladder

    user = make.user()
    ledger.credit(user.id, 100_000, type=TransactionType.ADMIN_ADJUSTMENT, description="seed")
    sub = services.create_subscription(user, ladder(make).basic.id).subscription
    db.session.commit()
    body = {"amount": 20_000, "reason": "service outage refund"}
    for _ in range(2):
        r = api.post(f"/api/admin/subscriptions/{sub.id}/refund", as_user=admin, json=body,
                     headers={"Idempotency-Key": "refund-outage-1"})
        assert r.status_code == 200, r.get_json()
    assert balance(user) == 100_000 - 50_000 + 20_000
