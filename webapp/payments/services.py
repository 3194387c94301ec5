"""Top-ups through Midtrans: start (Snap), status polling, cancel, notifications, expiry of stale top-ups.

Rule: no network call inside a DB transaction. These services therefore end their own transactions around
Midtrans calls (the only services that commit themselves):
  start_top_up: [tx 1: PENDING row] -> Snap -> [tx 2: token stored]  (Snap failure: [tx 2: row FAILED])
  handle_notification / payment_status / cancel / expiry: [read] -> Core API -> [tx: apply under row lock]

Every Midtrans status, whatever brought it (webhook, polling, the expiry job, a refused cancel), goes through
`apply_provider_status`: one idempotent state machine (spec §3.2):
  settlement, capture+accept         -> COMPLETED, credited once (`ledger.settle_pending`: row lock + conditional
                                        UPDATE status <> COMPLETED; the Midtrans transaction id is claimed in the
                                        unique `idempotency_key` column, so one Midtrans payment settles one order)
  cancel, deny, expire, failure      -> FAILED, only from PENDING (`ledger.mark_pending`)
  refund/chargeback (+partial) on a COMPLETED top-up -> compensating ADMIN_ADJUSTMENT debit (idempotent), flagged
                                        for review in metadata and the audit log; the row stays COMPLETED
  anything else (pending, challenge) -> status unchanged, metadata merged
A COMPLETED row is never downgraded; a paid amount or currency that differs from the stored one is never credited.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, or_, select

from ..accounts.errors import UserNotFound
from ..accounts.models import User
from ..audit import services as audit
from ..billing import ledger
from ..billing.models import Transaction, TransactionStatus, TransactionType
from ..db import utcnow
from ..errors import DomainError
from ..extensions import db
from . import midtrans
from .errors import (CanOnlyCancelPending, InvalidPaymentMethod, TopUpAmountTooHigh, TopUpAmountTooLow,
                     TransactionNotFound)

log = logging.getLogger(__name__)

TOPUP_MIN, TOPUP_MAX = 10_000, 10_000_000
JAKARTA = ZoneInfo("Asia/Jakarta")
MIDTRANS_METHODS = ("MIDTRANS_BANK_TRANSFER", "MIDTRANS_E_WALLET", "MIDTRANS_CREDIT_CARD", "MIDTRANS_QRIS")

# W4, in the original's order.
PAYMENT_METHODS = (
    {"type": "BANK_TRANSFER", "name": "Bank Transfer", "description": "Transfer via BCA, BNI, BRI, Mandiri",
     "icon": "bank", "processingTime": "Instant verification"},
    {"type": "E_WALLET", "name": "E-Wallet", "description": "GoPay, OVO, DANA, LinkAja", "icon": "wallet",
     "processingTime": "Instant"},
    {"type": "CREDIT_CARD", "name": "Credit Card", "description": "Visa, Mastercard", "icon": "credit-card",
     "processingTime": "Instant"},
    {"type": "QRIS", "name": "QRIS", "description": "Quick Response Indonesian Standard", "icon": "qr-code",
     "processingTime": "Instant"},
)

# Fix 7: the chosen method is enforced by Snap's `enabled_payments`.
ENABLED_PAYMENTS = {
    "BANK_TRANSFER": ["bca_va", "bni_va", "bri_va", "echannel", "permata_va", "cimb_va", "other_va"],
    "E_WALLET": ["gopay", "shopeepay"],
    "CREDIT_CARD": ["credit_card"],
    "QRIS": ["other_qris"],
}

SETTLED = "COMPLETED"
FAILED = "FAILED"
REVERSED = "REVERSED"
NO_CHANGE = "PENDING"
_REVERSALS = ("refund", "partial_refund", "chargeback", "partial_chargeback")
TXMP = re.compile(r"^TXMP-\d{1,15}$")


def map_status(transaction_status: str | None, fraud_status: str | None) -> str:
    """§3.2: Midtrans transaction_status / fraud_status -> what happens locally."""
    if transaction_status == "settlement" or (transaction_status == "capture" and fraud_status == "accept"):
        return SETTLED
    if transaction_status in ("cancel", "deny", "expire", "failure"):
        return FAILED
    if transaction_status in _REVERSALS:
        return REVERSED
    return NO_CHANGE


# ------------------------------------------------------------------------------------------ W3
@dataclass(frozen=True)
class TopUpStarted:
    transaction: Transaction
    snap_token: str
    redirect_url: str
    expiry_time: str          # the original's "expiryTime": the Snap window's *start*, "YYYY-MM-DD HH:mm:ss +0700"
    expires_at: datetime      # fix: the real deadline


def start_top_up(user_id: str, amount: int, payment_method: str) -> TopUpStarted:
    """W3: a PENDING TOP_UP row (committed), then Snap, then the token (committed). Snap failing marks the row
    FAILED and raises (503 unavailable / 502 refused); no PENDING row is left without a token."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < TOPUP_MIN:
        raise TopUpAmountTooLow()
    if amount > TOPUP_MAX:
        raise TopUpAmountTooHigh()
    if payment_method not in ENABLED_PAYMENTS:
        raise InvalidPaymentMethod()
    gateway = midtrans.gateway()  # 503 before anything is written when Midtrans is not configured
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise UserNotFound()
    config = current_app.config
    window = int(config.get("TOPUP_EXPIRY_MINUTES") or 60)
    start = datetime.now(JAKARTA).replace(microsecond=0)
    expiry_time = start.strftime("%Y-%m-%d %H:%M:%S %z")
    row = ledger.open_pending(user.id, amount, type=TransactionType.TOP_UP,
                              description=f"Top-up credit via {payment_method}",
                              payment_method=f"MIDTRANS_{payment_method}",
                              metadata={"payment_method": payment_method, "expiry_time": expiry_time})
    transaction_id = row.id
    payload = {
        "transaction_details": {"order_id": transaction_id, "gross_amount": amount},
        "customer_details": {"first_name": user.name, "email": user.email, "phone": user.phone or ""},
        "item_details": [{"id": "topup-credit", "price": amount, "quantity": 1, "name": "Credit Top-Up",
                          "category": "Digital Credit"}],
        "enabled_payments": ENABLED_PAYMENTS[payment_method],
        "expiry": {"start_time": expiry_time, "unit": "minutes", "duration": window},
    }
    callbacks = {key: config.get(f"MIDTRANS_{key.upper()}_URL") for key in ("finish", "unfinish", "error")}
    if any(callbacks.values()):
        payload["callbacks"] = {k: v for k, v in callbacks.items() if v}
    db.session.commit()  # tx 1 ends: the network call happens outside any transaction

    try:
        result = gateway.create_snap_transaction(payload)
    except Exception as exc:
        db.session.rollback()
        error = exc if isinstance(exc, DomainError) else midtrans.PaymentProviderUnavailable()
        ledger.mark_pending(transaction_id, TransactionStatus.FAILED, metadata={
            "error": error.text, "failed_at": utcnow().isoformat(), "provider_error": type(error).__name__})
        db.session.commit()
        if error is not exc:
            log.exception("unexpected error from Snap for %s", transaction_id)
            raise error from exc
        raise

    row = _lock_row(transaction_id)
    row.payment_reference = result["token"]
    row.metadata_ = {**(row.metadata_ or {}), "midtrans_token": result["token"],
                     "midtrans_redirect_url": result["redirect_url"]}
    db.session.commit()  # tx 2
    return TopUpStarted(transaction=row, snap_token=result["token"], redirect_url=result["redirect_url"],
                        expiry_time=expiry_time, expires_at=start + timedelta(minutes=window))


