"""Auth routes AU1-AU3, AU5-AU7: register, login, refresh (rotation), profile, logout, logout-all."""
from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import bcrypt
import pytest
from sqlalchemy import func, select

from webapp.accounts import services as accounts
from webapp.accounts.models import RefreshToken, Role, User
from webapp.accounts.passwords import hash_password, verify_password
from webapp.accounts.tokens import parse_duration
from webapp.db import as_utc, utcnow
from webapp.extensions import db

from ..conftest import assert_envelope
from . import PASSWORD, USER_BASIC, USER_FULL, USER_NO_PASSWORD

DEACTIVATED = "Account is deactivated. Please contact administrator."
INVALID_LOGIN = "Invalid email or password"


def _user_count() -> int:
    return db.session.execute(select(func.count()).select_from(User)).scalar_one()


def _login(api, email, password=PASSWORD):
    return api.post("/api/auth/login", json={"email": email, "password": password})


def _session(api, user):
    body = assert_envelope(_login(api, user.email), 200, "Login successful")
    return body["data"]["accessToken"], body["data"]["refreshToken"]


def _refresh(api, token):
    return api.post("/api/auth/refresh-token", json={"refreshToken": token})


# --------------------------------------------------------------------------------------- register
REGISTER = {"email": "New.Person@Example.com", "password": "secret1", "name": "New Person"}


def test_register_returns_user_full_and_working_tokens(api):
    r = api.post("/api/auth/register", json={**REGISTER, "phone": "081234567890",
                                              "avatar": "https://img.example.com/a.png"})
    body = assert_envelope(r, 201, "User registered successfully")
    data = body["data"]
    assert set(data) == {"user", "accessToken", "refreshToken"}
    user = data["user"]
    assert set(user) == USER_FULL
    assert user["email"] == "new.person@example.com"
    assert user["role"] == "USER" and user["isActive"] is True
    assert user["phone"] == "081234567890" and user["avatar"] == "https://img.example.com/a.png"
    assert (user["creditBalance"], user["totalTopUp"], user["totalSpent"]) == (0, 0, 0)
    assert user["isGoogleUser"] is False and user["emailVerified"] is False
    assert_envelope(api.get("/api/auth/profile", token=data["accessToken"]), 200)
    assert_envelope(_refresh(api, data["refreshToken"]), 200, "Token refreshed successfully")
    stored = db.session.get(User, user["id"])
    assert stored.password_hash != "secret1" and verify_password("secret1", stored.password_hash)


def test_register_ignores_role_from_client(api):
    r = api.post("/api/auth/register", json={**REGISTER, "role": "ADMINISTRATOR"})
    body = assert_envelope(r, 201)
    assert body["data"]["user"]["role"] == "USER"
    assert db.session.get(User, body["data"]["user"]["id"]).role == Role.USER


def test_register_returns_balance_after_welcome_bonus(api):
    """The welcome bonus is credited in the registration transaction; the response shows the post-bonus balance
    (more in tests/api/test_coupons_welcome.py)."""
    from webapp.billing.coupon_models import Coupon, CouponType

    db.session.add_all([Coupon(code=code, name=code, type=CouponType.WELCOME_BONUS, credit_amount=amount, max_uses=10,
                               created_by="test") for code, amount in (("HELLO20K", 20_000), ("HELLO5K", 5_000))])
    db.session.flush()
    body = assert_envelope(api.post("/api/auth/register", json=REGISTER), 201)
    assert body["data"]["user"]["creditBalance"] == 25_000
    assert body["data"]["user"]["totalTopUp"] == 25_000


def test_register_duplicate_email_is_case_and_space_insensitive(api, customer):
    before = _user_count()
    r = api.post("/api/auth/register", json={**REGISTER, "email": "  CUST@PodDesk.Example.COM "})
    assert_envelope(r, 409, "User with this email already exists")
    assert _user_count() == before


def test_register_duplicate_phone_is_409_not_500(api, make):
    make.user(phone="081111111111")
    before = _user_count()
    r = api.post("/api/auth/register", json={**REGISTER, "phone": "081111111111"})
    assert_envelope(r, 409, "Phone number is already in use")
    assert _user_count() == before


