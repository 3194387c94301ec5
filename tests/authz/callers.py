"""The four callers of the matrix, each a browser of its own (a cookie jar) that also holds a bearer token.

- anonymous: no session, no token; its CSRF token comes from the portal login page (a token bound to its own
  anonymous session, so a refusal is the access rule's, not the CSRF check's).
- customer A / customer B: signed into the portal with the login form (session cookie), plus an API token.
- administrator: signed into the console with the login form (the same session also reaches the portal).

`send()` runs every request from the same saved session (cookies are restored afterwards, so a logout route or a
flash message does not leak into the next check) and inside a database savepoint that is rolled back afterwards:
every check starts from the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from tests.console.conftest import FreshContextClient, csrf_from
from webapp.extensions import db

PASSWORD = "password123"


@dataclass
class Caller:
    name: str
    user: object | None
    client: FreshContextClient
    token: str | None = None
    csrf: str | None = None

    def _cookie(self):
        cookie = self.client.get_cookie("session")
        return cookie.value if cookie is not None else None

    def send(self, method: str, url: str, *, json=None, data=None, bearer: bool = True, csrf: bool = True,
             on_response=None):
        """One request as this caller. `data` (a form) gets this caller's CSRF token unless `csrf=False`.
        `on_response(response)` runs before the request's changes are rolled back (to compare rows)."""
        headers = {}
        if bearer and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if data is not None and csrf and self.csrf:
            data = {**data, "csrf_token": self.csrf}
        saved = self._cookie()
        savepoint = db.engines[None].begin_nested()
        try:
            response = self.client.open(url, method=method, headers=headers, json=json, data=data)
            if on_response is not None:
                on_response(response)
            return response
        finally:
            if savepoint.is_active:
                savepoint.rollback()
            db.session.expire_all()
            if saved is None:
                self.client.delete_cookie("session")
            else:
                self.client.set_cookie("session", saved)


def _token_for(user) -> str:
    from webapp.accounts.tokens import issue_access_token, parse_duration

    return issue_access_token(user, secret=current_app.config["JWT_SECRET"], lifetime=parse_duration("15m"))


def _client(app) -> FreshContextClient:
    return FreshContextClient(app, app.response_class, use_cookies=True)


def _form_login(client, page: str, email: str) -> None:
    response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
    token = csrf_from(response.get_data(as_text=True))
    response = client.post(page, data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, (page, email, response.status_code, response.get_data(as_text=True)[:500])


def _page_token(client, page: str) -> str:
    response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
    return csrf_from(response.get_data(as_text=True))


def make_callers(app, world) -> dict[str, Caller]:
    anonymous = Caller("anonymous", None, _client(app))
    anonymous.csrf = _page_token(anonymous.client, "/portal/login")
    callers = {"anonymous": anonymous}
    for name, user, login_page in (("customer_a", world.a.user, "/portal/login"),
                                   ("customer_b", world.b.user, "/portal/login"),
                                   ("admin", world.admin, "/admin/login")):
        caller = Caller(name, user, _client(app), token=_token_for(user))
        _form_login(caller.client, login_page, user.email)
        caller.csrf = _page_token(caller.client, "/portal/tickets/new")
        callers[name] = caller
    return callers
