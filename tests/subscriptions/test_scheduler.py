"""The scheduler: settings validated at start-up, the five cron jobs registered in Redis (BILLING_TIMEZONE), one
leader per deployment, and a worker running what the scheduler enqueued (rq-scheduler + rq, real Redis)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from rq_scheduler import Scheduler

from config import BASE_DIR
from jobs.queue import get_queue, redis_connection, run_burst
from jobs.scheduler import HOUSEKEEPING, LeaderLock, SchedulerLoop
from webapp import clock, create_app
from webapp.billing.models import Transaction, TransactionType
from webapp.extensions import db
from webapp.subscriptions.models import Subscription
from webapp.subscriptions.scheduler import (JOB_NAMES, LEADER_KEY, BillingSettingsError, billing_settings,
                                            cron_job_id, last_run, next_run, scheduler_state)

UTC = timezone.utc


@pytest.fixture
def redis(app):
    connection = redis_connection()
    connection.flushdb()
    get_queue().empty()
    yield connection
    connection.flushdb()


def settings_for(app, **overrides):
    return billing_settings({**app.config, **overrides})


# ------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("name, value, fragment", [
    ("CRON_DAILY_RENEWALS", "61 2 * * *", "CRON_DAILY_RENEWALS='61 2 * * *' is not a valid cron schedule"),
    ("CRON_GRACE_PERIOD", "every day", "CRON_GRACE_PERIOD='every day' is not a cron schedule"),
    ("CRON_BILLING_STATS", "0 23 * *", "expected 5 fields"),
    ("GRACE_PERIOD_DAYS", "seven", "GRACE_PERIOD_DAYS='seven' is not a whole number"),
    ("GRACE_PERIOD_DAYS", "45", "GRACE_PERIOD_DAYS=45 must be between GRACE_PERIOD_MIN_DAYS=1 and GRACE_PERIOD_MAX_DAYS=30"),
    ("GRACE_PERIOD_MIN_DAYS", "0", "GRACE_PERIOD_MIN_DAYS=0 is out of range"),
    ("GRACE_PERIOD_ENABLED", "maybe", "GRACE_PERIOD_ENABLED='maybe' is not a boolean"),
    ("AUTO_RENEWAL_ENABLED", "yes please", "AUTO_RENEWAL_ENABLED='yes please' is not a boolean"),
    ("BILLING_TIMEZONE", "Mars/Olympus", "BILLING_TIMEZONE='Mars/Olympus' is not a known IANA time zone"),
    ("NOTIFICATION_SENDER", "pigeon", "NOTIFICATION_SENDER='pigeon' must be one of smtp, outbox"),
])
def test_bad_settings_are_refused_with_the_variable_named(app, name, value, fragment):
    with pytest.raises(BillingSettingsError) as error:
        settings_for(app, **{name: value})
    assert fragment in str(error.value)


def test_defaults_are_the_originals(app):
    settings = settings_for(app)
    assert settings.crons == {"daily-renewals": "0 2 * * *", "grace-period": "0 3 * * *",
                              "low-credit-notifications": "0 9 * * *", "grace-period-reminders": "0 18 * * *",
                              "billing-stats": "0 23 * * *"}
    assert (settings.grace_enabled, settings.grace_days, settings.grace_min_days, settings.grace_max_days) == (
        True, 7, 1, 30)
    assert settings.timezone.key == "Asia/Jakarta" and settings.auto_renewal_enabled


def test_the_app_refuses_to_start_with_a_bad_cron():
    with pytest.raises(BillingSettingsError, match="CRON_LOW_CREDIT_NOTIFICATIONS"):
        create_app("testing", CRON_LOW_CREDIT_NOTIFICATIONS="0 25 * * *")


def test_the_scheduler_process_exits_with_a_clear_message_on_a_bad_setting():
    env = {**os.environ, "PODDESK_ENV": "testing", "GRACE_PERIOD_DAYS": "0"}
    done = subprocess.run([sys.executable, "-m", "jobs.scheduler"], cwd=BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "scheduler: cannot start: GRACE_PERIOD_DAYS=0 is out of range" in done.stderr


def test_cron_times_are_wall_clock_times_in_the_billing_zone(app):
    tz = settings_for(app).timezone
    after = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)  # 2026-02-01 03:00 in Jakarta
    assert next_run("0 2 * * *", tz, after=after) == datetime(2026, 2, 1, 19, 0, tzinfo=UTC)  # Feb 2 02:00 WIB
    assert next_run("0 23 * * *", tz, after=after) == datetime(2026, 2, 1, 16, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------- registration
def test_the_leader_registers_the_five_jobs_in_redis_with_next_runs(app, redis):
    assert scheduler_state()["isRunning"] is False and scheduler_state()["activeJobs"] == []
    loop = SchedulerLoop(redis, settings_for(app), interval=5)
    assert loop.tick() is True
    scheduled = {job.id: when for job, when in Scheduler(connection=redis).get_jobs(with_times=True)}
    assert {cron_job_id(n) for n in JOB_NAMES} | {cron_job_id(n) for n in HOUSEKEEPING} == set(scheduled)
    state = scheduler_state()
    assert state["isRunning"] is True and state["activeJobs"] == list(JOB_NAMES) and state["jobCount"] == 5
    renewals = next(j for j in state["jobs"] if j["name"] == "daily-renewals")
    assert renewals["nextRunAt"].endswith("T19:00:00.000Z")  # 02:00 in Jakarta
    # Re-registration (a restart) replaces the jobs, never duplicates them.
    loop.stop()
    assert SchedulerLoop(redis, settings_for(app), interval=5).tick()
    assert redis.zcard(Scheduler.scheduled_jobs_key) == len(JOB_NAMES) + len(HOUSEKEEPING)


def test_auto_renewal_disabled_registers_no_billing_job(app, redis):
    loop = SchedulerLoop(redis, settings_for(app, AUTO_RENEWAL_ENABLED="false"), interval=5)
    assert loop.tick() is True
    state = scheduler_state()
    assert (state["isRunning"], state["activeJobs"], state["jobCount"]) == (False, [], 0)
    assert redis.zcard(Scheduler.scheduled_jobs_key) == len(HOUSEKEEPING)


def test_a_second_replica_stays_idle_until_the_leader_is_gone(app, redis):
    a = SchedulerLoop(redis, settings_for(app), interval=1, lock_ttl=2, token="replica-a")
    b = SchedulerLoop(redis, settings_for(app), interval=1, lock_ttl=2, token="replica-b")
    assert a.tick() is True
    assert b.tick() is False and b.registered == []
    assert redis.get(LEADER_KEY) == b"replica-a"
    # Renewed while alive: ticks keep extending the key past its original expiry.
    for _ in range(3):
        time.sleep(0.8)
        assert a.tick() is True and b.tick() is False
    assert redis.ttl(LEADER_KEY) > 0
    # A clean stop releases at once; B takes over and registers.
    a.stop()
    assert b.tick() is True and b.registered == list(JOB_NAMES)
    # A crashed leader (no more renewals) loses the key when it expires.
    assert a.tick() is False
    time.sleep(2.2)
    assert a.tick() is True and redis.get(LEADER_KEY) == b"replica-a"
    assert b.tick() is False


def test_the_lock_is_only_renewed_or_released_by_its_owner(redis):
    mine = LeaderLock(redis, key="poddesk:test-lock", ttl=30, token="me")
    theirs = LeaderLock(redis, key="poddesk:test-lock", ttl=30, token="them")
    assert mine.acquire() and not theirs.acquire()
    theirs.release()
    assert redis.get("poddesk:test-lock") == b"me" and not theirs.renew()
    mine.release()
    assert redis.get("poddesk:test-lock") is None


# ------------------------------------------------------------------------------ scheduler -> worker
def test_a_due_cron_job_is_enqueued_by_the_scheduler_and_run_by_a_worker(app, redis, make):
    user = make.user(credit_balance=100_000)
    plan = make.plan(monthly_price=40_000, used_quota=1)
    end = clock.now() - timedelta(hours=1)
    sub = make.subscription(user=user, plan=plan, start_date=end - timedelta(days=30), end_date=end,
                            next_billing=end, monthly_price=40_000)
    db.session.commit()
    loop = SchedulerLoop(redis, settings_for(app), interval=5)
    loop.tick()
    # Make the renewal job due now (as if 02:00 had come), then let the scheduler move it to the queue.
    redis.zadd(Scheduler.scheduled_jobs_key, {cron_job_id("daily-renewals"): time.time() - 5})
    loop.tick()
    assert cron_job_id("daily-renewals") in get_queue().job_ids
    # ...and put it back on its schedule: the next 02:00 in Jakarta, in the future.
    score = redis.zscore(Scheduler.scheduled_jobs_key, cron_job_id("daily-renewals"))
    assert datetime.fromtimestamp(score, UTC).astimezone(clock.billing_zone()).hour == 2 and score > time.time()
    run_burst(app)
    run = last_run("daily-renewals")
    assert run["status"] == "finished" and run["source"] == "cron" and run["result"]["successful"] == 1
    db.session.expire_all()
    assert db.session.get(Subscription, sub.id).end_date > end + timedelta(days=27)
    assert db.session.query(Transaction).filter_by(subscription_id=sub.id, type=TransactionType.SUBSCRIPTION).count() == 1
