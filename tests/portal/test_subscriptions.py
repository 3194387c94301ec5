"""Subscribing (coupon preview before confirming, one effect per double submit) and managing subscriptions."""
import re

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.subscriptions.models import Subscription

from .conftest import discount_coupon, field_error, reload, text


def _subs(user) -> int:
    return db.session.execute(select(func.count()).select_from(Subscription)
                              .where(Subscription.user_id == user.id)).scalar_one()


def _url(plan) -> str:
    return f"/portal/catalog/{plan.service.slug}/subscribe/{plan.id}"


def _amounts(response) -> tuple[str, str, str]:
    html = response.get_data(as_text=True)
    return tuple(re.search(rf'id="amount-{k}">(.*?)</t[dh]>', html).group(1).replace("&minus;", "-")
                 for k in ("original", "discount", "final"))


def test_checkout_shows_price_discount_and_final_before_anything_is_charged(signed_in, customer, make):
    customer.credit_balance = 200_000
    plan = make.plan(monthly_price=100_000)
    discount_coupon("SAVE20", percent=20)
    page = signed_in.get(_url(plan))
    assert page.status_code == 200 and _amounts(page) == ("Rp 100,000", "-Rp 0", "Rp 100,000")
    preview = signed_in.post(_url(plan), {"coupon_code": "save20", "action": "preview"}, page=_url(plan))
    assert preview.status_code == 200 and _amounts(preview) == ("Rp 100,000", "-Rp 20,000", "Rp 80,000")
    assert 'name="previewed" type="hidden" value="SAVE20"' in preview.get_data(as_text=True)
    # "Confirm" with a code whose amounts were not shown yet only shows them.
    unseen = signed_in.post(_url(plan), {"coupon_code": "SAVE20", "action": "confirm"}, page=_url(plan))
    assert unseen.status_code == 200 and _amounts(unseen)[2] == "Rp 80,000"
    assert _subs(customer) == 0 and reload(customer).credit_balance == 200_000


def test_subscribe_with_a_coupon_posted_twice_charges_and_takes_quota_once(signed_in, customer, make):
    customer.credit_balance = 200_000
    plan = make.plan(monthly_price=100_000, total_quota=5, used_quota=0)
    discount_coupon("SAVE20", percent=20)
    data = {"coupon_code": "SAVE20", "previewed": "SAVE20", "action": "confirm"}
    first = signed_in.post(_url(plan), data, page=_url(plan))
    assert first.status_code == 303 and first.location.startswith("/portal/subscriptions/")
    second = signed_in.post(_url(plan), data, page=_url(plan))
    assert second.status_code in (400, 409)
    assert "already has an active subscription" in text(second) or "already" in text(second)
    assert _subs(customer) == 1
    assert reload(customer).credit_balance == 120_000
    assert reload(plan).used_quota == 1
    detail = signed_in.get(first.location)
    assert detail.status_code == 200 and 'id="subscription-status">ACTIVE' in detail.get_data(as_text=True)


def test_checkout_refusals_are_shown_and_change_nothing(signed_in, customer, make):
    plan = make.plan(monthly_price=100_000)
    poor = signed_in.post(_url(plan), {"action": "confirm"}, page=_url(plan))
    assert poor.status_code == 400 and "Insufficient credit balance" in text(poor)
    customer.credit_balance = 500_000
    db.session.flush()
    bad = signed_in.post(_url(plan), {"coupon_code": "NOSUCH", "action": "preview"}, page=_url(plan))
    assert bad.status_code == 400 and field_error(bad, "coupon_code")
    long = signed_in.post(_url(plan), {"coupon_code": "X" * 51, "action": "confirm"}, page=_url(plan))
    assert long.status_code == 400 and field_error(long, "coupon_code")
    assert signed_in.client.post(_url(plan), data={"action": "confirm"}).status_code == 400  # no CSRF
    assert _subs(customer) == 0 and reload(customer).credit_balance == 500_000 and reload(plan).used_quota == 0


