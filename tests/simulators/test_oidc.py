"""The Google OIDC simulator over real HTTP, and the app's ID-token verifier against it."""
from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from simulators.oidc import OIDCSimulator
from webapp.accounts.google_oidc import (
    GoogleIdentity,
    GoogleTokenError,
    build_authorization_url,
    discover,
    exchange_code,
    verify_google_id_token,
)

REPO = Path(__file__).resolve().parents[2]
PORTAL_CLIENT = ("portal-client", "portal-secret")


@pytest.fixture(scope="module")
def sim():
    spec = f"{PORTAL_CLIENT[0]}:{PORTAL_CLIENT[1]}:http://127.0.0.1:9/portal/callback,http://localhost:9/cb"
    with OIDCSimulator(clients=[spec]) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def other_sim():
    with OIDCSimulator() as simulator:
        yield simulator


@pytest.fixture()
def callback():
    """A relying party's redirect_uri that records what the browser brought back."""
    hits: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(parse_qs(urlsplit(self.path).query))
            body = b"signed in"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/auth/google/callback", hits
    server.shutdown()
    server.server_close()


def verify(sim, token, **overrides):
    kwargs = {"client_id": sim.default_client_id, "issuers": (sim.issuer,),
              "jwks_url": f"{sim.url}/oauth2/v3/certs", "timeout": 2.0, **overrides}
    return verify_google_id_token(token, **kwargs)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth_params(sim, redirect_uri, **extra):
    return {"client_id": sim.default_client_id, "redirect_uri": redirect_uri, "response_type": "code",
            "scope": "openid email profile", "state": "st-123", "nonce": "n-456", **extra}


def approve(sim, redirect_uri, **fields):
    data = {**auth_params(sim, redirect_uri), "action": "approve", **fields}
    return requests.post(f"{sim.url}/o/oauth2/v2/approve", data=data, allow_redirects=False, timeout=5)


