"""Rate limits of the sign-in and password-reset entry points, shared by the API, the console and the portal.

One set of limits, applied the same way by every delivery layer (decorators over the view):
- `login_limits`: LOGIN_RATE_LIMIT attempts per client address (per route), LOGIN_FAILURE_LIMIT failed sign-ins
  per account (the email) and client address, and LOGIN_ACCOUNT_FAILURE_LIMIT per account from any address, each
  counted in ONE bucket for /api/auth/login, /portal/login and /admin/login, so spreading guesses over the three
  front ends gains nothing. A failure is a 401/403 answer (API) or a view that called
  `mark_login_failed()` (the forms answer 200/400 with a form error).
- `password_reset_limits(per_email=...)`: PASSWORD_RESET_RATE_LIMIT per client address; for the "forgot password"
  request also PASSWORD_RESET_EMAIL_LIMIT per target address (mail bombing), counted whether or not the account
  exists, so the limit says nothing about it.
The email is read from a JSON body or a form body. Over a limit flask-limiter raises `RateLimitExceeded` (429): the
API answers in its envelope, the portal and console re-render the form with a message.
"""
from __future__ import annotations

from flask import current_app, g, request

from ..extensions import limiter

LOGIN_FAILURE_SCOPE = "login-failures"
LOGIN_ACCOUNT_FAILURE_SCOPE = "login-account-failures"
RESET_EMAIL_SCOPE = "password-reset-email"


def _config(key: str):
    return lambda: current_app.config[key]  # read per request, not at import


def submitted_email() -> str | None:
    body = request.get_json(silent=True) if request.is_json else None
    email = body.get("email") if isinstance(body, dict) else request.form.get("email")
    return email.strip().lower()[:254] if isinstance(email, str) and email.strip() else None


def _email_key(prefix: str):
    def key() -> str:
        email = submitted_email()
        return f"{prefix}:{email}" if email else f"{prefix}-ip:{request.remote_addr}"
    return key


def mark_login_failed() -> None:
    """Called by form views when the credentials were refused (they answer with a form error, not a 401)."""
    g.login_failed = True


def login_failed(response) -> bool:
    return response.status_code in (401, 403) or bool(g.get("login_failed"))


def _email_and_address_key(prefix: str):
    def key() -> str:
        email = submitted_email()
        return f"{prefix}:{email}:{request.remote_addr}" if email else f"{prefix}-ip:{request.remote_addr}"
    return key


def login_limits(view):
    """Per-address and per-account sign-in limits on a POST sign-in view.

    The tight failure limit counts per (account, client address): a stranger's wrong passwords cannot lock the owner
    (an administrator included) out from their own address. The loose per-account ceiling bounds guessing spread
    over many addresses."""
    view = limiter.shared_limit(_config("LOGIN_ACCOUNT_FAILURE_LIMIT"), scope=LOGIN_ACCOUNT_FAILURE_SCOPE,
                                key_func=_email_key("login-account"), deduct_when=login_failed,
                                methods=["POST"])(view)
    view = limiter.shared_limit(_config("LOGIN_FAILURE_LIMIT"), scope=LOGIN_FAILURE_SCOPE,
                                key_func=_email_and_address_key("login"), deduct_when=login_failed,
                                methods=["POST"])(view)
    return limiter.limit(_config("LOGIN_RATE_LIMIT"), methods=["POST"])(view)


def password_reset_limits(*, per_email: bool):
    def apply(view):
        if per_email:
            view = limiter.shared_limit(_config("PASSWORD_RESET_EMAIL_LIMIT"), scope=RESET_EMAIL_SCOPE,
                                        key_func=_email_key("reset"), methods=["POST"])(view)
        return limiter.limit(_config("PASSWORD_RESET_RATE_LIMIT"), methods=["POST"])(view)
    return apply