def test_upgrade_shows_the_prorated_price_first_then_charges_it(signed_in, customer, make):
    customer.credit_balance = 1_000_000
    service = make.service()
    basic = make.plan(service=service, plan_type="BASIC", monthly_price=100_000)
    pro = make.plan(service=service, plan_type="PRO", monthly_price=200_000)
    subscription = signed_in.post(_url(basic), {"action": "confirm"}, page=_url(basic)).location.rsplit("/", 1)[1]
    balance = reload(customer).credit_balance
    page = signed_in.get(f"/portal/subscriptions/{subscription}/upgrade")
    assert page.status_code == 200
    cost = re.search(rf'id="option-{pro.id}">.*?class="cost">Rp ([\d,]+)<', page.get_data(as_text=True), re.S).group(1)
    cost = int(cost.replace(",", ""))
    assert 90_000 <= cost <= 100_000  # about one month of the 100,000 difference
    response = signed_in.post(f"/portal/subscriptions/{subscription}/upgrade", {"plan_id": pro.id},
                              page=f"/portal/subscriptions/{subscription}/upgrade")
    assert response.status_code == 303
    assert reload(customer).credit_balance == balance - cost
    assert db.session.get(Subscription, subscription).plan_id == pro.id
    refused = signed_in.post(f"/portal/subscriptions/{subscription}/upgrade", {"plan_id": basic.id},
                             page=f"/portal/subscriptions/{subscription}")
    assert refused.status_code == 400 and reload(customer).credit_balance == balance - cost


def test_auto_renew_toggle_and_cancel_with_confirmation(signed_in, customer, make):
    customer.credit_balance = 100_000
    plan = make.plan(monthly_price=50_000, total_quota=3)
    sub_id = signed_in.post(_url(plan), {"action": "confirm"}, page=_url(plan)).location.rsplit("/", 1)[1]
    base = f"/portal/subscriptions/{sub_id}"
    assert signed_in.post(f"{base}/auto-renew", {"enabled": "0"}, page=base).status_code == 303
    assert db.session.get(Subscription, sub_id).auto_renew is False
    assert 'id="auto-renew">Off' in signed_in.get(base).get_data(as_text=True)
    assert signed_in.post(f"{base}/auto-renew", {"enabled": "maybe"}, page=base).status_code == 400
    confirm = signed_in.get(f"{base}/cancel")
    assert confirm.status_code == 200 and "Yes, cancel my subscription" in confirm.get_data(as_text=True)
    assert db.session.get(Subscription, sub_id).status.value == "ACTIVE"  # the GET changed nothing
    assert signed_in.client.post(f"{base}/cancel", data={}).status_code == 400  # no CSRF
    long = signed_in.post(f"{base}/cancel", {"reason": "x" * 501}, page=f"{base}/cancel")
    assert long.status_code == 400 and field_error(long, "reason")
    assert db.session.get(Subscription, sub_id).status.value == "ACTIVE"
    done = signed_in.post(f"{base}/cancel", {"reason": "Too expensive"}, page=f"{base}/cancel")
    assert done.status_code == 303
    db.session.expire_all()
    assert db.session.get(Subscription, sub_id).status.value == "CANCELLED"
    assert reload(plan).used_quota == 0
    again = signed_in.post(f"{base}/cancel", {}, page=base)
    assert again.status_code == 400 and "already cancelled" in text(again)


def test_pages_render_and_another_customers_subscription_is_404(signed_in, customer, other_customer, make):
    mine = make.subscription(user=customer, plan=make.plan())
    theirs = make.subscription(user=other_customer, plan=make.plan())
    listing = signed_in.get("/portal/subscriptions")
    assert listing.status_code == 200 and mine.id in listing.get_data(as_text=True)
    assert theirs.id not in listing.get_data(as_text=True)
    assert signed_in.get(f"/portal/subscriptions/{mine.id}").status_code == 200
    assert signed_in.get(f"/portal/subscriptions/{mine.id}/upgrade").status_code == 200
    for url in (f"/portal/subscriptions/{theirs.id}", f"/portal/subscriptions/{theirs.id}/upgrade",
                f"/portal/subscriptions/{theirs.id}/cancel", "/portal/subscriptions/nope"):
        assert signed_in.get(url).status_code == 404, url
    for url, data in ((f"/portal/subscriptions/{theirs.id}/cancel", {}),
                      (f"/portal/subscriptions/{theirs.id}/auto-renew", {"enabled": "0"}),
                      (f"/portal/subscriptions/{theirs.id}/upgrade", {"plan_id": theirs.plan_id})):
        assert signed_in.post(url, data).status_code == 404, url
    db.session.expire_all()
    assert db.session.get(Subscription, theirs.id).status.value == "ACTIVE"
    assert db.session.get(Subscription, theirs.id).auto_renew is True
