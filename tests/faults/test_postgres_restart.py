"""PostgreSQL "restart" mid-run, simulated by the proxy: every connection through it is cut, new ones are refused,
then it comes back. (A real `pg_ctlcluster ... restart` is not allowed here: the PostgreSQL server is shared with
other test runs on this machine. Cutting every TCP connection and refusing new ones is what the application sees
during a restart, and is the simulation used.)

During the outage requests fail cleanly (503 envelope on /api, a plain 503 page elsewhere, no traceback); after it
the same app object answers normally: pooled connections killed by the restart are discarded (`webapp.db.ping_idle_connections`)."""
from __future__ import annotations

import time

from tests.conftest import assert_envelope
from tests.console.conftest import Console
from webapp.extensions import db

from .conftest import token_for


def _seed(fault_app, fmake):
    with fault_app.app_context():
        user = fmake.user(email="pg@example.com", credit_balance=70_000)
        fmake.user(email="pg-admin@example.com", role="ADMINISTRATOR")
        fmake.plan()
        db.session.commit()
        return token_for(fault_app, user)


def _pool_size(fault_app) -> int:
    with fault_app.app_context():
        return db.engine.pool.checkedin()


def test_requests_during_a_postgres_restart_fail_cleanly_and_the_app_recovers(fault_app, fclient, fmake, pg_proxy):
    auth = {"Authorization": f"Bearer {_seed(fault_app, fmake)}"}
    Console(fclient).login("pg-admin@example.com")
    assert fclient.get("/admin/jobs/").status_code == 200
    for _ in range(3):  # warm the pool: these connections are the ones the restart kills
        assert_envelope(fclient.get("/api/wallet/info", headers=auth), 200)
    assert_envelope(fclient.get("/api/catalog/services", headers=auth), 200)
    assert _pool_size(fault_app) >= 1

    pg_proxy.cut()
    started = time.monotonic()
    for path in ("/api/wallet/info", "/api/catalog/services", "/api/subscriptions"):
        r = fclient.get(path, headers=auth)
        body = assert_envelope(r, 503, "Service temporarily unavailable")
        assert r.headers["Retry-After"] and "Traceback" not in r.get_data(as_text=True)
        assert set(body) == {"success", "statusCode", "message", "timestamp"}
    r = fclient.post("/api/auth/login", json={"email": "pg@example.com", "password": "password123"})
    assert_envelope(r, 503, "Service temporarily unavailable")
    page = fclient.get("/admin/jobs/")  # a console page: the signed-in administrator is loaded from the database
    assert page.status_code == 503 and "Service temporarily unavailable" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True) and "psycopg" not in page.get_data(as_text=True)
    ready = assert_envelope(fclient.get("/api/health/ready"), 503, "Service not ready: database unavailable")
    assert ready["data"] == {"database": "unavailable", "redis": "ok"}
    assert fclient.get("/api/health").status_code == 200  # the process is alive; only readiness says 503
    assert time.monotonic() - started < 10

    pg_proxy.restore()
    # The same app object, no restart: the first request after the outage already works.
    wallet = assert_envelope(fclient.get("/api/wallet/info", headers=auth), 200)
    assert wallet["data"]["wallet"]["creditBalance"] == 70_000
    assert_envelope(fclient.get("/api/catalog/services", headers=auth), 200)
    assert_envelope(fclient.post("/api/auth/login", json={"email": "pg@example.com", "password": "password123"}), 200)
    assert fclient.get("/admin/jobs/").status_code == 200
    assert assert_envelope(fclient.get("/api/health/ready"), 200)["data"] == {"database": "ok", "redis": "ok"}


def test_a_connection_cut_in_the_middle_of_a_request_is_a_503_and_the_next_request_works(fault_app, fclient, fmake,
                                                                                          pg_proxy):
    """The restart happens while a request is waiting on PostgreSQL (the proxy holds its traffic)."""
    import threading

    auth = {"Authorization": f"Bearer {_seed(fault_app, fmake)}"}
    assert_envelope(fclient.get("/api/wallet/info", headers=auth), 200)
    pg_proxy.delay(0.5)
    timer = threading.Timer(0.3, pg_proxy.cut)
    timer.start()
    r = fclient.get("/api/wallet/info", headers=auth)
    timer.join()
    assert_envelope(r, 503, "Service temporarily unavailable")
    pg_proxy.restore()
    assert_envelope(fclient.get("/api/wallet/info", headers=auth), 200)


def test_readiness_answers_within_two_seconds_while_postgres_hangs(fault_app, fclient, pg_proxy):
    """Packets dropped instead of refused (the proxy accepts and never answers): readiness reports a timeout in time."""
    assert_envelope(fclient.get("/api/health/ready"), 200)
    pg_proxy.cut("blackhole")
    started = time.monotonic()
    body = assert_envelope(fclient.get("/api/health/ready"), 503, "Service not ready: database unavailable")
    assert body["data"] == {"database": "timeout", "redis": "ok"}
    assert time.monotonic() - started < 2.5
    pg_proxy.restore()  # the hung check fails on its own once its socket is dropped; the next one is fine
    deadline = time.monotonic() + 5
    while fclient.get("/api/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "readiness did not recover"
        time.sleep(0.1)
