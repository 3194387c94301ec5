"""Admin wallet routes A1-A6: reports, adjustments through the ledger with audit, bulk all-or-nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.audit.models import AuditEntry
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionType
from webapp.extensions import db

from ..conftest import assert_envelope

UNKNOWN = "c" + "x" * 24


def _rows() -> int:
    return db.session.execute(select(func.count()).select_from(Transaction)).scalar_one()


def _add(api, admin, user, body, headers=None):
    return api.post(f"/api/admin/wallets/users/{user.id}/add-credit", as_user=admin, json=body, headers=headers)


def _deduct(api, admin, user, body, headers=None):
    return api.post(f"/api/admin/wallets/users/{user.id}/deduct-credit", as_user=admin, json=body, headers=headers)


# ------------------------------------------------------------------------------------------ A1 / A2 / A3
def test_statistics(api, admin, customer, other_customer):
    ledger.credit(customer.id, 100_000, type=TransactionType.TOP_UP, description="t", counts_as_top_up=True)
    ledger.open_pending(customer.id, 50_000, type=TransactionType.TOP_UP, description="p", payment_method=None)
    stats = assert_envelope(api.get("/api/admin/wallets/statistics", as_user=admin), 200,
                            "Wallet statistics retrieved successfully")["data"]["statistics"]
    assert stats["users"] == {"total": 3, "withBalance": 1, "withNegativeBalance": 0, "withZeroBalance": 2}
    assert stats["transactions"]["total"] == 2 and stats["transactions"]["recent24h"] == 2
    assert stats["transactions"]["byType"] == [{"type": "TOP_UP", "count": 2, "totalAmount": 150_000,
                                                "completed": {"count": 1, "totalAmount": 100_000}}]
    assert stats["balances"] == {"totalBalance": 100_000, "averageBalance": 33_333, "minBalance": 0,
                                 "maxBalance": 100_000}
    assert stats["topUps"] == {"totalTopUps": 100_000, "averageTopUp": 33_333}


def test_overview_search_sort_filters_and_pagination(api, admin, customer, other_customer):
    ledger.credit(customer.id, 70_000, type=TransactionType.TOP_UP, description="t")
    ledger.credit(other_customer.id, 20_000, type=TransactionType.TOP_UP, description="t")
    body = assert_envelope(api.get("/api/admin/wallets/overview?sortBy=creditBalance&limit=2", as_user=admin), 200,
                           "Wallet overview retrieved successfully")["data"]["walletOverview"]
    assert [u["email"] for u in body["users"]] == [customer.email, other_customer.email]
    assert body["pagination"] == {"currentPage": 1, "totalPages": 2, "totalCount": 3, "hasNext": True,
                                  "hasPrev": False}
    assert body["users"][0]["totalTransactions"] == 1 and body["users"][0]["activeSubscriptions"] == 0
    assert body["summary"]["totalBalance"] == 90_000 and body["summary"]["averageBalance"] == 30_000
    found = api.get("/api/admin/wallets/overview?search=OTHER", as_user=admin).get_json()["data"]["walletOverview"]
    assert [u["email"] for u in found["users"]] == [other_customer.email]
    ranged = api.get("/api/admin/wallets/overview?minBalance=10000&maxBalance=50000", as_user=admin).get_json()
    assert [u["email"] for u in ranged["data"]["walletOverview"]["users"]] == [other_customer.email]
    weird = api.get("/api/admin/wallets/overview?search=%25_", as_user=admin).get_json()["data"]["walletOverview"]
    assert weird["users"] == []                                     # LIKE wildcards are literal


@pytest.mark.parametrize("query, message", [
    ("page=0", "Page must be at least 1"), ("page=x", "Page must be a number"), ("limit=101", "Limit cannot exceed 100"),
    ("limit=1.5", "Limit must be an integer"), ("search=", "Search term must be at least 1 character long"),
    ("search=" + "a" * 101, "Search term cannot exceed 100 characters"),
    ("sortBy=name", "sortBy must be one of: creditBalance, totalTopUp, totalSpent, createdAt"),
    ("sortOrder=up", 'sortOrder must be either "asc" or "desc"'),
    ("minBalance=abc", "Minimum balance must be a number"), ("maxBalance=1.5", "Maximum balance must be an integer"),
])
def test_overview_bad_queries(api, admin, query, message):
    assert_envelope(api.get(f"/api/admin/wallets/overview?{query}", as_user=admin), 400, message)


def test_user_wallet_details(api, admin, customer, make):
    plan = make.plan(monthly_price=75_000)
    sub = make.subscription(user=customer, plan=plan)
    ledger.credit(customer.id, 100_000, type=TransactionType.TOP_UP, description="t", counts_as_top_up=True)
    ledger.debit(customer.id, 75_000, type=TransactionType.SUBSCRIPTION, description="s", subscription_id=sub.id)
    details = assert_envelope(api.get(f"/api/admin/wallets/users/{customer.id}", as_user=admin), 200,
                              "User wallet details retrieved successfully")["data"]["walletDetails"]
    assert details["user"]["id"] == customer.id
    assert details["balance"] == {"current": 25_000, "totalTopUp": 100_000, "totalSpent": 75_000, "netBalance": 25_000}
    assert details["recentTransactions"][0]["subscription"] == {"id": sub.id, "serviceName": plan.service.name,
                                                                "planName": plan.name}
    assert details["activeSubscriptions"][0]["monthlyPrice"] == 75_000
    assert_envelope(api.get(f"/api/admin/wallets/users/{UNKNOWN}", as_user=admin), 404, "User not found")
    assert_envelope(api.get("/api/admin/wallets/users/invalid-uuid", as_user=admin), 400,
                    "User ID must contain only letters and numbers")


def test_customers_cannot_use_admin_wallet_routes(api, customer):
    for method, path in [("GET", "/api/admin/wallets/statistics"), ("GET", "/api/admin/wallets/overview"),
                         ("POST", f"/api/admin/wallets/users/{customer.id}/add-credit"),
                         ("POST", "/api/admin/wallets/bulk-adjustment")]:
        r = api.call(method, path, as_user=customer, json={"amount": 5000, "reason": "because"})
        assert_envelope(r, 403, "Access denied. Insufficient permissions.")
        assert_envelope(api.call(method, path), 401, "Access token is required")
    assert _rows() == 0


# ------------------------------------------------------------------------------------------ A4 / A5
def test_add_credit_records_admin_reason_and_audit(api, admin, customer):
    r = _add(api, admin, customer, {"amount": 50_000, "reason": "Goodwill for outage", "description": "ticket 42"})
    data = assert_envelope(r, 200, "Credit added to user wallet successfully")["data"]
    row = db.session.get(Transaction, data["transaction"]["id"])
    assert data["transaction"] == {"id": row.id, "customId": row.custom_id, "amount": 50_000,
                                   "type": "ADMIN_ADJUSTMENT", "description": "Admin Credit Addition: Goodwill for outage"}
    assert data["user"] == {"id": customer.id, "email": customer.email, "name": customer.name, "previousBalance": 0,
                            "newBalance": 50_000, "totalTopUp": 0}   # admin credit is not a top-up (fix 21)
    assert (row.processed_by, row.admin_notes, row.payment_method) == (admin.id, "Goodwill for outage", "ADMIN_MANUAL")
    assert row.completed_at is not None and row.metadata_["adjustmentType"] == "credit"
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "wallet.credit_added")).scalar_one()
    assert (entry.actor_id, entry.target_id, entry.reason) == (admin.id, customer.id, "Goodwill for outage")
    assert entry.before == {"creditBalance": 0} and entry.after["creditBalance"] == 50_000


def test_deduct_credit_and_insufficient_balance(api, admin, customer):
    ledger.credit(customer.id, 30_000, type=TransactionType.TOP_UP, description="t")
    r = _deduct(api, admin, customer, {"amount": 25_000, "reason": "Chargeback fee"})
    data = assert_envelope(r, 200, "Credit deducted from user wallet successfully")["data"]
    assert data["user"]["previousBalance"] == 30_000 and data["user"]["newBalance"] == 5_000
    assert data["user"]["totalSpent"] == 0 and data["transaction"]["description"] == "Admin Credit Deduction: Chargeback fee"
    message = "Insufficient balance. User has 5000 credits, but 10000 credits requested for deduction."
    assert_envelope(_deduct(api, admin, customer, {"amount": 10_000, "reason": "too much"}), 400, message)
    # Wallets never go negative (database CHECK): allowNegative is refused with the same 400, never a 500.
    assert_envelope(_deduct(api, admin, customer, {"amount": 10_000, "reason": "too much", "allowNegative": True}),
                    400, message)
    db.session.refresh(customer)
    assert customer.credit_balance == 5_000 == ledger.ledger_sum(customer.id)


@pytest.mark.parametrize("body, message", [
    ({"amount": 500, "reason": "valid reason"}, "Amount must be at least 1,000 IDR"),
    ({"amount": 200_000_000, "reason": "valid reason"}, "Amount cannot exceed 100,000,000 IDR"),
    ({"amount": 999_999_999, "reason": "valid reason"}, "Amount cannot exceed 100,000,000 IDR"),
    ({"amount": -5_000, "reason": "valid reason"}, "Amount must be at least 1,000 IDR"),
    ({"amount": 1_500.5, "reason": "valid reason"}, "Amount must be an integer"),
    ({"amount": "many", "reason": "valid reason"}, "Amount must be a number"),
    ({"reason": "valid reason"}, "Amount is required"),
    ({"amount": 5_000}, '"reason" is required'),
    ({"amount": 5_000, "reason": ""}, "Reason is required"),
    ({"amount": 5_000, "reason": "abc"}, "Reason must be at least 5 characters long"),
    ({"amount": 5_000, "reason": "r" * 201}, "Reason cannot exceed 200 characters"),
    ({"amount": 5_000, "reason": "valid reason", "description": "d" * 501}, "Description cannot exceed 500 characters"),
    ({"amount": 5_000, "reason": "valid reason", "allowNegative": "maybe"}, "allowNegative must be a boolean value"),
])
def test_adjustment_bad_input_changes_nothing(api, admin, customer, body, message):
    r = _deduct(api, admin, customer, body) if "allowNegative" in body else _add(api, admin, customer, body)
    assert_envelope(r, 400, message)
    assert _rows() == 0


def test_adjustment_unknown_or_malformed_user(api, admin):
    r = api.post(f"/api/admin/wallets/users/{UNKNOWN}/add-credit", as_user=admin, json={"amount": 5_000,
                                                                                        "reason": "valid reason"})
    assert_envelope(r, 404, "User not found")
    r = api.post("/api/admin/wallets/users/invalid-uuid/add-credit", as_user=admin, json={"amount": 5_000,
                                                                                          "reason": "valid reason"})
    assert_envelope(r, 400, "User ID must contain only letters and numbers")


def test_idempotency_key_applies_an_adjustment_once(api, admin, customer):
    headers = {"Idempotency-Key": "refund-ticket-42"}
    first = _add(api, admin, customer, {"amount": 10_000, "reason": "valid reason"}, headers=headers).get_json()
    again = _add(api, admin, customer, {"amount": 10_000, "reason": "valid reason"}, headers=headers).get_json()
    assert first["data"]["transaction"]["id"] == again["data"]["transaction"]["id"]
    db.session.refresh(customer)
    assert customer.credit_balance == 10_000 and _rows() == 1
    bad = _add(api, admin, customer, {"amount": 10_000, "reason": "valid reason"}, headers={"Idempotency-Key": "k" * 101})
    assert_envelope(bad, 400, "Idempotency-Key must be 1-100 printable characters")


# ------------------------------------------------------------------------------------------ A6
def test_bulk_adjustment_all_in_one_transaction(api, admin, customer, other_customer):
    ledger.credit(other_customer.id, 50_000, type=TransactionType.TOP_UP, description="t")
    body = {"adjustments": [{"userId": customer.id, "type": "ADD", "amount": 30_000},
                            {"userId": other_customer.id, "type": "DEDUCT", "amount": 20_000}],
            "reason": "Quarterly correction"}
    data = assert_envelope(api.post("/api/admin/wallets/bulk-adjustment", as_user=admin, json=body), 200,
                           "Bulk credit adjustment completed")["data"]
    assert data["summary"] == {"total": 2, "successful": 2, "failed": 0}
    assert [r["userId"] for r in data["results"]] == [customer.id, other_customer.id]
    assert all(r["success"] and r["transactionId"] and r["customId"].startswith("TXMP-") for r in data["results"])
    rows = [db.session.get(Transaction, r["transactionId"]) for r in data["results"]]
    assert [r.description for r in rows] == ["Bulk Admin Credit Addition: Quarterly correction",
                                            "Bulk Admin Credit Deduction: Quarterly correction"]
    assert all(r.metadata_["bulkOperation"] and r.processed_by == admin.id for r in rows)
    db.session.refresh(customer)
    db.session.refresh(other_customer)
    assert (customer.credit_balance, other_customer.credit_balance) == (30_000, 30_000)


def test_bulk_with_an_uncovered_deduction_applies_nothing(api, admin, customer, other_customer):
    body = {"adjustments": [{"userId": customer.id, "type": "ADD", "amount": 30_000},
                            {"userId": other_customer.id, "type": "DEDUCT", "amount": 20_000}],
            "reason": "Quarterly correction"}
    r = api.post("/api/admin/wallets/bulk-adjustment", as_user=admin, json=body)
    data = assert_envelope(r, 400, "Validation errors")["data"]
    assert data["validationErrors"] == [{"userId": other_customer.id, "userEmail": other_customer.email,
                                         "error": "Insufficient balance. User has 0 credits, but 20000 credits "
                                                  "requested for deduction."}]
    assert _rows() == 0


@pytest.mark.parametrize("adjustments, status, message", [
    ([], 400, "At least one adjustment is required"),
    ("nope", 400, "Adjustments must be an array"),
    (None, 400, "Adjustments array is required"),
    ([{"userId": "CUST", "type": "INVALID", "amount": 5_000}], 400, 'Type must be either "ADD" or "DEDUCT"'),
    ([{"userId": "CUST", "amount": 5_000}], 400, "Type is required"),
    ([{"userId": "CUST", "type": "ADD", "amount": 500}], 400, "Amount must be at least 1,000 IDR"),
    ([{"userId": "bad-id", "type": "ADD", "amount": 5_000}], 400, "User ID must contain only letters and numbers"),
    ([{"userId": "CUST", "type": "ADD", "amount": 5_000}] * 101, 400, "Cannot process more than 100 adjustments at once"),
    ([{"userId": "CUST", "type": "ADD", "amount": 5_000}, {"userId": "CUST", "type": "DEDUCT", "amount": 1_000}],
     400, "Duplicate userId in adjustments"),
    ([{"userId": "CUST", "type": "ADD", "amount": 5_000}, {"userId": UNKNOWN, "type": "ADD", "amount": 5_000}],
     404, "One or more users not found"),
])
def test_bulk_bad_input_changes_nothing(api, admin, customer, adjustments, status, message):
    if isinstance(adjustments, list):
        adjustments = [{**a, "userId": customer.id if a.get("userId") == "CUST" else a["userId"]} for a in adjustments]
    body = {"reason": "Quarterly correction"}
    if adjustments is not None:
        body["adjustments"] = adjustments
    assert_envelope(api.post("/api/admin/wallets/bulk-adjustment", as_user=admin, json=body), status, message)
    assert _rows() == 0


def test_idempotency_key_replayed_for_another_request_is_refused(api, admin, make):
    from webapp.extensions import db

    a = make.user(email="idem.a@example.com")
    b = make.user(email="idem.b@example.com")
    body = {"amount": 50_000, "reason": "goodwill credit"}
    url = "/api/admin/wallets/users/{}/{}"
    first = api.post(url.format(a.id, "add-credit"), as_user=admin, json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 200
    again = api.post(url.format(a.id, "add-credit"), as_user=admin, json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200  # a true replay answers like the first time
    for other in (api.post(url.format(b.id, "add-credit"), as_user=admin, json=body, headers={"Idempotency-Key": "k-1"}),
                  api.post(url.format(a.id, "deduct-credit"), as_user=admin, json=body,
                           headers={"Idempotency-Key": "k-1"})):
        assert other.status_code == 409
        assert other.get_json()["message"] == "Idempotency-Key was already used for a different request"
    db.session.refresh(a)
    db.session.refresh(b)
    assert (a.credit_balance, b.credit_balance) == (50_000, 0)
