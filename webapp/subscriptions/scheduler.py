"""The billing schedule: settings, the five jobs of the original's cron (spec §3.7), and their state in Redis.

- `billing_settings(config)` parses and validates every billing setting (cron strings, time zone, grace and
  low-credit settings, the notification sender). A bad value raises `BillingSettingsError` with a message that
  names the variable; the app factory (through the billing blueprint), `python -m jobs.scheduler` and
  `make run` call it, so a typo stops start-up instead of silently falling back to a default.
- `JOBS`: job name -> (setting, default cron, job function path). The names are the API's (`run-job/<name>`).
- Job state lives in Redis so every process sees it: the scheduler's leader key and heartbeat, the registered
  cron jobs with their next run (rq-scheduler's sorted set), and the last result of each job and of each run
  started from the console (`record_run`, `last_run`, `get_run`).

The process that drives the schedule (leader lock, rq-scheduler) is `jobs/scheduler.py`.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..db import isoformat, utcnow


class BillingSettingsError(RuntimeError):
    """A billing setting the engine cannot run with (start-up fails with this message)."""


@dataclass(frozen=True)
class JobDefinition:
    name: str
    setting: str
    default_cron: str
    func: str
    description: str


JOBS: dict[str, JobDefinition] = {d.name: d for d in (
    JobDefinition("daily-renewals", "CRON_DAILY_RENEWALS", "0 2 * * *", "jobs.billing.daily_renewals",
                  "Charge due subscriptions, start grace periods, expire ended ones; billing summary to staff"),
    JobDefinition("grace-period", "CRON_GRACE_PERIOD", "0 3 * * *", "jobs.billing.grace_period",
                  "Renew or expire subscriptions whose grace period ended"),
    JobDefinition("low-credit-notifications", "CRON_LOW_CREDIT_NOTIFICATIONS", "0 9 * * *",
                  "jobs.billing.low_credit_notifications", "Warn customers whose balance will not cover a renewal"),
    JobDefinition("grace-period-reminders", "CRON_GRACE_PERIOD_REMINDERS", "0 18 * * *",
                  "jobs.billing.grace_period_reminders", "Daily reminder to customers in a grace period"),
    JobDefinition("billing-stats", "CRON_BILLING_STATS", "0 23 * * *", "jobs.billing.billing_stats",
                  "Compute and log the billing statistics"),
)}
JOB_NAMES = tuple(JOBS)

SENDERS = ("smtp", "outbox")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class BillingSettings:
    timezone: ZoneInfo
    auto_renewal_enabled: bool
    crons: dict[str, str]
    grace_enabled: bool
    grace_days: int
    grace_min_days: int
    grace_max_days: int
    low_credit_enabled: bool
    low_credit_days: int
    sender: str
    extra: dict = field(default_factory=dict)

    def configuration(self) -> dict:
        """The `configuration` block of job-status (promised by the original's grace-period document)."""
        return {"timezone": self.timezone.key, "autoRenewalEnabled": self.auto_renewal_enabled,
                "gracePeriodEnabled": self.grace_enabled, "gracePeriodDays": self.grace_days,
                "gracePeriodMinDays": self.grace_min_days, "gracePeriodMaxDays": self.grace_max_days,
                "lowCreditWarningEnabled": self.low_credit_enabled, "lowCreditWarningDays": self.low_credit_days,
                "notificationSender": self.sender, "schedules": dict(self.crons)}


def _bool(config, name: str, default: bool) -> bool:
    value = config.get(name, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BillingSettingsError(f"{name}={value!r} is not a boolean (use true or false)")


def _int(config, name: str, default: int, *, minimum: int, maximum: int) -> int:
    value = config.get(name, default)
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise BillingSettingsError(f"{name}={value!r} is not a whole number") from None
    if not minimum <= number <= maximum:
        raise BillingSettingsError(f"{name}={number} is out of range ({minimum}..{maximum})")
    return number


def validate_cron(name: str, expression) -> str:
    """A five-field cron string (minute hour day month weekday) that has a next run, else BillingSettingsError."""
    from crontab import CronTab

    text = " ".join(str(expression or "").split())
    if len(text.split(" ")) != 5:
        raise BillingSettingsError(f"{name}={expression!r} is not a cron schedule: expected 5 fields "
                                   "(minute hour day-of-month month day-of-week), e.g. '0 2 * * *'")
    try:
        cron = CronTab(text)
        if cron.next(now=datetime(2024, 1, 1, tzinfo=timezone.utc), default_utc=True) is None:
            raise ValueError("never fires")
    except (ValueError, KeyError, TypeError) as exc:
        raise BillingSettingsError(f"{name}={expression!r} is not a valid cron schedule: {exc}") from None
    return text


def billing_settings(config) -> BillingSettings:
    """Parse and validate the billing settings of a Flask config (or any mapping)."""
    tz_name = config.get("BILLING_TIMEZONE") or "Asia/Jakarta"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BillingSettingsError(f"BILLING_TIMEZONE={tz_name!r} is not a known IANA time zone") from None
    crons = {name: validate_cron(d.setting, config.get(d.setting) or d.default_cron) for name, d in JOBS.items()}
    grace_min = _int(config, "GRACE_PERIOD_MIN_DAYS", 1, minimum=1, maximum=365)
    grace_max = _int(config, "GRACE_PERIOD_MAX_DAYS", 30, minimum=1, maximum=365)
    if grace_min > grace_max:
        raise BillingSettingsError(f"GRACE_PERIOD_MIN_DAYS={grace_min} is greater than GRACE_PERIOD_MAX_DAYS={grace_max}")
    grace_days = _int(config, "GRACE_PERIOD_DAYS", 7, minimum=1, maximum=365)
    if not grace_min <= grace_days <= grace_max:
        raise BillingSettingsError(f"GRACE_PERIOD_DAYS={grace_days} must be between GRACE_PERIOD_MIN_DAYS={grace_min} "
                                   f"and GRACE_PERIOD_MAX_DAYS={grace_max}")
    sender = str(config.get("NOTIFICATION_SENDER") or "smtp").strip().lower()
    if sender not in SENDERS:
        raise BillingSettingsError(f"NOTIFICATION_SENDER={sender!r} must be one of {', '.join(SENDERS)}")
    return BillingSettings(
        timezone=tz, auto_renewal_enabled=_bool(config, "AUTO_RENEWAL_ENABLED", True), crons=crons,
        grace_enabled=_bool(config, "GRACE_PERIOD_ENABLED", True), grace_days=grace_days, grace_min_days=grace_min,
        grace_max_days=grace_max, low_credit_enabled=_bool(config, "LOW_CREDIT_WARNING_ENABLED", True),
        low_credit_days=_int(config, "LOW_CREDIT_WARNING_DAYS", 3, minimum=0, maximum=60), sender=sender)


def current_settings() -> BillingSettings:
    from flask import current_app

    return billing_settings(current_app.config)


def next_run(cron: str, tz: ZoneInfo, *, after: datetime | None = None) -> datetime:
    """The next time `cron` fires, read as wall-clock time in `tz`; returned in UTC."""
    from crontab import CronTab

    after = (after or utcnow()).astimezone(tz)
    nxt = CronTab(cron).next(now=after, return_datetime=True, default_utc=False)
    return nxt.astimezone(timezone.utc)


# ------------------------------------------------------------------------------------- state in Redis
PREFIX = "poddesk:billing-scheduler"
LEADER_KEY = f"{PREFIX}:leader"
HEARTBEAT_KEY = f"{PREFIX}:heartbeat"
LAST_RUN_KEY = PREFIX + ":last-run:{name}"
RUN_KEY = PREFIX + ":run:{run_id}"
RUN_TTL = 7 * 24 * 3600


def cron_job_id(name: str) -> str:
    """The fixed rq-scheduler job id of a scheduled job (re-registration replaces, never duplicates)."""
    return f"poddesk-cron-{name}"


def _redis():
    from jobs.queue import redis_connection

    return redis_connection()


def _dumps(value) -> str:
    return json.dumps(value, default=lambda v: isoformat(v) if isinstance(v, datetime) else str(v))


def new_run(name: str, *, source: str) -> str:
    """Record a queued run (console "run now") and return its id."""
    run_id = uuid.uuid4().hex
    _redis().set(RUN_KEY.format(run_id=run_id), _dumps({"runId": run_id, "jobName": name, "status": "queued",
                                                        "source": source, "queuedAt": utcnow()}), ex=RUN_TTL)
    return run_id


def record_run(name: str, *, status: str, source: str, run_id: str | None = None, started_at: datetime | None = None,
               result=None, error: str | None = None) -> dict:
    """Store a job's state (running / finished / failed) as its last run, and under its run id when it has one."""
    now = utcnow()
    state = {"runId": run_id, "jobName": name, "status": status, "source": source,
             "startedAt": isoformat(started_at), "finishedAt": isoformat(now) if status != "running" else None,
             "durationMs": int((now - started_at).total_seconds() * 1000) if started_at and status != "running" else None,
             "result": result, "error": error}
    try:
        connection = _redis()
        if run_id:  # keep when the console queued it
            queued = connection.get(RUN_KEY.format(run_id=run_id))
            state["queuedAt"] = json.loads(queued).get("queuedAt") if queued else None
        payload = _dumps(state)
        connection.set(LAST_RUN_KEY.format(name=name), payload)
        if run_id:
            connection.set(RUN_KEY.format(run_id=run_id), payload, ex=RUN_TTL)
    except Exception:  # noqa: BLE001 - the job's work is done and committed; its bookkeeping must not undo that
        import logging

        logging.getLogger(__name__).warning("could not record the run of %s", name, exc_info=True)
    return state


def last_run(name: str) -> dict | None:
    raw = _redis().get(LAST_RUN_KEY.format(name=name))
    return json.loads(raw) if raw else None


def get_run(run_id: str) -> dict | None:
    if not run_id or len(run_id) > 64 or not run_id.isalnum():
        return None
    raw = _redis().get(RUN_KEY.format(run_id=run_id))
    return json.loads(raw) if raw else None


def scheduler_state() -> dict:
    """What B6 reports: is a scheduler alive (leader key held), which jobs are registered and when they run next."""
    from rq_scheduler import Scheduler

    connection = _redis()
    leader = connection.get(LEADER_KEY)
    heartbeat = connection.get(HEARTBEAT_KEY)
    registered: dict[str, datetime] = {}
    ids = {cron_job_id(name): name for name in JOBS}
    for job_id, score in connection.zrange(Scheduler.scheduled_jobs_key, 0, -1, withscores=True):
        job_id = job_id.decode() if isinstance(job_id, bytes) else job_id
        if job_id in ids:
            registered[ids[job_id]] = datetime.fromtimestamp(score, tz=timezone.utc)
    jobs = []
    for name, definition in JOBS.items():
        jobs.append({"name": name, "description": definition.description, "registered": name in registered,
                     "nextRunAt": isoformat(registered.get(name)), "lastRun": last_run(name)})
    active = [name for name in JOBS if name in registered]
    running = bool(leader) and bool(active)
    return {"isRunning": running, "activeJobs": active if running else [], "jobCount": len(active) if running else 0,
            "scheduler": {"leader": leader.decode() if isinstance(leader, bytes) else leader,
                          "heartbeatAt": heartbeat.decode() if isinstance(heartbeat, bytes) else heartbeat},
            "jobs": jobs}


def billing_day_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the billing-zone calendar day containing `now`, in UTC."""
    local = now.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    # Same wall-clock midnight the next day (zones with DST); Asia/Jakarta has none.
    end = datetime(end.year, end.month, end.day, tzinfo=tz)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)
