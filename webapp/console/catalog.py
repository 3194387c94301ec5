"""Catalog in the console: categories, services and plans.

Create and edit forms are plain WTForms that only parse input; `create_model` / `update_model` hand the parsed
dict to `catalog.services` (which validates, writes and audits) and never populate the model themselves.
Toggle, delete and quota changes go through `catalog.services` / `catalog.quota` as well.
"""
from __future__ import annotations

import json
from decimal import Decimal

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.helpers import get_redirect_target
from flask_admin.model.template import EndpointLinkRowAction
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import BooleanField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, InputRequired, Length, NumberRange, Optional, Regexp

from ..catalog.models import PlanType, Service, ServiceCategory, ServicePlan
from ..extensions import db
from .base import SecureForm, SecureModelView, call_service, current_admin

SLUG = Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", message="Use lowercase letters, digits and single hyphens")
MAX_INT = 2_147_483_647


def _services():
    """`catalog.services`, imported when first used (it imports the whole catalog domain)."""
    from ..catalog import services

    return services


# ------------------------------------------------------------------------------------------ fields
class JSONObjectField(TextAreaField):
    """A JSON object typed as text ({"KEY": "value"}); empty means none."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return json.dumps(self.data, indent=2, ensure_ascii=False) if self.data else ""

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        try:
            value = json.loads(text)
        except ValueError:
            self.data = None
            raise ValueError("Not valid JSON") from None
        if not isinstance(value, dict):
            self.data = None
            raise ValueError("Must be a JSON object")
        self.data = value


class ListField(TextAreaField):
    """A list of short strings, one per line (commas also separate when `commas`)."""

    def __init__(self, *args, commas: bool = False, max_items: int = 50, max_length: int = 200, **kwargs):
        super().__init__(*args, **kwargs)
        self.commas, self.max_items, self.max_length = commas, max_items, max_length

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return (", " if self.commas else "\n").join(str(v) for v in (self.data or []))

    def process_formdata(self, valuelist):
        text = valuelist[0] if valuelist else ""
        parts = text.replace(",", "\n").splitlines() if self.commas else text.splitlines()
        self.data = [p.strip() for p in parts if p.strip()]
        if len(self.data) > self.max_items:
            raise ValueError(f"At most {self.max_items} entries")
        if any(len(p) > self.max_length for p in self.data):
            raise ValueError(f"Entries are at most {self.max_length} characters")


def _enum_value(value):
    return value.value if isinstance(value, PlanType) else value


def _optional_text(value):
    value = (value or "").strip() if isinstance(value, str) else value
    return value or None


# ------------------------------------------------------------------------------------------ forms
class CategoryForm(SecureForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    slug = StringField("Slug", validators=[InputRequired(), Length(max=100), SLUG])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])
    sort_order = IntegerField("Sort order", default=0, validators=[Optional(), NumberRange(0, 1_000_000)])


class ServiceForm(SecureForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    slug = StringField("Slug", validators=[InputRequired(), Length(max=50), SLUG])
    category_id = SelectField("Category", validators=[InputRequired()], choices=[])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])
    long_description = TextAreaField("Long description", validators=[Optional(), Length(max=20000)])
    icon = StringField("Icon URL", validators=[Optional(), Length(max=2048), URL(require_tld=False)])
    version = StringField("Version", default="latest", validators=[InputRequired(), Length(max=50)])
    docker_image = StringField("Docker image", validators=[InputRequired(), Length(max=200)])
    default_port = IntegerField("Default port", default=3000, validators=[InputRequired(), NumberRange(1, 65535)])
    env_template = JSONObjectField("Environment template (JSON object)")
    tags = ListField("Tags (comma separated)", commas=True, max_length=50)
    documentation = StringField("Documentation URL", validators=[Optional(), Length(max=2048), URL(require_tld=False)])
    is_active = BooleanField("Active", default=True)
    is_public = BooleanField("Public", default=True)
    is_featured = BooleanField("Featured", default=False)
    sort_order = IntegerField("Sort order", default=0, validators=[Optional(), NumberRange(0, 1_000_000)])


class PlanForm(SecureForm):
    service_id = SelectField("Service", validators=[InputRequired()], choices=[])
    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    plan_type = SelectField("Plan type", choices=[SelectChoice(t.value) for t in PlanType], coerce=_enum_value,
                            validators=[InputRequired()])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])
    monthly_price = IntegerField("Monthly price (IDR)", validators=[InputRequired(), NumberRange(0, MAX_INT)])
    cpu_milli = IntegerField("CPU (millicores)", validators=[InputRequired(), NumberRange(1, 1_000_000)])
    memory_mb = IntegerField("Memory (MB)", validators=[InputRequired(), NumberRange(1, 10_000_000)])
    storage_gb = DecimalField("Storage (GB)", places=2, validators=[InputRequired(),
                                                                    NumberRange(Decimal("0.01"), Decimal("999999"))])
    bandwidth = IntegerField("Bandwidth (GB)", default=0, validators=[Optional(), NumberRange(0, MAX_INT)])
    total_quota = IntegerField("Total quota", validators=[InputRequired(), NumberRange(0, 10_000)])
    features = ListField("Features (one per line)")
    max_instances_per_user = IntegerField("Max instances per user", default=1,
                                          validators=[InputRequired(), NumberRange(1, 1000)])
    max_domains = IntegerField("Max domains", default=1, validators=[InputRequired(), NumberRange(0, 1000)])
    is_active = BooleanField("Active", default=True)
    is_popular = BooleanField("Popular", default=False)
    sort_order = IntegerField("Sort order", default=0, validators=[Optional(), NumberRange(0, 1_000_000)])


class PlanEditForm(PlanForm):
    """A plan's service and type are fixed; capacity changes need a reason (the "Set quota" page)."""

    service_id = None
    plan_type = None
    total_quota = None


