"""OpenAPI fuzzing: the real app served over HTTP on its own committing PostgreSQL database.

The package gets (package-scoped: set up once, torn down after its last test, so the rest of the suite finds its
own app and rate-limit storage again):
- its own database (`FUZZ_DATABASE`, default `poddesk_fuzz`, dropped and created again, `create_all`): the fuzzer's
  writes really commit, so the rolled-back-transaction fixture of tests/conftest.py is replaced;
- Redis db `FUZZ_REDIS_URL` (default db 4), emptied, for the rate limits and the RQ queue;
- the Kubernetes, Midtrans and Google OIDC simulators in threads, so instance, top-up and Google routes speak the real
  protocols instead of answering 503;
- the app served by werkzeug on a free localhost port, in a thread;
- seed data made through the services and the API itself: the demo catalog and users, a customer subscription whose
  instance is RUNNING on the simulated cluster, a ticket with a reply, a pending Midtrans top-up;
- real access tokens from `POST /api/auth/login` for the customer and the administrator, renewed when the fuzzer
  revokes them (logout-all, password change);
- rate limits kept ON but raised (`FUZZ_RATE_LIMIT`), so a 429 stays a valid, documented answer without making every
  later request of the run a 429 (the limits themselves are tested in tests/api and tests/test_rate_limits_redis.py).

PostgreSQL or Redis missing: skipped outside CI, an error in CI (CI=true).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import text

from tests.served_app import prepare_services, served_app

IN_CI = os.environ.get("CI", "").lower() == "true"
DB_NAME = os.environ.get("FUZZ_DATABASE", "poddesk_fuzz")
REDIS_URL = os.environ.get("FUZZ_REDIS_URL", "redis://127.0.0.1:6379/4")
RATE_LIMIT = os.environ.get("FUZZ_RATE_LIMIT", "100000 per minute")
PASSWORD = "password123"  # webapp.demo.DEMO_PASSWORD
ADMIN_EMAIL, CUSTOMER_EMAIL, VICTIM_EMAIL = "admin@minispod.com", "user1@minispod.com", "user2@minispod.com"

log = logging.getLogger(__name__)


def _unavailable(reason: str):
    if IN_CI:
        pytest.exit(f"fuzz tests cannot run in CI: {reason}", returncode=3)
    pytest.skip(reason)


@dataclass
class FuzzStack:
    """What the fuzz tests talk to: the served app, real ids of seeded objects, tokens per role."""

    app: object
    url: str
    ids: dict = field(default_factory=dict)
    emails: dict = field(default_factory=dict)
    _tokens: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    logins: int = 0

    def token(self, role: str) -> str:
        with self._lock:
            if role not in self._tokens:
                self._tokens[role] = self._login(role)
            return self._tokens[role]

    def forget(self, role: str) -> None:
        """The fuzzer revoked the session (logout-all, password change...): log in again next time."""
        with self._lock:
            self._tokens.pop(role, None)

    def _login(self, role: str) -> str:
        from webapp.accounts.models import User
        from webapp.extensions import db

        user_id = self.ids[f"{role}_user"]
        with self.app.app_context():
            # The fuzzer may have changed the account (profile email, password, deactivation by the admin run):
            # put back what the login needs, through the same columns the services write.
            user = db.session.get(User, user_id)
            from webapp.accounts.passwords import hash_password

            user.password_hash = hash_password(PASSWORD, rounds=4)
            user.is_active = True
            user.deleted_at = None
            email = user.email
            db.session.commit()
            db.session.remove()
        response = requests.post(f"{self.url}/api/auth/login", json={"email": email, "password": PASSWORD},
                                 timeout=30)
        assert response.status_code == 200, (role, response.status_code, response.text)
        self.logins += 1
        return response.json()["data"]["accessToken"]

    def headers(self, role: str | None) -> dict:
        return {"Authorization": f"Bearer {self.token(role)}"} if role else {}


def _api(stack: FuzzStack, method: str, path: str, role: str | None = None, **kwargs) -> dict:
    response = requests.request(method, f"{stack.url}{path}", headers=stack.headers(role), timeout=30, **kwargs)
    assert response.status_code < 300, (method, path, response.status_code, response.text)
    return response.json()


def _work_until(app, predicate, timeout: float) -> bool:
    """Push the outbox and run queued jobs (provisioning) until `predicate()` holds."""
    from jobs.queue import run_burst
    from webapp.extensions import db
    from webapp.outbox import dispatch_pending

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            dispatch_pending()
            db.session.remove()
        run_burst(app)
        with app.app_context():
            done = predicate()
            db.session.remove()
        if done:
            return True
        time.sleep(0.2)
    return False


def _seed(stack: FuzzStack) -> None:
    from sqlalchemy import select

    from webapp.accounts.models import User
    from webapp.cluster.models import ServiceInstance
    from webapp.demo import seed_demo
    from webapp.extensions import db

    app = stack.app
    with app.app_context():
        db.create_all()
        seed_demo()
        db.session.commit()
        for role, email in (("admin", ADMIN_EMAIL), ("customer", CUSTOMER_EMAIL), ("victim", VICTIM_EMAIL)):
            stack.ids[f"{role}_user"] = db.session.execute(select(User.id).where(User.email == email)).scalar_one()
            stack.emails[role] = email
        db.session.remove()

    # Through the API, as a client would: a subscription (and its instance), a ticket, a top-up.
    plans = _api(stack, "GET", "/api/catalog/services/n8n-automation/plans", "customer")["data"]
    plan = next(p for p in plans["plans"] if p.get("monthlyPrice"))
    sub = _api(stack, "POST", "/api/subscriptions", "customer", json={"planId": plan["id"]})["data"]["subscription"]
    stack.ids.update(subscription=sub["id"], plan=plan["id"])
    ticket = _api(stack, "POST", "/api/tickets", "customer",
                  json={"subject": "Fuzzing ticket", "description": "Seeded for the OpenAPI fuzz run"})["data"]
    stack.ids["ticket"] = ticket["id"]
    _api(stack, "POST", f"/api/admin/tickets/{ticket['id']}/messages", "admin", json={"content": "Seeded reply"})
    from tests.support.images import png

    message = _api(stack, "POST", f"/api/tickets/{ticket['id']}/messages", "customer", data={"content": "Screenshot"},
                   files={"attachments": ("screen.png", png(), "image/png")})["data"]
    stack.ids["attachment"] = message["attachments"][0]["id"]
    nodes = _api(stack, "GET", "/api/admin/k8s/nodes", "admin")["data"]
    stack.ids["node"] = (nodes.get("nodes") if isinstance(nodes, dict) else nodes)[0]["name"]
    topup = _api(stack, "POST", "/api/wallet/topup", "customer",
                 json={"amount": 50_000, "paymentMethod": "BANK_TRANSFER"})["data"]["transaction"]
    stack.ids["transaction"] = topup["transactionId"]

    def running() -> bool:
        instance = db.session.execute(select(ServiceInstance).where(
            ServiceInstance.subscription_id == sub["id"])).scalar_one_or_none()
        if instance is not None:
            stack.ids["instance"] = instance.id
        return instance is not None and instance.status.value == "RUNNING"

    if not _work_until(app, running, timeout=60):
        log.warning("the seeded instance did not reach RUNNING; instance routes will mostly answer 400/409")
    with app.app_context():
        from webapp.catalog.models import Service

        service = db.session.execute(select(Service).where(Service.slug == "n8n-automation")).scalar_one()
        stack.ids["service"], stack.ids["service_slug"] = service.id, service.slug
        coupon = db.session.execute(text("SELECT id, code FROM coupons ORDER BY code LIMIT 1")).first()
        if coupon is not None:
            stack.ids["coupon"], stack.ids["coupon_code"] = coupon[0], coupon[1]
        db.session.remove()


@pytest.fixture(scope="package")
def fuzz_stack():
    try:
        database_url = prepare_services(DB_NAME, REDIS_URL)
    except Exception as exc:  # noqa: BLE001
        _unavailable(f"PostgreSQL/Redis for the fuzz tests are not reachable: {exc}")
    with served_app(name="fuzz", database_url=database_url, redis_url=REDIS_URL, kube_pod_start_delay=0.2,
                    kube_nodes=2, midtrans_retries=0, quiet=True,
                    keep_database=bool(os.environ.get("FUZZ_KEEP_DATABASE")),
                    LOGIN_RATE_LIMIT=RATE_LIMIT, LOGIN_FAILURE_LIMIT=RATE_LIMIT, LOGIN_ACCOUNT_FAILURE_LIMIT=RATE_LIMIT,
                    REGISTER_RATE_LIMIT=RATE_LIMIT, REFRESH_RATE_LIMIT=RATE_LIMIT, TICKET_WRITE_RATE_LIMIT=RATE_LIMIT,
                    KUBE_POLL_INTERVAL=0.2, KUBE_PROBE_CACHE_SECONDS=1, KUBE_TIMEOUT_SECONDS=5,
                    LOG_STREAM_MAX_SECONDS=1) as served:
        stack = FuzzStack(app=served.app, url=served.url)
        _seed(stack)
        yield stack


@pytest.fixture(autouse=True)
def _quiet_logs():
    """Thousands of fuzz requests: keep the access and worker lines out of the report, for these tests only (the
    package fixture's teardown runs at the end of the session, too late to restore a level set there)."""
    quiet = {name: logging.getLogger(name).level for name in ("rq.worker", "poddesk.access")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


# The suite-wide fixtures (tests/conftest.py) are replaced here: no rolled-back transaction, no `test` schema.
@pytest.fixture(scope="package")
def app(fuzz_stack):
    return fuzz_stack.app


@pytest.fixture(autouse=True)
def _db_transaction():
    yield
