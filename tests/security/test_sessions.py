"""Cookie sessions of the console and the portal: renewed at sign-in (no fixation, new CSRF token), ended by a
password change, a deactivation or logout-all (the session carries the user's token version), production cookie
flags."""
from __future__ import annotations

import pytest

from config import BaseConfig, ProductionConfig
from tests.console.conftest import csrf_from
from webapp.accounts import services as accounts
from webapp.extensions import db


def _csrf_state(client, page: str) -> tuple[str, str]:
    """(raw CSRF secret kept in the session, token printed in the page's form)."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    with client.session_transaction() as sess:
        return sess["csrf_token"], token


@pytest.mark.parametrize("front", ["portal", "console"])
def test_sign_in_drops_the_planted_session_and_issues_a_new_csrf_token(front, client, portal, console, admin):
    login_page = "/portal/login" if front == "portal" else "/admin/login"
    secret_before, token_before = _csrf_state(client, login_page)
    with client.session_transaction() as sess:
        sess["planted"] = "by-an-attacker"
    if front == "portal":
        portal.login_as(admin)
    else:
        console.login_as(admin)
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess["_user_id"] == admin.get_id()
        assert sess.get("csrf_token") != secret_before
    after_page = "/portal/wallet" if front == "portal" else "/admin/users/"
    secret_after, token_after = _csrf_state(client, after_page)
    assert secret_after != secret_before and token_after != token_before
    # The token an attacker could have read before the login no longer validates a form.
    client.post("/portal/logout" if front == "portal" else "/admin/logout",
                           data={"csrf_token": token_before})
    with client.session_transaction() as sess:
        assert sess.get("_user_id") == admin.get_id(), "a pre-login CSRF token must not work after the login"


def test_portal_session_ends_after_a_password_change(api, portal, client, customer):
    portal.login_as(customer)
    assert client.get("/portal/wallet").status_code == 200
    response = api.put("/api/user/password", as_user=customer,
                       json={"currentPassword": "password123", "newPassword": "changed-123"})
    assert response.status_code == 200, response.get_json()
    gone = client.get("/portal/wallet")
    assert gone.status_code == 302 and "/portal/login" in gone.location


def test_console_session_ends_after_deactivation_and_logout_everywhere(console, client, admin, make):
    other_admin = make.user(role="ADMINISTRATOR", email="second-admin@example.com")
    console.login_as(admin)
    assert client.get("/admin/users/").status_code == 200
    accounts.set_user_active(other_admin, admin.id, False, reason="test")
    db.session.flush()
    assert client.get("/admin/users/").status_code in (302, 403)
    with client.session_transaction() as sess:
        stale = sess.get("_user_id")
    assert stale is None or stale != f"{admin.id}:{db.session.get(type(admin), admin.id).token_version}"

    accounts.set_user_active(other_admin, admin.id, True, reason="test")
    db.session.flush()
    console.login_as(admin)
    assert client.get("/admin/users/").status_code == 200
    accounts.logout_everywhere(db.session.get(type(admin), admin.id))
    db.session.flush()
    assert client.get("/admin/users/").status_code in (302, 403)


def test_a_session_cookie_made_before_the_change_cannot_be_replayed(portal, client, customer, api):
    """Even the exact cookie value captured before the password change is refused afterwards."""
    portal.login_as(customer)
    cookie = client.get_cookie("session")
    assert cookie is not None
    api.put("/api/user/password", as_user=customer, json={"currentPassword": "password123", "newPassword": "changed-123"})
    client.set_cookie("session", cookie.value)
    assert client.get("/portal/wallet").status_code == 302


def test_cookie_flags():
    assert BaseConfig.SESSION_COOKIE_HTTPONLY is True and BaseConfig.REMEMBER_COOKIE_HTTPONLY is True
    assert BaseConfig.SESSION_COOKIE_SAMESITE == "Lax" and BaseConfig.REMEMBER_COOKIE_SAMESITE == "Lax"
    assert ProductionConfig.SESSION_COOKIE_SECURE is True and ProductionConfig.REMEMBER_COOKIE_SECURE is True
    assert ProductionConfig.HSTS_SECONDS >= 15552000  # at least 180 days
    assert BaseConfig.HSTS_SECONDS == 0


def test_session_cookie_is_httponly_and_samesite(portal, client, customer, app, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)  # what the production profile sets
    response = portal.login(customer.email)
    header = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header
