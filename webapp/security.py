"""HTTP hardening shared by the API, console and portal: response security headers and CORS for /api.

- Every HTML response gets a Content-Security-Policy that runs only scripts served by this site (`script-src
  'self'`, no inline scripts, no inline event handlers, no eval): Plotly is `static/vendor/plotly.min.js`, figures
  are JSON drawn by `static/console/charts.js`, confirmations are attached by `static/console/console.js`.
  Styles keep 'unsafe-inline' (Plotly injects its own style rules; Flask-Admin uses style attributes).
  `form-action` allows this site plus exactly the payment page origin a top-up redirects to (Chrome checks the
  redirects that follow a form POST against it); Google sign-in is a plain link (GET), which form-action ignores.
- A response that already set its own policy keeps it (attachment downloads send the stricter `default-src 'none'`).
- HSTS only when `HSTS_SECONDS` > 0 (the production profile).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request

MIDTRANS_SNAP_ORIGINS = {True: "https://app.midtrans.com", False: "https://app.sandbox.midtrans.com"}


def _origin(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def form_action_origins(config) -> list[str]:
    """Origins (besides 'self') an HTML form may submit to, directly or through a redirect."""
    origins = []
    # The Snap payment page the top-up form redirects to: the simulator (MIDTRANS_API_BASE_URL) or Midtrans' own.
    midtrans = _origin(config.get("MIDTRANS_API_BASE_URL")) or \
        MIDTRANS_SNAP_ORIGINS[bool(config.get("MIDTRANS_IS_PRODUCTION"))]
    for origin in [midtrans, *(config.get("CSP_FORM_ACTION_ORIGINS") or [])]:
        origin = _origin(origin)
        if origin and origin not in origins:
            origins.append(origin)
    return origins


def content_security_policy(config) -> str:
    form_action = " ".join(["'self'", *form_action_origins(config)])
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        f"form-action {form_action}",
    ])


_policies: dict[tuple, str] = {}


def _cached_policy(config) -> str:
    """`content_security_policy`, built once per combination of the settings it reads."""
    origins = config.get("CSP_FORM_ACTION_ORIGINS") or ()
    key = (config.get("MIDTRANS_API_BASE_URL"), bool(config.get("MIDTRANS_IS_PRODUCTION")),
           tuple(origins) if isinstance(origins, (list, tuple)) else origins)
    policy = _policies.get(key)
    if policy is None:
        if len(_policies) > 64:  # settings changed many times (tests): never grow without bound
            _policies.clear()
        policy = _policies[key] = content_security_policy(config)
    return policy


def init_security(app: Flask) -> None:
    origins = set(app.config.get("CORS_ORIGINS") or [])

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":  # read per response: tests and `make run` set provider URLs late
            response.headers.setdefault("Content-Security-Policy", _cached_policy(app.config))
        hsts_seconds = int(app.config.get("HSTS_SECONDS") or 0)
        if hsts_seconds > 0:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts_seconds}; includeSubDomains")
        origin = request.headers.get("Origin")
        if origin and origin in origins and request.path.startswith("/api/"):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        return response
