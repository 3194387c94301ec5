"""Customer subscription routes U1-U13: shapes, every message, money/quota/instances in one transaction."""
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import assert_envelope
from tests.subscriptions.helpers import MISSING_ID, balance, freeze, ladder, used
from webapp import clock
from webapp.billing.models import Transaction, TransactionType
from webapp.cluster.models import InstanceStatus, ServiceInstance
from webapp.extensions import db
from webapp.outbox import OutboxJob
from webapp.subscriptions.models import Subscription, SubscriptionStatus

S = SubscriptionStatus
UTC = timezone.utc


@pytest.fixture
def plans(make):
    return ladder(make, name="n8n", slug="n8n-automation")


@pytest.fixture
def rich(make):
    return make.user(email="rich@example.com", credit_balance=1_000_000)


def subscribe(api, user, plan, **extra):
    return api.post("/api/subscriptions", as_user=user, json={"planId": plan.id, **extra})


def make_instance(make, subscription, status=InstanceStatus.RUNNING, **kw):
    n = ServiceInstance.query.count() if hasattr(ServiceInstance, "query") else 0
    instance = ServiceInstance(subscription_id=subscription.id, name=f"inst-{subscription.id[-6:]}-{n}",
                               subdomain=f"{subscription.id}-{n}-{status.value.lower()}.apps.test",
                               namespace="user-test", status=status, pod_name=kw.pop("pod_name", "pod-1"), **kw)
    db.session.add(instance)
    db.session.flush()
    return instance


# ------------------------------------------------------------------------------------------- auth / ids
def test_routes_need_a_token(api):
    assert_envelope(api.get("/api/subscriptions"), 401, "Access token is required")
    assert_envelope(api.post("/api/subscriptions", json={}), 401, "Access token is required")
    assert_envelope(api.post("/api/subscriptions", token="nope", json={}), 403, "Invalid or expired token")


@pytest.mark.parametrize("sub_id, message", [
    ("invalid_id", "Subscription ID must contain only letters and numbers"),
    ("other-user-subscription-id", "Subscription ID must contain only letters and numbers"),
    ("abc123", "Subscription ID must be at least 20 characters long"),
    ("a" * 31, "Subscription ID must not exceed 30 characters"),
])
@pytest.mark.parametrize("method, suffix", [("GET", ""), ("GET", "/metrics"), ("GET", "/billing-info"),
                                            ("PUT", "/upgrade"), ("POST", "/retry-provisioning"),
                                            ("POST", "/restart"), ("PUT", "/stop"), ("PUT", "/start"),
                                            ("PUT", "/auto-renew"), ("DELETE", "")])
def test_subscription_id_validation(api, customer, sub_id, message, method, suffix):
    assert_envelope(api.call(method, f"/api/subscriptions/{sub_id}{suffix}", as_user=customer, json={}), 400, message)


@pytest.mark.parametrize("method, suffix, body", [
    ("GET", "", None), ("GET", "/metrics", None), ("GET", "/billing-info", None),
    ("PUT", "/upgrade", {"newPlanId": "c" * 25}), ("POST", "/retry-provisioning", None), ("POST", "/restart", None),
    ("PUT", "/stop", None), ("PUT", "/start", None), ("PUT", "/auto-renew", {"autoRenew": False}),
    ("DELETE", "", None)])
def test_other_customers_subscription_is_not_found(api, make, plans, customer, other_customer, method, suffix, body):
    theirs = make.subscription(user=other_customer, plan=plans.basic)
    for sub_id in (theirs.id, MISSING_ID):
        assert_envelope(api.call(method, f"/api/subscriptions/{sub_id}{suffix}", as_user=customer, json=body),
                        404, "Subscription not found")
    row = db.session.get(Subscription, theirs.id)
    assert row.status == S.ACTIVE and row.auto_renew is True


