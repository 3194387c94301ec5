"""Background work, enqueued reliably: a transactional outbox in front of RQ.

`enqueue("jobs.cluster.provision_instance", instance_id)` inserts a row in the caller's transaction
(no network call inside it). After the commit the row is pushed to Redis/RQ; if Redis is down the row
stays undispatched and `dispatch_pending()` (run by the scheduler and at worker start) pushes it later.
Nothing is lost, and nothing is enqueued for work that was rolled back. The RQ job id is the outbox
row id, so a re-dispatch never creates a second job; jobs are idempotent all the same. The row keeps the id of
the request that enqueued it (`request_id`), which follows the job into RQ and its log lines.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import IdMixin, on_commit, utcnow
from .extensions import db

log = logging.getLogger(__name__)


class OutboxJob(IdMixin, db.Model):
    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_undispatched", "created_at", postgresql_where=text("dispatched_at IS NULL"),
                            sqlite_where=text("dispatched_at IS NULL")),)

    func: Mapped[str] = mapped_column(String(200))
    args: Mapped[list] = mapped_column(JSON, default=list)
    kwargs: Mapped[dict] = mapped_column(JSON, default=dict)
    queue: Mapped[str] = mapped_column(String(50), default="default")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The request that asked for the work (webapp.observability): the job's log lines carry it too.
    request_id: Mapped[str | None] = mapped_column(String(64))


def enqueue(func: str, *args, queue: str = "default", **kwargs) -> OutboxJob:
    """Schedule `func(*args, **kwargs)` (a dotted path under `jobs.`) to run after this transaction commits."""
    from .observability import current_request_id

    row = OutboxJob(func=func, args=list(args), kwargs=kwargs, queue=queue, attempts=0,
                    request_id=current_request_id())
    db.session.add(row)
    db.session.flush()
    job_id = row.id
    on_commit(lambda: dispatch_pending([job_id]))
    return row


def dispatch_pending(ids: list[str] | None = None, *, limit: int = 500) -> int:
    """Push undispatched outbox rows to RQ in a short transaction of their own; return how many went."""
    from jobs.queue import push

    pushed = 0
    with Session(bind=db.engine, join_transaction_mode="create_savepoint") as session:
        query = select(OutboxJob).where(OutboxJob.dispatched_at.is_(None)).order_by(OutboxJob.created_at).limit(limit)
        if ids is not None:
            query = query.where(OutboxJob.id.in_(ids))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row in session.execute(query).scalars().all():
            try:
                push(row.func, row.args, row.kwargs, queue=row.queue, job_id=row.id, request_id=row.request_id)
            except Exception as exc:  # noqa: BLE001 - Redis down or refusing: keep the row for the next sweep
                log.warning("could not enqueue %s (%s): %s", row.func, row.id, exc)
                session.execute(update(OutboxJob).where(OutboxJob.id == row.id).values(
                    attempts=OutboxJob.attempts + 1, last_error=str(exc)[:2000]))
                continue
            session.execute(update(OutboxJob).where(OutboxJob.id == row.id).values(
                dispatched_at=utcnow(), attempts=OutboxJob.attempts + 1, last_error=None))
            pushed += 1
        session.commit()
    return pushed
