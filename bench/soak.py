"""The money soak (issue 9, item 3): many customers, random concurrent money operations, real processes, then the
invariants of `webapp/reporting/invariants.py` (all must be 0) and no HTTP 5xx.

    .venv/bin/python bench/soak.py [--users 200] [--duration 120 | --operations 4000] [--seed 1] [--rounds 3]

What runs (all real processes/protocols, nothing mocked):
- PostgreSQL database `poddesk_soak` (dropped and recreated, schema by create_all), Redis db 7 (flushed);
- the app, served by werkzeug on a thread of this process (its billing clock is moved with `clock.set_offset`);
- `--workers` real worker processes (the Procfile's `python -m jobs.worker default`: RQ with its scheduler) running
  the jobs the app enqueues (provisioning, termination, resizes, notification delivery) and the billing passes;
- the Kubernetes simulator (`python -m simulators.kube`, a separate process) and the Midtrans simulator (Snap, Core
  API, payment page, signed HTTP notifications to the app's webhook) on a thread;
- client traffic from a thread pool with `requests`.

The run is split into `--rounds` billing months. Round k > 0 starts by moving the billing clock k x 32 days ahead and
enqueueing TWO daily-renewal passes (at the front of the queue, so both workers run one at the same time) and the
grace-period pass, while the traffic goes on. Each round a busy worker is SIGKILLed (work-horse and worker, like a
lost pod) at a random moment and replaced. Traffic: top-ups through the real flow (POST /api/wallet/topup, the
payment page, signed notifications), repeated / out-of-order / forged notifications, coupon races, subscribe,
upgrade, (admin) downgrade, cancel, auto-renew, admin refunds and force-cancels, wallet reads.

After the traffic, what production's periodic machinery does is run in compressed time: a last pair of renewal
passes, the stale top-up sweep, RQ's abandoned-job handling (retry), the outbox sweep and the stuck-instance
reconciler; then the invariants are checked (with the Midtrans simulator's statuses as the truth for top-ups).
Exit status 1 when any invariant or soak check is violated or any HTTP 5xx was seen.

`run_soak(...)` is the driver; tests/test_money_soak.py runs it with small numbers.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.benchutil import free_port, recreate_database, wait_http  # noqa: E402
from bench.benchutil import machine as machine_info  # noqa: E402
from jobs.queue import job  # noqa: E402

SERVER_KEY, CLIENT_KEY = "SB-Mid-server-soak", "SB-Mid-client-soak"
WEBHOOK = "/api/wallet/webhook/midtrans"
DEFAULT_BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
METHODS = ("BANK_TRANSFER", "E_WALLET", "CREDIT_CARD", "QRIS")
MONTH = timedelta(days=32)
PASSWORD = "soak-password-1"
CAPACITY = 4503  # pseudo status of a 503 "full capacity" answer (see _capacity_refusal)
TRANSITIONAL = ("PENDING", "PROVISIONING", "RESTARTING", "STOPPING", "STARTING")

# Operation mix (relative weights).
WEIGHTS = {
    "topup_settle": 14, "topup_fail": 5, "topup_poll": 4, "webhook_repeat": 5, "webhook_out_of_order": 5,
    "webhook_forged": 4, "coupon_race": 2, "subscribe": 16, "upgrade": 6, "downgrade": 4, "cancel": 4,
    "auto_renew": 3, "admin_refund": 3, "admin_force_cancel": 3, "wallet_read": 5,
}


# ============================================================================================ the worker-side job
@job
def billing_pass_at(name: str, at_iso: str, run_id: str):
    """A billing job (`jobs.billing.run_named`) run at a simulated instant: the soak's months go by in seconds."""
    from jobs.billing import run_named
    from webapp import clock

    with clock.frozen(datetime.fromisoformat(at_iso)):
        result = run_named(name, source="soak", run_id=run_id)
    return {k: v for k, v in (result or {}).items() if k != "errors"}


# ============================================================================================ results
class _ErrorCapture(logging.Handler):
    def __init__(self, sink: list):
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.sink) < 50:
            self.sink.append(f"{record.name}: {record.getMessage()[:300]}")


@dataclass
class SoakResult:
    params: dict
    machine: dict
    seconds: float = 0.0
    operations: Counter = field(default_factory=Counter)      # (kind, outcome) -> count
    http_5xx: list = field(default_factory=list)               # (kind, method, path, status, body)
    errors: list = field(default_factory=list)                 # (kind, exception text)
    server_errors: list = field(default_factory=list)          # the app's own ERROR log lines (why a 5xx)
    invariants: dict = field(default_factory=dict)             # name -> list | None
    checks: dict = field(default_factory=dict)                 # soak-only checks: name -> list
    recovery: dict = field(default_factory=dict)
    kills: list = field(default_factory=list)
    passes: list = field(default_factory=list)

    @property
    def violations(self) -> int:
        return (sum(len(v) for v in self.invariants.values() if v) + sum(len(v) for v in self.checks.values()))

    @property
    def exit_code(self) -> int:
        return 1 if self.violations or self.http_5xx or self.errors else 0

    def per_kind(self) -> dict:
        table: dict[str, Counter] = defaultdict(Counter)
        for (kind, outcome), count in self.operations.items():
            table[kind][outcome] += count
        return dict(sorted(table.items()))

    def report(self) -> str:
        from webapp.reporting.invariants import format_table

        lines = ["== PodDesk money soak =="]
        lines.append("machine: " + ", ".join(f"{k} {v}" for k, v in self.machine.items()))
        lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in self.params.items()))
        lines.append(f"duration: {self.seconds:.1f} s")
        total = sum(self.operations.values())
        lines.append(f"operations: {total} ({total / self.seconds if self.seconds else 0:.1f}/s)")
        lines.append(f"  {'kind':<22} {'total':>6} {'2xx':>6} {'4xx':>6} {'full':>5} {'5xx':>5} {'error':>5} "
                     f"{'skip':>5}")
        for kind, c in self.per_kind().items():
            lines.append(f"  {kind:<22} {sum(c.values()):>6} {c['2xx']:>6} {c['4xx']:>6} {c['full']:>5} {c['5xx']:>5} "
                         f"{c['error']:>5} {c['skipped']:>5}")
        lines.append("  (4xx: refused as the API should, e.g. no credit, already cancelled; full: 503 'plan at full "
                     "capacity', the original API's status; skip: nothing to act on)")
        failures = Counter(k for k, *_ in self.http_5xx)
        lines.append(f"failures: HTTP 5xx {len(self.http_5xx)} {dict(failures) or ''}; "
                     f"client errors {len(self.errors)}")
        for sample in self.http_5xx[:5]:
            lines.append(f"    5xx {sample}")
        for sample in self.errors[:5]:
            lines.append(f"    error {sample}")
        for sample in self.server_errors[:5]:
            lines.append(f"    server log {sample}")
        lines.append("billing passes: " + "; ".join(self.passes))
        lines.append(f"workers killed: {len(self.kills)}")
        for kill in self.kills:
            lines.append(f"    {kill}")
        lines.append("recovery: " + ", ".join(f"{k}={v}" for k, v in self.recovery.items()))
        lines.append(format_table(self.invariants))
        lines.append(f"{'soak check':<34} violations")
        for name, violations in self.checks.items():
            lines.append(f"{name:<34} {len(violations)}")
            for v in violations[:3]:
                lines.append(f"    {v}")
        lines.append(f"RESULT: {'OK' if self.exit_code == 0 else 'FAILED'} "
                     f"({self.violations} violations, {len(self.http_5xx)} HTTP 5xx)")
        return "\n".join(lines)


