"""Subscriptions in the console: search (customer email, service), filters (status, plan, auto-renew, in grace),
next billing and failed charges, and the lifecycle actions — extend, cancel with refund, expire, set a grace
period — each on a page with a reason form. Nothing here writes a column: every action calls the subscription
services / transitions (which write the audit row) through `call_service`, one transaction each.
"""
from __future__ import annotations

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from flask_admin.helpers import get_redirect_target
from flask_admin.model.template import EndpointLinkRowAction
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import BooleanField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange

from .. import clock
from ..catalog.models import Service, ServicePlan
from ..db import as_utc
from ..extensions import db
from ..subscriptions.models import Subscription, SubscriptionStatus
from .base import SecureForm, SecureModelView, call_service, clean_text, current_admin


# ------------------------------------------------------------------------------------------ forms
class _ReasonForm(SecureForm):
    reason = TextAreaField("Reason", validators=[InputRequired(), Length(min=10, max=500)],
                           description="Kept in the audit log (10-500 characters).")


class ExtendForm(_ReasonForm):
    days = IntegerField("Extend by (days)", validators=[InputRequired(), NumberRange(min=1, max=365)])


class CancelForm(_ReasonForm):
    process_refund = BooleanField("Refund the unused part of the current period")


class ExpireForm(_ReasonForm):
    pass


class GraceForm(_ReasonForm):
    days = IntegerField("Grace period (days)", validators=[InputRequired(), NumberRange(min=1, max=365)])


OPERATIONS = {
    "extend": ("Extend", ExtendForm),
    "cancel": ("Cancel (with optional refund)", CancelForm),
    "expire": ("Expire now", ExpireForm),
    "grace": ("Set grace period", GraceForm),
}


# ------------------------------------------------------------------------------------------ filters
class InGraceFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        column = Subscription.grace_period_end
        return query.filter(column.is_not(None) if value == "1" else column.is_(None))

    def operation(self):
        return "is"


def _plan_options():
    rows = db.session.execute(select(ServicePlan.id, Service.name, ServicePlan.name)
                              .join(Service, Service.id == ServicePlan.service_id)
                              .order_by(Service.name, ServicePlan.name)).all()
    return [(plan_id, f"{service} / {plan}") for plan_id, service, plan in rows]


class _PlanOptions:
    """Filter options read when a page renders (Flask-Admin builds filters at start-up, before any database)."""

    def __bool__(self) -> bool:
        return True

    def __iter__(self):
        return iter(_plan_options())


