"""The authorization matrix: EVERY route of `app.url_map` (API, console, portal, webhook, static files, OIDC callbacks)
with the outcome each of four callers must get. A route missing from the tables below fails
`test_every_route_is_classified` with a message naming it: a new route cannot be forgotten.

Callers (tests/authz/callers.py): anonymous; customer A, who owns one of everything (tests/authz/world.py); customer B,
another customer with his own data; an administrator. Browsers sign in through the real login forms (session cookie)
and also carry an API bearer token. Path arguments name A's real rows, so "B on A's object" means something.

Policy (what each row kind asserts is in tests/authz/matrix.py):
- API (/api): `admin` rows: anonymous 401 "Access token is required", customers 403 "Access denied. Insufficient
  permissions.", administrator neither. `user`: any signed-in account (B's responses never show A's data).
  `owned`: B gets the reference's not-found answer; so does the administrator, because the customer routes are
  owner-scoped for every role (staff look at customers' data through /api/admin and the console); A reaches it.
  `public`: no authentication, the same answer for everyone. Refused writes change nothing (row counts and every
  column of A's and the shared rows are compared).
- Console (/admin): `staff`: anonymous -> the console login page; a portal-signed-in customer -> 403 even with a valid
  CSRF token; administrator -> a reachable page (GET), and a POST without CSRF token is 400 and changes nothing.
  Every Flask-Admin ModelView's generated endpoints (index/create/edit/details/delete/action/export/ajax) are rows of
  this kind, built from the console's own view list (the only prefix-wide rule: Flask-Admin wires them uniformly).
- Portal (/portal): anonymous -> the portal login; B on A's objects -> 404 without any of A's data; a POST without a
  CSRF token -> 400. An administrator may use the portal as a customer of their own: portal pages are owner-scoped
  for every role, so an administrator also gets 404 on A's objects (staff use the console to look at customers).
- Public pages (login, register, Google sign-in start and callback, static files, health, OpenAPI, webhook): the
  outcome written in their row.
"""
from __future__ import annotations

import pytest

from tests.authz.callers import make_callers
from tests.authz.matrix import (ANY, Runner, admin, asset, console_public, mine, owned, portal_public, private,
                                public, routes, staff, user)
from tests.authz.world import build_world
from tests.cluster.fixtures import no_cluster  # noqa: F401  (fixture: no Kubernetes configured, fast 503s)

SUB, INSTANCE, TX = "Subscription not found", "Service instance not found", "Transaction not found"
TICKET, TICKET_DENIED, ATTACHMENT = "Ticket not found", "Ticket not found or access denied", "Attachment not found"
A_SUB, A_INSTANCE, A_TICKET, A_TOPUP = "a.subscription", "a.instance", "a.ticket", "a.topup"
TAMPER = {"userId": "a.user"}  # a customer's list asked for A's rows: refused or ignored, never A's data

