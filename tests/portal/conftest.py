"""Portal test helpers: a fresh-context test client (see tests/console/conftest.py for why), CSRF scraping, a
`Portal` driver that behaves like a browser (GET the page, read its token, POST the form)."""
from __future__ import annotations

import re
from html import unescape

import pytest

from tests.console.conftest import FreshContextClient, csrf_from
from webapp.extensions import db

PASSWORD = "password123"


@pytest.fixture
def client(app):
    return FreshContextClient(app, app.response_class, use_cookies=True)


class Portal:
    def __init__(self, client):
        self.client = client

    def get(self, url: str, **kw):
        return self.client.get(url, **kw)

    def token(self, url: str = "/portal/login") -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:2000])
        return csrf_from(response.get_data(as_text=True))

    def page_and_token(self, url: str) -> tuple[str, str]:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.get_data(as_text=True)
        return html, csrf_from(html)

    def post(self, url: str, data: dict | None = None, *, page: str | None = None, csrf: bool = True, **kw):
        """POST `data` to `url` with a CSRF token read from `page` (default: the catalog, any page will do)."""
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.token(page or "/portal/catalog")
        return self.client.post(url, data=data, **kw)

    def login(self, email: str, password: str = PASSWORD, next: str | None = None):
        data = {"email": email, "password": password}
        if next is not None:
            data["next"] = next
        return self.post("/portal/login", data, page="/portal/login")

    def login_as(self, user):
        response = self.login(user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


@pytest.fixture
def portal(client) -> Portal:
    return Portal(client)


@pytest.fixture
def signed_in(portal, customer) -> Portal:
    portal.login_as(customer)
    return portal


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def field_error(response, field_id: str) -> str:
    """The error shown right under the field `field_id` (the portal renders `<p class="error" id="<id>-error">`)."""
    match = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', response.get_data(as_text=True))
    assert match, f"no error shown for {field_id}"
    return unescape(match.group(1))


def reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


# ------------------------------------------------------------------------------------ coupons (test rows)
def make_coupon(code="TOPUP20K", *, type="CREDIT_TOPUP", credit_amount=20_000, **kw):
    """A coupon row as an admin would have created it (the service is the writer otherwise)."""
    from datetime import timedelta

    from webapp.billing.coupon_models import Coupon, CouponStatus, CouponType
    from webapp.db import utcnow

    defaults = dict(code=code, name=kw.pop("name", f"Coupon {code}"), type=CouponType(type),
                    credit_amount=credit_amount, max_uses=10, used_count=0, max_uses_per_user=1,
                    status=CouponStatus.ACTIVE, valid_from=utcnow() - timedelta(days=1), valid_until=None,
                    created_by="test")
    defaults.update(kw)
    coupon = Coupon(**defaults)
    db.session.add(coupon)
    db.session.flush()
    return coupon


def discount_coupon(code="SAVE20", *, percent: int):
    from webapp.billing.coupon_models import CouponDiscountType

    return make_coupon(code, type="SUBSCRIPTION_DISCOUNT", credit_amount=None,
                       discount_type=CouponDiscountType.PERCENTAGE, discount_percent=percent)


# ------------------------------------------------------------------------------------ Midtrans simulator
MIDTRANS_SERVER_KEY = "SB-Mid-server-portal-test"


@pytest.fixture(scope="session")
def midtrans_sim():
    from simulators.midtrans import MidtransSimulator

    sim = MidtransSimulator(server_key=MIDTRANS_SERVER_KEY, client_key="SB-Mid-client-portal-test").start()
    yield sim
    sim.stop()


@pytest.fixture
def midtrans(app, midtrans_sim, monkeypatch):
    """The app pointed at the simulator by settings alone; Midtrans sends browsers back to the finish page."""
    midtrans_sim.reset()
    monkeypatch.setitem(app.config, "MIDTRANS_SERVER_KEY", MIDTRANS_SERVER_KEY)
    monkeypatch.setitem(app.config, "MIDTRANS_API_BASE_URL", midtrans_sim.url)
    monkeypatch.setitem(app.config, "MIDTRANS_TIMEOUT", 2.0)
    monkeypatch.setitem(app.config, "MIDTRANS_NOTIFICATION_URL", None)
    monkeypatch.setitem(app.config, "MIDTRANS_FINISH_URL", "http://localhost/portal/wallet/topup/finish")
    yield midtrans_sim
    midtrans_sim.reset()
