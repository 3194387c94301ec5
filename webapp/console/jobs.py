"""Console Jobs page (`/admin/jobs/`): the RQ queues and the job outbox, for administrators.

- Each queue with its counts (queued, started, failed, scheduled, finished).
- The failed jobs (newest first, up to `FAILED_SHOWN` per queue): function, arguments, the last lines of the error,
  when it failed, and the id of the request that asked for the work (RQ meta, `webapp.observability`), with
  Requeue and Delete buttons.
- The outbox rows not dispatched yet (Redis refused them): attempts, last error, with a "Dispatch now" button.

Every button is a POST form carrying a CSRF token, and leaves an audit entry (`job.requeue`, `job.delete`,
`outbox.dispatch`). The Redis operation runs first, then the audit row is committed in a short transaction of its own
(no network call inside a transaction). Redis being down does not break the page: the queues part says so and the
outbox part, read from the database, still works. Works the same on the embedded profile's in-memory Redis.
"""
from __future__ import annotations

import logging

from flask import flash, redirect, url_for
from flask_admin import expose
from sqlalchemy import select
from wtforms import HiddenField
from wtforms.validators import InputRequired, Length

from ..db import as_utc, isoformat
from ..extensions import db
from .base import SecureBaseView, SecureForm, call_service, current_admin

log = logging.getLogger(__name__)

FAILED_SHOWN = 100
OUTBOX_SHOWN = 200
ERROR_LINES = 6


class JobForm(SecureForm):
    job_id = HiddenField(validators=[InputRequired(), Length(max=100)])
    queue = HiddenField(validators=[InputRequired(), Length(max=50)])


class OutboxForm(SecureForm):
    row_id = HiddenField(validators=[InputRequired(), Length(max=25)])


def _error_tail(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return "\n".join(lines[-ERROR_LINES:])


def _exc_string(job) -> str | None:
    try:
        result = job.latest_result()
    except Exception:  # noqa: BLE001 - results not kept (result_ttl 0) or unreadable
        result = None
    return getattr(result, "exc_string", None)


def _short(value, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _known_queues(connection) -> list[str]:
    from rq import Queue

    names = {"default"} | {q.name for q in Queue.all(connection=connection)}
    return sorted(names)


def queue_overview() -> list[dict]:
    """Counts and failed jobs of every queue (raises when Redis is unreachable)."""
    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    from jobs.queue import redis_connection

    connection = redis_connection()
    out = []
    for name in _known_queues(connection):
        queue = Queue(name, connection=connection)
        failed_registry = FailedJobRegistry(queue=queue)
        failed_ids = failed_registry.get_job_ids(0, FAILED_SHOWN - 1, desc=True)
        failed = []
        for job_id, job in zip(failed_ids, Job.fetch_many(failed_ids, connection=connection)):
            if job is None:
                continue
            failed.append({
                "id": job_id, "func": job.func_name, "args": _short(job.args), "kwargs": _short(job.kwargs),
                "error": _error_tail(_exc_string(job)), "ended_at": isoformat(as_utc(job.ended_at)) or "-",
                "request_id": (job.meta or {}).get("request_id"), "retries_left": job.retries_left,
            })
        out.append({
            "name": name,
            "counts": {"queued": queue.count, "started": StartedJobRegistry(queue=queue).count,
                       "failed": failed_registry.count, "scheduled": ScheduledJobRegistry(queue=queue).count,
                       "finished": FinishedJobRegistry(queue=queue).count},
            "failed": failed,
        })
    return out


def pending_outbox() -> list:
    from ..outbox import OutboxJob

    return db.session.execute(select(OutboxJob).where(OutboxJob.dispatched_at.is_(None))
                              .order_by(OutboxJob.created_at).limit(OUTBOX_SHOWN)).scalars().all()


def _audit(action: str, target_type: str, target_id: str, after: dict) -> None:
    from ..audit.services import record

    call_service(lambda: record(actor=current_admin(), action=action, target_type=target_type, target_id=target_id,
                                after=after, source="console"))


def _failed_job(queue_name: str, job_id: str):
    """The job if it is in that queue's failed registry, else None."""
    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    from jobs.queue import redis_connection

    connection = redis_connection()
    queue = Queue(queue_name, connection=connection)
    registry = FailedJobRegistry(queue=queue)
    if job_id not in registry:
        return None, registry
    try:
        return Job.fetch(job_id, connection=connection), registry
    except Exception:  # noqa: BLE001 - the job's hash expired: only its registry entry is left
        registry.remove(job_id)
        return None, registry


class JobsView(SecureBaseView):
    @expose("/")
    def index(self):
        try:
            queues, redis_error = queue_overview(), None
        except Exception as exc:  # noqa: BLE001 - Redis down: the outbox part of the page still works
            log.warning("jobs page: Redis unavailable: %s", exc)
            queues, redis_error = [], str(exc) or type(exc).__name__
        return self.render("console/jobs/index.html", queues=queues, redis_error=redis_error,
                           outbox=pending_outbox(), job_form=JobForm(), outbox_form=OutboxForm(),
                           isoformat=lambda v: isoformat(as_utc(v)))

    def _job_action(self, action: str):
        form = JobForm()
        if not form.validate_on_submit():
            flash("The form expired or is incomplete; try again.", "error")
            return redirect(url_for(".index"))
        job_id, queue_name = form.job_id.data, form.queue.data
        try:
            job, registry = _failed_job(queue_name, job_id)
            if job is None:
                flash("That job is no longer in the failed list.", "error")
                return redirect(url_for(".index"))
            details = {"queue": queue_name, "func": job.func_name, "request_id": (job.meta or {}).get("request_id")}
            if action == "requeue":
                registry.requeue(job)
            else:
                job.delete()
        except Exception as exc:  # noqa: BLE001 - Redis refused: say so, change nothing else
            log.warning("jobs page: %s of %s failed: %s", action, job_id, exc)
            flash(f"Redis is unavailable: {exc}", "error")
            return redirect(url_for(".index"))
        _audit(f"job.{action}", "rq_job", job_id, details)
        flash(f"Job {job_id} {'requeued' if action == 'requeue' else 'deleted'}.", "success")
        return redirect(url_for(".index"))

    @expose("/requeue/", methods=("POST",))
    def requeue(self):
        return self._job_action("requeue")

    @expose("/delete/", methods=("POST",))
    def delete(self):
        return self._job_action("delete")

    @expose("/dispatch/", methods=("POST",))
    def dispatch(self):
        from ..outbox import OutboxJob, dispatch_pending

        form = OutboxForm()
        if not form.validate_on_submit():
            flash("The form expired or is incomplete; try again.", "error")
            return redirect(url_for(".index"))
        row = db.session.get(OutboxJob, form.row_id.data)
        if row is None or row.dispatched_at is not None:
            flash("That outbox row is already dispatched or gone.", "error")
            return redirect(url_for(".index"))
        row_id, func = row.id, row.func
        db.session.commit()  # no transaction stays open while the row is pushed to Redis
        pushed = dispatch_pending([row_id])
        db.session.expire_all()
        row = db.session.get(OutboxJob, row_id)
        _audit("outbox.dispatch", "job_outbox", row_id,
               {"func": func, "pushed": bool(pushed), "last_error": row.last_error if row else None})
        if pushed:
            flash(f"Outbox row {row_id} pushed to the queue.", "success")
        else:
            flash(f"Outbox row {row_id} could not be pushed: {row.last_error if row else 'gone'}", "error")
        return redirect(url_for(".index"))


def register_views(admin, db) -> None:
    admin.add_view(JobsView(name="Jobs", endpoint="jobs", url="jobs"))
