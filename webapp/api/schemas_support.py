"""Request schemas of the ticket routes (spec-support-tickets §2), with the original's exact messages.

Text fields keep Joi's behaviour (lengths count untrimmed characters; "" is Joi's generic
`"<key>" is not allowed to be empty`) and add one fix (D17): a whitespace-only value is refused with that
same generic message instead of being stored.
"""
from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BeforeValidator, WithJsonSchema

from .validation import Integer, Schema, String, _fail

STATUSES = ("OPEN", "IN_PROGRESS", "CLOSED")


def NonBlankString(min_length: int | None = None, max_length: int | None = None):
    """`String(min, max)` that also refuses whitespace-only text as `string.empty`."""
    _, inner, json_schema = get_args(String(min_length, max_length))

    def check(value):
        if isinstance(value, str) and value and not value.strip():
            _fail("string.empty")
        return inner.func(value)

    return Annotated[Any, BeforeValidator(check), json_schema]


def StatusField():
    """Joi `string().valid(...)`: "" is `string.empty`, anything else outside the list is `any.only`."""

    def check(value):
        if value == "":
            _fail("string.empty")
        if not isinstance(value, str) or value not in STATUSES:
            _fail("any.only", valids=", ".join(STATUSES))
        return value

    return Annotated[Any, BeforeValidator(check), WithJsonSchema({"type": "string", "enum": list(STATUSES)})]


def TicketIdList(max_items: int = 100):
    """`ticketIds`: an array of 1..max_items non-empty strings."""

    def check(value):
        if not isinstance(value, list):
            _fail("array.base")
        if len(value) < 1:
            _fail("array.min", limit=1)
        if len(value) > max_items:
            _fail("array.max", limit=max_items)
        for index, item in enumerate(value):
            if not isinstance(item, str) or "\x00" in item or len(item) > 100:
                _fail("array.items", index=index)
            if item == "":
                _fail("array.items.empty", index=index)
        return value

    schema = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": max_items}
    return Annotated[Any, BeforeValidator(check), WithJsonSchema(schema)]


_PAGE_MESSAGES = {
    "page": {"number.base": "Page must be a number", "number.integer": "Page must be an integer",
             "number.min": "Page must be at least 1"},
    "limit": {"number.base": "Limit must be a number", "number.integer": "Limit must be an integer",
              "number.min": "Limit must be at least 1", "number.max": "Limit cannot exceed 100"},
    "status": {"any.only": "Status must be OPEN, IN_PROGRESS, or CLOSED"},
}


# ---------------------------------------------------------------------------------------------- paths
class TicketIdPath(Schema):
    id: String(max_length=100)

    messages = {"id": {"string.base": "Ticket ID must be a string", "any.required": "Ticket ID is required"}}


class AttachmentIdPath(Schema):
    id: String(max_length=100)

    messages = {"id": {"string.base": "Attachment ID must be a string", "any.required": "Attachment ID is required"}}


class UserIdPath(Schema):
    userId: String(max_length=100)

    messages = {"userId": {"string.base": "User ID must be a string", "any.required": "User ID is required"}}


# ---------------------------------------------------------------------------------------------- queries
class TicketListQuery(Schema):
    page: Integer(1) = 1
    limit: Integer(1, 100) = 10
    status: StatusField() = None

    messages = _PAGE_MESSAGES


class AdminTicketListQuery(TicketListQuery):
    userId: String(max_length=100) = None

    messages = {**_PAGE_MESSAGES, "userId": {"string.base": "User ID must be a string"}}


class UserTicketListQuery(TicketListQuery):
    """AT3: the path names the user; the query takes T2's paging and status filter."""


# ---------------------------------------------------------------------------------------------- bodies
class CreateTicketBody(Schema):
    subject: NonBlankString(5, 200)
    description: NonBlankString(10, 2000)

    messages = {
        "subject": {"any.required": "Subject is required", "string.min": "Subject must be at least 5 characters long",
                    "string.max": "Subject cannot exceed 200 characters"},
        "description": {"any.required": "Description is required",
                        "string.min": "Description must be at least 10 characters long",
                        "string.max": "Description cannot exceed 2000 characters"},
    }


class MessageBody(Schema):
    content: NonBlankString(1, 2000)

    messages = {"content": {"any.required": "Message content is required",
                            "string.min": "Message content cannot be empty",
                            "string.max": "Message content cannot exceed 2000 characters"}}


class BulkCloseBody(Schema):
    ticketIds: TicketIdList()

    messages = {"ticketIds": {"array.items.empty": '"ticketIds[{index}]" is not allowed to be empty'}}
