"""Customer wallet routes W1-W8 (spec-wallet-payments-coupons), top-ups against the Midtrans simulator."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.payments.fixtures import midtrans, midtrans_sim  # noqa: F401
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.db import utcnow
from webapp.extensions import db

from ..conftest import assert_envelope


def _count() -> int:
    return db.session.execute(select(func.count()).select_from(Transaction)).scalar_one()


def _topup(api, user, amount=100_000, method="BANK_TRANSFER"):
    r = api.post("/api/wallet/topup", as_user=user, json={"amount": amount, "paymentMethod": method})
    return assert_envelope(r, 201, "Top-up transaction created successfully")["data"]["transaction"]


# ------------------------------------------------------------------------------------------ W1
def test_wallet_info_shape_and_monthly_spending(api, customer, other_customer):
    ledger.credit(customer.id, 200_000, type=TransactionType.TOP_UP, description="top-up", counts_as_top_up=True)
    ledger.debit(customer.id, 50_000, type=TransactionType.SUBSCRIPTION, description="n8n")
    ledger.credit(other_customer.id, 999_000, type=TransactionType.TOP_UP, description="not mine")
    body = assert_envelope(api.get("/api/wallet/info", as_user=customer), 200,
                           "Wallet information retrieved successfully")
    wallet = body["data"]["wallet"]
    assert wallet["userId"] == customer.id and wallet["email"] == customer.email
    assert (wallet["creditBalance"], wallet["totalTopUp"], wallet["totalSpent"]) == (150_000, 200_000, 50_000)
    assert wallet["monthlySpending"] == 50_000 and wallet["netBalance"] == 150_000
    assert [t["direction"] for t in wallet["recentTransactions"]] == ["DEBIT", "CREDIT"]
    assert set(wallet["recentTransactions"][0]) >= {"id", "type", "status", "amount", "description", "createdAt",
                                                     "completedAt", "customId"}


def test_wallet_requires_a_token(api):
    assert_envelope(api.get("/api/wallet/info"), 401, "Access token is required")
    assert_envelope(api.get("/api/wallet/info", token="nope"), 403, "Invalid or expired token")


# ------------------------------------------------------------------------------------------ W2
def test_transactions_filters_pagination_and_direction(api, customer, other_customer):
    for i in range(5):
        ledger.credit(customer.id, 10_000 + i, type=TransactionType.TOP_UP, description=f"t{i}")
    ledger.debit(customer.id, 5_000, type=TransactionType.SUBSCRIPTION, description="sub")
    ledger.credit(customer.id, 7_000, type=TransactionType.COUPON_REDEMPTION, description="coupon")
    ledger.credit(other_customer.id, 1_000, type=TransactionType.TOP_UP, description="other")
    body = assert_envelope(api.get("/api/wallet/transactions?page=2&limit=3", as_user=customer), 200,
                           "Transaction history retrieved successfully")["data"]
    assert body["pagination"] == {"currentPage": 2, "totalPages": 3, "totalCount": 7, "hasMore": True}
    assert len(body["transactions"]) == 3
    row = body["transactions"][0]
    assert {"customId", "metadata", "balanceBefore", "balanceAfter", "subscription", "direction"} <= set(row)
    everything = api.get("/api/wallet/transactions?limit=100", as_user=customer).get_json()["data"]["transactions"]
    assert all(t["userId"] == customer.id for t in everything)
    assert {t["type"]: t["direction"] for t in everything} == {"TOP_UP": "CREDIT", "SUBSCRIPTION": "DEBIT",
                                                              "COUPON_REDEMPTION": "CREDIT"}
    coupon = api.get("/api/wallet/transactions?type=COUPON_REDEMPTION", as_user=customer).get_json()["data"]
    assert [t["amount"] for t in coupon["transactions"]] == [7_000]
    empty = api.get("/api/wallet/transactions?status=REFUNDED", as_user=customer).get_json()["data"]
    assert empty["transactions"] == [] and empty["pagination"]["totalPages"] == 0


def test_transactions_date_bounds(api, customer):
    old = ledger.credit(customer.id, 10_000, type=TransactionType.TOP_UP, description="old").transaction
    old.created_at = utcnow() - timedelta(days=10)
    ledger.credit(customer.id, 20_000, type=TransactionType.TOP_UP, description="today")
    db.session.flush()
    today = utcnow().date().isoformat()
    since = (utcnow() - timedelta(days=2)).date().isoformat()

    def amounts(query):
        r = api.get(f"/api/wallet/transactions?{query}", as_user=customer)
        return [t["amount"] for t in assert_envelope(r, 200)["data"]["transactions"]]

    assert amounts(f"startDate={since}") == [20_000]               # one bound alone filters (fix 31)
    assert amounts(f"endDate={since}") == [10_000]
    assert amounts(f"startDate={since}&endDate={today}") == [20_000]  # a date-only end includes that day


@pytest.mark.parametrize("query, message", [
    ("type=BOGUS", '"type" must be one of [TOP_UP, SUBSCRIPTION, UPGRADE, REFUND, ADMIN_ADJUSTMENT, COUPON_REDEMPTION]'),
    ("status=DONE", '"status" must be one of [PENDING, COMPLETED, FAILED, CANCELLED, REFUNDED]'),
    ("limit=101", '"limit" must be less than or equal to 100'),
    ("page=0", '"page" must be greater than or equal to 1'),
    ("startDate=2024-02-01&endDate=2024-01-01", '"endDate" must be greater than or equal to "ref:startDate"'),
    ("startDate=yesterday", '"startDate" must be in ISO 8601 date format'),
    ("foo=1", '"foo" is not allowed'),
])
def test_transactions_bad_queries(api, customer, query, message):
    assert_envelope(api.get(f"/api/wallet/transactions?{query}", as_user=customer), 400, message)


# ------------------------------------------------------------------------------------------ W3
@pytest.mark.parametrize("method, enabled", [
    ("BANK_TRANSFER", ["bca_va", "bni_va", "bri_va", "echannel", "permata_va", "cimb_va", "other_va"]),
    ("E_WALLET", ["gopay", "shopeepay"]), ("CREDIT_CARD", ["credit_card"]), ("QRIS", ["other_qris"])])
def test_topup_creates_pending_row_with_snap_token(api, customer, midtrans, method, enabled):
    customer.credit_balance = 0
    data = _topup(api, customer, 150_000, method)
    assert set(data) == {"transactionId", "snapToken", "redirectUrl", "amount", "paymentMethod", "expiryTime",
                         "expiresAt", "customId"}
    assert data["amount"] == 150_000 and data["paymentMethod"] == method
    assert data["expiryTime"].endswith("+0700") and data["customId"].startswith("TXMP-")
    row = db.session.get(Transaction, data["transactionId"])
    assert row.status == TransactionStatus.PENDING and row.payment_reference == data["snapToken"]
    assert row.payment_method == f"MIDTRANS_{method}" and row.type == TransactionType.TOP_UP
    sent = midtrans.transaction(row.id)
    assert sent["token"] == data["snapToken"] and sent["gross_amount"] == 150_000
    assert sent["enabled_payments"] == enabled                      # fix 7: the method is enforced
    assert sent["request"]["item_details"][0]["price"] == 150_000
    assert sent["request"]["expiry"]["duration"] == 60
    db.session.refresh(customer)
    assert customer.credit_balance == 0                             # nothing credited before payment


@pytest.mark.parametrize("body, message", [
    ({"amount": 5_000, "paymentMethod": "QRIS"}, "Minimum top-up amount is Rp 10,000"),
    ({"amount": 15_000_000, "paymentMethod": "QRIS"}, "Maximum top-up amount is Rp 10,000,000"),
    ({"amount": 0, "paymentMethod": "QRIS"}, "Minimum top-up amount is Rp 10,000"),
    ({"amount": -100_000, "paymentMethod": "QRIS"}, "Minimum top-up amount is Rp 10,000"),
    ({"amount": 10_000.5, "paymentMethod": "QRIS"}, '"amount" must be an integer'),
    ({"amount": "lots", "paymentMethod": "QRIS"}, '"amount" must be a number'),
    ({"amount": 1e300, "paymentMethod": "QRIS"}, '"amount" must be a safe number'),
    ({"amount": True, "paymentMethod": "QRIS"}, '"amount" must be a number'),
    ({"paymentMethod": "QRIS"}, "Amount is required"),
    ({"amount": 50_000, "paymentMethod": "INVALID_METHOD"},
     "Payment method must be one of: BANK_TRANSFER, E_WALLET, CREDIT_CARD, QRIS"),
    ({"amount": 50_000}, "Payment method is required"),
    ({"amount": 50_000, "paymentMethod": "QRIS", "extra": 1}, '"extra" is not allowed'),
])
def test_topup_bad_input_changes_nothing(api, customer, midtrans, body, message):
    assert_envelope(api.post("/api/wallet/topup", as_user=customer, json=body), 400, message)
    assert _count() == 0 and midtrans.transactions == []


def test_topup_when_midtrans_is_down_fails_cleanly(api, customer, midtrans):
    midtrans.set_faults(down=True)
    r = api.post("/api/wallet/topup", as_user=customer, json={"amount": 50_000, "paymentMethod": "QRIS"})
    assert_envelope(r, 503, "Payment service is temporarily unavailable. Please try again later.")
    rows = db.session.execute(select(Transaction)).scalars().all()
    assert [row.status for row in rows] == [TransactionStatus.FAILED]  # never PENDING without a token
    assert rows[0].metadata_["error"] and rows[0].payment_reference is None


def test_topup_when_midtrans_is_slow_times_out(app, api, customer, midtrans):
    app.config["MIDTRANS_TIMEOUT"] = 0.2
    midtrans.set_faults(delay_ms=800)
    r = api.post("/api/wallet/topup", as_user=customer, json={"amount": 50_000, "paymentMethod": "QRIS"})
    assert r.status_code == 503
    assert db.session.execute(select(Transaction.status)).scalars().all() == [TransactionStatus.FAILED]


def test_topup_with_a_wrong_server_key_is_503(app, api, customer, midtrans):
    app.config["MIDTRANS_SERVER_KEY"] = "SB-Mid-server-wrong"
    r = api.post("/api/wallet/topup", as_user=customer, json={"amount": 50_000, "paymentMethod": "QRIS"})
    assert r.status_code == 503  # wrong key: Midtrans answers 401, treated as unavailable (logged), not a 500
    assert db.session.execute(select(Transaction.status)).scalars().all() == [TransactionStatus.FAILED]


def test_topup_without_midtrans_configuration_is_503_and_writes_nothing(app, api, customer):
    app.config["MIDTRANS_SERVER_KEY"] = None
    r = api.post("/api/wallet/topup", as_user=customer, json={"amount": 50_000, "paymentMethod": "QRIS"})
    assert_envelope(r, 503, "Payment service is not configured")
    assert _count() == 0


# ------------------------------------------------------------------------------------------ W4
def test_payment_methods(api, customer):
    body = assert_envelope(api.get("/api/wallet/payment-methods", as_user=customer), 200,
                           "Payment methods retrieved successfully")
    methods = body["data"]["paymentMethods"]
    assert [m["type"] for m in methods] == ["BANK_TRANSFER", "E_WALLET", "CREDIT_CARD", "QRIS"]
    assert methods[0] == {"type": "BANK_TRANSFER", "name": "Bank Transfer",
                          "description": "Transfer via BCA, BNI, BRI, Mandiri", "icon": "bank",
                          "processingTime": "Instant verification"}


# ------------------------------------------------------------------------------------------ W5
def test_status_polling_applies_a_missed_settlement(api, customer, midtrans):
    data = _topup(api, customer, 80_000, "QRIS")
    midtrans.complete(data["transactionId"], notify=False)          # the webhook never arrives
    r = api.get(f"/api/wallet/transactions/{data['transactionId']}/status", as_user=customer)
    tx = assert_envelope(r, 200, "Transaction status retrieved successfully")["data"]["transaction"]
    assert tx["status"] == "COMPLETED" and tx["completedAt"]
    assert tx["midtransStatus"]["status"] == "settlement" and tx["midtransStatus"]["grossAmount"] == "80000.00"
    db.session.refresh(customer)
    assert customer.credit_balance == 80_000 and ledger.ledger_sum(customer.id) == 80_000
    again = api.get(f"/api/wallet/transactions/{data['transactionId']}/status", as_user=customer)
    assert "midtransStatus" not in again.get_json()["data"]["transaction"]  # completed: not asked again
    db.session.refresh(customer)
    assert customer.credit_balance == 80_000


def test_status_of_pending_and_by_txmp_id(api, customer, midtrans):
    data = _topup(api, customer)
    by_custom = api.get(f"/api/wallet/transactions/{data['customId']}/status", as_user=customer)
    tx = assert_envelope(by_custom, 200)["data"]["transaction"]
    assert tx["id"] == data["transactionId"] and tx["status"] == "PENDING"
    assert tx["midtransStatus"]["status"] == "pending"


def test_status_when_midtrans_is_down_shows_local_state(api, customer, midtrans):
    data = _topup(api, customer)
    midtrans.set_faults(down=True)
    tx = assert_envelope(api.get(f"/api/wallet/transactions/{data['transactionId']}/status", as_user=customer),
                         200)["data"]["transaction"]
    assert tx["status"] == "PENDING" and "midtransStatus" not in tx


def test_other_customers_transaction_is_not_found(api, customer, other_customer, midtrans):
    data = _topup(api, customer)
    for path in (f"/api/wallet/transactions/{data['transactionId']}/status",
                 f"/api/wallet/transactions/{data['customId']}/status"):
        assert_envelope(api.get(path, as_user=other_customer), 404, "Transaction not found")
    r = api.post(f"/api/wallet/transactions/{data['transactionId']}/cancel", as_user=other_customer)
    assert_envelope(r, 404, "Transaction not found")
    assert db.session.get(Transaction, data["transactionId"]).status == TransactionStatus.PENDING


@pytest.mark.parametrize("ident, message", [
    ("invalid-uuid", "Transaction ID must contain only letters and numbers"),
    ("abc123", "Transaction ID must be at least 20 characters long"),
    ("a" * 31, "Transaction ID must not exceed 30 characters"),
    ("TXMP-101x", "Transaction ID must contain only letters and numbers"),
])
def test_transaction_id_validation(api, customer, ident, message):
    assert_envelope(api.get(f"/api/wallet/transactions/{ident}/status", as_user=customer), 400, message)
    assert_envelope(api.post(f"/api/wallet/transactions/{ident}/cancel", as_user=customer), 400, message)


def test_unknown_transaction_is_404(api, customer):
    assert_envelope(api.get("/api/wallet/transactions/c" + "z" * 24 + "/status", as_user=customer), 404,
                    "Transaction not found")
    assert_envelope(api.get("/api/wallet/transactions/TXMP-999999/status", as_user=customer), 404,
                    "Transaction not found")


# ------------------------------------------------------------------------------------------ W6
def test_cancel_pending_topup(api, customer, midtrans):
    data = _topup(api, customer)
    midtrans.set_faults()  # simulator knows the order (Snap orders are queryable at once)
    r = api.post(f"/api/wallet/transactions/{data['transactionId']}/cancel", as_user=customer)
    assert_envelope(r, 200, "Transaction cancelled successfully")
    assert "data" not in r.get_json()
    row = db.session.get(Transaction, data["transactionId"])
    db.session.refresh(row)
    assert row.status == TransactionStatus.CANCELLED and row.metadata_["cancelled_at"]
    assert midtrans.transaction(row.id)["transaction_status"] == "cancel"
    again = api.post(f"/api/wallet/transactions/{data['transactionId']}/cancel", as_user=customer)
    assert_envelope(again, 400, "Can only cancel pending transactions")


def test_cancel_unopened_snap_order_cancels_locally(api, customer, midtrans):
    midtrans.set_faults(unopened_404=True)
    data = _topup(api, customer)
    r = api.post(f"/api/wallet/transactions/{data['transactionId']}/cancel", as_user=customer)
    assert_envelope(r, 200, "Transaction cancelled successfully")
    row = db.session.get(Transaction, data["transactionId"])
    db.session.refresh(row)
    assert row.status == TransactionStatus.CANCELLED and row.metadata_["midtrans_cancel_response"]["local_only"]


def test_cancel_of_an_order_paid_meanwhile_is_refused_and_credits(api, customer, midtrans):
    data = _topup(api, customer, 60_000)
    midtrans.complete(data["transactionId"], notify=False)
    r = api.post(f"/api/wallet/transactions/{data['transactionId']}/cancel", as_user=customer)
    assert_envelope(r, 400, "Can only cancel pending transactions")
    db.session.refresh(customer)
    assert customer.credit_balance == 60_000
    assert db.session.get(Transaction, data["transactionId"]).status == TransactionStatus.COMPLETED


def test_cancel_non_topup_or_completed_is_400(api, customer):
    row = ledger.credit(customer.id, 10_000, type=TransactionType.TOP_UP, description="done").transaction
    assert_envelope(api.post(f"/api/wallet/transactions/{row.id}/cancel", as_user=customer), 400,
                    "Can only cancel pending transactions")


def test_cancel_when_midtrans_is_down_keeps_pending(api, customer, midtrans):
    data = _topup(api, customer)
    midtrans.set_faults(down=True)
    r = api.post(f"/api/wallet/transactions/{data['transactionId']}/cancel", as_user=customer)
    assert r.status_code == 503
    assert db.session.get(Transaction, data["transactionId"]).status == TransactionStatus.PENDING


# ------------------------------------------------------------------------------------------ W7
def test_statistics(api, customer):
    ledger.credit(customer.id, 100_000, type=TransactionType.TOP_UP, description="t")
    ledger.debit(customer.id, 40_000, type=TransactionType.SUBSCRIPTION, description="s")
    ledger.open_pending(customer.id, 30_000, type=TransactionType.TOP_UP, description="p", payment_method=None)
    for period in ("day", "week", "month", "year"):
        stats = assert_envelope(api.get(f"/api/wallet/statistics?period={period}", as_user=customer), 200,
                                "Wallet statistics retrieved successfully")["data"]["statistics"]
        assert stats["overview"] == {"totalAmount": 140_000, "totalTransactions": 2, "averageAmount": 70_000}
        assert stats["byType"] == {"TOP_UP": {"totalAmount": 100_000, "count": 1},
                                   "SUBSCRIPTION": {"totalAmount": 40_000, "count": 1}}
        (bucket,) = stats["periodStats"].values()
        assert bucket["count"] == 2 and bucket["byType"]["SUBSCRIPTION"] == {"amount": 40_000, "count": 1}
        assert len(stats["recentActivity"]) == 2
    assert_envelope(api.get("/api/wallet/statistics?period=decade", as_user=customer), 400,
                    '"period" must be one of [day, week, month, year]')


# ------------------------------------------------------------------------------------------ W8
def test_check_credit(api, customer):
    ledger.credit(customer.id, 30_000, type=TransactionType.TOP_UP, description="t")
    ok = assert_envelope(api.post("/api/wallet/check-credit", as_user=customer, json={"amount": 30_000}), 200,
                         "Credit check completed")["data"]["creditCheck"]
    assert ok == {"userId": customer.id, "userName": customer.name, "currentBalance": 30_000,
                  "requiredAmount": 30_000, "hasSufficientCredit": True, "shortfall": 0}
    short = api.post("/api/wallet/check-credit", as_user=customer, json={"amount": 5_000_000}).get_json()["data"]
    assert short["creditCheck"]["hasSufficientCredit"] is False and short["creditCheck"]["shortfall"] == 4_970_000


@pytest.mark.parametrize("body, message", [
    ({"amount": 0}, "Amount must be greater than 0"), ({"amount": -1000}, "Amount must be greater than 0"),
    ({}, "Amount is required"), ({"amount": 1.5}, '"amount" must be an integer'),
    ({"amount": "x"}, '"amount" must be a number'), ({"amount": 10**30}, '"amount" must be a safe number'),
])
def test_check_credit_bad_input(api, customer, body, message):
    assert_envelope(api.post("/api/wallet/check-credit", as_user=customer, json=body), 400, message)
