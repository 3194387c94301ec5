"""Billing: the wallet ledger. Every change of a user's balance writes exactly one Transaction row.

The ledger primitives (credit, debit, refund under a row lock) arrive with the money issue; the
table and its TXMP sequence exist from the start because analytics and the welcome bonus read them.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime, Enum, ForeignKey, Index, Integer, Sequence, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import IdMixin, TimestampMixin
from ..extensions import db

# TXMP-<n>: display ids from a database sequence starting at 101, like the original.
transaction_number_seq = Sequence("transaction_sequence", start=101, metadata=db.metadata)


class TransactionNumber(db.Model):
    """SQLite stand-in for `transaction_sequence` (embedded mode): AUTOINCREMENT never reuses a number."""

    __tablename__ = "transaction_numbers"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)


class TransactionType(str, enum.Enum):
    TOP_UP = "TOP_UP"
    SUBSCRIPTION = "SUBSCRIPTION"
    UPGRADE = "UPGRADE"
    REFUND = "REFUND"
    ADMIN_ADJUSTMENT = "ADMIN_ADJUSTMENT"
    COUPON_REDEMPTION = "COUPON_REDEMPTION"


class TransactionStatus(str, enum.Enum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


class Transaction(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        Index("ix_transactions_user_id_created_at", "user_id", "created_at"),
        Index("ix_transactions_type_status_created_at", "type", "status", "created_at"),
    )

    custom_id: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[TransactionType] = mapped_column(Enum(TransactionType, name="transaction_type", native_enum=False,
                                                       length=30))
    status: Mapped[TransactionStatus] = mapped_column(
        Enum(TransactionStatus, name="transaction_status", native_enum=False, length=20),
        default=TransactionStatus.PENDING)
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_before: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    payment_method: Mapped[str | None] = mapped_column(String(40))
    payment_reference: Mapped[str | None] = mapped_column(String(255))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id", ondelete="SET NULL"),
                                                        index=True)
    description: Mapped[str] = mapped_column(Text)
    metadata_: Mapped[dict | None] = mapped_column("metadata", JSON)
    processed_by: Mapped[str | None] = mapped_column(String(25))
    admin_notes: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Operations that may repeat (webhooks, renewals, retries) carry a key; the unique index makes the
    # second attempt fail instead of moving money twice.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    user = relationship("User")
    subscription = relationship("Subscription")