# ============================================================================================ infrastructure
def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces, so split after the closing parenthesis
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def _die_with_parent() -> None:  # runs in the child between fork and exec
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Spawner:
    """Starts every child process from one long-lived thread with PR_SET_PDEATHSIG=SIGKILL, so no worker or
    simulator outlives the soak even when it is killed. (The signal follows the *thread* that forked: a child
    started from a short-lived thread, e.g. the killer's, would die with it; hence one thread for all.)"""

    def __init__(self):
        import queue

        self.requests: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, name="soak-spawner", daemon=True).start()

    def _run(self) -> None:
        while True:
            args, kwargs, box, done = self.requests.get()
            try:
                preexec = _die_with_parent if sys.platform.startswith("linux") else None
                box.append(subprocess.Popen(*args, preexec_fn=preexec, **kwargs))
            except Exception as exc:  # noqa: BLE001 - handed back to the caller
                box.append(exc)
            done.set()

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        box: list = []
        done = threading.Event()
        self.requests.put((args, kwargs, box, done))
        done.wait()
        if isinstance(box[0], Exception):
            raise box[0]
        return box[0]


class Workers:
    """The Procfile's worker processes (`python -m jobs.worker default`: an RQ worker with its scheduler, forking a
    work horse per job), started, SIGKILLed and replaced. Labelled w1, w2, ...; matched to RQ's records by pid."""

    def __init__(self, env: dict, redis_url: str, logdir: Path, spawner: Spawner):
        self.env, self.redis_url, self.logdir, self.spawner = env, redis_url, logdir, spawner
        self.procs: dict[str, subprocess.Popen] = {}
        self.dead: set[str] = set()
        self._n = 0
        self._lock = threading.Lock()

    def start(self) -> str:
        with self._lock:
            self._n += 1
            name = f"w{self._n}"
        log = open(self.logdir / f"worker-{name}.log", "wb")
        self.procs[name] = self.spawner.popen([sys.executable, "-m", "jobs.worker", "default"], cwd=str(ROOT),
                                              env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True)
        return name

    def by_pid(self) -> dict[int, str]:
        return {p.pid: n for n, p in self.live().items()}

    def live(self) -> dict[str, subprocess.Popen]:
        return {n: p for n, p in self.procs.items() if p.poll() is None and n not in self.dead}

    def kill(self, name: str) -> list[int]:
        """SIGKILL the work-horse(s) and the worker: the job dies mid-way, nobody cleans up (a lost pod)."""
        proc = self.procs[name]
        pids = children_of(proc.pid) + [proc.pid]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)
        self.dead.add(name)
        return pids

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                for pid in children_of(proc.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Api:
    """HTTP client of the app: one pooled session per thread; every call counted, every 5xx remembered."""

    def __init__(self, base: str, result: SoakResult):
        import requests

        self.requests = requests
        self.base, self.result = base, result
        self._local = threading.local()
        self._lock = threading.Lock()

    def session(self):
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = self.requests.Session()
            s.trust_env = False
        return s

    def call(self, kind: str, method: str, path: str, token: str | None = None, json=None, headers=None,
             url: str | None = None, data=None, timeout: float = 60):
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        response = self.session().request(method, url or self.base + path, json=json, data=data, headers=h,
                                          timeout=timeout, allow_redirects=False)
        if response.status_code >= 500 and not _capacity_refusal(response):
            with self._lock:
                self.result.http_5xx.append((kind, method, path, response.status_code, response.text[:300]))
        try:
            body = response.json()
        except ValueError:
            body = None
        return (CAPACITY if _capacity_refusal(response) else response.status_code), body


def _capacity_refusal(response) -> bool:
    """503 "... at full capacity ..." is the original API's status for a full plan (spec: subscriptions U3/U7/A1/A7),
    kept for compatibility: a business refusal, counted as `full` instead of a server failure."""
    return response.status_code == 503 and "full capacity" in response.text


def bucket(status) -> str:
    if status is None:
        return "skipped"
    if status == CAPACITY:
        return "full"
    return f"{status // 100}xx" if status < 500 else "5xx"


# ============================================================================================ the soak
class Soak:
    def __init__(self, *, users: int, duration: float | None, operations: int | None, seed: int, rounds: int,
                 concurrency: int, workers: int, kills_per_round: int, database: str, base_url: str, redis_url: str,
                 log=print):
        self.n_users, self.duration, self.budget = users, duration, operations
        self.seed, self.rounds, self.concurrency, self.n_workers = seed, rounds, concurrency, workers
        self.kills_per_round, self.database = kills_per_round, database
        self.base_url, self.redis_url = base_url, redis_url
        self.log = log
        self.result = SoakResult(params={"users": users, "duration": duration, "operations": operations, "seed": seed,
                                         "rounds": rounds, "concurrency": concurrency, "workers": workers,
                                         "kills_per_round": kills_per_round, "database": database,
                                         "redis": redis_url}, machine=machine_info())
        self.rng = random.Random(seed)
        self.users: list[dict] = []
        self.plans: dict[str, list[dict]] = {}       # service id -> plans by tier
        self.plan_index: dict[str, dict] = {}
        self.race_codes: list[str] = []
        self.race_max = 3
        self.race_next = 0
        self.forged_credited: list[dict] = []
        self.race_oversold: list[dict] = []
        self.done_ops = 0
        self._ops_lock = threading.Lock()
        self.stop_traffic = threading.Event()
        self.round_at: datetime | None = None
        self.killed_jobs: list[str] = []
        self.killed_workers: set[str] = set()   # RQ names of the workers shot
        self.rq_names: dict[str, str] = {}       # our label (w1...) -> RQ worker name

    # ---------------------------------------------------------------------------------------- setup
    def setup(self) -> None:
        from werkzeug.serving import make_server

        from simulators.midtrans import MidtransSimulator

        self.tmp = Path(tempfile.mkdtemp(prefix="poddesk-soak-"))
        self.db_url = recreate_database(self.base_url, self.database)
        from redis import Redis

        Redis.from_url(self.redis_url).flushdb()

        self.kube_port, self.web_port = free_port(), free_port()
        self.kube_url = f"http://127.0.0.1:{self.kube_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.kube_log = open(self.tmp / "kube-sim.log", "wb")
        self.spawner = Spawner()
        self.kube_proc = self.spawner.popen(
            [sys.executable, "-m", "simulators.kube", "--port", str(self.kube_port), "--pod-start-delay", "0.2",
             "--nodes", "8"], cwd=str(ROOT), stdout=self.kube_log, stderr=subprocess.STDOUT, start_new_session=True)
        self.midtrans = MidtransSimulator(server_key=SERVER_KEY, client_key=CLIENT_KEY,
                                          notify_url=self.web_url + WEBHOOK, retries=2, retry_delay=0.2).start()
        # One set of settings: typed for the in-process app, as environment variables for the worker processes.
        self.config = {
            "SECRET_KEY": "soak-secret-key-not-for-production", "JWT_SECRET": "soak-jwt-secret-0123456789abcdef",
            "JWT_EXPIRES_IN": "24h", "BCRYPT_ROUNDS": 4, "REDIS_URL": self.redis_url,
            "RATELIMIT_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://",
            "MIDTRANS_SERVER_KEY": SERVER_KEY, "MIDTRANS_CLIENT_KEY": CLIENT_KEY,
            "MIDTRANS_API_BASE_URL": self.midtrans.url, "MIDTRANS_TIMEOUT": 10.0,
            "KUBE_API_URL": self.kube_url, "KUBE_POLL_INTERVAL": 0.2, "KUBE_TIMEOUT_SECONDS": 10.0,
            "PROVISION_READY_TIMEOUT": 60.0, "ROLLOUT_TIMEOUT": 60.0, "JOB_TIMEOUT": 180,
            "NOTIFICATION_SENDER": "outbox", "K8S_STORAGE_CLASS": "local-path",
        }
        as_env = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in self.config.items()}
        worker_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PODDESK_"))},
                      **as_env, "DATABASE_URL": self.db_url, "PODDESK_ENV": "production", "PYTHONPATH": str(ROOT)}
        self.workers = Workers(worker_env, self.redis_url, self.tmp, self.spawner)

        from webapp import create_app

        self.app = create_app("production", SQLALCHEMY_DATABASE_URI=self.db_url, **self.config,
                              SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": self.concurrency + 10,
                                                         "max_overflow": 20})
        from webapp.extensions import db

        import logging

        self._log_levels = {name: logging.getLogger(name).level
                            for name in ("", "werkzeug", "poddesk.access", "poddesk", "webapp", "rq")}
        for name in self._log_levels:  # the in-process app's request logs would drown the report
            logging.getLogger(name).setLevel(logging.WARNING)
        # ...but the app's ERROR lines say why a request failed: keep them for the report.
        self._error_capture = _ErrorCapture(self.result.server_errors)
        logging.getLogger("webapp").addHandler(self._error_capture)
        with self.app.app_context():
            db.create_all()
            self._seed_catalog()
        for _ in range(self.n_workers):  # they boot (seconds) while the users register
            self.workers.start()
        self.server = make_server("127.0.0.1", self.web_port, self.app, threaded=True)
        self.server_thread = threading.Thread(target=self.server.serve_forever, name="soak-web", daemon=True)
        self.server_thread.start()
        wait_http(self.kube_url + "/version", 20)
        self.api = Api(self.web_url, self.result)
        self._admin_login()
        self._create_coupons()
        self._register_users()
        self._wait_workers(90)

    def _wait_workers(self, timeout: float) -> None:
        """Until every worker process has registered with RQ (it imports the app and the job modules first)."""
        from rq import Worker

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            registered = {w.pid for w in Worker.all(queue=self.queue())}
            if set(self.workers.by_pid()) <= registered:
                return
            time.sleep(0.2)
        raise RuntimeError("the worker processes did not start; see " + str(self.tmp))

    def _seed_catalog(self) -> None:
        from webapp.accounts.models import Role
        from webapp.accounts.services import create_user
        from webapp.catalog.models import PlanType, Service, ServiceCategory, ServicePlan
        from webapp.extensions import db

        n = self.n_users
        category = ServiceCategory(name="Soak", slug="soak", description="Soak test apps", sort_order=1)
        db.session.add(category)
        db.session.flush()
        tiers = [(PlanType.FREE, 0, max(2, n // 10), 10, 0.25), (PlanType.BASIC, 50_000, max(3, n // 4), 25, 1),
                 (PlanType.PRO, 100_000, max(3, n // 6), 50, 2), (PlanType.PREMIUM, 200_000, max(2, n // 12), 100, 5)]
        for slug, name, image, port in (("n8n-automation", "N8N Automation", "n8nio/n8n:latest", 5678),
                                        ("ghost-blog", "Ghost Blog", "ghost:5-alpine", 2368)):
            service = Service(name=name, slug=slug, description=f"{name} for the soak", version="1",
                              docker_image=image, default_port=port, category_id=category.id, is_active=True,
                              is_public=True, is_featured=False, sort_order=1, tags=[])
            db.session.add(service)
            db.session.flush()
            self.plans[service.id] = []
            for order, (plan_type, price, quota, cpu, storage) in enumerate(tiers):
                plan = ServicePlan(service_id=service.id, name=plan_type.value.title(), plan_type=plan_type,
                                   monthly_price=price, cpu_milli=cpu, memory_mb=64 * (order + 1), storage_gb=storage,
                                   bandwidth=10, total_quota=quota, used_quota=0, max_instances_per_user=1,
                                   max_domains=1, is_active=True, is_popular=False, sort_order=order)
                db.session.add(plan)
                db.session.flush()
                entry = {"id": plan.id, "service": service.id, "tier": order, "price": price,
                         "type": plan_type.value}
                self.plans[service.id].append(entry)
                self.plan_index[plan.id] = entry
        create_user(name="Soak Admin", email="soak-admin@poddesk.example.com", password=PASSWORD,
                    role=Role.ADMINISTRATOR)
        db.session.commit()

    def _admin_login(self) -> None:
        status, body = self.api.call("setup", "POST", "/api/auth/login",
                                     json={"email": "soak-admin@poddesk.example.com", "password": PASSWORD})
        assert status == 200, (status, body)
        self.admin_token = body["data"]["accessToken"]

    def _create_coupons(self) -> None:
        n = self.n_users
        coupons = [{"code": "SOAKWELCOME", "name": "Soak welcome", "type": "WELCOME_BONUS", "creditAmount": 100_000,
                    "maxUses": max(1, n // 2)},
                   {"code": "SOAKDISC", "name": "Soak discount", "type": "SUBSCRIPTION_DISCOUNT",
                    "discountType": "PERCENTAGE", "discountPercent": 20, "maxUses": max(2, n // 4)}]
        self.race_codes = [f"SOAKRACE{i}" for i in range(max(4, n // 5))]
        coupons += [{"code": code, "name": f"Race {code}", "type": "CREDIT_TOPUP", "creditAmount": 25_000,
                     "maxUses": self.race_max} for code in self.race_codes]
        for coupon in coupons:
            status, body = self.api.call("setup", "POST", "/api/admin/coupons", self.admin_token, json=coupon)
            assert status == 201, (status, body)

    def _register_users(self) -> None:
        def register(i: int) -> dict:
            email = f"soak{i}@poddesk.example.com"
            status, body = self.api.call("register", "POST", "/api/auth/register",
                                         json={"email": email, "password": PASSWORD, "name": f"Soak User {i}"})
            self.result.operations[("register", bucket(status))] += 1
            assert status == 201, (status, body)
            return {"id": body["data"]["user"]["id"], "token": body["data"]["accessToken"], "email": email}

        with ThreadPoolExecutor(self.concurrency) as pool:  # registrations race for the welcome coupon
            self.users = list(pool.map(register, range(self.n_users)))

    # ---------------------------------------------------------------------------------------- helpers
    def user(self, rng: random.Random) -> dict:
        return rng.choice(self.users)

    def subscriptions(self, kind: str, user: dict, *, status: str | None = None) -> list[dict]:
        code, body = self.api.call(kind, "GET", "/api/subscriptions?includeInstances=false", user["token"])
        if code != 200:
            return []
        rows = body["data"]["subscriptions"]
        return [r for r in rows if status is None or r["status"] == status]

    def start_topup(self, kind: str, rng: random.Random, user: dict):
        amount = rng.randrange(50, 301) * 1_000
        status, body = self.api.call(kind, "POST", "/api/wallet/topup", user["token"],
                                     json={"amount": amount, "paymentMethod": rng.choice(METHODS)})
        return status, (body or {}).get("data", {}).get("transaction") if status == 201 else None

    def pay_page(self, kind: str, tx: dict, action: str = "pay") -> int:
        status, _ = self.api.call(kind, "POST", "", url=tx["redirectUrl"], data={"action": action})
        return status

    def post_webhook(self, kind: str, body: dict) -> int:
        status, _ = self.api.call(kind, "POST", WEBHOOK, json=body)
        return status

    # ---------------------------------------------------------------------------------------- operations
    def op_topup_settle(self, kind, rng):
        status, tx = self.start_topup(kind, rng, self.user(rng))
        if tx:
            self.pay_page(kind, tx)
        return status

    def op_topup_fail(self, kind, rng):
        user = self.user(rng)
        status, tx = self.start_topup(kind, rng, user)
        if not tx:
            return status
        if rng.random() < 0.3:  # the customer cancels in the app: Midtrans cancel, then local CANCELLED
            status, _ = self.api.call(kind, "POST", f"/api/wallet/transactions/{tx['transactionId']}/cancel",
                                      user["token"])
            return status
        self.pay_page(kind, tx, rng.choice(("deny", "cancel", "expire")))
        return status

    def op_topup_poll(self, kind, rng):
        """Paid, but the notification never arrives: the status poll asks Midtrans and credits."""
        user = self.user(rng)
        status, tx = self.start_topup(kind, rng, user)
        if not tx:
            return status
        self.midtrans.apply(tx["transactionId"], "complete", notify=False)
        status, _ = self.api.call(kind, "GET", f"/api/wallet/transactions/{tx['transactionId']}/status",
                                  user["token"])
        return status

    def op_webhook_repeat(self, kind, rng):
        """A settled order's notification delivered 3 times by Midtrans and replayed 4 times at once."""
        status, tx = self.start_topup(kind, rng, self.user(rng))
        if not tx:
            return status
        order = tx["transactionId"]
        self.pay_page(kind, tx)
        self.midtrans.notify(order, repeat=2)
        body = self.midtrans.status(order)
        body["status_message"] = "midtrans payment notification"
        barrier = threading.Barrier(4)

        def replay(_):
            try:
                barrier.wait(5)
            except threading.BrokenBarrierError:
                pass
            return self.post_webhook(kind, body)

        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(replay, range(4)))
        return max(codes)

    def op_webhook_out_of_order(self, kind, rng):
        status, tx = self.start_topup(kind, rng, self.user(rng))
        if not tx:
            return status
        order = tx["transactionId"]
        sequence, final = rng.choice([
            (["settlement", "pending"], "settlement"),    # the pending notification arrives after the settlement
            (["settlement", "expire"], "settlement"),     # a stale expire after the settlement
            (["pending", "expire"], "expire"),            # never paid
            (["expire", "settlement"], "settlement"),     # paid at the last second: expire seen first
        ])
        self.midtrans.notify_sequence(order, sequence, final_status=final)
        return status

    def op_webhook_forged(self, kind, rng):
        """Forged notifications for an unpaid order: wrong key, tampered amount, or a valid signature on an edited
        status (the app re-asks Midtrans): all refused, the order stays unpaid."""
        user = self.user(rng)
        status, tx = self.start_topup(kind, rng, user)
        if not tx:
            return status
        order = tx["transactionId"]
        body = self.midtrans.status(order)
        body["status_message"] = "midtrans payment notification"
        variant = rng.choice(("bad_key", "tampered_amount", "edited_status"))
        if variant == "bad_key":
            body.update(transaction_status="settlement", status_code="200")
            body["signature_key"] = hashlib.sha512(
                f"{order}200{body['gross_amount']}not-the-server-key".encode()).hexdigest()
        elif variant == "tampered_amount":
            body.update(transaction_status="settlement", gross_amount="99999999.00")
        else:  # signature over (order, status_code, amount) stays valid; only the status text is edited
            body.update(transaction_status="settlement", fraud_status="accept")
        code = self.post_webhook(kind, body)
        check, data = self.api.call(kind, "GET", f"/api/wallet/transactions/{order}/status", user["token"])
        if check == 200 and data["data"]["transaction"]["status"] == "COMPLETED":
            self.forged_credited.append({"order": order, "variant": variant})
        return code

    def op_coupon_race(self, kind, rng):
        with self._ops_lock:
            if self.race_next >= len(self.race_codes):
                return None
            code = self.race_codes[self.race_next]
            self.race_next += 1
        racers = rng.sample(self.users, min(len(self.users), self.race_max + 3))
        barrier = threading.Barrier(len(racers))

        def redeem(user):
            try:
                barrier.wait(5)
            except threading.BrokenBarrierError:
                pass
            status, _ = self.api.call(kind, "POST", "/api/wallet/redeem-coupon", user["token"],
                                      json={"couponCode": code})
            return status

        with ThreadPoolExecutor(len(racers)) as pool:
            codes = list(pool.map(redeem, racers))
        won = codes.count(200)
        if won > self.race_max:
            self.race_oversold.append({"coupon": code, "redeemed": won, "max": self.race_max})
        return 200 if won else max(codes)

    def op_subscribe(self, kind, rng):
        user = self.user(rng)
        service = rng.choice(list(self.plans))
        plan = rng.choice(self.plans[service])
        body = {"planId": plan["id"]}
        if plan["price"] and rng.random() < 0.15:
            body["couponCode"] = "SOAKDISC"
        if rng.random() < 0.2:  # the same customer subscribes twice at once: one 201, one 409
            with ThreadPoolExecutor(2) as pool:
                codes = list(pool.map(lambda _: self.api.call(kind, "POST", "/api/subscriptions", user["token"],
                                                              json=body)[0], range(2)))
            return min(codes)
        status, _ = self.api.call(kind, "POST", "/api/subscriptions", user["token"], json=body)
        return status

    def op_upgrade(self, kind, rng):
        user = self.user(rng)
        subs = self.subscriptions(kind, user, status="ACTIVE")
        if not subs:
            return None
        sub = rng.choice(subs)
        current = self.plan_index[sub["planId"]]
        higher = [p for p in self.plans[current["service"]] if p["tier"] > current["tier"]]
        if not higher:
            return None
        status, _ = self.api.call(kind, "PUT", f"/api/subscriptions/{sub['id']}/upgrade", user["token"],
                                  json={"newPlanId": rng.choice(higher)["id"]})
        return status

    def op_downgrade(self, kind, rng):
        user = self.user(rng)
        subs = self.subscriptions(kind, user, status="ACTIVE")
        if not subs:
            return None
        sub = rng.choice(subs)
        current = self.plan_index[sub["planId"]]
        lower = [p for p in self.plans[current["service"]] if p["tier"] < current["tier"]]
        if not lower:
            return None
        status, _ = self.api.call(kind, "PUT", f"/api/admin/subscriptions/{sub['id']}/upgrade", self.admin_token,
                                  json={"newPlanId": rng.choice(lower)["id"], "reason": "Soak test plan downgrade"})
        return status

    def op_cancel(self, kind, rng):
        user = self.user(rng)
        subs = self.subscriptions(kind, user)
        live = [s for s in subs if s["status"] == "ACTIVE"] or subs
        if not live:
            return None
        sub = rng.choice(live)
        status, _ = self.api.call(kind, "DELETE", f"/api/subscriptions/{sub['id']}", user["token"],
                                  json={"reason": "soak cancel"})
        return status

    def op_auto_renew(self, kind, rng):
        user = self.user(rng)
        subs = self.subscriptions(kind, user, status="ACTIVE")
        if not subs:
            return None
        sub = rng.choice(subs)
        status, _ = self.api.call(kind, "PUT", f"/api/subscriptions/{sub['id']}/auto-renew", user["token"],
                                  json={"autoRenew": rng.random() < 0.6})
        return status

    def op_admin_refund(self, kind, rng):
        user = self.user(rng)
        subs = self.subscriptions(kind, user)
        if not subs:
            return None
        sub = rng.choice(subs)
        body = {"amount": rng.randrange(1, 40) * 1_000, "reason": "Soak test goodwill refund", "refundType": "PARTIAL"}
        headers = {"Idempotency-Key": f"soak-{rng.getrandbits(48):x}"}
        status, _ = self.api.call(kind, "POST", f"/api/admin/subscriptions/{sub['id']}/refund", self.admin_token,
                                  json=body, headers=headers)
        if rng.random() < 0.3:  # the admin's client retries the same request: the first refund is returned
            self.api.call(kind, "POST", f"/api/admin/subscriptions/{sub['id']}/refund", self.admin_token, json=body,
                          headers=headers)
        return status

    def op_admin_force_cancel(self, kind, rng):
        user = self.user(rng)
        subs = self.subscriptions(kind, user, status="ACTIVE")
        if not subs:
            return None
        sub = rng.choice(subs)
        status, _ = self.api.call(kind, "DELETE", f"/api/admin/subscriptions/{sub['id']}/force-cancel",
                                  self.admin_token, json={"reason": "Soak test force cancel", "processRefund": True})
        return status

    def op_wallet_read(self, kind, rng):
        status, _ = self.api.call(kind, "GET", "/api/wallet/info", self.user(rng)["token"])
        return status

    # ---------------------------------------------------------------------------------------- traffic
    def traffic(self, round_no: int, seconds: float | None, budget: int | None, until=None) -> None:
        """Client threads doing random operations for `seconds` (or `budget` operations), and then on until
        `until()` is true (the round's renewal passes have run), at most 120 s more."""
        kinds, weights = zip(*WEIGHTS.items())
        deadline = time.monotonic() + seconds if seconds else None

        def over() -> bool:
            if deadline is not None and time.monotonic() < deadline:
                return False
            if budget is not None and deadline is None and done_in_round[0] < budget:
                return False
            if until is None:
                return True
            return until() or time.monotonic() > (deadline or started) + 120

        started = time.monotonic()

        def worker(index: int) -> None:
            rng = random.Random(f"{self.seed}:{round_no}:{index}")
            done = 0
            while not self.stop_traffic.is_set():
                if over():
                    return
                with self._ops_lock:
                    done_in_round[0] += 1
                kind = rng.choices(kinds, weights)[0]
                try:
                    status = getattr(self, f"op_{kind}")(kind, rng)
                    self.result.operations[(kind, bucket(status))] += 1
                except Exception as exc:  # noqa: BLE001 - a client-side failure is reported, the run goes on
                    self.result.operations[(kind, "error")] += 1
                    self.result.errors.append((kind, f"{type(exc).__name__}: {exc}"[:300]))
                done += 1

        done_in_round = [0]
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="soak-client") as pool:
            list(pool.map(worker, range(self.concurrency)))

    # ---------------------------------------------------------------------------------------- jobs
    def queue(self):
        from redis import Redis
        from rq import Queue

        if not hasattr(self, "_queue"):
            self._queue = Queue("default", connection=Redis.from_url(self.redis_url))
        return self._queue

    def enqueue_passes(self, at: datetime, label: str, *, front: bool = True) -> list[str]:
        """Two daily-renewal passes (at the front of the queue: the next two free workers run them at once), then
        the grace pass. Like the cron jobs they have no RQ retry: a pass that dies is redone by the next one."""
        q = self.queue()
        for suffix in ("b", "a") if front else ("a", "b"):
            q.enqueue("bench.soak.billing_pass_at", "daily-renewals", at.isoformat(), f"{label}-renewals-{suffix}",
                      at_front=front, job_timeout=600, result_ttl=3600, job_id=f"{label}-renewals-{suffix}")
        q.enqueue("bench.soak.billing_pass_at", "grace-period", at.isoformat(), f"{label}-grace",
                  job_timeout=600, result_ttl=3600, job_id=f"{label}-grace")
        ids = [f"{label}-renewals-a", f"{label}-renewals-b", f"{label}-grace"]
        self.pass_ids = getattr(self, "pass_ids", []) + ids
        return ids

    def jobs_done(self, ids: list[str]) -> bool:
        """Every job ended (or died with a worker the killer shot)."""
        from rq.job import Job

        for job_id in ids:
            if job_id in self.killed_jobs:
                continue
            try:
                job = Job.fetch(job_id, connection=self.queue().connection)
            except Exception:  # noqa: BLE001 - expired or never stored: nothing to wait for
                continue
            status = job.get_status().value
            if status == "started" and job.worker_name in self.killed_workers:
                continue
            if status not in ("finished", "failed", "stopped", "canceled"):
                return False
        return True

    def busy_workers(self) -> dict[str, str]:
        """Live worker name -> id of the job it is running."""
        from rq import Worker

        live = self.workers.by_pid()
        out = {}
        for w in Worker.all(queue=self.queue()):
            if w.pid in live:
                self.rq_names[live[w.pid]] = w.name
                job_id = w.get_current_job_id()
                if job_id:
                    out[live[w.pid]] = job_id
        return out

    def killer(self, round_no: int, seconds: float) -> None:
        """SIGKILL `kills_per_round` busy workers at random moments of the round. In a round with renewal passes
        the first victim is a worker running one of them; the others are running a cluster job if one is found
        within 2 s, else anything."""
        from rq.job import Job
        from rq.registry import StartedJobRegistry

        rng = random.Random(f"{self.seed}:kill:{round_no}")
        moments = sorted(rng.uniform(0.05, 0.7) * seconds for _ in range(self.kills_per_round))
        wants = ["renewal" if round_no and i == 0 else "cluster" for i in range(len(moments))]
        if wants and wants[0] == "renewal":
            moments[0] = 0.0  # the passes are at the front of the queue: watch for them from the start
        started = time.monotonic()
        cluster_jobs = ("provision_instance", "terminate_instance", "resize_instance")
        for moment, want in zip(moments, wants):
            if self.stop_traffic.wait(max(0.0, moment - (time.monotonic() - started))):
                return
            searching = time.monotonic()
            target = None
            while target is None and not self.stop_traffic.is_set():
                candidates = {}
                for name, job_id in self.busy_workers().items():
                    try:
                        func = Job.fetch(job_id, connection=self.queue().connection).func_name
                    except Exception:  # noqa: BLE001 - finished meanwhile
                        continue
                    renewal = func.endswith("billing_pass_at") and "renewals" in job_id
                    if (want == "renewal" and renewal) or (want == "cluster" and (
                            func.endswith(cluster_jobs) or time.monotonic() - searching > 2)):
                        candidates[name] = (job_id, func)
                if candidates:
                    name = rng.choice(sorted(candidates))
                    target = (name, *candidates[name])
                    if want == "renewal":  # somewhere inside the pass, not at its first line
                        time.sleep(rng.uniform(0.0, 0.3))
                else:
                    time.sleep(0.02)
            if target is None:
                return
            name, job_id, func = target
            rq_name = self.rq_names.get(name)
            pids = self.workers.kill(name)
            replacement = self.workers.start()
            # RQ's worker record can lag a job behind: the real victim is what the dead worker left "started"
            # (or dequeued and not yet started: then nothing is started and the intermediate queue holds it).
            victims = []
            for entry in StartedJobRegistry(queue=self.queue()).get_job_ids(cleanup=False):
                try:
                    j = Job.fetch(entry.split(":")[0], connection=self.queue().connection)
                except Exception:  # noqa: BLE001
                    continue
                if j.worker_name == rq_name and j.get_status().value == "started":
                    victims.append(j)
            self.killed_workers.add(rq_name)
            kill = {"round": round_no, "worker": name, "pids": pids, "replaced_by": replacement}
            if victims:
                self.killed_jobs += [v.id for v in victims]
                kill.update(job=victims[0].id, func=victims[0].func_name.rsplit(".", 1)[-1], mid_job=True)
            else:
                kill.update(job=job_id, func=func.rsplit(".", 1)[-1], mid_job=False)
            self.result.kills.append(kill)

    def wait_quiet(self, timeout: float) -> bool:
        """Until nothing is queued, scheduled or running on a live worker, no notification is in flight and the
        outbox is drained (pushing what it holds, as the outbox sweep would), for ~1 s in a row."""
        from rq.registry import ScheduledJobRegistry
        from sqlalchemy import func, select

        from webapp.extensions import db
        from webapp.outbox import OutboxJob, dispatch_pending

        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + 15
        calm = 0
        parts: dict = {}
        while time.monotonic() < deadline:
            with self.app.app_context():
                dispatch_pending()
                undispatched = db.session.execute(select(func.count()).select_from(OutboxJob)
                                                  .where(OutboxJob.dispatched_at.is_(None))).scalar_one()
                db.session.remove()
            q = self.queue()
            self._release_due_scheduled()
            parts = {"queued": q.count, "scheduled": ScheduledJobRegistry(queue=q).count,
                     "running": len(self.busy_workers()), "outbox": undispatched,
                     "notifications": 0 if self.midtrans.wait_idle(0.01) else 1}
            calm = calm + 1 if not any(parts.values()) else 0
            if calm >= 4:
                return True
            if time.monotonic() > next_report:
                self.log(f"soak: waiting for the workers: {parts}")
                next_report = time.monotonic() + 15
            time.sleep(0.25)
        self.log(f"soak: still busy after {timeout:.0f} s: {parts}")
        return False

    def _release_due_scheduled(self, overdue: float = 5.0) -> int:
        """RQ's scheduler (run by one worker, under a lock) moves due retries to the queue. When the worker holding
        that lock was SIGKILLed, another takes over only at its next maintenance (jobs.worker: every 60 s) once
        the lock expired; compressed here: retries overdue by `overdue` seconds are enqueued now."""
        from rq.job import Job
        from rq.registry import ScheduledJobRegistry

        q = self.queue()
        registry = ScheduledJobRegistry(queue=q)
        moved = 0
        for job_id in registry.get_jobs_to_schedule(time.time() - overdue):
            try:
                job = Job.fetch(job_id, connection=q.connection)
            except Exception:  # noqa: BLE001 - gone meanwhile
                registry.remove(job_id)
                continue
            registry.remove(job)
            q.enqueue_job(job)
            moved += 1
        self.scheduled_released = getattr(self, "scheduled_released", 0) + moved
        return moved

    def recover_abandoned(self) -> dict:
        """RQ's own maintenance for jobs of dead workers, compressed in time (RQ runs it every 10 minutes):
        - the started registry: a job whose worker stopped heart-beating (~90 s) is retried if it has retries left,
          else failed (AbandonedJobError);
        - the intermediate queue: a job a worker dequeued but died before starting (seen twice, > 1 min apart) is
          handled as a failure: retried if it has retries left.
        Workers are suspended meanwhile, so no live job can be mistaken for an abandoned one."""
        from rq import Worker
        from rq.registry import FailedJobRegistry, StartedJobRegistry
        from rq.suspension import resume, suspend

        q = self.queue()
        connection = q.connection
        suspend(connection)
        try:
            deadline = time.monotonic() + 120
            while self.busy_workers() and time.monotonic() < deadline:
                time.sleep(0.2)
            failed_before = set(FailedJobRegistry(queue=q).get_job_ids())
            started = StartedJobRegistry(queue=q)
            abandoned = {i.split(":")[0] for i in started.get_job_ids(cleanup=False)}
            started.cleanup(timestamp=time.time() + 10 ** 6)
            intermediate = q.intermediate_queue
            stuck = [i for i in intermediate.get_job_ids() if i not in started]
            for job_id in stuck:  # "first seen" two minutes ago, as the previous maintenance run would have noted
                connection.set(intermediate.get_first_seen_key(job_id), time.time() - 120, ex=3600)
            if stuck:
                intermediate.cleanup(Worker([q], connection=connection), q)
            failed = {i.split(":")[0] for i in set(FailedJobRegistry(queue=q).get_job_ids()) - failed_before}
        finally:
            resume(connection)
        lost = abandoned | set(stuck)
        return {"rq_abandoned": len(abandoned), "rq_stuck_dequeued": len(stuck),
                "rq_retried": len(lost - failed), "rq_failed": len(lost & failed)}

    # ---------------------------------------------------------------------------------------- run
    def run(self) -> SoakResult:
        from webapp import clock

        started = time.monotonic()
        try:
            self.setup()
            self.log(f"soak: {self.n_users} users registered, {self.n_workers} workers, web {self.web_url}, "
                     f"kube {self.kube_url}, midtrans {self.midtrans.url}, logs {self.tmp}")
            per_round_seconds = (self.duration / self.rounds) if self.duration else None
            per_round_budget = (self.budget // self.rounds) if self.budget else None
            traffic_started = time.monotonic()
            for round_no in range(self.rounds):
                passes: list[str] = []
                if round_no:
                    offset = MONTH * round_no
                    clock.set_offset(offset)
                    self.round_at = datetime.now(timezone.utc) + offset
                    passes = self.enqueue_passes(self.round_at, f"soak-r{round_no}")[:2]
                round_started = time.monotonic()
                kill_window = per_round_seconds or max(5.0, (per_round_budget or 100) / 20)
                killer = threading.Thread(target=self.killer, args=(round_no, kill_window), daemon=True)
                self.stop_traffic.clear()
                killer.start()
                # The round's traffic lasts until its renewal passes have run, so they always race with it.
                self.traffic(round_no, per_round_seconds, per_round_budget,
                             until=(lambda ids=passes: self.jobs_done(ids)) if passes else None)
                self.stop_traffic.set()
                killer.join()
                self.log(f"soak: round {round_no} done in {time.monotonic() - round_started:.1f} s, "
                         f"{sum(self.result.operations.values())} operations so far")
            self.result.params["traffic_seconds"] = round(time.monotonic() - traffic_started, 1)
            finish_started = time.monotonic()
            self.finish()
            self.result.params["setup_seconds"] = round(traffic_started - started, 1)
            self.result.params["wrap_up_seconds"] = round(time.monotonic() - finish_started, 1)
        finally:
            self.result.seconds = time.monotonic() - started
            clock.set_offset(timedelta(0))
            self.teardown()
        return self.result

    def finish(self) -> None:
        """What production's periodic machinery does, in compressed time, then the checks:
        1. a last pair of renewal passes and the grace pass (re-runs: they must charge nothing twice) and the stale
           top-up sweep (pending Snap orders are expired at Midtrans);
        2. the health sweep's reconciler 1 day later: provisioning whose job was lost is resubmitted;
        3. RQ's maintenance for the killed workers' jobs (retry / fail);
        4. the reconciler once more (anything still stuck ends in ERROR) and the orphan sweep."""
        from webapp.extensions import db

        at = self.final_at = datetime.now(timezone.utc) + MONTH * max(0, self.rounds - 1)
        # A re-run behind everything still queued: renews what a killed pass left, charges nothing twice.
        self.enqueue_passes(at, "soak-final", front=False)
        self.queue().enqueue("jobs.payments.expire_stale_top_ups", 0, job_id="soak-stale-top-ups")
        quiet = self.wait_quiet(240)
        recovery: dict = {}

        def reconcile(days: int) -> dict:
            from webapp.cluster.operations import reconcile_stale

            with self.app.app_context():
                repaired = reconcile_stale(now=datetime.now(timezone.utc) + timedelta(days=days))
                db.session.remove()
            return dict(Counter(repaired.values()))

        recovery["reconciler_resubmitted"] = reconcile(1).get("RESUBMITTED", 0)
        quiet = self.wait_quiet(180) and quiet
        recovery.update(self.recover_abandoned())
        quiet = self.wait_quiet(180) and quiet
        late = reconcile(2)
        recovery["reconciler_failed"] = sum(v for k, v in late.items() if k != "RESUBMITTED")
        recovery["reconciler_resubmitted"] += late.get("RESUBMITTED", 0)
        with self.app.app_context():
            from webapp.cluster.operations import sweep_orphans

            recovery["orphan_objects_swept"] = sweep_orphans()
            db.session.remove()
        quiet = self.wait_quiet(180) and quiet
        recovery["retries_released"] = getattr(self, "scheduled_released", 0)
        recovery["quiet"] = quiet
        self.result.recovery = recovery
        self._pass_results()
        self.check()

    def _pass_results(self) -> None:
        from rq.job import Job

        for kill in self.result.kills:  # what became of the job that died with its worker
            try:
                kill["final"] = str(Job.fetch(kill["job"], connection=self.queue().connection).get_status().value)
            except Exception:  # noqa: BLE001
                kill["final"] = "gone"

        for job_id in getattr(self, "pass_ids", []):
            try:
                j = Job.fetch(job_id, connection=self.queue().connection)
            except Exception:  # noqa: BLE001
                self.result.passes.append(f"{job_id}: gone")
                continue
            status = j.get_status().value
            value = j.return_value() if status == "finished" else None
            span = ""
            if j.started_at and j.ended_at:
                span = f" {j.started_at:%H:%M:%S.%f}"[:-3] + f"-{j.ended_at:%H:%M:%S.%f}"[:-3]
            summary = ""
            if isinstance(value, dict):
                keys = ("successful", "failed", "alreadyRenewed", "gracePeriodsStarted", "expired", "renewed")
                summary = " " + ",".join(f"{k}={value[k]}" for k in keys if value.get(k))
            self.result.passes.append(f"{job_id.removeprefix('soak-')}: {status}{span}{summary}")

    def check(self) -> None:
        from rq.job import Job
        from rq.registry import FailedJobRegistry
        from sqlalchemy import select

        from webapp.cluster.models import InstanceStatus, ServiceInstance
        from webapp.extensions import db
        from webapp.reporting.invariants import check_all
        from webapp.subscriptions.models import Subscription, SubscriptionStatus

        def paid_as(t: dict) -> str:  # Midtrans truth per order; capture+accept is a settled card payment
            if t["transaction_status"] == "capture":
                return "settlement" if t["fraud_status"] == "accept" else f"capture ({t['fraud_status']})"
            return t["transaction_status"]

        provider = {t["order_id"]: paid_as(t) for t in self.midtrans.transactions}
        with self.app.app_context():
            self.result.invariants = check_all(provider_statuses=provider)
            stuck = [{"instance": i, "status": s.value} for i, s in db.session.execute(
                select(ServiceInstance.id, ServiceInstance.status)
                .where(ServiceInstance.status.in_(list(TRANSITIONAL)))).all()]
            live = {sid: status for sid, status in db.session.execute(
                select(ServiceInstance.subscription_id, ServiceInstance.status)
                .where(ServiceInstance.status != InstanceStatus.TERMINATED)).all()}
            # After the last passes at `final_at` nothing may still be due: renewed, in grace, or expired.
            overdue = [{"subscription": sid, "next_billing": str(nb), "grace_end": str(ge)}
                       for sid, nb, ge in db.session.execute(
                           select(Subscription.id, Subscription.next_billing, Subscription.grace_period_end)
                           .where(Subscription.status == SubscriptionStatus.ACTIVE,
                                  ((Subscription.auto_renew.is_(True) & (Subscription.next_billing <= self.final_at)
                                    & Subscription.grace_period_end.is_(None))
                                   | (Subscription.grace_period_end <= self.final_at)))).all()]
            not_running = []
            for sid, in db.session.execute(select(Subscription.id)
                                           .where(Subscription.status == SubscriptionStatus.ACTIVE)).all():
                if live.get(sid) is not InstanceStatus.RUNNING:
                    not_running.append({"subscription": sid, "instance": getattr(live.get(sid), "value", None)})
            db.session.remove()
        failed = []
        q = self.queue()
        for job_id in FailedJobRegistry(queue=q).get_job_ids():
            try:
                j = Job.fetch(job_id, connection=q.connection)
                info = (j.latest_result().exc_string if j.latest_result() else "") or ""
            except Exception as exc:  # noqa: BLE001
                info = str(exc)
                j = None
            last = info.strip().splitlines()[-1] if info.strip() else "?"
            shot = job_id in self.killed_jobs or getattr(j, "worker_name", None) in self.killed_workers
            if shot and ("abandoned" in info.lower() or "stuck in intermediate" in info.lower()):
                continue  # died with a worker we shot, no retries left: what it did is checked by the invariants
            failed.append({"job": job_id, "func": getattr(j, "func_name", "?"), "error": last[:200]})
        webhook_5xx = [e for e in self.midtrans.notifications if e["status"] is not None and e["status"] >= 500]
        for e in webhook_5xx:
            self.result.http_5xx.append(("webhook(notifier)", "POST", WEBHOOK, e["status"], e["response"][:300]))
        q_left = [{"job": i, "where": "intermediate queue"} for i in q.intermediate_queue.get_job_ids()]
        self.result.checks = {
            "jobs_lost_in_rq": q_left,
            "renewals_left_undone": overdue,
            "instances_not_stuck": stuck,
            "active_subscription_has_running_instance": not_running,
            "forged_notification_credited": self.forged_credited,
            "coupon_race_oversold": self.race_oversold,
            "failed_jobs": failed,
        }

    def teardown(self) -> None:
        for step in (lambda: self.workers.stop(), lambda: self.server.shutdown(), lambda: self.midtrans.stop(),
                     lambda: self._stop_kube()):
            try:
                step()
            except Exception:  # noqa: BLE001 - best effort: the run's outcome is already recorded
                pass
        try:
            from webapp.extensions import db

            with self.app.app_context():
                db.session.remove()
                db.engine.dispose()
        except Exception:  # noqa: BLE001
            pass
        import logging

        for name, level in getattr(self, "_log_levels", {}).items():
            logging.getLogger(name).setLevel(level)
        if getattr(self, "_error_capture", None) is not None:
            logging.getLogger("webapp").removeHandler(self._error_capture)

    def _stop_kube(self) -> None:
        self.kube_proc.terminate()
        try:
            self.kube_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kube_proc.kill()


def run_soak(*, users: int = 200, duration: float | None = None, operations: int | None = None, seed: int = 1,
             rounds: int = 3, concurrency: int = 10, workers: int = 2, kills_per_round: int = 1,
             database: str = "poddesk_soak", base_url: str | None = None,
             redis_url: str = "redis://127.0.0.1:6379/7", log=print) -> SoakResult:
    """Run the soak and return its result (`result.report()` is the printed table, `result.exit_code` 0/1)."""
    if duration is None and operations is None:
        duration = 120.0
    base_url = base_url or os.environ.get("SOAK_DATABASE_URL", DEFAULT_BASE_URL)
    return Soak(users=users, duration=duration, operations=operations, seed=seed, rounds=rounds,
                concurrency=concurrency, workers=workers, kills_per_round=kills_per_round, database=database,
                base_url=base_url, redis_url=redis_url, log=log).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--duration", type=float, default=None, help="seconds of traffic (default 120)")
    group.add_argument("--operations", type=int, default=None, help="number of client operations instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="billing months (renewal rounds = rounds - 1, + a final)")
    parser.add_argument("--concurrency", type=int, default=10, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="rq worker processes")
    parser.add_argument("--kills-per-round", type=int, default=1)
    parser.add_argument("--database", default="poddesk_soak")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args(argv)

    def stop(signum, frame):  # run the teardown (workers, simulators) on Ctrl-C / kill
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    result = run_soak(users=args.users, duration=args.duration, operations=args.operations, seed=args.seed,
                      rounds=args.rounds, concurrency=args.concurrency, workers=args.workers,
                      kills_per_round=args.kills_per_round, database=args.database, redis_url=args.redis_url)
    print(result.report())
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
