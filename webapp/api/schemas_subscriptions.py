"""Request schemas of the subscription routes (U1-U13, A1-A9), with the original's Joi messages."""
from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, WithJsonSchema

from .validation import Boolean, Enum, Integer, IsoDate, Schema, String, _iso_date

STATUSES = ("ACTIVE", "SUSPENDED", "CANCELLED", "EXPIRED", "PENDING_UPGRADE", "PENDING_PAYMENT")


def _id_messages(label: str) -> dict[str, str]:
    return {"string.alphanum": f"{label} must contain only letters and numbers",
            "string.min": f"{label} must be at least 20 characters long",
            "string.max": f"{label} must not exceed 30 characters",
            "any.required": f"{label} is required", "string.empty": f"{label} is required",
            "string.base": f"{label} must be a string"}


CuidId = String(20, 30, alphanum=True)


def _upper(value):
    return value.upper() if isinstance(value, str) else value


CouponCode = Annotated[String(3, 50, pattern=r"^[A-Z0-9_-]+$", trim=True), BeforeValidator(_upper)]


def _nullable_date(value):
    return None if value is None else _iso_date(value)


NullableIsoDate = Annotated[Any, BeforeValidator(_nullable_date),
                            WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]})]


def _reason_messages(required: str | None = None) -> dict[str, str]:
    out = {"string.min": "Reason must be at least 10 characters long",
           "string.max": "Reason cannot exceed 500 characters"}
    if required:
        out.update({"any.required": required, "string.empty": required})
    return out


# ------------------------------------------------------------------------------------------ customer
class SubscriptionIdPath(Schema):
    subscriptionId: CuidId

    messages = {"subscriptionId": _id_messages("Subscription ID")}


class ListQuery(Schema):
    status: Enum(*STATUSES) = None
    includeInstances: Boolean = None

    messages = {"includeInstances": {"boolean.base": "includeInstances must be a boolean value"}}


class PlanBody(Schema):
    planId: CuidId

    messages = {"planId": _id_messages("Plan ID")}


class CreateBody(Schema):
    planId: CuidId
    couponCode: CouponCode = None

    messages = {"planId": _id_messages("Plan ID"),
                "couponCode": {"string.pattern.base": "Coupon code can only contain letters, numbers, hyphens, and underscores",
                               "string.min": "Coupon code must be at least 3 characters long",
                               "string.max": "Coupon code cannot exceed 50 characters",
                               "string.empty": "Coupon code cannot be empty",
                               "string.base": "Coupon code must be a string"}}


class UpgradeBody(Schema):
    newPlanId: CuidId

    messages = {"newPlanId": _id_messages("New plan ID")}


class AutoRenewBody(Schema):
    autoRenew: Boolean

    messages = {"autoRenew": {"any.required": "Auto-renew setting is required",
                              "boolean.base": "Auto-renew must be a boolean value"}}


class CancelBody(Schema):
    reason: String(3, 500, trim=True) = None

    messages = {"reason": {"string.min": "Cancellation reason must be at least 3 characters long",
                           "string.max": "Cancellation reason must not exceed 500 characters",
                           "string.empty": "Cancellation reason must be at least 3 characters long"}}


# --------------------------------------------------------------------------------------------- admin
class AdminSubscriptionIdPath(Schema):
    subscriptionId: String(1, 100)

    messages = {"subscriptionId": {"any.required": "Subscription ID is required",
                                   "string.empty": "Subscription ID is required"}}


class AdminCreateBody(Schema):
    userId: String(1, 100)
    planId: String(1, 100)
    skipCreditCheck: Boolean = False
    reason: String(10, 500, trim=True) = None

    messages = {"userId": {"any.required": "User ID is required", "string.empty": "User ID is required"},
                "planId": {"any.required": "Plan ID is required", "string.empty": "Plan ID is required"},
                "skipCreditCheck": {"boolean.base": "Skip credit check must be a boolean value"},
                "reason": _reason_messages()}


_LIST_MESSAGES = {
    "page": {"number.base": "Page must be a number", "number.integer": "Page must be an integer",
             "number.min": "Page must be at least 1"},
    "limit": {"number.base": "Limit must be a number", "number.integer": "Limit must be an integer",
              "number.min": "Limit must be at least 1", "number.max": "Limit cannot exceed 100"},
    "status": {"any.only": "Status must be one of: " + ", ".join(STATUSES)},
    "search": {"string.min": "Search term must be at least 2 characters long",
               "string.max": "Search term cannot exceed 100 characters"},
}


class AdminListQuery(Schema):
    page: Integer(1) = 1
    limit: Integer(1, 100) = 20
    status: Enum(*STATUSES) = None
    serviceId: String(1, 100) = None
    userId: String(1, 100) = None
    search: String(2, 100, trim=True) = None

    messages = _LIST_MESSAGES


