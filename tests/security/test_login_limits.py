"""Sign-in limits (accounts.limits) on the portal and console forms, the same as the API's: attempts per client
address, and failed sign-ins per account counted in one bucket across the API, the portal and the console."""
from __future__ import annotations

from html import unescape

import pytest


@pytest.fixture
def failure_limit(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_FAILURE_LIMIT", "3 per minute")


def _portal_fail(portal, email):
    return portal.login(email, password="wrong-password")


def test_portal_failures_per_account_end_in_429_even_for_the_right_password(failure_limit, portal, customer, make):
    statuses = [_portal_fail(portal, customer.email).status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
    limited = portal.login(customer.email)  # right password: still refused while the account is locked
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert "Too many attempts, please try again later." in unescape(limited.get_data(as_text=True))
    other = make.user(email="unrelated@example.com")
    assert portal.login(other.email).status_code == 302  # another account from the same address is not locked


def test_console_failures_per_account_end_in_429(failure_limit, console, admin):
    statuses = [console.login(admin.email, password="wrong").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]  # the console shows the error on the form
    limited = console.login(admin.email)
    assert limited.status_code == 429
    assert "Too many sign-in attempts" in limited.get_data(as_text=True)


def test_failures_count_in_one_bucket_across_api_portal_and_console(failure_limit, api, portal, console, admin):
    assert api.post("/api/auth/login", json={"email": admin.email, "password": "wrong"}).status_code == 401
    assert _portal_fail(portal, admin.email).status_code == 400
    assert console.login(admin.email, password="wrong").status_code == 200
    assert console.login(admin.email).status_code == 429
    assert portal.login(admin.email).status_code == 429
    response = api.post("/api/auth/login", json={"email": " ADMIN@poddesk.example.com ".replace("ADMIN", "BOSS"),
                                                 "password": "password123"})
    assert response.status_code == 429  # the email is normalised before it names the bucket


def test_successful_and_malformed_sign_ins_do_not_count_as_failures(failure_limit, portal, console, customer, admin):
    for _ in range(4):
        assert portal.login(customer.email).status_code == 302
        portal.client.post("/portal/logout", data={"csrf_token": portal.token("/portal/catalog")})
    for _ in range(4):  # empty password: a form error, no credential check
        assert portal.post("/portal/login", {"email": customer.email, "password": ""}, page="/portal/login").status_code == 400
    assert portal.login(customer.email).status_code == 302


def test_portal_sign_in_posts_are_limited_per_address(app, portal, customer, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    statuses = [portal.login(customer.email, password="x").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    assert portal.client.get("/portal/login").status_code == 200  # GETs are not counted


def _api_login(client, email, password, address):
    return client.post("/api/auth/login", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}).status_code


def test_a_strangers_failures_do_not_lock_the_owner_out(failure_limit, client, admin):
    assert [_api_login(client, admin.email, "wrong", "203.0.113.9") for _ in range(4)] == [401, 401, 401, 429]
    assert _api_login(client, admin.email, "password123", "198.51.100.20") == 200  # the owner, elsewhere


def test_guessing_spread_over_addresses_meets_the_per_account_ceiling(app, client, customer, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_FAILURE_LIMIT", "4 per minute")
    assert [_api_login(client, customer.email, "wrong", f"203.0.113.{n}") for n in range(4)] == [401] * 4
    assert _api_login(client, customer.email, "password123", "198.51.100.20") == 429
