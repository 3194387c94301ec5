"""Subscriptions: a customer's paid (or free) use of one plan of one service, renewed monthly.

The lifecycle services (create, upgrade, cancel, renew, expire) arrive with the subscriptions issue;
the table exists from the start because the catalog's counts and the analytics read it.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Enum, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import IdMixin, TimestampMixin, utcnow
from ..extensions import db


class SubscriptionStatus(str, enum.Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    PENDING_UPGRADE = "PENDING_UPGRADE"
    PENDING_PAYMENT = "PENDING_PAYMENT"


# Statuses that hold a quota slot and block a second subscription to the same service.
LIVE_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING_UPGRADE, SubscriptionStatus.PENDING_PAYMENT)
_LIVE_SQL = "status IN ('ACTIVE', 'PENDING_UPGRADE', 'PENDING_PAYMENT')"


class Subscription(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (
        # One live subscription per user and service, held by the database, not only by code.
        Index("uq_subscriptions_live_user_service", "user_id", "service_id", unique=True,
              postgresql_where=text(_LIVE_SQL), sqlite_where=text(_LIVE_SQL)),
        Index("ix_subscriptions_status_end_date", "status", "end_date"),
        Index("ix_subscriptions_plan_id_status", "plan_id", "status"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"), index=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("service_plans.id", ondelete="RESTRICT"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        Enum(SubscriptionStatus, name="subscription_status", native_enum=False, length=20),
        default=SubscriptionStatus.ACTIVE)
    start_date: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    end_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_billed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_billing: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    monthly_price: Mapped[int] = mapped_column(BigInteger)
    last_charge_amount: Mapped[int | None] = mapped_column(BigInteger)
    failed_charges: Mapped[int] = mapped_column(Integer, default=0)
    previous_plan_id: Mapped[str | None] = mapped_column(String(25))
    upgrade_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)
    grace_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user = relationship("User")
    service = relationship("Service")
    plan = relationship("ServicePlan")