def payment_methods() -> list[dict]:
    return [dict(method) for method in PAYMENT_METHODS]


# ------------------------------------------------------------------------------------------ W5 / W6
def find_owned(user_id: str, transaction_id: str) -> Transaction:
    """The caller's transaction by cuid id or TXMP-<n> (fix 32); anyone else's is "not found"."""
    column = Transaction.custom_id if TXMP.match(transaction_id or "") else Transaction.id
    row = db.session.execute(select(Transaction).where(column == transaction_id, Transaction.user_id == user_id)
                             ).scalar_one_or_none()
    if row is None:
        raise TransactionNotFound()
    return row


def _is_midtrans(row: Transaction) -> bool:
    return row.type == TransactionType.TOP_UP and (row.payment_method or "") in MIDTRANS_METHODS


@dataclass(frozen=True)
class StatusResult:
    transaction: Transaction
    midtrans_status: dict | None


def payment_status(user_id: str, transaction_id: str) -> StatusResult:
    """W5. For a PENDING Midtrans top-up, ask Midtrans and apply what it says (fix 5: a missed webhook still
    credits). Midtrans unreachable or not knowing the order: the local state, without `midtransStatus`."""
    row = find_owned(user_id, transaction_id)
    row_id = row.id
    if row.status != TransactionStatus.PENDING or not _is_midtrans(row):
        return StatusResult(row, None)
    db.session.commit()
    try:
        status = midtrans.gateway().status(row_id)
    except DomainError as exc:
        log.info("status check of %s: %s", row_id, exc.text)
        db.session.rollback()
        return StatusResult(db.session.get(Transaction, row_id), None)
    apply_provider_status(row_id, status, source="status_poll")
    db.session.commit()
    return StatusResult(db.session.get(Transaction, row_id), status)