# ---------------------------------------------------------------------------------------------- U1
def test_list_is_mine_newest_first_with_instances(api, make, plans, customer, other_customer):
    old = make.subscription(user=customer, plan=plans.basic, status=S.CANCELLED,
                            created_at=clock.now() - timedelta(days=3))
    new = make.subscription(user=customer, plan=plans.pro, created_at=clock.now())
    make.subscription(user=other_customer, plan=plans.basic)
    make_instance(make, new)
    body = assert_envelope(api.get("/api/subscriptions", as_user=customer), 200, "Subscriptions retrieved successfully")
    rows = body["data"]["subscriptions"]
    assert [r["id"] for r in rows] == [new.id, old.id]
    first = rows[0]
    assert first["service"] == {"id": plans.service.id, "name": "n8n", "slug": "n8n-automation",
                                "icon": plans.service.icon, "version": "latest"}
    assert set(first["plan"]) == {"id", "name", "planType", "monthlyPrice", "cpuMilli", "memoryMb", "storageGb",
                                  "features"}
    assert set(first["instances"][0]) == {"id", "name", "subdomain", "status", "healthStatus", "publicUrl", "adminUrl",
                                          "customDomain", "sslEnabled", "cpuUsage", "memoryUsage", "storageUsage",
                                          "createdAt", "lastStarted", "lastHealthCheck"}
    assert first["_count"] == {"instances": 1}
    for key in ("userId", "status", "startDate", "endDate", "nextBilling", "monthlyPrice", "autoRenew",
                "gracePeriodEnd", "failedCharges", "lastChargeAmount", "cancelledAt"):
        assert key in first

    only = api.get("/api/subscriptions?status=CANCELLED&includeInstances=true", as_user=customer).get_json()
    assert [r["id"] for r in only["data"]["subscriptions"]] == [old.id]
    without = api.get("/api/subscriptions?includeInstances=false", as_user=customer).get_json()
    assert "instances" not in without["data"]["subscriptions"][0]
    assert without["data"]["subscriptions"][0]["_count"] == {"instances": 1}


def test_list_rejects_bad_query(api, customer):
    body = assert_envelope(api.get("/api/subscriptions?status=INVALID_STATUS", as_user=customer), 400)
    assert body["message"].startswith('"status" must be one of [ACTIVE, SUSPENDED')
    assert_envelope(api.get("/api/subscriptions?foo=1", as_user=customer), 400, '"foo" is not allowed')


# ---------------------------------------------------------------------------------------------- U2
def test_validate_passes_with_quota_info(api, plans, rich):
    body = assert_envelope(api.post("/api/subscriptions/validate", as_user=rich, json={"planId": plans.basic.id}),
                           200, "Subscription validation passed")
    v = body["data"]["validation"]
    assert v["isValid"] is True and v["user"] == {"id": rich.id, "name": rich.name, "creditBalance": 1_000_000}
    assert v["plan"] == {"id": plans.basic.id, "name": "Basic", "monthlyPrice": 50_000, "serviceName": "n8n"}
    assert v["quotaInfo"] == {"planId": plans.basic.id, "planName": "Basic", "serviceName": "n8n", "totalQuota": 10,
                              "usedQuota": 0, "availableQuota": 10, "requestedQuota": 1, "isAvailable": True,
                              "canAllocate": True}


def test_validate_failures_in_order(api, make, plans, customer):
    def check(plan_id, code, error):
        body = assert_envelope(api.post("/api/subscriptions/validate", as_user=customer, json={"planId": plan_id}),
                               400, "Subscription validation failed")
        v = body["data"]["validation"]
        assert (v["isValid"], v["code"], v["error"]) == (False, code, error)
        return v

    check(MISSING_ID, "PLAN_NOT_AVAILABLE", "Service plan not found or not available")
    check(make.plan(is_active=False).id, "PLAN_NOT_AVAILABLE", "Service plan not found or not available")
    check(make.plan(service=make.service(is_public=False)).id, "PLAN_NOT_AVAILABLE",
          "Service plan not found or not available")
    check(make.plan(service=make.service(is_active=False)).id, "PLAN_NOT_AVAILABLE",
          "Service plan not found or not available")
    v = check(plans.basic.id, "INSUFFICIENT_CREDIT", "Insufficient credit balance")
    assert (v["currentBalance"], v["requiredAmount"], v["shortfall"]) == (0, 50_000, 50_000)
    full = make.plan(monthly_price=0, total_quota=1, used_quota=1)
    v = check(full.id, "QUOTA_EXCEEDED", "Service plan is at full capacity")
    assert v["quotaInfo"]["availableQuota"] == 0 and v["quotaInfo"]["isAvailable"] is False
    existing = make.subscription(user=customer, plan=plans.free)
    v = check(plans.basic.id, "DUPLICATE_SUBSCRIPTION", "User already has an active subscription for this service")
    assert v["existingSubscriptionId"] == existing.id


@pytest.mark.parametrize("body, message", [
    ({}, "Plan ID is required"), ({"planId": ""}, "Plan ID is required"),
    ({"planId": "invalid_plan_id"}, "Plan ID must contain only letters and numbers"),
    ({"planId": "short"}, "Plan ID must be at least 20 characters long"),
    ({"planId": "x" * 31}, "Plan ID must not exceed 30 characters"),
    ({"planId": "c" * 25, "extra": 1}, '"extra" is not allowed'),
])
def test_validate_and_create_body_messages(api, customer, body, message):
    assert_envelope(api.post("/api/subscriptions/validate", as_user=customer, json=body), 400, message)
    assert_envelope(api.post("/api/subscriptions", as_user=customer, json=body), 400, message)