# ------------------------------------------------------------------------------------------------ API (/api)
API = {
    # meta, sign-in and sign-up: public
    "api.health":                        public(200, text="API is running"),
    "api.health_ready":                  public(200),
    "api.openapi_document":              public(200),
    "api.auth_register":                 public(400, json={}),
    "api.auth_login":                    public(400, json={}),
    "api.auth_refresh":                  public(400, json={}),
    "api.auth_google_login":             public(400, json={}),
    "api.auth_forgot_password":          public(400, json={}),
    "api.auth_reset_password":           public(400, json={}),
    # a forged (unsigned) "settlement" for A's pending top-up: acknowledged, ignored, nothing credited
    "api.wallet_midtrans_webhook":       public(200, text="Notification processed",
                                                json={"order_id": "@a.topup", "transaction_status": "settlement",
                                                      "status_code": "200", "gross_amount": "100000.00",
                                                      "signature_key": "0" * 128}),
    # the caller's own account
    "api.auth_profile":                  user(),
    "api.auth_logout":                   user(json={}),
    "api.auth_logout_all":               user(),
    "api.auth_google_link":              user(json={}),
    "api.auth_google_unlink":            user(),
    "api.user_profile":                  user(),
    "api.user_profile_update":           user(json={}),
    "api.user_avatar":                   user(json={}),
    "api.user_password":                 user(json={}),
    # catalog (signed-in accounts, as in the original)
    "api.catalog_categories":            user(),
    "api.catalog_category_services":     user(categorySlug="category.slug"),
    "api.catalog_featured":              user(),
    "api.catalog_search":                user(query={"q": "=authz"}),
    "api.catalog_services":              user(),
    "api.catalog_service_details":       user(serviceSlug="service.slug"),
    "api.catalog_service_plans":         user(serviceSlug="service.slug"),
    # wallet
    "api.wallet_info":                   user(),
    "api.wallet_transactions":           user(query=TAMPER),
    "api.wallet_statistics":             user(),
    "api.wallet_payment_methods":        user(),
    "api.wallet_coupon_history":         user(query=TAMPER),
    "api.wallet_check_credit":           user(json={"amount": 1000}),
    "api.wallet_topup":                  user(json={}),
    "api.wallet_validate_coupon":        user(json={}),
    "api.wallet_redeem_coupon":          user(json={}),
    "api.wallet_transaction_status":     owned(TX, transactionId=A_TOPUP),
    "api.wallet_transaction_cancel":     owned(TX, transactionId=A_TOPUP),
    # subscriptions
    "api.subscriptions_list":            user(query=TAMPER),
    "api.subscriptions_validate":        user(json={"planId": "@plan2"}),
    "api.subscriptions_create":          user(json={}),
    "api.subscriptions_get":             owned(SUB, subscriptionId=A_SUB),
    "api.subscriptions_metrics":         owned(SUB, subscriptionId=A_SUB),
    "api.subscriptions_billing_info":    owned(SUB, subscriptionId=A_SUB),
    "api.subscriptions_upgrade":         owned(SUB, subscriptionId=A_SUB, json={"newPlanId": "@plan2"}),
    "api.subscriptions_retry":           owned(SUB, subscriptionId=A_SUB),
    "api.subscriptions_restart":         owned(SUB, subscriptionId=A_SUB),
    "api.subscriptions_stop":            owned(SUB, subscriptionId=A_SUB),
    "api.subscriptions_start":           owned(SUB, subscriptionId=A_SUB),
    "api.subscriptions_auto_renew":      owned(SUB, subscriptionId=A_SUB, json={"autoRenew": False}),
    "api.subscriptions_cancel":          owned(SUB, subscriptionId=A_SUB, json={"reason": "not mine to cancel"}),
    # instances
    "api.instances_list":                user(query=TAMPER),
    "api.instances_create":              owned(SUB, json={"subscriptionId": "@a.subscription"}),
    "api.instances_get":                 owned(INSTANCE, id=A_INSTANCE),
    "api.instances_delete":              owned(INSTANCE, id=A_INSTANCE),
    "api.instances_logs":                owned(INSTANCE, id=A_INSTANCE),
    "api.instances_log_stream":          owned(INSTANCE, id=A_INSTANCE),
    "api.instances_restart":             owned(INSTANCE, id=A_INSTANCE),
    "api.instances_stop":                owned(INSTANCE, id=A_INSTANCE),
    "api.instances_start":               owned(INSTANCE, id=A_INSTANCE),
    # tickets
    "api.tickets_stats":                 user(),
    "api.tickets_list":                  user(query=TAMPER),
    "api.tickets_create":                user(json={}),
    "api.tickets_detail":                owned(TICKET, id=A_TICKET),
    "api.tickets_add_message":           owned(TICKET, id=A_TICKET, json={"content": "B writes on A's ticket"}),
    "api.tickets_close":                 owned(TICKET_DENIED, id=A_TICKET),
    "api.tickets_attachment_download":   owned(ATTACHMENT, id="a.attachment"),
    # administration (ids of A's rows, so an administrator really reaches them)
    "api.admin_users_create":            admin(json={}),
    "api.admin_users_list":              admin(),
    "api.admin_users_get":               admin(id="a.user"),
    "api.admin_users_update":            admin(id="a.user", json={"name": "Renamed By Someone"}),
    "api.admin_users_delete":            admin(id="a.user"),
    "api.admin_users_status":            admin(id="a.user", json={"isActive": False}),
    "api.admin_services_list":           admin(),
    "api.admin_service_create":          admin(json={}),
    "api.admin_service_statistics":      admin(),
    "api.admin_all_plans":               admin(),
    "api.admin_service_get":             admin(id="service"),
    "api.admin_service_update":          admin(id="service", json={"name": "Renamed Service"}),
    "api.admin_service_delete":          admin(id="service"),
    "api.admin_service_toggle":          admin(id="service"),
    "api.admin_service_plans":           admin(serviceId="service"),
    "api.admin_plan_create":             admin(serviceId="service", json={}),
    "api.admin_plan_get":                admin(serviceId="service", planId="plan"),
    "api.admin_plan_update":             admin(serviceId="service", planId="plan", json={"name": "Renamed"}),
    "api.admin_plan_delete":             admin(serviceId="service", planId="plan"),
    "api.admin_plan_toggle":             admin(serviceId="service", planId="plan"),
    "api.admin_quota_overview":          admin(),
    "api.admin_quota_statistics":        admin(),
    "api.admin_quota_bulk":              admin(json={}),
    "api.admin_quota_plan":              admin(planId="plan"),
    "api.admin_quota_update":            admin(planId="plan", json={"totalQuota": 3}),
    "api.admin_subscriptions_list":      admin(),
    "api.admin_subscriptions_stats":     admin(),
    "api.admin_subscriptions_create":    admin(json={}),
    "api.admin_subscriptions_update":    admin(subscriptionId=A_SUB, json={"autoRenew": False}),
    "api.admin_subscriptions_expire":    admin(subscriptionId=A_SUB, json={"reason": "authorization matrix"}),
    "api.admin_subscriptions_extend":    admin(subscriptionId=A_SUB, json={"days": 3, "reason": "authz matrix"}),
    "api.admin_subscriptions_force_cancel": admin(subscriptionId=A_SUB, json={"reason": "authorization matrix"}),
    "api.admin_subscriptions_refund":    admin(subscriptionId=A_SUB, json={"amount": 1000, "reason": "authz"}),
    "api.admin_subscriptions_upgrade":   admin(subscriptionId=A_SUB, json={"newPlanId": "@plan2"}),
    "api.admin_billing_stats":           admin(),
    "api.admin_job_status":              admin(),
    "api.admin_low_credit":              admin(),
    "api.admin_process_renewals":        admin(),
    "api.admin_process_grace_period":    admin(),
    "api.admin_send_low_credit":         admin(),
    "api.admin_run_job":                 admin(jobName="=daily-renewals"),
    "api.admin_expire":                  admin(subscriptionId=A_SUB),
    "api.admin_set_grace_period":        admin(subscriptionId=A_SUB),
    "api.admin_coupon_list":             admin(),
    "api.admin_coupon_create":           admin(json={}),
    "api.admin_coupon_statistics":       admin(),
    "api.admin_coupon_bulk_status":      admin(json={"couponIds": ["@coupon"], "status": "INACTIVE"}),
    "api.admin_coupon_get":              admin(couponId="coupon"),
    "api.admin_coupon_update":           admin(couponId="coupon", json={"name": "Renamed coupon"}),
    "api.admin_coupon_delete":           admin(couponId="coupon"),
    "api.admin_wallet_overview":         admin(),
    "api.admin_wallet_statistics":       admin(),
    "api.admin_wallet_bulk_adjustment":  admin(json={}),
    "api.admin_wallet_user":             admin(userId="a.user"),
    "api.admin_wallet_add_credit":       admin(userId="a.user", json={"amount": 5000, "description": "authz"}),
    "api.admin_wallet_deduct_credit":    admin(userId="a.user", json={"amount": 5000, "description": "authz"}),
    "api.admin_tickets_list":            admin(),
    "api.admin_tickets_stats":           admin(),
    "api.admin_tickets_bulk_close":      admin(json={"ticketIds": ["@a.ticket"]}),
    "api.admin_tickets_of_user":         admin(userId="a.user"),
    "api.admin_tickets_detail":          admin(id=A_TICKET),
    "api.admin_tickets_reply":           admin(id=A_TICKET, json={"content": "Staff reply"}),
    "api.admin_tickets_close":           admin(id=A_TICKET),
    "api.admin_tickets_reopen":          admin(id=A_TICKET),
    "api.admin_tickets_attachment_download": admin(id="a.attachment"),
    "api.analytics_dashboard":           admin(),
    "api.analytics_revenue":             admin(),
    "api.analytics_service_control":     admin(),
    "api.analytics_subscriptions":       admin(),
    "api.analytics_users":               admin(),
    "api.admin_health_check":            admin(),
    "api.admin_health_stats":            admin(),
    "api.admin_health_summary":          admin(),
    "api.admin_health_instance":         admin(id=A_INSTANCE),
    "api.admin_k8s_nodes":               admin(),
    "api.admin_k8s_node":                admin(name="=node-1"),
    "api.admin_k8s_pods":                admin(),
    "api.admin_k8s_deployments":         admin(),
    "api.admin_k8s_services":            admin(),
    "api.admin_k8s_ingresses":           admin(),
    "api.admin_k8s_namespaces":          admin(),
    "api.admin_k8s_logs":                admin(),
}

