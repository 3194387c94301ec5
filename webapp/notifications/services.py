"""Recording notifications, exactly once per event (delivery is a separate job)."""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..db import new_id, utcnow
from ..extensions import db
from .models import Notification, NotificationStatus, NotificationType


def notify(*, type: NotificationType, dedupe_key: str, subject: str, body: str, user=None, recipient: str | None = None,
           subscription_id: str | None = None, ticket_id: str | None = None, data: dict | None = None) -> Notification:
    """Record a notification in the current transaction; a repeat of the same `dedupe_key` is a no-op.

    INSERT ... ON CONFLICT DO NOTHING: concurrent duplicates never raise and never abort the caller's
    transaction. Returns the stored row (the first one, for a repeat).
    """
    now = utcnow()
    values = dict(id=new_id(), type=type, dedupe_key=dedupe_key, subject=subject[:200], body=body,
                  user_id=getattr(user, "id", None), recipient=recipient or getattr(user, "email", None),
                  subscription_id=subscription_id, ticket_id=ticket_id, data=data,
                  status=NotificationStatus.PENDING, attempts=0, created_at=now, updated_at=now)
    pending = _deferred.get()
    if pending is not None:
        pending.setdefault(dedupe_key, values)  # the first of a repeat wins, as with ON CONFLICT DO NOTHING
        return SimpleNamespace(**values)  # the values; the row is written when the deferred() block ends
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(Notification).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return db.session.execute(select(Notification).where(Notification.dedupe_key == dedupe_key)).scalar_one()


# notify() calls inside a deferred() block, keyed by dedupe key; None outside one.
_deferred: ContextVar[dict | None] = ContextVar("poddesk_deferred_notifications", default=None)


@contextlib.contextmanager
def deferred():
    """Collect the notify() calls of the block and record them with ONE INSERT ... ON CONFLICT DO NOTHING when
    it ends (batch passes: thousands of messages per transaction). Same rows and the same once-per-dedupe-key
    guarantee as calling notify() one by one; notify() then returns the row's values (attributes, not a stored
    Notification: an ORM object per message would cost more than the INSERT). Nothing is written when the
    block raises."""
    if _deferred.get() is not None:  # nested: the outer block writes
        yield
        return
    pending: dict = {}
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    notify_many(list(pending.values()))


def notify_many(rows: list[dict]) -> int:
    """Insert notification rows (full column values, as notify() builds them) in one statement; rows whose
    dedupe key exists already are skipped. Returns how many were new."""
    if not rows:
        return 0
    table = Notification.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from ..bulk import insert_rows

        return len(insert_rows(table, rows, on_conflict_do_nothing="dedupe_key", returning="id"))
    statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    return len(db.session.execute(statement, rows).all())