def get_code(sim, redirect_uri, email="alice.google@example.com", **fields):
    response = approve(sim, redirect_uri, email=email, email_verified="true", **fields)
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def token_request(sim, redirect_uri, code, secret=None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": sim.default_client_id, "client_secret": secret or sim.default_client_secret, **extra}
    return requests.post(f"{sim.url}/token", data=data, timeout=5)


# -- discovery and keys ------------------------------------------------------------------------


def test_discovery_document(sim):
    config = discover(f"{sim.url}/.well-known/openid-configuration")
    assert config["issuer"] == sim.issuer == sim.url
    assert config["authorization_endpoint"] == f"{sim.url}/o/oauth2/v2/auth"
    assert config["token_endpoint"] == f"{sim.url}/token"
    assert config["userinfo_endpoint"] == f"{sim.url}/v1/userinfo"
    assert config["jwks_uri"] == f"{sim.url}/oauth2/v3/certs"
    assert config["response_types_supported"] == ["code"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(config["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}
    assert {"openid", "email", "profile"} <= set(config["scopes_supported"])
    assert {"sub", "email", "email_verified", "iss", "aud"} <= set(config["claims_supported"])
    assert config["subject_types_supported"] == ["public"]


def test_jwks_publishes_the_signing_key(sim):
    response = requests.get(f"{sim.url}/oauth2/v3/certs", timeout=5)
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"] == sim.kid
    public = jwt.PyJWK(key).key
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    token = sim.mint_id_token(email="a@example.com")
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    assert jwt.decode(token, public, algorithms=["RS256"], audience=sim.default_client_id)["email"] == "a@example.com"


def test_configured_issuer_is_used_in_discovery_and_tokens():
    with OIDCSimulator(issuer="https://accounts.google.com") as google:
        assert requests.get(f"{google.url}/.well-known/openid-configuration", timeout=5).json()["issuer"] == \
            "https://accounts.google.com"
        token = google.mint_id_token(email="x@example.com")
        identity = verify(google, token, issuers=("https://accounts.google.com", "accounts.google.com"))
        assert identity.email == "x@example.com"


# -- authorization code flow -------------------------------------------------------------------


def test_full_authorization_code_flow(sim, callback):
    redirect_uri, hits = callback
    config = discover(f"{sim.url}/.well-known/openid-configuration")
    auth_url = build_authorization_url(config, sim.default_client_id, redirect_uri, "st-123", "n-456")

    page = requests.get(auth_url, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "alice.google@example.com" in page.text and "bob.unverified@example.com" in page.text
    assert not re.search(r"<script|<link|src=|href=|url\(", page.text)  # no external assets

    landed = requests.post(f"{sim.url}/o/oauth2/v2/approve", timeout=5, data={
        **auth_params(sim, redirect_uri), "action": "approve", "email": "Alice.Google@Example.com",
        "name": "Alice Google", "email_verified": "true"})
    assert [r.status_code for r in landed.history] == [302] and landed.text == "signed in"
    (query,) = hits
    assert query["state"] == ["st-123"]

    tokens = exchange_code(config, code=query["code"][0], client_id=sim.default_client_id,
                           client_secret=sim.default_client_secret, redirect_uri=redirect_uri)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == "openid email profile"

    identity = verify(sim, tokens["id_token"], nonce="n-456")
    assert identity == GoogleIdentity(sub=identity.sub, email="alice.google@example.com", email_verified=True,
                                      name="Alice Google", picture=identity.picture)
    assert len(identity.sub) == 21 and identity.sub.isdigit()
    assert identity.sub == verify(sim, sim.mint_id_token(email="alice.google@example.com")).sub  # stable
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["azp"] == claims["aud"] == sim.default_client_id and claims["exp"] - claims["iat"] == 3600
    assert claims["nonce"] == "n-456" and claims["given_name"] == "Alice" and claims["family_name"] == "Google"
    with pytest.raises(GoogleTokenError, match="nonce"):
        verify(sim, tokens["id_token"], nonce="another-login-attempt")

    info = requests.get(config["userinfo_endpoint"], timeout=5,
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.json()["sub"] == identity.sub and info.json()["email_verified"] is True
    assert set(info.json()) == {"sub", "email", "email_verified", "name", "picture", "given_name", "family_name"}
    assert requests.get(identity.picture, timeout=5).headers["Content-Type"] == "image/svg+xml"


def test_unverified_seed_account_and_basic_client_auth(sim):
    redirect_uri = "http://127.0.0.1:9/portal/callback"
    response = requests.post(f"{sim.url}/o/oauth2/v2/approve", allow_redirects=False, timeout=5, data={
        **auth_params(sim, redirect_uri, client_id=PORTAL_CLIENT[0]), "action": "approve",
        "email": "bob.unverified@example.com", "name": "Bob Unverified"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/portal/callback"
    code = parse_qs(location.query)["code"][0]
    tokens = requests.post(f"{sim.url}/token", auth=PORTAL_CLIENT, timeout=5, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}).json()
    identity = verify(sim, tokens["id_token"], client_id=PORTAL_CLIENT[0])
    assert identity.email == "bob.unverified@example.com" and identity.email_verified is False


def test_code_is_single_use(sim):
    redirect_uri = "http://localhost:8000/cb"
    code = get_code(sim, redirect_uri)
    assert token_request(sim, redirect_uri, code).status_code == 200
    again = token_request(sim, redirect_uri, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_expired_code_and_mismatched_redirect_are_invalid_grant(sim, monkeypatch):
    redirect_uri = "http://127.0.0.1:8000/cb"
    monkeypatch.setattr(sim, "code_ttl", -1)
    assert token_request(sim, redirect_uri, get_code(sim, redirect_uri)).json()["error"] == "invalid_grant"
    monkeypatch.undo()
    mismatch = token_request(sim, "http://127.0.0.1:8000/other", get_code(sim, redirect_uri))
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_invalid_client(sim):
    redirect_uri = "http://127.0.0.1:8000/cb"
    code = get_code(sim, redirect_uri)
    wrong = token_request(sim, redirect_uri, code, secret="not-the-secret")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    basic = requests.post(f"{sim.url}/token", auth=(sim.default_client_id, "nope"), timeout=5,
                          data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
    assert token_request(sim, redirect_uri, code).status_code == 200  # a failed client auth does not burn the code


def test_exchange_code_reports_oauth_errors(sim):
    config = discover(f"{sim.url}/.well-known/openid-configuration")
    with pytest.raises(GoogleTokenError, match="invalid_grant"):
        exchange_code(config, code="4/bogus", client_id=sim.default_client_id,
                      client_secret=sim.default_client_secret, redirect_uri="http://127.0.0.1:8000/cb")


@pytest.mark.parametrize("client_id, redirect_uri", [
    ("poddesk-local-client", "https://evil.example/callback"),
    ("poddesk-local-client", "http://127.0.0.1@evil.example/callback"),
    ("portal-client", "http://127.0.0.1:9/not-registered"),
    ("unknown-client", "http://127.0.0.1:9/portal/callback"),
])
def test_unregistered_client_or_redirect_is_a_400_page(sim, client_id, redirect_uri):
    params = auth_params(sim, redirect_uri, client_id=client_id)
    page = requests.get(f"{sim.url}/o/oauth2/v2/auth", params=params, allow_redirects=False, timeout=5)
    assert page.status_code == 400 and "Location" not in page.headers
    assert "redirect_uri_mismatch" in page.text or "invalid_client" in page.text
    posted = requests.post(f"{sim.url}/o/oauth2/v2/approve", allow_redirects=False, timeout=5,
                           data={**params, "email": "alice.google@example.com"})
    assert posted.status_code == 400 and "Location" not in posted.headers


def test_cancel_and_bad_response_type_redirect_with_error(sim):
    redirect_uri = "http://127.0.0.1:8000/cb"
    denied = approve(sim, redirect_uri, action="deny")
    assert parse_qs(urlsplit(denied.headers["Location"]).query) == {"error": ["access_denied"], "state": ["st-123"]}
    token_flow = requests.get(f"{sim.url}/o/oauth2/v2/auth", allow_redirects=False, timeout=5,
                              params=auth_params(sim, redirect_uri, response_type="token"))
    assert token_flow.status_code == 302 and "error=unsupported_response_type" in token_flow.headers["Location"]


def test_userinfo_requires_a_valid_bearer_token(sim):
    for headers in ({}, {"Authorization": "Bearer ya29.made-up"}):
        response = requests.get(f"{sim.url}/v1/userinfo", headers=headers, timeout=5)
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- the automation endpoint (stands in for the Google Identity Services button) ----------------


def test_simulator_id_token_endpoint(sim):
    response = requests.post(f"{sim.url}/simulator/id-token", timeout=5,
                             json={"email": "  Dana@Example.COM ", "name": "Dana X", "nonce": "abc"})
    assert response.status_code == 200
    identity = verify(sim, response.json()["id_token"], nonce="abc")
    assert identity.email == "dana@example.com" and identity.name == "Dana X" and identity.email_verified is True
    bad = requests.post(f"{sim.url}/simulator/id-token", json={"name": "no email"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


# -- the verifier rejects ----------------------------------------------------------------------


def test_rejects_wrong_audience(sim):
    with pytest.raises(GoogleTokenError, match="[Aa]udience"):
        verify(sim, sim.mint_id_token(email="a@example.com", aud="someone-elses-client"))


def test_rejects_multiple_audiences(sim):
    with pytest.raises(GoogleTokenError):
        verify(sim, sim.mint_id_token(email="a@example.com", aud=[sim.default_client_id, "other"]))


def test_rejects_wrong_issuer(sim):
    with pytest.raises(GoogleTokenError, match="[Ii]ssuer"):
        verify(sim, sim.mint_id_token(email="a@example.com", iss="https://evil.example"))


def test_rejects_expired_token(sim):
    token = requests.post(f"{sim.url}/simulator/id-token", json={"email": "a@example.com", "expires_in": -60},
                          timeout=5).json()["id_token"]
    with pytest.raises(GoogleTokenError, match="expired"):
        verify(sim, token)


def test_rejects_token_from_another_key_set(sim, other_sim):
    token = other_sim.mint_id_token(email="a@example.com", iss=sim.issuer)
    with pytest.raises(GoogleTokenError, match="signing key"):
        verify(sim, token)


def test_rejects_forged_signature_with_known_kid(sim):
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": sim.issuer, "aud": sim.default_client_id, "sub": "1" * 21, "email": "a@example.com",
              "iat": now, "exp": now + 600}
    token = jwt.encode(claims, attacker_key, algorithm="RS256", headers={"kid": sim.kid})
    with pytest.raises(GoogleTokenError, match="[Ss]ignature"):
        verify(sim, token)


def test_rejects_hs256_and_none_algorithms(sim):
    now = int(time.time())
    claims = {"iss": sim.issuer, "aud": sim.default_client_id, "sub": "1" * 21, "email": "a@example.com",
              "iat": now, "exp": now + 600}
    public_jwk = requests.get(f"{sim.url}/oauth2/v3/certs", timeout=5).json()["keys"][0]
    hs = jwt.encode(claims, str(public_jwk["n"]) * 2, algorithm="HS256", headers={"kid": sim.kid})
    none = jwt.encode(claims, None, algorithm="none", headers={"kid": sim.kid})
    for token in (hs, none):
        with pytest.raises(GoogleTokenError):
            verify(sim, token)


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30."])
def test_rejects_garbage(sim, token):
    with pytest.raises(GoogleTokenError):
        verify(sim, token)


def test_rejects_missing_email_and_missing_required_claims(sim):
    with pytest.raises(GoogleTokenError, match="email"):
        verify(sim, _without(sim, "email"))
    with pytest.raises(GoogleTokenError, match="sub"):
        verify(sim, _without(sim, "sub"))


def _without(sim, claim):
    token = sim.mint_id_token(email="a@example.com")
    claims = jwt.decode(token, options={"verify_signature": False})
    del claims[claim]
    return jwt.encode(claims, sim._key, algorithm="RS256", headers={"kid": sim.kid})


def test_rejects_when_jwks_is_unreachable(sim):
    token = sim.mint_id_token(email="a@example.com")
    with pytest.raises(GoogleTokenError, match="[Ff]ail to fetch"):
        verify(sim, token, jwks_url=f"http://127.0.0.1:{closed_port()}/oauth2/v3/certs")


def test_rejects_when_jwks_is_not_json(sim):
    with pytest.raises(GoogleTokenError, match="unusable JWKS"):
        verify(sim, sim.mint_id_token(email="a@example.com"), jwks_url=f"{sim.url}/simulator/avatar.svg")


def test_email_is_normalised(sim):
    identity = verify(sim, sim.mint_id_token(email="  MiXeD.Case@Example.ORG "))
    assert identity.email == "mixed.case@example.org"
    assert identity.sub == verify(sim, sim.mint_id_token(email="mixed.case@example.org")).sub


def test_jwks_client_is_cached_per_url(sim):
    from webapp.accounts import google_oidc

    verify(sim, sim.mint_id_token(email="a@example.com"))
    client = google_oidc._jwk_clients[f"{sim.url}/oauth2/v3/certs"]
    verify(sim, sim.mint_id_token(email="b@example.com"))
    assert google_oidc._jwk_clients[f"{sim.url}/oauth2/v3/certs"] is client


# -- command line ------------------------------------------------------------------------------


def test_command_line_serves_discovery():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.oidc", "--port", "0", "--quiet", "--issuer", "http://issuer.test",
         "--client", "cli-client:cli-secret:http://127.0.0.1:9/cb"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 8)
        assert ready, proc.stderr.read() if proc.poll() is not None else "no output"
        line = proc.stdout.readline()
        url = line.split()[3]
        config = requests.get(f"{url}/.well-known/openid-configuration", timeout=5).json()
        assert config["issuer"] == "http://issuer.test" and config["token_endpoint"] == f"{url}/token"
        page = requests.get(f"{url}/o/oauth2/v2/auth", timeout=5, params={
            "client_id": "cli-client", "redirect_uri": "http://127.0.0.1:9/cb", "response_type": "code",
            "scope": "openid email"})
        assert page.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=5)