# ------------------------------------------------------------------------------------------------ console (/admin)
REASON = "authorization matrix check"
SIGNED_IN = {"GET": 200, "POST": 200}  # the login form, re-shown (a customer is not an administrator)
CONSOLE = {
    "console_auth.login":                console_public({"anonymous": SIGNED_IN, "customer_a": SIGNED_IN,
                                                         "customer_b": SIGNED_IN, "admin": "->/admin/"}),
    "console_auth.login_google":         console_public({ANY: "->/admin/login"}),  # Google not configured: flash
    "console_auth.login_google_callback": console_public({ANY: "->/admin/login"}),  # no state: refused
    "console_auth.logout":               console_public({ANY: "->/admin/login"}),
    "admin.static":                      console_public({ANY: 200}, filename="=admin/js/actions.js"),
    "admin.index":                       staff(),
    "customers.index":                   staff(),
    "customers.user_view":               staff(user_id="a.user"),
    "customers.adjust_balance":          staff(user_id="a.user", form={"amount": "5000", "direction": "ADD",
                                                                       "reason": REASON}),
    "customers.extend":                  staff(user_id="a.user", form={"subscription_id": "@a.subscription",
                                                                       "days": "7", "reason": REASON}),
    "customers.cancel":                  staff(user_id="a.user", form={"subscription_id": "@a.subscription",
                                                                       "process_refund": "y", "reason": REASON}),
    "customers.set_active":              staff(user_id="a.user", form={"active": "0"}),
    "wallet.index":                      staff(),
    "wallet.user_view":                  staff(user_id="a.user", form={"amount": "5000", "direction": "ADD",
                                                                       "reason": REASON}),
    "billing.index":                     staff(),
    "billing.run":                       staff(form={"job": "daily-renewals"}),
    "billing.run_status":                staff(run_id="run_id"),
    "plans.quota_view":                  staff(query={"id": "plan"}, form={"total_quota": "3", "reason": REASON}),
    "subscriptions.manage_view":         staff(query={"id": A_SUB, "op": "=extend"},
                                               form={"days": "7", "reason": REASON}),
    "tickets.reply_view":                staff(query={"id": A_TICKET}, form={"content": "staff reply"}),
    "tickets.close_view":                staff(query={"id": A_TICKET}),
    "tickets.reopen_view":               staff(query={"id": A_TICKET}),
    "tickets.attachment_view":           staff(attachment_id="a.reply_attachment"),
    "cluster_nodes.index":               staff(),
    "cluster_pods.index":                staff(),
    "cluster_deployments.index":         staff(),
    "cluster_services.index":            staff(),
    "cluster_ingresses.index":           staff(),
    "cluster_namespaces.index":          staff(),
    "cluster_instances.live_view":       staff(query={"id": A_INSTANCE}),
    "cluster_instances.action_post":     staff(form={"id": "@a.instance", "action": "stop"}),
    "jobs.index":                        staff(),
    "jobs.requeue":                      staff(form={"job_id": "authz-job", "queue": "default"}),
    "jobs.delete":                       staff(form={"job_id": "authz-job", "queue": "default"}),
    "jobs.dispatch":                     staff(form={"row_id": "authz-row"}),
}
# Flask-Admin's generated endpoints of every ModelView: the same rule for all (see `_model_view_row`).
MODEL_VIEW_ENDPOINTS = ("index_view", "create_view", "edit_view", "details_view", "delete_view", "action_view",
                        "export", "ajax_lookup", "ajax_update")

