"""The Google OpenID Connect simulator: signing key, client registry, HTTP endpoints and ``OIDCSimulator``.

Owns everything the simulator does; ``__main__`` only parses the command line. The wire protocol
follows accounts.google.com closely enough that a standard OAuth 2.0 / OIDC client (and the app's
``webapp.accounts.google_oidc``) runs against it unchanged:

    GET  /.well-known/openid-configuration    discovery document
    GET  /oauth2/v3/certs                     JWKS (one RSA key, generated at start-up)
    GET  /o/oauth2/v2/auth                    account chooser (POST also accepted, as OIDC allows)
    POST /o/oauth2/v2/approve                 the chooser's form: 302 to redirect_uri?code=&state=
    POST /token                               authorization_code grant (client_secret_post or Basic)
    GET  /v1/userinfo                         claims for a Bearer access token
    POST /simulator/id-token                  test hook: mint an ID token directly, as the
                                              Google Identity Services button hands one to a page
    GET  /simulator/avatar.svg?name=...       local stand-in for the ``picture`` URL

State (codes, access tokens) lives in memory and dies with the process.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterable
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ..httpserver import SimulatorHTTPServer

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "poddesk-local-client"
DEFAULT_CLIENT_SECRET = "poddesk-local-secret"
CODE_TTL = 60
TOKEN_TTL = 3600
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SEED_ACCOUNTS = (
    {"email": "alice.google@example.com", "name": "Alice Google", "email_verified": True},
    {"email": "bob.unverified@example.com", "name": "Bob Unverified", "email_verified": False},
    {"email": "carol.staff@example.com", "name": "Carol Staff", "email_verified": True},
)
SCOPES = ("openid", "email", "profile")
CLAIMS = ("aud", "azp", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss",
          "name", "nonce", "picture", "sub")


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` code, human description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class Client:
    """A registered OAuth client. ``redirect_uris=None`` accepts any loopback http(s) URI."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, spec: str) -> "Client":
        """``ID:SECRET:URI[,URI...]`` (the URIs keep their own colons)."""
        client_id, secret, uris = (spec.split(":", 2) + ["", ""])[:3]
        redirect_uris = tuple(u.strip() for u in uris.split(",") if u.strip())
        if not client_id or not secret or not redirect_uris:
            raise ValueError(f"client spec must be ID:SECRET:URI[,URI...], got {spec!r}")
        return cls(client_id, secret, redirect_uris)

    def allows_redirect(self, uri: str) -> bool:
        if self.redirect_uris is not None:
            return uri in self.redirect_uris
        try:
            parts = urlsplit(uri)
            return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS \
                and not parts.fragment and not parts.username
        except ValueError:
            return False


def stable_sub(email: str) -> str:
    """Google-style 21-digit subject, deterministic per (case-insensitive) email."""
    digest = hashlib.sha256(email.strip().lower().encode()).digest()
    return str(10**20 + int.from_bytes(digest[:16], "big") % (9 * 10**20))


def name_from_email(email: str) -> str:
    return " ".join(p.capitalize() for p in email.split("@", 1)[0].replace("_", ".").split(".") if p)


def with_query(uri: str, **params: str | None) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


