"""Every portal page except sign-in/sign-up requires a signed-in account; every POST needs a CSRF token."""
import re
from urllib.parse import urlsplit

PUBLIC = {"portal.login", "portal.register_page", "portal.login_google", "portal.login_google_callback",
          "portal.forgot_password", "portal.reset_password", "portal.static"}


def _portal_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("portal.") and r.endpoint not in PUBLIC]


def _url(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "stop" if m.group(1) == "action" else "x1", rule.rule)


def test_every_portal_page_sends_anonymous_visitors_to_the_portal_login(app, client):
    rules = [r for r in _portal_rules(app) if "GET" in r.methods]
    assert len(rules) >= 15
    for rule in rules:
        response = client.get(_url(rule))
        assert response.status_code == 302, rule.rule
        assert urlsplit(response.location).path == "/portal/login", rule.rule


def test_every_portal_post_without_a_csrf_token_is_400(app, signed_in):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("portal.") and "POST" in r.methods]
    assert len(rules) >= 12
    for rule in rules:
        assert signed_in.client.post(_url(rule), data={}).status_code == 400, rule.rule
