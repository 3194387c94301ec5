"""Fault-injection fixtures: TCP proxies in front of PostgreSQL, Redis and the simulators, and an app wired to them.

`fault_app` is a second app object (same test database and Redis db as the suite, reached through the proxies),
committing for real (the `committing_db` fixture empties the tables afterwards). flask-limiter is one process-wide
object that follows the last app initialised, so it is pointed back at the suite's app afterwards.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy.engine import make_url

from tests.cluster.fixtures import kube_sim, simulator  # noqa: F401 (fixture)
from tests.console.conftest import FreshContextClient
from tests.factories import Factories
from tests.payments.fixtures import midtrans, midtrans_sim  # noqa: F401 (fixtures)
from webapp.extensions import db, limiter

from .proxy import TcpProxy

FAST_KUBE = {"KUBE_PROBE_CACHE_SECONDS": 0, "KUBE_TIMEOUT_SECONDS": 1, "KUBE_POLL_INTERVAL": 0.05,
             "PROVISION_READY_TIMEOUT": 10, "ROLLOUT_TIMEOUT": 10}


@pytest.fixture
def pg_proxy(app):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def redis_proxy(app):
    parts = urlsplit(app.config["REDIS_URL"])
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    yield proxy
    proxy.stop()


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"127.0.0.1:{port}", parts.path, parts.query, parts.fragment))


@pytest.fixture
def fault_app(app, committing_db, pg_proxy, redis_proxy):
    from webapp import create_app

    redis_url = _via(app.config["REDIS_URL"], redis_proxy.port)
    db_url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(host="127.0.0.1", port=pg_proxy.port)
    sim = simulator()
    sim.clear_faults()
    faulty = create_app("testing", SQLALCHEMY_DATABASE_URI=db_url.render_as_string(hide_password=False),
                        REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url, KUBE_API_URL=sim.url, **FAST_KUBE)
    try:
        yield faulty
    finally:
        pg_proxy.restore()
        redis_proxy.restore()
        sim.clear_faults()
        with faulty.app_context():
            db.session.remove()
            db.engine.dispose()
        limiter.init_app(app)  # the process-wide limiter follows the suite's app (and its storage) again
        with app.app_context():
            limiter.reset()


@pytest.fixture
def fclient(fault_app):
    return FreshContextClient(fault_app, fault_app.response_class, use_cookies=True)


@pytest.fixture
def fmake(fault_app):
    """Factories writing through the faulty app (commit with `db.session.commit()` inside `fault_app.app_context()`)."""
    return Factories(db)


def token_for(app, user) -> str:
    from webapp.accounts.tokens import issue_access_token, parse_duration

    return issue_access_token(user, secret=app.config["JWT_SECRET"], lifetime=parse_duration("15m"))
