"""The five billing jobs of the schedule (spec §3.7), run by rq-scheduler's cron, by `make run`'s timer, by the
admin API (B7, in the request) and by the console's "run now" buttons (through the job outbox).

Each job is thin: run one service pass, record its state in Redis (`subscriptions.scheduler.record_run`:
running -> finished | failed, with the result) so job-status and the console show real last runs.
"""
from __future__ import annotations

import logging

from jobs.queue import job

log = logging.getLogger(__name__)


def _daily_renewals(run_key: str):
    from webapp import clock
    from webapp.extensions import db
    from webapp.notifications import messages
    from webapp.subscriptions.renewals import process_renewals
    from flask import current_app

    try:
        result = process_renewals(source="job")
    except Exception as exc:
        db.session.rollback()
        summary = {"processed": 0, "successful": 0, "failed": 0, "error": str(exc)}
        messages.admin_billing_summary(summary, run_key=run_key, at=clock.now(),
                                       recipient=current_app.config.get("NOTIFICATION_STAFF_EMAIL"))
        db.session.commit()
        raise
    messages.admin_billing_summary(result, run_key=run_key, at=clock.now(),
                                   recipient=current_app.config.get("NOTIFICATION_STAFF_EMAIL"))
    db.session.commit()
    return result


def _grace_period(run_key: str):
    from webapp.subscriptions.renewals import process_grace_period

    return process_grace_period(source="job")


def _low_credit(run_key: str):
    from webapp.subscriptions.renewals import send_low_credit_notifications

    return send_low_credit_notifications()


def _reminders(run_key: str):
    from webapp.subscriptions.renewals import send_grace_period_reminders

    return send_grace_period_reminders()


def _stats(run_key: str):
    from webapp.subscriptions.billing_stats import billing_stats

    stats = billing_stats()
    log.info("billing statistics: %s", stats)
    return stats


RUNNERS = {"daily-renewals": _daily_renewals, "grace-period": _grace_period,
           "low-credit-notifications": _low_credit, "grace-period-reminders": _reminders,
           "billing-stats": _stats}


def run_named(name: str, *, source: str, run_id: str | None = None):
    """Run one billing job now, in this process, recording its state; re-raises its failure."""
    from webapp import clock
    from webapp.extensions import db
    from webapp.subscriptions.scheduler import record_run

    runner = RUNNERS[name]
    started = clock.now()
    # The cron run of a day is one event (its summary is sent once even if RQ retries it); manual runs are distinct.
    run_key = run_id or f"{source}:{clock.today().isoformat()}"
    record_run(name, status="running", source=source, run_id=run_id, started_at=started)
    try:
        result = runner(run_key)
    except Exception as exc:
        db.session.rollback()
        record_run(name, status="failed", source=source, run_id=run_id, started_at=started, error=str(exc)[:2000])
        raise
    record_run(name, status="finished", source=source, run_id=run_id, started_at=started, result=result)
    return result


@job
def run_job(name: str, run_id: str | None = None, source: str = "console"):
    """A run requested from the console ("run now"), delivered through the job outbox."""
    return run_named(name, source=source, run_id=run_id)


@job
def daily_renewals():
    return run_named("daily-renewals", source="cron")


@job
def grace_period():
    return run_named("grace-period", source="cron")


@job
def low_credit_notifications():
    return run_named("low-credit-notifications", source="cron")


@job
def grace_period_reminders():
    return run_named("grace-period-reminders", source="cron")


@job
def billing_stats():
    return run_named("billing-stats", source="cron")
