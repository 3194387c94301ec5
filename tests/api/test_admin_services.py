"""Admin service/plan routes A-S1-A-S14: shapes, messages, delete rules, audit rows, auth."""
from decimal import Decimal

import pytest
from sqlalchemy import select

from webapp.audit.models import AuditEntry
from webapp.catalog.models import PlanType, Service, ServicePlan
from webapp.extensions import db
from webapp.subscriptions.models import SubscriptionStatus

from ..conftest import assert_envelope

ABSENT_ID = "cm0slquw90003vv4azb9pes42"


@pytest.fixture
def category(make):
    return make.category(name="Development Tools", slug="development-tools")


def service_body(category, **overrides):
    body = {"name": "Test Service", "slug": "test-service", "description": "A service made by the tests",
            "categoryId": category.id, "dockerImage": "example/test:1", "defaultPort": 8080}
    body.update(overrides)
    return body


def plan_body(**overrides):
    body = {"name": "Free", "planType": "FREE", "description": "The free plan for tests", "monthlyPrice": 0,
            "cpuMilli": 250, "memoryMb": 256, "storageGb": 1, "totalQuota": 10}
    body.update(overrides)
    return body


def audit_rows(action):
    return db.session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()


# ------------------------------------------------------------------------------------------- services
def test_create_service_defaults_and_shape(api, admin, category):
    r = api.post("/api/admin/services", as_user=admin, json=service_body(category, envTemplate={"A": "1"}, tags=["x"]))
    service = assert_envelope(r, 201, "Service created successfully")["data"]["service"]
    assert service["slug"] == "test-service" and service["version"] == "latest"
    assert service["isActive"] is True and service["isPublic"] is True and service["isFeatured"] is False
    assert service["sortOrder"] == 0 and service["envTemplate"] == {"A": "1"} and service["tags"] == ["x"]
    assert service["category"]["slug"] == "development-tools" and "sortOrder" in service["category"]
    [entry] = audit_rows("service.create")
    assert entry.actor_id == admin.id and entry.after["slug"] == "test-service" and entry.source == "api"


def test_create_service_conflicts(api, admin, category, make):
    make.service(slug="taken")
    assert_envelope(api.post("/api/admin/services", as_user=admin, json=service_body(category, slug="taken")),
                    409, "Service with this slug already exists")
    assert_envelope(api.post("/api/admin/services", as_user=admin, json=service_body(category, categoryId=ABSENT_ID)),
                    404, "Service category not found")


@pytest.mark.parametrize("change, message", [
    ({"name": None}, '"name" must be a string'),
    ({"name": ""}, "Service name is required"),
    ({"name": "A"}, "Service name must be at least 2 characters long"),
    ({"name": "A" * 101}, "Service name cannot exceed 100 characters"),
    ({"slug": "Invalid Slug!"}, "Service slug can only contain lowercase letters, numbers, and hyphens"),
    ({"slug": "a" * 51}, "Service slug cannot exceed 50 characters"),
    ({"description": "short"}, "Service description must be at least 10 characters long"),
    ({"categoryId": "bad-id"}, "Category ID must contain only letters and numbers"),
    ({"categoryId": "abc"}, "Category ID must be at least 20 characters long"),
    ({"categoryId": "a" * 31}, "Category ID must not exceed 30 characters"),
    ({"icon": "not a url"}, "Icon must be a valid URL"),
    ({"dockerImage": ""}, "Docker image is required"),
    ({"defaultPort": 70000}, "Default port cannot exceed 65535"),
    ({"defaultPort": "abc"}, "Default port must be a number"),
    ({"defaultPort": 80.5}, "Default port must be an integer"),
    ({"defaultPort": 0}, "Default port must be at least 1"),
    ({"envTemplate": "x"}, "Environment template must be an object"),
    ({"tags": "x"}, "Tags must be an array of strings"),
    ({"tags": [1]}, "Tags must be an array of strings"),
    ({"documentation": "nope"}, "Documentation must be a valid URL"),
    ({"isActive": "maybe"}, "isActive must be a boolean value"),
    ({"sortOrder": -1}, "Sort order must be at least 0"),
    ({"kubernetesConfig": {}}, '"kubernetesConfig" is not allowed'),
])
def test_create_service_validation(api, admin, category, change, message):
    r = api.post("/api/admin/services", as_user=admin, json=service_body(category, **change))
    assert_envelope(r, 400, message)
    assert db.session.execute(select(Service).where(Service.slug == "test-service")).first() is None


