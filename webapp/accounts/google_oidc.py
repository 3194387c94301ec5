"""Google sign-in for the app: ID-token verification and the OIDC authorization-code flow (no Flask here).

Owns the protocol side of "Sign in with Google"; the portal views own sessions and account linking.

Production points at Google itself:
    issuers   ("https://accounts.google.com", "accounts.google.com")   -> ``GOOGLE_ISSUERS``
    jwks_url  "https://www.googleapis.com/oauth2/v3/certs"               -> ``GOOGLE_JWKS_URL``
    discovery "https://accounts.google.com/.well-known/openid-configuration"
Locally and in tests the same code points at ``simulators.oidc`` (issuer and JWKS on its base URL,
e.g. ``http://127.0.0.1:5556`` and ``http://127.0.0.1:5556/oauth2/v3/certs``).

Signing keys are fetched with ``jwt.PyJWKClient`` and cached per JWKS URL for the life of the process
(the JWK set for 5 minutes, individual keys by ``kid``); an unknown ``kid`` triggers at most one refetch
per 30 s, so forged tokens cannot make us hammer the JWKS endpoint.
"""
from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import requests

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
CLOCK_SKEW_SECONDS = 10

_jwk_clients: dict[str, jwt.PyJWKClient] = {}
_jwk_clients_lock = threading.Lock()


@dataclass(frozen=True)
class GoogleIdentity:
    sub: str
    email: str
    email_verified: bool
    name: str | None
    picture: str | None


class GoogleTokenError(Exception):
    """Any failure verifying a Google ID token or talking to the provider; the message says what."""


def _jwk_client(jwks_url: str, timeout: float) -> jwt.PyJWKClient:
    """One cached client per JWKS URL (the first caller's timeout sticks)."""
    with _jwk_clients_lock:
        client = _jwk_clients.get(jwks_url)
        if client is None:
            client = _jwk_clients[jwks_url] = jwt.PyJWKClient(jwks_url, cache_keys=True, timeout=timeout)
        return client


def verify_google_id_token(id_token: str, *, client_id: str, issuers: tuple[str, ...], jwks_url: str,
                           timeout: float = 5.0, nonce: str | None = None) -> GoogleIdentity:
    """Verify signature (RS256 only), ``exp``/``iat``, ``aud == client_id`` and ``iss in issuers``.

    Pass ``nonce`` in the authorization-code flow to bind the token to the login attempt. The email is
    returned stripped and lower-cased; callers decide what an unverified email may do.
    """
    try:
        signing_key = _jwk_client(jwks_url, timeout).get_signing_key_from_jwt(id_token)
        claims = jwt.decode(
            id_token, signing_key, algorithms=["RS256"], audience=client_id, issuer=tuple(issuers),
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "strict_aud": True},
        )
    except jwt.PyJWTError as exc:  # includes PyJWKClientConnectionError (JWKS unreachable)
        raise GoogleTokenError(f"invalid Google ID token: {exc}") from exc
    except ValueError as exc:  # a JWKS endpoint answering with something other than JSON
        raise GoogleTokenError(f"unusable JWKS response from {jwks_url}: {exc}") from exc

    if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise GoogleTokenError("invalid Google ID token: nonce mismatch")
    sub, email = claims.get("sub"), claims.get("email")
    if not isinstance(sub, str) or not sub:
        raise GoogleTokenError("invalid Google ID token: bad 'sub' claim")
    if not isinstance(email, str) or "@" not in email:
        raise GoogleTokenError("invalid Google ID token: no email (request the 'email' scope)")
    verified = claims.get("email_verified", False)
    return GoogleIdentity(
        sub=sub,
        email=email.strip().lower(),
        email_verified=verified is True or verified == "true",  # Google once sent the string form
        name=_optional_str(claims.get("name")),
        picture=_optional_str(claims.get("picture")),
    )


def discover(discovery_url: str, timeout: float = 5.0) -> dict[str, Any]:
    """Fetch an OpenID Provider's configuration document (``/.well-known/openid-configuration``)."""
    try:
        response = requests.get(discovery_url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        config = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise GoogleTokenError(f"OpenID discovery failed for {discovery_url}: {exc}") from exc
    required = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    if not isinstance(config, dict) or any(not isinstance(config.get(k), str) for k in required):
        raise GoogleTokenError(f"OpenID discovery document at {discovery_url} lacks {', '.join(required)}")
    return config


def build_authorization_url(config: dict[str, Any], client_id: str, redirect_uri: str, state: str, nonce: str,
                            *, scope: str = "openid email profile", **extra: str) -> str:
    """Where to send the browser; ``extra`` adds e.g. ``prompt="select_account"`` or ``login_hint``."""
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": state, "nonce": nonce, **extra}
    endpoint = config["authorization_endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


def exchange_code(config: dict[str, Any], *, code: str, client_id: str, client_secret: str, redirect_uri: str,
                  timeout: float = 5.0) -> dict[str, Any]:
    """Redeem an authorization code (client_secret_post); returns the token response with ``id_token``.

    The caller must still verify ``id_token`` with ``verify_google_id_token(..., nonce=...)``.
    """
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": client_id, "client_secret": client_secret}
    try:
        response = requests.post(config["token_endpoint"], data=form, timeout=timeout,
                                 headers={"Accept": "application/json"})
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise GoogleTokenError(f"token endpoint unreachable or not JSON: {exc}") from exc
    if response.status_code != 200 or not isinstance(body, dict) or "error" in body:
        error = body.get("error", response.status_code) if isinstance(body, dict) else response.status_code
        detail = body.get("error_description", "") if isinstance(body, dict) else ""
        raise GoogleTokenError(f"code exchange failed: {error} {detail}".strip())
    if not isinstance(body.get("id_token"), str):
        raise GoogleTokenError("code exchange returned no id_token (was the 'openid' scope requested?)")
    return body


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
