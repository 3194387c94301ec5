"""Admin quota routes Q1-Q5: live-count reporting, capacity changes, bulk atomicity, audit, messages, auth."""
import pytest
from sqlalchemy import select

from webapp.audit.models import AuditEntry
from webapp.catalog.models import PlanType
from webapp.extensions import db
from webapp.subscriptions.models import SubscriptionStatus

from ..conftest import assert_envelope

ABSENT_ID = "cm0slquw90003vv4azb9pes42"


@pytest.fixture
def plans(make):
    """hot: 9/10 live (critical), warm: 8/10 (warning), cool: 1/10, with cancelled rows that do not count."""
    alpha = make.service(name="Alpha", slug="alpha")
    beta = make.service(name="Beta", slug="beta")
    hot = make.plan(service=beta, plan_type=PlanType.BASIC, name="Hot", total_quota=10)
    warm = make.plan(service=alpha, plan_type=PlanType.PRO, name="Warm", total_quota=10)
    cool = make.plan(service=alpha, plan_type=PlanType.BASIC, name="Cool", total_quota=10, is_active=False)
    for plan, live in ((hot, 9), (warm, 8), (cool, 1)):
        for _ in range(live):
            make.subscription(user=make.user(), plan=plan, status=SubscriptionStatus.ACTIVE)
        make.subscription(user=make.user(), plan=plan, status=SubscriptionStatus.CANCELLED)
    return {"hot": hot, "warm": warm, "cool": cool}


def test_statistics(api, admin, plans):
    body = assert_envelope(api.get("/api/admin/quota/statistics", as_user=admin), 200,
                           "Quota statistics retrieved successfully")
    stats = body["data"]["statistics"]
    assert stats["overview"] == {"totalPlans": 3, "totalQuota": 30, "totalUsedQuota": 18, "totalAvailableQuota": 12,
                                 "overallUtilization": 60}
    assert stats["alerts"]["criticalPlans"] == 1 and stats["alerts"]["warningPlans"] == 1
    assert stats["alerts"]["criticalPlansList"] == [{"id": plans["hot"].id, "name": "Hot", "serviceName": "Beta",
                                                     "utilization": 90}]
    assert stats["alerts"]["warningPlansList"][0]["id"] == plans["warm"].id


def test_overview_sorted_by_service_then_plan(api, admin, plans):
    body = assert_envelope(api.get("/api/admin/quota/overview", as_user=admin), 200, "Quota overview retrieved successfully")
    rows = body["data"]["quotaOverview"]
    assert [(r["service"]["name"], r["planName"]) for r in rows] == [("Alpha", "Cool"), ("Alpha", "Warm"), ("Beta", "Hot")]
    cool, warm, hot = rows
    assert cool == {"planId": plans["cool"].id, "planName": "Cool",
                    "service": {"id": plans["cool"].service_id, "name": "Alpha", "slug": "alpha"},
                    "totalQuota": 10, "usedQuota": 1, "availableQuota": 9, "utilizationPercentage": 10,
                    "status": "healthy"}
    assert warm["status"] == "warning" and hot["status"] == "critical"


def test_plan_details(api, admin, plans):
    body = assert_envelope(api.get(f"/api/admin/quota/plans/{plans['warm'].id}", as_user=admin),
                           200, "Plan quota details retrieved successfully")
    details = body["data"]["quotaDetails"]
    assert details["plan"]["id"] == plans["warm"].id and details["plan"]["service"]["slug"] == "alpha"
    assert details["quota"] == {"total": 10, "used": 8, "available": 2, "utilizationPercentage": 80}
    assert len(details["activeSubscriptions"]) == 8
    first = details["activeSubscriptions"][0]
    assert set(first) == {"id", "user", "status", "createdAt", "nextBilling"} and set(first["user"]) == {"id", "email", "name"}
    assert_envelope(api.get(f"/api/admin/quota/plans/{ABSENT_ID}", as_user=admin), 404, "Service plan not found")


