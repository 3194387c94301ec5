"""Profile routes P1-P3 and the password change added by the [fix] (spec §3.4, §3.7)."""
from __future__ import annotations

import pytest

from webapp.accounts.passwords import verify_password
from webapp.extensions import db

from ..conftest import assert_envelope
from . import PASSWORD, USER_BASIC, USER_FULL

PHONE_MESSAGE = "Phone number must be a valid Indonesian phone number"


# ----------------------------------------------------------------------------------------- P1
def test_get_profile_shape(api, customer):
    body = assert_envelope(api.get("/api/user/profile", as_user=customer), 200, "Profile retrieved successfully")
    assert set(body["data"]) == {"user"}
    user = body["data"]["user"]
    assert set(user) == USER_BASIC
    assert (user["id"], user["email"], user["name"], user["role"]) == (customer.id, customer.email, customer.name, "USER")


def test_profile_requires_token(api):
    assert_envelope(api.get("/api/user/profile"), 401, "Access token is required")
    assert_envelope(api.get("/api/user/profile", token="invalid_token"), 403, "Invalid or expired token")


# ----------------------------------------------------------------------------------------- P2
def test_update_profile_trims_and_returns_user_basic(api, customer):
    r = api.put("/api/user/profile", as_user=customer,
                json={"name": "  Renamed Person  ", "phone": " 081234567890 ", "avatar": " https://x.example/a.png "})
    body = assert_envelope(r, 200, "Profile updated successfully")
    user = body["data"]["user"]
    assert set(user) == USER_BASIC
    assert (user["name"], user["phone"], user["avatar"]) == ("Renamed Person", "081234567890", "https://x.example/a.png")
    db.session.refresh(customer)
    assert (customer.name, customer.phone, customer.avatar) == ("Renamed Person", "081234567890", "https://x.example/a.png")


def test_update_profile_with_empty_body_changes_nothing(api, customer):
    before = (customer.name, customer.phone, customer.avatar)
    assert_envelope(api.put("/api/user/profile", as_user=customer, json={}), 200, "Profile updated successfully")
    db.session.refresh(customer)
    assert (customer.name, customer.phone, customer.avatar) == before


def test_update_profile_null_clears_phone_and_avatar(api, make):
    user = make.user(email="clear@example.com", phone="081298765432", avatar="https://x.example/old.png")
    body = assert_envelope(api.put("/api/user/profile", as_user=user, json={"phone": None, "avatar": None}), 200)
    assert body["data"]["user"]["phone"] is None and body["data"]["user"]["avatar"] is None
    db.session.refresh(user)
    assert user.phone is None and user.avatar is None


def test_update_profile_phone_taken_by_other_user(api, make, customer):
    make.user(email="holder@example.com", phone="081200000001")
    r = api.put("/api/user/profile", as_user=customer, json={"name": "Changed Name", "phone": "081200000001"})
    assert_envelope(r, 409, "Phone number is already in use")
    db.session.refresh(customer)
    assert customer.phone is None and customer.name == "Cust Omer"


def test_update_profile_own_phone_again_is_fine(api, make):
    user = make.user(email="same@example.com", phone="081200000002")
    assert_envelope(api.put("/api/user/profile", as_user=user, json={"phone": "081200000002"}), 200)


@pytest.mark.parametrize("body, message", [
    ({"name": 123, "phone": 456}, "Name must be a string"),
    ({"name": "A"}, "Name must be at least 2 characters long"),
    ({"name": "  A  "}, "Name must be at least 2 characters long"),  # trimmed before validation
    ({"name": "N" * 51}, "Name must not exceed 50 characters"),
    ({"name": ""}, '"name" is not allowed to be empty'),
    ({"name": None}, "Name must be a string"),
    ({"phone": 456}, "Phone must be a string"),
    ({"phone": "+1234567890"}, PHONE_MESSAGE),
    ({"phone": ""}, '"phone" is not allowed to be empty'),
    ({"avatar": 1}, "Avatar must be a string"),
    ({"avatar": "not a url"}, "Avatar must be a valid URL"),
    ({"avatar": ""}, '"avatar" is not allowed to be empty'),
    ({"email": "new@example.com"}, '"email" is not allowed'),
    ({"role": "ADMINISTRATOR"}, '"role" is not allowed'),
    ({"password": "something"}, '"password" is not allowed'),
])
def test_update_profile_validation(api, customer, body, message):
    before = (customer.name, customer.phone, customer.avatar, customer.role)
    assert_envelope(api.put("/api/user/profile", as_user=customer, json=body), 400, message)
    db.session.refresh(customer)
    assert (customer.name, customer.phone, customer.avatar, customer.role) == before


def test_profile_update_touches_only_the_caller(api, customer, other_customer):
    assert_envelope(api.put("/api/user/profile", as_user=customer, json={"name": "Only Me"}), 200)
    db.session.refresh(other_customer)
    assert other_customer.name == "Other Person"
    body = assert_envelope(api.get("/api/user/profile", as_user=other_customer), 200)
    assert body["data"]["user"]["name"] == "Other Person"