# ---------------------------------------------------------------------------------------------- U3
def test_create_charges_links_allocates_and_enqueues(api, plans, rich):
    with freeze("2026-01-31T03:00:00Z"):
        body = assert_envelope(subscribe(api, rich, plans.basic), 201, "Subscription created successfully")
    data = body["data"]
    sub = data["subscription"]
    assert (data["message"], data["chargeAmount"], data["originalAmount"], data["discountAmount"],
            data["finalAmount"], data["isBonusSubscription"], data["isFreeService"], data["couponApplied"]) == (
        "Subscription created successfully", 50_000, 50_000, 0, 50_000, False, False, None)
    assert sub["status"] == "ACTIVE" and sub["autoRenew"] is True and sub["lastBilled"] is None
    assert sub["startDate"] == "2026-01-31T03:00:00.000Z"
    assert sub["endDate"] == "2026-02-28T03:00:00.000Z" == sub["nextBilling"]  # clamped, not Mar 3
    assert sub["monthlyPrice"] == 50_000 and sub["lastChargeAmount"] == 50_000
    assert sub["service"] == {"id": plans.service.id, "name": "n8n", "slug": "n8n-automation", "defaultPort": 8080}
    assert balance(rich) == 950_000 and used(plans.basic) == 1
    tx = db.session.query(Transaction).filter_by(user_id=rich.id).one()
    assert (tx.type, tx.amount, tx.subscription_id, tx.description) == (
        TransactionType.SUBSCRIPTION, 50_000, sub["id"], "Subscription to n8n - Basic plan")
    assert tx.idempotency_key == f"subscription:{sub['id']}:create"
    assert tx.metadata_["finalAmount"] == 50_000
    instance = db.session.query(ServiceInstance).filter_by(subscription_id=sub["id"]).one()
    assert instance.status == InstanceStatus.PENDING
    assert db.session.query(OutboxJob).filter_by(func="jobs.cluster.provision_instance").count() == 1


def test_create_twice_is_a_clean_409_and_changes_nothing(api, plans, rich):
    assert_envelope(subscribe(api, rich, plans.basic), 201)
    assert_envelope(subscribe(api, rich, plans.pro), 409, "User already has an active subscription for this service")
    assert balance(rich) == 950_000 and used(plans.basic) == 1 and used(plans.pro) == 0
    assert db.session.query(Subscription).filter_by(user_id=rich.id).count() == 1


def test_create_errors(api, make, plans, customer):
    assert_envelope(subscribe(api, customer, type("P", (), {"id": MISSING_ID})), 400, "Invalid service plan")
    assert_envelope(subscribe(api, customer, make.plan(is_active=False, monthly_price=0)), 404,
                    "Service plan not found or not available")
    assert_envelope(subscribe(api, customer, plans.basic), 400, "Insufficient credit balance")
    assert_envelope(subscribe(api, customer, make.plan(monthly_price=0, total_quota=2, used_quota=2)), 503,
                    "Service plan is at full capacity")
    assert db.session.query(Subscription).count() == 0 and db.session.query(Transaction).count() == 0


def test_free_plan_writes_a_zero_record(api, plans, customer):
    body = assert_envelope(subscribe(api, customer, plans.free), 201)
    tx = db.session.query(Transaction).filter_by(user_id=customer.id).one()
    assert tx.amount == 0 and tx.subscription_id == body["data"]["subscription"]["id"]
    assert body["data"]["chargeAmount"] == 0


def test_create_after_cancel_is_a_new_row_and_after_expiry_reactivates(api, make, plans, rich):
    cancelled = make.subscription(user=rich, plan=plans.basic, status=S.CANCELLED)
    first = assert_envelope(subscribe(api, rich, plans.basic), 201)["data"]["subscription"]
    assert first["id"] != cancelled.id
    from webapp.subscriptions.transitions import expire_subscription

    expire_subscription(first["id"], reason="grace over")
    assert used(plans.basic) == 0
    with freeze("2026-03-10T00:00:00Z"):
        body = assert_envelope(subscribe(api, rich, plans.pro), 201, "Subscription created successfully")
    data = body["data"]
    assert data["isReactivation"] is True and data["message"] == "Expired subscription reactivated successfully"
    sub = data["subscription"]
    assert sub["id"] == first["id"] and sub["planId"] == plans.pro.id and sub["status"] == "ACTIVE"
    assert sub["endDate"] == "2026-04-10T00:00:00.000Z" and sub["failedCharges"] == 0
    assert used(plans.pro) == 1
    tx = db.session.query(Transaction).filter_by(subscription_id=sub["id"], amount=150_000).one()
    assert tx.description == "Reactivated subscription: n8n - Pro plan" and tx.metadata_["isReactivation"]


