"""Support rules: opening tickets, the conversation, the status workflow, statistics and attachment access.

Every status change is one conditional UPDATE (`... WHERE status IN (...)`), so concurrent requests
cannot both perform the same transition; zero rows updated is re-read once to choose the error.
Customers only ever reach their own tickets (another customer's ticket or attachment is "not found").
Writes run inside the caller's unit of work (flush, never commit); files are written through
`storage.store`, which deletes them again if that transaction does not commit. Notifications are
recorded with `notifications.services.notify` in the same transaction (idempotent per dedupe key).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Iterable

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import selectinload

from ..audit.services import record
from ..db import is_postgres, new_id, utcnow
from ..extensions import db
from ..notifications.models import NotificationType
from ..notifications.services import notify
from . import storage
from .errors import (AttachmentFileMissing, AttachmentNotFound, TicketAlreadyClosed, TicketClosed, TicketNotFound,
                     TicketNotFoundOrDenied)
from .models import Ticket, TicketAttachment, TicketMessage, TicketStatus, ticket_number_seq
from .uploads import VerifiedImage

RECENT_DAYS = 7


@dataclass
class TicketPage:
    tickets: list[Ticket]
    total: int
    message_counts: dict[str, int] = field(default_factory=dict)
    attachment_counts: dict[str, int] = field(default_factory=dict)  # ticket-level attachments only (D20)


@dataclass
class BulkCloseResult:
    closed: list[Ticket]
    failed: list[tuple[str, str]]  # (ticket id, error message)


# ------------------------------------------------------------------------------------------ helpers
def next_ticket_number() -> int:
    """The next ticket number: the PostgreSQL sequence; on SQLite max+1 (SQLite serialises write transactions)."""
    if is_postgres():
        return db.session.execute(ticket_number_seq.next_value()).scalar_one()
    current = db.session.execute(select(func.max(Ticket.ticket_number))).scalar_one()
    return (current or 0) + 1


def _load_ticket(ticket_id: str, *, owner_id: str | None = None) -> Ticket | None:
    query = select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
    if owner_id is not None:
        query = query.where(Ticket.user_id == owner_id)
    return db.session.execute(query).scalar_one_or_none()


def _exists(ticket_id: str, *, owner_id: str | None = None) -> bool:
    query = select(Ticket.id).where(Ticket.id == ticket_id)
    if owner_id is not None:
        query = query.where(Ticket.user_id == owner_id)
    return db.session.execute(query).first() is not None


def _conditional_update(ticket_id: str, *criteria, **values) -> bool:
    result = db.session.execute(update(Ticket).where(Ticket.id == ticket_id, *criteria).values(**values)
                                .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _attach(images: Iterable[VerifiedImage], *, uploader_id: str, ticket_id: str | None = None,
            message_id: str | None = None) -> list[TicketAttachment]:
    rows = []
    for image in images:
        key = storage.store(image.data, image.extension)
        row = TicketAttachment(id=new_id(), filename=image.filename, storage_key=key, file_size=len(image.data),
                               mime_type=image.mime_type, width=image.width, height=image.height,
                               ticket_id=ticket_id, message_id=message_id, uploaded_by=uploader_id)
        db.session.add(row)
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------ creation
def create_ticket(*, user, subject: str, description: str, images: Iterable[VerifiedImage] = ()) -> Ticket:
    """T3: a new OPEN ticket with its ticket-level attachments; the staff is notified."""
    now = utcnow()
    ticket = Ticket(id=new_id(), ticket_number=next_ticket_number(), subject=subject, description=description,
                    status=TicketStatus.OPEN, user_id=user.id, created_at=now, updated_at=now, waiting_since=now)
    db.session.add(ticket)
    db.session.flush()
    _attach(images, uploader_id=user.id, ticket_id=ticket.id)
    notify(type=NotificationType.TICKET_OPENED, dedupe_key=f"ticket-opened:{ticket.id}",
           subject=f"New ticket {ticket.number}: {subject}", body=description, user=None, ticket_id=ticket.id,
           data={"ticketId": ticket.id, "ticketNumber": ticket.number, "userId": user.id})
    db.session.flush()
    return _load_ticket(ticket.id)


# ------------------------------------------------------------------------------------------ messages
def add_customer_message(*, user, ticket_id: str, content: str, images: Iterable[VerifiedImage] = ()) -> TicketMessage:
    """T5: the owner writes on their ticket. CLOSED tickets refuse (D16); the status never changes."""
    now = utcnow()
    touched = _conditional_update(
        ticket_id, Ticket.user_id == user.id, Ticket.status != TicketStatus.CLOSED,
        updated_at=now, waiting_since=func.coalesce(Ticket.waiting_since, now))
    if not touched:
        if _exists(ticket_id, owner_id=user.id):
            raise TicketClosed()
        raise TicketNotFound()
    return _add_message(ticket_id=ticket_id, author=user, content=content, images=images, staff=False, now=now)


def add_staff_reply(*, admin, ticket_id: str, content: str, images: Iterable[VerifiedImage] = ()) -> TicketMessage:
    """AT5: a staff reply. OPEN becomes IN_PROGRESS in the same UPDATE that locks the row; IN_PROGRESS and
    CLOSED keep their status (a reply never reopens). The customer is notified."""
    now = utcnow()
    touched = _conditional_update(
        ticket_id,
        status=case((Ticket.status == TicketStatus.OPEN, TicketStatus.IN_PROGRESS.value), else_=Ticket.status),
        updated_at=now, waiting_since=None)
    if not touched:
        raise TicketNotFound()
    message = _add_message(ticket_id=ticket_id, author=admin, content=content, images=images, staff=True, now=now)
    ticket = message.ticket
    notify(type=NotificationType.TICKET_REPLIED, dedupe_key=f"ticket-reply:{message.id}",
           subject=f"New reply on ticket {ticket.number}: {ticket.subject}", body=content, user=ticket.user,
           ticket_id=ticket.id, data={"ticketId": ticket.id, "ticketNumber": ticket.number, "messageId": message.id})
    return message


def _add_message(*, ticket_id: str, author, content: str, images, staff: bool, now) -> TicketMessage:
    message = TicketMessage(id=new_id(), content=content, is_admin_reply=staff, ticket_id=ticket_id,
                            author_id=author.id, created_at=now)
    db.session.add(message)
    db.session.flush()
    _attach(images, uploader_id=author.id, message_id=message.id)
    db.session.flush()
    return db.session.execute(select(TicketMessage).where(TicketMessage.id == message.id)
                              .options(selectinload(TicketMessage.attachments), selectinload(TicketMessage.author),
                                       selectinload(TicketMessage.ticket).selectinload(Ticket.user))
                              .execution_options(populate_existing=True)).scalar_one()


# ------------------------------------------------------------------------------------------ workflow
def close_ticket_as_owner(*, user, ticket_id: str) -> Ticket:
    """T6: the owner closes an OPEN or IN_PROGRESS ticket; a second close is 400 (race-free)."""
    now = utcnow()
    closed = _conditional_update(ticket_id, Ticket.user_id == user.id, Ticket.status != TicketStatus.CLOSED,
                                 status=TicketStatus.CLOSED.value, closed_at=now, closed_by=user.id, updated_at=now,
                                 waiting_since=None)
    if not closed:
        if _exists(ticket_id, owner_id=user.id):
            raise TicketAlreadyClosed()
        raise TicketNotFoundOrDenied()
    return _load_ticket(ticket_id)


def close_ticket_as_staff(*, admin, ticket_id: str, source: str = "api") -> Ticket:
    """AT6: staff close. Closing a CLOSED ticket succeeds without rewriting closedAt/closedBy (D15).
    The customer is notified once per close event."""
    now = utcnow()
    closed = _conditional_update(ticket_id, Ticket.status != TicketStatus.CLOSED,
                                 status=TicketStatus.CLOSED.value, closed_at=now, closed_by=admin.id, updated_at=now,
                                 waiting_since=None)
    ticket = _load_ticket(ticket_id)
    if ticket is None:
        raise TicketNotFound()
    if closed:
        notify(type=NotificationType.TICKET_CLOSED, dedupe_key=f"ticket-closed:{ticket.id}:{now.isoformat()}",
               subject=f"Ticket {ticket.number} was closed: {ticket.subject}",
               body=f"Your ticket {ticket.number} was closed by our support team.", user=ticket.user,
               ticket_id=ticket.id, data={"ticketId": ticket.id, "ticketNumber": ticket.number})
        record(actor=admin, action="ticket.close", target_type="ticket", target_id=ticket.id,
               before=None, after={"status": TicketStatus.CLOSED.value}, source=source)
    return ticket


def reopen_ticket(*, admin, ticket_id: str, source: str = "api") -> Ticket:
    """AT7: staff reopen CLOSED -> OPEN (closedAt/closedBy cleared). Reopening an open ticket changes nothing."""
    now = utcnow()
    reopened = _conditional_update(ticket_id, Ticket.status == TicketStatus.CLOSED,
                                   status=TicketStatus.OPEN.value, closed_at=None, closed_by=None, updated_at=now,
                                   waiting_since=now)
    ticket = _load_ticket(ticket_id)
    if ticket is None:
        raise TicketNotFound()
    if reopened:
        record(actor=admin, action="ticket.reopen", target_type="ticket", target_id=ticket.id,
               before={"status": TicketStatus.CLOSED.value}, after={"status": TicketStatus.OPEN.value}, source=source)
    return ticket


def bulk_close(*, admin, ticket_ids: list[str]) -> BulkCloseResult:
    """AT8: close each id independently (as AT6); unknown ids are reported, not fatal."""
    result = BulkCloseResult(closed=[], failed=[])
    for ticket_id in ticket_ids:
        try:
            result.closed.append(close_ticket_as_staff(admin=admin, ticket_id=ticket_id))
        except TicketNotFound as error:  # nothing was written for this id
            result.failed.append((ticket_id, error.text))
    return result


# ------------------------------------------------------------------------------------------ reads
def ticket_stats(*, user_id: str | None = None) -> dict[str, int]:
    """T1 (one customer) / AT1 (everyone, plus tickets created in the last 7 days): one GROUP BY (D21)."""
    query = select(Ticket.status, func.count()).group_by(Ticket.status)
    if user_id is not None:
        query = query.where(Ticket.user_id == user_id)
    counts = {TicketStatus(status): n for status, n in db.session.execute(query).all()}
    stats = {"totalTickets": sum(counts.values()), "openTickets": counts.get(TicketStatus.OPEN, 0),
             "inProgressTickets": counts.get(TicketStatus.IN_PROGRESS, 0),
             "closedTickets": counts.get(TicketStatus.CLOSED, 0)}
    if user_id is None:
        since = utcnow() - timedelta(days=RECENT_DAYS)
        stats["recentTickets"] = db.session.execute(
            select(func.count()).select_from(Ticket).where(Ticket.created_at >= since)).scalar_one()
    return stats


def list_tickets(*, page: int, limit: int, status: str | None = None, user_id: str | None = None) -> TicketPage:
    """T2/AT2/AT3: newest first, with message and ticket-level attachment counts (constant number of queries)."""
    criteria = []
    if status is not None:
        criteria.append(Ticket.status == TicketStatus(status))
    if user_id is not None:
        criteria.append(Ticket.user_id == user_id)
    total = db.session.execute(select(func.count()).select_from(Ticket).where(*criteria)).scalar_one()
    tickets = list(db.session.execute(
        select(Ticket).where(*criteria).options(selectinload(Ticket.user))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).offset((page - 1) * limit).limit(limit)).scalars())
    ids = [t.id for t in tickets]
    page_result = TicketPage(tickets=tickets, total=total)
    if ids:
        page_result.message_counts = dict(db.session.execute(
            select(TicketMessage.ticket_id, func.count()).where(TicketMessage.ticket_id.in_(ids))
            .group_by(TicketMessage.ticket_id)).all())
        page_result.attachment_counts = dict(db.session.execute(
            select(TicketAttachment.ticket_id, func.count()).where(TicketAttachment.ticket_id.in_(ids))
            .group_by(TicketAttachment.ticket_id)).all())
    return page_result


def ticket_counts(ticket_id: str) -> tuple[int, int]:
    """(messages, ticket-level attachments) of one ticket, for T6's `_count`."""
    messages = db.session.execute(select(func.count()).select_from(TicketMessage)
                                  .where(TicketMessage.ticket_id == ticket_id)).scalar_one()
    attachments = db.session.execute(select(func.count()).select_from(TicketAttachment)
                                     .where(TicketAttachment.ticket_id == ticket_id)).scalar_one()
    return messages, attachments


