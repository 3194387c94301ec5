"""HTTP-path benchmark of the customer API under gunicorn, load from wrk (not part of the test suite).

    .venv/bin/python bench/http_api.py [--duration 10] [--workers 2] [--threads 4] [--json]

(Not named http.py: a script's folder comes first on sys.path and would shadow the standard `http` package.)

1. Recreates the `public` schema of BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/poddesk_bench,
   created if missing) and seeds a catalog (4 categories, 24 services, 3 plans each) and 200 customers with wallets
   (a top-up and a few charges each, through the ledger).
2. Starts `gunicorn -c gunicorn.conf.py wsgi:app` as production would (PODDESK_ENV=production, secrets in the
   environment, Redis db BENCH_REDIS_DB (8) for rate-limit storage), WEB_CONCURRENCY=--workers gthread workers with
   WEB_THREADS=--threads threads each: 2 workers x 4 threads on 2 cores (one process per core, threads to overlap
   the PostgreSQL round trips).
3. wrk (bench/wrk/auth_get.lua, tokens rotating over the 200 customers):
   a. GET /api/catalog/services at 32 connections: req/s (target >= 1,500) and p99;
   b. GET /api/wallet/info (balance, month's spending, 10 newest ledger rows) at 100 connections: p50/p99 (p99 < 50 ms),
      once saturating (each connection sends its next request at once: the headline figure) and once as 100 clients
      with --think-ms between requests (context: latency when the server is not saturated);
   c. a mix of 7 customer routes until at least 10,000 mixed requests were served, then VmRSS of every gunicorn
      worker from /proc/<pid>/status (target < 150 MB each).
Also prints the gunicorn workers' CPU milliseconds per request (utime+stime from /proc): far less disturbed by other
processes than req/s, and 2 cores x 1000 / that = the req/s ceiling of the app code on an idle 2-core machine.
Prints each figure with its target and PASS/MISS, the machine, and a final `BENCH_JSON {...}` line (bench/run_all.py).
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchutil import (reset_schema, DEFAULT_DB, cpu_seconds, emit, ensure_database, free_port, machine, machine_line, metric,  # noqa: E402
                             print_metrics, require_wrk, run_wrk, wait_http)

USERS = 200


def seed(app, jwt_secret: str) -> tuple[list[str], list[str]]:
    """Catalog and customers; returns (bearer tokens, service slugs)."""
    from decimal import Decimal

    from sqlalchemy import text

    from webapp.accounts.models import User
    from webapp.accounts.tokens import issue_access_token, parse_duration
    from webapp.billing import ledger
    from webapp.billing.models import TransactionType
    from webapp.catalog.models import PlanType, Service, ServiceCategory, ServicePlan
    from webapp.extensions import db

    with app.app_context():
        reset_schema(app)
        slugs = []
        for c in range(4):
            category = ServiceCategory(name=f"Category {c}", slug=f"category-{c}", description=f"Apps of kind {c}",
                                       sort_order=c)
            db.session.add(category)
            db.session.flush()
            for s in range(6):
                n = c * 6 + s
                service = Service(name=f"App {n}", slug=f"app-{n}", description=f"One-click app number {n}",
                                  long_description="A longer description of the app. " * 10, version="1.0",
                                  docker_image=f"example/app{n}:1", default_port=8080, category_id=category.id,
                                  env_template={"MODE": "production"}, tags=["web", f"tag{n % 5}"],
                                  is_featured=n % 7 == 0, sort_order=n, icon=f"https://cdn.example.com/{n}.png")
                db.session.add(service)
                db.session.flush()
                slugs.append(service.slug)
                for p, (kind, price) in enumerate([(PlanType.BASIC, 50_000), (PlanType.PRO, 100_000),
                                                   (PlanType.PREMIUM, 200_000)]):
                    db.session.add(ServicePlan(service_id=service.id, name=kind.value.title(), plan_type=kind,
                                               description=f"{kind.value} plan", monthly_price=price,
                                               cpu_milli=250 * (p + 1), memory_mb=256 * (p + 1),
                                               storage_gb=Decimal(p + 1), bandwidth=10, total_quota=100,
                                               used_quota=p, features=["SSL", "Backups"], sort_order=p))
        users = [User(name=f"Bench {i}", email=f"bench{i}@example.com", credit_balance=0, total_top_up=0,
                      total_spent=0, token_version=0) for i in range(USERS)]
        db.session.add_all(users)
        db.session.commit()
        for u in users:
            ledger.credit(u.id, 500_000, type=TransactionType.TOP_UP, description="Bench top-up", counts_as_top_up=True)
            for k in range(3):
                ledger.debit(u.id, 20_000 + k, type=TransactionType.SUBSCRIPTION, description="Bench charge")
        db.session.commit()
        tokens = [issue_access_token(u, secret=jwt_secret, lifetime=parse_duration("2h")) for u in users]
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
    return tokens, slugs


def worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        children = []
    return [int(p) for p in children]


def measured(pids: list[int], *args, **kwargs) -> dict:
    """run_wrk plus the gunicorn workers' CPU per request: a figure a busy machine disturbs far less than req/s."""
    before = cpu_seconds(pids)
    result = run_wrk(*args, **kwargs)
    result["cpu_ms_per_request"] = (cpu_seconds(pids) - before) * 1000 / max(result["requests"], 1)
    return result


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run")
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY (gunicorn worker processes)")
    parser.add_argument("--threads", type=int, default=4, help="WEB_THREADS (threads per gthread worker)")
    parser.add_argument("--mixed-requests", type=int, default=10_000)
    parser.add_argument("--think-ms", type=int, default=100, help="think time of the paced wallet clients")
    parser.add_argument("--json", action="store_true", help="(the BENCH_JSON line is always printed last)")
    opts = parser.parse_args(argv)
    require_wrk()

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    redis_url = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '8')}"
    ensure_database(db_url)
    from webapp import create_app

    secret_key, jwt_secret = secrets.token_hex(32), secrets.token_hex(32)
    app = create_app("production", SQLALCHEMY_DATABASE_URI=db_url, SECRET_KEY=secret_key, JWT_SECRET=jwt_secret,
                     REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url, BCRYPT_ROUNDS=4)
    t0 = time.time()
    tokens, slugs = seed(app, jwt_secret)
    print(f"seeded 24 services x 3 plans and {USERS} customers (4 ledger rows each) in {time.time() - t0:.1f}s")

    work = Path(tempfile.mkdtemp(prefix="poddesk-bench-http-"))
    token_file = work / "tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    port = free_port()
    env = {**os.environ, "PODDESK_ENV": "production", "DATABASE_URL": db_url, "REDIS_URL": redis_url,
           "RATELIMIT_STORAGE_URI": redis_url, "SECRET_KEY": secret_key, "JWT_SECRET": jwt_secret,
           "JWT_EXPIRES_IN": "2h", "PORT": str(port), "WEB_CONCURRENCY": str(opts.workers),
           "WEB_THREADS": str(opts.threads), "NOTIFICATION_SENDER": "outbox"}
    env.pop("MIDTRANS_SERVER_KEY", None)
    log = open(work / "gunicorn.log", "w")
    gunicorn = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                                 "--backlog", "2048", "--log-level", "warning", "wsgi:app"],
                                cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    print(f"gunicorn -c gunicorn.conf.py wsgi:app: WEB_CONCURRENCY={opts.workers} gthread workers x "
          f"WEB_THREADS={opts.threads}; PostgreSQL {db_url.rsplit('/', 1)[1]}, {redis_url}; load: wrk (separate process)")
    catalog, wallet, paced, mixed_runs = None, None, None, []
    try:
        wait_http(base + "/api/health")
        # warm every worker: imports, connection pools, first-request caches
        run_wrk("auth_get.lua", base, [str(token_file), "/api/catalog/services", "/api/wallet/info"],
                connections=16, duration=3)
        pids = worker_pids(gunicorn.pid)
        catalog = measured(pids, "auth_get.lua", base, [str(token_file), "/api/catalog/services"], connections=32,
                          duration=opts.duration)
        wallet = measured(pids, "auth_get.lua", base, [str(token_file), "/api/wallet/info"], connections=100,
                         duration=opts.duration)
        paced = measured(pids, "auth_get.lua", base, [str(token_file), "/api/wallet/info"], connections=100,
                         duration=opts.duration, env={"WRK_THINK_MS": str(opts.think_ms)})
        mixed_paths = ["/api/catalog/services", "/api/wallet/info", "/api/catalog/categories", "/api/user/profile",
                       "/api/wallet/transactions?limit=10", f"/api/catalog/services/{slugs[3]}",
                       "/api/catalog/featured"]
        served = 0
        while served < opts.mixed_requests:
            run = run_wrk("auth_get.lua", base, [str(token_file), *mixed_paths], connections=32, duration=4)
            mixed_runs.append(run)
            served += run["requests"]
        rss = {pid: vm_rss_mb(pid) for pid in pids}
    finally:
        gunicorn.terminate()
        try:
            gunicorn.wait(15)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
        log.close()

    m = machine()
    errors = sum(r["errors"]["status"] + r["errors"]["timeout"] for r in [catalog, wallet, paced, *mixed_runs])
    mixed_total = sum(r["requests"] for r in mixed_runs)
    max_rss = max(rss.values()) if rss else None
    metrics = [
        metric("catalog GET /api/catalog/services req/s", catalog["rate"], target=">= 1500", unit="req/s",
               passed=catalog["rate"] >= 1500, note=f"32 connections, p50 {catalog['p50_ms']:.1f} ms, "
                                                    f"{catalog['cpu_ms_per_request']:.2f} worker CPU ms/request"),
        metric("catalog GET /api/catalog/services p99", catalog["p99_ms"], target="(report)", unit="ms", passed=None,
               note="32 connections"),
        metric("wallet GET /api/wallet/info p99 @100 conn", wallet["p99_ms"], target="< 50 ms", unit="ms",
               passed=wallet["p99_ms"] < 50, note=f"p50 {wallet['p50_ms']:.1f} ms, {wallet['rate']:.0f} req/s, "
                    f"{wallet['cpu_ms_per_request']:.2f} worker CPU ms/request"),
        metric(f"wallet GET /api/wallet/info p99, 100 clients with {opts.think_ms} ms think time", paced["p99_ms"],
               target="(report)", unit="ms", passed=None,
               note=f"p50 {paced['p50_ms']:.1f} ms, {paced['rate']:.0f} req/s offered by the clients"),
        metric(f"web worker RSS after {mixed_total:,} mixed requests (max of {len(rss)})", max_rss, target="< 150 MB",
               unit="MB", passed=max_rss is not None and max_rss < 150,
               note="workers " + ", ".join(f"{v:.0f}" for v in rss.values()) + " MB"),
    ]
    print()
    print(f"machine: {machine_line(m)}")
    print(f"non-2xx/timeouts across all runs: {errors}")
    print_metrics(metrics)
    emit("bench/http_api.py", metrics, m, errors=errors,
         setup=f"gunicorn gthread {opts.workers} workers x {opts.threads} threads")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