def _coupon(make, **kw):
    from webapp.billing.coupon_models import Coupon, CouponDiscountType, CouponType

    defaults = dict(code="SAVE20", name="Save", type=CouponType.SUBSCRIPTION_DISCOUNT,
                    discount_type=CouponDiscountType.PERCENTAGE, discount_percent=20, max_uses=10,
                    max_uses_per_user=1, created_by="admin", valid_from=clock.now() - timedelta(days=1))
    defaults.update(kw)
    coupon = Coupon(**defaults)
    db.session.add(coupon)
    db.session.flush()
    return coupon


def test_create_with_discount_coupon_charges_the_discounted_price(api, make, plans):
    from webapp.billing.coupon_models import CouponRedemption

    user = make.user(credit_balance=45_000)  # below list price, above the discounted price (fix: pre-check)
    coupon = _coupon(make)
    body = assert_envelope(subscribe(api, user, plans.basic, couponCode=" save20 "), 201)
    data = body["data"]
    assert (data["chargeAmount"], data["discountAmount"], data["finalAmount"], data["couponApplied"]) == (
        40_000, 10_000, 40_000, "SAVE20")
    assert data["message"] == "Subscription created successfully with 10000 IDR discount"
    assert data["discount"] == {"couponCode": "SAVE20", "originalAmount": 50_000, "discountAmount": 10_000,
                                "finalAmount": 40_000}
    assert data["subscription"]["monthlyPrice"] == 50_000  # list price cached; renewals pay full price
    assert balance(user) == 5_000
    redemption = db.session.query(CouponRedemption).filter_by(coupon_id=coupon.id).one()
    assert redemption.subscription_id == data["subscription"]["id"]


def test_create_with_free_service_coupon(api, make, plans, customer):
    from webapp.billing.coupon_models import CouponType

    _coupon(make, code="FREEPRO", type=CouponType.FREE_SERVICE, discount_type=None, discount_percent=None)
    body = assert_envelope(subscribe(api, customer, plans.pro, couponCode="FREEPRO"), 201)
    data = body["data"]
    assert data["isFreeService"] is True and data["chargeAmount"] == 0
    assert data["message"] == "Free service subscription created successfully"
    assert data["freeService"]["couponCode"] == "FREEPRO" and data["freeService"]["freeServiceValue"] == 150_000
    tx = db.session.query(Transaction).filter_by(user_id=customer.id).one()
    assert tx.amount == 0 and tx.description == "Free service: n8n - Pro plan (Coupon: FREEPRO)"


def test_bad_coupons_are_400_and_consume_nothing(api, make, plans, rich):
    from webapp.billing.coupon_models import CouponType

    assert_envelope(subscribe(api, rich, plans.basic, couponCode="NOPE"), 400, "Invalid coupon code")
    _coupon(make, code="TOPUP", type=CouponType.CREDIT_TOPUP, discount_type=None, discount_percent=None,
            credit_amount=10_000)
    assert_envelope(subscribe(api, rich, plans.basic, couponCode="TOPUP"), 400,
                    "This coupon cannot be used during subscription checkout")
    assert_envelope(subscribe(api, rich, plans.basic, couponCode="abc!"), 400,
                    "Coupon code can only contain letters, numbers, hyphens, and underscores")
    assert_envelope(subscribe(api, rich, plans.basic, couponCode="ab"), 400,
                    "Coupon code must be at least 3 characters long")
    assert_envelope(subscribe(api, rich, plans.basic, couponCode="A" * 51), 400,
                    "Coupon code cannot exceed 50 characters")
    assert db.session.query(Subscription).count() == 0 and balance(rich) == 1_000_000


def test_coupon_is_not_consumed_when_the_create_fails(api, make, plans, customer):
    coupon = _coupon(make)  # 20% off 50,000 = 40,000 > balance 0
    assert_envelope(subscribe(api, customer, plans.basic, couponCode="SAVE20"), 400, "Insufficient credit balance")
    db.session.refresh(coupon)
    assert coupon.used_count == 0