class QuotaForm(SecureForm):
    total_quota = IntegerField("New total quota", validators=[InputRequired(), NumberRange(0, 10_000)])
    reason = TextAreaField("Reason", validators=[InputRequired(), Length(min=3, max=500)])


# ------------------------------------------------------------------------------------------ helpers
def _form_values(form, *, skip=("csrf_token",)) -> dict:
    data = {}
    for field in form:
        if field.name in skip:
            continue
        value = field.data
        if isinstance(field, (StringField, TextAreaField)) and not isinstance(field, (JSONObjectField, ListField)):
            value = _optional_text(value)
        if isinstance(field, IntegerField) and value is None and field.default is not None:
            value = field.default
        data[field.name] = value
    return data


def _changes(model, data: dict) -> dict:
    """Only what differs from the stored row (so the audit log records real changes)."""
    changes = {}
    for key, value in data.items():
        current = getattr(model, key, None)
        if isinstance(current, PlanType):
            current = current.value
        if isinstance(value, PlanType):
            value = value.value
        if isinstance(current, Decimal) and value is not None:
            if Decimal(current) == Decimal(value):
                continue
        elif current == value:
            continue
        changes[key] = value
    return changes


def _yes_no(view, context, model, name):
    value = getattr(model, name)
    return Markup('<span class="badge badge-success">yes</span>') if value else \
        Markup('<span class="badge badge-secondary">no</span>')


class CatalogModelView(SecureModelView):
    can_create = True
    can_edit = True

    def _ids(self, ids):
        return [i for i in dict.fromkeys(ids) if isinstance(i, str) and 0 < len(i) <= 64][:200]


# ------------------------------------------------------------------------------------------ categories
class CategoryView(CatalogModelView):
    form = CategoryForm
    column_list = ["name", "slug", "sort_order", "created_at"]
    column_details_list = ["id", "name", "slug", "description", "sort_order", "created_at", "updated_at"]
    column_export_list = ["id", "name", "slug", "description", "sort_order", "created_at"]
    column_searchable_list = ["name", "slug"]
    column_filters = ["name", "slug"]
    column_default_sort = [("sort_order", False), ("name", False)]
    column_labels = {"sort_order": "Sort order", "created_at": "Created", "updated_at": "Updated", "id": "ID"}

    def __init__(self, session_or_db, **kwargs):
        super().__init__(ServiceCategory, session_or_db, **kwargs)

    def create_model(self, form):
        ok, category = call_service(_services().create_category, actor=current_admin(), data=_form_values(form),
                                    source="console")
        return category if ok else False

    def update_model(self, form, model):
        changes = _changes(model, _form_values(form))
        if not changes:
            return True
        ok, _ = call_service(_services().update_category, actor=current_admin(), category_id=model.id,
                             changes=changes, source="console")
        return ok


