"""Password reset (accounts.password_reset): one generic answer, single-use hashed tokens with an expiry, every old
session ends, two concurrent uses of one link cannot both win; API and portal delivery end to end."""
from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from tests.subscriptions.helpers import freeze as freeze_time  # freezegun, skipping the kubernetes client
from sqlalchemy import func, select

from tests.conftest import assert_envelope
from webapp.accounts import password_reset
from webapp.accounts.errors import PasswordResetTokenExpired
from webapp.accounts.models import PasswordResetToken, RefreshToken, User
from webapp.db import utcnow
from webapp.extensions import db
from webapp.outbox import OutboxJob as OutboxMessage
from webapp.notifications.models import Notification

from .conftest import reset_link, reset_messages

NEW_PASSWORD = "brand-new-secret"
GENERIC = password_reset.GENERIC_REQUEST_MESSAGE


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _forgot(api, email):
    return api.post("/api/auth/forgot-password", json={"email": email})


def _reset(api, token, password=NEW_PASSWORD):
    return api.post("/api/auth/reset-password", json={"token": token, "password": password})


def _login(api, email, password):
    return api.post("/api/auth/login", json={"email": email, "password": password})


# ------------------------------------------------------------------------------------------------ request
def test_unknown_and_known_emails_get_the_same_answer_and_only_a_real_account_gets_mail(api, customer):
    outbox_before = _count(OutboxMessage)
    unknown = _forgot(api, "nobody-here@example.com")
    body_unknown = assert_envelope(unknown, 200, GENERIC)
    assert _count(PasswordResetToken) == 0 and reset_messages() == []
    assert _count(OutboxMessage) == outbox_before  # nothing queued for delivery either

    known = _forgot(api, "  CUST@poddesk.example.com ")  # trimmed and lower-cased like every email
    body_known = assert_envelope(known, 200, GENERIC)
    strip = lambda body: {k: v for k, v in body.items() if k != "timestamp"}  # noqa: E731
    assert strip(body_known) == strip(body_unknown)
    assert _count(PasswordResetToken, PasswordResetToken.user_id == customer.id) == 1
    (message,) = reset_messages(customer)
    assert message.recipient == customer.email and message.subject == "Reset your PodDesk password"
    assert _count(OutboxMessage) > outbox_before  # delivery job queued (pushed to RQ after the commit)


def test_the_token_is_stored_only_as_its_sha256_digest_with_an_expiry(api, customer, app):
    _forgot(api, customer.email)
    _, token = reset_link(customer)
    assert len(token) >= 43  # 32 random bytes, urlsafe base64
    row = db.session.execute(select(PasswordResetToken)).scalar_one()
    assert row.token_digest == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_digest
    ttl = timedelta(minutes=app.config["PASSWORD_RESET_TTL_MINUTES"])
    assert app.config["PASSWORD_RESET_TTL_MINUTES"] == 30
    assert abs((row.expires_at - row.created_at) - ttl) < timedelta(seconds=1)
    assert row.used_at is None and row.requested_ip == "127.0.0.1"


def test_deactivated_and_deleted_accounts_get_the_generic_answer_and_no_token(api, make):
    inactive = make.user(is_active=False)
    for email in (inactive.email,):
        assert_envelope(_forgot(api, email), 200, GENERIC)
    assert _count(PasswordResetToken) == 0 and reset_messages() == []


def test_invalid_email_is_a_validation_error(api):
    assert_envelope(_forgot(api, "not-an-email"), 400, "Email must be a valid email")
    assert_envelope(api.post("/api/auth/forgot-password", json={}), 400, "Email is required")


# -------------------------------------------------------------------------------------------------- reset
def test_reset_sets_the_password_once_and_a_second_use_is_400(api, customer):
    _forgot(api, customer.email)
    _, token = reset_link(customer)
    assert_envelope(_reset(api, token), 200)
    assert_envelope(_login(api, customer.email, NEW_PASSWORD), 200)
    assert_envelope(_login(api, customer.email, "password123"), 401, "Invalid email or password")
    again = _reset(api, token, "another-password")
    assert_envelope(again, 400, "This password reset link has already been used. Please request a new one.")
    assert_envelope(_login(api, customer.email, NEW_PASSWORD), 200)  # the second use changed nothing


def test_a_link_expires_after_the_ttl(app, customer):
    with app.test_request_context():
        start = utcnow()
        with freeze_time(start) as frozen:
            password_reset.request_password_reset(customer.email)
            _, token = reset_link(customer)
            frozen.tick(timedelta(minutes=29, seconds=59))
            assert password_reset.check_token(token) is not None  # still usable just before the end
            frozen.tick(timedelta(seconds=1))
            with pytest.raises(PasswordResetTokenExpired):
                password_reset.reset_password(token, NEW_PASSWORD)
    assert _count(PasswordResetToken, PasswordResetToken.used_at.isnot(None)) == 0


def test_an_expired_link_is_400_over_the_api_and_changes_nothing(api, customer):
    _forgot(api, customer.email)
    _, token = reset_link(customer)
    row = db.session.execute(select(PasswordResetToken)).scalar_one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert_envelope(_reset(api, token), 400, "This password reset link has expired. Please request a new one.")
    assert_envelope(_login(api, customer.email, "password123"), 200)


