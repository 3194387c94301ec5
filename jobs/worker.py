"""The worker process: `python -m jobs.worker [queue ...]` (Procfile `worker:`; default queue `default`).

Logging is configured first (JSON lines on stderr, `LOG_FORMAT` / `LOG_LEVEL`), so RQ's own lines and the jobs'
lines share one format; a job's lines carry its originating request id, job id and function (`jobs.queue.job`).
Then the app is built once, the job outbox is swept (rows Redis refused while no worker was up), and an RQ `Worker`
runs: each job in a forked work horse that inherits the app. The parent closes its database connections before
forking starts, so no child ever shares a connection with another process.
"""
from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger("jobs.worker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.worker")
    parser.add_argument("queues", nargs="*", default=["default"])
    parser.add_argument("--burst", action="store_true", help="run what is queued, then exit")
    options = parser.parse_args(argv)

    from webapp.observability import configure_logging

    configure_logging()
    from rq import Queue, Worker

    from webapp import create_app
    from webapp.extensions import db

    from .queue import redis_connection, set_worker_app

    app = create_app()
    set_worker_app(app)
    # The job bodies import their services lazily, and the Kubernetes client package imports its API classes on
    # first use: do both here once, or every forked work horse pays again (~5 s per cluster job on a busy box).
    import kubernetes.client

    import webapp.cluster.services  # noqa: F401
    import webapp.payments.services  # noqa: F401
    import webapp.subscriptions.renewals  # noqa: F401

    for api in ("CoreV1Api", "AppsV1Api", "NetworkingV1Api", "CustomObjectsApi", "VersionApi"):
        getattr(kubernetes.client, api)
    with app.app_context():
        connection = redis_connection()
        try:
            from webapp.outbox import dispatch_pending

            pushed = dispatch_pending()
            if pushed:
                log.info("outbox sweep at start pushed %d job(s)", pushed)
        except Exception:  # noqa: BLE001 - the scheduler's sweep retries every minute
            log.exception("outbox sweep at worker start failed")
        db.engine.dispose()  # work horses are forked from here: they must not inherit pooled connections
    # Maintenance every minute, not RQ's 10: it is what retries the jobs of a worker that died (abandoned or stuck
    # between dequeue and start) and lets a live worker take over the scheduler (which runs the retries) from it.
    worker = Worker([Queue(name, connection=connection) for name in options.queues], connection=connection,
                    maintenance_interval=60)
    worker.work(burst=options.burst, logging_level=logging.getLevelName(logging.getLogger().level),
                with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
