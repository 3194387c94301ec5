"""Job functions used by the outbox tests (importable by RQ through a dotted path)."""
from jobs.queue import job

CALLS: list = []


@job
def remember(value, *, tag=None):
    CALLS.append((value, tag))
    return value