@pytest.mark.parametrize("missing", ["name", "slug", "description", "dockerImage", "defaultPort"])
def test_create_service_missing_fields_use_joi_default(api, admin, category, missing):
    body = service_body(category)
    del body[missing]
    assert_envelope(api.post("/api/admin/services", as_user=admin, json=body), 400, f'"{missing}" is required')


def test_create_service_missing_category(api, admin, category):
    body = service_body(category)
    del body["categoryId"]
    assert_envelope(api.post("/api/admin/services", as_user=admin, json=body), 400, "Category ID is required")


def test_html_and_sql_are_stored_verbatim(api, admin, category):
    evil = "<script>alert(1)</script>'; DROP TABLE services; --"
    r = api.post("/api/admin/services", as_user=admin, json=service_body(category, name=evil[:100], description=evil))
    service = assert_envelope(r, 201)["data"]["service"]
    assert service["description"] == evil
    # Inert data: a JSON string in a JSON response browsers may not sniff as HTML.
    assert r.mimetype == "application/json" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert_envelope(api.get(f"/api/admin/services/{service['id']}", as_user=admin), 200)


def test_list_services_with_plans_counts_and_filters(api, admin, make, customer):
    dev = make.category(slug="development-tools")
    n8n = make.service(name="N8N", slug="n8n-automation", category=dev)
    other = make.service(name="Other", slug="other-thing", is_active=False, is_public=False)
    plan = make.plan(service=n8n, plan_type=PlanType.FREE, total_quota=4, used_quota=1)
    make.subscription(user=customer, plan=plan)
    body = assert_envelope(api.get("/api/admin/services", as_user=admin, query_string={"sortBy": "name",
                                                                                        "sortOrder": "asc"}),
                           200, "Services retrieved successfully")
    services = body["data"]["services"]
    assert [s["slug"] for s in services] == ["n8n-automation", "other-thing"]
    assert body["data"]["pagination"] == {"currentPage": 1, "totalPages": 1, "totalCount": 2, "hasNext": False,
                                          "hasPrev": False}
    first = services[0]
    assert "envTemplate" in first and "dockerImage" in first
    assert first["_count"] == {"subscriptions": 1}
    assert first["plans"][0]["_count"] == {"subscriptions": 1}
    assert first["plans"][0]["utilization"] == {"percentage": 25.0, "available": 3}
    for query, expected in [({"status": "inactive"}, ["other-thing"]), ({"search": "N8N"}, ["n8n-automation"]),
                            ({"search": "n8n", "category": "development-tools"}, ["n8n-automation"])]:
        body = assert_envelope(api.get("/api/admin/services", as_user=admin, query_string=query), 200)
        assert [s["slug"] for s in body["data"]["services"]] == expected
    body = assert_envelope(api.get("/api/admin/services", as_user=admin,
                                   query_string={"limit": 1, "page": 2, "sortBy": "name", "sortOrder": "asc"}), 200)
    assert body["data"]["pagination"] == {"currentPage": 2, "totalPages": 2, "totalCount": 2, "hasNext": False,
                                          "hasPrev": True}
    assert [s["id"] for s in body["data"]["services"]] == [other.id]


@pytest.mark.parametrize("query, message", [
    ({"page": 0, "limit": 101, "sortBy": "invalid", "sortOrder": "invalid"}, "Page must be at least 1"),
    ({"limit": 101}, "Limit cannot exceed 100"),
    ({"page": "x"}, "Page must be a number"),
    ({"status": "on"}, 'Status must be either "active" or "inactive"'),
    ({"search": ""}, '"search" is not allowed to be empty'),
    ({"sortBy": "price"}, "sortBy must be one of: name, createdAt, updatedAt"),
    ({"sortOrder": "up"}, 'sortOrder must be either "asc" or "desc"'),
    ({"category": "x"}, "Category must be at least 2 characters long"),
])
def test_list_services_validation(api, admin, query, message):
    assert_envelope(api.get("/api/admin/services", as_user=admin, query_string=query), 400, message)


def test_get_service(api, admin, make, customer):
    plan = make.plan(plan_type=PlanType.PRO)
    make.subscription(user=customer, plan=plan, status=SubscriptionStatus.CANCELLED)
    body = assert_envelope(api.get(f"/api/admin/services/{plan.service_id}", as_user=admin),
                           200, "Service details retrieved successfully")
    service = body["data"]["service"]
    assert service["_count"] == {"subscriptions": 1}
    assert [p["id"] for p in service["plans"]] == [plan.id] and service["plans"][0]["_count"] == {"subscriptions": 1}
    assert "createdAt" in service["category"]


