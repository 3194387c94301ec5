"""The response envelope of the original API, and the one place errors become HTTP responses.

Standard: {"success", "statusCode", "message", "timestamp", "data"?}; `data` omitted when None
(an empty list is kept). Two legacy variants are kept for compatibility and nothing else:
`google_ok/google_error` ({success, data} / {success, error}) and the health reply.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from markupsafe import escape
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from ..db import isoformat, utcnow
from ..errors import DomainError, TooManyRequests

log = logging.getLogger(__name__)

SERVICE_UNAVAILABLE = "Service temporarily unavailable"


def envelope(status: int, message: str, data=None):
    body = {
        "success": 200 <= status < 300,
        "statusCode": status,
        "message": message,
        "timestamp": isoformat(utcnow()),
    }
    if data is not None:
        body["data"] = data
    return jsonify(body), status


def ok(message: str, data=None, status: int = 200):
    return envelope(status, message, data)


def created(message: str, data=None):
    return envelope(201, message, data)


def error_response(error: DomainError):
    return envelope(error.status, error.text, error.data)


def google_ok(data, status: int = 200):
    return jsonify({"success": True, "data": data}), status


def google_error(error: DomainError):
    return jsonify({"success": False, "error": error.text}), error.status


def route_not_found():
    return jsonify({"success": False, "message": "Route not found"}), 404


def _is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    """API paths get JSON envelopes; other paths fall through to Flask's HTML handling."""

    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        if _is_api_request():
            return error_response(error)
        # Pages render their own errors; this is the fallback for a page that let one through.
        return f"<!doctype html><title>{escape(error.text)}</title><p>{escape(error.text)}</p>", error.status

    @app.errorhandler(RateLimitExceeded)
    def handle_rate_limit(error):
        if _is_api_request():
            response, status = error_response(TooManyRequests())
            response.headers["Retry-After"] = str(getattr(error, "retry_after", "") or 60)
            return response, status
        return error

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        if not _is_api_request():
            return error
        if error.code in (404, 405):
            # Express answered unknown paths and unknown methods alike with "Route not found".
            return route_not_found()
        if error.code == 413:
            return envelope(413, "Request body is too large")
        if error.code == 400:
            return envelope(400, "Bad request")
        return envelope(error.code or 500, error.name)

    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeoutError)
    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def handle_dependency_down(error: Exception):
        # PostgreSQL or Redis unreachable (restart, network cut, pool exhausted): a clean, retryable 503.
        log.error("dependency unavailable on %s %s: %s", request.method, request.path,
                  str(error).splitlines()[0] if str(error) else type(error).__name__)
        if _is_api_request():
            response, status = envelope(503, SERVICE_UNAVAILABLE)
            response.headers["Retry-After"] = "5"
            return response, status
        return (f"<!doctype html><title>{SERVICE_UNAVAILABLE}</title><h1>{SERVICE_UNAVAILABLE}</h1>"
                "<p>Please try again in a moment.</p>", 503, {"Retry-After": "5"})

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api_request():
            # The original sent {success, message} only; the full envelope keeps both keys for its clients.
            return envelope(500, "Internal server error")
        return "Internal server error", 500
