"""Console views of the money domain: the read-only transactions ledger and a per-user wallet page.

- Transactions (`/admin/transactions/`): list, search (TXMP id, user email, payment reference), filters (type,
  status, dates), details, CSV export. Never created, edited or deleted here: the ledger is append-only.
- Wallet (`/admin/wallet/<user_id>`): balance, the user's ledger, and an "Adjust balance" form (amount, direction,
  reason, CSRF) that calls `billing.wallet.adjust_balance`, the same service as API A4/A5 (ledger row + audit).
  Link to it from anywhere with `url_for("wallet.user_view", user_id=...)`.
"""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange

from ..accounts.models import User
from ..billing.models import Transaction
from ..extensions import db
from .base import SecureBaseView, SecureForm, SecureModelView, call_service, current_admin

PAGE_SIZE = 50


def _money(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else f"{value:,}".replace(",", ".")


def _enum(view, context, model, name):
    value = getattr(model, name)
    return escape(getattr(value, "value", value))


def _wallet_link(view, context, model, name):
    user = model.user
    if user is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(url_for("wallet.user_view", user_id=user.id), user.email)


class TransactionView(SecureModelView):
    can_view_details = True
    can_export = True
    column_list = ["custom_id", "user.email", "type", "status", "amount", "balance_before", "balance_after",
                   "payment_method", "payment_reference", "description", "created_at", "completed_at"]
    column_details_list = ["id", "custom_id", "user.email", "type", "status", "amount", "balance_before",
                           "balance_after", "payment_method", "payment_reference", "subscription_id", "description",
                           "metadata_", "processed_by", "admin_notes", "idempotency_key", "created_at", "updated_at",
                           "completed_at"]
    column_export_list = ["id", "custom_id", "user.email", "type", "status", "amount", "balance_before",
                          "balance_after", "payment_method", "payment_reference", "description", "processed_by",
                          "admin_notes", "created_at", "completed_at"]
    column_labels = {"custom_id": "TXMP id", "user.email": "User", "balance_before": "Before",
                     "balance_after": "After", "payment_method": "Method", "payment_reference": "Payment reference",
                     "created_at": "Created", "completed_at": "Completed", "metadata_": "Metadata", "id": "ID",
                     "processed_by": "Processed by", "admin_notes": "Admin notes"}
    column_searchable_list = ["custom_id", "user.email", "payment_reference"]
    column_filters = ["type", "status", "created_at", "payment_method"]
    column_sortable_list = ["custom_id", "type", "status", "amount", "created_at", "completed_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_formatters = {"amount": _money, "balance_before": _money, "balance_after": _money, "type": _enum,
                         "status": _enum, "user.email": _wallet_link}
    column_formatters_export = {"type": lambda v, c, m, n: m.type.value, "status": lambda v, c, m, n: m.status.value,
                                "user.email": lambda v, c, m, n: m.user.email if m.user else ""}
    column_formatters_detail = {"amount": _money, "balance_before": _money, "balance_after": _money, "type": _enum,
                                "status": _enum}
    export_max_rows = 0

    def __init__(self, session_or_db, **kwargs):
        super().__init__(Transaction, session_or_db, **kwargs)

    def get_query(self):
        # Loaded with the rows: CSV export renders after the request's session is closed.
        return super().get_query().options(joinedload(Transaction.user))


class AdjustForm(SecureForm):
    amount = IntegerField("Amount (IDR)", validators=[InputRequired(), NumberRange(1_000, 100_000_000)])
    direction = SelectField("Direction", choices=[SelectChoice("ADD", "Add credit"), SelectChoice("DEDUCT", "Deduct credit")],
                            validators=[InputRequired()])
    reason = TextAreaField("Reason", validators=[InputRequired(), Length(min=5, max=200)])


class WalletView(SecureBaseView):
    @expose("/", methods=("GET",))
    def index(self):
        """Look a wallet up by email (`?email=`), or list the largest balances."""
        email = (request.args.get("email") or "").replace("\x00", "").strip().lower()[:254]
        if email:
            user = db.session.execute(select(User).where(User.email == email, User.deleted_at.is_(None))
                                      ).scalar_one_or_none()
            if user is not None:
                return redirect(url_for(".user_view", user_id=user.id))
            flash("User not found", "error")
        top = db.session.execute(select(User).where(User.deleted_at.is_(None))
                                 .order_by(User.credit_balance.desc(), User.id).limit(20)).scalars().all()
        return self.render("console/money/wallet_index.html", users=top, email=email)

    @expose("/<user_id>", methods=("GET", "POST"))
    def user_view(self, user_id):
        if not isinstance(user_id, str) or not 0 < len(user_id) <= 64 or "\x00" in user_id:
            abort(404)
        user = db.session.execute(select(User).where(User.id == user_id, User.deleted_at.is_(None))).scalar_one_or_none()
        if user is None:
            abort(404)
        form = AdjustForm()
        if form.validate_on_submit():
            from ..billing.wallet import adjust_balance

            ok, result = call_service(adjust_balance, current_admin(), user.id, amount=form.amount.data,
                                      kind=form.direction.data, reason=form.reason.data.strip(), source="console")
            if ok:
                verb = "added to" if form.direction.data == "ADD" else "deducted from"
                flash(f"{form.amount.data:,} IDR {verb} {user.email} ({result.transaction.custom_id}).".replace(",", "."),
                      "success")
                return redirect(url_for(".user_view", user_id=user.id))
        try:
            page = max(int(request.args.get("page", 1)), 1)
        except ValueError:
            page = 1
        page = min(page, 100_000)
        total = db.session.execute(select(func.count()).select_from(Transaction)
                                   .where(Transaction.user_id == user.id)).scalar_one()
        rows = db.session.execute(select(Transaction).where(Transaction.user_id == user.id)
                                  .order_by(Transaction.created_at.desc(), Transaction.id.desc())
                                  .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).scalars().all()
        db.session.refresh(user)
        return self.render("console/money/wallet.html", user=user, rows=rows, form=form, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)), total=total)


def register_views(admin, db) -> None:
    admin.add_view(TransactionView(db, name="Transactions", endpoint="transactions", url="transactions",
                                   category="Money"))
    admin.add_view(WalletView(name="Wallets", endpoint="wallet", url="wallet", category="Money"))
