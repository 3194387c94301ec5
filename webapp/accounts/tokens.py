"""Access tokens (JWT HS256, the original's payload) and rotating refresh tokens (opaque, stored hashed)."""
from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta

import jwt
from sqlalchemy import select, update

from ..db import as_utc, new_id, utcnow
from ..extensions import db
from .errors import InvalidAccessToken, InvalidRefreshToken, RefreshTokenExpired
from .models import RefreshToken, User

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int, default_unit: str = "s") -> timedelta:
    """'15m', '24h', '7d', or plain seconds (jsonwebtoken's convention for a bare number)."""
    if isinstance(text, int):
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"Invalid duration {text!r}: use e.g. 900, 15m, 24h or 7d")
    amount, unit = int(match.group(1)), match.group(2) or default_unit
    return timedelta(seconds=amount * _UNITS[unit])


# ------------------------------------------------------------------------------------------- access
def issue_access_token(user: User, *, secret: str, lifetime: timedelta) -> str:
    now = utcnow()
    payload = {
        "userId": user.id,
        "type": "access",
        "tv": user.token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_access_token(token: str, *, secret: str) -> tuple[str, int | None]:
    """Return (user id, token version) or raise InvalidAccessToken. Algorithm pinned, type checked."""
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "iat"]})
    except jwt.PyJWTError:
        raise InvalidAccessToken() from None
    user_id = payload.get("userId")
    if payload.get("type") != "access" or not isinstance(user_id, str):
        raise InvalidAccessToken()
    version = payload.get("tv")
    return user_id, version if isinstance(version, int) else None


# ------------------------------------------------------------------------------------------ refresh
def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_refresh_token(user: User, *, lifetime: timedelta, family_id: str | None = None) -> str:
    """Create a refresh token row in the current transaction; return the clear token (shown once)."""
    token = str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
    db.session.add(RefreshToken(token_hash=_digest(token), user_id=user.id, family_id=family_id or new_id(),
                                expires_at=utcnow() + lifetime))
    return token


def rotate_refresh_token(token: str, *, lifetime: timedelta) -> tuple[User, str]:
    """Spend `token` and return (user, new token). Reuse of a spent token revokes its whole family."""
    row = db.session.execute(select(RefreshToken).where(RefreshToken.token_hash == _digest(token))).scalar_one_or_none()
    if row is None:
        raise InvalidRefreshToken()
    now = utcnow()
    # The failure paths below commit their clean-up before raising: the revocation of a leaked
    # family must survive the error response.
    if row.revoked_at is not None:
        revoke_family(row.family_id)
        db.session.commit()
        raise InvalidRefreshToken()
    if as_utc(row.expires_at) <= now:
        db.session.delete(row)
        db.session.commit()
        raise RefreshTokenExpired()
    # Conditional update: two concurrent refreshes with the same token, only one wins.
    spent = db.session.execute(
        update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now)
    ).rowcount
    if spent != 1:
        revoke_family(row.family_id)
        db.session.commit()
        raise InvalidRefreshToken()
    user = db.session.get(User, row.user_id)
    return user, issue_refresh_token(user, lifetime=lifetime, family_id=row.family_id)


def revoke_family(family_id: str) -> None:
    db.session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                                  RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))


def revoke_token_of_user(token: str, user_id: str) -> None:
    db.session.execute(update(RefreshToken).where(RefreshToken.token_hash == _digest(token),
                                                  RefreshToken.user_id == user_id,
                                                  RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))


def revoke_all_for_user(user_id: str) -> None:
    db.session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id,
                                                  RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))


def purge_expired_refresh_tokens(*, keep_revoked_for: timedelta = timedelta(days=1)) -> int:
    """Delete expired tokens, and revoked ones once reuse detection no longer needs them."""
    now = utcnow()
    result = db.session.execute(
        RefreshToken.__table__.delete().where(
            (RefreshToken.expires_at <= now) | (RefreshToken.revoked_at <= now - keep_revoked_for)))
    return result.rowcount


