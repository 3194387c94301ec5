"""Customer catalog routes C1-C7: visibility, shapes, pagination, search, hidden fields, auth."""
from decimal import Decimal

import pytest

from webapp.catalog.models import PlanType
from webapp.subscriptions.models import SubscriptionStatus

from ..conftest import assert_envelope

HIDDEN = {"envTemplate", "dockerImage", "isActive", "isPublic"}
PLAN_CARD = {"id", "name", "planType", "description", "monthlyPrice", "cpuMilli", "memoryMb", "storageGb", "bandwidth",
             "features", "maxInstancesPerUser", "maxDomains", "totalQuota", "usedQuota", "isPopular", "availableQuota",
             "isAvailable"}


@pytest.fixture
def shop(make):
    """The seed's shape: two featured services, one plain, one hidden (inactive) and one private."""
    dev = make.category(name="Development Tools", slug="development-tools", sort_order=1)
    cms = make.category(name="Content Management", slug="cms", sort_order=2)
    db_cat = make.category(name="Databases", slug="databases", sort_order=3)
    empty = make.category(name="Empty", slug="empty", sort_order=4)
    n8n = make.service(name="N8N Automation", slug="n8n-automation", category=dev, is_featured=True, sort_order=1,
                       description="Workflow automation tool", tags=["automation", "workflow"],
                       env_template={"N8N_BASIC_AUTH_PASSWORD": "password"})
    ghost = make.service(name="Ghost Blog", slug="ghost-blog", category=cms, is_featured=True, sort_order=2,
                         description="Modern publishing platform", tags=["blog", "cms"])
    pg = make.service(name="PostgreSQL Database", slug="postgresql", category=db_cat, sort_order=3,
                      description="Relational database", tags=["database", "sql"])
    make.service(name="Hidden", slug="hidden", category=empty, is_active=False)
    make.service(name="Private", slug="private", category=empty, is_public=False)
    plans = {
        "n8n-free": make.plan(service=n8n, plan_type=PlanType.FREE, monthly_price=0, total_quota=10, sort_order=1,
                              storage_gb=Decimal("0.25")),
        "n8n-basic": make.plan(service=n8n, plan_type=PlanType.BASIC, monthly_price=50_000, total_quota=2, used_quota=2,
                               sort_order=2),
        "n8n-pro": make.plan(service=n8n, plan_type=PlanType.PRO, monthly_price=150_000, sort_order=3, is_active=False),
        "ghost-basic": make.plan(service=ghost, plan_type=PlanType.BASIC, monthly_price=75_000, sort_order=2),
        "ghost-free": make.plan(service=ghost, plan_type=PlanType.FREE, monthly_price=0, sort_order=1),
        "pg-basic": make.plan(service=pg, plan_type=PlanType.BASIC, monthly_price=25_000),
    }
    return {"n8n": n8n, "ghost": ghost, "pg": pg, "plans": plans}


def test_categories_lists_only_those_with_visible_services(api, customer, shop):
    body = assert_envelope(api.get("/api/catalog/categories", as_user=customer),
                           200, "Service categories retrieved successfully")
    assert [c["slug"] for c in body["data"]] == ["development-tools", "cms", "databases"]
    first = body["data"][0]
    assert set(first) == {"id", "name", "slug", "description", "sortOrder", "createdAt", "updatedAt", "_count"}
    assert first["_count"] == {"services": 1}


def test_categories_empty_catalog_keeps_bare_empty_array(api, customer):
    body = assert_envelope(api.get("/api/catalog/categories", as_user=customer), 200)
    assert body["data"] == []


def test_services_page_orders_featured_first_and_hides_internal_fields(api, customer, shop):
    body = assert_envelope(api.get("/api/catalog/services", as_user=customer), 200, "All services retrieved successfully")
    data = body["data"]
    assert [s["slug"] for s in data["services"]] == ["n8n-automation", "ghost-blog", "postgresql"]
    assert data["pagination"] == {"page": 1, "limit": 10, "total": 3, "totalPages": 1}
    n8n = data["services"][0]
    assert not HIDDEN & set(n8n)
    assert n8n["category"] == {"name": "Development Tools", "slug": "development-tools"}
    assert [p["planType"] for p in n8n["plans"]] == ["FREE", "BASIC"]  # inactive PRO hidden, sortOrder asc
    free, basic = n8n["plans"]
    assert set(free) == PLAN_CARD
    assert free["storageGb"] == 0.25 and free["availableQuota"] == 10 and free["isAvailable"] is True
    assert basic["availableQuota"] == 0 and basic["isAvailable"] is False