# ---------------------------------------------------------------------------------------------- U4
def test_details(api, make, plans, rich):
    with freeze("2026-05-01T00:00:00Z"):
        sub_id = subscribe(api, rich, plans.basic).get_json()["data"]["subscription"]["id"]
    with freeze("2026-05-11T12:00:00Z"):
        body = assert_envelope(api.get(f"/api/subscriptions/{sub_id}", as_user=rich), 200,
                               "Subscription details retrieved successfully")
    sub = body["data"]["subscription"]
    assert set(sub["service"]) == {"id", "name", "slug", "description", "icon", "version", "documentation"}
    assert set(sub["plan"]) >= {"bandwidth", "maxInstancesPerUser", "maxDomains", "description"}
    assert sub["instances"][0]["status"] == "PENDING" and "podName" in sub["instances"][0]
    assert [t["amount"] for t in sub["transactions"]] == [50_000]
    assert sub["billingInfo"] == {"nextBillingDate": "2026-06-01T00:00:00.000Z", "daysUntilBilling": 21,
                                  "monthlyPrice": 50_000, "autoRenew": True, "gracePeriodEnd": None}


# ------------------------------------------------------------------------------------------- U6 / U7
@pytest.fixture
def basic_sub(make, plans, rich):
    """Basic since 2026-04-01, period Apr 1 -> May 1 (30 days)."""
    return make.subscription(user=rich, plan=plans.basic, start_date=datetime(2026, 4, 1, tzinfo=UTC),
                             end_date=datetime(2026, 5, 1, tzinfo=UTC), next_billing=datetime(2026, 5, 1, tzinfo=UTC),
                             last_charge_amount=50_000)


def test_billing_info_prorates_on_the_period(api, make, plans, rich, basic_sub):
    plans.basic.used_quota = 1
    plans.premium.used_quota = plans.premium.total_quota
    db.session.flush()
    with freeze("2026-04-16T00:00:00Z"):  # 15 of 30 days left
        body = assert_envelope(api.get(f"/api/subscriptions/{basic_sub.id}/billing-info", as_user=rich), 200,
                               "Available upgrade plans retrieved successfully")
    data = body["data"]
    assert data["currentPlan"]["id"] == plans.basic.id
    ups = {u["planType"]: u for u in data["availableUpgrades"]}
    assert list(ups) == ["PRO", "PREMIUM"]  # higher tiers only, by price
    assert ups["PRO"]["upgradeCost"] == 50_000 and ups["PRO"]["canUpgrade"] is True
    assert ups["PRO"]["proratedDays"] == 15 and "reason" not in ups["PRO"]
    assert ups["PREMIUM"]["upgradeCost"] == 125_000 and ups["PREMIUM"]["reason"] == "Plan at full capacity"
    assert data["billingInfo"]["proratedRatio"] == 0.5 and data["billingInfo"]["daysRemaining"] == 15
    assert data["billingInfo"]["nextChargeAmount"] == 50_000
    assert data["userInfo"] == {"creditBalance": 1_000_000, "hasUpgradeOptions": True, "canUpgradeAny": True}


def test_billing_info_insufficient_reason_and_inactive(api, make, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic)
    body = api.get(f"/api/subscriptions/{sub.id}/billing-info", as_user=customer).get_json()
    pro = body["data"]["availableUpgrades"][0]
    assert pro["canUpgrade"] is False and pro["reason"] == f"Insufficient credit. Need {pro['upgradeCost']} IDR more"
    sub.status = S.CANCELLED
    db.session.flush()
    assert_envelope(api.get(f"/api/subscriptions/{sub.id}/billing-info", as_user=customer), 400,
                    "Can only get upgrade options for active subscriptions")


def test_upgrade_charges_the_prorated_difference_and_moves_quota(api, plans, rich, basic_sub):
    plans.basic.used_quota = 1
    db.session.flush()
    with freeze("2026-04-16T00:00:00Z"):
        body = assert_envelope(api.put(f"/api/subscriptions/{basic_sub.id}/upgrade", as_user=rich,
                                       json={"newPlanId": plans.pro.id}), 200, "Subscription upgraded successfully")
    data = body["data"]
    assert (data["upgradeCost"], data["actualCharge"], data["proratedDays"], data["isBonusUpgrade"]) == (
        50_000, 50_000, 15, False)
    sub = data["subscription"]
    assert sub["planId"] == plans.pro.id and sub["previousPlanId"] == plans.basic.id and sub["monthlyPrice"] == 150_000
    assert sub["endDate"] == "2026-05-01T00:00:00.000Z"  # the period does not move
    assert balance(rich) == 950_000 and (used(plans.basic), used(plans.pro)) == (0, 1)
    tx = db.session.query(Transaction).filter_by(subscription_id=basic_sub.id, type=TransactionType.UPGRADE).one()
    assert tx.amount == 50_000 and tx.description == "Upgrade n8n from Basic to Pro"


