"""Console access control, sign-in/out, CSRF, redirects and static assets."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from webapp.console.auth import NOT_ALLOWED
from webapp.web import safe_next

from .conftest import BCRYPT_PREFIX, csrf_from, reload

LIST_PAGES = ["/admin/", "/admin/users/", "/admin/categories/", "/admin/services/", "/admin/plans/", "/admin/audit/"]


def console_get_urls(app) -> list[str]:
    """Every GET-able console URL except static files and the login page itself."""
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or "GET" not in rule.methods:
            continue
        if rule.endpoint.endswith("static") or rule.endpoint.startswith("console_auth."):
            continue
        urls.append(adapter.build(rule.endpoint, {arg: "csv" for arg in rule.arguments}))
    return sorted(set(urls))


def console_post_urls(app) -> list[str]:
    adapter = app.url_map.bind("localhost")
    return sorted({adapter.build(rule.endpoint, {arg: "csv" for arg in rule.arguments})
                   for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/admin") and "POST" in rule.methods
                   and not rule.endpoint.startswith("console_auth.")})


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/admin/login"


def test_the_url_map_has_the_console_views(app):
    urls = console_get_urls(app)
    for page in LIST_PAGES:
        assert page in urls
    assert "/admin/plans/quota/" in urls
    assert len(urls) > 30


# ----------------------------------------------------------------------------------------- access control
def test_anonymous_is_sent_to_login_from_every_console_url(app, client):
    for url in console_get_urls(app):
        response = client.get(url)
        assert is_login_redirect(response), (url, response.status_code)
        next_url = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
        assert next_url.startswith(url.split("?")[0]), (url, next_url)


def test_anonymous_post_with_a_valid_token_still_goes_to_login(app, console, make):
    victim = make.user()
    for url in console_post_urls(app):
        data = {"csrf_token": console.token(), "action": "deactivate", "rowid": victim.id, "id": victim.id}
        response = console.client.post(url, data=data)
        assert is_login_redirect(response), (url, response.status_code)
    assert reload(victim).is_active is True


def test_customer_gets_403_on_every_console_url(app, console, customer):
    console.force_session(customer)
    for url in console_get_urls(app):
        response = console.client.get(url)
        assert response.status_code == 403, (url, response.status_code)


def test_customer_session_is_really_signed_in(console, customer):
    """Guard for the test above: a forced session is honoured (the admin gets pages with it)."""
    console.force_session(customer)
    assert console.client.get("/admin/users/").status_code == 403


def test_forced_admin_session_works(console, admin):
    console.force_session(admin)
    assert console.client.get("/admin/users/").status_code == 200


def test_admin_gets_every_list_page(signed_in):
    for url in LIST_PAGES:
        response = signed_in.client.get(url)
        assert response.status_code == 200, url
        assert "PodDesk console" in response.get_data(as_text=True)


def test_admin_never_gets_a_server_error_from_any_console_url(app, signed_in, make):
    make.plan()
    for url in console_get_urls(app):
        response = signed_in.client.get(url)
        assert response.status_code < 500, (url, response.status_code)


@pytest.mark.parametrize("url", [
    "/admin/users/?page=-3", "/admin/users/?page=abc", "/admin/users/?sort=99", "/admin/users/?sort=x&desc=2",
    "/admin/users/?flt0_0=garbage", "/admin/users/?flt9_99=x", "/admin/users/details/?id=" + "x" * 500,
    "/admin/users/details/?id=nope", "/admin/audit/?flt0_40=not-a-date", "/admin/audit/?search=%00%27",
    "/admin/plans/quota/?id=nope", "/admin/plans/edit/?id=nope", "/admin/users/export/xlsx/",
    "/admin/services/?search=" + "%25" * 300,
])
def test_odd_query_strings_are_not_server_errors(signed_in, url):
    response = signed_in.client.get(url)
    assert response.status_code < 500, (url, response.status_code)


def test_deactivated_admin_session_ends(console, make):
    boss = make.user(role="ADMINISTRATOR")
    make.user(role="ADMINISTRATOR")  # someone else keeps the console
    console.login_as(boss)
    assert console.client.get("/admin/users/").status_code == 200
    boss.is_active = False  # direct write in the test only, to simulate another admin's action
    from webapp.extensions import db

    db.session.flush()
    assert is_login_redirect(console.client.get("/admin/users/"))


# ------------------------------------------------------------------------------------------------ sign-in
def test_login_page_has_a_csrf_protected_form(client):
    response = client.get("/admin/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert csrf_from(html)
    assert 'name="email"' in html and 'name="password"' in html


def test_admin_login_and_logout(console, admin):
    response = console.login(admin.email, next="/admin/users/?page=1")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users/?page=1"
    assert console.client.get("/admin/").status_code == 200

    # Logout is POST only, and needs the token.
    assert console.client.get("/admin/logout").status_code == 405
    assert console.client.post("/admin/logout").status_code == 400
    assert console.client.get("/admin/").status_code == 200
    token = console.token("/admin/")
    response = console.client.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/login")
    assert is_login_redirect(console.client.get("/admin/"))


def test_login_without_next_goes_to_the_console_home(console, admin):
    response = console.login(admin.email)
    assert response.headers["Location"] == "/admin/"


def test_login_page_when_already_signed_in_goes_home(signed_in):
    response = signed_in.client.get("/admin/login")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_email_is_case_insensitive(console, admin):
    assert console.login("  BOSS@poddesk.example.com ").status_code == 302


def test_wrong_password_is_a_form_error_and_no_session(console, admin):
    response = console.login(admin.email, password="wrong-password")
    assert response.status_code == 200
    assert "Invalid email or password" in response.get_data(as_text=True)
    with console.client.session_transaction() as sess:
        assert "_user_id" not in sess
    assert is_login_redirect(console.client.get("/admin/"))


def test_unknown_email_gets_the_same_message(console):
    response = console.login("nobody@poddesk.example.com")
    assert "Invalid email or password" in response.get_data(as_text=True)


def test_deactivated_admin_cannot_log_in(console, make):
    make.user(email="gone@poddesk.example.com", role="ADMINISTRATOR", is_active=False)
    response = console.login("gone@poddesk.example.com")
    assert response.status_code == 200
    assert "Account is deactivated. Please contact administrator." in response.get_data(as_text=True)
    assert is_login_redirect(console.client.get("/admin/"))


def test_non_admin_cannot_log_in(console, customer):
    response = console.login(customer.email)
    assert response.status_code == 200
    assert NOT_ALLOWED in response.get_data(as_text=True)
    with console.client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_empty_and_oversized_fields_are_form_errors(console):
    token = console.token()
    for data in ({"email": "", "password": ""}, {"email": "a@b.c", "password": "x" * 5000},
                 {"email": "x" * 5000 + "@b.c", "password": "pw"}, {}):
        response = console.client.post("/admin/login", data={**data, "csrf_token": token})
        assert response.status_code == 200, data


def test_login_without_csrf_token_is_rejected(client, admin):
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": admin.email, "password": "password123"})
    assert response.status_code == 400
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_login_with_a_forged_token_is_rejected(client, admin):
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": admin.email, "password": "password123",
                                                 "csrf_token": "forged"})
    assert response.status_code == 400


def test_session_is_renewed_at_login(console, admin):
    """Session fixation: whatever was in the pre-login session does not survive the login."""
    with console.client.session_transaction() as sess:
        sess["planted"] = "by-attacker"
    console.login_as(admin)
    with console.client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == admin.get_id()


def test_forms_work_after_login(signed_in, make):
    """The CSRF token issued before login is dropped with the session; the next page issues a working one."""
    user = make.user()
    response = signed_in.action("users", "deactivate", [user.id])
    assert response.status_code == 200
    assert reload(user).is_active is False


@pytest.mark.parametrize("target", [
    "https://evil.example", "//evil.example/admin/", "https://evil.example/admin/", "/\\evil.example",
    "javascript:alert(1)", "\\\\evil.example", "http:/evil.example", " https://evil.example",
])
def test_open_redirect_is_ignored(console, admin, target):
    response = console.login(admin.email, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/", target


def test_next_from_the_query_string_is_carried_through_the_form(console, admin):
    html = console.client.get("/admin/login?next=/admin/plans/").get_data(as_text=True)
    assert 'value="/admin/plans/"' in html
    html = console.client.get("/admin/login?next=https://evil.example").get_data(as_text=True)
    assert "evil.example" not in html


def test_safe_next():
    assert safe_next("/admin/users/?page=2") == "/admin/users/?page=2"
    for bad in (None, "", "admin", "//x", "/\\x", "https://x", "/a\nb", "/" + "a" * 3000):
        assert safe_next(bad) is None, bad


def test_login_posts_are_rate_limited(app, console, admin):
    original = app.config["LOGIN_RATE_LIMIT"]
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        statuses = [console.login(admin.email, password="wrong").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = console.login(admin.email)  # even the right password waits
        assert response.status_code == 429
        assert "Too many sign-in attempts" in response.get_data(as_text=True)
        assert console.client.get("/admin/login").status_code == 200  # GETs are not counted
    finally:
        app.config["LOGIN_RATE_LIMIT"] = original


# ----------------------------------------------------------------------------------------------- pages
def test_index_shows_counts(signed_in, make):
    from webapp.console.index import headline_counts

    before = headline_counts()
    make.plan(total_quota=10, used_quota=3)
    make.plan(total_quota=5, used_quota=1)
    make.user()
    after = headline_counts()
    assert (after["plans"], after["services"], after["customers"]) == \
        (before["plans"] + 2, before["services"] + 2, before["customers"] + 1)
    html = signed_in.client.get("/admin/").get_data(as_text=True)
    assert "Customers" in html and "Quota used / total" in html
    assert f'{before["quota_used"] + 4} / {before["quota_total"] + 15}' in html


def test_password_hashes_never_appear(app, signed_in, make, admin):
    make.user(name="Someone", google_id="google-sub-123")
    make.plan()
    for url in console_get_urls(app) + [f"/admin/users/details/?id={admin.id}", "/admin/users/?search=boss"]:
        response = signed_in.client.get(url, follow_redirects=True)
        body = response.get_data(as_text=True)
        assert BCRYPT_PREFIX not in body, url
        assert "google-sub-123" not in body, url
        assert "token_version" not in body.lower() and "password_hash" not in body.lower(), url


def test_pages_use_only_local_assets(signed_in):
    for url in ["/admin/", "/admin/users/", "/admin/login"]:
        html = signed_in.client.get(url).get_data(as_text=True)
        for src in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"^(https?:)?//", src), (url, src)


def test_theme_css_has_no_remote_imports(app, signed_in):
    html = signed_in.client.get("/admin/").get_data(as_text=True)
    css_urls = re.findall(r'<link href="([^"]+\.css[^"]*)"', html)
    assert css_urls
    for url in css_urls:
        response = signed_in.client.get(url)
        assert response.status_code == 200, url
        assert not re.search(rb"@import\s+url\(\s*['\"]?(https?:)?//", response.data), url


def test_console_css_is_served_without_login(client):
    assert client.get("/static/console/console.css").status_code == 200
    assert client.get("/admin/static/bootstrap/bootstrap4/swatch/cerulean/bootstrap.min.css").status_code == 200


def test_one_admin_object_per_app(app):
    from flask_admin import Admin

    assert isinstance(app.extensions["poddesk_console"], Admin)
    assert app.extensions["poddesk_console"].name == "PodDesk console"


def test_static_console_directory_exists():
    assert (Path(__file__).resolve().parents[2] / "static" / "console" / "console.css").is_file()


def test_a_second_app_in_the_process_does_not_double_count_limits(app, console, admin):
    """Routes (and their rate limits) are registered per create_app; another app in the same process (the
    migration check, the browser tests) must not make each request count twice."""
    from webapp import create_app

    create_app("testing")
    test_login_posts_are_rate_limited(app, console, admin)
