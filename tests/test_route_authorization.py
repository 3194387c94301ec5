"""Every /api route, read from the URL map so a new route cannot be forgotten, refuses the wrong callers.

Guards run before validation, so placeholder path arguments are enough to reach them.
"""
import pytest

PUBLIC_ENDPOINTS = {
    "api.health", "api.health_ready", "api.openapi_document", "api.auth_register", "api.auth_login", "api.auth_refresh",
    "api.auth_google_login", "api.wallet_midtrans_webhook", "api.auth_forgot_password", "api.auth_reset_password",
}
PLACEHOLDER_ID = "c" + "a" * 24


def _api_routes(app):
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", PLACEHOLDER_ID)
            for conv in ("string", "int", "path"):
                path = path.replace(f"<{conv}:{arg}>", PLACEHOLDER_ID)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path, getattr(app.view_functions[rule.endpoint], "api_auth", "public")


def test_every_api_route_declares_its_audience(app):
    undeclared = [(e, m) for e, m, _, auth in _api_routes(app) if auth == "public" and e not in PUBLIC_ENDPOINTS]
    assert undeclared == [], "routes without user_required/admin_required must be listed as public here"


def test_guarded_routes_refuse_anonymous_invalid_and_deactivated_callers(app, api, make):
    inactive = make.user(is_active=False)
    inactive_admin = make.user(is_active=False, role="ADMINISTRATOR")
    checked = 0
    for endpoint, method, path, auth in _api_routes(app):
        if auth == "public":
            continue
        r = api.call(method, path)
        assert (r.status_code, r.get_json()["message"]) == (401, "Access token is required"), (endpoint, method)
        r = api.call(method, path, token="not-a-jwt")
        assert (r.status_code, r.get_json()["message"]) == (403, "Invalid or expired token"), (endpoint, method)
        for user in (inactive, inactive_admin):
            r = api.call(method, path, as_user=user)
            assert r.status_code == 403, (endpoint, method, r.get_json())
            assert r.get_json()["message"] == "Account is deactivated. Please contact administrator."
        checked += 1
    assert checked > 10


def test_admin_routes_refuse_customers(app, api, customer):
    admin_routes = [(e, m, p) for e, m, p, auth in _api_routes(app) if auth == "admin"]
    assert admin_routes, "the admin API has routes"
    for endpoint, method, path in admin_routes:
        r = api.call(method, path, as_user=customer, json={})
        assert (r.status_code, r.get_json()["message"]) == (403, "Access denied. Insufficient permissions."), endpoint


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_paths_are_route_not_found(client, method):
    r = client.open("/api/definitely/not/here", method=method)
    assert r.status_code == 404 and r.get_json() == {"success": False, "message": "Route not found"}
