"""Typed domain errors.

Every failure a client can cause is one subclass of `DomainError` that names its HTTP status and the
exact message the original API used; the delivery layers render them (JSON envelope, form error,
flash) in one place each (`api.envelope.register_error_handlers`, console/portal helpers).
Domain packages declare their own subclasses next to their services (`accounts/errors.py`, ...).
"""
from __future__ import annotations


class DomainError(Exception):
    status: int = 400
    message: str = "Bad request"

    def __init__(self, message: str | None = None, *, data: dict | None = None, **params):
        self.params = params
        self.data = data
        text = message if message is not None else self.message
        if params:
            text = text.format(**params)
        self.text = text
        super().__init__(text)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{type(self).__name__}({self.status}, {self.text!r})"


class ValidationFailed(DomainError):
    """Request input did not pass its schema; the message is the first error, Joi-style."""

    status = 400


class InvalidJSON(DomainError):
    status = 400
    message = "Invalid JSON body"


class RouteNotFound(DomainError):
    status = 404
    message = "Route not found"


class TooManyRequests(DomainError):
    status = 429
    message = "Too many requests, please try again later."


class ServiceUnavailable(DomainError):
    status = 503
    message = "Service temporarily unavailable"
