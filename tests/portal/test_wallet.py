"""The wallet: balance and ledger, top-up through the Midtrans simulator and back, coupons, isolation."""
import re
from urllib.parse import urlsplit

import requests
from sqlalchemy import func, select

from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionType
from webapp.extensions import db

from .conftest import field_error, make_coupon, reload, text


def _topups(user) -> int:
    return db.session.execute(select(func.count()).select_from(Transaction).where(
        Transaction.user_id == user.id, Transaction.type == TransactionType.TOP_UP)).scalar_one()


def _topup_form(portal) -> dict:
    html, token = portal.page_and_token("/portal/wallet")
    submission = re.search(r'name="submission" type="hidden" value="([^"]+)"|'
                           r'id="submission" name="submission" type="hidden" value="([^"]+)"', html)
    if submission is None:
        submission = re.search(r'<input[^>]*name="submission"[^>]*value="([^"]+)"', html)
    return {"csrf_token": token, "submission": next(g for g in submission.groups() if g)}


def test_wallet_shows_balance_and_a_paginated_ledger(signed_in, customer):
    for n in range(25):
        ledger.credit(customer.id, 1_000 + n, type=TransactionType.REFUND, description=f"Refund number {n}")
    page = text(signed_in.get("/portal/wallet"))
    assert "Rp 25,300" in page  # 25 x 1,000 + 0+1+...+24
    assert "Refund number 24" in page and "Refund number 0" not in page
    second = text(signed_in.get("/portal/wallet?page=2"))
    assert "Refund number 0" in second and "Refund number 24" not in second
    assert 'id="nav-balance">Balance: Rp 25,300' in second


def test_topup_goes_to_midtrans_and_the_finish_page_shows_the_credit(signed_in, client, customer, midtrans):
    form = _topup_form(signed_in)
    response = client.post("/portal/wallet/topup", data={**form, "amount": "50000",
                                                         "payment_method": "BANK_TRANSFER"})
    assert response.status_code == 303 and response.location.startswith(midtrans.url + "/snap/")
    paid = requests.post(response.location, data={"action": "pay"}, allow_redirects=False, timeout=5)
    assert paid.status_code == 303
    finish = urlsplit(paid.headers["Location"])
    assert finish.path == "/portal/wallet/topup/finish"
    page = client.get(f"{finish.path}?{finish.query}")
    assert page.status_code == 200
    assert 'id="transaction-status">COMPLETED' in page.get_data(as_text=True)
    assert reload(customer).credit_balance == 50_000
    # Reloading the finish page credits nothing more.
    client.get(f"{finish.path}?{finish.query}")
    assert reload(customer).credit_balance == 50_000


def test_a_topup_form_posted_twice_opens_one_order(signed_in, client, customer, midtrans):
    form = {**_topup_form(signed_in), "amount": "20000", "payment_method": "QRIS"}
    first = client.post("/portal/wallet/topup", data=form)
    second = client.post("/portal/wallet/topup", data=form)
    assert first.status_code == second.status_code == 303
    assert first.location == second.location
    assert _topups(customer) == 1 and len(midtrans.transactions) == 1
    # A new form (new page load) is a new top-up.
    third = client.post("/portal/wallet/topup", data={**_topup_form(signed_in), "amount": "20000",
                                                       "payment_method": "QRIS"})
    assert third.status_code == 303 and third.location != first.location
    assert _topups(customer) == 2


def test_invalid_topups_show_field_errors_and_change_nothing(signed_in, client, customer, midtrans):
    form = _topup_form(signed_in)
    response = client.post("/portal/wallet/topup", data={**form, "amount": "5000", "payment_method": "QRIS"})
    assert response.status_code == 400
    assert field_error(response, "amount") == "Minimum top-up amount is Rp 10,000"
    response = client.post("/portal/wallet/topup", data={**form, "amount": "lots", "payment_method": "QRIS"})
    assert response.status_code == 400 and field_error(response, "amount")
    response = client.post("/portal/wallet/topup", data={**form, "amount": "20000", "payment_method": "CASH"})
    assert response.status_code == 400 and field_error(response, "payment_method") == "Not a valid choice."
    assert _topups(customer) == 0 and midtrans.transactions == []


def test_topup_and_coupon_forms_need_csrf(signed_in, client, customer, midtrans):
    make_coupon("FREE10K", credit_amount=10_000)
    assert client.post("/portal/wallet/topup", data={"amount": "50000", "payment_method": "QRIS"}).status_code == 400
    assert client.post("/portal/wallet/coupon", data={"code": "FREE10K"}).status_code == 400
    assert _topups(customer) == 0 and reload(customer).credit_balance == 0


def test_redeem_a_credit_coupon_once(signed_in, customer):
    make_coupon("WELCOME25", credit_amount=25_000)
    response = signed_in.post("/portal/wallet/coupon", {"code": " welcome25 "}, page="/portal/wallet")
    assert response.status_code == 303
    assert reload(customer).credit_balance == 25_000
    again = signed_in.post("/portal/wallet/coupon", {"code": "WELCOME25"}, page="/portal/wallet")
    assert again.status_code == 400
    assert "already" in field_error(again, "code").lower()
    unknown = signed_in.post("/portal/wallet/coupon", {"code": "NOPE"}, page="/portal/wallet")
    assert unknown.status_code == 400 and field_error(unknown, "code")
    empty = signed_in.post("/portal/wallet/coupon", {"code": ""}, page="/portal/wallet")
    assert field_error(empty, "code") == "Please enter a coupon code"
    assert reload(customer).credit_balance == 25_000


def test_another_customers_transaction_is_404(signed_in, make, other_customer):
    row = ledger.credit(other_customer.id, 5_000, type=TransactionType.REFUND, description="Theirs").transaction
    for url in (f"/portal/wallet/transactions/{row.id}", f"/portal/wallet/transactions/{row.custom_id}",
                f"/portal/wallet/topup/finish?order_id={row.id}", "/portal/wallet/topup/finish"):
        assert signed_in.get(url).status_code == 404, url
    response = signed_in.post(f"/portal/wallet/transactions/{row.id}/cancel", {})
    assert response.status_code == 404


def test_a_pending_topup_can_be_cancelled(signed_in, client, customer, midtrans):
    form = _topup_form(signed_in)
    client.post("/portal/wallet/topup", data={**form, "amount": "30000", "payment_method": "E_WALLET"})
    row = db.session.execute(select(Transaction).where(Transaction.user_id == customer.id)).scalar_one()
    page = signed_in.get(f"/portal/wallet/transactions/{row.id}")
    assert "Cancel this top-up" in page.get_data(as_text=True)
    response = signed_in.post(f"/portal/wallet/transactions/{row.id}/cancel", {})
    assert response.status_code == 303
    assert reload(row).status.value == "CANCELLED"