def test_upgrade_rounds_half_up(api, make, plans, rich):
    # Period Feb 1 -> Mar 1 2026 (28 days), 1 day left: 100,000 / 28 = 3,571.43 -> 3,571
    sub = make.subscription(user=rich, plan=plans.basic, start_date=datetime(2026, 2, 1, tzinfo=UTC),
                            end_date=datetime(2026, 3, 1, tzinfo=UTC))
    plans.basic.used_quota = 1
    db.session.flush()
    with freeze("2026-02-28T00:00:00Z"):
        data = api.put(f"/api/subscriptions/{sub.id}/upgrade", as_user=rich,
                       json={"newPlanId": plans.pro.id}).get_json()["data"]
    assert data["upgradeCost"] == 3_571 and balance(rich) == 1_000_000 - 3_571


def test_upgrade_rules(api, make, plans, rich, basic_sub):
    other = make.plan(plan_type="ENTERPRISE")
    cases = [
        ({"newPlanId": plans.basic.id}, 400, "Can only upgrade to a higher tier plan"),   # same plan
        ({"newPlanId": plans.free.id}, 400, "Can only upgrade to a higher tier plan"),    # lower tier
        ({"newPlanId": other.id}, 400, "Cannot upgrade to a different service"),
        ({"newPlanId": MISSING_ID}, 404, "New service plan not found"),
        ({}, 400, "New plan ID is required"),
        ({"newPlanId": "higher-tier-plan-id"}, 400, "New plan ID must contain only letters and numbers"),
    ]
    for body, status, message in cases:
        assert_envelope(api.put(f"/api/subscriptions/{basic_sub.id}/upgrade", as_user=rich, json=body), status, message)
    plans.pro.used_quota = plans.pro.total_quota
    db.session.flush()
    assert_envelope(api.put(f"/api/subscriptions/{basic_sub.id}/upgrade", as_user=rich,
                            json={"newPlanId": plans.pro.id}), 503,
                    "New service plan is at full capacity. Please try again later.")
    rich.credit_balance = 0
    db.session.flush()
    with freeze("2026-04-16T00:00:00Z"):
        assert_envelope(api.put(f"/api/subscriptions/{basic_sub.id}/upgrade", as_user=rich,
                                json={"newPlanId": plans.premium.id}), 400,
                        "Insufficient credit for upgrade. Balance: 0, Required: 125000")
    basic_sub.status = S.EXPIRED
    db.session.flush()
    assert_envelope(api.put(f"/api/subscriptions/{basic_sub.id}/upgrade", as_user=rich,
                            json={"newPlanId": plans.premium.id}), 400, "Can only upgrade active subscriptions")
    assert db.session.get(Subscription, basic_sub.id).plan_id == plans.basic.id


def test_upgrade_enqueues_resize_for_live_instances(api, make, plans, rich, basic_sub):
    plans.basic.used_quota = 1
    db.session.flush()
    make_instance(make, basic_sub, InstanceStatus.RUNNING)
    with freeze("2026-04-16T00:00:00Z"):  # inside the paid period
        body = api.put(f"/api/subscriptions/{basic_sub.id}/upgrade", as_user=rich, json={"newPlanId": plans.pro.id})
    data = assert_envelope(body, 200)["data"]
    assert data["instanceUpdateResult"]["newResources"] == {"cpu": "1000m", "memory": "1024Mi", "storage": "1Gi"}
    assert db.session.query(OutboxJob).filter_by(func="jobs.cluster.resize_instance").count() == 1


# --------------------------------------------------------------------------------------------- U12
def test_auto_renew_toggle(api, make, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic)
    body = assert_envelope(api.put(f"/api/subscriptions/{sub.id}/auto-renew", as_user=customer,
                                   json={"autoRenew": False}), 200, "Auto-renew disabled successfully")
    assert body["data"]["subscription"]["nextBilling"] is None
    assert body["data"]["billingInfo"]["nextChargeAmount"] == 0
    body = assert_envelope(api.put(f"/api/subscriptions/{sub.id}/auto-renew", as_user=customer,
                                   json={"autoRenew": "true"}), 200, "Auto-renew enabled successfully")
    assert body["data"]["subscription"]["nextBilling"] == body["data"]["subscription"]["endDate"]
    assert body["data"]["billingInfo"]["nextChargeAmount"] == 50_000
    assert_envelope(api.put(f"/api/subscriptions/{sub.id}/auto-renew", as_user=customer, json={"invalidField": True}),
                    400, "Auto-renew setting is required")
    assert_envelope(api.put(f"/api/subscriptions/{sub.id}/auto-renew", as_user=customer,
                            json={"autoRenew": "invalid_string"}), 400, "Auto-renew must be a boolean value")
    for status, message in ((S.CANCELLED, "Cannot modify auto-renew for cancelled subscriptions"),
                            (S.EXPIRED, "Cannot modify auto-renew for expired subscriptions")):
        sub.status = status
        db.session.flush()
        assert_envelope(api.put(f"/api/subscriptions/{sub.id}/auto-renew", as_user=customer,
                                json={"autoRenew": True}), 400, message)


