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
    from .audit import AuditView
    from .auth import create_auth_blueprint
    from .catalog import CategoryView, PlanView, ServiceView
    from .index import ConsoleIndexView
    from .users import UserView

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
    admin.add_view(UserView(db, name="Users", endpoint="users", url="users"))
    admin.add_view(CategoryView(db, name="Categories", endpoint="categories", url="categories", category="Catalog"))
    admin.add_view(ServiceView(db, name="Services", endpoint="services", url="services", category="Catalog"))
    admin.add_view(PlanView(db, name="Plans", endpoint="plans", url="plans", category="Catalog"))
    admin.add_view(AuditView(db, name="Audit log", endpoint="audit", url="audit"))
    admin.init_app(app)
    app.extensions["poddesk_console"] = admin
