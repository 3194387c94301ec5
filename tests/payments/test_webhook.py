"""W12 Midtrans notifications: signature, re-fetch, §3.2 state machine, exactly-once credit, amount checks, replies."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from webapp.audit.models import AuditEntry
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.extensions import db
from webapp.payments import midtrans as gateway_module
from webapp.payments import services

from .fixtures import SERVER_KEY, WEBHOOK, signed

JSON = {"Content-Type": "application/json"}


def _pending(api, user, amount=100_000, method="BANK_TRANSFER") -> str:
    r = api.post("/api/wallet/topup", as_user=user, json={"amount": amount, "paymentMethod": method})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["data"]["transaction"]["transactionId"]


def _post(api, body):
    return api.post(WEBHOOK, json=body)


def _state(user, order_id):
    db.session.expire_all()
    row = db.session.get(Transaction, order_id)
    return row.status, db.session.get(type(user), user.id).credit_balance


def test_signature_helper_is_sha512_over_the_posted_strings():
    body = {"order_id": "o1", "status_code": "200", "gross_amount": "10000.00"}
    body["signature_key"] = gateway_module.notification_signature("o1", "200", "10000.00", "k")
    assert gateway_module.verify_notification_signature(body, "k")
    assert not gateway_module.verify_notification_signature(body, "other-key")
    assert not gateway_module.verify_notification_signature({**body, "gross_amount": "10000"}, "k")
    assert not gateway_module.verify_notification_signature({**body, "signature_key": None}, "k")
    assert not gateway_module.verify_notification_signature(body, None)


def test_settlement_credits_once_and_replays_change_nothing(api, customer, midtrans):
    order = _pending(api, customer)
    midtrans.complete(order, notify=False)
    body = signed(midtrans, order)
    r = _post(api, body)
    assert r.status_code == 200
    assert r.get_json() == {"success": True, "message": f"Transaction {order} processed successfully"}
    assert _state(customer, order) == (TransactionStatus.COMPLETED, 100_000)
    row = db.session.get(Transaction, order)
    assert (row.balance_before, row.balance_after) == (0, 100_000)          # fix 8: real snapshot
    assert row.metadata_["midtrans_status"] == "settlement" and row.metadata_["midtrans_token"]  # merged, not replaced
    assert row.idempotency_key == f"midtrans:{body['transaction_id']}"
    for _ in range(3):
        assert _post(api, body).get_json()["success"] is True
    assert _state(customer, order) == (TransactionStatus.COMPLETED, 100_000)
    db.session.refresh(customer)
    assert customer.total_top_up == 100_000 and ledger.ledger_sum(customer.id) == 100_000


def test_forged_or_missing_signature_changes_nothing(api, customer, midtrans):
    order = _pending(api, customer)
    midtrans.complete(order, notify=False)
    body = signed(midtrans, order)
    for bad in ({**body, "signature_key": "0" * 128}, {k: v for k, v in body.items() if k != "signature_key"},
                {**body, "signature_key": None}, {**body, "gross_amount": "1000000.00"},
                {**body, "status_code": "201"}):
        r = _post(api, bad)
        assert (r.status_code, r.get_json()) == (200, {"success": False, "message": "Notification processed"})
    assert _state(customer, order) == (TransactionStatus.PENDING, 0)


def test_tampered_amount_from_the_simulator_is_refused(api, customer, midtrans, app):
    order = _pending(api, customer, 50_000)
    midtrans.complete(order, notify=False)
    body = signed(midtrans, order, gross_amount="5000000.00")       # changed after signing
    assert _post(api, body).get_json()["success"] is False
    assert _state(customer, order) == (TransactionStatus.PENDING, 0)


def test_a_different_paid_amount_fails_the_row_without_credit(api, customer, midtrans):
    order = _pending(api, customer, 50_000)
    midtrans.complete(order, notify=False, paid_amount=10_000)      # Midtrans really reports 10,000
    r = _post(api, signed(midtrans, order))
    assert r.get_json()["success"] is True
    assert _state(customer, order) == (TransactionStatus.FAILED, 0)
    row = db.session.get(Transaction, order)
    assert row.metadata_["amount_mismatch"]["expected"] == 50_000
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "payments.amount_mismatch")).scalar_one()


def test_posted_status_is_not_trusted_the_fetched_one_is(api, customer, midtrans):
    order = _pending(api, customer)
    # A validly signed "settlement" body while Midtrans says the order is still pending (stale/replayed state).
    body = signed(midtrans, order)
    forged = {**body, "transaction_status": "settlement"}
    assert _post(api, forged).get_json()["success"] is True
    assert _state(customer, order) == (TransactionStatus.PENDING, 0)


@pytest.mark.parametrize("action, expected", [("deny", TransactionStatus.FAILED), ("cancel", TransactionStatus.FAILED),
                                              ("expire", TransactionStatus.FAILED),
                                              ("pending", TransactionStatus.PENDING)])
def test_failure_statuses(api, customer, midtrans, action, expected):
    order = _pending(api, customer)
    midtrans.apply(order, action, notify=False)
    assert _post(api, signed(midtrans, order)).status_code == 200
    assert _state(customer, order) == (expected, 0)


def test_capture_challenge_waits_and_accept_credits(api, customer, midtrans):
    order = _pending(api, customer, 70_000, "CREDIT_CARD")
    midtrans.complete(order, notify=False, payment_type="credit_card", fraud_status="challenge")
    _post(api, signed(midtrans, order))
    assert _state(customer, order) == (TransactionStatus.PENDING, 0)
    midtrans.complete(order, notify=False, payment_type="credit_card", fraud_status="accept")
    _post(api, signed(midtrans, order))
    assert _state(customer, order) == (TransactionStatus.COMPLETED, 70_000)


def test_settlement_after_local_failure_or_cancel_is_still_credited(api, customer, midtrans):
    order = _pending(api, customer, 40_000)
    midtrans.expire(order, notify=False)
    _post(api, signed(midtrans, order))
    assert _state(customer, order) == (TransactionStatus.FAILED, 0)
    midtrans.complete(order, notify=False)                           # money arrived after all
    _post(api, signed(midtrans, order))
    assert _state(customer, order) == (TransactionStatus.COMPLETED, 40_000)


def test_completed_is_never_downgraded(api, customer, midtrans):
    order = _pending(api, customer, 40_000)
    midtrans.complete(order, notify=False)
    _post(api, signed(midtrans, order))
    for late in ("pending", "expire", "deny"):
        midtrans.apply(order, late, notify=False)
        assert _post(api, signed(midtrans, order)).status_code == 200
        assert _state(customer, order) == (TransactionStatus.COMPLETED, 40_000)


def test_refund_of_a_completed_topup_debits_once_and_flags_review(api, customer, midtrans):
    order = _pending(api, customer, 90_000)
    midtrans.complete(order, notify=False)
    _post(api, signed(midtrans, order))
    ledger.debit(customer.id, 30_000, type=TransactionType.SUBSCRIPTION, description="spent some")
    db.session.commit()
    midtrans.refund(order, notify=False)
    body = signed(midtrans, order)
    assert _post(api, body).get_json()["success"] is True
    assert _post(api, body).get_json()["success"] is True            # replay: once
    status, balance = _state(customer, order)
    assert status == TransactionStatus.COMPLETED and balance == 0    # 60,000 left, all of it taken back
    row = db.session.get(Transaction, order)
    reversal = row.metadata_["midtrans_reversal"]
    assert (reversal["amount"], reversal["debited"], reversal["shortfall"], reversal["needs_review"]) == (
        90_000, 60_000, 30_000, True)
    debits = db.session.execute(select(Transaction).where(Transaction.type == TransactionType.ADMIN_ADJUSTMENT)
                                ).scalars().all()
    assert [d.amount for d in debits] == [60_000]
    assert ledger.ledger_sum(customer.id) == 0
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "payments.midtrans_reversal")).scalar_one()


def test_unknown_order_and_non_topup_rows_are_ignored(api, customer, midtrans):
    midtrans.create("c" + "q" * 24, 10_000)
    midtrans.complete("c" + "q" * 24, notify=False)
    assert _post(api, signed(midtrans, "c" + "q" * 24)).get_json() == {"success": False,
                                                                       "message": "Notification processed"}
    admin_row = ledger.credit(customer.id, 10_000, type=TransactionType.ADMIN_ADJUSTMENT, description="x").transaction
    midtrans.create(admin_row.id, 10_000)
    midtrans.complete(admin_row.id, notify=False)
    assert _post(api, signed(midtrans, admin_row.id)).get_json()["success"] is False
    db.session.refresh(customer)
    assert customer.credit_balance == 10_000


def test_midtrans_unreachable_answers_503_so_it_retries(api, customer, midtrans):
    order = _pending(api, customer)
    midtrans.complete(order, notify=False)
    body = signed(midtrans, order)
    midtrans.set_faults(down=True)
    r = _post(api, body)
    assert r.status_code == 503 and r.get_json()["success"] is False
    assert _state(customer, order) == (TransactionStatus.PENDING, 0)
    midtrans.set_faults(down=False)
    assert _post(api, body).status_code == 200
    assert _state(customer, order) == (TransactionStatus.COMPLETED, 100_000)


def test_null_optional_fields_are_accepted(api, customer, midtrans):
    order = _pending(api, customer)
    body = {**signed(midtrans, order), "fraud_status": None, "payment_type": None}
    r = _post(api, body)
    assert r.status_code == 200 and r.get_json()["success"] is True


@pytest.mark.parametrize("body, message", [
    ({"transaction_status": "settlement"}, '"order_id" is required'),
    ({"order_id": "abc"}, '"transaction_status" is required'),
    ({"order_id": 12, "transaction_status": "settlement"}, '"order_id" must be a string'),
    ({"order_id": "abc", "transaction_status": "settlement", "fraud_status": 5}, '"fraud_status" must be a string'),
])
def test_invalid_bodies_get_the_standard_400(api, body, message):
    r = _post(api, body)
    assert r.status_code == 400 and r.get_json()["message"] == message and r.get_json()["statusCode"] == 400


def test_malformed_json_is_400(api):
    r = api.post(WEBHOOK, data="{not json", headers=JSON)
    assert r.status_code == 400 and r.get_json()["message"] == "Invalid JSON body"


def test_one_midtrans_payment_cannot_settle_two_orders(api, customer, midtrans):
    first, second = _pending(api, customer, 20_000), _pending(api, customer, 20_000)
    midtrans.complete(first, notify=False)
    status = midtrans.status(first)
    assert services.apply_provider_status(first, status, source="test") == "credited"
    db.session.commit()
    stolen = {**status, "order_id": second}                          # same Midtrans transaction id, other order
    assert services.apply_provider_status(second, stolen, source="test") == "ignored"
    db.session.commit()
    assert db.session.get(Transaction, second).status == TransactionStatus.PENDING


# ------------------------------------------------------------------------------------------ concurrency
def test_same_webhook_delivered_ten_times_concurrently_credits_once(app, committing_db, midtrans):
    from webapp.accounts.models import User

    user = User(name="Payer", email="payer-webhook@example.com", credit_balance=0, total_top_up=0, total_spent=0)
    db.session.add(user)
    db.session.commit()
    user_id = user.id
    order = services.start_top_up(user_id, 250_000, "QRIS").transaction.id
    midtrans.complete(order, notify=False)
    body = signed(midtrans, order)
    replies, barrier = [], threading.Barrier(10)

    def deliver():
        client = app.test_client()
        barrier.wait()
        r = client.post(WEBHOOK, json=body)
        replies.append((r.status_code, r.get_json()["success"]))

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert replies == [(200, True)] * 10
    db.session.expire_all()
    assert db.session.get(User, user_id).credit_balance == 250_000
    assert ledger.ledger_sum(user_id) == 250_000
    assert db.session.get(Transaction, order).status == TransactionStatus.COMPLETED


def test_webhook_and_status_polling_racing_credit_once(app, committing_db, midtrans):
    from webapp.accounts.models import User

    from tests.conftest import ApiClient

    user = User(name="Racer", email="racer-webhook@example.com", credit_balance=0, total_top_up=0, total_spent=0)
    db.session.add(user)
    db.session.commit()
    user_id = user.id
    order = services.start_top_up(user_id, 120_000, "E_WALLET").transaction.id
    midtrans.complete(order, notify=False)
    body = signed(midtrans, order)
    token = ApiClient(None, None).token_for(user)
    barrier = threading.Barrier(8)
    codes = []

    def hook():
        client = app.test_client()
        barrier.wait()
        codes.append(client.post(WEBHOOK, json=body).status_code)

    def poll():
        client = app.test_client()
        barrier.wait()
        codes.append(client.get(f"/api/wallet/transactions/{order}/status",
                                headers={"Authorization": f"Bearer {token}"}).status_code)

    threads = [threading.Thread(target=hook if i % 2 else poll) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 8
    db.session.expire_all()
    assert db.session.get(User, user_id).credit_balance == 120_000 == ledger.ledger_sum(user_id)


def test_server_key_comes_from_settings(app):
    assert SERVER_KEY and app.config.get("MIDTRANS_SERVER_KEY") in (None, "")


def test_partial_refunds_then_full_refund_take_back_the_top_up_once(customer):
    """Midtrans reports the cumulative refunded amount: each notification debits only the difference."""
    from sqlalchemy import select

    from webapp.billing import ledger as ledger_module
    from webapp.billing.models import Transaction, TransactionType
    from webapp.extensions import db
    from webapp.payments import services as payment_services

    ledger_module.credit(customer.id, 500_000, type=TransactionType.ADMIN_ADJUSTMENT, description="other money")
    row = ledger_module.open_pending(customer.id, 100_000, type=TransactionType.TOP_UP, description="t",
                                     payment_method="MIDTRANS_QRIS")
    settled = {"order_id": row.id, "transaction_status": "settlement", "gross_amount": "100000.00",
               "currency": "IDR", "transaction_id": "mt-reversal-1"}
    assert payment_services.apply_provider_status(row.id, settled, source="webhook") == "credited"

    def reverse(status, amount):
        return payment_services.apply_provider_status(
            row.id, {"order_id": row.id, "transaction_status": status, "refund_amount": amount}, source="webhook")

    assert reverse("partial_refund", "30000.00") == "reversed"
    assert reverse("partial_refund", "30000.00") == "already_reversed"  # the same notification again
    assert reverse("partial_refund", "45000.00") == "reversed"  # cumulative: 15,000 more
    assert reverse("refund", "100000.00") == "reversed"  # the rest: 55,000
    assert reverse("refund", "100000.00") == "already_reversed"
    debits = db.session.execute(select(Transaction.amount).where(
        Transaction.type == TransactionType.ADMIN_ADJUSTMENT,
        Transaction.balance_after < Transaction.balance_before)).scalars().all()
    assert sorted(debits) == [15_000, 30_000, 55_000]
    db.session.refresh(customer)
    assert customer.credit_balance == 500_000 == ledger_module.ledger_sum(customer.id)
