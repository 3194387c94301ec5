"""Support ticket routes: 7 customer routes under /api/tickets, 9 staff routes under /api/admin/tickets
(spec-support-tickets T1-T7, AT1-AT9).

Literal paths (`stats`, `bulk/close`, `user/<userId>`, `attachments/<id>`) are registered before `<id>`
patterns (and Werkzeug ranks them first anyway, so AT8 is reachable: D11). Upload routes accept JSON or
multipart; the order of checks reproduces the original's messages: auth -> file count -> each size ->
each decoded type -> body fields -> service. Files reach the disk only inside the service call, after
every check passed.
"""
from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Blueprint, current_app, g, request, send_file

from ..extensions import db, limiter
from ..support import services as support
from ..support.multipart import is_multipart, read_multipart
from ..support.uploads import UploadLimits, verify_uploads
from . import presenters_support as p
from . import schemas_support as s
from .auth import admin_required, current_api_user, user_required
from .envelope import created, ok
from .validation import json_body, parse, validate

FILE_FIELD = "attachments"


def _ticket_writer_key() -> str:
    user = g.get("api_user")
    return f"ticket-write:{user.id}" if user is not None else f"ticket-write-ip:{request.remote_addr}"


def _submission(schema: type[s.Schema]):
    """(body, verified images) of a JSON or multipart request, checked in the original's order."""
    limits = UploadLimits.from_config(current_app.config)
    if is_multipart(request):
        fields, uploads = read_multipart(request, file_field=FILE_FIELD, max_bytes=limits.max_bytes)
    else:
        fields, uploads = json_body(), []
    images = verify_uploads(uploads, limits)
    return parse(schema, fields), images


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback (quotes, backslashes and controls removed) plus the UTF-8 name."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in fallback).strip() \
        or "attachment"
    if fallback.startswith("."):
        fallback = "attachment" + fallback
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _download(attachment, path):
    response = send_file(path, mimetype=attachment.mime_type, max_age=0, conditional=False, etag=False)
    response.headers["Content-Disposition"] = content_disposition(attachment.filename)
    response.headers["Cache-Control"] = "private, no-cache, no-store, must-revalidate"
    response.headers["Pragma"] = "no-cache"
    response.headers["Expires"] = "0"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register(bp: Blueprint) -> None:
    write_limit = lambda: current_app.config.get("TICKET_WRITE_RATE_LIMIT", "30 per minute")  # noqa: E731

    # ------------------------------------------------------------------------------------ customer
    @bp.get("/tickets/stats")
    @user_required
    def tickets_stats():
        """The caller's ticket counts by status."""
        return ok("User ticket statistics retrieved successfully",
                  support.ticket_stats(user_id=current_api_user().id))

    @bp.get("/tickets/attachments/<id>")
    @user_required
    @validate(path=s.AttachmentIdPath)
    def tickets_attachment_download(path: s.AttachmentIdPath):
        """Download an attachment of one of the caller's tickets."""
        attachment, file_path = support.attachment_file(path.id, owner_id=current_api_user().id)
        return _download(attachment, file_path)

    @bp.get("/tickets")
    @user_required
    @validate(query=s.TicketListQuery)
    def tickets_list(query: s.TicketListQuery):
        """The caller's tickets, newest first."""
        result = support.list_tickets(page=query.page, limit=query.limit, status=query.status,
                                      user_id=current_api_user().id)
        return ok("Tickets retrieved successfully", p.ticket_page(result, page=query.page, limit=query.limit))

    @bp.post("/tickets")
    @user_required
    @limiter.limit(write_limit, key_func=_ticket_writer_key)
    def tickets_create():
        """Open a ticket (JSON, or multipart with up to 5 images in `attachments`)."""
        body, images = _submission(s.CreateTicketBody)
        ticket = support.create_ticket(user=current_api_user(), subject=body.subject, description=body.description,
                                       images=images)
        db.session.commit()
        return created("Ticket created successfully", p.ticket_created(ticket))

    tickets_create.api_schemas = {"path": None, "query": None, "body": s.CreateTicketBody}
    tickets_create.api_multipart = True  # the OpenAPI document lists the form variant too

    @bp.get("/tickets/<id>")
    @user_required
    @validate(path=s.TicketIdPath)
    def tickets_detail(path: s.TicketIdPath):
        """One of the caller's tickets with its conversation."""
        ticket = support.get_ticket(path.id, owner_id=current_api_user().id)
        return ok("Ticket retrieved successfully", p.ticket_detail(ticket, staff=False))

    @bp.post("/tickets/<id>/messages")
    @user_required
    @limiter.limit(write_limit, key_func=_ticket_writer_key)
    @validate(path=s.TicketIdPath)
    def tickets_add_message(path: s.TicketIdPath):
        """Write on one of the caller's tickets (not on a CLOSED one)."""
        body, images = _submission(s.MessageBody)
        message = support.add_customer_message(user=current_api_user(), ticket_id=path.id, content=body.content,
                                               images=images)
        db.session.commit()
        return created("Message added successfully", p.message(message, staff=False))

    tickets_add_message.api_schemas = {**tickets_add_message.api_schemas, "body": s.MessageBody}
    tickets_add_message.api_multipart = True  # the OpenAPI document lists the form variant too

    @bp.put("/tickets/<id>/close")
    @user_required
    @validate(path=s.TicketIdPath)
    def tickets_close(path: s.TicketIdPath):
        """Close one of the caller's tickets."""
        ticket = support.close_ticket_as_owner(user=current_api_user(), ticket_id=path.id)
        db.session.commit()
        messages, attachments = support.ticket_counts(ticket.id)
        return ok("Ticket closed successfully", p.ticket_with_counts(ticket, messages=messages,
                                                                     attachments=attachments))

    # --------------------------------------------------------------------------------------- staff
    @bp.get("/admin/tickets/stats")
    @admin_required
    def admin_tickets_stats():
        """Ticket counts by status, and tickets opened in the last 7 days."""
        return ok("Ticket statistics retrieved successfully", support.ticket_stats())

    @bp.put("/admin/tickets/bulk/close")
    @admin_required
    @validate(body=s.BulkCloseBody)
    def admin_tickets_bulk_close(body: s.BulkCloseBody):
        """Close several tickets; each id succeeds or fails on its own."""
        result = support.bulk_close(admin=current_api_user(), ticket_ids=body.ticketIds)
        db.session.commit()
        return ok("Bulk close operation completed", p.bulk_close(result))

    @bp.get("/admin/tickets/attachments/<id>")
    @admin_required
    @validate(path=s.AttachmentIdPath)
    def admin_tickets_attachment_download(path: s.AttachmentIdPath):
        """Download any attachment."""
        attachment, file_path = support.attachment_file(path.id)
        return _download(attachment, file_path)

    @bp.get("/admin/tickets/user/<userId>")
    @admin_required
    @validate(path=s.UserIdPath, query=s.UserTicketListQuery)
    def admin_tickets_of_user(path: s.UserIdPath, query: s.UserTicketListQuery):
        """One customer's tickets, newest first (D12: the original always answered 400)."""
        result = support.list_tickets(page=query.page, limit=query.limit, status=query.status, user_id=path.userId)
        return ok("User tickets retrieved successfully", p.ticket_page(result, page=query.page, limit=query.limit))

    @bp.get("/admin/tickets")
    @admin_required
    @validate(query=s.AdminTicketListQuery)
    def admin_tickets_list(query: s.AdminTicketListQuery):
        """All tickets, newest first, by status and customer."""
        result = support.list_tickets(page=query.page, limit=query.limit, status=query.status, user_id=query.userId)
        return ok("All tickets retrieved successfully", p.ticket_page(result, page=query.page, limit=query.limit))

    @bp.get("/admin/tickets/<id>")
    @admin_required
    @validate(path=s.TicketIdPath)
    def admin_tickets_detail(path: s.TicketIdPath):
        """Any ticket with its conversation."""
        ticket = support.get_ticket(path.id)
        return ok("Ticket retrieved successfully", p.ticket_detail(ticket, staff=True))

    @bp.post("/admin/tickets/<id>/messages")
    @admin_required
    @validate(path=s.TicketIdPath)
    def admin_tickets_reply(path: s.TicketIdPath):
        """Reply as staff (JSON or multipart); an OPEN ticket becomes IN_PROGRESS."""
        body, images = _submission(s.MessageBody)
        message = support.add_staff_reply(admin=current_api_user(), ticket_id=path.id, content=body.content,
                                          images=images)
        db.session.commit()
        return created("Admin response added successfully", p.message(message, staff=True))

    admin_tickets_reply.api_schemas = {**admin_tickets_reply.api_schemas, "body": s.MessageBody}
    admin_tickets_reply.api_multipart = True  # the OpenAPI document lists the form variant too

    @bp.put("/admin/tickets/<id>/close")
    @admin_required
    @validate(path=s.TicketIdPath)
    def admin_tickets_close(path: s.TicketIdPath):
        """Close a ticket (closing a CLOSED ticket changes nothing)."""
        ticket = support.close_ticket_as_staff(admin=current_api_user(), ticket_id=path.id)
        db.session.commit()
        return ok("Ticket closed successfully", p.ticket_with_owner(ticket))

    @bp.put("/admin/tickets/<id>/reopen")
    @admin_required
    @validate(path=s.TicketIdPath)
    def admin_tickets_reopen(path: s.TicketIdPath):
        """Reopen a CLOSED ticket (reopening an open one changes nothing)."""
        ticket = support.reopen_ticket(admin=current_api_user(), ticket_id=path.id)
        db.session.commit()
        return ok("Ticket reopened successfully", p.ticket_with_owner(ticket))
