"""Demo data: the original's seed (users, categories, services, plans), loaded idempotently.

Running it twice changes nothing: rows are matched by their natural keys (email, slug, service+planType)
and existing rows are left exactly as they are, like the original's `upsert(update: {})`.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from .accounts.models import Role, User
from .accounts.passwords import hash_password
from .billing.ledger import credit
from .billing.models import TransactionType
from .catalog.models import PlanType, Service, ServiceCategory, ServicePlan
from .db import utcnow
from .extensions import db

DEMO_PASSWORD = "password123"

USERS = [
    ("admin@minispod.com", "Admin User", Role.ADMINISTRATOR, "+6281234567890", 1_000_000),
    ("user1@minispod.com", "John Doe", Role.USER, "+6289876543210", 500_000),
    ("user2@minispod.com", "Jane Smith", Role.USER, "+6281122334455", 250_000),
    ("user3@minispod.com", "Bob Johnson", Role.USER, "+6285566778899", 100_000),
]

CATEGORIES = [
    ("development-tools", "Development Tools", "Automation and developer tooling", 1),
    ("cms", "Content Management", "Blogs, sites and publishing platforms", 2),
    ("databases", "Databases", "Managed database servers", 3),
]

# Default credentials are not part of a template: provisioning generates per-instance secrets.
SERVICES = [
    dict(slug="n8n-automation", name="N8N Automation", category="development-tools", docker_image="n8nio/n8n:latest",
         default_port=5678, version="latest", is_featured=True, sort_order=1,
         description="Workflow automation tool with a visual editor",
         long_description="n8n is an extendable workflow automation tool that connects apps with a fair-code model.",
         tags=["automation", "workflow", "integration", "no-code"],
         env_template={"N8N_BASIC_AUTH_ACTIVE": "true", "N8N_BASIC_AUTH_USER": "admin",
                       "WEBHOOK_URL": "https://{{subdomain}}.minispod.com", "DB_SQLITE_POOL_SIZE": "5",
                       "N8N_RUNNERS_ENABLED": "true"}),
    dict(slug="ghost-blog", name="Ghost Blog", category="cms", docker_image="ghost:5-alpine", default_port=2368,
         version="5-alpine", is_featured=True, sort_order=2, description="Modern publishing platform for blogs",
         long_description="Ghost is a powerful open-source publishing platform for professional bloggers.",
         tags=["blog", "cms", "publishing", "content"],
         env_template={"url": "https://{{subdomain}}.minispod.com", "database__client": "sqlite3",
                       "database__connection__filename": "/var/lib/ghost/content/data/ghost.db",
                       "database__useNullAsDefault": "true"}),
    dict(slug="postgresql", name="PostgreSQL Database", category="databases", docker_image="postgres:15-alpine",
         default_port=5432, version="15-alpine", is_featured=False, sort_order=3,
         description="Reliable open-source relational database",
         long_description="PostgreSQL is a powerful, open source object-relational database system.",
         tags=["database", "sql", "postgresql", "relational"],
         env_template={"POSTGRES_DB": "myapp", "POSTGRES_USER": "admin"}),
]

# (service slug, name, type, price, cpu, memory, bandwidth, quota, max instances, max domains, popular, sort)
PLANS = [
    ("n8n-automation", "Free", PlanType.FREE, 0, 500, 512, 10, 10, 1, 1, False, 1),
    ("n8n-automation", "Basic", PlanType.BASIC, 50_000, 1000, 1024, 50, 50, 1, 3, True, 2),
    ("n8n-automation", "Pro", PlanType.PRO, 150_000, 2000, 2048, 100, 25, 3, 10, False, 3),
    ("ghost-blog", "Starter", PlanType.FREE, 0, 250, 512, 20, 15, 1, 1, False, 1),
    ("ghost-blog", "Creator", PlanType.BASIC, 75_000, 600, 1024, 100, 30, 1, 5, True, 2),
    ("postgresql", "Basic DB", PlanType.BASIC, 25_000, 250, 256, 50, 100, 2, 1, True, 1),
    ("postgresql", "Production DB", PlanType.PRO, 100_000, 500, 1024, 200, 50, 5, 1, False, 2),
]

PLAN_FEATURES = {
    PlanType.FREE: ["Community support", "Shared resources", "Automatic HTTPS"],
    PlanType.BASIC: ["Email support", "Daily backups", "Automatic HTTPS", "Custom subdomain"],
    PlanType.PRO: ["Priority support", "Daily backups", "Automatic HTTPS", "Higher resource limits"],
}


# The original's seed coupons (prisma/seed-coupons.js, seed-welcome-bonus.js). Their dates were all in the past
# (2024/2025); here every one is valid from the seed time until a year later, so the demo can use them.
# (code, name, type, creditAmount, discountType, discountPercent, maxUses, service slug, planType, status)
# TOPUP25K had maxUsesPerUser 2, which the unique (coupon, user) redemption never allowed: seeded with 1.
COUPONS = [
    ("WELCOME50K", "Welcome 50K Credit", "CREDIT_TOPUP", 50_000, None, None, 100, None, None, "ACTIVE"),
    ("TOPUP25K", "Top-up 25K Bonus", "CREDIT_TOPUP", 25_000, None, None, 200, None, None, "ACTIVE"),
    ("SAVE20", "Save 20% on Subscriptions", "SUBSCRIPTION_DISCOUNT", None, "PERCENTAGE", 20, 100, None, None,
     "ACTIVE"),
    ("SAVE30K", "Save 30K on Subscriptions", "SUBSCRIPTION_DISCOUNT", 30_000, "FIXED_AMOUNT", None, 50, None, None,
     "ACTIVE"),
    ("FIRSTSUB10", "First Subscription 10% Off", "SUBSCRIPTION_DISCOUNT", None, "PERCENTAGE", 10, 500, None, None,
     "ACTIVE"),
    ("N8NSAVE30", "N8N Pro 30% Off", "SUBSCRIPTION_DISCOUNT", None, "PERCENTAGE", 30, 25, "n8n-automation",
     PlanType.PRO, "ACTIVE"),
    ("FREEGHOST", "Free Ghost Blog", "FREE_SERVICE", None, None, None, 20, "ghost-blog", None, "ACTIVE"),
    ("FREEN8N", "Free N8N Basic", "FREE_SERVICE", None, None, None, 15, "n8n-automation", PlanType.BASIC, "ACTIVE"),
    ("BLACKFRIDAY50", "Black Friday 50% Off", "SUBSCRIPTION_DISCOUNT", None, "PERCENTAGE", 50, 1000, None, None,
     "ACTIVE"),
    ("MEGA100K", "Mega 100K Credit", "CREDIT_TOPUP", 100_000, None, None, 10, None, None, "ACTIVE"),
    ("WELCOME2025", "Welcome Bonus 2025", "WELCOME_BONUS", 20_000, None, None, 1000, None, None, "ACTIVE"),
    ("NEWUSER5K", "New User 5K Bonus", "WELCOME_BONUS", 5_000, None, None, 500, None, None, "ACTIVE"),
    ("DISABLED_WELCOME", "Disabled Welcome Bonus", "WELCOME_BONUS", 10_000, None, None, 100, None, None, "DISABLED"),
]


def _seed_coupons(services: dict) -> int:
    """Create the demo coupons that are missing, through the coupon service (rules and audit apply)."""
    from .billing import coupons
    from .billing.coupon_models import Coupon

    actor = db.session.execute(select(User).where(User.role == Role.ADMINISTRATOR).order_by(User.created_at)
                               .limit(1)).scalar_one_or_none()
    now = utcnow()
    created = 0
    for code, name, kind, credit_amount, discount_type, percent, max_uses, slug, plan_type, status in COUPONS:
        if db.session.execute(select(Coupon.id).where(Coupon.code == code)).first():
            continue
        coupon = coupons.create_coupon(actor=actor, source="seed", data={
            "code": code, "name": name, "description": f"Demo coupon {code}", "type": kind, "credit_amount": credit_amount,
            "discount_type": discount_type, "discount_percent": percent, "max_uses": max_uses, "max_uses_per_user": 1,
            "service_id": services[slug].id if slug else None, "plan_type": plan_type, "valid_from": now,
            "valid_until": now + timedelta(days=365)})
        if status != "ACTIVE":
            coupons.update_coupon(actor=actor, coupon_id=coupon.id, changes={"status": status}, source="seed")
        created += 1
    return created


def seed_demo() -> dict[str, int]:
    """Insert whatever of the demo data is missing; return how many rows of each kind were created."""
    created = {"users": 0, "categories": 0, "services": 0, "plans": 0}
    rounds = current_app.config["BCRYPT_ROUNDS"]
    password_hash = None
    for email, name, role, phone, balance in USERS:
        if db.session.execute(select(User.id).where(User.email == email)).first():
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD, rounds)
        user = User(email=email, name=name, role=role, phone=phone, credit_balance=0, password_hash=password_hash,
                    is_active=True, total_top_up=0, total_spent=0,
                    avatar=f"https://ui-avatars.com/api/?name={name.replace(' ', '+')}")
        db.session.add(user)
        db.session.flush()
        # Opening balances go through the ledger like any other money, so balance = sum of the ledger.
        credit(user.id, balance, type=TransactionType.ADMIN_ADJUSTMENT, description="Demo opening balance",
               metadata={"adjustmentType": "credit", "source": "seed-demo"}, idempotency_key=f"demo-opening:{email}")
        created["users"] += 1
    categories = {}
    for slug, name, description, order in CATEGORIES:
        category = db.session.execute(select(ServiceCategory).where(ServiceCategory.slug == slug)).scalar_one_or_none()
        if category is None:
            category = ServiceCategory(slug=slug, name=name, description=description, sort_order=order)
            db.session.add(category)
            created["categories"] += 1
        categories[slug] = category
    db.session.flush()
    services = {}
    for spec in SERVICES:
        spec = dict(spec)
        category = categories[spec.pop("category")]
        service = db.session.execute(select(Service).where(Service.slug == spec["slug"])).scalar_one_or_none()
        if service is None:
            service = Service(category_id=category.id, is_active=True, is_public=True, **spec)
            db.session.add(service)
            created["services"] += 1
        services[spec["slug"]] = service
    db.session.flush()
    for slug, name, plan_type, price, cpu, memory, bandwidth, quota, max_inst, max_domains, popular, order in PLANS:
        service = services[slug]
        exists = db.session.execute(select(ServicePlan.id).where(ServicePlan.service_id == service.id,
                                                                 ServicePlan.plan_type == plan_type)).first()
        if exists:
            continue
        db.session.add(ServicePlan(service_id=service.id, name=name, plan_type=plan_type,
                                   description=f"{name} plan for {service.name}", monthly_price=price,
                                   cpu_milli=cpu, memory_mb=memory, storage_gb=Decimal("0.25"),
                                   bandwidth=bandwidth, total_quota=quota, used_quota=0,
                                   features=PLAN_FEATURES[plan_type], max_instances_per_user=max_inst,
                                   max_domains=max_domains, is_active=True, is_popular=popular, sort_order=order))
        created["plans"] += 1
    db.session.flush()
    created["coupons"] = _seed_coupons(services)
    db.session.flush()
    return created
