"""Google sign-in AU4 (login), AU8 (link), AU9 (unlink) against the local OIDC simulator."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from simulators.oidc import OIDCSimulator
from webapp.accounts.models import Role, User
from webapp.extensions import db

from ..conftest import assert_envelope
from . import PASSWORD, USER_FULL, USER_GOOGLE_EXISTING

INVALID = {"success": False, "error": "Invalid Google token"}
DEACTIVATED = {"success": False, "error": "Account is deactivated. Please contact administrator."}
UNVERIFIED = {"success": False, "error": "Email already registered; log in and link your Google account"}
NOT_CONFIGURED = {"success": False, "error": "Google OAuth is not configured"}


@pytest.fixture(scope="module")
def sim():
    with OIDCSimulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def foreign_sim():
    """Another provider with its own signing key (tokens it mints must not verify)."""
    with OIDCSimulator() as simulator:
        yield simulator


@pytest.fixture
def google(app, sim, monkeypatch):
    monkeypatch.setitem(app.config, "GOOGLE_CLIENT_ID", sim.default_client_id)
    monkeypatch.setitem(app.config, "GOOGLE_ISSUERS", (sim.issuer,))
    monkeypatch.setitem(app.config, "GOOGLE_JWKS_URL", sim.url + "/oauth2/v3/certs")
    return sim


def _keep_setup():
    """The Google envelope's error path rolls the request back; commit the test's setup first."""
    db.session.commit()


def google_login(api, token):
    return api.post("/api/auth/google/login", json={"idToken": token})


def _ok(response):
    body = response.get_json()
    assert response.status_code == 200, body
    assert set(body) == {"success", "data"} and body["success"] is True
    assert set(body["data"]) == {"user", "accessToken", "refreshToken"}
    return body["data"]


def _google_error(response, status, expected):
    assert response.status_code == status, response.get_json()
    assert response.get_json() == expected


# ------------------------------------------------------------------------------------ AU4 login
def test_new_google_user_is_created(api, google):
    token = google.mint_id_token("New.Googler@Example.com", name="New Googler", email_verified=True)
    data = _ok(google_login(api, token))
    user = data["user"]
    assert set(user) == USER_FULL
    assert user["email"] == "new.googler@example.com" and user["name"] == "New Googler"
    assert user["isGoogleUser"] is True and user["emailVerified"] is True and user["role"] == "USER"
    assert user["creditBalance"] == 0 and user["avatar"]
    stored = db.session.get(User, user["id"])
    assert stored.password_hash is None
    assert stored.google_id == google.identity("New.Googler@Example.com")["sub"]
    assert_envelope(api.get("/api/auth/profile", token=data["accessToken"]), 200)
    assert_envelope(api.post("/api/auth/refresh-token", json={"refreshToken": data["refreshToken"]}), 200)
    # a Google-created account has no password
    r = api.post("/api/auth/login", json={"email": "new.googler@example.com", "password": "anything"})
    assert_envelope(r, 401, "Invalid email or password")


def test_new_google_user_gets_welcome_bonus_in_response(api, google):
    from webapp.billing.coupon_models import Coupon, CouponType

    db.session.add(Coupon(code="HELLO20K", name="Hello", type=CouponType.WELCOME_BONUS, credit_amount=20_000,
                          max_uses=10, created_by="test"))
    db.session.flush()
    data = _ok(google_login(api, google.mint_id_token("bonus@example.com")))
    assert data["user"]["creditBalance"] == 20_000


def test_existing_google_user_gets_the_existing_shape_and_fresh_profile(api, google):
    first = _ok(google_login(api, google.mint_id_token("again@example.com", sub="sub-again", name="First Name")))
    token = google.mint_id_token("again@example.com", sub="sub-again", name="Second Name",
                                 picture="https://img.example.com/new.png", email_verified=False)
    data = _ok(google_login(api, token))
    assert set(data["user"]) == USER_GOOGLE_EXISTING
    assert data["user"]["id"] == first["user"]["id"]
    assert data["user"]["name"] == "Second Name" and data["user"]["avatar"] == "https://img.example.com/new.png"
    assert data["user"]["emailVerified"] is False
    assert db.session.execute(select(User).where(User.email == "again@example.com")).scalars().all().__len__() == 1


def test_email_branch_links_a_verified_email(api, google, make):
    user = make.user(email="mixed@example.com", name="Password Person")
    token = google.mint_id_token("Mixed@Example.com", sub="sub-mixed", email_verified=True)
    data = _ok(google_login(api, token))
    assert set(data["user"]) == USER_FULL
    assert data["user"]["id"] == user.id and data["user"]["isGoogleUser"] is True
    db.session.refresh(user)
    assert user.google_id == "sub-mixed" and user.email_verified is True
    # the password keeps working
    assert_envelope(api.post("/api/auth/login", json={"email": user.email, "password": PASSWORD}), 200)


def test_email_branch_refuses_an_unverified_email(api, google, make):
    user = make.user(email="victim@example.com")
    _keep_setup()
    token = google.mint_id_token("victim@example.com", sub="attacker-sub", email_verified=False)
    _google_error(google_login(api, token), 409, UNVERIFIED)
    db.session.refresh(user)
    assert user.google_id is None and user.is_google_user is False


def test_deactivated_accounts_are_refused_on_both_branches(api, google, make):
    by_email = make.user(email="sleepy@example.com", is_active=False)
    by_sub = make.user(email="sleepy2@example.com", is_active=False, google_id="sub-sleepy2", is_google_user=True)
    _keep_setup()
    _google_error(google_login(api, google.mint_id_token("sleepy@example.com", sub="sub-sleepy")), 401, DEACTIVATED)
    _google_error(google_login(api, google.mint_id_token("sleepy2@example.com", sub="sub-sleepy2")), 401, DEACTIVATED)
    db.session.refresh(by_email)
    assert by_email.google_id is None
    assert by_sub.is_active is False


@pytest.mark.parametrize("kind", ["wrong-aud", "expired", "garbage", "wrong-issuer", "foreign-key", "truncated"])
def test_invalid_tokens_are_401_google_envelope(api, google, foreign_sim, kind):
    token = {
        "wrong-aud": lambda: google.mint_id_token("x@example.com", aud="another-app.apps.googleusercontent.com"),
        "expired": lambda: google.mint_id_token("x@example.com", expires_in=-3600),
        "garbage": lambda: "invalid-token",
        "wrong-issuer": lambda: google.mint_id_token("x@example.com", iss="https://evil.example.com"),
        "foreign-key": lambda: foreign_sim.mint_id_token("x@example.com", aud=google.default_client_id),
        "truncated": lambda: google.mint_id_token("x@example.com")[:-20],
    }[kind]()
    _google_error(google_login(api, token), 401, INVALID)
    assert db.session.execute(select(User).where(User.email == "x@example.com")).first() is None


def test_not_configured_is_503(api, app, sim, monkeypatch, customer):
    monkeypatch.setitem(app.config, "GOOGLE_CLIENT_ID", None)
    _keep_setup()
    _google_error(google_login(api, sim.mint_id_token("x@example.com")), 503, NOT_CONFIGURED)
    r = api.post("/api/auth/google/link", as_user=customer, json={"idToken": sim.mint_id_token(customer.email)})
    assert_envelope(r, 503, "Google OAuth is not configured")


@pytest.mark.parametrize("body, message", [
    ({}, "Google ID token is required"),
    ({"idToken": None}, "ID token must be a string"),
    ({"idToken": 42}, "ID token must be a string"),
    ({"idToken": ""}, '"idToken" is not allowed to be empty'),
    ({"idToken": "abc", "extraField": "x"}, '"extraField" is not allowed'),
])
def test_login_validation_uses_standard_envelope(api, google, body, message):
    assert_envelope(api.post("/api/auth/google/login", json=body), 400, message)


def test_login_with_text_plain_body(api, google):
    r = api.post("/api/auth/google/login", data='{"idToken": "abc"}', headers={"Content-Type": "text/plain"})
    assert_envelope(r, 400, "Google ID token is required")


# ------------------------------------------------------------------------------------- AU8 link
def test_link_and_relink(api, google, customer):
    token = google.mint_id_token(customer.email, sub="sub-cust", picture="https://img.example.com/c.png")
    r = api.post("/api/auth/google/link", as_user=customer, json={"idToken": token})
    body = assert_envelope(r, 200, "Google account linked successfully")
    assert set(body["data"]) == {"user"} and set(body["data"]["user"]) == USER_FULL
    assert body["data"]["user"]["isGoogleUser"] is True and body["data"]["user"]["emailVerified"] is True
    assert body["data"]["user"]["avatar"] == "https://img.example.com/c.png"
    assert_envelope(api.post("/api/auth/google/link", as_user=customer, json={"idToken": token}), 200,
                    "Google account linked successfully")
    db.session.refresh(customer)
    assert customer.google_id == "sub-cust"
    # and the Google login now takes the googleId branch
    assert set(_ok(google_login(api, token))["user"]) == USER_GOOGLE_EXISTING


def test_link_errors(api, google, customer, make):
    owner = make.user(email="owner@example.com", google_id="sub-owned", is_google_user=True)
    token = google.mint_id_token(customer.email, sub="sub-owned")
    assert_envelope(api.post("/api/auth/google/link", as_user=customer, json={"idToken": token}), 400,
                    "This Google account is already linked to another user")
    other_email = google.mint_id_token("someone.else@example.com", sub="sub-else")
    assert_envelope(api.post("/api/auth/google/link", as_user=customer, json={"idToken": other_email}), 400,
                    "Google account email does not match your account email")
    assert_envelope(api.post("/api/auth/google/link", as_user=customer, json={"idToken": "invalid-token"}), 400,
                    "Invalid Google token")
    assert_envelope(api.post("/api/auth/google/link", as_user=customer, json={}), 400, "Google ID token is required")
    assert_envelope(api.post("/api/auth/google/link", json={"idToken": token}), 401, "Access token is required")
    db.session.refresh(customer)
    assert customer.google_id is None and owner.google_id == "sub-owned"


# ----------------------------------------------------------------------------------- AU9 unlink
def test_unlink_then_login_relinks_by_verified_email(api, google, customer):
    token = google.mint_id_token(customer.email, sub="sub-cycle")
    assert_envelope(api.post("/api/auth/google/link", as_user=customer, json={"idToken": token}), 200)
    r = api.post("/api/auth/google/unlink", as_user=customer)
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"success", "data"} and body["success"] is True
    assert set(body["data"]) == {"user"} and set(body["data"]["user"]) == USER_FULL
    assert body["data"]["user"]["isGoogleUser"] is False
    db.session.refresh(customer)
    assert customer.google_id is None
    data = _ok(google_login(api, token))  # rest/auth-google.rest #22: email branch re-links
    assert data["user"]["id"] == customer.id and set(data["user"]) == USER_FULL


def test_unlink_errors(api, google, customer, make):
    google_only = make.user(email="gonly@example.com", password_hash=None, google_id="sub-gonly", is_google_user=True)
    _keep_setup()
    r = api.post("/api/auth/google/unlink", as_user=customer)
    assert r.status_code == 400 and r.get_json() == {"success": False, "error": "No Google account linked to this user"}
    r = api.post("/api/auth/google/unlink", as_user=google_only)
    assert r.status_code == 400 and r.get_json() == {
        "success": False, "error": "Cannot unlink Google account. Please set a password first to maintain account access."}
    db.session.refresh(google_only)
    assert google_only.google_id == "sub-gonly"
    assert_envelope(api.post("/api/auth/google/unlink"), 401, "Access token is required")


def test_google_created_user_is_a_plain_customer(api, google):
    data = _ok(google_login(api, google.mint_id_token("plain.customer@example.com")))
    assert db.session.get(User, data["user"]["id"]).role == Role.USER
    assert_envelope(api.get("/api/admin/users", token=data["accessToken"]), 403,
                    "Access denied. Insufficient permissions.")
