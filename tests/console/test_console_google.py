"""Staff "Sign in with Google": the real authorization-code flow against the local OIDC simulator."""
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulators.oidc import OIDCSimulator


@pytest.fixture(scope="module")
def idp():
    with OIDCSimulator() as sim:
        yield sim


@pytest.fixture
def google_configured(app, idp, monkeypatch):
    for key, value in {"GOOGLE_CLIENT_ID": idp.default_client_id, "GOOGLE_CLIENT_SECRET": idp.default_client_secret,
                       "GOOGLE_ISSUERS": (idp.issuer,), "GOOGLE_JWKS_URL": f"{idp.url}/oauth2/v3/certs",
                       "GOOGLE_DISCOVERY_URL": f"{idp.url}/.well-known/openid-configuration"}.items():
        monkeypatch.setitem(app.config, key, value)


def _sign_in_with_google(client, idp, email, *, verified=True, tamper_state=False):
    start = client.get("/admin/login/google?next=/admin/user/")
    assert start.status_code == 302 and start.location.startswith(idp.url)
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.location).query).items()}
    chooser = requests.get(start.location, timeout=5)
    assert chooser.status_code == 200 and "approve" in chooser.text
    approved = requests.post(f"{idp.url}/o/oauth2/v2/approve", allow_redirects=False, timeout=5, data={
        **params, "action": "approve", "email": email, "email_verified": "true" if verified else "false"})
    assert approved.status_code == 302
    callback = urlsplit(approved.headers["Location"])
    query = callback.query.replace("state=", "state=x") if tamper_state else callback.query
    return client.get(f"{callback.path}?{query}")


def test_admin_signs_in_with_google_and_is_linked(client, idp, google_configured, make, app):
    admin = make.user(email="staff.google@example.com", role="ADMINISTRATOR")
    page = client.get("/admin/login").get_data(as_text=True)
    assert "Sign in with Google" in page
    landed = _sign_in_with_google(client, idp, "Staff.Google@example.com")
    assert landed.status_code == 302 and landed.location.endswith("/admin/user/")
    assert client.get("/admin/").status_code == 200
    from webapp.extensions import db

    db.session.refresh(admin)
    assert admin.google_id and admin.is_google_user


def test_customer_google_account_cannot_enter_the_console(client, idp, google_configured, make):
    make.user(email="cust.google@example.com")
    landed = _sign_in_with_google(client, idp, "cust.google@example.com")
    assert landed.status_code == 302 and landed.location.endswith("/admin/login")
    assert "This account cannot use the console" in client.get("/admin/login").get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_unverified_email_and_unknown_account_are_refused(client, idp, google_configured, make):
    make.user(email="boss.unverified@example.com", role="ADMINISTRATOR")
    _sign_in_with_google(client, idp, "boss.unverified@example.com", verified=False)
    assert "log in and link your Google account" in client.get("/admin/login").get_data(as_text=True)
    _sign_in_with_google(client, idp, "stranger@example.com")
    assert "Invalid Google token" in client.get("/admin/login").get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_forged_state_is_refused(client, idp, google_configured, make):
    make.user(email="staff2.google@example.com", role="ADMINISTRATOR")
    landed = _sign_in_with_google(client, idp, "staff2.google@example.com", tamper_state=True)
    assert landed.location.endswith("/admin/login")
    assert client.get("/admin/").status_code == 302


def test_google_button_hidden_and_route_refuses_when_not_configured(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "GOOGLE_CLIENT_ID", None)
    assert "Sign in with Google" not in client.get("/admin/login").get_data(as_text=True)
    response = client.get("/admin/login/google")
    assert response.status_code == 302 and response.location.endswith("/admin/login")
    assert "Google OAuth is not configured" in client.get("/admin/login").get_data(as_text=True)
