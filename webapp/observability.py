"""Operations: structured logs with a request id, carried into background jobs.

- Every request gets an id: the incoming `X-Request-ID` when it is a safe short token (letters, digits, `.`, `_`,
  `-`, `:`; at most 64 characters), else a new uuid4 hex. It is echoed in the `X-Request-ID` response header and held
  in a context variable while the request runs, so every log line written meanwhile carries it (`ContextFilter`).
- One access line per request (logger `poddesk.access`): method, path, status, duration_ms, user_id, request_id.
- The id travels into jobs: `webapp.outbox.enqueue` stores `current_request_id()` on the outbox row, `jobs.queue.push`
  puts it in the RQ job's meta, and the `jobs.queue.job` wrapper sets it again (`job_context`) while the job runs,
  with the job's id and function.
- Output: one JSON object per line on stderr (`JsonFormatter`), or plain text; `LOG_FORMAT=json|text`, `LOG_LEVEL`.
  `configure_logging` is idempotent (it replaces only its own root handler) and is used by the web app, the worker
  (`jobs.worker`) and the scheduler (`jobs.scheduler`).
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import random
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, request

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("poddesk_request_id", default=None)
_job: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("poddesk_job", default=None)

access_log = logging.getLogger("poddesk.access")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is written out as a field.
_STANDARD_ATTRS = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message", "asctime", "request_id", "job_id", "job_func", "taskName"}


# ------------------------------------------------------------------------------------------------ context
def current_request_id() -> str | None:
    return _request_id.get()


def clean_request_id(value: str | None) -> str | None:
    """The incoming id when it is safe to log and echo (no spaces, quotes or control characters), else None."""
    if value and _SAFE_ID.match(value):
        return value
    return None


def new_request_id() -> str:
    # uuid4-shaped, from the process's Mersenne Twister (reseeded in each forked worker) rather than os.urandom:
    # a log correlation id needs uniqueness, not secrecy, and the urandom syscall cost ~7 % of a cached request.
    return uuid.UUID(int=random.getrandbits(128), version=4).hex


@contextlib.contextmanager
def job_context(request_id: str | None, job_id: str | None, func: str | None):
    """While a job runs: its originating request id, its RQ id and function, on every log line."""
    token_request = _request_id.set(request_id)
    token_job = _job.set((job_id or "", func or ""))
    try:
        yield
    finally:
        _job.reset(token_job)
        _request_id.reset(token_request)


class ContextFilter(logging.Filter):
    """Adds `request_id`, `job_id` and `job_func` (None outside a request or job) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") or record.request_id is None:
            record.request_id = _request_id.get()
        job = _job.get()
        record.job_id = job[0] if job else None
        record.job_func = job[1] if job else None
        return True


# ------------------------------------------------------------------------------------------------ formatting
class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request/job ids, `extra=` fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job_id", "job_func"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is now (test runners swap it), like logging's last-resort handler."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(fmt: str | None = None, level: str | int | None = None) -> logging.Handler:
    """Install (or replace) the one PodDesk handler on the root logger; returns it."""
    fmt = (fmt or os.environ.get("LOG_FORMAT") or "json").lower()
    level = level or os.environ.get("LOG_LEVEL") or "INFO"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_poddesk", False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler._poddesk = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


# ------------------------------------------------------------------------------------------------ the app
def _user_id() -> str | None:
    user = getattr(g, "api_user", None)
    if user is None:
        user = getattr(g, "_login_user", None)  # Flask-Login's cache: never trigger a load just to log
        if user is not None and not getattr(user, "is_authenticated", False):
            user = None
    return getattr(user, "id", None)


def init_observability(app: Flask) -> None:
    """Install request-id handling and JSON logging for this app."""
    configure_logging(app.config.get("LOG_FORMAT"), app.config.get("LOG_LEVEL"))

    @app.before_request
    def assign_request_id():
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        g.request_id = request_id
        g.request_started = time.perf_counter()
        g.request_id_token = _request_id.set(request_id)

    @app.after_request
    def log_request(response):
        request_id = g.get("request_id")
        if request_id is None:  # a request that failed before before_request ran
            return response
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        access_log.info("%s %s %s", request.method, request.path, response.status_code, extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "user_id": _user_id()})
        return response

    @app.teardown_request
    def forget_request_id(exc=None):
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                _request_id.reset(token)
            except ValueError:  # reset from another context (streamed response): just clear it
                _request_id.set(None)
