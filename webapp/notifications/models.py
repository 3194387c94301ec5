"""Notifications: every message PodDesk sends a customer or the staff, persisted once.

`dedupe_key` (unique) makes sending idempotent: the same event (renewal of one subscription for one
period, a reply on one ticket message, ...) can be recorded any number of times but exists once.
Delivery (SMTP, or the console outbox in tests and `make run`) is a job that moves PENDING rows to SENT.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import IdMixin, TimestampMixin
from ..extensions import db


class NotificationType(str, enum.Enum):
    LOW_CREDIT_WARNING = "LOW_CREDIT_WARNING"
    RENEWAL_SUCCESS = "RENEWAL_SUCCESS"
    RENEWAL_FAILURE = "RENEWAL_FAILURE"
    GRACE_PERIOD_REMINDER = "GRACE_PERIOD_REMINDER"
    SUBSCRIPTION_SUSPENDED = "SUBSCRIPTION_SUSPENDED"
    ADMIN_BILLING_SUMMARY = "ADMIN_BILLING_SUMMARY"
    TICKET_OPENED = "TICKET_OPENED"
    TICKET_REPLIED = "TICKET_REPLIED"
    TICKET_CLOSED = "TICKET_CLOSED"
    PASSWORD_RESET = "PASSWORD_RESET"


class NotificationStatus(str, enum.Enum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class Notification(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
                      Index("ix_notifications_status", "status"))

    type: Mapped[NotificationType] = mapped_column(Enum(NotificationType, name="notification_type", native_enum=False,
                                                        length=40))
    # Null user = addressed to the staff (e.g. a new ticket, the billing summary).
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id", ondelete="SET NULL"))
    ticket_id: Mapped[str | None] = mapped_column(String(25), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    recipient: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[NotificationStatus] = mapped_column(
        Enum(NotificationStatus, name="notification_status", native_enum=False, length=20),
        default=NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user = relationship("User")
