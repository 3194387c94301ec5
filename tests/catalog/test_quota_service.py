"""catalog.quota: atomic slot allocation/release, reconciliation, and capacity changes from the console side."""
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from webapp.audit.models import AuditEntry
from webapp.catalog import quota
from webapp.catalog import services as catalog
from webapp.catalog.errors import PlanNotFound, QuotaExhausted
from webapp.catalog.models import ServicePlan
from webapp.extensions import db
from webapp.subscriptions.models import SubscriptionStatus

ABSENT_ID = "cm0slquw90003vv4azb9pes42"


def test_allocate_until_full(make):
    plan = make.plan(total_quota=2)
    quota.allocate_quota(plan.id)
    quota.allocate_quota(plan.id)
    with pytest.raises(QuotaExhausted) as exc:
        quota.allocate_quota(plan.id)
    assert exc.value.text == "Insufficient quota. Available: 0, Requested: 1"
    assert plan.used_quota == 2


def test_allocate_and_release_ignore_plan_active_flag(make):
    plan = make.plan(total_quota=3, used_quota=1, is_active=False)
    quota.allocate_quota(plan.id)
    assert plan.used_quota == 2
    assert quota.release_quota(plan.id) is True
    assert plan.used_quota == 1


def test_release_never_goes_negative(make):
    plan = make.plan(total_quota=3, used_quota=0)
    assert quota.release_quota(plan.id) is False
    assert plan.used_quota == 0


def test_unknown_plan(make):
    with pytest.raises(PlanNotFound):
        quota.allocate_quota(ABSENT_ID)
    with pytest.raises(PlanNotFound):
        quota.release_quota(ABSENT_ID)


def test_reconcile_sets_column_to_live_count(make, admin):
    drifted = make.plan(total_quota=5, used_quota=4)
    right = make.plan(total_quota=5, used_quota=1)
    make.subscription(user=make.user(), plan=drifted)
    make.subscription(user=make.user(), plan=drifted, status=SubscriptionStatus.EXPIRED)
    make.subscription(user=make.user(), plan=right, status=SubscriptionStatus.PENDING_UPGRADE)
    changed = quota.reconcile_used_quota(actor=admin, source="console")
    assert changed == [{"planId": drifted.id, "before": 4, "after": 1, "liveCount": 1}]
    assert drifted.used_quota == 1 and right.used_quota == 1
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "plan.quota.reconcile")).scalar_one()
    assert entry.target_id == drifted.id and entry.source == "console"


def test_set_total_quota_from_console_records_source(make, admin):
    plan = make.plan(total_quota=5)
    updated = quota.set_total_quota(actor=admin, plan_id=plan.id, total_quota=8, reason="More capacity",
                                    source="console")
    assert updated.total_quota == 8
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.target_id == plan.id)).scalar_one()
    assert entry.source == "console" and entry.reason == "More capacity"


def test_console_service_writes(make, admin):
    category = catalog.create_category(actor=admin, data={"name": "Games", "slug": "games"}, source="console")
    service = catalog.create_service(actor=admin, source="console", data={
        "name": "Minecraft", "slug": "minecraft", "description": "Block game server", "category_id": category.id,
        "docker_image": "itzg/minecraft-server", "default_port": 25565, "icon": "https://x.test/i.png"})
    service = catalog.update_service(actor=admin, service_id=service.id, changes={"icon": None}, source="console")
    assert service.icon is None and service.version == "latest" and service.tags == []
    plan = catalog.create_plan(actor=admin, service_id=service.id, source="console", data={
        "name": "Basic", "plan_type": "BASIC", "monthly_price": 10_000, "cpu_milli": 500, "memory_mb": 1024,
        "storage_gb": 2.5, "total_quota": 3})
    assert plan.used_quota == 0 and plan.storage_gb == Decimal("2.5")
    catalog.update_category(actor=admin, category_id=category.id, changes={"description": "Game servers"},
                            source="console")
    actions = db.session.execute(select(AuditEntry.action, AuditEntry.source)).all()
    assert {a for a, _ in actions} >= {"category.create", "service.create", "service.update", "plan.create",
                                        "category.update"}
    assert {s for _, s in actions} == {"console"}


@pytest.mark.slow
def test_two_allocations_for_the_last_slot(committing_db, app):
    """Two connections race for the last slot: the conditional UPDATE lets exactly one win."""
    from tests.factories import Factories

    plan = Factories(committing_db).plan(total_quota=1)
    plan_id = plan.id
    committing_db.session.commit()
    committing_db.session.remove()

    barrier = threading.Barrier(2)
    outcomes = []

    def contender():
        with app.app_context():
            try:
                barrier.wait()
                quota.allocate_quota(plan_id)
                db.session.commit()
                outcomes.append("ok")
            except QuotaExhausted:
                db.session.rollback()
                outcomes.append("full")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=contender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["full", "ok"]
    used = committing_db.session.execute(select(ServicePlan.used_quota).where(ServicePlan.id == plan_id)).scalar_one()
    assert used == 1
