"""Password reset by e-mailed, single-use links ("Forgot password?" in the portal, /api/auth/forgot-password and
/api/auth/reset-password).

- `request_password_reset(email)` answers the same way whether or not an account exists (the delivery layers show
  one generic message). For an active account (with a password, or Google-only: the link sets a first password) it
  stores a token of 32 random bytes as its SHA-256 digest only (unique index), valid PASSWORD_RESET_TTL_MINUTES,
  and records a PASSWORD_RESET notification with the link; delivery runs after the commit (job outbox).
- `reset_password(token, new_password)` spends the token with ONE conditional UPDATE (`used_at IS NULL AND
  expires_at > now`): of two concurrent uses exactly one changes a row. Then the password is set through
  `services.set_password` (token version bump + refresh tokens revoked: every session, JWT and cookie ends), the
  user's other outstanding links are spent, and the links are stripped from the user's reset messages.
- The link is `PUBLIC_BASE_URL` + /portal/reset-password/<token>. Without PUBLIC_BASE_URL the request's own URL is
  used, except in production, where a forged Host header would otherwise choose where the link points (503).
Both run inside the caller's unit of work (flush, never commit).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, url_for
from sqlalchemy import select, update

from ..db import utcnow
from ..extensions import db
from .errors import (AccountDeactivated, InvalidNewPassword, InvalidPasswordResetToken, PasswordResetNotConfigured,
                     PasswordResetTokenExpired, PasswordResetTokenUsed)
from .models import PasswordResetToken, User

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128  # token_urlsafe(32) is 43 characters; anything much longer is not ours
PASSWORD_MIN, PASSWORD_MAX = 6, 72  # the registration rule (bcrypt reads at most 72 bytes)
GENERIC_REQUEST_MESSAGE = ("If an account exists for this email, we have sent a link to reset its password. "
                           "Please check your inbox.")
REDACTED_BODY = "This password reset message is no longer valid: the password was reset."


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _ttl() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("PASSWORD_RESET_TTL_MINUTES") or 30))


def _link_maker():
    """token -> absolute URL of the portal's reset page (checked before any lookup: same answer for everyone)."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if base:
        return lambda token: f"{base}{url_for('portal.reset_password', token=token)}"
    if current_app.config.get("PROFILE") == "production":
        raise PasswordResetNotConfigured()
    return lambda token: url_for("portal.reset_password", token=token, _external=True)


def request_password_reset(email: str, *, requested_ip: str | None = None) -> None:
    """Create a reset link for the account of `email` if it is active, and queue the e-mail. Returns nothing either
    way, so no caller can tell whether the address has an account."""
    from ..notifications import messages
    from ..notifications.delivery import schedule_delivery
    from .services import find_by_email

    make_link = _link_maker()
    user = find_by_email(email) if isinstance(email, str) and len(email) <= 254 else None
    if user is None or not user.is_active or user.deleted_at is not None:
        return
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    row = PasswordResetToken(user_id=user.id, token_digest=digest(token), created_at=now, expires_at=now + _ttl(),
                             requested_ip=(requested_ip or None) and requested_ip[:45])
    db.session.add(row)
    db.session.flush()
    messages.password_reset(user=user, link=make_link(token), token_id=row.id, expires_at=row.expires_at,
                            ttl_minutes=int(_ttl().total_seconds() // 60))
    schedule_delivery()


def check_token(token: str) -> PasswordResetToken:
    """The usable token row behind `token`, or the typed error a reset would raise (for the portal's GET page)."""
    row = _row(token)
    _raise_if_unusable(row, utcnow())
    return row


def reset_password(token: str, new_password: str) -> User:
    """Spend `token` and set `new_password`; every existing session of the user ends. Typed errors otherwise."""
    if not isinstance(new_password, str) or not PASSWORD_MIN <= len(new_password) <= PASSWORD_MAX:
        raise InvalidNewPassword()
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidPasswordResetToken()
    now = utcnow()
    user_id = db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.token_digest == digest(token), PasswordResetToken.used_at.is_(None),
               PasswordResetToken.expires_at > now)
        .values(used_at=now)
        .returning(PasswordResetToken.user_id)
    ).scalar_one_or_none()
    if user_id is None:
        _raise_if_unusable(_row(token), now)
        raise InvalidPasswordResetToken()  # a row changed between the UPDATE and the SELECT: it is spent anyway
    user = db.session.execute(select(User).where(User.id == user_id).with_for_update(key_share=True)).scalar_one()
    if user.deleted_at is not None:
        raise InvalidPasswordResetToken()
    if not user.is_active:
        raise AccountDeactivated()
    from .services import set_password

    set_password(user, new_password)
    db.session.execute(update(PasswordResetToken)
                       .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
                       .values(used_at=now))
    _redact_links(user.id)
    db.session.flush()
    return user


def _row(token) -> PasswordResetToken | None:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return db.session.execute(select(PasswordResetToken)
                              .where(PasswordResetToken.token_digest == digest(token))).scalar_one_or_none()


def _raise_if_unusable(row: PasswordResetToken | None, now) -> None:
    from ..db import as_utc

    if row is None:
        raise InvalidPasswordResetToken()
    if row.used_at is not None:
        raise PasswordResetTokenUsed()
    if as_utc(row.expires_at) <= now:
        raise PasswordResetTokenExpired()


def _redact_links(user_id: str) -> None:
    """The links are dead now; keep them out of the outbox page and the database from here on."""
    from ..notifications.models import Notification, NotificationType

    db.session.execute(update(Notification)
                       .where(Notification.user_id == user_id, Notification.type == NotificationType.PASSWORD_RESET)
                       .values(body=REDACTED_BODY, updated_at=utcnow()))
