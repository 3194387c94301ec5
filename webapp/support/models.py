"""Support tickets: a customer's ticket, the conversation on it, and the image files attached to either.

The status moves only through `support.services` (conditional UPDATEs, see `ALLOWED_TRANSITIONS`):

    OPEN --staff reply--> IN_PROGRESS --close--> CLOSED --staff reopen--> OPEN
    OPEN --close--> CLOSED

Ticket numbers come from the PostgreSQL sequence `ticket_number_seq` (gaps after rollbacks are
expected); on SQLite `services.next_ticket_number` uses max+1 inside the serialised write transaction.
Attachment files live under `UPLOAD_FOLDER`; a row keeps only the relative `storage_key`.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (Boolean, CheckConstraint, DateTime, Enum, ForeignKey, Index, Integer, Sequence, String, Text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import IdMixin, TimestampMixin, utcnow
from ..extensions import db

ticket_number_seq = Sequence("ticket_number_seq", start=1, metadata=db.metadata)


class TicketStatus(str, enum.Enum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    CLOSED = "CLOSED"


# The workflow as data: (from, to) pairs that a service may perform, and which one performs it.
ALLOWED_TRANSITIONS = {
    (TicketStatus.OPEN, TicketStatus.IN_PROGRESS): "staff reply",
    (TicketStatus.OPEN, TicketStatus.CLOSED): "close (owner or staff)",
    (TicketStatus.IN_PROGRESS, TicketStatus.CLOSED): "close (owner or staff)",
    (TicketStatus.CLOSED, TicketStatus.OPEN): "staff reopen",
}


def display_number(number: int | None) -> str | None:
    """`#001` for 1, `#1000` for 1000 (the original's format)."""
    return None if number is None else f"#{number:03d}"


class Ticket(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_user_id_created_at", "user_id", "created_at"),
        Index("ix_tickets_status", "status"),
        Index("ix_tickets_waiting_since", "waiting_since"),
    )

    ticket_number: Mapped[int] = mapped_column(Integer, unique=True)
    subject: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[TicketStatus] = mapped_column(
        Enum(TicketStatus, name="ticket_status", native_enum=False, length=20), default=TicketStatus.OPEN)
    # No cascade: users are soft-deleted (anonymised), their tickets stay.
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(25))  # user id of whoever closed it (owner or staff)
    # When the customer started waiting for staff (creation, or their first unanswered message); null
    # while the staff has answered or the ticket is closed. The console inbox sorts on it.
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)

    user = relationship("User", foreign_keys=[user_id])
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="(TicketMessage.created_at, TicketMessage.id)",
        cascade="all, delete-orphan", passive_deletes=True)
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="ticket", order_by="(TicketAttachment.created_at, TicketAttachment.id)",
        cascade="all, delete-orphan", passive_deletes=True)

    @property
    def number(self) -> str | None:
        return display_number(self.ticket_number)

    def __repr__(self) -> str:
        return f"<Ticket {self.number} {self.status}>"


class TicketMessage(IdMixin, db.Model):
    __tablename__ = "ticket_messages"
    __table_args__ = (Index("ix_ticket_messages_ticket_id_created_at", "ticket_id", "created_at"),)

    content: Mapped[str] = mapped_column(Text)
    is_admin_reply: Mapped[bool] = mapped_column(Boolean, default=False)  # posted through a staff route
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    ticket = relationship("Ticket", back_populates="messages")
    author = relationship("User")
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="message", order_by="(TicketAttachment.created_at, TicketAttachment.id)",
        cascade="all, delete-orphan", passive_deletes=True)


class TicketAttachment(IdMixin, db.Model):
    """One verified, re-encoded image. Exactly one of `ticket_id` (sent with the ticket) and `message_id`."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (
        CheckConstraint("(ticket_id IS NULL) <> (message_id IS NULL)", name="exactly_one_parent"),
        Index("ix_ticket_attachments_ticket_id", "ticket_id"),
        Index("ix_ticket_attachments_message_id", "message_id"),
    )

    filename: Mapped[str] = mapped_column(String(255))  # the client's name, cleaned; display only
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)  # tickets/YYYY/MM/<uuid>.<ext>
    file_size: Mapped[int] = mapped_column(Integer)
    mime_type: Mapped[str] = mapped_column(String(20))  # from the decoded format, never the client's claim
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    ticket_id: Mapped[str | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    message_id: Mapped[str | None] = mapped_column(ForeignKey("ticket_messages.id", ondelete="CASCADE"))
    uploaded_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    ticket = relationship("Ticket", back_populates="attachments")
    message = relationship("TicketMessage", back_populates="attachments")

    @property
    def stored_name(self) -> str:
        return self.storage_key.rsplit("/", 1)[-1]
