"""The customer catalog read cache (webapp.catalog.cache): same answers as the database, fresh after every commit.

These tests turn the cache on (the testing profile keeps it off) and commit for real (committing_db), because the
cache is versioned by commits.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.factories import Factories
from webapp.catalog import cache, quota
from webapp.catalog.models import ServicePlan


@pytest.fixture
def cached_catalog(app, committing_db, monkeypatch):
    monkeypatch.setitem(app.config, "CATALOG_CACHE_SECONDS", 30)
    monkeypatch.setitem(app.config, "CATALOG_VERSION_CHECK_SECONDS", 0)
    monkeypatch.setattr(cache, "_redis_down_until", 0.0)
    cache.clear()
    make = Factories(committing_db)
    plan = make.plan(total_quota=5, used_quota=1)
    user = make.user()
    committing_db.session.commit()
    yield committing_db, plan.id, plan.service_id, user
    cache.clear()


def _services(api, user):
    response = api.get("/api/catalog/services", as_user=user)
    assert response.status_code == 200
    return response.get_json()["data"]


def _plan(data, plan_id):
    return next(p for s in data["services"] for p in s["plans"] if p["id"] == plan_id)


def test_cached_answer_equals_the_uncached_one(cached_catalog, api, app, monkeypatch):
    db, plan_id, service_id, user = cached_catalog
    first, second = _services(api, user), _services(api, user)
    slug = first["services"][0]["slug"]
    details = api.get(f"/api/catalog/services/{slug}", as_user=user).get_json()["data"]
    monkeypatch.setitem(app.config, "CATALOG_CACHE_SECONDS", 0)
    assert first == second == _services(api, user)
    assert details == api.get(f"/api/catalog/services/{slug}", as_user=user).get_json()["data"]


def test_a_committed_quota_change_is_seen_at_once(cached_catalog, api):
    db, plan_id, service_id, user = cached_catalog
    assert _plan(_services(api, user), plan_id)["usedQuota"] == 1
    quota.allocate_quota(plan_id)  # ORM-enabled UPDATE statement, as a subscription does
    db.session.commit()
    data = _services(api, user)
    assert _plan(data, plan_id)["usedQuota"] == 2 and _plan(data, plan_id)["availableQuota"] == 3


def test_an_admin_edit_is_seen_at_once(cached_catalog, api, make):
    db, plan_id, service_id, user = cached_catalog
    admin = make.user(role="ADMINISTRATOR")
    db.session.commit()
    _services(api, user)
    response = api.put(f"/api/admin/services/{service_id}", as_user=admin, json={"name": "Renamed App"})
    assert response.status_code == 200, response.get_json()
    assert [s["name"] for s in _services(api, user)["services"]] == ["Renamed App"]


def test_another_process_invalidates_through_redis(cached_catalog, api, app):
    db, plan_id, service_id, user = cached_catalog
    _services(api, user)
    # A change this process's session never saw (another process, or SQL): still the cached answer...
    db.session.execute(text("UPDATE service_plans SET used_quota = 4 WHERE id = :id"), {"id": plan_id})
    db.session.commit()
    db.session.expire_all()
    assert _plan(_services(api, user), plan_id)["usedQuota"] == 1
    # ...until the shared version moves, as the other process's commit does.
    from jobs.queue import redis_connection

    with app.app_context():
        redis_connection().incr(cache.VERSION_KEY)
    assert _plan(_services(api, user), plan_id)["usedQuota"] == 4


def test_the_shared_version_is_read_at_most_once_per_interval(cached_catalog, api, app, monkeypatch):
    db, plan_id, service_id, user = cached_catalog
    monkeypatch.setitem(app.config, "CATALOG_VERSION_CHECK_SECONDS", 60)
    from jobs.queue import redis_connection

    _services(api, user)
    db.session.execute(text("UPDATE service_plans SET used_quota = 2 WHERE id = :id"), {"id": plan_id})
    db.session.commit()
    db.session.expire_all()
    with app.app_context():
        redis_connection().incr(cache.VERSION_KEY)  # another process's commit...
    assert _plan(_services(api, user), plan_id)["usedQuota"] == 1  # ...not seen within the interval
    quota.allocate_quota(plan_id)  # this process's own commit is seen at once
    db.session.commit()
    assert _plan(_services(api, user), plan_id)["usedQuota"] == 3


def test_without_redis_the_database_is_read(cached_catalog, api, monkeypatch):
    db, plan_id, service_id, user = cached_catalog
    monkeypatch.setattr(cache, "_redis", lambda: None)
    _services(api, user)
    db.session.execute(text("UPDATE service_plans SET used_quota = 3 WHERE id = :id"), {"id": plan_id})
    db.session.commit()
    db.session.expire_all()
    assert _plan(_services(api, user), plan_id)["usedQuota"] == 3
    assert db.session.get(ServicePlan, plan_id).used_quota == 3


def test_a_released_savepoint_does_not_invalidate_before_the_commit(cached_catalog):
    """Admin writes flush inside savepoints; SQLAlchemy fires after_commit when one is released. Bumping the
    version then would let a reader cache the still-uncommitted-elsewhere rows' old values under the new version."""
    db, plan_id, _service_id, _user = cached_catalog
    generation = cache._generation
    with db.session.begin_nested():
        db.session.get(ServicePlan, plan_id).monthly_price += 1000
    assert cache._generation == generation  # only a savepoint was released
    db.session.commit()
    assert cache._generation == generation + 1
