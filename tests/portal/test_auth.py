"""Portal sign-up, sign-in, sign-out: session fixation, safe `next`, CSRF, active accounts only, Google."""
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from simulators.oidc import OIDCSimulator
from webapp.accounts.models import User
from webapp.extensions import db

from .conftest import field_error, text


def _users() -> int:
    return db.session.execute(select(func.count()).select_from(User)).scalar_one()


def test_anonymous_visitors_go_to_the_portal_login_with_next(client):
    for url in ("/portal/catalog", "/portal/wallet", "/portal/subscriptions", "/portal/tickets", "/portal/instances",
                "/portal/tickets/new"):
        response = client.get(url)
        assert response.status_code == 302, url
        target = urlsplit(response.location)
        assert target.path == "/portal/login", url
        assert parse_qs(target.query)["next"] == [url]


def test_login_page_renders_with_a_csrf_token(portal):
    html, token = portal.page_and_token("/portal/login")
    assert token and 'name="email"' in html and 'name="password"' in html


def test_login_renews_the_session_and_follows_a_safe_next(portal, client, customer):
    with client.session_transaction() as sess:
        sess["planted"] = "by-an-attacker"
    response = portal.login(customer.email, next="/portal/wallet?page=2")
    assert response.status_code == 302 and response.location == "/portal/wallet?page=2"
    with client.session_transaction() as sess:
        assert "planted" not in sess  # the pre-login session is gone (fixation)
        assert sess["_user_id"] == customer.get_id()
    assert client.get("/portal/wallet").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_an_unsafe_next_is_ignored(portal, customer, target):
    response = portal.login(customer.email, next=target)
    assert response.status_code == 302 and response.location == "/portal/catalog"


def test_wrong_password_shows_the_error_next_to_the_field_and_signs_nobody_in(portal, client, customer):
    response = portal.login(customer.email, password="wrong-password")
    assert response.status_code == 400
    assert field_error(response, "password") == "Invalid email or password"
    assert client.get("/portal/wallet").status_code == 302


def test_missing_fields_are_field_errors(portal):
    response = portal.post("/portal/login", {"email": "", "password": ""}, page="/portal/login")
    assert response.status_code == 400
    assert field_error(response, "email") == "Please enter your email"
    assert field_error(response, "password") == "Please enter your password"


def test_deactivated_accounts_cannot_sign_in(portal, client, make):
    user = make.user(email="gone@example.com", is_active=False)
    response = portal.login(user.email)
    assert response.status_code == 400
    assert "Account is deactivated" in text(response)
    assert client.get("/portal/wallet").status_code == 302


def test_a_deactivated_account_loses_its_session(portal, client, customer):
    portal.login_as(customer)
    customer.is_active = False
    db.session.flush()
    assert client.get("/portal/wallet").status_code == 302


def test_administrators_may_use_the_portal_too(portal, client, admin):
    portal.login_as(admin)
    assert client.get("/portal/wallet").status_code == 200


def test_login_and_logout_need_csrf(portal, client, customer):
    response = client.post("/portal/login", data={"email": customer.email, "password": "password123"})
    assert response.status_code == 400
    assert client.get("/portal/wallet").status_code == 302
    portal.login_as(customer)
    assert client.post("/portal/logout").status_code == 400
    assert client.get("/portal/wallet").status_code == 200
    response = portal.post("/portal/logout", {})
    assert response.status_code == 302 and response.location == "/portal/login"
    assert client.get("/portal/wallet").status_code == 302


def test_register_creates_a_customer_and_signs_in(portal, client):
    before = _users()
    response = portal.post("/portal/register", {"name": "New Customer", "email": " New.Customer@Example.com ",
                                                "password": "secret12", "confirm": "secret12"},
                           page="/portal/register")
    assert response.status_code == 302 and response.location == "/portal/catalog"
    assert _users() == before + 1
    user = db.session.execute(select(User).where(User.email == "new.customer@example.com")).scalar_one()
    assert user.role.value == "USER"
    assert "Welcome to PodDesk! Your account is ready." in text(client.get("/portal/catalog"))  # survives sign-in
    page = text(client.get("/portal/wallet"))
    assert "New Customer" in page


