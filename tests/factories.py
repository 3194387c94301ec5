"""Factories for test data: small functions with sensible defaults, every field overridable."""
from __future__ import annotations

import itertools
from decimal import Decimal

from webapp.accounts.models import Role, User
from webapp.accounts.passwords import hash_password
from webapp.catalog.models import PlanType, Service, ServiceCategory, ServicePlan
from webapp.db import utcnow

_seq = itertools.count(1)
PASSWORD = "password123"
_HASH = hash_password(PASSWORD, rounds=4)


class Factories:
    def __init__(self, db):
        self.db = db

    def _save(self, obj):
        self.db.session.add(obj)
        self.db.session.flush()
        return obj

    def user(self, **kw) -> User:
        n = next(_seq)
        role = kw.pop("role", Role.USER)
        defaults = dict(name=f"User {n}", email=f"user{n}@example.com", phone=None, password_hash=_HASH,
                        role=Role(role), is_active=True, credit_balance=0, total_top_up=0, total_spent=0,
                        token_version=0)
        defaults.update(kw)
        return self._save(User(**defaults))

    def category(self, **kw) -> ServiceCategory:
        n = next(_seq)
        defaults = dict(name=f"Category {n}", slug=f"category-{n}", description="A category", sort_order=n)
        defaults.update(kw)
        return self._save(ServiceCategory(**defaults))

    def service(self, **kw) -> Service:
        n = next(_seq)
        category = kw.pop("category", None) or self.category()
        defaults = dict(name=f"Service {n}", slug=f"service-{n}", description="A one-click app for tests",
                        version="latest", docker_image="example/app:1", default_port=8080, category_id=category.id,
                        env_template={"APP_MODE": "production"}, tags=["test"], is_active=True, is_public=True,
                        is_featured=False, sort_order=n)
        defaults.update(kw)
        return self._save(Service(**defaults))

    def plan(self, **kw) -> ServicePlan:
        service = kw.pop("service", None) or self.service()
        plan_type = PlanType(kw.pop("plan_type", PlanType.BASIC))
        defaults = dict(service_id=service.id, name=plan_type.value.title(), plan_type=plan_type,
                        description="A plan for tests", monthly_price=50_000, cpu_milli=500, memory_mb=512,
                        storage_gb=Decimal("1"), bandwidth=10, total_quota=10, used_quota=0,
                        features=["Support"], max_instances_per_user=1, max_domains=1, is_active=True,
                        is_popular=False, sort_order=plan_type.tier)
        defaults.update(kw)
        return self._save(ServicePlan(**defaults))

    def subscription(self, *, user, plan, **kw):
        from datetime import timedelta

        from webapp.subscriptions.models import Subscription, SubscriptionStatus

        defaults = dict(user_id=user.id, service_id=plan.service_id, plan_id=plan.id,
                        status=SubscriptionStatus.ACTIVE, start_date=utcnow(), end_date=utcnow() + timedelta(days=30),
                        next_billing=utcnow() + timedelta(days=30), monthly_price=plan.monthly_price,
                        auto_renew=True, failed_charges=0)
        defaults.update(kw)
        return self._save(Subscription(**defaults))
