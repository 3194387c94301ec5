"""Housekeeping jobs: outbox sweep, refresh-token purge."""
from jobs.queue import job


@job
def dispatch_outbox() -> int:
    """Push outbox rows that could not be enqueued at commit time (Redis was down)."""
    from webapp.outbox import dispatch_pending

    return dispatch_pending()


@job
def purge_refresh_tokens() -> int:
    from webapp.accounts.tokens import purge_expired_refresh_tokens
    from webapp.extensions import db

    count = purge_expired_refresh_tokens()
    db.session.commit()
    return count
