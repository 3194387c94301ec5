"""Coupon routes: wallet W9-W11 and admin C1-C7 (shapes, messages, bad input, audit)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from webapp.audit.models import AuditEntry
from webapp.billing.coupon_models import Coupon, CouponRedemption, CouponStatus, CouponType
from webapp.billing.models import Transaction
from webapp.db import utcnow
from webapp.extensions import db

from ..billing.test_coupons import discount_coupon, make_coupon
from ..conftest import assert_envelope

CODE_PATTERN = "Coupon code can only contain letters, numbers, hyphens, and underscores"
COUPON_KEYS = {"id", "code", "name", "description", "type", "status", "creditAmount", "discountType",
               "discountPercent", "maxUses", "usedCount", "maxUsesPerUser", "serviceId", "planType", "validFrom",
               "validUntil", "createdBy", "createdAt", "updatedAt", "effectiveStatus", "service"}
REDEMPTION_KEYS = {"id", "couponId", "userId", "redemptionType", "creditAmount", "discountAmount", "transactionId",
                   "subscriptionId", "metadata", "redeemedAt"}


def _future(days=30) -> str:
    return (utcnow() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts():
    db.session.expire_all()
    return (db.session.execute(select(func.count()).select_from(CouponRedemption)).scalar_one(),
            db.session.execute(select(func.count()).select_from(Transaction)).scalar_one(),
            db.session.execute(select(func.sum(Coupon.used_count))).scalar_one())


# -------------------------------------------------------------------------------------------------- W10
def test_redeem_credits_wallet_and_returns_original_shape(api, customer):
    make_coupon("WELCOME20K", name="Welcome 20K", credit_amount=20_000)
    r = api.post("/api/wallet/redeem-coupon", as_user=customer, json={"couponCode": "  welcome20k "})
    body = assert_envelope(r, 200, "Coupon redeemed successfully")
    data = body["data"]["redemption"]
    assert set(data) == {"success", "redemptionId", "couponCode", "couponName", "creditAmount", "description",
                         "transactionId", "newBalance"}
    assert (data["couponCode"], data["creditAmount"], data["newBalance"]) == ("WELCOME20K", 20_000, 20_000)
    assert data["description"] == "Coupon redemption: Welcome 20K - 20,000 IDR credit"
    tx = db.session.get(Transaction, data["transactionId"])
    assert tx.type.value == "COUPON_REDEMPTION" and tx.user_id == customer.id
    db.session.refresh(customer)
    assert customer.credit_balance == 20_000
    # redeemed twice by the same user
    r = api.post("/api/wallet/redeem-coupon", as_user=customer, json={"couponCode": "WELCOME20K"})
    assert_envelope(r, 400, "You have already redeemed this coupon")
    db.session.refresh(customer)
    assert customer.credit_balance == 20_000


@pytest.mark.parametrize("setup, code, status, message", [
    (lambda: None, "NONEXISTENT", 400, "Invalid coupon code"),
    (lambda: discount_coupon("SAVE20", percent=20), "save20", 400, "This coupon cannot be used for credit top-up"),
    (lambda: make_coupon("OFF", status=CouponStatus.DISABLED), "OFF", 400, "Coupon is not active"),
    (lambda: make_coupon("GONE", max_uses=1, used_count=1, status=CouponStatus.USED_UP), "GONE", 400,
     "Coupon is not active"),
    (lambda: make_coupon("OLD", valid_until=utcnow() - timedelta(days=1)), "old", 400, "Coupon has expired"),
    (lambda: make_coupon("SOON", valid_from=utcnow() + timedelta(days=1)), "SOON", 400, "Coupon is not yet valid"),
    (lambda: make_coupon("FULL", max_uses=2, used_count=2), "FULL", 400, "Coupon usage limit exceeded"),
    (lambda: None, "a b", 400, CODE_PATTERN),
    (lambda: None, "ab", 400, "Coupon code must be at least 3 characters long"),
    (lambda: None, "X" * 51, 400, "Coupon code cannot exceed 50 characters"),
    (lambda: None, None, 400, '"couponCode" must be a string'),
])
def test_redeem_refusals_change_nothing(api, customer, setup, code, status, message):
    setup()
    before = _counts()
    assert_envelope(api.post("/api/wallet/redeem-coupon", as_user=customer, json={"couponCode": code}), status,
                    message)
    assert _counts() == before


@pytest.mark.parametrize("body, message", [
    ({}, '"couponCode" is required'),
    ({"couponCode": "ABC", "amount": 5}, '"amount" is not allowed'),
])
def test_redeem_body_validation(api, customer, body, message):
    assert_envelope(api.post("/api/wallet/redeem-coupon", as_user=customer, json=body), 400, message)


# --------------------------------------------------------------------------------------------------- W9
def test_validate_valid_coupon_shape(api, customer, make):
    service = make.service(name="Ghost Blog", slug="ghost-blog")
    coupon = discount_coupon("SAVE20", percent=20, service_id=service.id, valid_until=utcnow() + timedelta(days=3))
    r = api.post("/api/wallet/validate-coupon", as_user=customer,
                 json={"couponCode": " save20", "subscriptionAmount": 100_000, "serviceId": service.id})
    body = assert_envelope(r, 200, "Coupon is valid")
    validation = body["data"]["validation"]
    assert validation["valid"] is True and validation["error"] is None
    c = validation["coupon"]
    assert (c["id"], c["code"], c["type"], c["discountType"]) == (coupon.id, "SAVE20", "SUBSCRIPTION_DISCOUNT",
                                                                  "PERCENTAGE")
    assert (c["potentialValue"], c["valueDescription"]) == (20_000, "20% discount (20,000 IDR)")
    assert c["service"] == {"id": service.id, "name": "Ghost Blog", "slug": "ghost-blog"}
    assert c["validUntil"].endswith("Z")
    assert c["usageInfo"] == {"used": 0, "maxUses": 10, "userUsed": 0, "maxPerUser": 1}
    # a discount coupon validates fine without context (as the original), but not for the billing page
    r = api.post("/api/wallet/validate-coupon", as_user=customer, json={"couponCode": "SAVE20", "context": "billing"})
    assert assert_envelope(r, 200, "Coupon validation failed")["data"]["validation"] == {
        "valid": False, "error": "This coupon cannot be used for credit top-up", "coupon": None}


def test_validate_failures_are_200_with_first_error(api, customer, make):
    assert assert_envelope(api.post("/api/wallet/validate-coupon", as_user=customer,
                                    json={"couponCode": "NONEXISTENT"}), 200, "Coupon validation failed"
                           )["data"]["validation"] == {"valid": False, "error": "Invalid coupon code"}
    make_coupon("OLD", valid_until=utcnow() - timedelta(days=1))
    assert api.post("/api/wallet/validate-coupon", as_user=customer, json={"couponCode": "old"}
                    ).get_json()["data"]["validation"] == {"valid": False, "error": "Coupon has expired", "coupon": None}
    other = make.service(name="Other")
    ghost = make.service(name="Ghost Blog")
    make_coupon("FREEGHOST", type=CouponType.FREE_SERVICE, credit_amount=None, service_id=ghost.id)
    r = api.post("/api/wallet/validate-coupon", as_user=customer, json={"couponCode": "FREEGHOST", "serviceId": other.id})
    assert r.get_json()["data"]["validation"]["error"] == "Coupon is only valid for Ghost Blog"
    assert_envelope(api.post("/api/wallet/validate-coupon", as_user=customer,
                             json={"couponCode": "ABC", "subscriptionAmount": -1}), 400,
                    '"subscriptionAmount" must be greater than or equal to 0')


# -------------------------------------------------------------------------------------------------- W11
def test_coupon_history_lists_own_redemptions_with_filters(api, customer, other_customer, make):
    make_coupon("ONE", credit_amount=10_000)
    make_coupon("TWO", type=CouponType.WELCOME_BONUS, credit_amount=5_000)
    for code in ("ONE", "TWO"):
        assert_envelope(api.post("/api/wallet/redeem-coupon", as_user=customer, json={"couponCode": code}), 200)
    assert_envelope(api.post("/api/wallet/redeem-coupon", as_user=other_customer, json={"couponCode": "ONE"}), 200)
    body = assert_envelope(api.get("/api/wallet/coupon-history", as_user=customer), 200,
                           "Coupon history retrieved successfully")
    rows = body["data"]["redemptions"]
    assert len(rows) == 2 and {r["userId"] for r in rows} == {customer.id}
    assert set(rows[0]) == REDEMPTION_KEYS | {"coupon", "transaction", "subscription"}
    assert set(rows[0]["coupon"]) == {"id", "code", "name", "type", "discountType"}
    assert set(rows[0]["transaction"]) == {"id", "customId", "status"} and rows[0]["subscription"] is None
    assert body["data"]["pagination"] == {"currentPage": 1, "totalPages": 1, "totalCount": 2, "hasMore": False}
    body = assert_envelope(api.get("/api/wallet/coupon-history?type=WELCOME_BONUS&limit=1", as_user=customer), 200)
    assert [r["coupon"]["code"] for r in body["data"]["redemptions"]] == ["TWO"]
    assert_envelope(api.get("/api/wallet/coupon-history?type=BOGUS", as_user=customer), 400,
                    '"type" must be one of [CREDIT_TOPUP, SUBSCRIPTION_DISCOUNT, FREE_SERVICE, WELCOME_BONUS]')
    assert_envelope(api.get("/api/wallet/coupon-history?limit=101", as_user=customer), 400,
                    '"limit" must be less than or equal to 100')


# --------------------------------------------------------------------------------------------------- C1
def test_admin_create_coupon(api, admin, make):
    service = make.service(name="Ghost Blog", slug="ghost-blog")
    r = api.post("/api/admin/coupons", as_user=admin, json={
        "code": " freeghost2024 ", "name": "Free Ghost", "type": "FREE_SERVICE", "serviceId": service.id,
        "creditAmount": 5_000, "maxUses": 20, "validUntil": _future()})
    body = assert_envelope(r, 201, "Coupon created successfully")
    coupon = body["data"]["coupon"]
    assert set(coupon) == COUPON_KEYS
    assert (coupon["code"], coupon["type"], coupon["status"], coupon["maxUses"], coupon["usedCount"]) == (
        "FREEGHOST2024", "FREE_SERVICE", "ACTIVE", 20, 0)
    assert coupon["creditAmount"] is None  # not used by the type
    assert coupon["service"] == {"id": service.id, "name": "Ghost Blog", "slug": "ghost-blog"}
    assert coupon["createdBy"] == admin.id
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "coupon.create")).scalar_one()
    assert entry.target_id == coupon["id"] and entry.actor_email == admin.email
    r = api.post("/api/admin/coupons", as_user=admin, json={"code": "FreeGhost2024", "name": "Again",
                                                            "type": "CREDIT_TOPUP", "creditAmount": 5_000})
    assert_envelope(r, 400, "Coupon code already exists")


VALID = {"code": "NEW1", "name": "New", "type": "CREDIT_TOPUP", "creditAmount": 10_000}


@pytest.mark.parametrize("body, message", [
    ({**VALID, "code": None}, '"code" must be a string'),
    ({k: v for k, v in VALID.items() if k != "code"}, '"code" is required'),
    ({**VALID, "code": "bad code!"}, CODE_PATTERN),
    ({**VALID, "type": "GIFT"}, '"type" must be one of [CREDIT_TOPUP, SUBSCRIPTION_DISCOUNT, FREE_SERVICE, WELCOME_BONUS]'),
    ({**VALID, "creditAmount": -5}, '"creditAmount" must be greater than or equal to 1000'),
    ({**VALID, "type": "SUBSCRIPTION_DISCOUNT", "discountType": "PERCENTAGE", "discountPercent": 101},
     '"discountPercent" must be less than or equal to 100'),
    ({**VALID, "maxUses": 0}, '"maxUses" must be greater than or equal to 1'),
    ({**VALID, "unknownKey": 1}, '"unknownKey" is not allowed'),
    ({**VALID, "validUntil": "2024-12-31T23:59:59Z"}, '"validUntil" must be greater than or equal to "now"'),
    ({**VALID, "validFrom": _future(10), "validUntil": _future(5)}, "Valid until date must be after valid from date"),
    ({**VALID, "creditAmount": None}, '"creditAmount" must be a number'),
    ({k: v for k, v in VALID.items() if k != "creditAmount"},
     "Credit amount is required for credit top-up and welcome bonus coupons"),
    ({**VALID, "type": "SUBSCRIPTION_DISCOUNT", "creditAmount": None, "discountType": None},
     '"creditAmount" must be a number'),
    ({**VALID, "type": "SUBSCRIPTION_DISCOUNT"}, "Discount type is required for subscription discount coupons"),
    ({"code": "X10", "name": "X", "type": "SUBSCRIPTION_DISCOUNT", "discountType": "FIXED_AMOUNT"},
     "Credit amount is required for fixed amount discount coupons"),
    ({"code": "X10", "name": "X", "type": "SUBSCRIPTION_DISCOUNT", "discountType": "PERCENTAGE"},
     "Discount percentage is required for percentage discount coupons"),
    ({"code": "X10", "name": "X", "type": "FREE_SERVICE"}, "Service ID is required for free service coupons"),
    ({"code": "X10", "name": "X", "type": "FREE_SERVICE", "serviceId": "c" + "0" * 24}, "Service not found"),
    ({**VALID, "maxUsesPerUser": 2}, "A coupon can be redeemed only once per user: maxUsesPerUser must be 1"),
])
def test_admin_create_bad_input(api, admin, body, message):
    assert_envelope(api.post("/api/admin/coupons", as_user=admin, json=body), 400, message)
    assert db.session.execute(select(func.count()).select_from(Coupon)).scalar_one() == 0


# ------------------------------------------------------------------------------------------------ C2-C3
def test_admin_list_filters_and_search(api, admin, customer):
    make_coupon("WELCOME20K", name="Hello")
    make_coupon("TOPUP5", name="Welcome gift")
    discount_coupon("SAVE20", percent=20, status=CouponStatus.DISABLED)
    api.post("/api/wallet/redeem-coupon", as_user=customer, json={"couponCode": "TOPUP5"})
    body = assert_envelope(api.get("/api/admin/coupons?search=welcome", as_user=admin), 200,
                           "Coupons retrieved successfully")
    rows = body["data"]["coupons"]
    assert {r["code"] for r in rows} == {"WELCOME20K", "TOPUP5"}
    assert set(rows[0]) == COUPON_KEYS | {"_count"}
    assert {r["code"]: r["_count"]["redemptions"] for r in rows} == {"WELCOME20K": 0, "TOPUP5": 1}
    body = assert_envelope(api.get("/api/admin/coupons?status=DISABLED&type=SUBSCRIPTION_DISCOUNT", as_user=admin), 200)
    assert [r["code"] for r in body["data"]["coupons"]] == ["SAVE20"]
    body = assert_envelope(api.get("/api/admin/coupons?limit=2&page=2", as_user=admin), 200)
    assert body["data"]["pagination"] == {"currentPage": 2, "totalPages": 2, "totalCount": 3, "hasMore": False}
    assert_envelope(api.get("/api/admin/coupons?search=100%25", as_user=admin), 200)
    assert_envelope(api.get("/api/admin/coupons?status=GONE", as_user=admin), 400,
                    '"status" must be one of [ACTIVE, EXPIRED, DISABLED, USED_UP]')


def test_admin_statistics(api, admin, customer):
    make_coupon("AAA1", max_uses=1)
    make_coupon("BBB1", status=CouponStatus.EXPIRED)
    assert_envelope(api.post("/api/wallet/redeem-coupon", as_user=customer, json={"couponCode": "aaa1"}), 200)
    body = assert_envelope(api.get("/api/admin/coupons/statistics?period=week", as_user=admin), 200,
                           "Coupon statistics retrieved successfully")
    stats = body["data"]["statistics"]
    assert stats["overview"] == {"totalCoupons": 2, "activeCoupons": 0, "expiredCoupons": 1, "usedUpCoupons": 1,
                                 "totalRedemptions": 1, "periodRedemptions": 1}
    assert stats["topCoupons"][0] == {"id": stats["topCoupons"][0]["id"], "code": "AAA1", "name": "Coupon AAA1",
                                      "type": "CREDIT_TOPUP", "usedCount": 1, "maxUses": 1}
    assert stats["redemptionsByType"] == {"CREDIT_TOPUP": 1} and stats["period"] == "week"
    assert stats["startDate"].endswith("Z") and stats["endDate"].endswith("Z")
    assert_envelope(api.get("/api/admin/coupons/statistics?period=day", as_user=admin), 400,
                    '"period" must be one of [week, month, year]')


# --------------------------------------------------------------------------------------------------- C4
def test_admin_bulk_status(api, admin):
    a, b = make_coupon("AAA"), make_coupon("BBB")
    r = api.put("/api/admin/coupons/bulk-status", as_user=admin,
                json={"couponIds": [a.id, b.id, "placeholder"], "status": "DISABLED"})
    assert assert_envelope(r, 200, "2 coupons updated successfully")["data"] == {"updatedCount": 2}
    db.session.expire_all()
    assert db.session.get(Coupon, a.id).status == CouponStatus.DISABLED
    assert_envelope(api.put("/api/admin/coupons/bulk-status", as_user=admin,
                            json={"couponIds": ["x"], "status": "DISABLED"}), 200, "0 coupons updated successfully")
    assert_envelope(api.put("/api/admin/coupons/bulk-status", as_user=admin, json={"couponIds": [], "status": "ACTIVE"}),
                    400, '"couponIds" must contain at least 1 items')
    assert_envelope(api.put("/api/admin/coupons/bulk-status", as_user=admin,
                            json={"couponIds": [a.id], "status": "USED_UP"}), 400,
                    '"status" must be one of [ACTIVE, DISABLED, EXPIRED]')


# ------------------------------------------------------------------------------------------------ C5-C7
def test_admin_details_update_delete(api, admin, customer):
    coupon = make_coupon("DETAIL", max_uses=1)
    assert_envelope(api.post("/api/wallet/redeem-coupon", as_user=customer, json={"couponCode": "DETAIL"}), 200)
    body = assert_envelope(api.get(f"/api/admin/coupons/{coupon.id}", as_user=admin), 200,
                           "Coupon details retrieved successfully")
    data = body["data"]["coupon"]
    assert set(data) == COUPON_KEYS | {"redemptions", "_count"} and data["_count"] == {"redemptions": 1}
    (redemption,) = data["redemptions"]
    assert set(redemption) == REDEMPTION_KEYS | {"user", "transaction", "subscription"}
    assert redemption["user"] == {"id": customer.id, "name": customer.name, "email": customer.email}
    assert redemption["transaction"]["customId"].startswith("TXMP-")
    assert data["status"] == "USED_UP"

    r = api.put(f"/api/admin/coupons/{coupon.id}", as_user=admin, json={"maxUses": 5, "name": "Renamed"})
    updated = assert_envelope(r, 200, "Coupon updated successfully")["data"]["coupon"]
    assert (updated["maxUses"], updated["status"], updated["name"]) == (5, "ACTIVE", "Renamed")
    assert_envelope(api.put(f"/api/admin/coupons/{coupon.id}", as_user=admin, json={}), 200)
    assert_envelope(api.put(f"/api/admin/coupons/{coupon.id}", as_user=admin, json={"type": "FREE_SERVICE"}), 400,
                    '"type" is not allowed')
    assert_envelope(api.put(f"/api/admin/coupons/{coupon.id}", as_user=admin, json={"maxUses": 0}), 400,
                    '"maxUses" must be greater than or equal to 1')
    assert_envelope(api.put(f"/api/admin/coupons/{coupon.id}", as_user=admin,
                            json={"validFrom": _future(10), "validUntil": _future(1)}), 400,
                    "Valid until date must be after valid from date")
    r = api.put(f"/api/admin/coupons/{coupon.id}", as_user=admin, json={"validUntil": None})
    assert assert_envelope(r, 200)["data"]["coupon"]["validUntil"] is None
    assert_envelope(api.delete(f"/api/admin/coupons/{coupon.id}", as_user=admin), 400,
                    "Cannot delete coupon that has been redeemed. Consider disabling it instead.")
    unused = make_coupon("UNUSED")
    assert_envelope(api.delete(f"/api/admin/coupons/{unused.id}", as_user=admin), 200, "Coupon deleted successfully")
    for method in ("get", "put", "delete"):
        r = getattr(api, method)("/api/admin/coupons/placeholder", as_user=admin, json={"name": "x"})
        assert_envelope(r, 404, "Coupon not found")
    actions = set(db.session.execute(select(AuditEntry.action)).scalars())
    assert {"coupon.update", "coupon.delete"} <= actions


def test_admin_coupon_routes_refuse_customers(api, customer):
    assert_envelope(api.get("/api/admin/coupons", as_user=customer), 403, "Access denied. Insufficient permissions.")
