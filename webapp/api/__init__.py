"""The customer and admin JSON API under /api: one blueprint, one routes module per area.

Views parse input (`validation`), call one service function, commit, and render the envelope.
"""
from flask import Blueprint

from ..extensions import csrf


def create_blueprint() -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api")
    from . import (routes_accounts, routes_admin_billing, routes_admin_catalog, routes_admin_cluster,
                   routes_admin_subscriptions, routes_admin_wallet, routes_analytics, routes_catalog, routes_coupons,
                   routes_instances, routes_meta, routes_subscriptions, routes_support, routes_wallet)

    for module in (routes_meta, routes_accounts, routes_catalog, routes_admin_catalog, routes_analytics, routes_wallet,
                   routes_admin_wallet, routes_coupons, routes_subscriptions, routes_admin_subscriptions,
                   routes_admin_billing, routes_instances, routes_admin_cluster, routes_support):
        module.register(bp)
    csrf.exempt(bp)  # bearer tokens, not cookies: CSRF does not apply
    return bp