# ------------------------------------------------------------------------------------------------ portal (/portal)
SIGNED_IN_GOES_HOME = "->/portal/catalog"
PORTAL = {
    "portal.login":                      portal_public({"anonymous": {"GET": 200, "POST": 400},
                                                        ANY: SIGNED_IN_GOES_HOME}),
    "portal.register_page":              portal_public({"anonymous": {"GET": 200, "POST": 400},
                                                        ANY: SIGNED_IN_GOES_HOME}),
    "portal.login_google":               portal_public({ANY: "->/portal/login"}),  # Google not configured: flash
    "portal.login_google_callback":      portal_public({ANY: "->/portal/login"}),  # no state: refused
    "portal.logout":                     portal_public({ANY: "->/portal/login"}),
    # password reset: the same page for everyone (signed in or not); an empty form is a 400
    "portal.forgot_password":            portal_public({ANY: {"GET": 200, "POST": 400}}),
    "portal.reset_password":             portal_public({ANY: {"GET": 400, "POST": 400}}, token="=not-a-reset-token"),
    "portal.home":                       private(get=302),
    "portal.catalog":                    private(),
    "portal.service_page":               private(slug="service.slug"),
    "portal.subscribe":                  private(slug="service.slug", plan_id="plan2", form={"action": "confirm"}),
    "portal.subscriptions":              private(),
    "portal.instances":                  private(),
    "portal.tickets":                    private(),
    "portal.new_ticket":                 private(form={"subject": "A new ticket", "description": "Long enough text"}),
    "portal.wallet_page":                private(),
    "portal.topup":                      private(form={"amount": "50000", "payment_method": "BANK_TRANSFER"}),
    "portal.redeem_coupon":              private(form={"code": "AUTHZ10K"}),
    "portal.subscription_page":          mine(subscription_id=A_SUB),
    "portal.auto_renew":                 mine(subscription_id=A_SUB, form={"enabled": "0"}),
    "portal.cancel":                     mine(subscription_id=A_SUB, form={"reason": "B cancels A"}),
    "portal.upgrade":                    mine(subscription_id=A_SUB, form={"plan_id": "@plan2"}),
    "portal.instance_page":              mine(instance_id=A_INSTANCE),
    "portal.instance_action":            mine(instance_id=A_INSTANCE, action="=stop"),
    "portal.ticket_page":                mine(ticket_id=A_TICKET),
    "portal.ticket_reply":               mine(ticket_id=A_TICKET, form={"content": "B writes on A's ticket"}),
    "portal.ticket_close":               mine(ticket_id=A_TICKET),
    "portal.ticket_attachment":          mine(attachment_id="a.reply_attachment"),  # on a staff reply
    "portal.topup_finish":               mine(query={"order_id": A_TOPUP}),
    "portal.transaction_page":           mine(transaction_id=A_TOPUP),
    "portal.transaction_cancel":         mine(transaction_id=A_TOPUP),
}

