"""The customer portal at /portal: server-rendered pages for customers (any active account).

`init_portal(app)` builds the blueprint when the app is created; nothing happens at import time. Each page module
(`auth`, `catalog`, `wallet`, `subscriptions`, `tickets`, `instances`) registers its routes on the one blueprint.
Views parse a form, call ONE service function (`base.call`), commit, then redirect (POST-redirect-GET) or re-render
with the errors next to their fields. Another customer's subscription, instance, ticket or transaction is a 404:
the services look everything up by owner.
"""
from __future__ import annotations

from flask import Blueprint, Flask


def create_blueprint() -> Blueprint:
    from . import auth, base, catalog, instances, subscriptions, tickets, wallet

    bp = Blueprint("portal", __name__, url_prefix="/portal")
    base.install(bp)
    for module in (auth, catalog, wallet, subscriptions, tickets, instances):
        module.register(bp)
    return bp


def init_portal(app: Flask) -> None:
    from ..extensions import login_manager

    app.register_blueprint(create_blueprint())
    # Anonymous visitors of a portal page go to the portal's login, not the console's.
    login_manager.blueprint_login_views["portal"] = "portal.login"