# ------------------------------------------------------------------------------------------ services
class ServiceView(CatalogModelView):
    form = ServiceForm
    can_delete = True
    column_list = ["name", "slug", "category.name", "version", "is_active", "is_public", "is_featured", "sort_order",
                   "created_at"]
    column_details_list = ["id", "name", "slug", "category.name", "description", "long_description", "icon",
                           "version", "docker_image", "default_port", "env_template", "tags", "documentation",
                           "is_active", "is_public", "is_featured", "sort_order", "created_at", "updated_at"]
    column_export_list = ["id", "name", "slug", "category.name", "version", "docker_image", "default_port",
                          "is_active", "is_public", "is_featured", "sort_order", "created_at"]
    column_searchable_list = ["name", "slug", "docker_image"]
    column_filters = ["category.name", "is_active", "is_public", "is_featured"]
    column_sortable_list = ["name", "slug", ("category.name", "category.name"), "is_active", "is_public",
                            "is_featured", "sort_order", "created_at"]
    column_default_sort = [("sort_order", False), ("name", False)]
    column_labels = {"category.name": "Category", "is_active": "Active", "is_public": "Public",
                     "is_featured": "Featured", "sort_order": "Sort order", "created_at": "Created",
                     "updated_at": "Updated", "docker_image": "Docker image", "default_port": "Default port",
                     "env_template": "Environment template", "long_description": "Long description", "id": "ID"}
    column_formatters = {"is_active": _yes_no, "is_public": _yes_no, "is_featured": _yes_no}

    def __init__(self, session_or_db, **kwargs):
        super().__init__(Service, session_or_db, **kwargs)

    def get_query(self):
        # Loaded with the rows: CSV export renders after the request's session is closed.
        return super().get_query().options(joinedload(Service.category))

    def _with_categories(self, form):
        categories = db.session.execute(select(ServiceCategory.id, ServiceCategory.name)
                                        .order_by(ServiceCategory.sort_order, ServiceCategory.name)).all()
        form.category_id.choices = [SelectChoice(c.id, c.name) for c in categories]
        return form

    def create_form(self, obj=None):
        return self._with_categories(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._with_categories(super().edit_form(obj))

    def create_model(self, form):
        ok, service = call_service(_services().create_service, actor=current_admin(), data=_form_values(form),
                                   source="console")
        return service if ok else False

    def update_model(self, form, model):
        changes = _changes(model, _form_values(form))
        if not changes:
            return True
        ok, _ = call_service(_services().update_service, actor=current_admin(), service_id=model.id,
                             changes=changes, source="console")
        return ok

    def delete_model(self, model):
        ok, _ = call_service(_services().delete_service, actor=current_admin(), service_id=model.id, force=False,
                             source="console")
        return ok

    @action("toggle_status", "Toggle active", "Switch the selected services between active and inactive?")
    def action_toggle(self, ids):
        done = 0
        for service_id in self._ids(ids):
            ok, _ = call_service(_services().toggle_service_status, actor=current_admin(), service_id=service_id,
                                 source="console")
            done += ok
        if done:
            flash(f"{done} service{'s' if done != 1 else ''} toggled.", "success")


# ------------------------------------------------------------------------------------------ plans
def _quota(view, context, model, name):
    return f"{model.used_quota}/{model.total_quota}"


class PlanView(CatalogModelView):
    form = PlanForm
    can_delete = True
    column_list = ["service.name", "name", "plan_type", "monthly_price", "total_quota", "is_active", "is_popular",
                   "sort_order"]
    column_details_list = ["id", "service.name", "name", "plan_type", "description", "monthly_price", "cpu_milli",
                           "memory_mb", "storage_gb", "bandwidth", "total_quota", "used_quota", "features",
                           "max_instances_per_user", "max_domains", "is_active", "is_popular", "sort_order",
                           "created_at", "updated_at"]
    column_export_list = ["id", "service.name", "name", "plan_type", "monthly_price", "cpu_milli", "memory_mb",
                          "storage_gb", "bandwidth", "used_quota", "total_quota", "is_active", "is_popular"]
    column_searchable_list = ["name", "service.name"]
    column_filters = ["service.name", "plan_type", "is_active", "is_popular"]
    column_sortable_list = [("service.name", "service.name"), "name", "plan_type", "monthly_price", "total_quota",
                            "is_active", "is_popular", "sort_order"]
    column_default_sort = [("service_id", False), ("sort_order", False)]
    column_labels = {"service.name": "Service", "plan_type": "Type", "monthly_price": "Monthly price",
                     "total_quota": "Quota used/total", "used_quota": "Used quota", "is_active": "Active",
                     "is_popular": "Popular", "sort_order": "Sort order", "cpu_milli": "CPU (m)",
                     "memory_mb": "Memory (MB)", "storage_gb": "Storage (GB)", "created_at": "Created",
                     "updated_at": "Updated", "max_instances_per_user": "Max instances per user",
                     "max_domains": "Max domains", "id": "ID"}
    column_formatters = {"total_quota": _quota, "is_active": _yes_no, "is_popular": _yes_no}
    column_extra_row_actions = [EndpointLinkRowAction("fa fa-sliders", ".quota_view", title="Set quota")]

    def __init__(self, session_or_db, **kwargs):
        super().__init__(ServicePlan, session_or_db, **kwargs)

    def get_query(self):
        # Loaded with the rows: CSV export renders after the request's session is closed.
        return super().get_query().options(joinedload(ServicePlan.service))

    def get_edit_form(self):
        return PlanEditForm

    def create_form(self, obj=None):
        form = super().create_form(obj)
        services = db.session.execute(select(Service.id, Service.name).order_by(Service.name)).all()
        form.service_id.choices = [SelectChoice(s.id, s.name) for s in services]
        return form

    def create_model(self, form):
        data = _form_values(form)
        service_id = data.pop("service_id")
        data["plan_type"] = PlanType(data["plan_type"])
        ok, plan = call_service(_services().create_plan, actor=current_admin(), service_id=service_id, data=data,
                                source="console")
        return plan if ok else False

    def update_model(self, form, model):
        changes = _changes(model, _form_values(form))
        if not changes:
            return True
        ok, _ = call_service(_services().update_plan, actor=current_admin(), service_id=model.service_id,
                             plan_id=model.id, changes=changes, source="console")
        return ok

    def delete_model(self, model):
        ok, _ = call_service(_services().delete_plan, actor=current_admin(), service_id=model.service_id,
                             plan_id=model.id, force=False, source="console")
        return ok

    @action("toggle_status", "Toggle active", "Switch the selected plans between active and inactive?")
    def action_toggle(self, ids):
        done = 0
        for plan_id in self._ids(ids):
            plan = db.session.get(ServicePlan, plan_id)
            if plan is None:
                flash("Service plan not found", "error")
                continue
            ok, _ = call_service(_services().toggle_plan_status, actor=current_admin(), service_id=plan.service_id,
                                 plan_id=plan_id, source="console")
            done += ok
        if done:
            flash(f"{done} plan{'s' if done != 1 else ''} toggled.", "success")

    @expose("/quota/", methods=("GET", "POST"))
    def quota_view(self):
        """Set a plan's total quota, with the reason kept in the audit log."""
        return_url = get_redirect_target() or self.get_url(".index_view")
        plan = self.get_one(request.args.get("id", ""))
        if plan is None:
            flash("Service plan not found", "error")
            return redirect(return_url)
        form = QuotaForm()
        if request.method == "GET":
            form.total_quota.data = plan.total_quota
        if form.validate_on_submit():
            from ..catalog.quota import set_total_quota

            ok, _ = call_service(set_total_quota, actor=current_admin(), plan_id=plan.id,
                                 total_quota=form.total_quota.data, reason=form.reason.data.strip(),
                                 source="console")
            if ok:
                flash(f"Quota of {plan.service.name} / {plan.name} set to {form.total_quota.data}.", "success")
                return redirect(return_url)
        return self.render("console/plan_quota.html", form=form, plan=plan, return_url=return_url)


def register_views(admin, db) -> None:
    admin.add_view(CategoryView(db, name="Categories", endpoint="categories", url="categories", category="Catalog"))
    admin.add_view(ServiceView(db, name="Services", endpoint="services", url="services", category="Catalog"))
    admin.add_view(PlanView(db, name="Plans", endpoint="plans", url="plans", category="Catalog"))
