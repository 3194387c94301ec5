"""The real app served over HTTP on a database of its own, with the three simulators: for the test packages that
drive it from outside (tests/browser with Chromium, tests/fuzz with schemathesis).

`served_app(...)` is a context manager: it drops and creates the database, empties the Redis db, starts the
Kubernetes, Midtrans and Google OIDC simulators in threads, builds the app pointed at them (`simulators.app_settings`),
serves it with werkzeug on a free localhost port and points Midtrans notifications at it. On exit everything is
stopped and given back: flask-limiter's registrations and storage (one object per process: the last `init_app`
wins the storage, and create_app's `@limiter.limit` decorators register their limits again under the same endpoint
names), the RQ worker's app, the uploads folder, the database.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import WSGIRequestHandler, make_server

from simulators import app_settings
from tests import limiter_state

_BASE_DB_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ADMIN_DB_URL = make_url(_BASE_DB_URL).set(database="postgres").render_as_string(hide_password=False)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # thousands of requests: keep the test output readable
        pass


@dataclass
class ServedApp:
    app: object
    url: str
    kube: object
    midtrans: object
    oidc: object


def _recreate_database(name: str) -> str:
    admin = create_engine(ADMIN_DB_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(ADMIN_DB_URL).set(database=name).render_as_string(hide_password=False)


def _drop_database(name: str) -> None:
    admin = create_engine(ADMIN_DB_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception:  # noqa: BLE001 - leaving it behind is harmless: the next run drops it first
        pass
    finally:
        admin.dispose()


def prepare_services(database: str, redis_url: str) -> str:
    """A new empty database and an emptied Redis db; the database URL. Raises when either is unreachable."""
    import redis

    url = _recreate_database(database)
    redis.Redis.from_url(redis_url, socket_timeout=2).flushdb()
    return url


@contextmanager
def served_app(*, name: str, database_url: str, redis_url: str, kube_pod_start_delay: float, kube_nodes: int,
               midtrans_retries: int, quiet: bool = False, keep_database: bool = False,
               **config) -> Iterator[ServedApp]:
    """The app on `database_url` (made by `prepare_services`), served until the block ends; `config` overrides
    the testing settings."""
    from simulators.kube import KubeSimulator
    from simulators.midtrans import MidtransSimulator
    from simulators.oidc import OIDCSimulator

    oidc = OIDCSimulator(host="127.0.0.1", port=0)
    oidc.start()
    kube = KubeSimulator(host="127.0.0.1", port=0, pod_start_delay=kube_pod_start_delay, nodes=kube_nodes)
    kube.start()
    midtrans = MidtransSimulator(host="127.0.0.1", port=0, server_key=f"SB-Mid-server-{name}-test",
                                 client_key=f"SB-Mid-client-{name}-test", retries=midtrans_retries, retry_delay=0.1)
    midtrans.start()
    uploads = tempfile.mkdtemp(prefix=f"poddesk-{name}-uploads-")

    import jobs.queue
    from webapp import create_app
    from webapp.extensions import db, limiter

    saved_limiter = limiter_state.snapshot(limiter)
    saved_worker_app = jobs.queue._worker_app
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=redis_url,
                     RATELIMIT_STORAGE_URI=redis_url, UPLOAD_FOLDER=uploads, MIDTRANS_TIMEOUT=5.0,
                     **{**app_settings(oidc=oidc, kube=kube, midtrans=midtrans), **config})
    if saved_limiter["manager"]["_decorated_limits"]:  # the suite's app registered them already
        limiter_state.restore(limiter, saved_limiter, storage=False)
    jobs.queue.set_worker_app(app)
    server = make_server("127.0.0.1", 0, app, threaded=True, **({"request_handler": QuietHandler} if quiet else {}))
    url = f"http://127.0.0.1:{server.server_port}"
    midtrans.notify_url = f"{url}/api/wallet/webhook/midtrans"  # as webapp/embedded.py does
    threading.Thread(target=server.serve_forever, name=f"{name}-app", daemon=True).start()
    try:
        yield ServedApp(app=app, url=url, kube=kube, midtrans=midtrans, oidc=oidc)
    finally:
        server.shutdown()
        server.server_close()
        for sim in (midtrans, kube, oidc):
            try:
                sim.stop()
            except Exception:  # noqa: BLE001
                pass
        with app.app_context():
            db.engine.dispose()
        limiter_state.restore(limiter, saved_limiter)
        jobs.queue.set_worker_app(saved_worker_app)
        shutil.rmtree(uploads, ignore_errors=True)
        if not keep_database:
            _drop_database(make_url(database_url).database)