# ----------------------------------------------------------------------------------------- P3
def test_update_avatar(api, customer):
    r = api.patch("/api/user/avatar", as_user=customer, json={"avatar": "https://cdn.example.com/me.png"})
    body = assert_envelope(r, 200, "Avatar updated successfully")
    assert set(body["data"]["user"]) == USER_BASIC
    assert body["data"]["user"]["avatar"] == "https://cdn.example.com/me.png"
    body = assert_envelope(api.get("/api/user/profile", as_user=customer), 200)
    assert body["data"]["user"]["avatar"] == "https://cdn.example.com/me.png"


@pytest.mark.parametrize("body, message", [
    ({}, "Avatar is required"),
    ({"avatar": None}, "Avatar must be a string"),
    ({"avatar": 5}, "Avatar must be a string"),
    ({"avatar": "nope"}, "Avatar must be a valid URL"),
    ({"avatar": ""}, '"avatar" is not allowed to be empty'),
    ({"avatar": "https://x.example/a.png", "name": "X"}, '"name" is not allowed'),
])
def test_update_avatar_validation(api, customer, body, message):
    assert_envelope(api.patch("/api/user/avatar", as_user=customer, json=body), 400, message)
    db.session.refresh(customer)
    assert customer.avatar is None


def test_update_avatar_requires_token(api):
    assert_envelope(api.patch("/api/user/avatar", json={"avatar": "https://x.example/a.png"}), 401,
                    "Access token is required")


# ------------------------------------------------------------------------------------- password
def _login(api, email, password):
    return api.post("/api/auth/login", json={"email": email, "password": password})


def test_change_password_ends_every_session(api, customer):
    login = assert_envelope(_login(api, customer.email, PASSWORD), 200)["data"]
    old_access, old_refresh = login["accessToken"], login["refreshToken"]
    r = api.put("/api/user/password", token=old_access,
                json={"currentPassword": PASSWORD, "newPassword": "brand-new-pass"})
    body = assert_envelope(r, 200, "Password updated successfully")
    assert "data" not in body
    assert_envelope(api.get("/api/user/profile", token=old_access), 403, "Invalid or expired token")
    assert_envelope(api.post("/api/auth/refresh-token", json={"refreshToken": old_refresh}), 401,
                    "Invalid refresh token")
    assert_envelope(_login(api, customer.email, PASSWORD), 401, "Invalid email or password")
    assert_envelope(_login(api, customer.email, "brand-new-pass"), 200, "Login successful")


def test_change_password_wrong_or_missing_current(api, customer):
    hash_before = customer.password_hash
    r = api.put("/api/user/password", as_user=customer, json={"currentPassword": "wrong-one", "newPassword": "abcdef"})
    assert_envelope(r, 400, "Current password is incorrect")
    r = api.put("/api/user/password", as_user=customer, json={"newPassword": "abcdef"})
    assert_envelope(r, 400, "Current password is required")
    db.session.refresh(customer)
    assert customer.password_hash == hash_before
    assert_envelope(_login(api, customer.email, PASSWORD), 200)


@pytest.mark.parametrize("body, message", [
    ({"currentPassword": PASSWORD}, "New password is required"),
    ({"currentPassword": PASSWORD, "newPassword": 123456}, "New password must be a string"),
    ({"currentPassword": PASSWORD, "newPassword": "12345"}, "New password must be at least 6 characters"),
    ({"currentPassword": PASSWORD, "newPassword": "x" * 73}, "New password must not exceed 72 characters"),
    ({"currentPassword": 1, "newPassword": "abcdef"}, "Current password must be a string"),
    ({"currentPassword": PASSWORD, "newPassword": "abcdef", "confirm": "abcdef"}, '"confirm" is not allowed'),
])
def test_change_password_validation(api, customer, body, message):
    hash_before = customer.password_hash
    assert_envelope(api.put("/api/user/password", as_user=customer, json=body), 400, message)
    db.session.refresh(customer)
    assert customer.password_hash == hash_before


def test_change_password_requires_token(api):
    assert_envelope(api.put("/api/user/password", json={"newPassword": "abcdef"}), 401, "Access token is required")


def test_google_only_user_sets_first_password_then_can_unlink(api, make):
    user = make.user(email="gonly@example.com", password_hash=None, google_id="google-sub-1", is_google_user=True,
                     email_verified=True)
    db.session.commit()  # the Google envelope's error path rolls back the request's work; keep the setup
    r = api.post("/api/auth/google/unlink", as_user=user)
    assert r.status_code == 400
    assert r.get_json() == {"success": False, "error": "Cannot unlink Google account. Please set a password first "
                                                       "to maintain account access."}
    r = api.put("/api/user/password", as_user=user, json={"newPassword": "first-password"})
    assert_envelope(r, 200, "Password updated successfully")
    db.session.refresh(user)
    assert verify_password("first-password", user.password_hash)
    r = api.post("/api/auth/google/unlink", as_user=user)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert set(body) == {"success", "data"} and body["success"] is True
    assert set(body["data"]["user"]) == USER_FULL
    assert body["data"]["user"]["isGoogleUser"] is False
    assert body["data"]["user"]["emailVerified"] is True  # unchanged by unlink
    db.session.refresh(user)
    assert user.google_id is None
    assert_envelope(_login(api, "gonly@example.com", "first-password"), 200, "Login successful")
