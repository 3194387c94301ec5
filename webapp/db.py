"""Database helpers shared by every domain: ids, timestamps, the unit of work and after-commit hooks.

Rule this module enforces: network calls (Kubernetes, Midtrans, Redis enqueues) never run inside a DB
transaction. Services register them with `on_commit(fn)`; they run only after the surrounding
commit succeeded, and are dropped on rollback.
"""
from __future__ import annotations

import contextlib
import itertools
import secrets
import select
import string
import time
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import DateTime, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from .extensions import db

_ALPHABET = string.digits + string.ascii_lowercase


def _base36(n: int, width: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out)).rjust(width, "0")[-width:]


_counter = itertools.count(secrets.randbelow(36**4 // 2))  # a random start, far from the wrap


def new_id() -> str:
    """A 25-character lowercase alphanumeric id shaped like a cuid: "c" + time + counter + randomness.

    Time then a per-process counter keep ids created one after another in order (inserts stay roughly
    ordered in the primary-key index, and rows made in the same millisecond sort in creation order); clients
    of the original validate ids as alphanumeric, 20-30 characters.
    """
    # 12 random base-36 digits from one draw (uniform like 12 secrets.choice calls, ~6x cheaper: bulk inserts)
    return ("c" + _base36(int(time.time() * 1000), 8) + _base36(next(_counter) % 36**4, 4)
            + _base36(secrets.randbelow(_RANDOM_SPAN), 12))


_RANDOM_SPAN = 36**12


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def isoformat(value: datetime | None) -> str | None:
    """JavaScript's Date.toISOString() format, which the original's clients parse."""
    value = as_utc(value)
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class IdMixin:
    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )


# ----------------------------------------------------------------------------------------- after commit
_PENDING_KEY = "poddesk_on_commit"


def on_commit(fn: Callable[[], object], session: Session | None = None) -> None:
    """Run `fn` after the current transaction commits (never if it rolls back)."""
    session = session or db.session()
    session.info.setdefault(_PENDING_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    # SQLAlchemy also fires after_commit when a savepoint (begin_nested) is released: the real
    # transaction is still open then, so the follow-up work must wait for the outer commit.
    if session.in_nested_transaction():
        return
    callbacks = session.info.pop(_PENDING_KEY, [])
    for fn in callbacks:
        fn()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction) -> None:
    # A rolled-back savepoint (begin_nested) keeps the outer transaction's follow-up work.
    if not previous_transaction.nested:
        session.info.pop(_PENDING_KEY, None)


@contextlib.contextmanager
def unit_of_work():
    """One DB transaction: commit on success, roll back on any exception (then re-raise)."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


# ------------------------------------------------------------------------------------------ connection checks
_LAST_USED = "poddesk_last_used"


def ping_idle_connections(engine, idle_seconds: float) -> None:
    """Check a pooled connection with `SELECT 1` only when it sat unused for more than `idle_seconds`.

    `pool_pre_ping` paid that round trip on every checkout (about a quarter of a cached API request's time). Instead
    a connection is pinged when it sat idle that long, or when its socket is readable: an idle connection has
    nothing to read unless the server (or a proxy) closed it, so a restart's dropped connections are seen without a
    round trip (one zero-timeout poll). A failed ping makes the pool discard it and connect again (SQLAlchemy's
    pessimistic recipe). A connection that dies between this check and its statement fails that statement with a
    disconnect error: SQLAlchemy invalidates the whole pool and the request answers 503.
    """
    from sqlalchemy import exc

    @event.listens_for(engine, "connect")
    def _fresh(dbapi_connection, record) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record) -> None:
        if record is not None:
            record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, record, proxy) -> None:
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last <= idle_seconds and not _readable(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001 - any failure: the pool discards it and connects again
            raise exc.DisconnectionError(str(error)) from error
        record.info[_LAST_USED] = time.monotonic()


def _readable(dbapi_connection) -> bool:
    """True when the idle connection's socket has something to read (normally: the server closed it)."""
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no socket to look at: let the ping decide
        return True