def cancel_top_up(user_id: str, transaction_id: str) -> Transaction:
    """W6. Only PENDING. Midtrans cancel first; Midtrans not knowing the order (never opened) cancels locally
    (fix 6); Midtrans refusing (412: already paid...) applies its real status and answers 400."""
    row = find_owned(user_id, transaction_id)
    row_id = row.id
    if row.status != TransactionStatus.PENDING:
        raise CanOnlyCancelPending()
    response: dict = {"local_only": True}
    if _is_midtrans(row):
        db.session.commit()
        gateway = midtrans.gateway()
        try:
            response = gateway.cancel(row_id)
        except midtrans.ProviderTransactionNotFound:
            response = {"local_only": True, "reason": "unknown at Midtrans"}
        except midtrans.ProviderCannotModify:
            try:
                apply_provider_status(row_id, gateway.status(row_id), source="cancel_refused")
                db.session.commit()
            except midtrans.PaymentGatewayError:
                db.session.rollback()
            raise CanOnlyCancelPending() from None
    row = _lock_row(row_id)
    moved = ledger.mark_pending(row_id, TransactionStatus.CANCELLED, metadata={
        "cancelled_at": utcnow().isoformat(), "midtrans_cancel_response": _slim(response)})
    if not moved:
        db.session.refresh(row)
        if row.status == TransactionStatus.COMPLETED:  # paid meanwhile: the payment stands
            raise CanOnlyCancelPending()
    db.session.commit()
    return db.session.get(Transaction, row_id)


# ------------------------------------------------------------------------------------------ W12
@dataclass(frozen=True)
class NotificationResult:
    success: bool
    message: str
    outcome: str


def handle_notification(body: dict) -> NotificationResult:
    """W12. Verify the signature, re-fetch the status from Midtrans by order id, apply it.

    Raises `PaymentProviderUnavailable` when Midtrans cannot be asked (the route answers 503 so Midtrans
    retries); every other problem is a 200 `success: false` and changes nothing.
    """
    ignored = NotificationResult(False, "Notification processed", "ignored")
    if not midtrans.verify_notification_signature(body, midtrans.server_key()):
        log.warning("Midtrans notification with a missing or invalid signature for order %r", body.get("order_id"))
        return NotificationResult(False, "Notification processed", "bad_signature")
    order_id = body["order_id"]
    # Only the three columns deciding what to do (no ORM object: the settlement re-reads the row under its lock).
    row = db.session.execute(_NOTIFIED_ROW, {"id": order_id}).first() if len(order_id) <= 25 else None
    if row is None or not _is_midtrans(row):
        db.session.commit()  # ends the read (nothing written)
        log.warning("Midtrans notification for unknown order %r", order_id)
        return ignored
    processed = NotificationResult(True, f"Transaction {order_id} processed successfully", "already_completed")
    if row.status == TransactionStatus.COMPLETED and map_status(body.get("transaction_status"),
                                                                body.get("fraud_status")) in (SETTLED, NO_CHANGE):
        # A repeated (or late pending) notification for a settled order changes nothing: no need to ask Midtrans.
        db.session.commit()
        return processed
    db.session.commit()  # end the read before the network call (nothing written)
    try:
        status = midtrans.gateway().status(order_id)
    except midtrans.ProviderTransactionNotFound:
        log.warning("Midtrans does not know order %s named by a signed notification", order_id)
        return ignored
    except midtrans.PaymentGatewayError:
        return ignored
    outcome = apply_provider_status(order_id, status, source="webhook")
    db.session.commit()
    return NotificationResult(True, f"Transaction {order_id} processed successfully", outcome)


# ------------------------------------------------------------------------------------------ state machine
# Built once: statement construction and cache-key generation are a visible part of a webhook's CPU.
_LOCK_ROW = (select(Transaction).where(Transaction.id == bindparam("id")).with_for_update(key_share=True)
             .execution_options(populate_existing=True))
