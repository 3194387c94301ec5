"""The one module that talks to Redis/RQ: connections, queues, the push used by the outbox, workers.

`REDIS_URL=fakeredis://` (the embedded `make run`) gives a process-wide in-memory Redis and an
in-process worker thread, so the whole product runs with nothing installed.
"""
from __future__ import annotations

import functools
import logging
import threading

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, Retry, SimpleWorker
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger(__name__)

_FAKE_SERVER = None
_connections: dict[str, Redis] = {}
_lock = threading.Lock()
_worker_app: Flask | None = None

DEFAULT_RETRY = Retry(max=3, interval=[10, 30, 90])


def redis_connection(url: str | None = None) -> Redis:
    """One client per URL per process (clients are thread-safe and pool their connections)."""
    url = url or current_app.config["REDIS_URL"]
    with _lock:
        if url not in _connections:
            if url.startswith("fakeredis://"):
                import fakeredis

                global _FAKE_SERVER
                _FAKE_SERVER = _FAKE_SERVER or fakeredis.FakeServer()
                _connections[url] = fakeredis.FakeRedis(server=_FAKE_SERVER)
            else:
                _connections[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return _connections[url]


def get_queue(name: str = "default", url: str | None = None) -> Queue:
    return Queue(name, connection=redis_connection(url))


def push(func: str, args: list, kwargs: dict, *, queue: str = "default", job_id: str | None = None):
    """Enqueue on RQ now (callers: the outbox dispatcher, never a request inside a transaction)."""
    return get_queue(queue).enqueue(func, *args, **kwargs, job_id=job_id, retry=DEFAULT_RETRY,
                                    job_timeout=current_app.config.get("JOB_TIMEOUT", 600))


def set_worker_app(app: Flask) -> None:
    global _worker_app
    _worker_app = app


def job(fn):
    """Run a job function inside an app context (the worker's app, created once per worker process)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return fn(*args, **kwargs)
        global _worker_app
        if _worker_app is None:
            from webapp import create_app

            _worker_app = create_app()
        with _worker_app.app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                from webapp.extensions import db

                db.session.remove()

    return wrapper


class ThreadWorker(SimpleWorker):
    """An RQ worker that can live in a thread: no signal handlers, thread-based job timeouts."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        pass


def run_burst(app: Flask, queues: tuple[str, ...] = ("default",)) -> bool:
    """Run every queued job now, in this thread (tests, `flask jobs run`)."""
    with app.app_context():
        connection = redis_connection()
        worker = ThreadWorker([Queue(q, connection=connection) for q in queues], connection=connection)
        return worker.work(burst=True, with_scheduler=False)


def start_inprocess_worker(app: Flask, *, interval: float = 1.0, queues: tuple[str, ...] = ("default",)) -> threading.Thread:
    """Embedded mode: a daemon thread draining the queues every `interval` seconds."""
    import time

    set_worker_app(app)

    def loop():
        with app.app_context():
            connection = redis_connection()
        worker = ThreadWorker([Queue(q, connection=connection) for q in queues], connection=connection)
        while True:
            try:
                with app.app_context():
                    from webapp.outbox import dispatch_pending

                    dispatch_pending()
                    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
            except Exception:  # noqa: BLE001 - keep the demo worker alive; the error is logged
                log.exception("in-process worker pass failed")
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="poddesk-inprocess-worker", daemon=True)
    thread.start()
    return thread