class OIDCSimulator:
    """A Google-like OpenID provider on a local port, served from a daemon thread.

    ``clients`` are ``Client`` objects or ``ID:SECRET:URIS`` strings; the default client
    (``poddesk-local-client`` / ``poddesk-local-secret``, any loopback redirect URI) is always
    registered unless a client with the same id replaces it.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, issuer: str | None = None,
                 clients: Iterable[Client | str] | None = None):
        self.host, self.port, self._issuer = host, port, issuer
        self.default_client_id, self.default_client_secret = DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        registered = [Client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)]
        registered += [c if isinstance(c, Client) else Client.parse(c) for c in clients or ()]
        self.clients = {c.client_id: c for c in registered}
        self.code_ttl = CODE_TTL
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = hashlib.sha1(public_der).hexdigest()
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, tuple[dict[str, Any], float]] = {}
        self._lock = threading.Lock()
        self._httpd: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def bind(self) -> "OIDCSimulator":
        """Open the listening socket (port 0 picks a free one) without serving yet."""
        if self._httpd is None:
            self._httpd = SimulatorHTTPServer((self.host, self.port), _Handler)
            self._httpd.daemon_threads = True
            self._httpd.sim = self  # type: ignore[attr-defined]
            self.port = self._httpd.server_address[1]
        return self

    def start(self) -> "OIDCSimulator":
        self.bind()
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"oidc-sim:{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.bind()._httpd.serve_forever()

    def stop(self) -> None:
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join(timeout=5)
            self._httpd.server_close()
            self._httpd = self._thread = None

    def __enter__(self) -> "OIDCSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def issuer(self) -> str:
        return self._issuer or self.url

    # -- protocol documents ----------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/o/oauth2/v2/auth",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/v1/userinfo",
            "jwks_uri": f"{self.url}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": list(CLAIMS),
            "grant_types_supported": ["authorization_code"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
                          "n": jwk["n"], "e": jwk["e"]}]}

    def identity(self, email: str, *, sub: str | None = None, name: str | None = None,
                 picture: str | None = None, email_verified: bool = True) -> dict[str, Any]:
        """The profile claims Google would release for ``email`` (scopes email + profile)."""
        email = email.strip()
        name = name or name_from_email(email)
        given, _, family = name.partition(" ")
        claims = {"sub": sub or stable_sub(email), "email": email, "email_verified": bool(email_verified),
                  "name": name, "picture": picture or f"{self.url}/simulator/avatar.svg?{urlencode({'name': name})}",
                  "given_name": given}
        if family:
            claims["family_name"] = family
        return claims

    def mint_id_token(self, email: str, *, sub: str | None = None, name: str | None = None,
                      picture: str | None = None, email_verified: bool = True, aud: str | None = None,
                      iss: str | None = None, expires_in: int = TOKEN_TTL, nonce: str | None = None,
                      **extra: Any) -> str:
        """An RS256 ID token signed with this simulator's key; ``extra`` claims are added verbatim."""
        now = int(time.time())
        aud = aud or self.default_client_id
        claims = {"iss": iss or self.issuer, "aud": aud, "azp": aud,
                  **self.identity(email, sub=sub, name=name, picture=picture, email_verified=email_verified),
                  "iat": now, "exp": now + int(expires_in)}
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(extra)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    # -- authorization code flow -----------------------------------------------------------

    def check_client_redirect(self, client_id: str, redirect_uri: str) -> Client:
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", f"The OAuth client was not found: {client_id!r}.", 401)
        if not redirect_uri or not client.allows_redirect(redirect_uri):
            raise OAuthError("redirect_uri_mismatch",
                             f"The redirect URI {redirect_uri!r} is not registered for client {client_id!r}.")
        return client

    def issue_code(self, *, client_id: str, redirect_uri: str, scope: str, nonce: str | None,
                   identity: dict[str, Any]) -> str:
        code = "4/" + secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._codes = {k: v for k, v in self._codes.items() if v["expires_at"] > now}
            self._codes[code] = {"client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
                                 "nonce": nonce, "identity": identity, "expires_at": now + self.code_ttl}
        return code

    def authenticate_client(self, form: dict[str, str], authorization: str | None) -> Client:
        if authorization and authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                client_id, _, secret = decoded.partition(":")
                client_id, secret = unquote_plus(client_id), unquote_plus(secret)
            except ValueError:
                raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from None
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
            raise OAuthError("invalid_client", "Unauthorized client or bad client secret.", 401)
        return client

    def exchange_code(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        client = self.authenticate_client(form, authorization)
        if form.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {form.get('grant_type')!r}.")
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use, even when it fails below
        if grant is None or grant["expires_at"] <= time.time():
            raise OAuthError("invalid_grant", "Malformed, expired or already used auth code.")
        if grant["client_id"] != client.client_id or grant["redirect_uri"] != form.get("redirect_uri"):
            raise OAuthError("invalid_grant", "The code was issued to another client or redirect_uri.")
        access_token = "ya29." + secrets.token_urlsafe(40)
        digest = hashlib.sha256(access_token.encode()).digest()[:16]
        at_hash = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        identity = grant["identity"]
        id_token = self.mint_id_token(identity["email"], **{k: identity[k] for k in ("sub", "name", "picture")},
                                      email_verified=identity["email_verified"], aud=client.client_id,
                                      nonce=grant["nonce"], at_hash=at_hash)
        now = time.time()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
            self._tokens[access_token] = (identity, now + TOKEN_TTL)
        return {"access_token": access_token, "id_token": id_token, "expires_in": TOKEN_TTL,
                "token_type": "Bearer", "scope": grant["scope"]}

    def userinfo(self, authorization: str | None) -> dict[str, Any]:
        token = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else ""
        with self._lock:
            identity, expires_at = self._tokens.get(token, (None, 0.0))
        if identity is None or expires_at <= time.time():
            raise OAuthError("invalid_token", "Missing, invalid or expired access token.", 401)
        return dict(identity)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;color:#202124}}
.card{{border:1px solid #dadce0;border-radius:8px;padding:1.5rem}}
button{{display:block;width:100%;text-align:left;padding:.6rem;margin:.3rem 0;background:#fff;
border:1px solid #dadce0;border-radius:4px;cursor:pointer}} button:hover{{background:#f1f3f4}}
input[type=text],input[type=email]{{width:100%;padding:.4rem;margin:.2rem 0;box-sizing:border-box}}
small{{color:#5f6368}} .error{{color:#d93025}}
</style></head><body><div class="card">{body}</div></body></html>"""


def _page(title: str, body: str) -> bytes:
    return _PAGE.format(title=html.escape(title), body=body).encode()


def _chooser(request: dict[str, str]) -> bytes:
    """Account chooser: one form per seeded account plus a free-form one, all POSTing to /approve."""
    hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(request.get(k, ""))}">'
                     for k in ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce"))
    action = 'method="post" action="/o/oauth2/v2/approve"'
    accounts = "".join(
        f'<form {action}>{hidden}<input type="hidden" name="email" value="{html.escape(a["email"])}">'
        f'<input type="hidden" name="name" value="{html.escape(a["name"])}">'
        + ('<input type="hidden" name="email_verified" value="true">' if a["email_verified"] else "")
        + f'<button type="submit" name="action" value="approve"><b>{html.escape(a["name"])}</b><br>'
          f'<small>{html.escape(a["email"])}{"" if a["email_verified"] else " (email not verified)"}</small>'
          f'</button></form>'
        for a in SEED_ACCOUNTS)
    custom = (f'<form {action}>{hidden}<h3>Use another account</h3>'
              '<label>Email <input type="email" name="email" required></label>'
              '<label>Name <input type="text" name="name"></label>'
              '<label><input type="checkbox" name="email_verified" value="true" checked> email verified</label>'
              '<button type="submit" name="action" value="approve">Continue</button>'
              '<button type="submit" name="action" value="deny" formnovalidate>Cancel</button></form>')
    return _page("Sign in - Google Accounts (simulator)",
                 f"<h2>Choose an account</h2><p><small>to continue to "
                 f"<b>{html.escape(request.get('client_id', ''))}</b> (local Google simulator)</small></p>"
                 f"{accounts}{custom}")


class _Handler(BaseHTTPRequestHandler):
    # Headers and body leave in separate writes: without TCP_NODELAY, Nagle + the client's delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    server_version = "OIDCSimulator/1.0"
    MAX_BODY = 64 * 1024

    @property
    def sim(self) -> OIDCSimulator:
        return self.server.sim  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)

    # -- responses -------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict[str, Any], **headers: str) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8", **headers)

    def _oauth_error_json(self, err: OAuthError) -> None:
        challenge = {"invalid_token": f'Bearer error="{err.error}"', "invalid_client": 'Basic realm="oidc-simulator"'}
        headers = {"WWW_Authenticate": challenge[err.error]} if err.error in challenge and err.status == 401 else {}
        self._json(err.status, {"error": err.error, "error_description": err.description},
                   Cache_Control="no-store", **headers)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", Location=location, Cache_Control="no-store")

    # -- request parsing -------------------------------------------------------------------

    def _split(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.MAX_BODY:
            raise OAuthError("invalid_request", "Request body too large.", 413)
        return self.rfile.read(length) if length > 0 else b""

    def _form(self) -> dict[str, str]:
        return dict(parse_qsl(self._body().decode("utf-8", "replace"), keep_blank_values=True))

    # -- routing ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        path, query = self._split()
        sim = self.sim
        if path == "/.well-known/openid-configuration":
            self._json(200, sim.discovery(), Cache_Control="public, max-age=3600")
        elif path == "/oauth2/v3/certs":
            self._json(200, sim.jwks(), Cache_Control="public, max-age=3600")
        elif path == "/o/oauth2/v2/auth":
            self._authorize(query)
        elif path == "/v1/userinfo":
            try:
                self._json(200, sim.userinfo(self.headers.get("Authorization")), Cache_Control="no-store")
            except OAuthError as err:
                self._oauth_error_json(err)
        elif path == "/simulator/avatar.svg":
            initial = html.escape((query.get("name") or "?")[:1].upper())
            svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96"><circle cx="48" cy="48" '
                   'r="48" fill="#1a73e8"/><text x="48" y="62" font-size="44" text-anchor="middle" '
                   f'fill="#fff" font-family="sans-serif">{initial}</text></svg>')
            self._send(200, svg.encode(), "image/svg+xml")
        else:
            self._json(404, {"error": "not_found", "error_description": f"No route for GET {path}."})

    do_HEAD = do_GET

    def do_POST(self) -> None:
        path, _ = self._split()
        try:
            if path == "/o/oauth2/v2/auth":
                self._authorize(self._form())
            elif path == "/o/oauth2/v2/approve":
                self._approve(self._form())
            elif path == "/token":
                form = self._form()
                self._json(200, self.sim.exchange_code(form, self.headers.get("Authorization")),
                           Cache_Control="no-store", Pragma="no-cache")
            elif path == "/simulator/id-token":
                self._json(200, {"id_token": self._mint_from_json()})
            else:
                self._json(404, {"error": "not_found", "error_description": f"No route for POST {path}."})
        except OAuthError as err:
            self._oauth_error_json(err)

    # -- handlers --------------------------------------------------------------------------

    def _error_page(self, err: OAuthError) -> None:
        body = (f'<h2>Error 400: {html.escape(err.error)}</h2>'
                f'<p class="error">{html.escape(err.description)}</p>'
                '<p><small>Request details: this is the local Google OIDC simulator.</small></p>')
        self._send(400, _page("Error 400 (OAuth 2.0)", body), "text/html; charset=utf-8")

    def _authorize(self, request: dict[str, str]) -> None:
        try:
            self.sim.check_client_redirect(request.get("client_id", ""), request.get("redirect_uri", ""))
        except OAuthError as err:
            return self._error_page(err)  # never redirect to an unverified URI
        error = self._request_error(request)
        if error:
            return self._redirect(with_query(request["redirect_uri"], error=error, state=request.get("state")))
        self._send(200, _chooser(request), "text/html; charset=utf-8", Cache_Control="no-store")

    @staticmethod
    def _request_error(request: dict[str, str]) -> str | None:
        if request.get("response_type") != "code":
            return "unsupported_response_type"
        if "openid" not in request.get("scope", "").split():
            return "invalid_scope"
        return None

    def _approve(self, form: dict[str, str]) -> None:
        sim = self.sim
        try:
            client = sim.check_client_redirect(form.get("client_id", ""), form.get("redirect_uri", ""))
        except OAuthError as err:
            return self._error_page(err)
        redirect_uri, state = form["redirect_uri"], form.get("state") or None
        error = self._request_error(form) or ("access_denied" if form.get("action") == "deny" else None)
        if error:
            return self._redirect(with_query(redirect_uri, error=error, state=state))
        email = form.get("email", "").strip()
        if "@" not in email:
            return self._error_page(OAuthError("invalid_request", "An email address is required."))
        identity = sim.identity(email, name=form.get("name", "").strip() or None,
                                email_verified=form.get("email_verified") in ("true", "on", "1"))
        code = sim.issue_code(client_id=client.client_id, redirect_uri=redirect_uri, scope=form["scope"],
                              nonce=form.get("nonce") or None, identity=identity)
        self._redirect(with_query(redirect_uri, code=code, state=state))

    def _mint_from_json(self) -> str:
        try:
            body = json.loads(self._body() or b"{}")
        except ValueError:
            raise OAuthError("invalid_request", "Body must be JSON.") from None
        if not isinstance(body, dict) or not isinstance(body.get("email"), str) or "@" not in body["email"]:
            raise OAuthError("invalid_request", "JSON object with an 'email' string is required.")
        if not isinstance(body.get("email_verified", True), bool):
            raise OAuthError("invalid_request", "'email_verified' must be a boolean.")
        try:
            return self.sim.mint_id_token(**body)
        except (TypeError, ValueError) as exc:
            raise OAuthError("invalid_request", str(exc)) from None
