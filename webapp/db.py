"""Database helpers shared by every domain: ids, timestamps, the unit of work and after-commit hooks.

Rule this module enforces: network calls (Kubernetes, Midtrans, Redis enqueues) never run inside a DB
transaction. Services register them with `on_commit(fn)`; they run only after the surrounding
commit succeeded, and are dropped on rollback.
"""
from __future__ import annotations

import contextlib
import itertools
import secrets
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
    return ("c" + _base36(int(time.time() * 1000), 8) + _base36(next(_counter) % 36**4, 4)
            + "".join(secrets.choice(_ALPHABET) for _ in range(12)))


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
