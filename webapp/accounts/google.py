"""Google sign-in rules: log in, sign up, link and unlink (AU4, AU8, AU9), with the original's fixes.

- Google routes refuse to work when GOOGLE_CLIENT_ID is unset (no token of another app is accepted).
- An existing account is linked by email only when Google says the email is verified, and never for a
  deactivated account.
"""
from __future__ import annotations

from typing import Callable

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from .errors import (GoogleAccountDeactivated, GoogleAccountLinkedElsewhere, GoogleEmailMismatch,
                     GoogleEmailUnverified, GoogleLinkInvalidToken, GoogleNotConfigured, GoogleNotLinked,
                     GoogleUnlinkNeedsPassword, InvalidGoogleToken)
from .google_oidc import (GoogleIdentity, GoogleTokenError, build_authorization_url, discover, exchange_code,
                          verify_google_id_token)
from .models import Role, User
from .services import Session, _flush_unique, start_session


def _configured() -> dict:
    config = current_app.config
    if not config.get("GOOGLE_CLIENT_ID"):
        raise GoogleNotConfigured()
    return config


def verify(id_token: str, *, error=InvalidGoogleToken, nonce: str | None = None) -> GoogleIdentity:
    config = _configured()
    try:
        return verify_google_id_token(id_token, client_id=config["GOOGLE_CLIENT_ID"],
                                      issuers=tuple(config["GOOGLE_ISSUERS"]), jwks_url=config["GOOGLE_JWKS_URL"],
                                      nonce=nonce)
    except GoogleTokenError:
        raise error() from None


# ------------------------------------------------------------- browser sign-in (authorization code)
def authorization_url(*, redirect_uri: str, state: str, nonce: str) -> str:
    """Where to send a browser that chose "Sign in with Google" (console and portal)."""
    config = _configured()
    try:
        provider = discover(config["GOOGLE_DISCOVERY_URL"])
    except GoogleTokenError:
        raise InvalidGoogleToken() from None
    return build_authorization_url(provider, config["GOOGLE_CLIENT_ID"], redirect_uri, state, nonce,
                                   prompt="select_account")


def identity_from_code(code: str, *, redirect_uri: str, nonce: str) -> GoogleIdentity:
    """Redeem the code at the token endpoint and verify the ID token it returns (nonce included)."""
    config = _configured()
    try:
        provider = discover(config["GOOGLE_DISCOVERY_URL"])
        tokens = exchange_code(provider, code=code, client_id=config["GOOGLE_CLIENT_ID"],
                               client_secret=config.get("GOOGLE_CLIENT_SECRET") or "", redirect_uri=redirect_uri)
    except GoogleTokenError:
        raise InvalidGoogleToken() from None
    return verify(tokens["id_token"], nonce=nonce)


def existing_user_for(identity: GoogleIdentity) -> User:
    """Staff sign-in never creates accounts: the Google account must be linked, or match a verified email."""
    user = db.session.execute(select(User).where(User.google_id == identity.sub)).scalar_one_or_none()
    if user is None:
        user = db.session.execute(select(User).where(User.email == identity.email)).scalar_one_or_none()
        if user is None:
            raise InvalidGoogleToken()
        if not identity.email_verified:
            raise GoogleEmailUnverified()
        if user.is_active and user.deleted_at is None:
            _attach(user, identity)
    if not user.is_active or user.deleted_at is not None:
        raise GoogleAccountDeactivated()
    db.session.flush()
    return user


def _presenter(name: str) -> Callable:
    from ..api import presenters

    return getattr(presenters, name)


def login(id_token: str) -> tuple[Session, Callable]:
    """Return the session and the presenter of the branch taken (the original's response shapes differ)."""
    identity = verify(id_token)
    return login_with_identity(identity)


def login_with_identity(identity: GoogleIdentity) -> tuple[Session, Callable]:
    user = db.session.execute(select(User).where(User.google_id == identity.sub)).scalar_one_or_none()
    if user is not None:
        if not user.is_active or user.deleted_at is not None:
            raise GoogleAccountDeactivated()
        user.name = identity.name or user.name
        user.avatar = identity.picture
        user.email_verified = identity.email_verified
        db.session.flush()
        return start_session(user), _presenter("user_google_existing")

    user = db.session.execute(select(User).where(User.email == identity.email)).scalar_one_or_none()
    if user is not None:
        if not identity.email_verified:
            raise GoogleEmailUnverified()
        if not user.is_active or user.deleted_at is not None:
            raise GoogleAccountDeactivated()
        _attach(user, identity)
        db.session.flush()
        return start_session(user), _presenter("user_full")

    user = User(name=(identity.name or identity.email.split("@")[0])[:100], email=identity.email,
                password_hash=None, role=Role.USER, is_active=True, google_id=identity.sub, is_google_user=True,
                email_verified=identity.email_verified, avatar=identity.picture, credit_balance=0,
                total_top_up=0, total_spent=0, token_version=0)
    db.session.add(user)
    _flush_unique(email_error=GoogleAccountLinkedElsewhere)
    from ..billing.welcome import apply_welcome_bonuses  # billing imports accounts

    apply_welcome_bonuses(user)
    return start_session(user), _presenter("user_full")


def _attach(user: User, identity: GoogleIdentity) -> None:
    user.google_id = identity.sub
    user.is_google_user = True
    user.email_verified = identity.email_verified
    user.avatar = identity.picture or user.avatar


def link(user: User, id_token: str) -> User:
    identity = verify(id_token, error=GoogleLinkInvalidToken)
    owner = db.session.execute(select(User).where(User.google_id == identity.sub)).scalar_one_or_none()
    if owner is not None and owner.id != user.id:
        raise GoogleAccountLinkedElsewhere()
    if identity.email != user.email:
        raise GoogleEmailMismatch()
    _attach(user, identity)
    db.session.flush()
    return user


def unlink(user: User) -> User:
    if not user.google_id:
        raise GoogleNotLinked()
    if not user.password_hash:
        raise GoogleUnlinkNeedsPassword()
    user.google_id = None
    user.is_google_user = False
    db.session.flush()
    return user
