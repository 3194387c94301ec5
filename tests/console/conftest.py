"""Console test helpers: a test client whose requests each get a fresh context, CSRF token scraping, sign-in.

Why the client: the suite keeps one app context pushed for the whole test (the rolled-back transaction), and
Flask reuses an already-pushed app context for requests. Then `g` (Flask-Login's cached user, Flask-WTF's
cached CSRF token) and the SQLAlchemy session would be shared by every request of a test and by the test
itself: a request's rollback would discard the test's factory rows. Running each request in an empty
`contextvars.Context` gives it its own app context, `g` and session (bound to the same test connection), as in
production.
"""
from __future__ import annotations

import contextvars
import re
from html import unescape

import pytest
from flask.testing import FlaskClient
from flask_login.utils import _create_identifier

from webapp.extensions import db

PASSWORD = "password123"
BCRYPT_PREFIX = "$2b$"
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"|<input[^>]*value="([^"]+)"[^>]*name="csrf_token"')


class FreshContextClient(FlaskClient):
    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app):
    return FreshContextClient(app, app.response_class, use_cookies=True)


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token field in the page"
    return unescape(match.group(1) or match.group(2))


def flashed_text(response) -> str:
    return unescape(response.get_data(as_text=True))


class Console:
    """Drives the console the way a browser does: GET a page, read its CSRF token, POST the form."""

    def __init__(self, client):
        self.client = client

    def token(self, url: str = "/admin/login") -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return csrf_from(response.get_data(as_text=True))

    def login(self, email: str, password: str = PASSWORD, next: str | None = None, follow: bool = False):
        data = {"email": email, "password": password, "csrf_token": self.token()}
        if next is not None:
            data["next"] = next
        return self.client.post("/admin/login", data=data, follow_redirects=follow)

    def login_as(self, user):
        response = self.login(user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    def force_session(self, user) -> None:
        """A signed-in session for any user (the login form only admits administrators)."""
        # Flask-Login's "strong" session protection: the identifier of this client's address and user agent.
        with self.client.application.test_request_context(environ_base=self.client.environ_base):
            identifier = _create_identifier()
        with self.client.session_transaction() as sess:
            sess["_user_id"] = user.get_id()
            sess["_fresh"] = True
            sess["_id"] = identifier

    def post_form(self, page_url: str, data: dict, *, post_url: str | None = None, follow: bool = True):
        """GET `page_url` for a token, POST `data` (+ token) to `post_url` (default: the same page)."""
        data = {**data, "csrf_token": self.token(page_url)}
        return self.client.post(post_url or page_url, data=data, follow_redirects=follow)

    def action(self, view: str, action: str, ids: list[str], *, follow: bool = True):
        data = {"action": action, "rowid": ids, "url": f"/admin/{view}/",
                "csrf_token": self.token(f"/admin/{view}/")}
        return self.client.post(f"/admin/{view}/action/", data=data, follow_redirects=follow)


@pytest.fixture
def console(client) -> Console:
    return Console(client)


@pytest.fixture
def signed_in(console, admin) -> Console:
    console.login_as(admin)
    return console


def reload(obj):
    """Re-read a row the console changed through its own session."""
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)