@pytest.mark.parametrize("path, message", [
    ("/api/admin/services/invalid-uuid", "Service ID must contain only letters and numbers"),
    ("/api/admin/services/abc", "Service ID must be at least 20 characters long"),
    ("/api/admin/services/" + "a" * 31, "Service ID must not exceed 30 characters"),
    (f"/api/admin/services/{ABSENT_ID}?force=maybe", "Force parameter must be a boolean value"),
    (f"/api/admin/services/{ABSENT_ID}/plans/bad-id", "Service plan ID must contain only letters and numbers"),
])
def test_id_validation(api, admin, path, message):
    assert_envelope(api.get(path, as_user=admin), 400, message)


def test_not_found(api, admin):
    assert_envelope(api.get(f"/api/admin/services/{ABSENT_ID}", as_user=admin), 404, "Service not found")
    assert_envelope(api.put(f"/api/admin/services/{ABSENT_ID}", as_user=admin, json={"name": "New name"}),
                    404, "Service not found")
    assert_envelope(api.patch(f"/api/admin/services/{ABSENT_ID}/toggle-status", as_user=admin), 404, "Service not found")
    assert_envelope(api.delete(f"/api/admin/services/{ABSENT_ID}?force=true", as_user=admin), 404, "Service not found")
    assert_envelope(api.get(f"/api/admin/services/{ABSENT_ID}/plans", as_user=admin), 404, "Service not found")
    assert_envelope(api.post(f"/api/admin/services/{ABSENT_ID}/plans", as_user=admin, json=plan_body()),
                    404, "Service not found")


def test_update_service(api, admin, make):
    service = make.service(long_description="Long text", icon="https://x.test/i.png")
    make.plan(service=service)
    r = api.put(f"/api/admin/services/{service.id}", as_user=admin,
                json={"name": "Renamed", "longDescription": None, "icon": None, "tags": None})
    data = assert_envelope(r, 200, "Service updated successfully")["data"]["service"]
    assert data["name"] == "Renamed" and data["longDescription"] is None and data["icon"] is None
    assert data["tags"] == [] and len(data["plans"]) == 1
    [entry] = audit_rows("service.update")
    assert entry.before["name"] != "Renamed" and entry.after["name"] == "Renamed"


def test_update_service_errors(api, admin, make):
    service = make.service()
    other = make.service(slug="other-slug")
    url = f"/api/admin/services/{service.id}"
    assert_envelope(api.put(url, as_user=admin, json={}), 400, "At least one field must be provided for update")
    assert_envelope(api.put(url, as_user=admin, json={"name": None}), 400, '"name" must be a string')
    assert_envelope(api.put(url, as_user=admin, json={"slug": other.slug}), 409, "Service with this slug already exists")
    assert_envelope(api.put(url, as_user=admin, json={"categoryId": ABSENT_ID}), 404, "Service category not found")
    assert_envelope(api.put(url, as_user=admin, json={"slug": service.slug}), 200)  # own slug is fine


def test_toggle_service(api, admin, make):
    service = make.service()
    r = api.patch(f"/api/admin/services/{service.id}/toggle-status", as_user=admin)
    assert assert_envelope(r, 200, "Service deactivated successfully")["data"]["service"]["isActive"] is False
    r = api.patch(f"/api/admin/services/{service.id}/toggle-status", as_user=admin)
    assert assert_envelope(r, 200, "Service activated successfully")["data"]["service"]["isActive"] is True


def test_delete_service_without_subscriptions_removes_it_and_its_plans(api, admin, make):
    plan = make.plan()
    service_id, plan_id = plan.service_id, plan.id
    assert_envelope(api.delete(f"/api/admin/services/{service_id}", as_user=admin), 200, "Service deleted successfully")
    assert db.session.execute(select(Service.id).where(Service.id == service_id)).first() is None
    assert db.session.execute(select(ServicePlan.id).where(ServicePlan.id == plan_id)).first() is None
    assert_envelope(api.delete(f"/api/admin/services/{service_id}?force=true", as_user=admin), 404)
    assert audit_rows("service.delete")[0].before["slug"]


@pytest.mark.parametrize("force", ["false", "true"])
def test_delete_service_refused_while_live_subscriptions(api, admin, make, customer, force):
    plan = make.plan()
    make.subscription(user=customer, plan=plan, status=SubscriptionStatus.PENDING_PAYMENT)
    assert_envelope(api.delete(f"/api/admin/services/{plan.service_id}?force={force}", as_user=admin),
                    409, "Cannot delete service with active subscriptions. Use force=true to override.")
    assert db.session.get(Service, plan.service_id).is_active is True


