"""Benchmark of the renewal pass: N due subscriptions, two worker processes, exactly-once checks.

    .venv/bin/python bench/renewals.py               # 10,000 subscriptions
    .venv/bin/python bench/renewals.py --n 100000    # the target: <= 60 s on 2 cores

Creates (drops and recreates) a dedicated PostgreSQL database (default `poddesk_bench_renewals` next to
BENCH_DATABASE_URL's database), builds the schema, seeds users (each with a TOP_UP ledger row for the starting
balance), plans and due subscriptions with bulk INSERTs, then starts `--workers` processes that each run
`process_renewals()` over the same due set at the same time (they share the work through SKIP LOCKED). Prints
renewals/s, the total time, double charges (must be 0), ledger-vs-balance mismatches (must be 0) and the machine.
A small share of wallets (`--poor`) cannot pay, so the grace-period path is exercised too.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _app(url: str):
    from webapp import create_app

    return create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL="fakeredis://",
                      RATELIMIT_STORAGE_URI="memory://", RATELIMIT_ENABLED=False)


def create_database(base_url: str, name: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    dsn = url.set(drivername="postgresql", database=url.database or "postgres").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def seed(url: str, n: int, poor: float) -> dict:
    from sqlalchemy import insert

    from webapp.accounts.models import User
    from webapp.billing.models import Transaction
    from webapp.catalog.models import PlanType, Service, ServiceCategory, ServicePlan
    from webapp.db import new_id
    from webapp.extensions import db
    from webapp.subscriptions.models import Subscription

    app = _app(url)
    now = datetime.now(timezone.utc)
    end = now - timedelta(hours=1)
    start = end - timedelta(days=30)
    price = 50_000
    poor_every = int(1 / poor) if poor > 0 else 0
    with app.app_context():
        db.create_all()
        category_id, service_id, plan_id = new_id(), new_id(), new_id()
        db.session.execute(insert(ServiceCategory).values(id=category_id, name="Bench", slug="bench", description="b",
                                                          sort_order=1, created_at=now, updated_at=now))
        db.session.execute(insert(Service).values(
            id=service_id, name="Bench App", slug="bench-app", description="benchmark", version="1",
            docker_image="bench/app:1", default_port=80, category_id=category_id, is_active=True, is_public=True,
            is_featured=False, sort_order=1, created_at=now, updated_at=now))
        db.session.execute(insert(ServicePlan).values(
            id=plan_id, service_id=service_id, name="Basic", plan_type=PlanType.BASIC, monthly_price=price,
            cpu_milli=100, memory_mb=128, storage_gb=1, bandwidth=1, total_quota=n, used_quota=n,
            max_instances_per_user=1, max_domains=1, is_active=True, is_popular=False, sort_order=1,
            created_at=now, updated_at=now))
        chunk = 5_000
        poor_count = 0
        for offset in range(0, n, chunk):
            users, topups, subs = [], [], []
            for i in range(offset, min(n, offset + chunk)):
                is_poor = poor_every and i % poor_every == 0
                poor_count += bool(is_poor)
                balance = 10_000 if is_poor else 120_000
                uid = new_id()
                users.append(dict(id=uid, name=f"Bench {i}", email=f"bench{i}@example.com", role="USER",
                                  is_active=True, credit_balance=balance, total_top_up=balance, total_spent=0,
                                  token_version=0, created_at=now, updated_at=now))
                topups.append(dict(id=new_id(), custom_id=f"TXMP-{10_000_000 + i}", user_id=uid, type="TOP_UP",
                                   status="COMPLETED", amount=balance, balance_before=0, balance_after=balance,
                                   description="Bench seed top-up", completed_at=now, created_at=now, updated_at=now))
                subs.append(dict(id=new_id(), user_id=uid, service_id=service_id, plan_id=plan_id, status="ACTIVE",
                                 start_date=start, end_date=end, next_billing=end, monthly_price=price,
                                 failed_charges=0, auto_renew=True, created_at=now, updated_at=now))
            db.session.execute(insert(User), users)
            db.session.execute(insert(Transaction), topups)
            db.session.execute(insert(Subscription), subs)
            db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
    return {"poor": poor_count}


def worker(url: str, batch_size: int, queue) -> None:
    from webapp.extensions import db
    from webapp.subscriptions.renewals import process_renewals

    app = _app(url)
    with app.app_context():
        started = time.perf_counter()
        result = process_renewals(batch_size=batch_size, source="job")
        result["seconds"] = time.perf_counter() - started
        result["errors"] = result["errors"][:3]
        db.session.remove()
    queue.put(result)


def checks(url: str) -> dict:
    from sqlalchemy import text

    from webapp.extensions import db

    app = _app(url)
    with app.app_context():
        q = lambda sql: db.session.execute(text(sql)).scalar_one()  # noqa: E731
        return {
            "double_charges": q("SELECT count(*) FROM (SELECT subscription_id FROM transactions WHERE type = "
                                "'SUBSCRIPTION' GROUP BY subscription_id HAVING count(*) > 1) d"),
            "ledger_mismatches": q("SELECT count(*) FROM users u WHERE u.credit_balance <> (SELECT "
                                   "coalesce(sum(t.balance_after - t.balance_before), 0) FROM transactions t "
                                   "WHERE t.user_id = u.id AND t.status = 'COMPLETED')"),
            "renewal_charges": q("SELECT count(*) FROM transactions WHERE type = 'SUBSCRIPTION'"),
            "still_due_not_in_grace": q("SELECT count(*) FROM subscriptions WHERE status = 'ACTIVE' AND "
                                        "next_billing <= now() AND grace_period_end IS NULL"),
            "in_grace": q("SELECT count(*) FROM subscriptions WHERE grace_period_end IS NOT NULL"),
            "notifications": q("SELECT count(*) FROM notifications"),
            "postgres": q("SHOW server_version"),
        }


def machine() -> str:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs ({model})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="due subscriptions (default 10,000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=30)
    parser.add_argument("--poor", type=float, default=0.02, help="share of wallets that cannot pay (grace path)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--database", default="poddesk_bench_renewals")
    args = parser.parse_args(argv)

    url = create_database(args.database_url, args.database)
    t0 = time.perf_counter()
    seeded = seed(url, args.n, args.poor)
    print(f"seeded {args.n:,} due subscriptions ({seeded['poor']:,} unable to pay) in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, args.batch_size, queue)) for _ in range(args.workers)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    total = time.perf_counter() - started
    found = checks(url)
    renewed = sum(r["successful"] for r in results)
    print(f"workers: {args.workers}, batch size {args.batch_size}")
    for i, r in enumerate(results):
        print(f"  worker {i}: processed {r['processed']:,}, successful {r['successful']:,}, failed {r['failed']:,}, "
              f"grace started {r['gracePeriodsStarted']:,}, {r['seconds']:.1f} s")
    print(f"renewals: {renewed:,} in {total:.1f} s = {renewed / total:,.0f} renewals/s (incl. worker start-up)")
    print(f"double charges found: {found['double_charges']} (must be 0)")
    print(f"ledger-vs-balance mismatches: {found['ledger_mismatches']} (must be 0)")
    print(f"renewal charges in ledger: {found['renewal_charges']:,}; in grace: {found['in_grace']:,}; "
          f"due and unhandled: {found['still_due_not_in_grace']:,}; notifications: {found['notifications']:,}")
    print(f"machine: {machine()}; PostgreSQL {found['postgres']}")
    ok = found["double_charges"] == 0 and found["ledger_mismatches"] == 0 and found["still_due_not_in_grace"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