@pytest.mark.parametrize("body, message", [
    ({"password": "secret1", "name": "Ann"}, "Email is required"),
    ({"email": 5, "password": "secret1", "name": "Ann"}, "Email must be a string"),
    ({"email": "not-an-email", "password": "secret1", "name": "Ann"}, "Email must be a valid email"),
    ({"email": "a@example.com", "name": "Ann"}, "Password is required"),
    ({"email": "a@example.com", "password": 123456, "name": "Ann"}, "Password must be a string"),
    ({"email": "a@example.com", "password": "12345", "name": "Ann"}, "Password must be at least 6 characters"),
    ({"email": "a@example.com", "password": "x" * 73, "name": "Ann"}, "Password must not exceed 72 characters"),
    ({"email": "a@example.com", "password": "secret1"}, "Name is required"),
    ({"email": "a@example.com", "password": "secret1", "name": ""}, '"name" is not allowed to be empty'),
    ({"email": "a@example.com", "password": "secret1", "name": 5}, "Name must be a string"),
    ({"email": "a@example.com", "password": "secret1", "name": "A"}, "Name must be at least 2 characters long"),
    ({"email": "a@example.com", "password": "secret1", "name": "A" * 51}, "Name must not exceed 50 characters"),
    ({**REGISTER, "phone": "+1234567890"}, "Phone number must be a valid Indonesian phone number"),
    ({**REGISTER, "role": "MODERATOR"}, '"role" must be one of [USER, ADMINISTRATOR]'),
    ({**REGISTER, "role": 5}, '"role" must be one of [USER, ADMINISTRATOR]'),
    ({**REGISTER, "avatar": "not a url"}, "Avatar must be a valid URL"),
    ({**REGISTER, "extra": 1}, '"extra" is not allowed'),
    # schema order decides which error is reported first (welcome-bonus.rest #24)
    ({"name": "", "email": "invalid-email", "password": "123"}, "Email must be a valid email"),
])
def test_register_validation_messages(api, body, message):
    before = _user_count()
    assert_envelope(api.post("/api/auth/register", json=body), 400, message)
    assert _user_count() == before


# ------------------------------------------------------------------------------------------ login
def test_login_success_shape_and_new_refresh_row_per_login(api, customer):
    body = assert_envelope(_login(api, customer.email), 200, "Login successful")
    assert set(body["data"]) == {"user", "accessToken", "refreshToken"}
    assert set(body["data"]["user"]) == USER_NO_PASSWORD
    assert "password" not in body["data"]["user"] and "passwordHash" not in body["data"]["user"]
    _login(api, customer.email)
    rows = db.session.execute(select(func.count()).select_from(RefreshToken)
                              .where(RefreshToken.user_id == customer.id)).scalar_one()
    assert rows == 2


def test_login_email_is_case_and_whitespace_insensitive(api, customer):
    assert_envelope(_login(api, "  CUST@PODDESK.EXAMPLE.COM "), 200, "Login successful")


def test_login_wrong_password_and_unknown_email_look_the_same(api, customer):
    wrong = _login(api, customer.email, "wrong-password")
    unknown = _login(api, "nobody@poddesk.example.com", "wrong-password")
    assert_envelope(wrong, 401, INVALID_LOGIN)
    assert_envelope(unknown, 401, INVALID_LOGIN)


def test_login_deactivated_reveals_state_only_after_correct_password(api, make):
    user = make.user(email="sleeper@example.com", is_active=False)
    assert_envelope(_login(api, user.email), 403, DEACTIVATED)
    assert_envelope(_login(api, user.email, "wrong-password"), 401, INVALID_LOGIN)
    assert db.session.execute(select(RefreshToken).where(RefreshToken.user_id == user.id)).first() is None


def test_login_google_only_account_is_401_not_500(api, make):
    user = make.user(email="gonly@example.com", password_hash=None, google_id="g-123", is_google_user=True)
    assert_envelope(_login(api, user.email, "anything"), 401, INVALID_LOGIN)
    assert_envelope(_login(api, user.email, ""), 400, '"password" is not allowed to be empty')


