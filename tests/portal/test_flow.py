"""A customer's whole path through the portal, as a browser would walk it."""
import re
from urllib.parse import urlsplit

import requests
from sqlalchemy import func, select

from webapp.accounts.models import User
from webapp.billing.models import Transaction, TransactionType
from webapp.extensions import db
from webapp.subscriptions.models import Subscription

from .conftest import make_coupon, reload


def test_register_login_topup_coupon_subscribe_twice_cancel(portal, client, make, midtrans):
    plan = make.plan(monthly_price=60_000, total_quota=4, used_quota=1)
    make_coupon("BONUS15", credit_amount=15_000)

    # register, sign out, sign in again
    assert portal.post("/portal/register", {"name": "Flow Customer", "email": "flow@example.com",
                                            "password": "secret12", "confirm": "secret12"},
                       page="/portal/register").status_code == 302
    assert portal.post("/portal/logout", {}).status_code == 302
    assert portal.login("flow@example.com", password="secret12").status_code == 302
    user = db.session.execute(select(User).where(User.email == "flow@example.com")).scalar_one()

    # top up 50,000 through the Midtrans payment page, back to the finish page
    html, token = portal.page_and_token("/portal/wallet")
    submission = re.search(r'<input[^>]*name="submission"[^>]*value="([^"]+)"', html).group(1)
    to_midtrans = client.post("/portal/wallet/topup", data={"csrf_token": token, "submission": submission,
                                                             "amount": "50000", "payment_method": "E_WALLET"})
    assert to_midtrans.status_code == 303
    back = requests.post(to_midtrans.location, data={"action": "pay"}, allow_redirects=False, timeout=5)
    finish = urlsplit(back.headers["Location"])
    assert 'id="transaction-status">COMPLETED' in client.get(f"{finish.path}?{finish.query}").get_data(as_text=True)
    assert reload(user).credit_balance == 50_000

    # redeem a coupon
    assert portal.post("/portal/wallet/coupon", {"code": "BONUS15"}, page="/portal/wallet").status_code == 303
    assert reload(user).credit_balance == 65_000
    assert 'id="nav-balance">Balance: Rp 65,000' in client.get("/portal/wallet").get_data(as_text=True)

    # subscribe; the confirm is posted twice (double click): one charge, one quota slot
    url = f"/portal/catalog/{plan.service.slug}/subscribe/{plan.id}"
    first = portal.post(url, {"action": "confirm"}, page=url)
    second = portal.post(url, {"action": "confirm"}, page=url)
    assert first.status_code == 303 and second.status_code == 400
    assert reload(user).credit_balance == 5_000
    assert reload(plan).used_quota == 2
    assert db.session.execute(select(func.count()).select_from(Transaction).where(
        Transaction.user_id == user.id, Transaction.type == TransactionType.SUBSCRIPTION)).scalar_one() == 1

    # cancel through the confirmation page
    sub_url = first.location
    assert client.get(f"{sub_url}/cancel").status_code == 200
    assert portal.post(f"{sub_url}/cancel", {}, page=f"{sub_url}/cancel").status_code == 303
    db.session.expire_all()
    subscription = db.session.execute(select(Subscription).where(Subscription.user_id == user.id)).scalar_one()
    assert subscription.status.value == "CANCELLED"
    assert reload(plan).used_quota == 1
    assert 'id="subscription-status">CANCELLED' in client.get(sub_url).get_data(as_text=True)


def test_every_page_renders_for_a_signed_in_customer(signed_in, customer, make):
    plan = make.plan()
    sub = make.subscription(user=customer, plan=plan)
    for url in ("/portal/", "/portal/catalog", f"/portal/catalog/{plan.service.slug}",
                f"/portal/catalog/{plan.service.slug}/subscribe/{plan.id}", "/portal/wallet",
                "/portal/subscriptions", f"/portal/subscriptions/{sub.id}", f"/portal/subscriptions/{sub.id}/upgrade",
                f"/portal/subscriptions/{sub.id}/cancel", "/portal/instances", "/portal/tickets",
                "/portal/tickets/new"):
        response = signed_in.get(url, follow_redirects=True)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert "Balance: Rp 0" in html, url
        assert "http://" not in html.split("<main>")[0] and "https://" not in html.split("<main>")[0]  # no CDN
