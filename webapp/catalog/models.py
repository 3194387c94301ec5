"""Catalog: categories, services (one-click apps) and their plans with capacity quotas."""
from __future__ import annotations

import enum
from decimal import Decimal

from sqlalchemy import (JSON, Boolean, CheckConstraint, Enum, ForeignKey, Index, Integer, Numeric, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import IdMixin, TimestampMixin
from ..extensions import db


class PlanType(str, enum.Enum):
    FREE = "FREE"
    BASIC = "BASIC"
    PRO = "PRO"
    PREMIUM = "PREMIUM"
    ENTERPRISE = "ENTERPRISE"

    @property
    def tier(self) -> int:
        return list(PlanType).index(self)


class ServiceCategory(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "service_categories"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    services: Mapped[list[Service]] = relationship(back_populates="category")


class Service(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("default_port BETWEEN 1 AND 65535", name="default_port_range"),
        Index("ix_services_visible", "is_active", "is_public"),
    )

    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    long_description: Mapped[str | None] = mapped_column(Text)
    icon: Mapped[str | None] = mapped_column(String(2048))
    version: Mapped[str] = mapped_column(String(50), default="latest")
    docker_image: Mapped[str] = mapped_column(String(200))
    default_port: Mapped[int] = mapped_column(Integer, default=3000)
    category_id: Mapped[str] = mapped_column(ForeignKey("service_categories.id", ondelete="RESTRICT"), index=True)
    env_template: Mapped[dict | None] = mapped_column(JSON)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    documentation: Mapped[str | None] = mapped_column(String(2048))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    is_featured: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    category: Mapped[ServiceCategory] = relationship(back_populates="services")
    plans: Mapped[list[ServicePlan]] = relationship(back_populates="service", cascade="all, delete-orphan",
                                                    passive_deletes=True, order_by="ServicePlan.sort_order")


class ServicePlan(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "service_plans"
    __table_args__ = (
        UniqueConstraint("service_id", "plan_type", name="uq_service_plans_service_id_plan_type"),
        # Quota moves only by conditional updates (catalog.quota); this makes drift impossible, not just unlikely.
        CheckConstraint("used_quota >= 0 AND used_quota <= total_quota", name="used_quota_within_total"),
        CheckConstraint("total_quota >= 0", name="total_quota_non_negative"),
        CheckConstraint("monthly_price >= 0", name="monthly_price_non_negative"),
    )

    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    plan_type: Mapped[PlanType] = mapped_column(Enum(PlanType, name="plan_type", native_enum=False, length=20))
    description: Mapped[str | None] = mapped_column(Text)
    monthly_price: Mapped[int] = mapped_column(Integer)
    cpu_milli: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    # The original declared Int but seeded 0.25; GB with two decimals is what the plans really use.
    storage_gb: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    bandwidth: Mapped[int] = mapped_column(Integer, default=0)
    total_quota: Mapped[int] = mapped_column(Integer)
    used_quota: Mapped[int] = mapped_column(Integer, default=0)
    features: Mapped[list | None] = mapped_column(JSON)
    max_instances_per_user: Mapped[int] = mapped_column(Integer, default=1)
    max_domains: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_popular: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    service: Mapped[Service] = relationship(back_populates="plans")

    @property
    def available_quota(self) -> int:
        return self.total_quota - self.used_quota
