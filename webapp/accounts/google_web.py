"""The browser half of "Sign in with Google" shared by the console and the portal.

Keeps the OIDC `state` (CSRF for the redirect) and `nonce` (binds the ID token to this attempt) in the
Flask session between the redirect to the provider and the callback; the protocol itself is in
`accounts.google`. Each caller uses its own session key, so a console and a portal sign-in never mix.
"""
from __future__ import annotations

import secrets

from flask import flash, redirect, request, session, url_for

from ..errors import DomainError
from .google import authorization_url, identity_from_code
from .google_oidc import GoogleIdentity


class GoogleSignInFailed(DomainError):
    status, message = 400, "Google sign-in failed or was cancelled. Please try again."


def begin(*, session_key: str, callback_url: str, next_url: str | None) -> str:
    """Remember state, nonce and where to go afterwards; return the provider URL to redirect to."""
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    session[session_key] = {"state": state, "nonce": nonce, "next": next_url}
    return authorization_url(redirect_uri=callback_url, state=state, nonce=nonce)


def redirect_to_provider(*, session_key: str, callback_url: str, next_url: str | None, login_endpoint: str):
    """The response of a "Sign in with Google" button: off to the provider, or back to the login page with
    the reason (e.g. Google not configured)."""
    try:
        return redirect(begin(session_key=session_key, callback_url=callback_url, next_url=next_url))
    except DomainError as error:
        flash(error.text, "error")
        return redirect(url_for(login_endpoint))


def complete(*, session_key: str, callback_url: str) -> tuple[GoogleIdentity, str | None]:
    """Check the callback against the remembered attempt (single use) and return (identity, next URL)."""
    pending = session.pop(session_key, None) or {}
    code, state = request.args.get("code"), request.args.get("state")
    if not pending or not code or not state or not secrets.compare_digest(state, pending.get("state", "")):
        raise GoogleSignInFailed()
    identity = identity_from_code(code, redirect_uri=callback_url, nonce=pending["nonce"])
    return identity, pending.get("next")
