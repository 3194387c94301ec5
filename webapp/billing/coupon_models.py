"""Coupons and their redemptions.

The database holds the limits, not only the code:
- `used_count` moves only by the conditional UPDATE in `billing.coupons` (`... WHERE used_count < max_uses`), and a
  CHECK keeps it within 0..max_uses, so a coupon can never be used more often than allowed;
- one redemption per (coupon, user): the unique constraint is the backstop of every redemption path, so
  `max_uses_per_user` is 1 for every coupon (a larger value is refused by the service).
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, CheckConstraint, DateTime, Enum, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import PlanType
from ..db import IdMixin, TimestampMixin, utcnow
from ..extensions import db


class CouponType(str, enum.Enum):
    CREDIT_TOPUP = "CREDIT_TOPUP"
    SUBSCRIPTION_DISCOUNT = "SUBSCRIPTION_DISCOUNT"
    FREE_SERVICE = "FREE_SERVICE"
    WELCOME_BONUS = "WELCOME_BONUS"


CREDIT_TYPES = (CouponType.CREDIT_TOPUP, CouponType.WELCOME_BONUS)
CHECKOUT_TYPES = (CouponType.SUBSCRIPTION_DISCOUNT, CouponType.FREE_SERVICE)


class CouponStatus(str, enum.Enum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    DISABLED = "DISABLED"
    USED_UP = "USED_UP"


class CouponDiscountType(str, enum.Enum):
    FIXED_AMOUNT = "FIXED_AMOUNT"
    PERCENTAGE = "PERCENTAGE"


class Coupon(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("used_count >= 0 AND used_count <= max_uses", name="used_count_within_max_uses"),
        CheckConstraint("max_uses >= 1", name="max_uses_positive"),
        CheckConstraint("max_uses_per_user >= 1", name="max_uses_per_user_positive"),
        CheckConstraint("credit_amount IS NULL OR credit_amount > 0", name="credit_amount_positive"),
        CheckConstraint("discount_percent IS NULL OR (discount_percent BETWEEN 1 AND 100)",
                        name="discount_percent_range"),
        Index("ix_coupons_type_status", "type", "status"),
    )

    # Stored upper-case; every lookup upper-cases and trims its input.
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[CouponType] = mapped_column(Enum(CouponType, name="coupon_type", native_enum=False, length=30))
    status: Mapped[CouponStatus] = mapped_column(Enum(CouponStatus, name="coupon_status", native_enum=False,
                                                      length=20), default=CouponStatus.ACTIVE)
    credit_amount: Mapped[int | None] = mapped_column(BigInteger)
    discount_type: Mapped[CouponDiscountType | None] = mapped_column(
        Enum(CouponDiscountType, name="coupon_discount_type", native_enum=False, length=20))
    discount_percent: Mapped[int | None] = mapped_column(Integer)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    used_count: Mapped[int] = mapped_column(Integer, default=0)
    max_uses_per_user: Mapped[int] = mapped_column(Integer, default=1)
    service_id: Mapped[str | None] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    plan_type: Mapped[PlanType | None] = mapped_column(Enum(PlanType, name="plan_type", native_enum=False, length=20))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))

    service = relationship("Service")
    redemptions: Mapped[list[CouponRedemption]] = relationship(back_populates="coupon", passive_deletes=True,
                                                               order_by="CouponRedemption.redeemed_at.desc()")


class CouponRedemption(IdMixin, db.Model):
    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        UniqueConstraint("coupon_id", "user_id", name="uq_coupon_redemptions_coupon_id_user_id"),
        Index("ix_coupon_redemptions_user_id_redeemed_at", "user_id", "redeemed_at"),
        Index("ix_coupon_redemptions_redeemed_at", "redeemed_at"),
    )

    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redemption_type: Mapped[CouponType] = mapped_column(Enum(CouponType, name="coupon_type", native_enum=False,
                                                             length=30))
    credit_amount: Mapped[int | None] = mapped_column(BigInteger)
    discount_amount: Mapped[int | None] = mapped_column(BigInteger)
    transaction_id: Mapped[str | None] = mapped_column(ForeignKey("transactions.id", ondelete="SET NULL"),
                                                       unique=True)
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id", ondelete="SET NULL"),
                                                        index=True)
    metadata_: Mapped[dict | None] = mapped_column("metadata", JSON)
    redeemed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    coupon: Mapped[Coupon] = relationship(back_populates="redemptions")
    user = relationship("User")
    transaction = relationship("Transaction")
    subscription = relationship("Subscription")
