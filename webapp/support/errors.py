"""Failures of the support domain (tickets, messages, attachments, uploads), with the original's messages."""
from ..errors import DomainError


class TicketNotFound(DomainError):
    status, message = 404, "Ticket not found"


class TicketNotFoundOrDenied(DomainError):
    """The owner's close route (T6) used this wording; another customer's ticket is indistinguishable."""

    status, message = 404, "Ticket not found or access denied"


class TicketAlreadyClosed(DomainError):
    status, message = 400, "Ticket is already closed"


class TicketClosed(DomainError):
    """A customer writing into a CLOSED ticket (fix D16: staff must reopen it first)."""

    status, message = 400, "Ticket is closed"


class AttachmentNotFound(DomainError):
    """Missing and foreign attachments alike (fix D8: no existence oracle)."""

    status, message = 404, "Attachment not found"


class AttachmentFileMissing(DomainError):
    status, message = 404, "File not found on server"


# ------------------------------------------------------------------------------------------ uploads
class TooManyFiles(DomainError):
    status, message = 400, "Maximum {limit} files allowed per upload"


class FileTooLarge(DomainError):
    status, message = 400, "File {name} exceeds {limit}MB size limit"


class InvalidFileType(DomainError):
    status, message = 400, "File {name} has invalid type. Only images are allowed."


class UnexpectedFileField(DomainError):
    status, message = 400, "Unexpected file field: {field}"


class InvalidMultipart(DomainError):
    status, message = 400, "Invalid multipart body"


class RequestTooLarge(DomainError):
    status, message = 413, "Request entity too large"
