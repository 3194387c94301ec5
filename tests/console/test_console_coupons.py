"""Coupons in the console: list with uses, search and filters, create/edit/deactivate through the coupon service."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.audit.models import AuditEntry
from webapp.billing import coupons as coupon_service
from webapp.billing.coupon_models import Coupon, CouponStatus, CouponType
from webapp.extensions import db

from ..billing.test_coupons import discount_coupon, make_coupon
from .conftest import flashed_text, reload


def coupon_form(**overrides) -> dict:
    data = {"code": " spring25 ", "name": "Spring", "description": "", "type": "CREDIT_TOPUP",
            "credit_amount": "25000", "discount_type": "", "discount_percent": "", "max_uses": "50",
            "service_id": "", "plan_type": "", "valid_from": "", "valid_until": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _coupon(code):
    db.session.expire_all()
    return db.session.execute(select(Coupon).where(Coupon.code == code)).scalar_one_or_none()


def test_list_shows_uses_and_searches_and_filters(signed_in, make):
    user = make.user()
    make_coupon("WELCOME20K", name="Hello there", max_uses=5)
    discount_coupon("SAVE20", percent=20, status=CouponStatus.DISABLED)
    coupon_service.redeem_credit_coupon("WELCOME20K", user=user)
    html = flashed_text(signed_in.client.get("/admin/coupons/"))
    assert "WELCOME20K" in html and "SAVE20" in html and "1/5" in html and "20%" in html
    html = flashed_text(signed_in.client.get("/admin/coupons/?search=hello"))
    assert "WELCOME20K" in html and "SAVE20" not in html
    view = signed_in.client.application.extensions["poddesk_console"]._views
    coupon_view = next(v for v in view if getattr(v, "endpoint", None) == "coupons")
    status_filter = next(i for i, f in enumerate(coupon_view._filters) if "Status" in str(f.name)
                         and "equals" in str(f.operation()).lower())
    html = flashed_text(signed_in.client.get(f"/admin/coupons/?flt0_{status_filter}=DISABLED"))
    assert "SAVE20" in html and "WELCOME20K" not in html
    response = signed_in.client.get("/admin/coupons/?flt0_0=NOT_A_STATUS")
    assert response.status_code == 200


def test_details_page_lists_redemptions(signed_in, make):
    user = make.user(email="redeemer@example.com")
    coupon = make_coupon("DETAILS")
    coupon_service.redeem_credit_coupon("DETAILS", user=user)
    html = flashed_text(signed_in.client.get(f"/admin/coupons/details/?id={coupon.id}"))
    assert "data-redemptions" in html and "redeemer@example.com" in html


def test_create_through_the_service_with_audit(signed_in, admin):
    response = signed_in.post_form("/admin/coupons/new/", coupon_form())
    assert "Record was successfully created." in flashed_text(response)
    coupon = _coupon("SPRING25")
    assert (coupon.type, coupon.credit_amount, coupon.max_uses, coupon.status) == (
        CouponType.CREDIT_TOPUP, 25_000, 50, CouponStatus.ACTIVE)
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "coupon.create")).scalar_one()
    assert entry.source == "console" and entry.actor_id == admin.id


@pytest.mark.parametrize("overrides, message", [
    ({"credit_amount": ""}, "Credit amount is required for credit top-up and welcome bonus coupons"),
    ({"type": "SUBSCRIPTION_DISCOUNT", "discount_type": "PERCENTAGE", "discount_percent": "101",
      "credit_amount": ""}, "Number must be between 1 and 100"),
    ({"credit_amount": "-5"}, "Number must be between 1000 and 10000000"),
    ({"type": "FREE_SERVICE", "credit_amount": ""}, "Service ID is required for free service coupons"),
    ({"code": "no spaces inside"}, "Letters, numbers, hyphens and underscores only"),
    ({"valid_until": "2020-01-01T00:00"}, "&#34;validUntil&#34; must be greater than or equal to &#34;now&#34;"),
])
def test_bad_input_is_a_form_error_and_nothing_is_written(signed_in, overrides, message):
    response = signed_in.post_form("/admin/coupons/new/", coupon_form(**overrides))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html or message.replace("&#34;", '"') in flashed_text(response), html[-3000:]
    assert _coupon("SPRING25") is None


def test_duplicate_code_is_flashed(signed_in):
    make_coupon("SPRING25")
    response = signed_in.post_form("/admin/coupons/new/", coupon_form(code="Spring25"))
    assert "Coupon code already exists" in flashed_text(response)


def test_writes_without_csrf_are_refused(signed_in):
    coupon = make_coupon("KEEPME")
    response = signed_in.client.post("/admin/coupons/new/", data=coupon_form())
    assert response.status_code == 400
    assert _coupon("SPRING25") is None
    response = signed_in.client.post("/admin/coupons/action/", data={"action": "deactivate", "rowid": [coupon.id]})
    assert response.status_code == 400
    assert reload(coupon).status == CouponStatus.ACTIVE


def test_edit_goes_through_the_service(signed_in, make):
    coupon = make_coupon("EDITME", max_uses=2, used_count=2, status=CouponStatus.USED_UP)
    page = f"/admin/coupons/edit/?id={coupon.id}"
    form = {"name": "Edited", "description": "", "status": "USED_UP", "max_uses": "10",
            "valid_from": coupon.valid_from.strftime("%Y-%m-%dT%H:%M"), "valid_until": ""}
    response = signed_in.post_form(page, form)
    assert "Record was successfully saved." in flashed_text(response)
    coupon = reload(coupon)
    assert (coupon.name, coupon.max_uses, coupon.status) == ("Edited", 10, CouponStatus.ACTIVE)
    response = signed_in.post_form(page, {**form, "max_uses": "1"})
    assert "Max uses cannot be lower than the number of redemptions (2)" in flashed_text(response)
    assert reload(coupon).max_uses == 10
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "coupon.update")).scalars().first()
    assert entry.source == "console"


def test_deactivate_action_and_delete(signed_in, make):
    a, b = make_coupon("AAA"), make_coupon("BBB")
    response = signed_in.action("coupons", "deactivate", [a.id, b.id])
    assert "2 coupons deactivated." in flashed_text(response)
    assert reload(a).status == CouponStatus.DISABLED
    user = make.user()
    used = make_coupon("USEDONE")
    coupon_service.redeem_credit_coupon("USEDONE", user=user)
    token_page = "/admin/coupons/"
    data = {"id": used.id, "url": token_page}
    response = signed_in.post_form(token_page, data, post_url="/admin/coupons/delete/")
    assert "Cannot delete coupon that has been redeemed" in flashed_text(response)
    assert reload(used) is not None
    b_id = b.id
    response = signed_in.post_form(token_page, {"id": b_id, "url": token_page}, post_url="/admin/coupons/delete/")
    assert "Record was successfully deleted." in flashed_text(response)
    db.session.expire_all()
    assert db.session.get(Coupon, b_id) is None