# ------------------------------------------------------------------------------------------------ everything else
OTHER = {
    "static":                            asset({"filename": "=console/console.css"}),
}

TABLES = {"api": API, "console": CONSOLE, "portal": PORTAL, "other": OTHER}


# ------------------------------------------------------------------------------------------------ the generic rule
def _model_views(app) -> dict:
    from flask_admin.model import BaseModelView

    return {v.endpoint: v for v in app.extensions["poddesk_console"]._views if isinstance(v, BaseModelView)}


def _model_view_row(view, name: str, world):
    """The row of one Flask-Admin generated endpoint, aimed at the world's row of the view's model."""
    ref = world.model_refs().get(view.model)
    if ref is None:
        return (f"{view.endpoint}.{name}: the console lists {view.model.__name__} but the matrix has no row of it: "
                f"add one to tests/authz/world.py (World.model_refs)")
    actions = [a[0] for a in getattr(view, "_actions", [])]
    action = next((a for a in actions if a != "delete"), actions[0] if actions else "delete")
    return {
        "index_view": staff(),
        # a view without generic create/edit sends an administrator back to its list
        "create_view": staff(form={}, admin_get=(200,) if view.can_create else (302,)),
        "edit_view": staff(query={"id": ref}, form={}, admin_get=(200,) if view.can_edit else (302,)),
        "details_view": staff(query={"id": ref}),
        "delete_view": staff(form={"id": f"@{ref}"}),
        "action_view": staff(form={"action": action, "rowid": f"@{ref}"}),
        "export": staff(export_type="=csv"),
        # no view declares ajax lookups: Flask-Admin answers an administrator 404
        "ajax_lookup": staff(query={"name": "=user", "query": "=a"},
                             admin_get=(200,) if getattr(view, "_form_ajax_refs", None) else (404,)),
        "ajax_update": staff(form={"list_form_pk": f"@{ref}", "name": "=x"}),
    }[name]


