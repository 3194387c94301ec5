"""Recording notifications, exactly once per event (delivery is a separate job)."""
from __future__ import annotations

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
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    values = dict(id=new_id(), type=type, dedupe_key=dedupe_key, subject=subject[:200], body=body,
                  user_id=getattr(user, "id", None), recipient=recipient or getattr(user, "email", None),
                  subscription_id=subscription_id, ticket_id=ticket_id, data=data,
                  status=NotificationStatus.PENDING, attempts=0, created_at=now, updated_at=now)
    db.session.execute(insert(Notification).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return db.session.execute(select(Notification).where(Notification.dedupe_key == dedupe_key)).scalar_one()
