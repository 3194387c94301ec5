"""The payment provider (the Midtrans simulator, behind a proxy) down or slow: `POST /api/wallet/topup` answers a
clean 503 envelope and leaves no PENDING top-up without a Snap token (the row opened before the call is marked
FAILED, with the reason); the webhook still verifies signatures (it needs no outbound call to refuse a bad one)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from tests.conftest import assert_envelope
from tests.payments.fixtures import WEBHOOK, signed
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.extensions import db

from .proxy import TcpProxy

UNAVAILABLE = "Payment service is temporarily unavailable. Please try again later."


@pytest.fixture
def provider(app, midtrans, monkeypatch):
    host, port = midtrans.url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port)).start()
    monkeypatch.setitem(app.config, "MIDTRANS_API_BASE_URL", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setitem(app.config, "MIDTRANS_TIMEOUT", 1.0)
    yield proxy
    proxy.stop()


def _top_ups(user):
    db.session.expire_all()
    return db.session.execute(select(Transaction).where(Transaction.user_id == user.id,
                                                        Transaction.type == TransactionType.TOP_UP)).scalars().all()


@pytest.mark.parametrize("fault", ["refused", "hung", "slow"])
def test_top_up_with_the_provider_down_is_a_clean_503_and_leaves_no_pending_row(api, customer, provider, fault):
    if fault == "refused":
        provider.cut()
    elif fault == "hung":
        provider.cut("blackhole")
    else:
        provider.delay(1.5)  # longer than MIDTRANS_TIMEOUT
    started = time.monotonic()
    r = api.post("/api/wallet/topup", as_user=customer, json={"amount": 50_000, "paymentMethod": "QRIS"})
    assert_envelope(r, 503, UNAVAILABLE)
    assert time.monotonic() - started < 5
    rows = _top_ups(customer)
    assert [row.status for row in rows] == [TransactionStatus.FAILED]
    assert rows[0].payment_reference is None and rows[0].metadata_["provider_error"] == "PaymentProviderUnavailable"
    assert db.session.get(type(customer), customer.id).credit_balance == 0
    provider.restore()
    r = api.post("/api/wallet/topup", as_user=customer, json={"amount": 50_000, "paymentMethod": "QRIS"})
    assert_envelope(r, 201)
    pending = [row for row in _top_ups(customer) if row.status is TransactionStatus.PENDING]
    assert len(pending) == 1 and pending[0].payment_reference  # every PENDING top-up has its Snap token


def test_the_webhook_still_verifies_signatures_while_the_provider_is_down(api, customer, midtrans, provider):
    r = api.post("/api/wallet/topup", as_user=customer, json={"amount": 80_000, "paymentMethod": "BANK_TRANSFER"})
    order = assert_envelope(r, 201)["data"]["transaction"]["transactionId"]
    midtrans.complete(order, notify=False)
    body = signed(midtrans, order)
    provider.cut()
    forged = {**body, "signature_key": "0" * 128}
    r = api.post(WEBHOOK, json=forged)  # refused on the signature alone (the original's reply shape)
    assert (r.status_code, r.get_json()) == (200, {"success": False, "message": "Notification processed"})
    r = api.post(WEBHOOK, json=body)  # genuine, but the status re-check cannot reach the provider: not credited yet
    assert (r.status_code, r.get_json()) == (503, {"success": False, "message": UNAVAILABLE})  # Midtrans retries
    db.session.expire_all()
    assert db.session.get(Transaction, order).status is TransactionStatus.PENDING
    assert db.session.get(type(customer), customer.id).credit_balance == 0
    provider.restore()
    r = api.post(WEBHOOK, json=body)  # Midtrans retries the notification: now it settles, once
    assert r.status_code == 200 and r.get_json()["success"] is True
    db.session.expire_all()
    assert db.session.get(Transaction, order).status is TransactionStatus.COMPLETED
    assert db.session.get(type(customer), customer.id).credit_balance == 80_000