# --------------------------------------------------------------------------------------------- U13
def test_cancel_stops_service_releases_quota_once_no_refund(api, make, plans, rich):
    sub_id = subscribe(api, rich, plans.basic).get_json()["data"]["subscription"]["id"]
    end = db.session.get(Subscription, sub_id).end_date
    body = assert_envelope(api.delete(f"/api/subscriptions/{sub_id}", as_user=rich, json={"reason": "not needed"}),
                           200, "Subscription cancelled successfully")
    data = body["data"]
    assert (data["refundAmount"], data["refundProcessed"], data["instancesTerminated"], data["daysRemaining"]) == (
        0, False, 1, 0)
    assert data["subscription"]["status"] == "CANCELLED" and data["subscription"]["autoRenew"] is False
    assert data["endDate"] == data["subscription"]["endDate"] and data["subscription"]["cancelledAt"]
    assert db.session.get(Subscription, sub_id).end_date == end
    assert used(plans.basic) == 0 and balance(rich) == 950_000
    assert db.session.query(ServiceInstance).filter_by(subscription_id=sub_id).one().status == InstanceStatus.TERMINATED
    assert db.session.query(OutboxJob).filter_by(func="jobs.cluster.terminate_instance").count() == 1
    assert_envelope(api.delete(f"/api/subscriptions/{sub_id}", as_user=rich), 400, "Subscription is already cancelled")
    assert used(plans.basic) == 0


def test_cancel_reason_messages(api, make, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic)
    assert_envelope(api.delete(f"/api/subscriptions/{sub.id}", as_user=customer, json={"reason": "x" * 543}), 400,
                    "Cancellation reason must not exceed 500 characters")
    assert_envelope(api.delete(f"/api/subscriptions/{sub.id}", as_user=customer, json={"reason": "no"}), 400,
                    "Cancellation reason must be at least 3 characters long")
    assert_envelope(api.delete(f"/api/subscriptions/{sub.id}", as_user=customer), 200)  # no body at all


# ------------------------------------------------------------------------------------- U5, U8-U11
def test_instance_routes_without_instances(api, make, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic)
    for method, suffix, status, message in (
            ("GET", "/metrics", 404, "No service instance found for this subscription"),
            ("POST", "/restart", 404, "No service instance found for this subscription"),
            ("PUT", "/stop", 404, "No service instance found for this subscription"),
            ("PUT", "/start", 404, "No service instance found for this subscription"),
            ("POST", "/retry-provisioning", 404, "No instances found for this subscription")):
        assert_envelope(api.call(method, f"/api/subscriptions/{sub.id}{suffix}", as_user=customer), status, message)


def test_instance_routes_with_the_wrong_instance_status(api, make, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic)
    make_instance(make, sub, InstanceStatus.STOPPED)
    assert_envelope(api.get(f"/api/subscriptions/{sub.id}/metrics", as_user=customer), 404,
                    "No running service instance found")
    assert_envelope(api.post(f"/api/subscriptions/{sub.id}/restart", as_user=customer), 400,
                    "No running service instance found to restart")
    assert_envelope(api.put(f"/api/subscriptions/{sub.id}/stop", as_user=customer), 400,
                    "No running service instance found to stop")
    assert_envelope(api.post(f"/api/subscriptions/{sub.id}/retry-provisioning", as_user=customer), 400,
                    "Cannot retry provisioning for instance with status: STOPPED")


def test_retry_rules(api, make, plans, customer):
    sub = make.subscription(user=customer, plan=plans.basic)
    instance = make_instance(make, sub, InstanceStatus.RUNNING)
    assert_envelope(api.post(f"/api/subscriptions/{sub.id}/retry-provisioning", as_user=customer), 409,
                    "Service is already running - no retry needed")
    instance.status = InstanceStatus.PROVISIONING
    db.session.flush()
    body = assert_envelope(api.post(f"/api/subscriptions/{sub.id}/retry-provisioning", as_user=customer), 409)
    assert body["message"].startswith("Service is currently being provisioned")
    sub.status = S.CANCELLED
    db.session.flush()
    assert_envelope(api.post(f"/api/subscriptions/{sub.id}/retry-provisioning", as_user=customer), 400,
                    "Cannot retry provisioning for inactive subscriptions")


