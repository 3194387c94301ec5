"""The wallet: balance, the ledger (paginated), top-up through Midtrans and back, credit coupons.

Top-up: the form posts to `/portal/wallet/topup`, `payments.services.start_top_up` opens the order at Midtrans and
the browser is sent to Midtrans' `redirectUrl`; Midtrans sends it back to `/portal/wallet/topup/finish?order_id=...`
(set `MIDTRANS_FINISH_URL` to that URL), which shows the status through `payments.services.payment_status` (a missed
webhook still credits). Each top-up form carries a one-time submission token: posting the same form twice sends the
browser to the first order's payment page instead of opening a second order.
"""
from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import login_required
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length

from ..billing import wallet
from ..billing.coupon_errors import CouponError
from ..payments import services as payments
from ..payments.errors import InvalidPaymentMethod, TopUpAmountTooHigh, TopUpAmountTooLow
from .base import PAGE_SIZE, PortalForm, call, customer, form_error, page_arg

SUBMITTED = "portal_topups"  # session: submission token -> [order id, payment page URL]
KEEP_SUBMISSIONS = 5


class TopUpForm(PortalForm):
    amount = IntegerField("Amount (IDR)", validators=[InputRequired("Please enter an amount")])
    payment_method = SelectField("Payment method", validators=[InputRequired("Please choose a payment method")])
    submission = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.payment_method.choices = [(m["type"], m["name"]) for m in payments.payment_methods()]
        self.amount.render_kw = {"min": payments.TOPUP_MIN, "max": payments.TOPUP_MAX, "step": 1000}
        if not self.submission.data:
            self.submission.data = secrets.token_urlsafe(16)


class RedeemForm(PortalForm):
    code = StringField("Coupon code", validators=[InputRequired("Please enter a coupon code"), Length(max=50)])


class CancelForm(PortalForm):
    pass


def _render(topup: TopUpForm | None = None, coupon: RedeemForm | None = None, status: int = 200):
    user = customer()
    page = page_arg()
    info = wallet.wallet_info(user.id)
    ledger = wallet.list_transactions(user.id, page=page, limit=PAGE_SIZE)
    return render_template("portal/wallet.html", info=info, ledger=ledger,
                           topup_form=topup or TopUpForm(formdata=None), coupon_form=coupon or RedeemForm(formdata=None),
                           direction=wallet.direction), status


def _status_page(row, provider_status=None):
    return render_template("portal/transaction.html", row=row, provider_status=provider_status,
                           cancel_form=CancelForm(formdata=None), direction=wallet.direction)


def register(bp: Blueprint) -> None:
    @bp.get("/wallet")
    @login_required
    def wallet_page():
        return _render()

    @bp.post("/wallet/topup")
    @login_required
    def topup():
        form = TopUpForm()
        if not form.validate_on_submit():
            return _render(topup=form, status=400)
        submitted = dict(session.get(SUBMITTED) or {})
        token = (form.submission.data or "")[:64]
        if token in submitted:  # the same form posted again (double click, back + resubmit): same order
            return redirect(submitted[token][1], code=303)
        started, error = call(payments.start_top_up, customer().id, form.amount.data, form.payment_method.data)
        if error is not None:
            form_error(form, error, {TopUpAmountTooLow: "amount", TopUpAmountTooHigh: "amount",
                                     InvalidPaymentMethod: "payment_method"})
            return _render(topup=form, status=400 if error.status < 500 else error.status)
        submitted[token] = [started.transaction.id, started.redirect_url]
        session[SUBMITTED] = dict(list(submitted.items())[-KEEP_SUBMISSIONS:])
        return redirect(started.redirect_url, code=303)

    @bp.get("/wallet/topup/finish")
    @login_required
    def topup_finish():
        """Where Midtrans sends the browser back (`MIDTRANS_FINISH_URL`); shows the order's current status."""
        order_id = (request.args.get("order_id") or "").strip()
        if not order_id or len(order_id) > 64:
            abort(404)
        result = payments.payment_status(customer().id, order_id)  # another customer's order: 404
        return _status_page(result.transaction, result.midtrans_status)

    @bp.get("/wallet/transactions/<transaction_id>")
    @login_required
    def transaction_page(transaction_id: str):
        if len(transaction_id) > 64:
            abort(404)
        result = payments.payment_status(customer().id, transaction_id)
        return _status_page(result.transaction, result.midtrans_status)

    @bp.post("/wallet/transactions/<transaction_id>/cancel")
    @login_required
    def transaction_cancel(transaction_id: str):
        form = CancelForm()
        if form.validate_on_submit():
            row, error = call(payments.cancel_top_up, customer().id, transaction_id[:64])
            if error is not None and error.status == 404:  # another customer's (or no) transaction
                abort(404)
            if error is not None:
                flash(error.text, "error")
            else:
                flash("The top-up was cancelled.", "success")
        return redirect(url_for("portal.transaction_page", transaction_id=transaction_id[:64]), code=303)

    @bp.post("/wallet/coupon")
    @login_required
    def redeem_coupon():
        from ..billing.coupons import redeem_credit_coupon

        form = RedeemForm()
        if not form.validate_on_submit():
            return _render(coupon=form, status=400)
        redemption, error = call(redeem_credit_coupon, form.code.data, user=customer())
        if error is not None:
            form_error(form, error, {CouponError: "code"})
            return _render(coupon=form, status=400)
        flash(f"Coupon redeemed: {redemption.credit_amount:,} IDR added to your balance.", "success")
        return redirect(url_for("portal.wallet_page"), code=303)
