"""Test fixtures: the app on PostgreSQL, a rolled-back transaction per test, factories, API helpers.

PostgreSQL and Redis are required. Outside CI an unreachable service skips the tests that need it
with the reason; in CI (CI=true) it is an error, so a broken machine can never look green.
"""
from __future__ import annotations

import os

import pytest
import redis
from sqlalchemy import text

from webapp import create_app
from webapp.extensions import db as _db
from webapp.extensions import limiter

from . import limiter_state
from .factories import Factories

IN_CI = os.environ.get("CI", "").lower() == "true"


def _require(service: str, check) -> None:
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        message = f"{service} is not reachable: {exc}"
        if IN_CI:
            pytest.exit(message, returncode=3)
        pytest.skip(message)


@pytest.fixture(scope="session")
def app():
    app = create_app("testing")
    with app.app_context():
        _require("PostgreSQL", lambda: _db.session.execute(text("SELECT 1")))
        _require("Redis", lambda: redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=2).ping())
        _db.session.remove()
        # A clean schema per test session; migrations are checked separately (test_migrations).
        with _db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        _db.create_all()
    _LIMITER_STATE.update(limiter_state.snapshot(limiter))
    yield app


# flask-limiter's storage and route limits live on the one process-wide `limiter`: the last create_app wins. Tests
# that build apps of their own (faults behind a proxy, security profiles, ...) must not leave the session app
# counting in their storage or disabled, so each test starts from the session app's limiter state.
_LIMITER_STATE: dict = {}


@pytest.fixture(autouse=True)
def _db_transaction(request, app):
    """Each test runs in a transaction that is rolled back; service commits become savepoint releases."""
    if _LIMITER_STATE:
        limiter_state.restore(limiter, _LIMITER_STATE)
    if "committing_db" in request.fixturenames:
        yield
        return
    ctx = app.app_context()
    ctx.push()
    connection = _db.engine.connect()
    outer = connection.begin()
    original_session, original_engine = _db.session, _db.engines[None]
    _db.session = _db._make_scoped_session({"bind": connection, "join_transaction_mode": "create_savepoint"})
    # Flask-SQLAlchemy 3's Session.get_bind() ignores the session's own bind and asks db.engines[None]:
    # point it at the test connection too, or a view's commit would really persist.
    _db.engines[None] = connection
    limiter.reset()
    try:
        yield
    finally:
        _db.session.remove()
        _db.session, _db.engines[None] = original_session, original_engine
        outer.rollback()
        connection.close()
        ctx.pop()


@pytest.fixture
def committing_db(app):
    """For concurrency tests: real commits from several connections; tables are emptied afterwards."""
    with app.app_context():
        limiter.reset()
        yield _db
        _db.session.remove()
        with _db.engine.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
def make(app) -> Factories:
    return Factories(_db)


class ApiClient:
    """The Flask test client with bearer-token helpers."""

    def __init__(self, client, make: Factories):
        self.client = client
        self.make = make

    def token_for(self, user) -> str:
        from flask import current_app

        from webapp.accounts.tokens import issue_access_token, parse_duration

        return issue_access_token(user, secret=current_app.config["JWT_SECRET"], lifetime=parse_duration("15m"))

    def call(self, method: str, path: str, *, as_user=None, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if as_user is not None:
            token = self.token_for(as_user)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, **kw):
        return self.call("POST", path, **kw)

    def put(self, path, **kw):
        return self.call("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.call("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api(client, make) -> ApiClient:
    return ApiClient(client, make)


@pytest.fixture
def admin(make):
    return make.user(email="boss@poddesk.example.com", role="ADMINISTRATOR", name="Boss Admin")


@pytest.fixture
def customer(make):
    return make.user(email="cust@poddesk.example.com", name="Cust Omer")


@pytest.fixture
def other_customer(make):
    return make.user(email="other@poddesk.example.com", name="Other Person")


def assert_envelope(response, status: int, message: str | None = None):
    """The original's envelope: success, statusCode, message, timestamp (and data when present)."""
    body = response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert body["success"] is (200 <= status < 300), body
    assert body["statusCode"] == status, body
    assert isinstance(body["timestamp"], str) and body["timestamp"].endswith("Z")
    if message is not None:
        assert body["message"] == message, body
    return body

