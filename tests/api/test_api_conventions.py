"""Cross-cutting API conventions (spec §0 and §5 items 32-35), hostile input, and the authorization table."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from webapp.accounts.models import User
from webapp.db import utcnow
from webapp.extensions import db

from ..conftest import assert_envelope
from . import PASSWORD

ROUTE_NOT_FOUND = {"success": False, "message": "Route not found"}
JSON = {"Content-Type": "application/json"}


# ---------------------------------------------------------------------------------- envelopes
@pytest.mark.parametrize("method, path", [
    ("GET", "/api/nothing-here"),
    ("POST", "/api/auth/unknown"),
    ("GET", "/api"),
    ("DELETE", "/api/auth/login"),       # known path, unknown method
    ("GET", "/api/auth/register"),
    ("PATCH", "/api/user/profile"),
    ("POST", "/api/admin/users/some-id"),
])
def test_unknown_routes_and_methods(api, method, path):
    r = api.call(method, path)
    assert r.status_code == 404
    assert r.get_json() == ROUTE_NOT_FOUND


def test_health_has_its_own_shape(api):
    body = api.get("/api/health").get_json()
    assert set(body) == {"success", "message", "timestamp"}
    assert body["success"] is True and body["message"] == "API is running"


def test_security_headers(api):
    r = api.get("/api/health")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "Access-Control-Allow-Origin" not in api.get("/api/health", headers={"Origin": "https://evil.example"}).headers


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register", "/api/auth/refresh-token",
                                  "/api/auth/google/login"])
def test_malformed_json_is_400(api, path):
    r = api.post(path, data='{"email": "a@example.com",', headers=JSON)
    assert_envelope(r, 400, "Invalid JSON body")


def test_malformed_json_on_authenticated_route(api, customer):
    r = api.put("/api/user/profile", data="{name: 'x'}", headers=JSON, as_user=customer)
    assert_envelope(r, 400, "Invalid JSON body")


@pytest.mark.parametrize("raw", ["[1, 2]", '"just a string"', "42", "null"])
def test_non_object_json_bodies(api, raw):
    r = api.post("/api/auth/login", data=raw, headers=JSON)
    body = r.get_json()
    assert r.status_code == 400 and body["success"] is False
    assert body["message"] == '"value" must be of type object'  # JSON null too: a value, not an empty body


def test_lone_surrogate_and_invalid_utf8_are_400(api):
    r = api.post("/api/auth/login", data='{"email": "a@example.com", "password": "\\ud800"}', headers=JSON)
    assert_envelope(r, 400, "Invalid JSON body")
    r = api.post("/api/auth/login", data=b'{"email": "\xff\xfe"}', headers=JSON)
    assert_envelope(r, 400, "Invalid JSON body")


def test_nul_characters_never_reach_the_database(api, admin):
    r = api.post("/api/auth/register", data='{"email": "nul@example.com", "password": "secret1", "name": "Ab\\u0000c"}',
                 headers=JSON)
    assert_envelope(r, 400, '"name" must not contain null characters')
    assert_envelope(api.get("/api/admin/users?search=a%00b", as_user=admin), 400,
                    '"search" must not contain null characters')
    assert_envelope(api.get("/api/admin/users/a%00b", as_user=admin), 400, '"id" must not contain null characters')


def test_body_over_max_content_length_is_413(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    r = api.post("/api/auth/login", data=json.dumps({"email": "a@example.com", "password": "x" * 4096}), headers=JSON)
    assert_envelope(r, 413, "Request body is too large")


def test_json_over_max_json_bytes_is_413(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_JSON_BYTES", 1024)
    r = api.post("/api/auth/register", data=json.dumps({"email": "a@example.com", "password": "secret1",
                                                        "name": "Big", "avatar": "https://x.example/" + "a" * 2000}),
                 headers=JSON)
    assert_envelope(r, 413, "Request body is too large")
    assert db.session.execute(select(User).where(User.email == "a@example.com")).first() is None


def test_unknown_keys_are_rejected_after_known_ones(api):
    r = api.post("/api/auth/login", json={"email": "a@example.com", "password": "x", "zzz": 1, "aaa": 2})
    assert_envelope(r, 400, '"zzz" is not allowed')
    r = api.post("/api/auth/login", json={"zzz": 1, "password": "x"})
    assert_envelope(r, 400, "Email is required")  # known keys are validated first


def test_type_coercion(api, admin, customer):
    body = assert_envelope(api.patch(f"/api/admin/users/{customer.id}/status", as_user=admin,
                                     json={"isActive": "false"}), 200, "User deactivated successfully")
    assert body["data"]["user"]["isActive"] is False
    body = assert_envelope(api.get("/api/admin/users?page=2&limit=1", as_user=admin), 200)
    assert body["data"]["pagination"]["page"] == 2 and isinstance(body["data"]["pagination"]["page"], int)
    assert body["data"]["pagination"]["limit"] == 1


@pytest.mark.parametrize("name", [
    "Robert'); DROP TABLE users;--",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "Zoë 😀 \"quoted\" \\ back",
])
def test_hostile_strings_are_stored_and_returned_verbatim(api, customer, name):
    r = api.put("/api/user/profile", as_user=customer, json={"name": name})
    body = assert_envelope(r, 200, "Profile updated successfully")
    assert r.mimetype == "application/json"
    assert body["data"]["user"]["name"] == name
    db.session.refresh(customer)
    assert customer.name == name
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() >= 1
    body = assert_envelope(api.get("/api/user/profile", as_user=customer), 200)
    assert body["data"]["user"]["name"] == name


def test_hostile_search_string_is_a_plain_substring(api, admin):
    r = api.get("/api/admin/users", query_string={"search": "' OR 1=1 --"}, as_user=admin)
    body = assert_envelope(r, 200)
    assert body["data"]["users"] == []


# -------------------------------------------------------------------------------- bearer tokens
def _forge(app, user, *, secret=None, algorithm="HS256", **claims):
    now = int(utcnow().timestamp())
    payload = {"userId": user.id, "type": "access", "tv": user.token_version, "iat": now, "exp": now + 600, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret or app.config["JWT_SECRET"], algorithm=algorithm)


def _none_alg(user):
    header = {"alg": "none", "typ": "JWT"}
    now = int(utcnow().timestamp())
    payload = {"userId": user.id, "type": "access", "tv": user.token_version, "iat": now, "exp": now + 600}

    def b64(obj):
        import base64
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(payload)}."


@pytest.mark.parametrize("kind", ["refresh-type", "no-type", "hs512", "none-alg", "other-secret", "expired",
                                  "no-user-id", "unknown-user", "old-version", "garbage"])
def test_bad_access_tokens_are_403(api, app, customer, kind):
    token = {
        "refresh-type": lambda: _forge(app, customer, type="refresh"),
        "no-type": lambda: _forge(app, customer, type=None),
        "hs512": lambda: _forge(app, customer, algorithm="HS512"),
        "none-alg": lambda: _none_alg(customer),
        "other-secret": lambda: _forge(app, customer, secret="another-secret-another-secret-0123"),
        "expired": lambda: _forge(app, customer, exp=int((utcnow() - timedelta(minutes=1)).timestamp())),
        "no-user-id": lambda: _forge(app, customer, userId=None),
        "unknown-user": lambda: _forge(app, customer, userId="cnotarealuser0000000000000"),
        "old-version": lambda: _forge(app, customer, tv=customer.token_version - 1),
        "garbage": lambda: "not.a.jwt",
    }[kind]()
    assert_envelope(api.get("/api/user/profile", token=token), 403, "Invalid or expired token")


def test_well_formed_forged_token_with_real_secret_works(api, app, customer):
    """The control for the test above: only the mutation makes those tokens fail."""
    assert_envelope(api.get("/api/user/profile", token=_forge(app, customer)), 200)


@pytest.mark.parametrize("header, status, message", [
    ("Basic xyz", 403, "Invalid or expired token"),
    ("Bearer", 401, "Access token is required"),
    ("", 401, "Access token is required"),
    ("Bearer ", 401, "Access token is required"),
    ("Token abc.def.ghi", 403, "Invalid or expired token"),
])
def test_authorization_header_parsing(api, header, status, message):
    r = api.get("/api/user/profile", headers={"Authorization": header})
    assert_envelope(r, status, message)


def test_any_scheme_word_is_accepted_with_a_valid_token(api, customer):
    """The original takes the second word whatever the scheme: kept for compatibility."""
    r = api.get("/api/user/profile", headers={"Authorization": f"Basic {api.token_for(customer)}"})
    assert_envelope(r, 200)


# ---------------------------------------------------------------------------------- rate limits
def test_sixth_failed_login_for_an_account_is_429(api, customer, other_customer):
    for _ in range(5):
        assert_envelope(api.post("/api/auth/login", json={"email": customer.email, "password": "wrong"}), 401)
    r = api.post("/api/auth/login", json={"email": customer.email, "password": "wrong"})
    assert_envelope(r, 429, "Too many requests, please try again later.")
    assert r.headers.get("Retry-After")
    # locked even with the right password (and whatever the spelling of the email)
    r = api.post("/api/auth/login", json={"email": customer.email.upper(), "password": PASSWORD})
    assert_envelope(r, 429, "Too many requests, please try again later.")
    # another account from the same client is not locked
    assert_envelope(api.post("/api/auth/login", json={"email": other_customer.email, "password": PASSWORD}), 200)


def test_successful_logins_do_not_count_as_failures(api, customer):
    for _ in range(4):
        assert_envelope(api.post("/api/auth/login", json={"email": customer.email, "password": "wrong"}), 401)
    for _ in range(3):
        assert_envelope(api.post("/api/auth/login", json={"email": customer.email, "password": PASSWORD}), 200)
    assert_envelope(api.post("/api/auth/login", json={"email": customer.email, "password": "wrong"}), 401)


# -------------------------------------------------------------------------------------- openapi
def test_openapi_document_covers_every_api_route(api, app):
    r = api.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    try:  # pragma: no cover - only when the validator is installed
        from openapi_spec_validator import validate as validate_spec
    except ImportError:
        validate_spec = None
    if validate_spec is not None:
        validate_spec(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    components = doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"

    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in doc["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = doc["paths"][path].get(method.lower())
            assert operation is not None, (method, path)
            view = app.view_functions[rule.endpoint]
            for arg in rule.arguments:
                assert any(p["name"] == arg and p["in"] == "path" and p["required"] for p in operation["parameters"])
            if getattr(view, "api_schemas", {}).get("body"):
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in components
            if getattr(view, "api_auth", "public") != "public":
                assert operation["security"] == [{"bearerAuth": []}]

    # spot checks on the accounts surface
    login = doc["paths"]["/api/auth/login"]["post"]
    schema = components[login["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"email", "password"} and set(schema["required"]) == {"email", "password"}
    assert "security" not in login
    assert doc["paths"]["/api/admin/users/{id}"]["delete"]["x-poddesk-role"] == "admin"
    listing = doc["paths"]["/api/admin/users"]["get"]
    assert {p["name"] for p in listing["parameters"] if p["in"] == "query"} >= {"page", "limit", "search", "role", "isActive"}
    # every $ref in the document resolves
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)):
        assert ref in components, ref


# ------------------------------------------------------------------------------ authorization
def _snapshot(user):
    db.session.refresh(user)
    return (user.name, user.email, user.phone, user.avatar, user.role, user.is_active, user.password_hash,
            user.google_id, user.deleted_at, user.token_version)


# (method, path, body, expected status for anonymous / customer / admin); "{other}" is other_customer's id.
ACCOUNT_ROUTES = [
    ("GET", "/api/auth/profile", None, (401, 200, 200)),
    ("POST", "/api/auth/logout", {}, (401, 200, 200)),
    ("POST", "/api/auth/logout-all", None, (401, 200, 200)),
    ("POST", "/api/auth/google/link", {"idToken": "x"}, (401, 503, 503)),  # Google not configured in tests
    ("POST", "/api/auth/google/unlink", None, (401, 400, 400)),  # nobody is linked
    ("GET", "/api/user/profile", None, (401, 200, 200)),
    ("PUT", "/api/user/profile", {"name": "Changed By Caller", "phone": "081299990000"}, (401, 200, 200)),
    ("PATCH", "/api/user/avatar", {"avatar": "https://x.example/caller.png"}, (401, 200, 200)),
    ("PUT", "/api/user/password", {"currentPassword": PASSWORD, "newPassword": "caller-new-pass"}, (401, 200, 200)),
    ("POST", "/api/admin/users", {"name": "Made", "email": "made@example.com", "password": "secret1"}, (401, 403, 201)),
    ("GET", "/api/admin/users", None, (401, 403, 200)),
    ("GET", "/api/admin/users/{other}", None, (401, 403, 200)),
    ("PUT", "/api/admin/users/{other}", {"name": "Changed By Admin"}, (401, 403, 200)),
    ("PATCH", "/api/admin/users/{other}/status", {"isActive": False}, (401, 403, 200)),
    ("DELETE", "/api/admin/users/{other}", None, (401, 403, 200)),
]


@pytest.mark.parametrize("role", ["anonymous", "customer", "admin"])
@pytest.mark.parametrize("method, path, body, expected", ACCOUNT_ROUTES,
                         ids=[f"{m} {p}" for m, p, _, _ in ACCOUNT_ROUTES])
def test_authorization_table(api, admin, customer, other_customer, role, method, path, body, expected):
    db.session.commit()  # keep the setup if a Google-envelope error path rolls the request back
    caller = {"anonymous": None, "customer": customer, "admin": admin}[role]
    other_token = api.token_for(other_customer)
    other_before = _snapshot(other_customer)
    r = api.call(method, path.format(other=other_customer.id), json=body, as_user=caller)
    status = expected[("anonymous", "customer", "admin").index(role)]
    assert r.status_code == status, r.get_json()
    assert r.get_json()["success"] is (status < 300)
    if role == "anonymous":
        assert r.get_json()["message"] == "Access token is required"
    if role == "customer" and path.startswith("/api/admin"):
        assert r.get_json()["message"] == "Access denied. Insufficient permissions."
    if role == "admin" and "{other}" in path and method != "GET":
        return  # the admin acted on the other customer on purpose
    # nobody else's data or sessions changed
    assert _snapshot(other_customer) == other_before
    assert_envelope(api.get("/api/user/profile", token=other_token), 200)


def test_public_routes_need_no_token(api, customer):
    login = api.post("/api/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert_envelope(login, 200, "Login successful")
    r = api.post("/api/auth/refresh-token", json={"refreshToken": login.get_json()["data"]["refreshToken"]})
    assert_envelope(r, 200, "Token refreshed successfully")
    r = api.post("/api/auth/register", json={"email": "pub@example.com", "password": "secret1", "name": "Pub Lic"})
    assert_envelope(r, 201, "User registered successfully")
    r = api.post("/api/auth/google/login", json={"idToken": "x"})
    assert r.status_code == 503 and r.get_json() == {"success": False, "error": "Google OAuth is not configured"}