def test_login_accepts_bcryptjs_2a_hash(api, make):
    legacy = bcrypt.hashpw(b"password123", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    assert legacy.startswith("$2a$")
    user = make.user(email="legacy@example.com", password_hash=legacy)
    assert_envelope(_login(api, user.email), 200, "Login successful")
    assert_envelope(_login(api, user.email, "password124"), 401, INVALID_LOGIN)


def test_production_bcrypt_cost_is_12():
    assert hash_password("x").startswith("$2b$12$")
    from config import ProductionConfig
    if "BCRYPT_ROUNDS" not in os.environ:
        assert ProductionConfig.BCRYPT_ROUNDS == 12


def test_login_of_soft_deleted_user_fails(api, admin, customer):
    email = customer.email
    accounts.delete_user(admin, customer.id)
    assert_envelope(_login(api, email), 401, INVALID_LOGIN)


@pytest.mark.parametrize("body, message", [
    ({"password": "x"}, "Email is required"),
    ({"email": "nope", "password": "x"}, "Email must be a valid email"),
    ({"email": ["a@b.co"], "password": "x"}, "Email must be a string"),
    ({"email": "a@example.com"}, "Password is required"),
    ({"email": "a@example.com", "password": 1}, "Password must be a string"),
    ({"email": "a@example.com", "password": ""}, '"password" is not allowed to be empty'),
    ({"email": "a@example.com", "password": "x", "remember": True}, '"remember" is not allowed'),
])
def test_login_validation_messages(api, body, message):
    assert_envelope(api.post("/api/auth/login", json=body), 400, message)


# ---------------------------------------------------------------------------------------- refresh
def test_refresh_rotates_and_returns_compatible_shape(api, customer):
    access, refresh = _session(api, customer)
    body = assert_envelope(_refresh(api, refresh), 200, "Token refreshed successfully")
    data = body["data"]
    assert set(data) == {"accessToken", "refreshToken", "user"}
    assert data["user"] == {"id": customer.id, "name": customer.name, "email": customer.email, "role": "USER"}
    assert data["refreshToken"] != refresh
    assert_envelope(api.get("/api/user/profile", token=data["accessToken"]), 200)
    # the rotated token works once more
    assert_envelope(_refresh(api, data["refreshToken"]), 200)


def test_refresh_token_reuse_revokes_the_whole_family(api, customer):
    _, first = _session(api, customer)
    second = assert_envelope(_refresh(api, first), 200)["data"]["refreshToken"]
    assert_envelope(_refresh(api, first), 401, "Invalid refresh token")
    assert_envelope(_refresh(api, second), 401, "Invalid refresh token")


def test_refresh_reuse_leaves_other_sessions_alone(api, customer):
    _, phone_session = _session(api, customer)
    _, laptop = _session(api, customer)
    assert_envelope(_refresh(api, laptop), 200)
    assert_envelope(_refresh(api, laptop), 401, "Invalid refresh token")
    assert_envelope(_refresh(api, phone_session), 200)


def test_refresh_tokens_are_stored_hashed(api, customer):
    _, refresh = _session(api, customer)
    hashes = db.session.execute(select(RefreshToken.token_hash).where(RefreshToken.user_id == customer.id)).scalars().all()
    assert hashes == [hashlib.sha256(refresh.encode()).hexdigest()]


def test_refresh_unknown_and_expired(api, customer):
    assert_envelope(_refresh(api, "00000000-0000-4000-8000-000000000000"), 401, "Invalid refresh token")
    _, refresh = _session(api, customer)
    row = db.session.execute(select(RefreshToken).where(RefreshToken.user_id == customer.id)).scalar_one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert_envelope(_refresh(api, refresh), 401, "Refresh token expired")
    assert db.session.execute(select(RefreshToken).where(RefreshToken.user_id == customer.id)).first() is None
    assert_envelope(_refresh(api, refresh), 401, "Invalid refresh token")


def test_refresh_lifetime_follows_config(api, app, customer):
    _session(api, customer)
    row = db.session.execute(select(RefreshToken).where(RefreshToken.user_id == customer.id)).scalar_one()
    expected = utcnow() + parse_duration(app.config["JWT_REFRESH_EXPIRES_IN"], default_unit="d")
    assert abs((as_utc(row.expires_at) - expected).total_seconds()) < 60


def test_refresh_for_deactivated_user_is_403(api, customer):
    _, refresh = _session(api, customer)
    customer.is_active = False
    db.session.flush()
    assert_envelope(_refresh(api, refresh), 403, DEACTIVATED)


def test_refresh_after_admin_deactivation_is_refused(api, admin, customer):
    _, refresh = _session(api, customer)
    assert_envelope(api.patch(f"/api/admin/users/{customer.id}/status", json={"isActive": False}, as_user=admin), 200)
    r = _refresh(api, refresh)
    assert r.status_code in (401, 403)
    assert r.get_json()["success"] is False


def test_refresh_for_deleted_user_is_refused(api, admin, customer):
    _, refresh = _session(api, customer)
    accounts.delete_user(admin, customer.id)
    assert_envelope(_refresh(api, refresh), 401, "Invalid refresh token")


@pytest.mark.parametrize("body, message", [
    ({}, "Refresh token is required"),
    ({"refreshToken": 123}, "Refresh token must be a string"),
    ({"refreshToken": None}, "Refresh token must be a string"),
    ({"refreshToken": ""}, '"refreshToken" is not allowed to be empty'),
    ({"refreshToken": "x", "userId": "y"}, '"userId" is not allowed'),
])
def test_refresh_validation_messages(api, body, message):
    assert_envelope(api.post("/api/auth/refresh-token", json=body), 400, message)


@pytest.mark.parametrize("text, expected", [
    ("15m", timedelta(minutes=15)), ("24h", timedelta(hours=24)), ("12h", timedelta(hours=12)),
    ("7d", timedelta(days=7)), ("900", timedelta(seconds=900)),
])
def test_durations_are_parsed_with_their_unit(text, expected):
    assert parse_duration(text) == expected


def test_bare_refresh_lifetime_means_days():
    assert parse_duration("7", default_unit="d") == timedelta(days=7)


# ---------------------------------------------------------------------------------------- profile
def test_auth_profile_shape(api, customer):
    body = assert_envelope(api.get("/api/auth/profile", as_user=customer), 200, "Profile retrieved successfully")
    assert set(body["data"]) == {"user"}
    assert set(body["data"]["user"]) == USER_BASIC
    assert body["data"]["user"]["id"] == customer.id


def test_auth_profile_requires_token(api):
    assert_envelope(api.get("/api/auth/profile"), 401, "Access token is required")
    assert_envelope(api.get("/api/auth/profile", token="garbage"), 403, "Invalid or expired token")


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/auth/profile", None),
    ("GET", "/api/user/profile", None),
    ("PUT", "/api/user/profile", {"name": "New Name"}),
    ("PATCH", "/api/user/avatar", {"avatar": "https://x.example/a.png"}),
    ("PUT", "/api/user/password", {"currentPassword": PASSWORD, "newPassword": "newsecret"}),
    ("POST", "/api/auth/logout", {}),
    ("POST", "/api/auth/logout-all", None),
    ("POST", "/api/auth/google/link", {"idToken": "x"}),
    ("POST", "/api/auth/google/unlink", None),
])
def test_deactivated_user_with_live_token_gets_403_everywhere(api, customer, method, path, body):
    token = api.token_for(customer)
    name_before = customer.name
    customer.is_active = False
    db.session.flush()
    r = api.call(method, path, token=token, json=body)
    assert_envelope(r, 403, DEACTIVATED)
    assert customer.name == name_before


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/auth/profile", None),
    ("GET", "/api/user/profile", None),
    ("PUT", "/api/user/profile", {"name": "New Name"}),
    ("POST", "/api/auth/logout-all", None),
])
def test_deleted_user_with_live_token_gets_403(api, admin, customer, method, path, body):
    token = api.token_for(customer)
    accounts.delete_user(admin, customer.id)
    assert_envelope(api.call(method, path, token=token, json=body), 403, "Invalid or expired token")