def test_update_plan_quota(api, admin, plans):
    plan = plans["warm"]
    r = api.put(f"/api/admin/quota/plans/{plan.id}", as_user=admin, json={"totalQuota": 150, "reason": "Growing demand"})
    data = assert_envelope(r, 200, "Plan quota updated successfully")["data"]["plan"]
    assert data["totalQuota"] == 150 and data["service"]["slug"] == "alpha"
    [entry] = db.session.execute(select(AuditEntry).where(AuditEntry.action == "plan.quota.update")).scalars().all()
    assert entry.reason == "Growing demand" and entry.before == {"total_quota": 10} and entry.after == {"total_quota": 150}
    assert entry.actor_id == admin.id
    assert_envelope(api.put(f"/api/admin/quota/plans/{plan.id}", as_user=admin, json={"totalQuota": 7, "reason": "Shrink it"}),
                    400, "Cannot set quota to 7. Currently 8 subscriptions are active.")
    assert_envelope(api.put(f"/api/admin/quota/plans/{ABSENT_ID}", as_user=admin, json={"totalQuota": 5, "reason": "Nope!"}),
                    404, "Service plan not found")


def test_update_checks_used_quota_column_too(api, admin, make):
    plan = make.plan(total_quota=10, used_quota=4)  # no subscription rows: the column is ahead (fix 21)
    assert_envelope(api.put(f"/api/admin/quota/plans/{plan.id}", as_user=admin, json={"totalQuota": 3, "reason": "Shrink it"}),
                    400, "Cannot set quota to 3. Currently 4 subscriptions are active.")
    assert_envelope(api.put(f"/api/admin/quota/plans/{plan.id}", as_user=admin, json={"totalQuota": 4, "reason": "Shrink it"}),
                    200)


def test_zero_quota_allowed_for_an_empty_plan(api, admin, make):
    plan = make.plan(total_quota=10)
    r = api.put(f"/api/admin/quota/plans/{plan.id}", as_user=admin, json={"totalQuota": 0, "reason": "Close the plan"})
    assert assert_envelope(r, 200)["data"]["plan"]["totalQuota"] == 0


@pytest.mark.parametrize("body, message", [
    ({"totalQuota": 150}, '"reason" is required'),
    ({"totalQuota": -10, "reason": "Testing"}, "Total quota cannot be negative"),
    ({"totalQuota": 15000, "reason": "Testing"}, "Total quota cannot exceed 10,000"),
    ({"totalQuota": "many", "reason": "Testing"}, "Total quota must be a number"),
    ({"totalQuota": 1.5, "reason": "Testing"}, "Total quota must be an integer"),
    ({"reason": "Testing"}, "Total quota is required"),
    ({"totalQuota": 5, "reason": ""}, "Reason is required"),
    ({"totalQuota": 5, "reason": "abc"}, "Reason must be at least 5 characters long"),
    ({"totalQuota": 5, "reason": "x" * 501}, "Reason cannot exceed 500 characters"),
    ({"totalQuota": 5, "reason": "Testing", "usedQuota": 0}, '"usedQuota" is not allowed'),
])
def test_update_validation(api, admin, make, body, message):
    plan = make.plan(total_quota=10)
    assert_envelope(api.put(f"/api/admin/quota/plans/{plan.id}", as_user=admin, json=body), 400, message)
    db.session.refresh(plan)
    assert plan.total_quota == 10


def test_update_invalid_plan_id(api, admin):
    assert_envelope(api.put("/api/admin/quota/plans/invalid-uuid", as_user=admin, json={"totalQuota": 5, "reason": "Testing"}),
                    400, "Plan ID must contain only letters and numbers")
    assert_envelope(api.get("/api/admin/quota/plans/short", as_user=admin), 400, "Plan ID must be at least 20 characters long")


def test_bulk_update(api, admin, plans):
    updates = [{"planId": plans["hot"].id, "totalQuota": 20}, {"planId": plans["cool"].id, "totalQuota": 1}]
    r = api.put("/api/admin/quota/bulk-update", as_user=admin, json={"updates": updates, "reason": "Quarterly review"})
    data = assert_envelope(r, 200, "Bulk quota update completed successfully")["data"]
    assert [(p["id"], p["totalQuota"]) for p in data["updatedPlans"]] == [(plans["hot"].id, 20), (plans["cool"].id, 1)]
    entries = db.session.execute(select(AuditEntry).where(AuditEntry.action == "plan.quota.update")).scalars().all()
    assert {e.target_id for e in entries} == {plans["hot"].id, plans["cool"].id}
    assert {e.reason for e in entries} == {"Quarterly review"}


