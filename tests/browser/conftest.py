"""Browser tests: headless Debian Chromium driven by Playwright for Python, against the real app.

The tests of this package get (package-scoped: set up once, torn down right after the last browser test, so the
rest of the suite finds its own app and rate-limit storage again):
- their own PostgreSQL database (`poddesk_browser`, dropped and created again, `create_all`, `seed_demo`), with real
  commits: the app is a real server here, so the rolled-back-transaction fixture of tests/conftest.py is replaced;
- Redis db 5 (emptied) for RQ and the rate limits, and a background thread that pushes the outbox and drains RQ
  every 0.5 s (provisioning, notifications);
- the Kubernetes, Midtrans and Google OIDC simulators in threads, configured as `make run` does (webapp/embedded.py);
- the app served by werkzeug on a free localhost port, in a thread;
- one Chromium process (`/usr/bin/chromium`, never a downloaded browser); each test gets a new context
  (1280x800) and saves a screenshot of its end state under `$ARTIFACTS_DIR` (default `artifacts/browser/`),
  copied to `docs/screenshots/` for the README tour.

Chromium or Playwright missing: outside CI the tests are skipped with the reason; in CI (CI=true) they fail.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from simulators import app_settings
from tests import limiter_state

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
DB_NAME = "poddesk_browser"
ADMIN_URL = os.environ.get("BROWSER_ADMIN_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BROWSER_REDIS_URL", "redis://127.0.0.1:6379/5")
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts" / "browser")
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "password123"  # webapp.demo.DEMO_PASSWORD

pytestmark = pytest.mark.browser


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


# ----------------------------------------------------------------------------------------------- database
def _fresh_database() -> str:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    finally:
        admin.dispose()
    return make_url(ADMIN_URL).set(database=DB_NAME).render_as_string(hide_password=False)


def _drop_database() -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    except Exception:  # noqa: BLE001 - leaving the database behind is harmless (next session drops it)
        pass
    finally:
        admin.dispose()


class Stack:
    """What the tests talk to: the served app, its simulators, the shared per-session state."""

    def __init__(self, app, url: str, kube, midtrans, oidc):
        self.app, self.url, self.kube, self.midtrans, self.oidc = app, url, kube, midtrans, oidc
        self.state: dict = {}


@pytest.fixture(scope="package")
def stack():
    import redis

    try:
        database_url = _fresh_database()
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).flushdb()
    except Exception as exc:  # noqa: BLE001
        if IN_CI:
            pytest.exit(f"PostgreSQL/Redis for the browser tests are not reachable: {exc}", returncode=3)
        pytest.skip(f"PostgreSQL/Redis for the browser tests are not reachable: {exc}")

    from simulators.kube import KubeSimulator
    from simulators.midtrans import MidtransSimulator
    from simulators.oidc import OIDCSimulator

    oidc = OIDCSimulator(host="127.0.0.1", port=0)
    oidc.start()
    kube = KubeSimulator(host="127.0.0.1", port=0, pod_start_delay=0.5, nodes=3)
    kube.start()
    server_key, client_key = "SB-Mid-server-browser-test", "SB-Mid-client-browser-test"
    midtrans = MidtransSimulator(host="127.0.0.1", port=0, server_key=server_key, client_key=client_key,
                                 retries=1, retry_delay=0.1)
    midtrans.start()
    uploads = tempfile.mkdtemp(prefix="poddesk-browser-uploads-")

    import jobs.queue
    from webapp import create_app
    from webapp.demo import seed_demo
    from webapp.extensions import db, limiter

    # flask-limiter is one object per process: the last init_app wins the storage, and create_app's
    # `@limiter.limit` decorators add their limits again under the same endpoint names (each request would then be
    # counted twice). Keep the suite's registrations for this app too, and give everything back afterwards.
    saved_limiter = limiter_state.snapshot(limiter)
    saved_worker_app = jobs.queue._worker_app
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=REDIS_URL, RATELIMIT_STORAGE_URI=REDIS_URL,
        UPLOAD_FOLDER=uploads, KUBE_POLL_INTERVAL=0.3, KUBE_PROBE_CACHE_SECONDS=1,
        MIDTRANS_TIMEOUT=5.0, **app_settings(oidc=oidc, kube=kube, midtrans=midtrans),
    )
    if saved_limiter["manager"]["_decorated_limits"]:  # the suite's app registered them already
        limiter_state.restore(limiter, saved_limiter, storage=False)
    with app.app_context():
        db.create_all()
        seed_demo()
        db.session.commit()
        db.session.remove()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    # As in embedded.py: the simulator notifies the served app, and sends the browser back to the finish page.
    midtrans.notify_url = f"{url}/api/wallet/webhook/midtrans"
    finish = f"{url}/portal/wallet/topup/finish"
    app.config.update(MIDTRANS_FINISH_URL=finish, MIDTRANS_UNFINISH_URL=finish, MIDTRANS_ERROR_URL=finish)
    serving = threading.Thread(target=server.serve_forever, name="browser-app", daemon=True)
    serving.start()

    stop = threading.Event()
    worker = threading.Thread(target=_work, args=(app, stop), name="browser-worker", daemon=True)
    worker.start()

    yield Stack(app, url, kube, midtrans, oidc)

    stop.set()
    worker.join(timeout=30)
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
    _drop_database()


def _work(app, stop: threading.Event) -> None:
    """The RQ worker of this test session: push the outbox, run whatever is queued, every 0.5 s."""
    import logging

    from jobs.queue import run_burst, set_worker_app
    from webapp.extensions import db
    from webapp.outbox import dispatch_pending

    set_worker_app(app)
    logging.getLogger("rq.worker").setLevel(logging.WARNING)  # one start/stop line per pass otherwise
    while not stop.is_set():
        try:
            with app.app_context():
                dispatch_pending()
                db.session.remove()
            run_burst(app)
        except Exception:  # noqa: BLE001 - keep draining; the error is in the log
            logging.getLogger(__name__).exception("browser-test worker pass failed")
        stop.wait(0.5)


# The suite-wide fixtures (tests/conftest.py) are replaced here: no rolled-back transaction, no dropped `test` schema.
@pytest.fixture(scope="package")
def app(stack):
    return stack.app


@pytest.fixture(autouse=True)
def _db_transaction():
    yield


# ----------------------------------------------------------------------------------------------- browser
@pytest.fixture(scope="package")
def browser():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed ({exc}); pip install -r requirements-dev.txt")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(request, browser, stack):
    context = browser.new_context(viewport=VIEWPORT, base_url=stack.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """The end state of a test: artifacts/browser/<name>.png, copied to docs/screenshots/ for the README."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / f"{name}.png")
    return path


def wait_until(predicate, timeout: float, interval: float = 0.5, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
