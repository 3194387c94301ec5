"""Request schemas of the wallet (W1-W8, W12) and admin wallet (A1-A6) routes, with the original's messages."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema

from .validation import Boolean, Enum, Integer, Schema, String, _fail, _iso_date, _string_validator

TRANSACTION_TYPES = ("TOP_UP", "SUBSCRIPTION", "UPGRADE", "REFUND", "ADMIN_ADJUSTMENT", "COUPON_REDEMPTION")
TRANSACTION_STATUSES = ("PENDING", "COMPLETED", "FAILED", "CANCELLED", "REFUNDED")
PAYMENT_METHODS = ("BANK_TRANSFER", "E_WALLET", "CREDIT_CARD", "QRIS")
TXMP = re.compile(r"^TXMP-\d{1,15}$")


def _id_messages(label: str) -> dict[str, str]:
    return {"string.alphanum": f"{label} must contain only letters and numbers",
            "string.min": f"{label} must be at least 20 characters long",
            "string.max": f"{label} must not exceed 30 characters",
            "any.required": f"{label} is required", "string.empty": f"{label} is required"}


_cuid = _string_validator(min_length=20, max_length=30, pattern=None, pattern_name=None, email=False, uri=False,
                          trim=False, allow_empty=False, lowercase=False, valid=None, nullable=False, alphanum=True)


def _transaction_id(value):
    """The cuid (20-30 alphanumerics) or, additionally (fix 32), the display id TXMP-<n>."""
    if isinstance(value, str) and TXMP.match(value):
        return value
    return _cuid(value)


TransactionId = Annotated[Any, BeforeValidator(_transaction_id),
                          WithJsonSchema({"type": "string", "pattern": r"^([A-Za-z0-9]{20,30}|TXMP-\d+)$"})]
CuidId = String(20, 30, alphanum=True)


class DateOnly(datetime):
    """An ISO date without a time: as an upper bound it means "through the end of that day" (fix 31)."""


def _end_date(value):
    parsed = _iso_date(value)
    if isinstance(value, str) and "T" not in value:
        return DateOnly(parsed.year, parsed.month, parsed.day, tzinfo=timezone.utc)
    return parsed


EndDate = Annotated[Any, BeforeValidator(_end_date), WithJsonSchema({"type": "string", "format": "date"})]
StartDate = Annotated[Any, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})]


# ------------------------------------------------------------------------------------------ customer
class TransactionIdPath(Schema):
    transactionId: TransactionId

    messages = {"transactionId": _id_messages("Transaction ID")}


class TransactionListQuery(Schema):
    page: Integer(1) = 1
    limit: Integer(1, 100) = 20
    type: Enum(*TRANSACTION_TYPES) = None
    status: Enum(*TRANSACTION_STATUSES) = None
    startDate: StartDate = None
    endDate: EndDate = None

    def check(self) -> str | None:
        if self.startDate is not None and self.endDate is not None and self.endDate < self.startDate:
            return '"endDate" must be greater than or equal to "ref:startDate"'
        return None


class TopUpBody(Schema):
    amount: Integer(10_000, 10_000_000)
    paymentMethod: Enum(*PAYMENT_METHODS)

    messages = {
        "amount": {"number.min": "Minimum top-up amount is Rp 10,000",
                   "number.max": "Maximum top-up amount is Rp 10,000,000", "any.required": "Amount is required"},
        "paymentMethod": {"any.only": "Payment method must be one of: " + ", ".join(PAYMENT_METHODS),
                          "any.required": "Payment method is required"},
    }


class StatisticsQuery(Schema):
    period: Enum("day", "week", "month", "year") = "month"


class CheckCreditBody(Schema):
    amount: Integer(1)

    messages = {"amount": {"number.min": "Amount must be greater than 0", "any.required": "Amount is required"}}


def _optional_text(value):
    """Midtrans sends null (or omits) optional fields: accepted (fix 10); otherwise a string."""
    if value is None:
        return None
    if not isinstance(value, str):
        _fail("string.base")
    return value


OptionalText = Annotated[Any, BeforeValidator(_optional_text),
                         WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]})]


class MidtransNotificationBody(Schema):
    """W12: the keys the handler needs; any other key Midtrans sends is allowed."""

    model_config = ConfigDict(extra="allow")

    order_id: String(max_length=100)
    transaction_status: String(max_length=50)
    fraud_status: OptionalText = None
    payment_type: OptionalText = None
    transaction_time: OptionalText = None
    signature_key: OptionalText = None


# ------------------------------------------------------------------------------------------ admin
_AMOUNT = {"number.base": "Amount must be a number", "number.integer": "Amount must be an integer",
           "number.min": "Amount must be at least 1,000 IDR", "number.max": "Amount cannot exceed 100,000,000 IDR",
           "any.required": "Amount is required"}
_REASON = {"string.empty": "Reason is required", "string.min": "Reason must be at least 5 characters long",
           "string.max": "Reason cannot exceed 200 characters"}
_DESCRIPTION = {"string.max": "Description cannot exceed 500 characters"}
_ALLOW_NEGATIVE = {"boolean.base": "allowNegative must be a boolean value"}
USER_ID = _id_messages("User ID")


class UserIdPath(Schema):
    userId: CuidId

    messages = {"userId": USER_ID}


class OverviewQuery(Schema):
    page: Integer(1) = 1
    limit: Integer(1, 100) = 10
    search: String(1, 100) = None
    sortBy: Enum("creditBalance", "totalTopUp", "totalSpent", "createdAt") = "totalSpent"
    sortOrder: Enum("asc", "desc") = "desc"
    minBalance: Integer() = None
    maxBalance: Integer() = None

    messages = {
        "page": {"number.base": "Page must be a number", "number.integer": "Page must be an integer",
                 "number.min": "Page must be at least 1"},
        "limit": {"number.base": "Limit must be a number", "number.integer": "Limit must be an integer",
                  "number.min": "Limit must be at least 1", "number.max": "Limit cannot exceed 100"},
        "search": {"string.empty": "Search term must be at least 1 character long",
                   "string.min": "Search term must be at least 1 character long",
                   "string.max": "Search term cannot exceed 100 characters"},
        "sortBy": {"any.only": "sortBy must be one of: creditBalance, totalTopUp, totalSpent, createdAt"},
        "sortOrder": {"any.only": 'sortOrder must be either "asc" or "desc"'},
        "minBalance": {"number.base": "Minimum balance must be a number",
                       "number.integer": "Minimum balance must be an integer"},
        "maxBalance": {"number.base": "Maximum balance must be a number",
                       "number.integer": "Maximum balance must be an integer"},
    }


class AddCreditBody(Schema):
    amount: Integer(1_000, 100_000_000)
    reason: String(5, 200)
    description: String(max_length=500) = None

    messages: ClassVar[dict] = {"amount": _AMOUNT, "reason": _REASON, "description": _DESCRIPTION}


class DeductCreditBody(AddCreditBody):
    allowNegative: Boolean = False

    messages: ClassVar[dict] = {**AddCreditBody.messages, "allowNegative": _ALLOW_NEGATIVE}


class BulkAdjustmentItem(Schema):
    userId: CuidId
    type: Enum("ADD", "DEDUCT")
    amount: Integer(1_000, 100_000_000)
    allowNegative: Boolean = False


class BulkAdjustmentBody(Schema):
    adjustments: Annotated[list[BulkAdjustmentItem], Field(min_length=1, max_length=100)]
    reason: String(5, 200)
    description: String(max_length=500) = None

    messages: ClassVar[dict] = {
        "adjustments": {"array.base": "Adjustments must be an array", "array.min": "At least one adjustment is required",
                        "array.max": "Cannot process more than 100 adjustments at once",
                        "any.required": "Adjustments array is required"},
        "adjustments.userId": USER_ID,
        "adjustments.type": {"any.only": 'Type must be either "ADD" or "DEDUCT"', "any.required": "Type is required"},
        "adjustments.amount": _AMOUNT,
        "adjustments.allowNegative": _ALLOW_NEGATIVE,
        "reason": _REASON,
        "description": _DESCRIPTION,
    }

