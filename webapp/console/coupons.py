"""Coupons in the console: list with uses (used/max), search by code or name, filters by type and status,
create / edit / deactivate / delete.

Forms only parse input; every write goes through `billing.coupons` (which checks the rules, writes and audits),
never through the model.
"""
from __future__ import annotations

from datetime import timezone

from flask import flash
from flask_admin.actions import action
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from ..billing import coupons
from ..billing.coupon_models import Coupon, CouponDiscountType, CouponRedemption, CouponStatus, CouponType
from ..catalog.models import PlanType, Service
from ..db import isoformat
from ..extensions import db
from .base import SecureForm, SecureModelView, call_service, current_admin

MAX_ROWS_PER_ACTION = 200
CODE = Regexp(r"^\s*[A-Za-z0-9_-]+\s*$", message="Letters, numbers, hyphens and underscores only")


def _value(value):
    return value.value if hasattr(value, "value") else value


def _blank_none(value):
    value = _value(value)
    return value or None


class UTCDateTimeField(DateTimeLocalField):
    """A datetime-local input read and shown in UTC (the stored values are UTC)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"], **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        if self.data is None:
            return ""
        value = self.data.astimezone(timezone.utc) if self.data.tzinfo else self.data
        return value.strftime("%Y-%m-%dT%H:%M")

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and self.data.tzinfo is None:
            self.data = self.data.replace(tzinfo=timezone.utc)


class CouponCreateForm(SecureForm):
    code = StringField("Code", validators=[InputRequired(), Length(3, 50), CODE])
    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=500)])
    type = SelectField("Type", choices=[SelectChoice(t.value) for t in CouponType], coerce=_value,
                       validators=[InputRequired()])
    credit_amount = IntegerField("Credit or fixed discount (IDR)", validators=[Optional(),
                                                                                NumberRange(1_000, 10_000_000)])
    discount_type = SelectField("Discount type", coerce=_blank_none,
                                choices=[SelectChoice("", "-")] + [SelectChoice(t.value) for t in CouponDiscountType])
    discount_percent = IntegerField("Discount (%)", validators=[Optional(), NumberRange(1, 100)])
    max_uses = IntegerField("Max uses (all customers)", default=1, validators=[InputRequired(),
                                                                               NumberRange(1, 1_000_000)])
    service_id = SelectField("Only for service", coerce=_blank_none, choices=[], validate_choice=True)
    plan_type = SelectField("Only for plan type", coerce=_blank_none,
                            choices=[SelectChoice("", "Any")] + [SelectChoice(t.value) for t in PlanType])
    valid_from = UTCDateTimeField("Valid from (UTC, empty = now)", validators=[Optional()])
    valid_until = UTCDateTimeField("Valid until (UTC, empty = no expiry)", validators=[Optional()])


class CouponEditForm(SecureForm):
    """Type, amounts and restrictions are immutable once created (C6)."""

    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=500)])
    status = SelectField("Status", coerce=_value,
                         choices=[SelectChoice(s.value) for s in (CouponStatus.ACTIVE, CouponStatus.DISABLED,
                                                                  CouponStatus.EXPIRED, CouponStatus.USED_UP)])
    max_uses = IntegerField("Max uses (all customers)", validators=[InputRequired(), NumberRange(1, 1_000_000)])
    valid_from = UTCDateTimeField("Valid from (UTC)", validators=[InputRequired()])
    valid_until = UTCDateTimeField("Valid until (UTC, empty = no expiry)", validators=[Optional()])


def _form_values(form) -> dict:
    data = {}
    for field in form:
        if field.name == "csrf_token":
            continue
        value = field.data
        if isinstance(value, str):
            value = value.strip() or None
        data[field.name] = value
    return data


# ---------------------------------------------------------------------------------------------- formatters
def _uses(view, context, model, name):
    return f"{model.used_count}/{model.max_uses}"


def _enum(view, context, model, name):
    return escape(_value(getattr(model, name)) or "")


def _status(view, context, model, name):
    status = coupons.effective_status(model)
    css = {"ACTIVE": "success", "DISABLED": "secondary", "EXPIRED": "warning", "USED_UP": "dark"}.get(status, "info")
    return Markup(f'<span class="badge badge-{css}">{escape(status)}</span>')


def _amount(view, context, model, name):
    if model.type == CouponType.SUBSCRIPTION_DISCOUNT and model.discount_type == CouponDiscountType.PERCENTAGE:
        return f"{model.discount_percent}%"
    if model.type == CouponType.FREE_SERVICE:
        return "free service"
    return f"{coupons.format_idr(model.credit_amount or 0)} IDR"


def _redemptions(view, context, model, name):
    rows = "".join(
        f"<tr><td>{escape(r.user.email if r.user else r.user_id)}</td><td>{escape(r.redemption_type.value)}</td>"
        f"<td>{escape(coupons.format_idr(r.credit_amount or r.discount_amount or 0))}</td>"
        f"<td>{escape(isoformat(r.redeemed_at))}</td></tr>" for r in model.redemptions)
    if not rows:
        return "none"
    return Markup('<table class="table table-sm" data-redemptions><thead><tr><th>User</th><th>Type</th>'
                  f"<th>Amount (IDR)</th><th>Redeemed</th></tr></thead><tbody>{rows}</tbody></table>")


class CouponView(SecureModelView):
    can_create = True
    can_edit = True
    can_delete = True
    form = CouponCreateForm
    column_list = ["code", "name", "type", "status", "amount", "used_count", "service.name", "valid_from",
                   "valid_until", "created_at"]
    column_details_list = ["id", "code", "name", "description", "type", "status", "amount", "used_count",
                           "max_uses_per_user", "service.name", "plan_type", "valid_from", "valid_until", "created_by",
                           "created_at", "updated_at", "redemptions"]
    column_export_list = ["id", "code", "name", "type", "status", "credit_amount", "discount_type",
                          "discount_percent", "used_count", "max_uses", "service.name", "plan_type", "valid_from",
                          "valid_until", "created_at"]
    column_searchable_list = ["code", "name"]
    column_filters = ["type", "status", "service.name"]
    column_sortable_list = ["code", "name", "type", "status", "used_count", "valid_until", "created_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_labels = {"used_count": "Uses (used/max)", "service.name": "Service", "valid_from": "Valid from",
                     "valid_until": "Valid until", "created_at": "Created", "updated_at": "Updated",
                     "amount": "Value", "max_uses_per_user": "Max uses per user", "plan_type": "Plan type",
                     "created_by": "Created by", "id": "ID"}
    column_formatters = {"used_count": _uses, "type": _enum, "status": _status, "amount": _amount,
                         "plan_type": _enum}
    column_formatters_detail = {**column_formatters, "redemptions": _redemptions}
    column_formatters_export = {"type": lambda v, c, m, n: m.type.value, "status": lambda v, c, m, n: m.status.value,
                                "discount_type": lambda v, c, m, n: _value(m.discount_type) or "",
                                "plan_type": lambda v, c, m, n: _value(m.plan_type) or ""}

    def __init__(self, session_or_db, **kwargs):
        super().__init__(Coupon, session_or_db, **kwargs)

    def get_query(self):
        # Loaded with the rows: CSV export renders after the request's session is closed.
        return super().get_query().options(joinedload(Coupon.service))

    def get_one(self, id):
        if not isinstance(id, str) or not id or len(id) > 64 or "\x00" in id:
            return None
        return db.session.execute(select(Coupon).where(Coupon.id == id).options(
            joinedload(Coupon.service),
            selectinload(Coupon.redemptions).joinedload(CouponRedemption.user))).scalar_one_or_none()

    def get_edit_form(self):
        return CouponEditForm

    def create_form(self, obj=None):
        form = super().create_form(obj)
        services = db.session.execute(select(Service.id, Service.name).order_by(Service.name)).all()
        form.service_id.choices = [SelectChoice("", "Any service")] + [SelectChoice(s.id, s.name) for s in services]
        return form

    # ------------------------------------------------------------------------------------- writes
    def create_model(self, form):
        data = _form_values(form)
        ok, coupon = call_service(coupons.create_coupon, actor=current_admin(), data=data, source="console")
        return coupon if ok else False

    def update_model(self, form, model):
        values = _form_values(form)
        changes = {}
        for key, value in values.items():
            current = _value(getattr(model, key))
            if key in ("valid_from", "valid_until") and current is not None and value is not None:
                if current.replace(second=0, microsecond=0) == value.replace(second=0, microsecond=0):
                    continue
            elif current == value:
                continue
            changes[key] = value
        if not changes:
            return True
        ok, _ = call_service(coupons.update_coupon, actor=current_admin(), coupon_id=model.id, changes=changes,
                             source="console")
        return ok

    def delete_model(self, model):
        ok, _ = call_service(coupons.delete_coupon, actor=current_admin(), coupon_id=model.id, source="console")
        return ok

    def _set_status(self, ids, status: CouponStatus, word: str) -> None:
        ids = [i for i in dict.fromkeys(ids) if isinstance(i, str) and 0 < len(i) <= 64][:MAX_ROWS_PER_ACTION]
        ok, count = call_service(coupons.bulk_set_status, actor=current_admin(), coupon_ids=ids, status=status,
                                 source="console")
        if ok:
            flash(f"{count} coupon{'s' if count != 1 else ''} {word}.", "success")

    @action("deactivate", "Deactivate", "Disable the selected coupons? Customers can no longer use them.")
    def action_deactivate(self, ids):
        self._set_status(ids, CouponStatus.DISABLED, "deactivated")

    @action("activate", "Activate", "Activate the selected coupons? Exhausted coupons stay used up.")
    def action_activate(self, ids):
        self._set_status(ids, CouponStatus.ACTIVE, "activated")


def register_views(admin, db) -> None:
    admin.add_view(CouponView(db, name="Coupons", endpoint="coupons", url="coupons", category="Money"))
