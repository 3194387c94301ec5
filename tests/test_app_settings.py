"""App-level settings applied by create_app: trusted proxy hops, database connect options."""
from flask import request

from webapp import create_app


def _remote_addr(app, headers):
    seen = {}

    @app.get("/_whoami")
    def whoami():
        seen["addr"], seen["scheme"] = request.remote_addr, request.scheme
        return "ok"

    app.test_client().get("/_whoami", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    return seen["addr"], seen["scheme"]


def test_forwarded_headers_ignored_by_default():
    app = create_app("testing", RATELIMIT_ENABLED=False)
    assert _remote_addr(app, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}) == ("10.0.0.2", "http")


def test_one_trusted_hop_gives_the_client_address_and_scheme():
    app = create_app("testing", RATELIMIT_ENABLED=False, PROXY_FIX_X_FOR=1)
    headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}
    # Only the last hop (added by the ingress) is trusted; the client-supplied first entry is not.
    assert _remote_addr(app, headers) == ("203.0.113.9", "https")


def test_sqlite_urls_drop_the_postgresql_connect_timeout():
    app = create_app("production", SECRET_KEY="k", JWT_SECRET="j" * 32, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert "connect_timeout" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {})
    with app.app_context():
        from sqlalchemy import text

        from webapp.extensions import db

        assert db.session.execute(text("select 1")).scalar() == 1
    pg = create_app("testing")
    assert pg.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["connect_timeout"] == 5