def get_ticket(ticket_id: str, *, owner_id: str | None = None) -> Ticket:
    """T4/AT4: a ticket with its conversation (oldest first) and attachments. Another customer's: not found."""
    query = (select(Ticket).where(Ticket.id == ticket_id)
             .options(selectinload(Ticket.user), selectinload(Ticket.attachments),
                      selectinload(Ticket.messages).selectinload(TicketMessage.author),
                      selectinload(Ticket.messages).selectinload(TicketMessage.attachments))
             .execution_options(populate_existing=True))
    if owner_id is not None:
        query = query.where(Ticket.user_id == owner_id)
    ticket = db.session.execute(query).scalar_one_or_none()
    if ticket is None:
        raise TicketNotFound()
    return ticket


def attachment_file(attachment_id: str, *, owner_id: str | None = None) -> tuple[TicketAttachment, Path]:
    """T7/AT9: an attachment and its file. For customers the ticket (directly or through the message) must be
    theirs; a foreign one is "Attachment not found", exactly like a missing one (D8)."""
    query = (select(TicketAttachment)
             .outerjoin(TicketMessage, TicketMessage.id == TicketAttachment.message_id)
             .join(Ticket, Ticket.id == func.coalesce(TicketAttachment.ticket_id, TicketMessage.ticket_id))
             .where(TicketAttachment.id == attachment_id))
    if owner_id is not None:
        query = query.where(Ticket.user_id == owner_id)
    attachment = db.session.execute(query).scalar_one_or_none()
    if attachment is None:
        raise AttachmentNotFound()
    path = storage.resolve(attachment.storage_key)
    if path is None:
        raise AttachmentFileMissing()
    return attachment, path