def test_delete_service_with_history_needs_force_and_then_archives(api, admin, make, customer):
    plan = make.plan()
    sub = make.subscription(user=customer, plan=plan, status=SubscriptionStatus.EXPIRED)
    url = f"/api/admin/services/{plan.service_id}"
    assert_envelope(api.delete(url, as_user=admin), 409,
                    "Cannot delete service with active subscriptions. Use force=true to override.")
    assert_envelope(api.delete(url + "?force=true", as_user=admin), 200, "Service deleted successfully")
    db.session.expire_all()
    service = db.session.get(Service, plan.service_id)
    assert service.is_active is False and service.is_public is False
    assert sub.status == SubscriptionStatus.EXPIRED  # history kept
    assert audit_rows("service.archive")


# ------------------------------------------------------------------------------------------- plans
def test_create_plan_and_conflict(api, admin, make):
    service = make.service()
    url = f"/api/admin/services/{service.id}/plans"
    r = api.post(url, as_user=admin, json=plan_body(storageGb=0.25, features=["A"]))
    plan = assert_envelope(r, 201, "Service plan created successfully")["data"]["plan"]
    assert plan["usedQuota"] == 0 and plan["storageGb"] == 0.25 and plan["bandwidth"] == 0
    assert plan["maxInstancesPerUser"] == 1 and plan["isPopular"] is False and plan["features"] == ["A"]
    assert plan["service"] == {"name": service.name, "slug": service.slug}
    assert db.session.get(ServicePlan, plan["id"]).storage_gb == Decimal("0.25")
    assert_envelope(api.post(url, as_user=admin, json=plan_body()), 409, "A FREE plan already exists for this service")
    assert audit_rows("plan.create")


@pytest.mark.parametrize("change, message", [
    ({"name": ""}, "Plan name is required"),
    ({"planType": "GOLD"}, "Plan type must be one of: FREE, BASIC, PRO, PREMIUM, ENTERPRISE"),
    ({"description": "short"}, "Plan description must be at least 10 characters long"),
    ({"monthlyPrice": -1}, "Monthly price must be at least 0 IDR"),
    ({"monthlyPrice": 100_000_001}, "Monthly price cannot exceed 100,000,000 IDR"),
    ({"monthlyPrice": 1.5}, "Monthly price must be an integer"),
    ({"cpuMilli": 50}, "CPU allocation must be at least 100 millicores"),
    ({"memoryMb": 40000}, "Memory allocation cannot exceed 32768 MB"),
    ({"storageGb": 0.05}, "Storage allocation must be at least 0.1 GB"),
    ({"storageGb": 1001}, "Storage allocation cannot exceed 1000 GB"),
    ({"storageGb": 0.125}, "Storage allocation must have at most 2 decimal places"),
    ({"storageGb": "lots"}, "Storage allocation must be a number"),
    ({"totalQuota": 0}, "Total quota must be at least 1"),
    ({"totalQuota": 10001}, "Total quota cannot exceed 10000"),
    ({"features": "x"}, "Features must be an array of strings"),
    ({"maxDomains": 101}, "Max domains cannot exceed 100"),
    ({"isPopular": "x"}, "isPopular must be a boolean value"),
    ({"usedQuota": 5}, '"usedQuota" is not allowed'),
])
def test_create_plan_validation(api, admin, make, change, message):
    service = make.service()
    assert_envelope(api.post(f"/api/admin/services/{service.id}/plans", as_user=admin, json=plan_body(**change)),
                    400, message)


@pytest.mark.parametrize("missing, message", [
    ("name", '"name" is required'), ("planType", "Plan type is required"), ("monthlyPrice", "Monthly price is required"),
    ("cpuMilli", "CPU allocation is required"), ("memoryMb", "Memory allocation is required"),
    ("storageGb", "Storage allocation is required"), ("totalQuota", "Total quota is required"),
])
def test_create_plan_missing(api, admin, make, missing, message):
    service = make.service()
    body = plan_body()
    del body[missing]
    assert_envelope(api.post(f"/api/admin/services/{service.id}/plans", as_user=admin, json=body), 400, message)