def classifier(app, world):
    model_views = _model_views(app)

    def classify(endpoint: str):
        for table in TABLES.values():
            if endpoint in table:
                return table[endpoint]
        view_name, _, name = endpoint.partition(".")
        if view_name in model_views and name in MODEL_VIEW_ENDPOINTS:
            return _model_view_row(model_views[view_name], name, world)
        return None

    return classify


# ------------------------------------------------------------------------------------------------ tests
@pytest.fixture(autouse=True)
def _setting(app, tmp_path, monkeypatch, no_cluster):  # noqa: F811
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path))
    # Webhook signatures are checked with this key; Midtrans itself is a closed local port (fails at once).
    monkeypatch.setitem(app.config, "MIDTRANS_SERVER_KEY", "SB-Mid-server-authz-matrix")
    monkeypatch.setitem(app.config, "MIDTRANS_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setitem(app.config, "MIDTRANS_TIMEOUT", 1.0)
    # Four browsers sign in and every login route is called by each of them, all from 127.0.0.1.
    for key in ("LOGIN_RATE_LIMIT", "REGISTER_RATE_LIMIT", "REFRESH_RATE_LIMIT", "LOGIN_FAILURE_LIMIT",
                "LOGIN_ACCOUNT_FAILURE_LIMIT",
                "PASSWORD_RESET_RATE_LIMIT", "PASSWORD_RESET_EMAIL_LIMIT"):
        monkeypatch.setitem(app.config, key, "10000 per minute")


@pytest.fixture
def world(make):
    return build_world(make)


@pytest.fixture
def runner(app, world):
    return Runner(world, make_callers(app, world))


def _report(failures: list[str]) -> str:
    return f"{len(failures)} authorization matrix failure(s):\n  " + "\n  ".join(failures)


def test_every_route_is_classified(app, world):
    found, problems = routes(app, world, classifier(app, world))
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    stale = [f"{e} is in the matrix but not in the URL map: remove its row"
             for table in TABLES.values() for e in table if e not in endpoints]
    assert problems + stale == [], _report(problems + stale)
    areas = {r.row.area for r in found}
    assert areas == {"api", "console", "portal", "other"}
    assert len(found) > 300  # every method of every route


@pytest.mark.parametrize("area", ["api", "console", "portal", "other"])
def test_each_caller_gets_the_outcome_of_the_matrix(app, world, runner, area):
    found, _ = routes(app, world, classifier(app, world))
    for route in found:
        if route.row.area == area:
            runner.run(route)
    assert runner.failures == [], _report(runner.failures)
    assert runner.checked >= {"api": 550, "console": 500, "portal": 100, "other": 4}[area]


def test_sessions_and_tokens_lose_their_rights_at_once(app, world, runner):
    """A demoted administrator's console session and a deactivated customer's portal session and API token stop
    working on their next request (the matrix's callers keep their rights, so this is checked here)."""
    from webapp.extensions import db

    admin_browser, a = runner.callers["admin"], runner.callers["customer_a"]
    assert admin_browser.send("GET", "/admin/users/").status_code == 200
    world.admin.role = type(world.admin.role)("USER")
    db.session.flush()
    assert admin_browser.send("GET", "/admin/users/").status_code == 403
    r = admin_browser.send("GET", f"/api/admin/users/{world.a.user.id}")
    assert (r.status_code, r.get_json()["message"]) == (403, "Access denied. Insufficient permissions.")

    assert a.send("GET", f"/portal/subscriptions/{world.a.subscription.id}").status_code == 200
    world.a.user.is_active = False
    db.session.flush()
    r = a.send("GET", f"/portal/subscriptions/{world.a.subscription.id}")
    assert r.status_code == 302 and r.location.startswith("/portal/login")
    r = a.send("GET", f"/api/subscriptions/{world.a.subscription.id}")
    assert (r.status_code, r.get_json()["message"]) == (403, "Account is deactivated. Please contact administrator.")
