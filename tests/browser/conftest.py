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
import threading
import time
from pathlib import Path

import pytest

from tests.served_app import prepare_services, served_app

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
DB_NAME = "poddesk_browser"
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


# ----------------------------------------------------------------------------------------------- the app
class Stack:
    """What the tests talk to: the served app, its simulators, the shared per-session state."""

    def __init__(self, served):
        self.app, self.url, self.kube, self.midtrans, self.oidc = (served.app, served.url, served.kube,
                                                                   served.midtrans, served.oidc)
        self.state: dict = {}


@pytest.fixture(scope="package")
def stack():
    try:
        database_url = prepare_services(DB_NAME, REDIS_URL)
    except Exception as exc:  # noqa: BLE001
        if IN_CI:
            pytest.exit(f"PostgreSQL/Redis for the browser tests are not reachable: {exc}", returncode=3)
        pytest.skip(f"PostgreSQL/Redis for the browser tests are not reachable: {exc}")

    from webapp.demo import seed_demo
    from webapp.extensions import db

    with served_app(name="browser", database_url=database_url, redis_url=REDIS_URL, kube_pod_start_delay=0.5,
                    kube_nodes=3, midtrans_retries=1, KUBE_POLL_INTERVAL=0.3, KUBE_PROBE_CACHE_SECONDS=1) as served:
        app = served.app
        with app.app_context():
            db.create_all()
            seed_demo()
            db.session.commit()
            db.session.remove()
        # As in embedded.py: the simulator sends the browser back to the finish page.
        finish = f"{served.url}/portal/wallet/topup/finish"
        app.config.update(MIDTRANS_FINISH_URL=finish, MIDTRANS_UNFINISH_URL=finish, MIDTRANS_ERROR_URL=finish)
        stop = threading.Event()
        worker = threading.Thread(target=_work, args=(app, stop), name="browser-worker", daemon=True)
        worker.start()
        try:
            yield Stack(served)
        finally:
            stop.set()
            worker.join(timeout=30)


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
