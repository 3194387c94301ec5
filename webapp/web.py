"""Helpers shared by the cookie-session front ends (console and portal): safe redirects, fresh sessions."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import g, session


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site ("/admin/users/?page=2"), else None (no open redirect)."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def fresh_session() -> None:
    """Start a new session at sign-in/out (no session fixation): drop everything the pre-login session held
    and this request's cached CSRF token, keeping only the messages flashed for the next page."""
    flashes = session.get("_flashes")
    session.clear()
    if flashes:
        session["_flashes"] = flashes
    g.pop("csrf_token", None)
