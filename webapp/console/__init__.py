"""The staff console at /admin (Flask-Admin), for administrators only.

`init_console(app)` builds everything (sign-in blueprint, one `Admin` object, its views) when the app is
created; nothing happens at import time. Views live per domain (`users`, `catalog`, `audit`); their shared
access rule, CSRF-carrying form base and service-calling helper are in `base`.
"""
from __future__ import annotations

from flask import Flask

# Bootswatch themes bundled with Flask-Admin whose CSS has no remote @import (Google Fonts): the console must
# work with no internet.
OFFLINE_SWATCHES = ("default", "cerulean", "litera", "pulse", "slate")


def init_console(app: Flask) -> None:
    from flask_admin import Admin
    from flask_admin.theme import Bootstrap4Theme

    from ..extensions import db
    from . import audit, billing, catalog, cluster, coupons, customers, jobs, money, subscriptions, support, users
    from .auth import create_auth_blueprint
    from .index import ConsoleIndexView

    app.register_blueprint(create_auth_blueprint())

    swatch = app.config.get("FLASK_ADMIN_SWATCH") or "cerulean"
    if swatch not in OFFLINE_SWATCHES:
        swatch = "cerulean"
    admin = Admin(
        name="PodDesk console",
        url="/admin",
        index_view=ConsoleIndexView(name="Home", url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(swatch=swatch, base_template="console/base.html"),
    )
    # Each domain's console module adds its own views (menu order = this order).
    for module in (users, customers, catalog, subscriptions, billing, money, coupons, support, cluster, jobs, audit):
        module.register_views(admin, db)
    admin.init_app(app)
    app.extensions["poddesk_console"] = admin
    _never_cached(app, {view.blueprint.name for view in admin._views} | {"console_auth"})


def _never_cached(app: Flask, blueprints: set[str]) -> None:
    """Console pages and exports carry customers' data: no browser or proxy may keep them (after sign-out the back
    button, or the next user of a shared computer, would show them). Flask-Admin's own static files stay cacheable."""
    from flask import request

    @app.after_request
    def no_store(response):
        if request.blueprint in blueprints and request.endpoint != "admin.static":
            response.headers.setdefault("Cache-Control", "private, no-store")
        return response
