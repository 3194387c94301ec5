"""The scheduler process: `python -m jobs.scheduler` (Procfile `scheduler:`), one active per deployment.

- Settings are validated first (`billing_settings`): a bad `CRON_*`, grace or sender setting stops start-up
  with a message naming the variable (exit status 2).
- Leadership: a Redis key (`SET NX EX`) holding this process's token, renewed every tick while alive
  (compare-and-expire in a WATCH transaction). A second replica finds the key taken and stays idle (it keeps
  trying, and takes over within the key's expiry if the leader dies). Only the leader registers the cron jobs
  and moves due jobs to the queue, so a run is never enqueued twice (spec §5 item 1).
- Jobs are registered with rq-scheduler's `cron(...)` under fixed ids (re-registration replaces), their cron
  strings read as wall-clock time in BILLING_TIMEZONE (`BillingScheduler`; rq-scheduler itself would use the
  server's local zone). AUTO_RENEWAL_ENABLED=false registers none of the five billing jobs (manual runs from the
  API and the console still work); the housekeeping jobs (notification delivery, outbox sweep) always run.
- `make run` runs the same loop on a daemon thread (`start_inprocess_scheduler`) against its in-memory Redis; the
  in-process worker then runs the jobs.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import uuid

from rq_scheduler import Scheduler

from webapp.subscriptions.scheduler import (HEARTBEAT_KEY, JOBS, LEADER_KEY, BillingSettings, BillingSettingsError,
                                            billing_settings, cron_job_id, next_run)

log = logging.getLogger(__name__)

# Housekeeping that must run wherever jobs run (not part of the billing job list of B6).
HOUSEKEEPING = {
    "notifications-delivery": ("*/2 * * * *", "jobs.notifications.deliver_notifications"),
    "outbox-sweep": ("* * * * *", "jobs.maintenance.dispatch_outbox"),
    "cluster-health": ("*/5 * * * *", "jobs.cluster.health_sweep"),
    "stale-top-ups": ("*/5 * * * *", "jobs.payments.expire_stale_top_ups"),
    "ticket-upload-sweep": ("17 * * * *", "jobs.maintenance.sweep_ticket_uploads"),
    "refresh-token-purge": ("41 3 * * *", "jobs.maintenance.purge_refresh_tokens"),
}


class LeaderLock:
    """A Redis lease: `acquire()` takes the key if free, `renew()` extends it only while we still own it."""

    def __init__(self, connection, *, key: str = LEADER_KEY, ttl: int = 60, token: str | None = None):
        self.connection = connection
        self.key = key
        self.ttl = int(ttl)
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    def acquire(self) -> bool:
        if self.connection.set(self.key, self.token, nx=True, ex=self.ttl):
            self.held = True
        else:
            self.held = self.renew()
        return self.held

    def renew(self) -> bool:
        def expire(pipe):
            pipe.expire(self.key, self.ttl)

        self.held = self._checked(expire)
        return self.held

    def release(self) -> None:
        def delete(pipe):
            pipe.delete(self.key)

        self._checked(delete)
        self.held = False

    def _checked(self, action) -> bool:
        from redis import WatchError

        with self.connection.pipeline() as pipe:
            try:
                pipe.watch(self.key)
                value = pipe.get(self.key)
                owner = value.decode() if isinstance(value, bytes) else value
                if owner != self.token:
                    pipe.unwatch()
                    return False
                pipe.multi()
                action(pipe)
                pipe.execute()
                return True
            except WatchError:
                return False


class BillingScheduler(Scheduler):
    """rq-scheduler whose cron strings are wall-clock times in the billing time zone."""

    def __init__(self, *args, timezone=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone = timezone

    def cron(self, cron_string, func, *args, **kwargs):
        import warnings

        with warnings.catch_warnings():  # crontab's local-time warning: the score is replaced just below
            warnings.simplefilter("ignore", FutureWarning)
            job = super().cron(cron_string, func, *args, **kwargs)
        if self.timezone is not None:
            job.meta["billing_timezone"] = self.timezone.key
            job.save_meta()
            self.connection.zadd(self.scheduled_jobs_key, {job.id: next_run(cron_string, self.timezone).timestamp()})
        return job

    def enqueue_job(self, job):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            super().enqueue_job(job)
        cron_string = job.meta.get("cron_string")
        if cron_string and self.timezone is not None and self.connection.zscore(self.scheduled_jobs_key, job.id):
            self.connection.zadd(self.scheduled_jobs_key, {job.id: next_run(cron_string, self.timezone).timestamp()})


def make_scheduler(connection, settings: BillingSettings, *, interval: int = 10) -> BillingScheduler:
    return BillingScheduler(queue_name="default", connection=connection, interval=interval,
                            timezone=settings.timezone)


def register_jobs(scheduler: BillingScheduler, settings: BillingSettings, *, timeout: int = 600) -> list[str]:
    """(Re-)register the schedule; returns the billing job names registered."""
    registered = []
    for name, definition in JOBS.items():
        job_id = cron_job_id(name)
        scheduler.cancel(job_id)
        if settings.auto_renewal_enabled:
            scheduler.cron(settings.crons[name], func=definition.func, id=job_id, queue_name="default",
                           timeout=timeout, result_ttl=7 * 24 * 3600, description=f"billing: {name}")
            registered.append(name)
    for name, (cron, func) in HOUSEKEEPING.items():
        job_id = cron_job_id(name)
        scheduler.cancel(job_id)
        scheduler.cron(cron, func=func, id=job_id, queue_name="default", timeout=timeout, result_ttl=3600,
                       description=f"housekeeping: {name}")
    return registered


class SchedulerLoop:
    """One scheduler: leadership, registration on becoming leader, moving due jobs to the queue."""

    def __init__(self, connection, settings: BillingSettings, *, interval: int = 10, lock_ttl: int | None = None,
                 job_timeout: int = 600, token: str | None = None):
        self.connection = connection
        self.settings = settings
        self.interval = interval
        self.lock = LeaderLock(connection, ttl=lock_ttl or max(3 * interval, 30), token=token)
        self.scheduler = make_scheduler(connection, settings, interval=interval)
        self.job_timeout = job_timeout
        self.registered: list[str] = []

    def tick(self) -> bool:
        """One round; True while this process is the leader."""
        was_leader = self.lock.held
        if not self.lock.acquire():
            if was_leader:
                log.warning("scheduler lost leadership; staying idle")
            return False
        if not was_leader:
            log.info("scheduler %s is the leader; registering jobs", self.lock.token)
            self.registered = register_jobs(self.scheduler, self.settings, timeout=self.job_timeout)
        from webapp.db import isoformat, utcnow

        self.connection.set(HEARTBEAT_KEY, isoformat(utcnow()), ex=self.lock.ttl)
        self.scheduler.enqueue_jobs()
        return True

    def stop(self) -> None:
        if self.lock.held:
            self.lock.release()

    def run(self, stop: threading.Event | None = None, max_ticks: int | None = None) -> None:
        stop = stop or threading.Event()
        ticks = 0
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # noqa: BLE001 - Redis hiccup: keep the process alive, retry next tick
                    log.exception("scheduler tick failed")
                ticks += 1
                if max_ticks is not None and ticks >= max_ticks:
                    break
                stop.wait(self.interval)
        finally:
            self.stop()


def loop_for(app, *, interval: int | None = None, token: str | None = None) -> SchedulerLoop:
    from jobs.queue import redis_connection

    with app.app_context():
        settings = billing_settings(app.config)
        connection = redis_connection()
    interval = interval or int(app.config.get("SCHEDULER_INTERVAL", 10))
    return SchedulerLoop(connection, settings, interval=interval, job_timeout=app.config.get("JOB_TIMEOUT", 600),
                         token=token)


def start_inprocess_scheduler(app, *, interval: int = 10) -> threading.Thread:
    """`make run`: the scheduler loop on a daemon thread (the in-process worker runs what it enqueues)."""
    loop = loop_for(app, interval=interval)
    thread = threading.Thread(target=loop.run, name="poddesk-inprocess-scheduler", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    from webapp.observability import configure_logging

    configure_logging()  # JSON lines on stderr (LOG_FORMAT / LOG_LEVEL), like the web app and the worker
    from webapp import create_app

    try:
        app = create_app()
        with app.app_context():
            settings = billing_settings(app.config)
    except (BillingSettingsError, RuntimeError) as exc:
        print(f"scheduler: cannot start: {exc}", file=sys.stderr)
        return 2
    from jobs.queue import set_worker_app

    set_worker_app(app)
    loop = loop_for(app)
    stop = threading.Event()

    import signal

    def shutdown(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("scheduler starting (timezone %s, auto-renewal %s, schedules %s)", settings.timezone.key,
             settings.auto_renewal_enabled, settings.crons)
    loop.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