def test_service_plans_and_plan_details(api, admin, make, customer):
    service = make.service()
    free = make.plan(service=service, plan_type=PlanType.FREE, sort_order=1, is_active=False)
    basic = make.plan(service=service, plan_type=PlanType.BASIC, sort_order=2)
    make.subscription(user=customer, plan=basic)
    body = assert_envelope(api.get(f"/api/admin/services/{service.id}/plans", as_user=admin),
                           200, "Service plans retrieved successfully")
    assert body["data"]["service"] == {"id": service.id, "name": service.name, "slug": service.slug}
    assert [(p["id"], p["_count"]["subscriptions"]) for p in body["data"]["plans"]] == [(free.id, 0), (basic.id, 1)]
    body = assert_envelope(api.get(f"/api/admin/services/{service.id}/plans/{basic.id}", as_user=admin),
                           200, "Service plan details retrieved successfully")
    assert body["data"]["plan"]["service"] == {"id": service.id, "name": service.name, "slug": service.slug}
    assert body["data"]["plan"]["_count"] == {"subscriptions": 1}
    other_service = make.service()
    assert_envelope(api.get(f"/api/admin/services/{other_service.id}/plans/{basic.id}", as_user=admin),
                    404, "Service plan not found")


def test_update_plan(api, admin, make, customer):
    plan = make.plan(total_quota=5, used_quota=2, features=["A"])
    url = f"/api/admin/services/{plan.service_id}/plans/{plan.id}"
    r = api.put(url, as_user=admin, json={"totalQuota": 30, "features": None, "storageGb": 2.5})
    data = assert_envelope(r, 200, "Service plan updated successfully")["data"]["plan"]
    assert data["totalQuota"] == 30 and data["features"] is None and data["storageGb"] == 2.5
    assert set(data["service"]) == {"name", "slug"}
    assert_envelope(api.put(url, as_user=admin, json={"totalQuota": 1}), 400,
                    "Cannot set total quota (1) below used quota (2)")
    # live subscriptions count even when the column lags behind (fix 21)
    for _ in range(3):
        make.subscription(user=make.user(), plan=plan)
    assert_envelope(api.put(url, as_user=admin, json={"totalQuota": 2}), 400,
                    "Cannot set total quota (2) below used quota (3)")
    assert_envelope(api.put(url, as_user=admin, json={"planType": "PRO"}), 400, '"planType" is not allowed')
    assert_envelope(api.put(url, as_user=admin, json={}), 400, "At least one field must be provided for update")
    assert_envelope(api.put(f"/api/admin/services/{plan.service_id}/plans/{ABSENT_ID}", as_user=admin,
                            json={"name": "Renamed"}), 404, "Service plan not found")


def test_toggle_plan(api, admin, make):
    plan = make.plan()
    url = f"/api/admin/services/{plan.service_id}/plans/{plan.id}/toggle-status"
    assert_envelope(api.patch(url, as_user=admin), 200, "Service plan deactivated successfully")
    r = api.patch(url, as_user=admin)
    assert assert_envelope(r, 200, "Service plan activated successfully")["data"]["plan"]["isActive"] is True
    assert len(audit_rows("plan.toggle_status")) == 2


def test_delete_plan_rules(api, admin, make, customer):
    safe = make.plan(plan_type=PlanType.FREE)
    assert_envelope(api.delete(f"/api/admin/services/{safe.service_id}/plans/{safe.id}", as_user=admin),
                    200, "Service plan deleted successfully")
    assert db.session.execute(select(ServicePlan.id).where(ServicePlan.id == safe.id)).first() is None

    live = make.plan(plan_type=PlanType.BASIC)
    make.subscription(user=customer, plan=live)
    url = f"/api/admin/services/{live.service_id}/plans/{live.id}?force=true"
    assert_envelope(api.delete(url, as_user=admin), 409,
                    "Cannot delete service plan with active subscriptions. Use force=true to override.")

    old = make.plan(plan_type=PlanType.PRO)
    make.subscription(user=customer, plan=old, status=SubscriptionStatus.CANCELLED)
    url = f"/api/admin/services/{old.service_id}/plans/{old.id}"
    assert_envelope(api.delete(url, as_user=admin), 409,
                    "Cannot delete service plan with active subscriptions. Use force=true to override.")
    assert_envelope(api.delete(url + "?force=true", as_user=admin), 200, "Service plan deleted successfully")
    db.session.expire_all()
    assert db.session.get(ServicePlan, old.id).is_active is False