def test_services_pagination(api, customer, shop):
    body = assert_envelope(api.get("/api/catalog/services", as_user=customer, query_string={"page": 2, "limit": 2}), 200)
    assert [s["slug"] for s in body["data"]["services"]] == ["postgresql"]
    assert body["data"]["pagination"] == {"page": 2, "limit": 2, "total": 3, "totalPages": 2}


@pytest.mark.parametrize("query, message", [
    ({"page": 0}, '"page" must be greater than or equal to 1'),
    ({"limit": 51}, '"limit" must be less than or equal to 50'),
    ({"limit": "abc"}, '"limit" must be a number'),
    ({"page": "1.5"}, '"page" must be an integer'),
    ({"sort": "name"}, '"sort" is not allowed'),
])
def test_services_query_validation(api, customer, query, message):
    assert_envelope(api.get("/api/catalog/services", as_user=customer, query_string=query), 400, message)


def test_category_services(api, customer, shop):
    body = assert_envelope(api.get("/api/catalog/categories/cms/services", as_user=customer,
                                   query_string={"page": 1, "limit": 5}), 200, "Services retrieved successfully")
    data = body["data"]
    assert data["slug"] == "cms" and data["name"] == "Content Management"
    assert [s["slug"] for s in data["services"]] == ["ghost-blog"]
    assert [p["planType"] for p in data["services"][0]["plans"]] == ["FREE", "BASIC"]
    assert data["pagination"] == {"page": 1, "limit": 5, "total": 1, "totalPages": 1}


def test_category_services_errors(api, customer, shop):
    assert_envelope(api.get("/api/catalog/categories/non-existent/services", as_user=customer), 404, "Category not found")
    assert_envelope(api.get("/api/catalog/categories/dev-tools/services?page=0&limit=0", as_user=customer),
                    400, '"page" must be greater than or equal to 1')


def test_service_details(api, customer, shop, make):
    make.subscription(user=customer, plan=shop["plans"]["n8n-free"])
    body = assert_envelope(api.get("/api/catalog/services/n8n-automation", as_user=customer),
                           200, "Service details retrieved successfully")
    data = body["data"]
    assert not HIDDEN & set(data)
    assert data["category"] == {"id": shop["n8n"].category_id, "name": "Development Tools", "slug": "development-tools"}
    assert [p["planType"] for p in data["plans"]] == ["FREE", "BASIC"]
    assert all(set(p) == PLAN_CARD for p in data["plans"])  # no _count: subscriber numbers are not public (fix 22)
    assert "N8N_BASIC_AUTH_PASSWORD" not in str(body)


@pytest.mark.parametrize("slug", ["non-existent-service", "hidden", "private"])
def test_service_details_unknown_inactive_or_private_is_404(api, customer, shop, slug):
    assert_envelope(api.get(f"/api/catalog/services/{slug}", as_user=customer), 404, "Service not found")
    assert_envelope(api.get(f"/api/catalog/services/{slug}/plans", as_user=customer), 404, "Service not found")


def test_service_plans(api, customer, shop):
    body = assert_envelope(api.get("/api/catalog/services/ghost-blog/plans", as_user=customer),
                           200, "Service plans retrieved successfully")
    data = body["data"]
    assert data["serviceId"] == shop["ghost"].id and data["serviceName"] == "Ghost Blog"
    assert data["serviceSlug"] == "ghost-blog"
    assert [p["planType"] for p in data["plans"]] == ["FREE", "BASIC"]


@pytest.mark.parametrize("query, expected", [
    ({"q": "automation"}, ["n8n-automation"]),
    ({"q": "AUTOMATION"}, ["n8n-automation"]),
    ({"q": "publishing"}, ["ghost-blog"]),  # description
    ({"q": "SQL"}, ["postgresql"]),  # whole tag, case-insensitive (and name substring)
    ({"q": "cms"}, ["ghost-blog"]),  # tag only
    ({"category": "dev-tools"}, []),
    ({"category": "development-tools"}, ["n8n-automation"]),
    ({"featured": "true"}, ["ghost-blog", "n8n-automation"]),
    ({"featured": "false"}, ["ghost-blog", "n8n-automation", "postgresql"]),
    ({"q": "blog", "category": "cms", "page": 1, "limit": 10}, ["ghost-blog"]),
    ({"q": ""}, ["ghost-blog", "n8n-automation", "postgresql"]),
    ({"q": "%"}, []),  # wildcards are literal
    ({"q": "hidden"}, []),
])
def test_search(api, customer, shop, query, expected):
    body = assert_envelope(api.get("/api/catalog/search", as_user=customer, query_string=query),
                           200, "Search completed successfully")
    data = body["data"]
    assert [s["slug"] for s in data["services"]] == expected
    assert data["totalCount"] == len(expected) and data["hasMore"] is False