def test_register_rejects_invalid_input_with_field_errors_and_creates_nothing(portal, customer):
    before = _users()
    response = portal.post("/portal/register", {"name": "X", "email": "not-an-email", "password": "123",
                                                "confirm": "456"}, page="/portal/register")
    assert response.status_code == 400
    assert field_error(response, "name") == "Name must be 2 to 50 characters"
    assert field_error(response, "email") == "Please enter a valid email address"
    assert field_error(response, "password") == "Password must be 6 to 72 characters"
    assert field_error(response, "confirm") == "The passwords do not match"
    response = portal.post("/portal/register", {"name": "Someone", "email": customer.email.upper(),
                                                "password": "secret12", "confirm": "secret12"},
                           page="/portal/register")
    assert response.status_code == 400
    assert field_error(response, "email") == "User with this email already exists"
    assert _users() == before


def test_register_without_csrf_is_refused(client):
    before = _users()
    response = client.post("/portal/register", data={"name": "No Token", "email": "notoken@example.com",
                                                     "password": "secret12", "confirm": "secret12"})
    assert response.status_code == 400
    assert _users() == before


def test_html_in_a_name_is_escaped(portal, client):
    portal.post("/portal/register", {"name": "<script>alert(1)</script>", "email": "xss@example.com",
                                     "password": "secret12", "confirm": "secret12"}, page="/portal/register")
    html = client.get("/portal/catalog").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ------------------------------------------------------------------------------------ Google
@pytest.fixture(scope="module")
def idp():
    with OIDCSimulator() as sim:
        yield sim


@pytest.fixture
def google_configured(app, idp, monkeypatch):
    for key, value in {"GOOGLE_CLIENT_ID": idp.default_client_id, "GOOGLE_CLIENT_SECRET": idp.default_client_secret,
                       "GOOGLE_ISSUERS": (idp.issuer,), "GOOGLE_JWKS_URL": f"{idp.url}/oauth2/v3/certs",
                       "GOOGLE_DISCOVERY_URL": f"{idp.url}/.well-known/openid-configuration"}.items():
        monkeypatch.setitem(app.config, key, value)


def _google(client, idp, email, *, tamper_state=False):
    start = client.get("/portal/login/google?next=/portal/wallet")
    assert start.status_code == 302 and start.location.startswith(idp.url)
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.location).query).items()}
    approved = requests.post(f"{idp.url}/o/oauth2/v2/approve", allow_redirects=False, timeout=5, data={
        **params, "action": "approve", "email": email, "email_verified": "true"})
    assert approved.status_code == 302
    callback = urlsplit(approved.headers["Location"])
    query = callback.query.replace("state=", "state=x") if tamper_state else callback.query
    return client.get(f"{callback.path}?{query}")


def test_google_sign_in_creates_a_customer_account(client, idp, google_configured):
    assert "Sign in with Google" in client.get("/portal/login").get_data(as_text=True)
    landed = _google(client, idp, "Fresh.Google@example.com")
    assert landed.status_code == 302 and landed.location == "/portal/wallet"
    user = db.session.execute(select(User).where(User.email == "fresh.google@example.com")).scalar_one()
    assert user.is_google_user and user.role.value == "USER"
    assert client.get("/portal/wallet").status_code == 200


def test_google_sign_in_with_a_tampered_state_is_refused(client, idp, google_configured):
    landed = _google(client, idp, "tamper@example.com", tamper_state=True)
    assert landed.status_code == 302 and landed.location == "/portal/login"
    assert client.get("/portal/wallet").status_code == 302


def test_google_unconfigured_says_so(client):
    response = client.get("/portal/login/google")
    assert response.status_code == 302 and response.location == "/portal/login"
    assert "Google" in text(client.get("/portal/login"))
