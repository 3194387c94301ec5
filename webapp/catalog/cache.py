"""Catalog read cache: rendered customer catalog results, reused until the catalog changes.

The customer catalog reads are the busiest reads of the API and change rarely: admin edits of categories,
services and plans, and the `used_quota` counter when a subscription takes or frees a slot. Each process keeps
rendered results (plain dicts/lists, exactly what the route would have built) keyed by the catalog *version*:

- Every commit that touched `service_categories`, `services` or `service_plans` (ORM flushes and ORM-enabled
  `insert`/`update`/`delete` statements, seen through SQLAlchemy session events) bumps the version *after* the
  commit (no network call inside a transaction): a per-process generation at once, and a shared Redis counter
  (`INCR poddesk:catalog:version`) that every process reads.
- A reader fetches the shared version (one Redis GET) before building, and reuses an entry built under the same
  version and generation that is younger than `CATALOG_CACHE_SECONDS` (default 30; a bound for changes made outside
  the ORM, such as SQL typed in psql). The shared version read is itself reused for `CATALOG_VERSION_CHECK_SECONDS`
  (default 1; 0 under TESTING): another process's commit shows within that second, this process's own at once.
  (The GET was one of four round trips of a cached catalog request: ping, user, Redis, rollback.)
- It reads the database as before when caching is off (`CATALOG_CACHE_SECONDS=0`, the default under TESTING: the
  test suite rolls back data behind the counter's back), when the caller's own transaction has a catalog write
  pending, or when Redis does not answer (then Redis is left alone for a few seconds).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from itertools import chain

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

VERSION_KEY = "poddesk:catalog:version"
CATALOG_TABLES = frozenset({"service_categories", "services", "service_plans"})
MAX_ENTRIES = 256
REDIS_BACKOFF_SECONDS = 5.0
_FLAG = "poddesk_catalog_changed"

_entries: OrderedDict = OrderedDict()  # key -> ((shared version, generation), built at, value)
_lock = threading.Lock()
_generation = 0  # bumped by this process's own catalog commits: it sees them at once, Redis or not
_redis_down_until = 0.0
_last_check: tuple[float, bytes] | None = None  # (monotonic time, shared version) of the last Redis read


# ------------------------------------------------------------------------------------------- writes
def _is_catalog_object(obj) -> bool:
    table = getattr(type(obj), "__tablename__", None)
    return table in CATALOG_TABLES


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session, flush_context) -> None:
    if not session.info.get(_FLAG) and any(
            _is_catalog_object(obj) for obj in chain(session.new, session.dirty, session.deleted)):
        session.info[_FLAG] = True


@event.listens_for(Session, "do_orm_execute")
def _note_statement_changes(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in CATALOG_TABLES:
            state.session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session) -> None:
    # SQLAlchemy also fires after_commit when a savepoint is released: only the outer commit makes the change
    # visible to other readers, so the flag waits for it (a bump now would let a reader cache the old rows under
    # the new version).
    if session.in_nested_transaction():
        return
    if session.info.pop(_FLAG, False):
        invalidate()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session) -> None:
    # A rolled-back savepoint may leave the flag on a still-open transaction: that only costs a rebuild.
    if not session.in_transaction():
        session.info.pop(_FLAG, None)


def invalidate() -> None:
    """The catalog changed (committed): drop this process's entries and tell the other processes."""
    global _generation, _last_check
    with _lock:
        _generation += 1
        _entries.clear()
        _last_check = None
    redis = _redis()
    if redis is None:
        return
    try:
        redis.incr(VERSION_KEY)
    except Exception as exc:  # noqa: BLE001 - other processes fall back on the age bound
        _redis_failed(exc)


# -------------------------------------------------------------------------------------------- reads
def _ttl() -> float:
    return float(current_app.config.get("CATALOG_CACHE_SECONDS") or 0)


def _redis():
    if not has_app_context() or time.monotonic() < _redis_down_until:
        return None
    try:
        from jobs.queue import redis_connection

        return redis_connection()
    except Exception as exc:  # noqa: BLE001
        _redis_failed(exc)
        return None


def _redis_failed(exc: Exception) -> None:
    global _redis_down_until
    _redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
    log.warning("catalog cache: Redis unavailable (%s); reading the database for %.0f s", exc, REDIS_BACKOFF_SECONDS)


def _check_interval() -> float:
    return float(current_app.config.get("CATALOG_VERSION_CHECK_SECONDS") or 0)


def _shared_version() -> bytes | None:
    global _last_check
    interval = _check_interval()
    last = _last_check
    if interval > 0 and last is not None and time.monotonic() - last[0] < interval:
        return last[1]
    redis = _redis()
    if redis is None:
        return None
    try:
        version = redis.get(VERSION_KEY)
        if version is None:
            # First use, or Redis lost the key: start from the clock so an old number can never come back.
            redis.set(VERSION_KEY, time.time_ns(), nx=True)
            version = redis.get(VERSION_KEY)
        if version is not None:
            _last_check = (time.monotonic(), version)
        return version
    except Exception as exc:  # noqa: BLE001
        _redis_failed(exc)
        return None


def cached(key: Hashable, build: Callable[[], object]):
    """`build()`'s result for `key`, reused while the catalog is unchanged. Callers must not mutate it."""
    from ..extensions import db

    ttl = _ttl()
    if ttl <= 0 or db.session.info.get(_FLAG):
        return build()
    shared = _shared_version()  # read before building: a commit after this point makes the entry stale
    if shared is None:
        return build()
    version = (shared, _generation)
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and entry[0] == version and now - entry[1] < ttl:
        return entry[2]
    value = build()
    with _lock:
        if version[1] == _generation:
            _entries[key] = (version, now, value)
            _entries.move_to_end(key)
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    return value


def clear() -> None:
    """Forget this process's entries and its last version read (tests)."""
    global _last_check
    with _lock:
        _entries.clear()
        _last_check = None
