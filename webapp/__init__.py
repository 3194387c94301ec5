"""PodDesk: the back office for a business selling one-click apps on its own Kubernetes cluster.

`create_app(config)` builds the Flask app; nothing else happens at import time.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, request


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
    app.json.sort_keys = False  # keep the original's field order in responses
    _check_settings(app)

    from .extensions import csrf, db, forget_route_limits, limiter, login_manager, migrate

    db.init_app(app)
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
    _add_response_headers(app)
    return app


def _check_settings(app: Flask) -> None:
    """Fail fast on settings the app cannot run without (the original started with no JWT secret)."""
    missing = [name for name in ("SECRET_KEY", "JWT_SECRET") if not app.config.get(name)]
    if missing:
        raise RuntimeError(f"Missing required settings: {', '.join(missing)} (set them in the environment)")
    from .accounts.tokens import parse_duration

    parse_duration(app.config["JWT_EXPIRES_IN"])
    parse_duration(app.config["JWT_REFRESH_EXPIRES_IN"], default_unit="d")


def _add_response_headers(app: Flask) -> None:
    origins = set(app.config.get("CORS_ORIGINS") or [])

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        origin = request.headers.get("Origin")
        if origin and origin in origins and request.path.startswith("/api/"):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        return response
