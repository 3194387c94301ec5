"""Notification delivery job: send PENDING notification rows through the configured sender."""
from jobs.queue import job


@job
def deliver_notifications(limit: int = 500) -> dict:
    from webapp.notifications.delivery import deliver_pending

    return deliver_pending(limit=limit)
