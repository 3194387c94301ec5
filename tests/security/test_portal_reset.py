"""The portal's "Forgot password?" flow end to end: login page link -> form -> generic answer -> the e-mailed link ->
new password -> sign-in page with a message -> the new password works, the old one and the link do not."""
from __future__ import annotations

from html import unescape

from sqlalchemy import func, select

from tests.console.conftest import csrf_from
from webapp.accounts import password_reset
from webapp.accounts.models import PasswordResetToken
from webapp.extensions import db

from .conftest import reset_link, reset_messages


def _text(response) -> str:
    return unescape(response.get_data(as_text=True))


def _forgot(portal, email: str):
    return portal.post("/portal/forgot-password", {"email": email}, page="/portal/forgot-password")


def test_the_emailed_link_resets_the_password_in_the_portal(portal, client, customer):
    login_page = client.get("/portal/login")
    assert 'href="/portal/forgot-password"' in login_page.get_data(as_text=True)

    sent = _forgot(portal, customer.email)
    assert sent.status_code == 302 and sent.location.endswith("/portal/login")
    assert password_reset.GENERIC_REQUEST_MESSAGE in _text(client.get(sent.location))

    path, _ = reset_link(customer)
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'name="password"' in page.get_data(as_text=True)
    response = client.post(path, data={"password": "fresh-secret-1", "confirm": "fresh-secret-1",
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302 and response.location.endswith("/portal/login")
    assert "Your password has been reset. Please sign in with your new password." in _text(client.get(response.location))

    assert portal.login(customer.email, "password123").status_code == 400  # the old password is gone
    assert portal.login(customer.email, "fresh-secret-1").status_code == 302
    assert client.get("/portal/wallet").status_code == 200

    used = client.get(path)  # the link worked once
    assert used.status_code == 400
    assert "This password reset link has already been used" in _text(used)
    assert 'href="/portal/forgot-password"' in used.get_data(as_text=True) and 'name="password"' not in _text(used)


def test_unknown_email_gets_the_same_page_and_nothing_is_sent(portal, client, customer):
    unknown = _forgot(portal, "nobody-here@example.com")
    known = _forgot(portal, customer.email)
    assert (unknown.status_code, unknown.location) == (known.status_code, known.location)
    assert len(reset_messages()) == 1 and reset_messages(customer)
    count = db.session.execute(select(func.count()).select_from(PasswordResetToken)).scalar_one()
    assert count == 1


def test_form_errors_and_a_forged_token(portal, client, customer):
    bad = _forgot(portal, "not-an-email")
    assert bad.status_code == 400 and "Please enter a valid email address" in _text(bad)
    assert reset_messages() == []

    forged = client.get("/portal/reset-password/made-up-token")
    assert forged.status_code == 400 and "This password reset link is invalid" in _text(forged)

    _forgot(portal, customer.email)
    path, _ = reset_link(customer)
    page = client.get(path)
    token = csrf_from(page.get_data(as_text=True))
    mismatch = client.post(path, data={"password": "fresh-secret-1", "confirm": "other", "csrf_token": token})
    assert mismatch.status_code == 400 and "The passwords do not match" in _text(mismatch)
    short = client.post(path, data={"password": "abc", "confirm": "abc", "csrf_token": token})
    assert short.status_code == 400 and "Password must be 6 to 72 characters" in _text(short)
    no_csrf = client.post(path, data={"password": "fresh-secret-1", "confirm": "fresh-secret-1"})
    assert no_csrf.status_code == 400
    # None of the refused posts spent the link.
    assert client.post(path, data={"password": "fresh-secret-1", "confirm": "fresh-secret-1",
                                   "csrf_token": token}).status_code == 302


def test_a_reset_signs_out_the_browser_that_was_signed_in(portal, client, customer):
    portal.login_as(customer)
    _forgot(portal, customer.email)
    path, _ = reset_link(customer)
    page = client.get(path)
    client.post(path, data={"password": "fresh-secret-1", "confirm": "fresh-secret-1",
                            "csrf_token": csrf_from(page.get_data(as_text=True))})
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    assert client.get("/portal/wallet").status_code == 302


def test_forgot_password_form_is_rate_limited(portal, app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_EMAIL_LIMIT", "2 per hour")
    statuses = [_forgot(portal, "victim@example.com").status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    limited = _forgot(portal, "victim@example.com")
    assert limited.status_code == 429 and "Too many attempts" in _text(limited)
    assert 'action="/portal/forgot-password"' in limited.get_data(as_text=True)
