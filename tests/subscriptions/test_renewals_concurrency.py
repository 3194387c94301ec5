"""Two renewal workers racing over the same 1,000 due subscriptions charge each exactly once (real commits)."""
from __future__ import annotations


from sqlalchemy import func, select

from tests.notifications.billing_helpers import jkt
from tests.subscriptions.helpers import concurrent_renewal_passes
from webapp.accounts.models import User
from webapp.billing.models import Transaction, TransactionType
from webapp.catalog.models import PlanType, Service, ServiceCategory, ServicePlan
from webapp.extensions import db
from webapp.notifications.models import Notification, NotificationType
from webapp.subscriptions.models import Subscription

N = 1_000


def _plan(category, slug: str, used: int) -> ServicePlan:
    service = Service(name=slug.title(), slug=slug, description="A one-click app for tests", version="1",
                      docker_image=f"x/{slug}:1", default_port=80, category_id=category.id, is_active=True,
                      is_public=True, is_featured=False, sort_order=1)
    db.session.add(service)
    db.session.flush()
    plan = ServicePlan(service_id=service.id, name="Basic", plan_type=PlanType.BASIC, monthly_price=50_000,
                       cpu_milli=100, memory_mb=128, storage_gb=1, bandwidth=1, total_quota=used, used_quota=used,
                       max_instances_per_user=1, max_domains=1, is_active=True, is_popular=False, sort_order=1)
    db.session.add(plan)
    db.session.flush()
    return plan


def _seed() -> list[str]:
    """500 users with two due subscriptions each (two services), on full plans: the workers also contend on
    shared user rows, and a renewal must not need a quota slot."""
    category = ServiceCategory(name="Race", slug="race", description="x", sort_order=1)
    db.session.add(category)
    db.session.flush()
    plans = [_plan(category, "racer-app", N // 2), _plan(category, "other-app", N // 2)]
    users = [User(name=f"R{i}", email=f"race{i}@example.com", credit_balance=120_000, total_top_up=0, total_spent=0)
             for i in range(N // 2)]
    db.session.add_all(users)
    db.session.flush()
    db.session.add_all(Subscription(user_id=user.id, service_id=plan.service_id, plan_id=plan.id, status="ACTIVE",
                                    start_date=jkt(2026, 1, 15), end_date=jkt(2026, 2, 15),
                                    next_billing=jkt(2026, 2, 15), monthly_price=50_000, auto_renew=True,
                                    failed_charges=0)
                       for user in users for plan in plans)
    db.session.commit()
    return [u.id for u in users]


def test_two_workers_charge_each_due_subscription_exactly_once(app, committing_db):
    user_ids = _seed()
    results, errors = concurrent_renewal_passes(app, jkt(2026, 2, 15, 2), batch_size=50)
    assert errors == []
    db.session.expire_all()
    # 500 users x 2 subscriptions; each wallet (120,000) covers exactly two charges of 50,000.
    assert sum(r["successful"] for r in results) == N
    assert sum(r["failed"] for r in results) == 0
    per_sub = db.session.execute(select(Transaction.subscription_id, func.count())
                                 .where(Transaction.type == TransactionType.SUBSCRIPTION)
                                 .group_by(Transaction.subscription_id)).all()
    assert len(per_sub) == N and all(count == 1 for _, count in per_sub)
    assert db.session.execute(select(func.count()).select_from(Subscription)
                              .where(Subscription.end_date != jkt(2026, 3, 15))).scalar_one() == 0
    balances = dict(db.session.execute(select(User.id, User.credit_balance)).all())
    assert all(balances[uid] == 20_000 for uid in user_ids)
    # Each user's two charges chain: the second starts where the first ended (row lock held).
    for uid in user_ids[:50]:
        rows = db.session.execute(select(Transaction.balance_before, Transaction.balance_after)
                                  .where(Transaction.user_id == uid)).all()
        assert sorted(rows, reverse=True) == [(120_000, 70_000), (70_000, 20_000)]
    assert db.session.execute(select(func.count()).select_from(Notification)
                              .where(Notification.type == NotificationType.RENEWAL_SUCCESS)).scalar_one() == N