def test_bulk_update_is_all_or_nothing(api, admin, plans):
    updates = [{"planId": plans["hot"].id, "totalQuota": 50}, {"planId": plans["warm"].id, "totalQuota": 2},
               {"planId": plans["cool"].id, "totalQuota": 0}]
    r = api.put("/api/admin/quota/bulk-update", as_user=admin, json={"updates": updates, "reason": "Quarterly review"})
    body = assert_envelope(r, 400, "Validation errors")
    assert body["data"] == {"validationErrors": [
        {"planId": plans["warm"].id, "error": "Cannot set quota to 2. Currently 8 subscriptions are active."},
        {"planId": plans["cool"].id, "error": "Cannot set quota to 0. Currently 1 subscriptions are active."}]}
    db.session.expire_all()
    assert plans["hot"].total_quota == 10


def test_bulk_update_unknown_and_duplicate_ids(api, admin, plans):
    hot = plans["hot"].id
    r = api.put("/api/admin/quota/bulk-update", as_user=admin,
                json={"updates": [{"planId": hot, "totalQuota": 20}, {"planId": ABSENT_ID, "totalQuota": 20}],
                      "reason": "Quarterly review"})
    assert_envelope(r, 404, "One or more service plans not found")
    r = api.put("/api/admin/quota/bulk-update", as_user=admin,
                json={"updates": [{"planId": hot, "totalQuota": 20}, {"planId": hot, "totalQuota": 30}],
                      "reason": "Quarterly review"})
    assert_envelope(r, 400, "Duplicate plan IDs in updates")


@pytest.mark.parametrize("body, message", [
    ({"updates": [], "reason": "Testing"}, "At least one update is required"),
    ({"updates": "x", "reason": "Testing"}, "Updates must be an array"),
    ({"reason": "Testing"}, "Updates array is required"),
    ({"updates": [{"planId": ABSENT_ID, "totalQuota": 1}] * 51, "reason": "Testing"},
     "Cannot update more than 50 plans at once"),
    ({"updates": [{"planId": "invalid-uuid", "totalQuota": 100}], "reason": "Testing"},
     "Plan ID must contain only letters and numbers"),
    ({"updates": [{"totalQuota": 100}], "reason": "Testing"}, "Plan ID is required"),
    ({"updates": [{"planId": ABSENT_ID, "totalQuota": -1}], "reason": "Testing"}, "Total quota cannot be negative"),
    ({"updates": [{"planId": ABSENT_ID}], "reason": "Testing"}, "Total quota is required"),
    ({"updates": [{"planId": ABSENT_ID, "totalQuota": 1}]}, '"reason" is required'),
    ({"updates": ["x"], "reason": "Testing"}, '"updates[0]" must be of type object'),
])
def test_bulk_validation(api, admin, body, message):
    assert_envelope(api.put("/api/admin/quota/bulk-update", as_user=admin, json=body), 400, message)


ROUTES = [("GET", "/api/admin/quota/statistics"), ("GET", "/api/admin/quota/overview"),
          ("GET", f"/api/admin/quota/plans/{ABSENT_ID}"), ("PUT", f"/api/admin/quota/plans/{ABSENT_ID}"),
          ("PUT", "/api/admin/quota/bulk-update")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_quota_routes_guarded(api, make, customer, method, path):
    assert_envelope(api.call(method, path, json={}), 401, "Access token is required")
    assert_envelope(api.call(method, path, token="bad.token.value", json={}), 403, "Invalid or expired token")
    assert_envelope(api.call(method, path, as_user=customer, json={}), 403, "Access denied. Insufficient permissions.")
    retired = make.user(role="ADMINISTRATOR", is_active=False)
    assert_envelope(api.call(method, path, as_user=retired, json={}), 403,
                    "Account is deactivated. Please contact administrator.")
