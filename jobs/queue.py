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


def push(func: str, args: list, kwargs: dict, *, queue: str = "default", job_id: str | None = None,
         request_id: str | None = None):
    """Enqueue on RQ now (callers: the outbox dispatcher, never a request inside a transaction).

    `request_id` (the request that asked for the work) goes into the job's meta; `job` logs with it."""
    return get_queue(queue).enqueue(func, *args, **kwargs, job_id=job_id, retry=DEFAULT_RETRY,
                                    job_timeout=current_app.config.get("JOB_TIMEOUT", 600),
                                    meta={"request_id": request_id} if request_id else None)


def set_worker_app(app: Flask) -> None:
    global _worker_app
    _worker_app = app


def _current_rq_job():
    try:
        from rq import get_current_job

        return get_current_job()
    except Exception:  # noqa: BLE001 - not running on an RQ worker
        return None


def job(fn):
    """Run a job function inside an app context (the worker's app, created once per worker process).

    While it runs, log lines carry the originating request id (RQ meta, set by `push`), the job id and the
    function (`webapp.observability.job_context`); the outcome is logged once, a failure with its traceback."""
    func_name = f"{fn.__module__}.{fn.__qualname__}"

    def run(args, kwargs):
        import time

        from webapp.observability import current_request_id, job_context

        current = _current_rq_job()
        request_id = (current.meta or {}).get("request_id") if current is not None else current_request_id()
        with job_context(request_id, current.id if current is not None else None, func_name):
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except Exception:
                log.exception("job %s failed", func_name,
                              extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)})
                raise
            log.info("job %s done", func_name,
                     extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)})
            return result

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return run(args, kwargs)
        global _worker_app
        if _worker_app is None:
            from webapp import create_app

            _worker_app = create_app()
        with _worker_app.app_context():
            try:
                return run(args, kwargs)
            finally:
                from webapp.extensions import db

                db.session.remove()

    return wrapper


class ThreadWorker(SimpleWorker):
    """An RQ worker that can live in a thread: no signal handlers, thread-based job timeouts."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        pass


def enqueue_due(queues: tuple[str, ...] = ("default",), *, until: float | None = None) -> int:
    """Move scheduled jobs (RQ retries with an interval) whose time has come (or `until`, a Unix time) onto their
    queue. A worker started with `with_scheduler=True` (`jobs.worker`) does this itself; the in-process worker of
    `make run` and the tests call it."""
    import time

    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    connection = redis_connection()
    moved = 0
    for name in queues:
        queue = Queue(name, connection=connection)
        registry = ScheduledJobRegistry(queue=queue)
        for job_id in registry.get_jobs_to_schedule(int(until if until is not None else time.time())):
            registry.remove(job_id)
            try:
                job = Job.fetch(job_id, connection=connection)
            except Exception:  # noqa: BLE001 - expired or deleted meanwhile
                continue
            queue._enqueue_job(job)
            moved += 1
    return moved


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
                    enqueue_due(queues)  # RQ retries with an interval wait in the scheduled registry
                    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
            except Exception:  # noqa: BLE001 - keep the demo worker alive; the error is logged
                log.exception("in-process worker pass failed")
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="poddesk-inprocess-worker", daemon=True)
    thread.start()
    return thread
