"""The customer 360 page (`/admin/customers/<user_id>`): everything about one customer on one page, and the
actions staff take from there.

Shown: profile (never a password hash, token version or Google subject), wallet balance and the last ledger rows
(link to the wallet page), subscriptions with their instances, coupons redeemed, tickets, notifications, and the
audit trail of the user, their subscriptions and their tickets. Read by `reporting.dashboard.customer_360` in a
fixed number of queries.

Actions, each a small CSRF form posted to its own URL, each calling the same service as the API through
`call_service` (one transaction; a domain error is flashed, never a 500):
- adjust balance: `billing.wallet.adjust_balance` (amount, direction, required reason; ledger row + audit row);
- extend a subscription: `subscriptions.services.extend_subscription` (days, required reason; audit row);
- cancel a subscription, optionally refunding the unused part: `subscriptions.services.force_cancel`
  (required reason; audit rows);
- activate / deactivate the account: `accounts.services.set_user_active` (CSRF only: the service takes no
  reason and records no audit row, see the report of issue 8).
Replying to a ticket happens on the ticket page (linked). A subscription id posted here must belong to the
customer of the page. Unknown or deleted user: 404.
"""
from __future__ import annotations

import json

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup, escape
from sqlalchemy import func, or_, select
from werkzeug.routing import BuildError
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, ValidationError

from ..accounts.models import User
from ..extensions import db
from .base import SecureBaseView, SecureForm, call_service, clean_text, current_admin, redact

SEARCH_ROWS = 50


def _not_blank(form, field):
    if not clean_text(field.data or ""):
        raise ValidationError("A reason is required.")


# ------------------------------------------------------------------------------------------------- forms
class AdjustBalanceForm(SecureForm):
    amount = IntegerField("Amount (IDR)", validators=[InputRequired(), NumberRange(1_000, 100_000_000)])
    direction = SelectField("Direction", validators=[InputRequired()],
                            choices=[SelectChoice("ADD", "Add credit"), SelectChoice("DEDUCT", "Deduct credit")])
    reason = TextAreaField("Reason", validators=[InputRequired(), _not_blank, Length(min=5, max=200)],
                           description="Kept in the ledger and the audit log (5-200 characters).")


class _SubscriptionForm(SecureForm):
    subscription_id = HiddenField(validators=[InputRequired(), Length(max=64)])
    reason = TextAreaField("Reason", validators=[InputRequired(), _not_blank, Length(min=10, max=500)],
                           description="Kept in the audit log (10-500 characters).")


class ExtendForm(_SubscriptionForm):
    days = IntegerField("Extend by (days)", default=7, validators=[InputRequired(), NumberRange(min=1, max=365)])


class CancelForm(_SubscriptionForm):
    process_refund = BooleanField("Refund the unused part of the current period", default=True)


class AccountForm(SecureForm):
    active = HiddenField(validators=[InputRequired(), AnyOf(["0", "1"])])