def test_search_returns_cheapest_active_plan_and_has_more(api, customer, shop):
    body = assert_envelope(api.get("/api/catalog/search", as_user=customer, query_string={"limit": 1}), 200)
    data = body["data"]
    assert data["totalCount"] == 3 and data["hasMore"] is True
    ghost = data["services"][0]
    assert not HIDDEN & set(ghost)
    assert ghost["category"]["slug"] == "cms" and set(ghost["category"]) == {"id", "name", "slug"}
    assert [p["planType"] for p in ghost["plans"]] == ["FREE"]
    assert set(ghost["plans"][0]) == PLAN_CARD


@pytest.mark.parametrize("query, message", [
    ({"featured": "yes"}, '"featured" must be one of [true, false]'),
    ({"limit": 0}, '"limit" must be greater than or equal to 1'),
    ({"x": "1"}, '"x" is not allowed'),
])
def test_search_validation(api, customer, query, message):
    assert_envelope(api.get("/api/catalog/search", as_user=customer, query_string=query), 400, message)


def test_search_with_sql_text_is_just_text(api, customer, shop):
    body = assert_envelope(api.get("/api/catalog/search", as_user=customer,
                                   query_string={"q": "'; DROP TABLE services; --"}), 200)
    assert body["data"]["services"] == []
    assert_envelope(api.get("/api/catalog/services", as_user=customer), 200)


def test_featured(api, customer, shop):
    body = assert_envelope(api.get("/api/catalog/featured", as_user=customer), 200, "Featured services retrieved successfully")
    assert [s["slug"] for s in body["data"]] == ["n8n-automation", "ghost-blog"]
    assert [p["monthlyPrice"] for p in body["data"][0]["plans"]] == [0]
    body = assert_envelope(api.get("/api/catalog/featured", as_user=customer, query_string={"limit": 1}), 200)
    assert [s["slug"] for s in body["data"]] == ["n8n-automation"]
    assert_envelope(api.get("/api/catalog/featured", as_user=customer, query_string={"limit": 21}),
                    400, '"limit" must be less than or equal to 20')


def test_featured_empty_is_bare_array(api, customer):
    assert assert_envelope(api.get("/api/catalog/featured", as_user=customer), 200)["data"] == []


def test_service_without_active_plans_has_empty_plan_list(api, customer, make):
    make.service(slug="lonely", is_featured=True)
    body = assert_envelope(api.get("/api/catalog/featured", as_user=customer), 200)
    assert body["data"][0]["plans"] == []


def test_availability_follows_used_quota_column_not_subscriptions(api, customer, make, shop):
    make.subscription(user=customer, plan=shop["plans"]["pg-basic"], status=SubscriptionStatus.ACTIVE)
    body = assert_envelope(api.get("/api/catalog/services/postgresql/plans", as_user=customer), 200)
    assert body["data"]["plans"][0]["usedQuota"] == 0


@pytest.mark.parametrize("path", ["/api/catalog/categories", "/api/catalog/services", "/api/catalog/search",
                                  "/api/catalog/featured", "/api/catalog/services/x", "/api/catalog/services/x/plans",
                                  "/api/catalog/categories/x/services"])
def test_auth_required(api, make, path):
    assert_envelope(api.get(path), 401, "Access token is required")
    assert_envelope(api.get(path, token="not-a-jwt"), 403, "Invalid or expired token")
    assert_envelope(api.get(path, headers={"Authorization": "Basic xyz"}), 403, "Invalid or expired token")
    inactive = make.user(is_active=False)
    assert_envelope(api.get(path, as_user=inactive), 403, "Account is deactivated. Please contact administrator.")


def test_admin_may_browse_too(api, admin, shop):
    assert_envelope(api.get("/api/catalog/services", as_user=admin), 200)
