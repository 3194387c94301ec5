"""Liveness (`/api/health`, no dependency) and readiness (`/api/health/ready`: PostgreSQL and Redis, bounded time)."""
from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import assert_envelope


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections (kernel backlog) and never answers: a hung server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_liveness_keeps_its_body_and_calls_nothing(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    body = client.get("/api/health").get_json()
    assert set(body) == {"success", "message", "timestamp"} and body["success"] is True
    assert body["message"] == "API is running"


def test_ready_when_postgres_and_redis_answer(client):
    body = assert_envelope(client.get("/api/health/ready"), 200, "Service is ready")
    assert body["data"] == {"database": "ok", "redis": "ok"}


def test_not_ready_names_redis_when_it_refuses(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    body = assert_envelope(client.get("/api/health/ready"), 503, "Service not ready: redis unavailable")
    assert body["data"] == {"database": "ok", "redis": "unavailable"}


def test_a_hung_redis_is_reported_within_two_seconds(client, app, monkeypatch, silent_port):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{silent_port}/0")
    started = time.monotonic()
    r = client.get("/api/health/ready")
    elapsed = time.monotonic() - started
    body = assert_envelope(r, 503, "Service not ready: redis unavailable")
    assert body["data"] == {"database": "ok", "redis": "timeout"}
    assert elapsed < 2.5, elapsed


def test_a_hung_database_is_reported_within_two_seconds(client, app, monkeypatch):
    """The check runs under a deadline: a database that does not answer is "timeout", the request still returns."""
    from webapp import health

    def hang(engine, timeout):
        time.sleep(timeout + 1)

    monkeypatch.setattr(health, "_check_database", hang)
    started = time.monotonic()
    body = assert_envelope(client.get("/api/health/ready"), 503, "Service not ready: database unavailable")
    assert body["data"] == {"database": "timeout", "redis": "ok"}
    assert time.monotonic() - started < 2.5


def test_readiness_works_on_the_embedded_in_memory_redis(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "fakeredis://")
    assert assert_envelope(client.get("/api/health/ready"), 200)["data"]["redis"] == "ok"


def test_a_client_timeout_is_reported_as_timeout_not_unavailable(client, app, monkeypatch):
    """The clients' own timeouts equal the deadline: whichever fires first, a hang reads "timeout"."""
    import psycopg.errors
    import redis.exceptions
    from sqlalchemy.exc import OperationalError

    from webapp import health

    def redis_times_out(url, timeout):
        raise redis.exceptions.TimeoutError("Timeout reading from socket")

    def statement_times_out(engine, timeout):
        raise OperationalError("SELECT 1", {}, psycopg.errors.QueryCanceled("canceling statement due to timeout"))

    monkeypatch.setattr(health, "_check_redis", redis_times_out)
    body = assert_envelope(client.get("/api/health/ready"), 503, "Service not ready: redis unavailable")
    assert body["data"] == {"database": "ok", "redis": "timeout"}
    monkeypatch.setattr(health, "_check_database", statement_times_out)
    body = assert_envelope(client.get("/api/health/ready"), 503)
    assert body["data"] == {"database": "timeout", "redis": "timeout"}