class AdminStatsQuery(Schema):
    startDate: IsoDate = None
    endDate: IsoDate = None

    messages = {"startDate": {"date.format": "Start date must be in ISO format",
                              "date.base": "Start date must be in ISO format"},
                "endDate": {"date.format": "End date must be in ISO format",
                            "date.base": "End date must be in ISO format"}}

    def check(self):
        if (self.startDate is None) != (self.endDate is None):
            return "Both start date and end date are required when filtering by date"
        if self.startDate is not None and self.endDate < self.startDate:
            return "End date must be after start date"
        return None


class ForceCancelBody(Schema):
    reason: String(10, 500, trim=True)
    processRefund: Boolean = False
    terminateInstances: Boolean = True

    messages = {"reason": _reason_messages("Cancellation reason is required"),
                "processRefund": {"boolean.base": "Process refund must be a boolean value"},
                "terminateInstances": {"boolean.base": "Terminate instances must be a boolean value"}}


class RefundBody(Schema):
    amount: Integer(1000, 10_000_000)
    reason: String(10, 500, trim=True)
    refundType: Enum("PARTIAL", "FULL") = "PARTIAL"

    messages = {"amount": {"number.min": "Minimum refund amount is Rp 1,000",
                           "number.max": "Maximum refund amount is Rp 10,000,000",
                           "any.required": "Refund amount is required",
                           "number.base": "Refund amount must be a number",
                           "number.integer": "Refund amount must be an integer",
                           "number.unsafe": "Maximum refund amount is Rp 10,000,000"},
                "reason": _reason_messages("Refund reason is required"),
                "refundType": {"any.only": "Refund type must be either PARTIAL or FULL"}}


class ExtendBody(Schema):
    extensionDays: Integer(1, 365)
    reason: String(10, 500, trim=True)

    messages = {"extensionDays": {"number.min": "Minimum extension is 1 day",
                                  "number.max": "Maximum extension is 365 days",
                                  "any.required": "Extension days is required",
                                  "number.base": "Extension days must be a number",
                                  "number.integer": "Extension days must be an integer",
                                  "number.unsafe": "Maximum extension is 365 days"},
                "reason": _reason_messages("Extension reason is required")}


class AdminUpgradeBody(Schema):
    newPlanId: String(1, 100)
    skipCreditCheck: Boolean = False
    reason: String(10, 500, trim=True) = None

    messages = {"newPlanId": {"any.required": "New plan ID is required", "string.empty": "New plan ID is required"},
                "skipCreditCheck": {"boolean.base": "Skip credit check must be a boolean value"},
                "reason": _reason_messages()}


class ExpireBody(Schema):
    reason: String(10, 500, trim=True)
    terminateInstances: Boolean = True

    messages = {"reason": _reason_messages("Expiration reason is required"),
                "terminateInstances": {"boolean.base": "Terminate instances must be a boolean value"}}


def _date_messages(label: str) -> dict[str, str]:
    return {"date.format": f"{label} must be in ISO format", "date.base": f"{label} must be in ISO format"}


def _money_messages(label: str) -> dict[str, str]:
    return {"number.min": f"{label} cannot be negative", "number.max": f"{label} cannot exceed 10,000,000",
            "number.base": f"{label} must be a number", "number.integer": f"{label} must be an integer",
            "number.unsafe": f"{label} cannot exceed 10,000,000"}


class AdminUpdateBody(Schema):
    status: Enum(*STATUSES) = None
    startDate: IsoDate = None
    endDate: IsoDate = None
    nextBilling: NullableIsoDate = None
    lastBilled: NullableIsoDate = None
    gracePeriodEnd: NullableIsoDate = None
    monthlyPrice: Integer(0, 10_000_000) = None
    lastChargeAmount: Integer(0, 10_000_000, nullable=True) = None
    failedCharges: Integer(0, 10) = None
    autoRenew: Boolean = None

    messages = {"status": {"any.only": "Status must be one of: " + ", ".join(STATUSES)},
                "startDate": _date_messages("Start date"), "endDate": _date_messages("End date"),
                "nextBilling": _date_messages("Next billing date"), "lastBilled": _date_messages("Last billed date"),
                "gracePeriodEnd": _date_messages("Grace period end"),
                "monthlyPrice": _money_messages("Monthly price"),
                "lastChargeAmount": _money_messages("Last charge amount"),
                "failedCharges": {"number.min": "Failed charges cannot be negative",
                                  "number.max": "Failed charges cannot exceed 10",
                                  "number.base": "Failed charges must be a number",
                                  "number.integer": "Failed charges must be an integer"},
                "autoRenew": {"boolean.base": "Auto renew must be a boolean value"}}

    # Columns that cannot hold null: an explicit null there is a 400, not a database error.
    NOT_NULL: ClassVar[tuple] = ("status", "startDate", "endDate", "monthlyPrice", "failedCharges", "autoRenew")

    def check(self):
        if not self.model_fields_set:
            return "At least one field must be provided for update"
        for name in self.NOT_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                return f'"{name}" cannot be null'
        return None
