"""The instance status machine (spec-cluster-instances §1.2 with fixes 11 and 12), as data.

Every status change is one conditional UPDATE (`WHERE id = :id AND status IN (:expected)`): two concurrent
requests or jobs cannot both perform the same move; the loser sees 0 rows and gets the operation's typed error
(requests) or does nothing (jobs, which are therefore idempotent). Transitional statuses always end in a terminal
one: jobs revert on failure and `operations.reconcile_stale` repairs rows a crashed worker left behind.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import update

from ..db import utcnow
from ..errors import DomainError
from ..extensions import db
from .models import InstanceStatus as S
from .models import ServiceInstance

TRANSITIONS: dict[S, frozenset[S]] = {
    S.PENDING: frozenset({S.PROVISIONING, S.ERROR, S.TERMINATED}),
    S.PROVISIONING: frozenset({S.RUNNING, S.ERROR, S.TERMINATED}),
    S.RUNNING: frozenset({S.RESTARTING, S.STOPPING, S.ERROR, S.TERMINATED}),
    S.RESTARTING: frozenset({S.RUNNING, S.ERROR, S.TERMINATED}),
    S.STOPPING: frozenset({S.STOPPED, S.RUNNING, S.ERROR, S.TERMINATED}),
    S.STOPPED: frozenset({S.STARTING, S.TERMINATED}),
    S.STARTING: frozenset({S.RUNNING, S.STOPPED, S.ERROR, S.TERMINATED}),
    S.ERROR: frozenset({S.PENDING, S.TERMINATED}),
    S.MAINTENANCE: frozenset({S.RUNNING, S.TERMINATED}),
    S.TERMINATED: frozenset(),
}

LIVE = frozenset(s for s in S if s is not S.TERMINATED)
# Instances with workloads in the cluster (or about to have them): what cancellation, expiry and resize act on.
TRANSITIONAL = frozenset({S.PENDING, S.PROVISIONING, S.RESTARTING, S.STOPPING, S.STARTING})


class InvalidTransitionTable(RuntimeError):
    """A programming error: code asked for a move the table does not allow."""


def transition(instance: ServiceInstance | str, target: S, *, expected: Iterable[S],
               error: DomainError | None = None, **values) -> bool:
    """Move `instance` to `target` if its status is one of `expected`; set `values` in the same UPDATE.

    Returns True when the row moved. When it did not: raises `error` if given, else returns False."""
    expected = frozenset(expected)
    illegal = [s for s in expected if target not in TRANSITIONS[s]]
    if illegal:
        raise InvalidTransitionTable(f"{', '.join(s.value for s in illegal)} -> {target.value} is not allowed")
    instance_id = instance if isinstance(instance, str) else instance.id
    result = db.session.execute(
        update(ServiceInstance)
        .where(ServiceInstance.id == instance_id, ServiceInstance.status.in_(list(expected)))
        .values(status=target, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False))
    moved = result.rowcount == 1
    if not isinstance(instance, str):
        db.session.expire(instance)
    if not moved and error is not None:
        raise error
    return moved


def update_if(instance_id: str, statuses: Iterable[S], **values) -> bool:
    """Write non-status columns only while the row is still in one of `statuses` (health writes, pod names)."""
    result = db.session.execute(
        update(ServiceInstance)
        .where(ServiceInstance.id == instance_id, ServiceInstance.status.in_(list(statuses)))
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1