# ------------------------------------------------------------------------------------------ formatters
def _money(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else f"{value:,}".replace(",", ".")


def _when(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else clock.local(as_utc(value)).strftime("%Y-%m-%d %H:%M")


def _status(view, context, model, name):
    status = model.status.value if isinstance(model.status, SubscriptionStatus) else str(model.status)
    css = {"ACTIVE": "success", "EXPIRED": "secondary", "CANCELLED": "dark"}.get(status, "warning")
    badge = Markup('<span class="badge badge-{}">{}</span>').format(css, status)
    if model.grace_period_end is not None and status == "ACTIVE":
        badge += Markup(' <span class="badge badge-danger">grace</span>')
    return badge


def _failed(view, context, model, name):
    value = model.failed_charges or 0
    if value:
        return Markup('<span class="text-danger font-weight-bold">{}</span>').format(value)
    return "0"


class SubscriptionView(SecureModelView):
    can_view_details = True
    column_list = ["user.email", "service.name", "plan.name", "status", "auto_renew", "next_billing", "end_date",
                   "grace_period_end", "failed_charges", "monthly_price", "created_at"]
    column_details_list = ["id", "user.email", "service.name", "plan.name", "status", "start_date", "end_date",
                           "next_billing", "last_billed", "monthly_price", "last_charge_amount", "failed_charges",
                           "auto_renew", "grace_period_end", "previous_plan_id", "upgrade_date", "cancelled_at",
                           "created_at", "updated_at"]
    column_export_list = ["id", "user.email", "service.name", "plan.name", "status", "start_date", "end_date",
                          "next_billing", "last_billed", "monthly_price", "last_charge_amount", "failed_charges",
                          "auto_renew", "grace_period_end", "created_at"]
    column_labels = {"user.email": "Customer", "service.name": "Service", "plan.name": "Plan",
                     "auto_renew": "Auto-renew", "next_billing": "Next billing", "end_date": "Period end",
                     "grace_period_end": "Grace until", "failed_charges": "Failed charges",
                     "monthly_price": "Price (IDR)", "created_at": "Created", "id": "ID"}
    column_searchable_list = ["user.email", "service.name"]
    column_filters = [
        "status",
        FilterEqual(Subscription.plan_id, "Plan", options=_PlanOptions()),
        "auto_renew",
        InGraceFilter(Subscription.grace_period_end, "Grace period", options=(("1", "in grace"), ("0", "not in grace"))),
    ]
    column_sortable_list = ["status", "next_billing", "end_date", "grace_period_end", "failed_charges",
                            "monthly_price", "created_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_formatters = {"status": _status, "monthly_price": _money, "next_billing": _when, "end_date": _when,
                         "grace_period_end": _when, "created_at": _when, "failed_charges": _failed}
    column_formatters_detail = {"monthly_price": _money, "last_charge_amount": _money}
    column_extra_row_actions = [EndpointLinkRowAction("fa fa-cog", ".manage_view", title="Lifecycle actions")]

    def __init__(self, session_or_db, **kwargs):
        super().__init__(Subscription, session_or_db, **kwargs)

    def get_query(self):
        return super().get_query().options(joinedload(Subscription.user), joinedload(Subscription.service),
                                           joinedload(Subscription.plan))

    # ------------------------------------------------------------------------------ lifecycle actions
    @expose("/manage/", methods=("GET", "POST"))
    def manage_view(self):
        """The lifecycle actions of one subscription, each with a reason (audited by the services)."""
        return_url = get_redirect_target() or self.get_url(".index_view")
        subscription = self.get_one(request.args.get("id", ""))
        if subscription is None:
            flash("Subscription not found", "error")
            return redirect(return_url)
        op = request.args.get("op", "")
        # One form per action; only the posted one is bound (CSRF is checked on every POST).
        forms = {name: form_class(formdata=request.form if request.method == "POST" and name == op else None)
                 for name, (_, form_class) in OPERATIONS.items()}
        if request.method == "GET":
            forms["grace"].days.data = self._grace_days()
            forms["extend"].days.data = 7
        if request.method == "POST":
            form = forms.get(op)
            if form is None:
                flash("Unknown action.", "error")
            elif form.validate():
                if self._apply(op, subscription.id, form):
                    return redirect(self.get_url(".manage_view", id=subscription.id, url=return_url))
        db.session.expire_all()
        subscription = self.get_one(subscription.id)
        return self.render("console/subscriptions/manage.html", subscription=subscription, forms=forms,
                           operations=OPERATIONS, return_url=return_url, local=_local)

    @staticmethod
    def _grace_days() -> int:
        from ..subscriptions.scheduler import current_settings

        return current_settings().grace_days

    def _apply(self, op: str, subscription_id: str, form) -> bool:
        from ..subscriptions import services, transitions

        actor = current_admin()
        reason = clean_text(form.reason.data or "")
        if op == "extend":
            ok, result = call_service(services.extend_subscription, actor=actor, subscription_id=subscription_id,
                                      days=form.days.data, reason=reason)
            if ok:
                flash(f"Extended by {result.days} days; new end {_local(result.new_end)}.", "success")
        elif op == "cancel":
            ok, result = call_service(services.force_cancel, actor=actor, subscription_id=subscription_id,
                                      reason=reason, process_refund=bool(form.process_refund.data))
            if ok:
                refund = getattr(result, "refund_amount", 0) or 0
                detail = f"refunded {refund:,} IDR".replace(",", ".") if refund else (
                    getattr(result, "refund_reason", None) or "no refund")
                flash(f"Subscription cancelled ({detail}).", "success")
        elif op == "expire":
            ok, _ = call_service(services.admin_expire, actor=actor, subscription_id=subscription_id, reason=reason)
            if ok:
                flash("Subscription expired.", "success")
        elif op == "grace":
            settings_days = form.days.data
            ok, outcome = call_service(transitions.set_grace_period, subscription_id, days=settings_days, actor=actor,
                                       source="console", reason=reason, replace=True)
            if ok:
                flash(f"Grace period of {settings_days} days set (until "
                      f"{_local(outcome.subscription.grace_period_end)}).", "success")
        else:
            return False
        return ok


def _local(value) -> str:
    return "" if value is None else clock.local(as_utc(value)).strftime("%Y-%m-%d %H:%M %Z")


def register_views(admin, db) -> None:
    admin.add_view(SubscriptionView(db, name="Subscriptions", endpoint="subscriptions", url="subscriptions"))