_NOTIFIED_ROW = select(Transaction.type, Transaction.payment_method, Transaction.status).where(
    Transaction.id == bindparam("id"))


def _lock_row(transaction_id: str) -> Transaction:
    return db.session.execute(_LOCK_ROW, {"id": transaction_id}).scalar_one()


def _amount(value) -> int | None:
    """Midtrans amounts are strings like "100000.00": integer IDR, or None when not a whole number."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount != amount.to_integral_value():
        return None
    return int(amount)


def _slim(status: dict) -> dict:
    keys = ("status_code", "status_message", "transaction_id", "transaction_status", "fraud_status", "payment_type",
            "transaction_time", "gross_amount", "currency", "local_only", "reason")
    return {k: status.get(k) for k in keys if k in status}


def apply_provider_status(transaction_id: str, status: dict, *, source: str) -> str:
    """Apply a status fetched from Midtrans to the top-up `transaction_id`, inside the caller's transaction.

    Returns the outcome: credited, already_completed, failed, unchanged, amount_mismatch, reversed, ignored.
    """
    row = _lock_row(transaction_id)
    if str(status.get("order_id")) != row.id or not _is_midtrans(row):
        log.error("Midtrans status for %r applied to %s: refused", status.get("order_id"), row.id)
        return "ignored"
    ts, fraud = status.get("transaction_status"), status.get("fraud_status")
    now = utcnow().isoformat()
    meta = {"midtrans_status": ts, "midtrans_fraud_status": fraud, "midtrans_payment_type": status.get("payment_type"),
            "midtrans_transaction_time": status.get("transaction_time"),
            "midtrans_transaction_id": status.get("transaction_id"), "last_status_source": source,
            "notification_received_at" if source == "webhook" else "last_status_check": now}
    action = map_status(ts, fraud)

    if action == SETTLED:
        if row.status == TransactionStatus.COMPLETED:
            return "already_completed"
        paid, currency = _amount(status.get("gross_amount")), status.get("currency") or "IDR"
        if paid != row.amount or currency != "IDR":
            log.error("ALERT amount mismatch on %s: stored %s IDR, Midtrans reports %r %s", row.id, row.amount,
                      status.get("gross_amount"), currency)
            mismatch = {**meta, "amount_mismatch": {"expected": row.amount, "paid": status.get("gross_amount"),
                                                    "currency": currency, "detected_at": now}}
            if not ledger.mark_pending(row.id, TransactionStatus.FAILED, metadata=mismatch):
                row.metadata_ = {**(row.metadata_ or {}), **mismatch}
            audit.record(actor=None, action="payments.amount_mismatch", target_type="transaction", target_id=row.id,
                         after=mismatch["amount_mismatch"], reason="Midtrans amount differs from the order",
                         source="job" if source == "expiry_job" else "api")
            return "amount_mismatch"
        # One savepoint claims the Midtrans transaction id (unique `idempotency_key`: one Midtrans payment, one
        # order), credits the wallet and completes the row, under the row lock taken above.
        provider_id = status.get("transaction_id")
        key = f"midtrans:{str(provider_id)[:180]}" if provider_id else None
        posting = ledger.settle_pending(row.id, metadata=meta, counts_as_top_up=True, claim_key=key, locked=row)
        if posting.key_conflict:
            log.error("ALERT Midtrans transaction %s already settled another order; %s not credited", provider_id,
                      transaction_id)
            return "ignored"
        return "credited" if posting.applied else "already_completed"

    if action == FAILED:
        if ledger.mark_pending(row.id, TransactionStatus.FAILED, metadata=meta):
            return "failed"
        if row.status != TransactionStatus.COMPLETED:
            row.metadata_ = {**(row.metadata_ or {}), **meta}
        return "unchanged"

    if action == REVERSED:
        if row.status != TransactionStatus.COMPLETED:
            row.metadata_ = {**(row.metadata_ or {}), **meta}
            return "unchanged"
        return _reverse(row, status, meta, source)

    if row.status != TransactionStatus.COMPLETED:
        row.metadata_ = {**(row.metadata_ or {}), **meta}
    return "unchanged"


def _reverse(row: Transaction, status: dict, meta: dict, source: str) -> str:
    """Refund/chargeback of a COMPLETED top-up: debit what was reversed (as far as the balance allows; the
    wallet cannot go negative), flag the row and the audit log for review.

    Midtrans reports the total reversed so far (`refund_amount`, cumulative; a full refund/chargeback is the
    whole amount). The row remembers the total already accounted for, so each notification debits only the
    difference: repeats, and a full refund after partial ones, never take the money back twice."""
    ts = status.get("transaction_status")
    # A partial reversal names its amount; without one nothing is debited and the review flag says so.
    target = _amount(status.get("refund_amount")) if ts.startswith("partial") else row.amount
    target = max(0, min(target or 0, row.amount))
    previous = (row.metadata_ or {}).get("midtrans_reversal") or {}
    already = int(previous.get("total") or 0)
    reversed_amount = target - already
    key = f"midtrans-reversal:{row.id}:{target}"
    if reversed_amount <= 0 or ledger.find_by_idempotency_key(key) is not None:
        return "already_reversed"
    user = ledger.lock_user(row.user_id)
    debit_amount = min(reversed_amount, user.credit_balance)
    shortfall = reversed_amount - debit_amount
    debit = None
    if debit_amount > 0:
        debit = ledger.debit(row.user_id, debit_amount, type=TransactionType.ADMIN_ADJUSTMENT,
                             description=f"Midtrans {ts} of top-up {row.custom_id}",
                             metadata={"type": "ADMIN_ADJUSTMENT", "adjustmentType": "debit", "reason": f"midtrans_{ts}",
                                       "originalTransactionId": row.id, "shortfall": shortfall},
                             idempotency_key=key, counts_as_spend=False).transaction
    reversal = {"key": key, "status": ts, "amount": reversed_amount, "total": target, "debited": debit_amount,
                "shortfall": shortfall,
                "debit_transaction_id": debit.id if debit else None, "needs_review": True, "at": utcnow().isoformat()}
    row.metadata_ = {**(row.metadata_ or {}), **meta, "midtrans_reversal": reversal}
    audit.record(actor=None, action="payments.midtrans_reversal", target_type="transaction", target_id=row.id,
                 after=reversal, reason=f"Midtrans reported {ts}; review the customer's wallet",
                 source="job" if source == "expiry_job" else "api")
    log.error("ALERT Midtrans %s on completed top-up %s: debited %s, shortfall %s", ts, row.id, debit_amount, shortfall)
    return "reversed"


# ------------------------------------------------------------------------------------------ expiry job
def expire_stale_top_ups(older_than: timedelta | None = None, *, limit: int = 200) -> dict:
    """PENDING Midtrans top-ups past their payment window (+ grace), or without a Snap token for 10 minutes,
    are confirmed with Midtrans first: paid ones are credited, pending ones are expired at Midtrans, unknown
    ones fail locally. Midtrans unreachable: left for the next run."""
    config = current_app.config
    if older_than is None:
        older_than = timedelta(minutes=int(config.get("TOPUP_EXPIRY_MINUTES") or 60)
                               + int(config.get("TOPUP_EXPIRY_GRACE_MINUTES") or 15))
    now = utcnow()
    ids = db.session.execute(
        select(Transaction.id).where(
            Transaction.type == TransactionType.TOP_UP, Transaction.status == TransactionStatus.PENDING,
            Transaction.payment_method.in_(MIDTRANS_METHODS),
            or_(Transaction.created_at < now - older_than,
                Transaction.payment_reference.is_(None) & (Transaction.created_at < now - min(older_than,
                                                                                            timedelta(minutes=10)))))
        .order_by(Transaction.created_at).limit(limit)).scalars().all()
    db.session.commit()
    counts = {"checked": 0, "credited": 0, "failed": 0, "skipped": 0}
    if not ids:
        return counts
    gateway = midtrans.gateway()
    for transaction_id in ids:
        counts["checked"] += 1
        try:
            status = gateway.status(transaction_id)
            if status.get("transaction_status") == "pending":
                status = gateway.expire(transaction_id)
        except midtrans.ProviderTransactionNotFound:
            status = None
        except midtrans.PaymentGatewayError:
            counts["skipped"] += 1
            continue
        except midtrans.PaymentProviderUnavailable:
            counts["skipped"] += 1
            continue
        if status is None:
            moved = ledger.mark_pending(transaction_id, TransactionStatus.FAILED, metadata={
                "expired_locally_at": utcnow().isoformat(), "reason": "payment window passed; unknown at Midtrans"})
            outcome = "failed" if moved else "unchanged"
        else:
            outcome = apply_provider_status(transaction_id, status, source="expiry_job")
        db.session.commit()
        if outcome in ("credited", "failed"):
            counts[outcome] += 1
        else:
            counts["skipped"] += 1
    return counts
