"""JSON shapes of tickets, messages and attachments (spec-support-tickets §2), camelCase.

`ticketNumber` is "#001" wherever a ticket object is returned, never in messages. Customer responses
(`staff=False`) never carry server paths, stored names or staff e-mail addresses (D10) and link each
attachment to its download route; staff responses keep the full record (the path is the relative
storage key, never a server path).
"""
from __future__ import annotations

from ..db import isoformat


def ticket_scalars(ticket) -> dict:
    return {
        "id": ticket.id, "ticketNumber": ticket.number, "subject": ticket.subject, "description": ticket.description,
        "status": ticket.status.value, "userId": ticket.user_id, "createdAt": isoformat(ticket.created_at),
        "updatedAt": isoformat(ticket.updated_at), "closedAt": isoformat(ticket.closed_at),
        "closedBy": ticket.closed_by,
    }


def ticket_owner(user) -> dict:
    return {"id": user.id, "name": user.name, "email": user.email}


def attachment(row, *, staff: bool) -> dict:
    body = {"id": row.id, "filename": row.filename}
    if staff:
        body.update(storedName=row.stored_name, filePath=row.storage_key)
    body.update(fileSize=row.file_size, mimeType=row.mime_type, ticketId=row.ticket_id, messageId=row.message_id,
                uploadedBy=row.uploaded_by, createdAt=isoformat(row.created_at),
                downloadUrl=f"/api/{'admin/' if staff else ''}tickets/attachments/{row.id}")
    return body


def author(user, *, staff: bool) -> dict:
    body = {"id": user.id, "name": user.name}
    if staff or not user.is_admin:
        body["email"] = user.email
    body["role"] = user.role.value
    return body


def message(row, *, staff: bool) -> dict:
    return {
        "id": row.id, "content": row.content, "isAdminReply": row.is_admin_reply, "ticketId": row.ticket_id,
        "authorId": row.author_id, "createdAt": isoformat(row.created_at), "author": author(row.author, staff=staff),
        "attachments": [attachment(a, staff=staff) for a in row.attachments],
    }


def ticket_list_item(ticket, *, messages: int, attachments: int) -> dict:
    return {**ticket_scalars(ticket), "user": ticket_owner(ticket.user),
            "_count": {"messages": messages, "attachments": attachments}}


def ticket_page(result, *, page: int, limit: int) -> dict:
    pages = -(-result.total // limit) if result.total else 0
    return {
        "tickets": [ticket_list_item(t, messages=result.message_counts.get(t.id, 0),
                                     attachments=result.attachment_counts.get(t.id, 0)) for t in result.tickets],
        "pagination": {"page": page, "limit": limit, "total": result.total, "pages": pages},
    }


def ticket_created(ticket, *, staff: bool = False) -> dict:
    return {**ticket_scalars(ticket), "user": ticket_owner(ticket.user),
            "attachments": [attachment(a, staff=staff) for a in ticket.attachments]}


def ticket_detail(ticket, *, staff: bool) -> dict:
    return {**ticket_scalars(ticket), "user": ticket_owner(ticket.user),
            "messages": [message(m, staff=staff) for m in ticket.messages],
            "attachments": [attachment(a, staff=staff) for a in ticket.attachments]}


def ticket_with_owner(ticket) -> dict:
    return {**ticket_scalars(ticket), "user": ticket_owner(ticket.user)}


def ticket_with_counts(ticket, *, messages: int, attachments: int) -> dict:
    return ticket_list_item(ticket, messages=messages, attachments=attachments)


def bulk_close(result) -> dict:
    return {
        "processed": len(result.closed) + len(result.failed), "successful": len(result.closed),
        "failed": len(result.failed),
        "results": [{"ticketId": t.id, "ticketNumber": t.number, "success": True} for t in result.closed],
        "errors": [{"ticketId": ticket_id, "error": error, "success": False} for ticket_id, error in result.failed],
    }
