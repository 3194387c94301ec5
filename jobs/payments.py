"""Payment jobs: the periodic sweep of stale Midtrans top-ups (spec §5 item 5)."""
from jobs.queue import job


@job
def expire_stale_top_ups(older_than_minutes: int | None = None) -> dict:
    """PENDING top-ups past their payment window are confirmed with Midtrans, then credited or failed.
    Schedule it every few minutes (rq-scheduler `cron("*/5 * * * *", func="jobs.payments.expire_stale_top_ups")`)."""
    from datetime import timedelta

    from webapp.payments.services import expire_stale_top_ups as sweep

    older_than = timedelta(minutes=older_than_minutes) if older_than_minutes is not None else None
    return sweep(older_than)