# ----------------------------------------------------------------------------------------- logout
def test_logout_revokes_only_the_given_own_token(api, customer):
    access, refresh = _session(api, customer)
    _, other_device = _session(api, customer)
    r = api.post("/api/auth/logout", json={"refreshToken": refresh}, token=access)
    body = assert_envelope(r, 200, "Logged out successfully")
    assert "data" not in body
    assert_envelope(_refresh(api, refresh), 401, "Invalid refresh token")
    assert_envelope(_refresh(api, other_device), 200)


def test_logout_cannot_revoke_another_users_token(api, customer, other_customer):
    _, victim_refresh = _session(api, other_customer)
    r = api.post("/api/auth/logout", json={"refreshToken": victim_refresh}, as_user=customer)
    assert_envelope(r, 200, "Logged out successfully")
    assert_envelope(_refresh(api, victim_refresh), 200, "Token refreshed successfully")


def test_logout_without_token_in_body(api, customer):
    assert_envelope(api.post("/api/auth/logout", json={}, as_user=customer), 200, "Logged out successfully")
    assert_envelope(api.post("/api/auth/logout", as_user=customer), 200, "Logged out successfully")


def test_logout_validation_and_auth(api, customer):
    assert_envelope(api.post("/api/auth/logout", json={"refreshToken": 5}, as_user=customer), 400,
                    "Refresh token must be a string")
    assert_envelope(api.post("/api/auth/logout", json={"refreshToken": "x"}), 401, "Access token is required")


def test_logout_all_ends_access_and_refresh_tokens(api, customer, other_customer):
    access1, refresh1 = _session(api, customer)
    access2, refresh2 = _session(api, customer)
    other_access, other_refresh = _session(api, other_customer)
    body = assert_envelope(api.post("/api/auth/logout-all", token=access1), 200,
                           "Logged out from all devices successfully")
    assert "data" not in body
    for access in (access1, access2):
        assert_envelope(api.get("/api/user/profile", token=access), 403, "Invalid or expired token")
    for refresh in (refresh1, refresh2):
        assert_envelope(_refresh(api, refresh), 401, "Invalid refresh token")
    # other users keep their sessions; the user can log in again
    assert_envelope(api.get("/api/user/profile", token=other_access), 200)
    assert_envelope(_refresh(api, other_refresh), 200)
    new_access, _ = _session(api, customer)
    assert_envelope(api.get("/api/user/profile", token=new_access), 200)
