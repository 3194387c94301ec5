"""Subscribing (with an optional coupon, amounts shown before confirming) and "My subscriptions": details, upgrade
(prorated price shown first), auto-renew, cancel (with a confirmation page).

Double submits: `create_subscription` refuses a second live subscription to the same service, so a confirm posted
twice charges and takes quota once; the second post shows that refusal.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, Optional

from ..billing.coupon_errors import CouponError
from ..catalog import services as catalog
from ..subscriptions import services as subs
from ..subscriptions.errors import SubscriptionNotFound
from .base import PortalForm, call, customer, form_error, raise_not_found


class SubscribeForm(PortalForm):
    coupon_code = StringField("Coupon code (optional)", validators=[Optional(), Length(max=50)])
    previewed = HiddenField()  # the code whose amounts the customer has seen
    action = HiddenField()  # set by the button pressed: "preview" or "confirm"


class UpgradeForm(PortalForm):
    plan_id = HiddenField(validators=[InputRequired("Please choose a plan"), Length(max=64)])


class AutoRenewForm(PortalForm):
    enabled = HiddenField(validators=[AnyOf(["1", "0"], "Invalid choice")])


class CancelForm(PortalForm):
    reason = TextAreaField("Why are you cancelling? (optional)", validators=[Optional(), Length(max=500)])


def _normalise(code: str | None) -> str:
    from ..billing.coupons import normalise_code

    return normalise_code(code) if code and code.strip() else ""


def _plan_of(slug: str, plan_id: str):
    service, plans = catalog.service_details(slug[:50])  # 404 for unknown/hidden services
    plan = next((p for p in plans if p.id == plan_id), None)
    if plan is None:
        abort(404)
    return service, plan


def _amounts(plan, check=None) -> dict:
    if check is None:
        return {"original": plan.monthly_price, "discount": 0, "final": plan.monthly_price, "code": None}
    return {"original": check.original_amount, "discount": check.discount_amount, "final": check.final_amount,
            "code": check.code}


def _checkout(service, plan, form, amounts, status=200):
    user = customer()
    validation = subs.validate_subscription(user.id, plan.id, required_amount=amounts["final"])
    return render_template("portal/subscribe.html", service=service, plan=plan, form=form, amounts=amounts,
                           validation=validation), status


def _own_subscription(subscription_id: str):
    if len(subscription_id) > 64:
        abort(404)
    return subs.get_subscription(subscription_id, user_id=customer().id)  # another customer's: 404


def register(bp: Blueprint) -> None:
    @bp.route("/catalog/<slug>/subscribe/<plan_id>", methods=["GET", "POST"], endpoint="subscribe")
    @login_required
    def subscribe(slug: str, plan_id: str):
        from ..billing.coupons import check_subscription_coupon

        service, plan = _plan_of(slug, plan_id)
        form = SubscribeForm()
        if request.method == "GET":
            return _checkout(service, plan, form, _amounts(plan))
        if not form.validate_on_submit():
            return _checkout(service, plan, form, _amounts(plan), 400)
        code = _normalise(form.coupon_code.data)
        amounts = _amounts(plan)
        if code:
            try:
                amounts = _amounts(plan, check_subscription_coupon(code, user=customer(), plan=plan))
            except CouponError as error:
                form_error(form, error, {CouponError: "coupon_code"})
                form.previewed.data = ""
                return _checkout(service, plan, form, amounts, 400)
        if form.action.data != "confirm" or code != _normalise(form.previewed.data):
            # "Apply coupon", or a code whose discount the customer has not seen yet: show the amounts first.
            form.previewed.data = code
            return _checkout(service, plan, form, amounts)
        result, error = call(subs.create_subscription, customer(), plan.id, coupon_code=code or None)
        if error is not None:
            form_error(form, error, {CouponError: "coupon_code"})
            return _checkout(service, plan, form, amounts, 400 if error.status < 500 else error.status)
        flash(f"{result.message}. Your {service.name} instance is being prepared.", "success")
        return redirect(url_for("portal.subscription_page", subscription_id=result.subscription.id), code=303)

    @bp.get("/subscriptions", endpoint="subscriptions")
    @login_required
    def subscriptions_page():
        rows = subs.list_user_subscriptions(customer())
        return render_template("portal/subscriptions.html", subscriptions=rows,
                               instances=subs.instances_by_subscription([s.id for s in rows]))

    @bp.get("/subscriptions/<subscription_id>")
    @login_required
    def subscription_page(subscription_id: str):
        subscription = _own_subscription(subscription_id)
        return render_template("portal/subscription.html", sub=subscription,
                               instances=subs.instances_of(subscription.id),
                               charges=subs.recent_charges(subscription.id),
                               auto_renew_form=AutoRenewForm(formdata=None))

    @bp.route("/subscriptions/<subscription_id>/upgrade", methods=["GET", "POST"])
    @login_required
    def upgrade(subscription_id: str):
        if len(subscription_id) > 64:
            abort(404)
        form = UpgradeForm()
        status = 200
        if request.method == "POST":
            if form.validate_on_submit():
                change, error = call(subs.upgrade_subscription, customer(), subscription_id, form.plan_id.data)
                raise_not_found(error if isinstance(error, SubscriptionNotFound) else None)
                if error is None:
                    flash(f"{change.message}: now on {change.to_plan.name}; {change.actual_charge:,} IDR charged.",
                          "success")
                    return redirect(url_for("portal.subscription_page", subscription_id=subscription_id), code=303)
                form_error(form, error)
            status = 400
        options = subs.upgrade_options(customer(), subscription_id)  # 404 foreign, 400 not active
        return render_template("portal/upgrade.html", options=options, form=form), status

    @bp.post("/subscriptions/<subscription_id>/auto-renew")
    @login_required
    def auto_renew(subscription_id: str):
        form = AutoRenewForm()
        subscription_id = subscription_id[:64]
        if not form.validate_on_submit():
            abort(400)
        subscription, error = call(subs.set_auto_renew, customer(), subscription_id, form.enabled.data == "1")
        raise_not_found(error)
        if error is not None:
            flash(error.text, "error")
        else:
            flash("Auto-renew is now " + ("on." if subscription.auto_renew else "off."), "success")
        return redirect(url_for("portal.subscription_page", subscription_id=subscription_id), code=303)

    @bp.route("/subscriptions/<subscription_id>/cancel", methods=["GET", "POST"])
    @login_required
    def cancel(subscription_id: str):
        subscription = _own_subscription(subscription_id)
        form = CancelForm()
        if request.method == "POST":
            if form.validate_on_submit():
                _, error = call(subs.cancel_subscription, customer(), subscription.id,
                                reason=(form.reason.data or "").strip() or None)
                raise_not_found(error)
                if error is None:
                    flash("Your subscription was cancelled.", "success")
                    return redirect(url_for("portal.subscription_page", subscription_id=subscription.id), code=303)
                form_error(form, error)
            return render_template("portal/cancel.html", sub=subscription, form=form), 400
        return render_template("portal/cancel.html", sub=subscription, form=form)
