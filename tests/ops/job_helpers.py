"""Job functions for the operations tests (importable by RQ through a dotted path)."""
import logging

from jobs.queue import job

log = logging.getLogger("tests.ops.jobs")


@job
def say(message):
    log.info("job says %s", message)
    return message


@job
def boom(value):
    raise ValueError(f"kaboom {value}")
