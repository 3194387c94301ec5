"""Catalog and audit log in the console: forms go through catalog services, which write the audit trail."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from webapp.audit.models import AuditEntry
from webapp.catalog.models import PlanType, Service, ServiceCategory, ServicePlan
from webapp.extensions import db

from .conftest import flashed_text, reload


def audit_rows(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.created_at)).scalars())


def service_form(category, **overrides) -> dict:
    data = {"name": "Uptime Kuma", "slug": "uptime-kuma", "category_id": category.id,
            "description": "Self-hosted monitoring", "long_description": "", "icon": "", "version": "1.23",
            "docker_image": "louislam/uptime-kuma:1", "default_port": "3001",
            "env_template": '{"TZ": "Asia/Jakarta"}', "tags": "monitoring, uptime", "documentation": "",
            "is_active": "y", "is_public": "y", "sort_order": "4"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def plan_form(service, **overrides) -> dict:
    data = {"service_id": service.id, "name": "Pro", "plan_type": "PRO", "description": "For teams",
            "monthly_price": "150000", "cpu_milli": "1000", "memory_mb": "2048", "storage_gb": "2.5",
            "bandwidth": "100", "total_quota": "25", "features": "Priority support\nDaily backups",
            "max_instances_per_user": "2", "max_domains": "3", "is_active": "y", "sort_order": "3"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# ---------------------------------------------------------------------------------------------- categories
def test_create_category_through_the_form(signed_in, admin):
    response = signed_in.post_form("/admin/categories/new/", {"name": "Monitoring", "slug": "monitoring",
                                                               "description": "Watch things", "sort_order": "7"})
    assert response.status_code == 200
    assert "Record was successfully created." in flashed_text(response)
    category = db.session.execute(select(ServiceCategory).where(ServiceCategory.slug == "monitoring")).scalar_one()
    assert category.name == "Monitoring" and category.sort_order == 7
    (entry,) = audit_rows("category.create")
    assert entry.source == "console" and entry.actor_email == admin.email and entry.target_id == category.id


def test_category_slug_is_validated_by_the_form(signed_in):
    response = signed_in.post_form("/admin/categories/new/", {"name": "Bad", "slug": "Not A Slug!"})
    assert "Use lowercase letters, digits and single hyphens" in flashed_text(response)
    assert db.session.execute(select(ServiceCategory).where(ServiceCategory.name == "Bad")).first() is None


def test_duplicate_category_is_a_flashed_error(signed_in, make):
    make.category(name="Databases", slug="databases")
    response = signed_in.post_form("/admin/categories/new/", {"name": "Databases", "slug": "databases"})
    assert response.status_code == 200
    assert 'name="slug"' in response.get_data(as_text=True)  # form shown again
    assert len(db.session.execute(select(ServiceCategory).where(ServiceCategory.slug == "databases")).all()) == 1


def test_edit_category(signed_in, make):
    category = make.category(name="Old Name", slug="old-name")
    page = f"/admin/categories/edit/?id={category.id}"
    response = signed_in.post_form(page, {"name": "New Name", "slug": "old-name", "description": "A category",
                                          "sort_order": str(category.sort_order)})
    assert "Record was successfully saved." in flashed_text(response)
    assert reload(category).name == "New Name"
    (entry,) = audit_rows("category.update")
    assert entry.before == {"name": "Old Name"} and entry.after == {"name": "New Name"}


# ------------------------------------------------------------------------------------------------ services
def test_create_service_writes_an_audit_row(signed_in, make, admin):
    category = make.category()
    response = signed_in.post_form("/admin/services/new/", service_form(category))
    assert "Record was successfully created." in flashed_text(response)
    service = db.session.execute(select(Service).where(Service.slug == "uptime-kuma")).scalar_one()
    assert service.env_template == {"TZ": "Asia/Jakarta"} and service.tags == ["monitoring", "uptime"]
    assert service.default_port == 3001 and service.is_featured is False and service.icon is None
    (entry,) = audit_rows("service.create")
    assert entry.source == "console" and entry.actor_id == admin.id and entry.target_id == service.id
    assert entry.after["slug"] == "uptime-kuma"


def test_service_form_goes_through_the_service_layer(signed_in, make, monkeypatch):
    """The view never writes the model itself: if the service refuses, nothing is written."""
    from webapp.catalog import services
    from webapp.catalog.errors import ServiceSlugTaken

    calls = []

    def refuse(**kwargs):
        calls.append(kwargs)
        raise ServiceSlugTaken()

    monkeypatch.setattr(services, "create_service", refuse)
    category = make.category()
    response = signed_in.post_form("/admin/services/new/", service_form(category, slug="refused-slug"))
    assert "Service with this slug already exists" in flashed_text(response)
    assert calls and calls[0]["source"] == "console" and calls[0]["data"]["slug"] == "refused-slug"
    assert calls[0]["data"]["category_id"] == category.id
    assert db.session.execute(select(Service).where(Service.slug == "refused-slug")).first() is None


def test_duplicate_slug_is_flashed_and_the_form_reshown(signed_in, make):
    existing = make.service(slug="taken-slug")
    response = signed_in.post_form("/admin/services/new/", service_form(existing.category, slug="taken-slug",
                                                                         name="Second"))
    html = flashed_text(response)
    assert response.status_code == 200
    assert "Service with this slug already exists" in html
    assert 'value="Second"' in html  # what was typed is still there
    assert db.session.execute(select(Service).where(Service.name == "Second")).first() is None


@pytest.mark.parametrize("overrides, message", [
    ({"env_template": "{not json"}, "Not valid JSON"),
    ({"env_template": "[1, 2]"}, "Must be a JSON object"),
    ({"default_port": "70000"}, "Number must be between 1 and 65535"),
    ({"slug": "x" * 51}, "Field cannot be longer than 50 characters"),
    ({"category_id": "no-such-category"}, "Not a valid choice"),
    ({"name": "bad\x00name"}, "Contains an invalid character"),
    ({"docker_image": ""}, "This field is required"),
])
def test_invalid_service_input_is_a_form_error(signed_in, make, overrides, message):
    category = make.category()
    response = signed_in.post_form("/admin/services/new/", service_form(category, **overrides))
    assert response.status_code == 200
    assert message in flashed_text(response)
    assert db.session.execute(select(Service).where(Service.slug == "uptime-kuma")).first() is None


def test_edit_service_sends_only_changes(signed_in, make):
    service = make.service(name="Before", slug="before-slug")
    page = f"/admin/services/edit/?id={service.id}"
    form_page = signed_in.client.get(page).get_data(as_text=True)
    assert 'value="before-slug"' in form_page and "APP_MODE" in form_page  # prefilled
    response = signed_in.post_form(page, service_form(service.category, name="After", slug="before-slug",
                                                      description=service.description, version="latest",
                                                      docker_image=service.docker_image, default_port="8080",
                                                      env_template='{"APP_MODE": "production"}', tags="test",
                                                      sort_order=str(service.sort_order)))
    assert "Record was successfully saved." in flashed_text(response)
    assert reload(service).name == "After"
    (entry,) = audit_rows("service.update")
    assert entry.before == {"name": "Before"} and entry.after == {"name": "After"}


def test_toggle_service_status(signed_in, make):
    service = make.service(is_active=True)
    response = signed_in.action("services", "toggle_status", [service.id])
    assert "1 service toggled." in flashed_text(response)
    assert reload(service).is_active is False
    assert audit_rows("service.toggle_status")[0].source == "console"


def test_delete_service_without_subscriptions(signed_in, make):
    service = make.service()
    service_id = service.id
    token = signed_in.token("/admin/services/")
    response = signed_in.client.post("/admin/services/delete/", data={"id": service_id, "csrf_token": token},
                                     follow_redirects=True)
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Service, service_id) is None
    assert audit_rows("service.delete")[0].target_id == service_id


def test_delete_service_with_live_subscription_is_refused(signed_in, make, customer):
    plan = make.plan()
    make.subscription(user=customer, plan=plan)
    token = signed_in.token("/admin/services/")
    response = signed_in.client.post("/admin/services/delete/", data={"id": plan.service_id, "csrf_token": token},
                                     follow_redirects=True)
    assert "Cannot delete service with active subscriptions" in flashed_text(response)
    assert reload(plan.service) is not None


def test_services_list_and_export(signed_in, make):
    category = make.category(name="Automation")
    make.service(name="N8N Listed", category=category)
    html = signed_in.client.get("/admin/services/").get_data(as_text=True)
    assert "N8N Listed" in html and "Automation" in html
    html = signed_in.client.get("/admin/services/?search=N8N").get_data(as_text=True)
    assert "N8N Listed" in html
    body = signed_in.client.get("/admin/services/export/csv/").get_data(as_text=True)
    row = next(r for r in csv.DictReader(io.StringIO(body)) if r["Name"] == "N8N Listed")
    assert row["Category"] == "Automation"


# --------------------------------------------------------------------------------------------------- plans
def test_create_plan_writes_an_audit_row(signed_in, make, admin):
    service = make.service()
    response = signed_in.post_form("/admin/plans/new/", plan_form(service))
    assert "Record was successfully created." in flashed_text(response)
    plan = db.session.execute(select(ServicePlan).where(ServicePlan.service_id == service.id)).scalar_one()
    assert plan.plan_type == PlanType.PRO and plan.storage_gb == Decimal("2.50") and plan.used_quota == 0
    assert plan.features == ["Priority support", "Daily backups"] and plan.total_quota == 25
    (entry,) = audit_rows("plan.create")
    assert entry.source == "console" and entry.actor_email == admin.email and entry.target_id == plan.id


def test_duplicate_plan_type_is_flashed(signed_in, make):
    plan = make.plan(plan_type="PRO")
    response = signed_in.post_form("/admin/plans/new/", plan_form(plan.service, name="Pro again"))
    assert "A PRO plan already exists for this service" in flashed_text(response)
    assert db.session.execute(select(ServicePlan).where(ServicePlan.name == "Pro again")).first() is None


@pytest.mark.parametrize("overrides", [
    {"plan_type": "GOLD"}, {"monthly_price": "-1"}, {"storage_gb": "abc"}, {"total_quota": "99999999999"},
    {"cpu_milli": ""}, {"service_id": "nope"}, {"features": "x" * 500},
])
def test_invalid_plan_input_is_a_form_error(signed_in, make, overrides):
    service = make.service()
    response = signed_in.post_form("/admin/plans/new/", plan_form(service, **overrides))
    assert response.status_code == 200
    assert "Record was successfully created." not in flashed_text(response)
    assert db.session.execute(select(ServicePlan).where(ServicePlan.service_id == service.id)).first() is None


def test_edit_plan(signed_in, make):
    plan = make.plan(monthly_price=50_000)
    page = f"/admin/plans/edit/?id={plan.id}"
    html = signed_in.client.get(page).get_data(as_text=True)
    assert 'name="total_quota"' not in html and 'name="plan_type"' not in html and 'name="service_id"' not in html
    data = plan_form(plan.service, name=plan.name, description=plan.description, monthly_price="75000",
                     cpu_milli=str(plan.cpu_milli), memory_mb=str(plan.memory_mb), storage_gb="1",
                     bandwidth=str(plan.bandwidth), features="Support", max_instances_per_user="1",
                     max_domains="1", sort_order=str(plan.sort_order))
    for key in ("service_id", "plan_type", "total_quota"):
        data.pop(key)
    response = signed_in.post_form(page, data)
    assert "Record was successfully saved." in flashed_text(response)
    assert reload(plan).monthly_price == 75_000
    (entry,) = audit_rows("plan.update")
    assert entry.before == {"monthly_price": 50_000} and entry.after == {"monthly_price": 75_000}


def test_plans_list_shows_quota_and_service(signed_in, make):
    service = make.service(name="Ghost Blog Listed")
    make.plan(service=service, total_quota=10, used_quota=3)
    html = signed_in.client.get("/admin/plans/").get_data(as_text=True)
    assert "Quota used/total" in html and "3/10" in html and "Ghost Blog Listed" in html
    assert "/admin/plans/quota/?id=" in html
    body = signed_in.client.get("/admin/plans/export/csv/").get_data(as_text=True)
    assert "Ghost Blog Listed" in body


def test_toggle_plan_status(signed_in, make):
    plan = make.plan(is_active=True)
    response = signed_in.action("plans", "toggle_status", [plan.id, "missing-plan"])
    text = flashed_text(response)
    assert "1 plan toggled." in text and "Service plan not found" in text
    assert reload(plan).is_active is False


def test_delete_plan(signed_in, make):
    plan = make.plan()
    plan_id = plan.id
    token = signed_in.token("/admin/plans/")
    signed_in.client.post("/admin/plans/delete/", data={"id": plan_id, "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(ServicePlan, plan_id) is None
    assert audit_rows("plan.delete")[0].source == "console"


def test_set_quota_with_a_reason(signed_in, make, admin):
    plan = make.plan(total_quota=10, used_quota=2)
    page = f"/admin/plans/quota/?id={plan.id}"
    html = signed_in.client.get(page).get_data(as_text=True)
    assert 'name="reason"' in html and 'value="10"' in html
    response = signed_in.post_form(page, {"total_quota": "40", "reason": "New node pool"})
    assert "set to 40" in flashed_text(response)
    assert reload(plan).total_quota == 40
    (entry,) = audit_rows("plan.quota.update")
    assert entry.reason == "New node pool" and entry.source == "console" and entry.actor_email == admin.email
    assert entry.before == {"total_quota": 10} and entry.after == {"total_quota": 40}


def test_set_quota_below_use_is_refused(signed_in, make, customer):
    plan = make.plan(total_quota=10, used_quota=3)
    response = signed_in.post_form(f"/admin/plans/quota/?id={plan.id}", {"total_quota": "1", "reason": "shrink"})
    assert "Cannot set quota to 1. Currently 3 subscriptions are active." in flashed_text(response)
    assert 'name="reason"' in response.get_data(as_text=True)
    assert reload(plan).total_quota == 10
    assert audit_rows("plan.quota.update") == []


@pytest.mark.parametrize("data", [{"total_quota": "20"}, {"total_quota": "20", "reason": ""},
                                  {"total_quota": "-5", "reason": "why"}, {"total_quota": "x", "reason": "why"},
                                  {"total_quota": "20001", "reason": "why"}])
def test_set_quota_form_errors(signed_in, make, data):
    plan = make.plan(total_quota=10)
    response = signed_in.post_form(f"/admin/plans/quota/?id={plan.id}", data)
    assert response.status_code == 200
    assert reload(plan).total_quota == 10


def test_set_quota_for_a_missing_plan(signed_in):
    response = signed_in.client.get("/admin/plans/quota/?id=missing", follow_redirects=True)
    assert response.status_code == 200 and "Service plan not found" in flashed_text(response)


def test_set_quota_needs_csrf(signed_in, make):
    plan = make.plan(total_quota=10)
    response = signed_in.client.post(f"/admin/plans/quota/?id={plan.id}", data={"total_quota": "50",
                                                                                "reason": "no token"})
    assert response.status_code == 400
    assert reload(plan).total_quota == 10


def test_create_form_without_csrf_is_rejected(signed_in, make):
    category = make.category()
    response = signed_in.client.post("/admin/services/new/", data=service_form(category))
    assert response.status_code == 400
    assert db.session.execute(select(Service).where(Service.slug == "uptime-kuma")).first() is None


# --------------------------------------------------------------------------------------------------- audit
def test_audit_log_is_read_only_newest_first_and_filterable(app, signed_in, make, admin):
    from datetime import timedelta

    from webapp.audit.services import record
    from webapp.db import utcnow

    old = record(actor=admin, action="plan.quota.update", target_type="service_plan", target_id="p1",
                 reason="reason-older-entry", source="api")
    old.created_at = utcnow() - timedelta(days=2)
    record(actor=admin, action="service.create", target_type="service", target_id="s1", reason="reason-newer-entry",
           before={"password_hash": "$2b$12$abc", "name": "x"}, source="console")
    db.session.flush()

    html = signed_in.client.get("/admin/audit/").get_data(as_text=True)
    assert html.index("reason-newer-entry") < html.index("reason-older-entry")
    assert "/admin/audit/new/" not in html and "/admin/audit/edit/" not in html

    view = next(v for v in app.extensions["poddesk_console"]._views if v.endpoint == "audit")
    keys = {(str(flt.name), type(flt).__name__): view.get_filter_arg(i, flt) for i, flt in enumerate(view._filters)}
    html = signed_in.client.get(f"/admin/audit/?flt0_{keys[('Action', 'FilterEqual')]}=service.create") \
        .get_data(as_text=True)
    assert "reason-newer-entry" in html and "reason-older-entry" not in html
    html = signed_in.client.get(f"/admin/audit/?flt0_{keys[('Actor', 'FilterLike')]}=boss").get_data(as_text=True)
    assert "reason-newer-entry" in html and "reason-older-entry" in html
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    html = signed_in.client.get(f"/admin/audit/?flt0_{keys[('When', 'DateTimeGreaterFilter')]}={since}") \
        .get_data(as_text=True)
    assert "reason-newer-entry" in html and "reason-older-entry" not in html

    # Read only.
    assert signed_in.client.get("/admin/audit/new/").status_code == 302
    token = signed_in.token("/admin/audit/")
    signed_in.client.post("/admin/audit/delete/", data={"id": old.id, "csrf_token": token})
    assert db.session.get(AuditEntry, old.id) is not None

    # Secrets in snapshots are redacted on the detail page and in the export.
    entry = audit_rows("service.create")[0]
    details = signed_in.client.get(f"/admin/audit/details/?id={entry.id}").get_data(as_text=True)
    assert "[redacted]" in details and "$2b$" not in details
    export = signed_in.client.get("/admin/audit/export/csv/").get_data(as_text=True)
    assert "reason-newer-entry" in export and "$2b$" not in export
