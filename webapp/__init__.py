"""PodDesk: the back office for a business selling one-click apps on its own Kubernetes cluster.

`create_app(config)` builds the Flask app; nothing else happens at import time.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask import Flask


def create_app(config=None, **overrides) -> Flask:
    """Build the app from a profile name ("embedded", "testing", "production"), a config class,
    or None (PODDESK_ENV); keyword overrides win over the profile."""
    import config as config_module

    app = Flask(__name__, instance_relative_config=True,
                template_folder=str(config_module.BASE_DIR / "templates"),
                static_folder=str(config_module.BASE_DIR / "static"))
    if isinstance(config, Mapping):
        overrides = {**config, **overrides}
        config = None
    app.config.from_object(config_module.resolve(config))
    app.config.update(overrides)
    from .extensions import FastJSONProvider

    app.json = FastJSONProvider(app)
    app.json.sort_keys = False  # keep the original's field order in responses
    _check_settings(app)
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # connect_timeout is a PostgreSQL (libpq) option; sqlite3 would refuse it.
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        connect_args = {k: v for k, v in options.get("connect_args", {}).items() if k != "connect_timeout"}
        options.pop("connect_args", None)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, **({"connect_args": connect_args} if connect_args else {})}
    hops = int(app.config.get("PROXY_FIX_X_FOR") or 0)
    if hops:
        # Behind an ingress the peer is the proxy: the client address from the trusted hops, the scheme from the last.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=1)  # the ingress sets the scheme

    from .extensions import csrf, db, forget_route_limits, limiter, login_manager, migrate

    db.init_app(app)
    _check_idle_connections(app, db)
    migrate.init_app(app, db, directory=str(config_module.BASE_DIR / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    forget_route_limits()  # this app's routes register theirs below
    login_manager.init_app(app)

    from . import models  # noqa: F401  (the whole schema, for Alembic and relationships)
    from .accounts.sessions import init_login_manager
    from .api import create_blueprint
    from .api.envelope import register_error_handlers
    from .cli import register_cli
    from .console import init_console

    init_login_manager(login_manager)
    app.register_blueprint(create_blueprint())
    register_error_handlers(app)
    init_console(app)
    from .portal import init_portal  # customer pages at /portal
    init_portal(app)
    register_cli(app)
    from .observability import init_observability
    from .security import init_security

    init_security(app)
    init_observability(app)
    return app


def _check_settings(app: Flask) -> None:
    """Fail fast on settings the app cannot run without (the original started with no JWT secret)."""
    missing = [name for name in ("SECRET_KEY", "JWT_SECRET") if not app.config.get(name)]
    if missing:
        raise RuntimeError(f"Missing required settings: {', '.join(missing)} (set them in the environment)")
    from .accounts.tokens import parse_duration

    parse_duration(app.config["JWT_EXPIRES_IN"])
    parse_duration(app.config["JWT_REFRESH_EXPIRES_IN"], default_unit="d")


def _check_idle_connections(app: Flask, db) -> None:
    """Replaces `pool_pre_ping`: only connections idle longer than DATABASE_PING_IDLE_SECONDS are pinged."""
    from .db import ping_idle_connections

    idle = float(app.config.get("DATABASE_PING_IDLE_SECONDS") or 0)
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name != "sqlite":  # a file, not a network connection that can drop
                ping_idle_connections(engine, idle)