def test_all_plans_filters_and_sorting(api, admin, make):
    a = make.service(name="Alpha", slug="alpha")
    b = make.service(name="Beta", slug="beta")
    cheap = make.plan(service=a, plan_type=PlanType.BASIC, monthly_price=10_000, name="Basic A")
    dear = make.plan(service=b, plan_type=PlanType.BASIC, monthly_price=90_000, name="Basic B", total_quota=0)
    free = make.plan(service=b, plan_type=PlanType.FREE, monthly_price=0, name="Free B", is_active=False)
    url = "/api/admin/services/plans"
    body = assert_envelope(api.get(url, as_user=admin), 200, "All service plans retrieved successfully")
    assert body["data"]["pagination"]["totalCount"] == 3
    row = next(p for p in body["data"]["plans"] if p["id"] == dear.id)
    assert row["service"]["slug"] == "beta" and set(row["service"]) == {"id", "name", "slug", "isActive", "category"}
    assert row["utilization"] == {"percentage": 0, "available": 0} and row["_count"] == {"subscriptions": 0}
    cases = [({"planType": "BASIC", "status": "active", "search": "basic"}, {cheap.id, dear.id}),
             ({"serviceId": b.id}, {dear.id, free.id}), ({"status": "inactive"}, {free.id}),
             ({"search": "alpha"}, {cheap.id})]
    for query, expected in cases:
        body = assert_envelope(api.get(url, as_user=admin, query_string=query), 200)
        assert {p["id"] for p in body["data"]["plans"]} == expected, query
    body = assert_envelope(api.get(url, as_user=admin, query_string={"sortBy": "monthlyPrice", "sortOrder": "asc"}), 200)
    assert [p["id"] for p in body["data"]["plans"]] == [free.id, cheap.id, dear.id]
    assert_envelope(api.get(url, as_user=admin, query_string={"planType": "GOLD"}), 400,
                    "Plan type must be one of: FREE, BASIC, PRO, PREMIUM, ENTERPRISE")
    assert_envelope(api.get(url, as_user=admin, query_string={"serviceId": "invalid-uuid"}), 400,
                    "Service ID must contain only letters and numbers")


def test_statistics(api, admin, make, customer):
    dev = make.category(slug="dev")
    make.service(category=dev)
    make.service(category=dev, is_active=False)
    plan = make.plan()
    make.subscription(user=customer, plan=plan, status=SubscriptionStatus.CANCELLED)
    body = assert_envelope(api.get("/api/admin/services/statistics", as_user=admin),
                           200, "Service statistics retrieved successfully")
    stats = body["data"]["statistics"]
    assert stats["services"] == {"total": 3, "active": 2, "inactive": 1}
    assert stats["subscriptions"] == {"total": 1} and stats["instances"] == {"total": 0}
    dev_row = next(c for c in stats["categories"] if c["slug"] == "dev")
    assert dev_row["serviceCount"] == 2 and set(dev_row) == {"id", "name", "slug", "serviceCount"}


# ------------------------------------------------------------------------------------------- auth
ROUTES = [("GET", "/api/admin/services/statistics"), ("GET", "/api/admin/services/plans"),
          ("GET", "/api/admin/services"), ("GET", f"/api/admin/services/{ABSENT_ID}"),
          ("POST", "/api/admin/services"), ("PUT", f"/api/admin/services/{ABSENT_ID}"),
          ("DELETE", f"/api/admin/services/{ABSENT_ID}"), ("PATCH", f"/api/admin/services/{ABSENT_ID}/toggle-status"),
          ("GET", f"/api/admin/services/{ABSENT_ID}/plans"), ("POST", f"/api/admin/services/{ABSENT_ID}/plans"),
          ("GET", f"/api/admin/services/{ABSENT_ID}/plans/{ABSENT_ID}"),
          ("PUT", f"/api/admin/services/{ABSENT_ID}/plans/{ABSENT_ID}"),
          ("DELETE", f"/api/admin/services/{ABSENT_ID}/plans/{ABSENT_ID}"),
          ("PATCH", f"/api/admin/services/{ABSENT_ID}/plans/{ABSENT_ID}/toggle-status")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_admin_routes_guarded(api, make, customer, method, path):
    assert_envelope(api.call(method, path, json={}), 401, "Access token is required")
    assert_envelope(api.call(method, path, token="bad.token.value", json={}), 403, "Invalid or expired token")
    assert_envelope(api.call(method, path, as_user=customer, json={}), 403, "Access denied. Insufficient permissions.")
    retired = make.user(role="ADMINISTRATOR", is_active=False)
    assert_envelope(api.call(method, path, as_user=retired, json={}), 403,
                    "Account is deactivated. Please contact administrator.")
