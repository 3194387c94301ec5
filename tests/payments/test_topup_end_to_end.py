"""The whole top-up path over real HTTP: the app served on a free port, the real `midtransclient` talking to the
Midtrans simulator, the customer paying on the simulator's payment page, and the simulator POSTing its signed
notification back to the running app."""
from __future__ import annotations

import json

import requests

from webapp.accounts.models import User
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionStatus
from webapp.extensions import db

from .fixtures import WEBHOOK


def _customer():
    from tests.conftest import ApiClient

    user = User(name="Live Payer", email="live-payer@example.com", credit_balance=0, total_top_up=0, total_spent=0)
    db.session.add(user)
    db.session.commit()
    return user.id, ApiClient(None, None).token_for(user)


def test_topup_paid_on_the_payment_page_is_credited_by_the_simulators_webhook(app, served_app, midtrans):
    app.config["MIDTRANS_NOTIFICATION_URL"] = served_app.url + WEBHOOK   # X-Override-Notification on Snap
    user_id, token = _customer()
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.post(f"{served_app.url}/api/wallet/topup", json={"amount": 125_000, "paymentMethod": "QRIS"},
                      headers=auth, timeout=10)
    assert r.status_code == 201, r.text
    data = r.json()["data"]["transaction"]
    order = data["transactionId"]
    assert midtrans.transaction(order)["notify_urls"] == [served_app.url + WEBHOOK]

    # The customer pays on the Snap page the redirect URL points at (QRIS is the only method offered).
    page = requests.get(data["redirectUrl"], timeout=10)
    assert page.status_code == 200 and 'value="qris"' in page.text and "bca_va" not in page.text
    paid = requests.post(data["redirectUrl"], data={"action": "pay", "payment_type": "qris"}, timeout=10,
                         allow_redirects=False)
    assert paid.status_code in (200, 302, 303)
    deliveries = midtrans.wait_for_notifications(1, order_id=order, timeout=10)
    assert deliveries[0]["status"] == 200, deliveries
    assert deliveries[0]["body"]["transaction_status"] == "settlement"
    assert json.loads(deliveries[0]["response"]) == {"success": True,
                                                      "message": f"Transaction {order} processed successfully"}

    db.session.expire_all()
    assert db.session.get(User, user_id).credit_balance == 125_000
    row = db.session.get(Transaction, order)
    assert row.status == TransactionStatus.COMPLETED and row.balance_after == 125_000

    # Midtrans re-sends: still one credit.
    midtrans.notify(order, repeat=3)
    assert midtrans.wait_idle(10)
    assert all(e["status"] == 200 for e in midtrans.notifications)
    db.session.expire_all()
    assert db.session.get(User, user_id).credit_balance == 125_000 == ledger.ledger_sum(user_id)

    status = requests.get(f"{served_app.url}/api/wallet/transactions/{order}/status", headers=auth, timeout=10)
    assert status.json()["data"]["transaction"]["status"] == "COMPLETED"
    info = requests.get(f"{served_app.url}/api/wallet/info", headers=auth, timeout=10).json()["data"]["wallet"]
    assert info["creditBalance"] == 125_000 and info["totalTopUp"] == 125_000


def test_simulator_down_top_up_fails_cleanly_over_http(app, served_app, midtrans):
    user_id, token = _customer()
    midtrans.set_faults(down=True)
    r = requests.post(f"{served_app.url}/api/wallet/topup", json={"amount": 50_000, "paymentMethod": "E_WALLET"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 503
    assert r.json()["message"] == "Payment service is temporarily unavailable. Please try again later."
    db.session.expire_all()
    rows = db.session.query(Transaction).filter_by(user_id=user_id).all()
    assert [(row.status, row.payment_reference) for row in rows] == [(TransactionStatus.FAILED, None)]
    assert db.session.query(Transaction).filter_by(status=TransactionStatus.PENDING).count() == 0


def test_signed_webhook_with_bad_signature_posted_by_the_simulator_is_ignored(app, served_app, midtrans):
    user_id, token = _customer()
    r = requests.post(f"{served_app.url}/api/wallet/topup", json={"amount": 30_000, "paymentMethod": "BANK_TRANSFER"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    order = r.json()["data"]["transaction"]["transactionId"]
    midtrans.complete(order, notify_url=served_app.url + WEBHOOK, bad_signature=True)
    (delivery,) = midtrans.wait_for_notifications(1, order_id=order, timeout=10)
    assert delivery["status"] == 200
    assert json.loads(delivery["response"]) == {"success": False, "message": "Notification processed"}
    db.session.expire_all()
    assert db.session.get(User, user_id).credit_balance == 0
    assert db.session.get(Transaction, order).status == TransactionStatus.PENDING
