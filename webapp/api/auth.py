"""Bearer-token guards for the JSON API: `user_required` and `admin_required`.

Both load the user on every request (one primary-key read), so deactivation, deletion and role changes
take effect at once. Guards run before validation, like the original's middleware order. Answers to an
authenticated request are marked `Cache-Control: private, no-store`.
"""
from __future__ import annotations

import functools

from flask import after_this_request, g, request

from ..accounts.errors import AccessTokenRequired, InsufficientPermissions
from ..accounts.models import User
from ..accounts.services import authenticate_access_token


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    # The original took the second word whatever the scheme ("Basic xyz" -> "xyz" -> 403).
    parts = header.split(" ")
    token = parts[1] if len(parts) > 1 else None
    return token or None


def current_api_user() -> User:
    return g.api_user


def _authenticate() -> User:
    token = bearer_token()
    if not token:
        raise AccessTokenRequired()
    user = authenticate_access_token(token)
    g.api_user = user
    after_this_request(_private)
    return user


def _private(response):
    """An authenticated answer is one account's data: never stored by a browser or a proxy."""
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def user_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        _authenticate()
        return view(*args, **kwargs)

    wrapper.api_auth = "user"
    return wrapper


def admin_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = _authenticate()
        if not user.is_admin:
            raise InsufficientPermissions()
        return view(*args, **kwargs)

    wrapper.api_auth = "admin"
    return wrapper
