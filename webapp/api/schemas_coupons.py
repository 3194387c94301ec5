"""Request schemas of the coupon routes (W9-W11, C1-C7), with the original's exact messages."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from .validation import Enum, Integer, IsoDate, Schema, String, StringList, _fail, _iso_date

COUPON_TYPES = ("CREDIT_TOPUP", "SUBSCRIPTION_DISCOUNT", "FREE_SERVICE", "WELCOME_BONUS")
COUPON_STATUSES = ("ACTIVE", "EXPIRED", "DISABLED", "USED_UP")
SETTABLE_STATUSES = ("ACTIVE", "DISABLED", "EXPIRED")
DISCOUNT_TYPES = ("FIXED_AMOUNT", "PERCENTAGE")
PLAN_TYPES = ("FREE", "BASIC", "PRO", "PREMIUM", "ENTERPRISE")


def _trim_upper(value):
    # Joi's .trim().uppercase() rewrite the value before the length and pattern rules run.
    return value.strip().upper() if isinstance(value, str) else value


CouponCode = Annotated[String(3, 50, pattern=r"^[A-Z0-9_-]+$"), BeforeValidator(_trim_upper)]


def _code_messages(label: str) -> dict[str, str]:
    return {"string.pattern.base": "Coupon code can only contain letters, numbers, hyphens, and underscores",
            "string.min": "Coupon code must be at least 3 characters long",
            "string.max": "Coupon code cannot exceed 50 characters"}


def _nullable_date(value):
    return None if value is None else _iso_date(value)


NullableIsoDate = Annotated[Any, BeforeValidator(_nullable_date),
                            WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]})]


def _non_empty_ids(value):
    if isinstance(value, list) and len(value) == 0:
        _fail("array.min", limit=1)
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str) and not item.strip():
                _fail("array.items", index=index)
    return value


# --------------------------------------------------------------------------------------------- wallet
class ValidateCouponBody(Schema):
    couponCode: CouponCode
    serviceId: String(max_length=64) = None
    subscriptionAmount: Integer(0, 2_000_000_000) = None
    context: Enum("billing", "checkout") = None  # additive (fix 27)

    messages = {"couponCode": _code_messages("couponCode")}


class RedeemCouponBody(Schema):
    couponCode: CouponCode

    messages = {"couponCode": _code_messages("couponCode")}


class CouponHistoryQuery(Schema):
    page: Integer(1, 1_000_000) = 1
    limit: Integer(1, 100) = 20
    type: Enum(*COUPON_TYPES) = None


# ---------------------------------------------------------------------------------------------- admin
class CouponCreateBody(Schema):
    code: CouponCode
    name: String(1, 100, trim=True)
    description: String(max_length=500, allow_empty=True) = None
    type: Enum(*COUPON_TYPES)
    creditAmount: Integer(1_000, 10_000_000) = None
    discountType: Enum(*DISCOUNT_TYPES) = None
    discountPercent: Integer(1, 100) = None
    maxUses: Integer(1, 1_000_000) = 1
    maxUsesPerUser: Integer(1, 100) = 1
    serviceId: String(max_length=64) = None
    planType: Enum(*PLAN_TYPES) = None
    validFrom: IsoDate = None
    validUntil: IsoDate = None

    messages = {"code": _code_messages("code")}

    def values(self) -> dict:
        return {"code": self.code, "name": self.name, "description": self.description, "type": self.type,
                "credit_amount": self.creditAmount, "discount_type": self.discountType,
                "discount_percent": self.discountPercent, "max_uses": self.maxUses,
                "max_uses_per_user": self.maxUsesPerUser, "service_id": self.serviceId, "plan_type": self.planType,
                "valid_from": self.validFrom, "valid_until": self.validUntil}


class CouponListQuery(Schema):
    page: Integer(1, 1_000_000) = 1
    limit: Integer(1, 100) = 20
    status: Enum(*COUPON_STATUSES) = None
    type: Enum(*COUPON_TYPES) = None
    serviceId: String(max_length=64) = None
    search: String(1, 100, trim=True) = None


class CouponStatisticsQuery(Schema):
    period: Enum("week", "month", "year") = "month"


class BulkStatusBody(Schema):
    couponIds: Annotated[StringList(max_items=100, item_max_length=64), BeforeValidator(_non_empty_ids)]
    status: Enum(*SETTABLE_STATUSES)


class CouponIdPath(Schema):
    couponId: String(1, 200)


_UPDATE_FIELDS = {"name": "name", "description": "description", "status": "status", "maxUses": "max_uses",
                  "maxUsesPerUser": "max_uses_per_user", "validFrom": "valid_from", "validUntil": "valid_until"}


class CouponUpdateBody(Schema):
    """All optional; an empty body changes nothing. `validUntil: null` clears the expiry (fix)."""

    name: String(1, 100, trim=True) = None
    description: String(max_length=500, allow_empty=True) = None
    status: Enum(*SETTABLE_STATUSES) = None
    maxUses: Integer(1, 1_000_000) = None
    maxUsesPerUser: Integer(1, 100) = None
    validFrom: IsoDate = None
    validUntil: NullableIsoDate = None

    def changes(self) -> dict:
        return {_UPDATE_FIELDS[key]: value for key, value in self.provided().items()}