@pytest.mark.parametrize("token", ["made-up-token", "x" * 128, hashlib.sha256(b"x").hexdigest()])
def test_an_unknown_token_is_400(api, token):
    assert_envelope(_reset(api, token), 400, "This password reset link is invalid. Please request a new one.")


def test_reset_validates_the_new_password_like_registration_and_keeps_the_token(api, customer):
    _forgot(api, customer.email)
    _, token = reset_link(customer)
    assert_envelope(_reset(api, token, "short"), 400, "Password must be at least 6 characters")
    assert_envelope(_reset(api, token, "x" * 73), 400, "Password must not exceed 72 characters")
    assert_envelope(api.post("/api/auth/reset-password", json={"password": NEW_PASSWORD}), 400, "Token is required")
    assert_envelope(_reset(api, token), 200)  # the refused attempts did not spend it


def test_reset_ends_every_session_token_and_the_other_links(api, client, portal, customer):
    session = _login(api, customer.email, "password123").get_json()["data"]
    access, refresh = session["accessToken"], session["refreshToken"]
    portal.login_as(customer)
    assert client.get("/portal/wallet").status_code == 200
    _forgot(api, customer.email)
    _, first = reset_link(customer)
    _forgot(api, customer.email)
    _, second = reset_link(customer)
    assert first != second

    assert_envelope(_reset(api, second), 200)
    assert_envelope(api.get("/api/user/profile", token=access), 403, "Invalid or expired token")
    refreshed = api.post("/api/auth/refresh-token", json={"refreshToken": refresh})
    assert refreshed.status_code == 401
    assert _count(RefreshToken, RefreshToken.user_id == customer.id, RefreshToken.revoked_at.is_(None)) == 0
    page = client.get("/portal/wallet")
    assert page.status_code == 302 and "/portal/login" in page.location  # the cookie session ended
    assert_envelope(_reset(api, first), 400, "This password reset link has already been used. Please request a new one.")
    # The links are dead: they are not kept in the stored messages either.
    assert all(first not in m.body and second not in m.body for m in reset_messages(customer))


def test_a_google_only_account_can_set_its_first_password(api, make):
    google_user = make.user(email="gonly@example.com", password_hash=None, google_id="google-sub-1", is_google_user=True)
    _forgot(api, google_user.email)
    _, token = reset_link(google_user)
    assert_envelope(_reset(api, token), 200)
    assert_envelope(_login(api, google_user.email, NEW_PASSWORD), 200)


def test_a_link_of_an_account_deactivated_since_is_refused(api, customer):
    _forgot(api, customer.email)
    _, token = reset_link(customer)
    db.session.get(User, customer.id).is_active = False
    db.session.flush()
    assert_envelope(_reset(api, token), 403, "Account is deactivated. Please contact administrator.")


def test_forgot_password_is_rate_limited_per_target_address(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_EMAIL_LIMIT", "2 per hour")
    statuses = [_forgot(api, "victim@example.com").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert _forgot(api, "someone-else@example.com").status_code == 200


def test_reset_attempts_are_rate_limited_per_address(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_RATE_LIMIT", "3 per minute")
    statuses = [_reset(api, f"guess-{n}").status_code for n in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert_envelope(_reset(api, "guess-5"), 429, "Too many requests, please try again later.")


def test_production_refuses_to_build_links_from_the_request_host(api, app, customer, monkeypatch):
    """Without PUBLIC_BASE_URL the link would point at whatever Host header the request carried (reset poisoning)."""
    monkeypatch.setitem(app.config, "PROFILE", "production")
    assert_envelope(_forgot(api, customer.email), 503, "Password reset is not configured")
    assert_envelope(_forgot(api, "nobody-here@example.com"), 503, "Password reset is not configured")
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://desk.example.com/")
    assert_envelope(api.post("/api/auth/forgot-password", json={"email": customer.email},
                             headers={"Host": "evil.example"}), 200, GENERIC)
    path, token = reset_link(customer)
    assert reset_messages(customer)[-1].body.count(f"https://desk.example.com{path}") == 1


# ---------------------------------------------------------------------------------------------- concurrency
def test_two_concurrent_uses_of_one_link_exactly_one_wins(app, committing_db):
    from tests.factories import Factories

    with app.test_request_context():
        user = Factories(committing_db).user(email="race@example.com")
        password_reset.request_password_reset(user.email)
        committing_db.session.commit()
        message = committing_db.session.execute(select(Notification)).scalar_one()
    token = message.body.split("/portal/reset-password/")[1].split()[0]
    user_id = user.id
    committing_db.session.remove()

    barrier = threading.Barrier(2)
    results: list = []

    def use(password: str) -> None:
        with app.app_context():
            barrier.wait(timeout=10)
            try:
                password_reset.reset_password(token, password)
                committing_db.session.commit()
                results.append(("ok", password))
            except Exception as exc:  # noqa: BLE001 - the loser's typed error is what we check
                committing_db.session.rollback()
                results.append(("error", type(exc).__name__))
            finally:
                committing_db.session.remove()

    threads = [threading.Thread(target=use, args=(f"winner-{n}-pass",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(kind for kind, _ in results) == ["error", "ok"], results
    assert [name for kind, name in results if kind == "error"] == ["PasswordResetTokenUsed"]
    winner = next(password for kind, password in results if kind == "ok")
    from webapp.accounts.passwords import verify_password

    stored = committing_db.session.get(User, user_id)
    assert verify_password(winner, stored.password_hash) and stored.token_version == 1