# ------------------------------------------------------------------------------------------------- helpers
def _url(endpoint: str, **values) -> str | None:
    """A console URL, or None when that view is not installed (the page still renders)."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def money(value) -> str:
    return f"{int(value or 0):,}".replace(",", ".")


def enum_value(value) -> str:
    return str(getattr(value, "value", value) or "")


def when(value) -> str:
    if value is None:
        return ""
    from .. import clock

    return clock.local(clock.to_utc(value)).strftime("%Y-%m-%d %H:%M")


def snapshot(value) -> Markup | str:
    """An audit before/after snapshot, secrets redacted, as compact JSON."""
    if not value:
        return ""
    text = json.dumps(redact(value), ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > 400:
        text = text[:400] + "…"
    return Markup("<code class='small'>%s</code>") % escape(text)


def _valid_id(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and "\x00" not in value


class CustomerView(SecureBaseView):
    """`/admin/customers/`: find a customer; `/admin/customers/<id>`: the 360 page and its actions."""

    @expose("/", methods=("GET",))
    def index(self):
        """Search by email, name or phone (`?q=`); an exact email goes straight to the customer."""
        q = clean_text(request.args.get("q") or "")[:254]
        query = select(User).where(User.deleted_at.is_(None))
        if q:
            exact = db.session.execute(select(User.id).where(User.email == q.lower(), User.deleted_at.is_(None))
                                       ).scalar_one_or_none()
            if exact is not None:
                return redirect(url_for(".user_view", user_id=exact))
            like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(func.lower(User.email).like(like, escape="\\"),
                                    func.lower(User.name).like(like, escape="\\"),
                                    User.phone.like(like, escape="\\")))
        users = db.session.execute(query.order_by(User.created_at.desc(), User.id.desc()).limit(SEARCH_ROWS)
                                   ).scalars().all()
        return self.render("console/customers/index.html", users=users, q=q, money=money, when=when)

    @expose("/<user_id>", methods=("GET",))
    def user_view(self, user_id):
        return self._page(user_id)

    # ---------------------------------------------------------------------------------------- actions
    @expose("/<user_id>/adjust-balance", methods=("POST",))
    def adjust_balance(self, user_id):
        data = self._load(user_id)
        form = AdjustBalanceForm()
        if not form.validate_on_submit():
            return self._render(data, {"adjust": form}), 400
        from ..billing.wallet import adjust_balance

        ok, result = call_service(adjust_balance, current_admin(), data.user.id, amount=form.amount.data,
                                  kind=form.direction.data, reason=clean_text(form.reason.data), source="console")
        if not ok:
            return self._page(user_id, {"adjust": form})
        verb = "added to" if form.direction.data == "ADD" else "deducted from"
        flash(f"{money(form.amount.data)} IDR {verb} the wallet ({result.transaction.custom_id}).", "success")
        return redirect(url_for(".user_view", user_id=data.user.id))

    @expose("/<user_id>/extend", methods=("POST",))
    def extend(self, user_id):
        data = self._load(user_id)
        form = ExtendForm()
        if not self._valid_subscription_form(form, data):
            return self._render(data, {("extend", form.subscription_id.data): form}), 400
        from ..subscriptions.services import extend_subscription

        ok, result = call_service(extend_subscription, actor=current_admin(), subscription_id=form.subscription_id.data,
                                  days=form.days.data, reason=clean_text(form.reason.data))
        if not ok:
            return self._page(user_id, {("extend", form.subscription_id.data): form})
        flash(f"Subscription extended by {result.days} days; new end {when(result.new_end)}.", "success")
        return redirect(url_for(".user_view", user_id=data.user.id))

    @expose("/<user_id>/cancel", methods=("POST",))
    def cancel(self, user_id):
        data = self._load(user_id)
        form = CancelForm()
        if not self._valid_subscription_form(form, data):
            return self._render(data, {("cancel", form.subscription_id.data): form}), 400
        from ..subscriptions.services import force_cancel

        ok, result = call_service(force_cancel, actor=current_admin(), subscription_id=form.subscription_id.data,
                                  reason=clean_text(form.reason.data), process_refund=bool(form.process_refund.data))
        if not ok:
            return self._page(user_id, {("cancel", form.subscription_id.data): form})
        refund = getattr(result, "refund_amount", 0) or 0
        detail = f"refunded {money(refund)} IDR" if refund else (getattr(result, "refund_reason", None) or "no refund")
        flash(f"Subscription cancelled ({detail}).", "success")
        return redirect(url_for(".user_view", user_id=data.user.id))

    @expose("/<user_id>/active", methods=("POST",))
    def set_active(self, user_id):
        data = self._load(user_id)
        form = AccountForm()
        if not form.validate_on_submit():
            flash("The form expired or is invalid; please try again.", "error")
            return self._render(data, {}), 400
        from ..accounts.services import set_user_active

        active = form.active.data == "1"
        ok, _ = call_service(set_user_active, current_admin(), data.user.id, active, source="console")
        if ok:
            flash(f"Account {'activated' if active else 'deactivated'}.", "success")
        return redirect(url_for(".user_view", user_id=data.user.id))

    # ---------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _load(user_id):
        from ..reporting.dashboard import customer_360

        data = customer_360(user_id) if _valid_id(user_id) else None
        if data is None:
            abort(404)
        return data

    @staticmethod
    def _valid_subscription_form(form, data) -> bool:
        if not form.validate_on_submit():
            return False
        if form.subscription_id.data not in {s.id for s in data.subscriptions}:
            form.subscription_id.errors = ["Not a subscription of this customer."]
            flash("Not a subscription of this customer.", "error")
            return False
        return True

    def _page(self, user_id, bound: dict | None = None):
        """Render after a fresh read (a failed write rolled back; a successful one changed the rows)."""
        db.session.expire_all()
        return self._render(self._load(user_id), bound or {})

    def _render(self, data, bound: dict):
        """`bound`: the posted form that failed, shown with its errors in place of the blank one."""
        adjust = bound.get("adjust") or AdjustBalanceForm(formdata=None)
        sub_forms = {}
        for sub in data.subscriptions:
            extend = bound.get(("extend", sub.id)) or ExtendForm(formdata=None, subscription_id=sub.id)
            cancel = bound.get(("cancel", sub.id)) or CancelForm(formdata=None, subscription_id=sub.id)
            sub_forms[sub.id] = {"extend": extend, "cancel": cancel}
        user = data.user
        links = {
            "wallet": _url("wallet.user_view", user_id=user.id),
            "user": _url("users.details_view", id=user.id),
            "transactions": _url("transactions.index_view", search=user.email),
            "subscriptions": _url("subscriptions.index_view", search=user.email),
            "tickets": self._tickets_url(user.email),
            "audit": _url("audit.index_view", search=user.id),
        }
        return self.render("console/customers/customer.html", data=data, user=user, adjust_form=adjust,
                           sub_forms=sub_forms, account_form=AccountForm(formdata=None), links=links,
                           url=_url, money=money, enum_value=enum_value, when=when, snapshot=snapshot)

    def _tickets_url(self, email: str) -> str | None:
        from .index import ListLinks

        return ListLinks(self.admin).url("tickets", [("Customer email", "equals", email)])


def register_views(admin, db) -> None:
    admin.add_view(CustomerView(name="Customers", endpoint="customers", url="customers"))
