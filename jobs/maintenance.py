"""Housekeeping jobs: outbox sweep, refresh-token purge, orphaned ticket uploads."""
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


@job
def sweep_ticket_uploads() -> int:
    """Delete upload files no attachment row names (left by a crash between write and commit)."""
    from webapp.support.storage import sweep_orphans

    return len(sweep_orphans())
