"""Midtrans data model of the simulator: transactions, Snap request validation and Midtrans-shaped bodies.

Owns: the `Transaction` record, the status-code table, the notification signature, the Snap `POST /transactions`
validation rules and the JSON bodies returned by the Core API (`/v2/...`) and posted as HTTP notifications.
No HTTP or threading here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

JAKARTA = timezone(timedelta(hours=7), "WIB")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# `status_code` Midtrans puts in a status response / notification for each `transaction_status`.
STATUS_CODES = {
    "settlement": "200", "capture": "200", "authorize": "200", "refund": "200", "partial_refund": "200",
    "chargeback": "200", "partial_chargeback": "200", "pending": "201",
    "deny": "202", "cancel": "202", "expire": "202", "failure": "202",
}

# Snap `enabled_payments` names -> Core `payment_type` (the payment page offers the types a transaction enables).
PAYMENT_TYPES = {
    "bank_transfer": {"bank_transfer", "bca_va", "bni_va", "bri_va", "permata_va", "cimb_va", "other_va"},
    "echannel": {"echannel"},
    "credit_card": {"credit_card"},
    "gopay": {"gopay"},
    "shopeepay": {"shopeepay"},
    "qris": {"qris", "other_qris"},
    "cstore": {"indomaret", "alfamart"},
}

_ORDER_ID = re.compile(r"[A-Za-z0-9\-_.~]{1,50}")
_UNITS = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}


def notification_signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """Midtrans `signature_key`: hex SHA-512 of order_id + status_code + gross_amount (as sent, e.g. "100000.00") + server key."""
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def now_jakarta() -> datetime:
    return datetime.now(JAKARTA)


def fmt(ts: datetime | None) -> str | None:
    return ts.astimezone(JAKARTA).strftime(TIME_FORMAT) if ts else None


def payment_types_for(enabled_payments: list[str] | None) -> list[str]:
    if not enabled_payments:
        return list(PAYMENT_TYPES)
    wanted = set(enabled_payments)
    return [ptype for ptype, names in PAYMENT_TYPES.items() if names & wanted] or list(PAYMENT_TYPES)


class SnapError(Exception):
    """A Snap request rejected like Midtrans does: HTTP `status` with `error_messages`."""

    def __init__(self, status: int, *messages: str):
        super().__init__("; ".join(messages))
        self.status, self.messages = status, list(messages)


@dataclass
class Transaction:
    order_id: str
    gross_amount: int
    token: str | None = None
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    transaction_status: str = "pending"
    fraud_status: str = "accept"
    payment_type: str | None = None        # None until the customer picked a method (Snap order not "opened")
    transaction_time: datetime = field(default_factory=now_jakarta)
    settlement_time: datetime | None = None
    expiry_time: datetime | None = None
    finish_url: str | None = None
    notify_urls: list[str] | None = None   # per-transaction X-Override/X-Append-Notification result; None = default
    enabled_payments: list[str] | None = None
    request: dict = field(default_factory=dict)

    @property
    def amount(self) -> str:
        return f"{self.gross_amount}.00"

    @property
    def status_code(self) -> str:
        return STATUS_CODES.get(self.transaction_status, "200")

    def with_status(self, status: str, fraud_status: str | None = None) -> "Transaction":
        return dataclasses.replace(self, transaction_status=status, fraud_status=fraud_status or self.fraud_status)

    def body(self, server_key: str, status_message: str, *, status_code: str | None = None,
             signing_key: str | None = None) -> dict:
        """Core API status / notification body, signed with `signing_key` (default: the server key)."""
        code, amount = status_code or self.status_code, self.amount
        body = {
            "status_code": code,
            "status_message": status_message,
            "transaction_id": self.transaction_id,
            "order_id": self.order_id,
            "merchant_id": "G000000000",
            "gross_amount": amount,
            "currency": "IDR",
            "payment_type": self.payment_type or default_payment_type(self.enabled_payments),
            "transaction_time": fmt(self.transaction_time),
            "transaction_status": self.transaction_status,
            "fraud_status": self.fraud_status,
            "signature_key": notification_signature(self.order_id, code, amount, signing_key or server_key),
        }
        if self.settlement_time:
            body["settlement_time"] = fmt(self.settlement_time)
        if self.expiry_time:
            body["expiry_time"] = fmt(self.expiry_time)
        return body

    def public(self) -> dict:
        """Everything the simulator knows, for `/_sim/transactions`."""
        data = dataclasses.asdict(self)
        for key in ("transaction_time", "settlement_time", "expiry_time"):
            data[key] = fmt(getattr(self, key))
        data["gross_amount_str"] = self.amount
        return data


def default_payment_type(enabled_payments: list[str] | None) -> str:
    return payment_types_for(enabled_payments)[0]


def _int_amount(value, name: str) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise SnapError(400, f"{name} is required" if value in (None, "") else f"{name} must be a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise SnapError(400, f"{name} must be a number") from None
    if amount != amount.to_integral_value():
        raise SnapError(400, f"{name} must be an integer (IDR has no decimals)")
    return int(amount)


def parse_snap_request(payload) -> dict:
    """Validate a Snap create-transaction body; return the fields the store keeps. Raises `SnapError` (400)."""
    if not isinstance(payload, dict):
        raise SnapError(400, "Request body is not valid JSON object")
    details = payload.get("transaction_details")
    if not isinstance(details, dict):
        raise SnapError(400, "transaction_details is required")
    errors: list[str] = []
    order_id = details.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        errors.append("transaction_details.order_id is required")
    elif not _ORDER_ID.fullmatch(order_id):
        errors.append("transaction_details.order_id may only contain alphanumeric, '-', '_', '~' and '.' (max 50)")
    gross = None
    try:
        gross = _int_amount(details.get("gross_amount"), "transaction_details.gross_amount")
        if gross < 1:
            errors.append("transaction_details.gross_amount must be greater than or equal to 1")
    except SnapError as exc:
        errors.extend(exc.messages)
    items = payload.get("item_details")
    if items is not None and gross is not None and not errors:
        try:
            total = sum(_int_amount(i.get("price"), "item_details.price") * _int_amount(i.get("quantity"), "item_details.quantity")
                        for i in items)
        except (SnapError, AttributeError, TypeError):
            errors.append("item_details must be a list of {id, price, quantity, name}")
        else:
            if total != gross:
                errors.append("transaction_details.gross_amount is not equal to the sum of item_details")
    expiry_time = None
    expiry = payload.get("expiry")
    if expiry is not None:
        try:
            start = datetime.strptime(expiry["start_time"], TIME_FORMAT + " %z") if expiry.get("start_time") else now_jakarta()
            expiry_time = start + timedelta(minutes=_UNITS[str(expiry.get("unit", "")).lower()] * int(expiry["duration"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            errors.append("expiry must be {start_time: 'yyyy-MM-dd hh:mm:ss Z', unit: minute|hour|day, duration: integer}")
    if errors:
        raise SnapError(400, *errors)
    callbacks = payload.get("callbacks") if isinstance(payload.get("callbacks"), dict) else {}
    enabled = payload.get("enabled_payments")
    return {"order_id": order_id, "gross_amount": gross, "expiry_time": expiry_time, "finish_url": callbacks.get("finish"),
            "enabled_payments": list(enabled) if isinstance(enabled, list) else None, "request": payload}
