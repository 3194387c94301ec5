"""Readiness: can this process reach PostgreSQL and Redis right now (`GET /api/health/ready`)?

Each check runs on a small shared thread pool and is given `READINESS_TIMEOUT_SECONDS` (default 1.5 s): a
dependency that hangs (packets dropped, server frozen) is reported as "timeout" without holding the request; the
stuck check finishes or fails on its own later (the pool is bounded, so hung checks cannot pile up threads).
PostgreSQL: `SELECT 1` under a statement timeout on a pooled connection (pre-pinged). Redis: PING on a client of its
own with short socket timeouts (the RQ client waits longer). Results are "ok", "timeout" or "unavailable"; the
cause is logged, never returned (the route is public).
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import current_app
from redis import Redis
from sqlalchemy import text

from .extensions import db

log = logging.getLogger(__name__)

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="poddesk-readiness")
_clients: dict[tuple[str, float], Redis] = {}
_lock = threading.Lock()


def _redis_client(url: str, timeout: float) -> Redis:
    if url.startswith("fakeredis://"):
        from jobs.queue import redis_connection

        return redis_connection(url)
    key = (url, timeout)
    with _lock:
        if key not in _clients:
            _clients[key] = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                           health_check_interval=0)
        return _clients[key]


def _check_database(engine, timeout: float) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
        conn.execute(text("SELECT 1")).scalar_one()
        conn.rollback()


def _check_redis(url: str, timeout: float) -> None:
    if not _redis_client(url, timeout).ping():
        raise RuntimeError("PING refused")


def readiness() -> dict[str, str]:
    """{"database": "ok"|"timeout"|"unavailable", "redis": ...}, within about the configured timeout."""
    timeout = float(current_app.config.get("READINESS_TIMEOUT_SECONDS", 1.5))
    deadline = time.monotonic() + timeout
    checks = {  # `.engine`: the Engine itself (the test suite binds the app to one Connection)
        "database": _pool.submit(_check_database, db.engine.engine, timeout),
        "redis": _pool.submit(_check_redis, current_app.config["REDIS_URL"], timeout),
    }
    results: dict[str, str] = {}
    for name, future in checks.items():
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
            results[name] = "ok"
        except FutureTimeout:
            future.cancel()
            log.warning("readiness: %s did not answer within %.1f s", name, timeout)
            results[name] = "timeout"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the cause is logged
            # The clients' own timeouts equal the deadline, so a hang may surface as their error first.
            results[name] = "timeout" if _is_timeout(exc) else "unavailable"
            log.warning("readiness: %s %s: %s", name, results[name], exc)
    return results


def _is_timeout(exc: Exception) -> bool:
    from psycopg.errors import QueryCanceled
    from redis.exceptions import TimeoutError as RedisTimeout

    return isinstance(exc, (RedisTimeout, TimeoutError)) or isinstance(getattr(exc, "orig", None), QueryCanceled)