def test_cluster_down_is_503_and_changes_nothing(api, app, make, plans, customer, monkeypatch):
    monkeypatch.setitem(app.config, "KUBE_API_URL", "http://127.0.0.1:1")
    sub = make.subscription(user=customer, plan=plans.basic)
    instance = make_instance(make, sub, InstanceStatus.RUNNING)
    assert_envelope(api.post(f"/api/subscriptions/{sub.id}/restart", as_user=customer), 503,
                    "Service restart temporarily unavailable")
    assert_envelope(api.put(f"/api/subscriptions/{sub.id}/stop", as_user=customer), 503,
                    "Service stop temporarily unavailable")
    db.session.refresh(instance)
    assert instance.status == InstanceStatus.RUNNING


@pytest.fixture(scope="module")
def kube_sim():
    from simulators.kube import KubeSimulator

    with KubeSimulator(port=0, pod_start_delay=0.1, nodes=1) as sim:
        yield sim


def test_restart_stop_start_delegate_to_the_cluster(api, app, make, plans, customer, monkeypatch, kube_sim):
    monkeypatch.setitem(app.config, "KUBE_API_URL", kube_sim.url)
    sub = make.subscription(user=customer, plan=plans.basic)
    instance = make_instance(make, sub, InstanceStatus.RUNNING)
    body = assert_envelope(api.post(f"/api/subscriptions/{sub.id}/restart", as_user=customer), 200,
                           "Subscription service restarted successfully")
    data = body["data"]
    assert data["instance"]["status"] == "RESTARTING" and data["restart"]["method"] == "Rolling Restart"
    assert data["subscription"] == {"id": sub.id, "service": {"id": plans.service.id, "name": "n8n",
                                                             "slug": "n8n-automation"},
                                    "plan": {"id": plans.basic.id, "name": "Basic", "planType": "BASIC",
                                             "monthlyPrice": 50_000}, "status": "ACTIVE"}
    instance.status = InstanceStatus.RUNNING
    db.session.flush()
    body = assert_envelope(api.put(f"/api/subscriptions/{sub.id}/stop", as_user=customer), 200,
                           "Subscription service stopped successfully")
    assert body["data"]["stop"]["method"] == "Scale to Zero" and body["data"]["stop"]["preservedData"] is True
    instance.status = InstanceStatus.STOPPED
    db.session.flush()
    body = assert_envelope(api.put(f"/api/subscriptions/{sub.id}/start", as_user=customer), 200,
                           "Subscription service started successfully")
    assert body["data"]["start"]["method"] == "Scale to One"
    assert_envelope(api.put(f"/api/subscriptions/{sub.id}/start", as_user=customer), 400,
                    "No stopped service instance found to start")


def test_retry_after_error_and_metrics_missing_pod(api, app, make, plans, customer, monkeypatch, kube_sim):
    monkeypatch.setitem(app.config, "KUBE_API_URL", kube_sim.url)
    sub = make.subscription(user=customer, plan=plans.basic)
    instance = make_instance(make, sub, InstanceStatus.ERROR)
    body = assert_envelope(api.post(f"/api/subscriptions/{sub.id}/retry-provisioning", as_user=customer), 200,
                           "Provisioning retry initiated successfully")
    assert body["data"]["instance"] == {"id": instance.id, "name": instance.name, "status": "PENDING",
                                        "previousStatus": "ERROR"}
    assert body["data"]["estimatedTime"] == "2-5 minutes"
    instance.status = InstanceStatus.RUNNING
    instance.pod_name = None
    db.session.flush()
    assert_envelope(api.get(f"/api/subscriptions/{sub.id}/metrics", as_user=customer), 400,
                    "Instance missing pod name or namespace information")


def test_customer_cannot_upgrade_while_a_renewal_is_unpaid(api, make):
    """In grace the paid period is over: a prorated upgrade would be free, so it is refused."""
    from datetime import timedelta

    from webapp.billing import ledger
    from webapp.billing.models import TransactionType
    from webapp.db import utcnow
    from webapp.extensions import db
    from webapp.subscriptions import services

    from tests.subscriptions.helpers import balance, ladder

    user = make.user()
    ledger.credit(user.id, 500_000, type=TransactionType.ADMIN_ADJUSTMENT, description="seed")
    plans = ladder(make)
    sub = services.create_subscription(user, plans.basic.id).subscription
    sub.end_date = utcnow() - timedelta(days=1)
    sub.grace_period_end = utcnow() + timedelta(days=6)
    db.session.commit()
    before = balance(user)
    r = api.put(f"/api/subscriptions/{sub.id}/upgrade", as_user=user, json={"newPlanId": plans.pro.id})
    assert r.status_code == 400
    assert r.get_json()["message"] == "Cannot change plan while a renewal is unpaid. Please top up and renew first"
    db.session.refresh(sub)
    assert sub.plan_id == plans.basic.id and balance(user) == before
