"""Benchmark of the renewal pass: N due subscriptions, two worker processes, exactly-once checks.

    .venv/bin/python bench/renewals.py               # 10,000 subscriptions
    .venv/bin/python bench/renewals.py --n 100000    # the target: <= 60 s on 2 cores

Creates (drops and recreates) a dedicated PostgreSQL database (default `poddesk_renewals` next to
BENCH_DATABASE_URL's database), builds the schema, seeds users (each with a TOP_UP ledger row for the starting
balance), plans and due subscriptions with bulk INSERTs, then starts `--workers` processes that each run
`process_renewals()` over the same due set at the same time (they share the work through SKIP LOCKED). Every
`--multi`-th user owns a second due subscription of another service (a wallet paying several renewals in one
batch). A small share of wallets (`--poor`) cannot pay, so the grace-period path is exercised too.

Prints the machine, renewals/s, the total time (worker start-up included), the checks (double charges,
ledger-vs-balance mismatches, broken balance_before/after chains: all must be 0), the target PASS/MISS, and a
last machine-readable line for `make bench`:
    {"metric": "renewals", "n": ..., "seconds": ..., "per_second": ..., "double_charges": ..., "ledger_mismatches": ...}
`--profile` adds where a worker's time goes (SQL statements by kind, Python), measured in the workers.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchutil import machine_line, recreate_database  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_SECONDS = 60.0
TARGET_N = 100_000


def _app(url: str):
    from webapp import create_app

    return create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL="fakeredis://",
                      RATELIMIT_STORAGE_URI="memory://", RATELIMIT_ENABLED=False)


def _plan_rows(now, n: int, price: int, slug: str, category_id: str):
    from webapp.catalog.models import PlanType
    from webapp.db import new_id

    service_id, plan_id = new_id(), new_id()
    service = dict(id=service_id, name=slug.replace("-", " ").title(), slug=slug, description="benchmark",
                   version="1", docker_image=f"bench/{slug}:1", default_port=80, category_id=category_id,
                   is_active=True, is_public=True, is_featured=False, sort_order=1, created_at=now, updated_at=now)
    plan = dict(id=plan_id, service_id=service_id, name="Basic", plan_type=PlanType.BASIC, monthly_price=price,
                cpu_milli=100, memory_mb=128, storage_gb=1, bandwidth=1, total_quota=n, used_quota=n,
                max_instances_per_user=1, max_domains=1, is_active=True, is_popular=False, sort_order=1,
                created_at=now, updated_at=now)
    return service, plan


def seed(url: str, n: int, poor: float, multi: int) -> dict:
    """`n` due subscriptions; every `multi`-th user owns two of them (two services), the others one."""
    from sqlalchemy import insert

    from webapp.accounts.models import User
    from webapp.billing.models import Transaction
    from webapp.catalog.models import Service, ServiceCategory, ServicePlan
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
        category_id = new_id()
        db.session.execute(insert(ServiceCategory).values(id=category_id, name="Bench", slug="bench", description="b",
                                                          sort_order=1, created_at=now, updated_at=now))
        services, plans = zip(_plan_rows(now, n, price, "bench-app", category_id),
                              _plan_rows(now, n, price, "bench-db", category_id))
        db.session.execute(insert(Service), list(services))
        db.session.execute(insert(ServicePlan), list(plans))
        chunk = 5_000
        poor_count = users_count = made = i = 0
        while made < n:
            users, topups, subs = [], [], []
            while made < n and len(subs) < chunk:
                is_poor = poor_every and i % poor_every == 0
                two = multi and i % multi == 0 and made + 2 <= n
                poor_count += bool(is_poor)
                # two subscriptions: the wallet pays both (120,000), or when short only the first (60,000): one
                # batch chains two debits of one wallet, or a debit and a grace start
                balance = (60_000 if two else 10_000) if is_poor else (120_000 if two else 70_000)
                uid = new_id()
                users.append(dict(id=uid, name=f"Bench {i}", email=f"bench{i}@example.com", role="USER",
                                  is_active=True, credit_balance=balance, total_top_up=balance, total_spent=0,
                                  token_version=0, created_at=now, updated_at=now))
                topups.append(dict(id=new_id(), custom_id=f"TXMP-{10_000_000 + i}", user_id=uid, type="TOP_UP",
                                   status="COMPLETED", amount=balance, balance_before=0, balance_after=balance,
                                   description="Bench seed top-up", completed_at=now, created_at=now, updated_at=now))
                for plan in plans[:2 if two else 1]:
                    subs.append(dict(id=new_id(), user_id=uid, service_id=plan["service_id"], plan_id=plan["id"],
                                     status="ACTIVE", start_date=start, end_date=end, next_billing=end,
                                     monthly_price=price, failed_charges=0, auto_renew=True, created_at=now,
                                     updated_at=now))
                made += 2 if two else 1
                users_count += 1
                i += 1
            db.session.execute(insert(User), users)
            db.session.execute(insert(Transaction), topups)
            db.session.execute(insert(Subscription), subs)
            db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
    return {"poor": poor_count, "users": users_count}


class _Profile:
    """Where a worker's time goes: SQL statements grouped by kind (time until the cursor returns), the rest."""

    def __init__(self):
        self.sql = defaultdict(float)
        self.count = defaultdict(int)

    @staticmethod
    def kind(statement: str) -> str:
        words = statement.split()
        head = words[0].upper() if words else "?"
        if head in ("INSERT", "UPDATE", "DELETE"):
            table = words[2] if head in ("INSERT", "DELETE") else words[1]
            return f"{head} {table}"
        if head == "SELECT":
            text = " ".join(words)
            if "FOR UPDATE" in text and "SKIP LOCKED" in text:
                return "SELECT claim (FOR UPDATE SKIP LOCKED)"
            if "FOR UPDATE" in text:
                return "SELECT lock users"
            if "nextval" in text:
                return "SELECT nextval (TXMP)"
            frm = text.upper().split(" FROM ", 1)
            return f"SELECT {frm[1].split()[0] if len(frm) > 1 else '?'}"
        return head

    def install(self, engine) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info.setdefault("bench_t0", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):
            started = conn.info["bench_t0"].pop()
            key = self.kind(statement)
            self.sql[key] += time.perf_counter() - started
            self.count[key] += 1

    def install_bulk(self) -> None:
        """The set-based statements (webapp.bulk) go straight to the driver: time them there."""
        from webapp import bulk

        original = bulk._execute

        def timed(sql, params, *, returning):
            t0 = time.perf_counter()
            try:
                return original(sql, params, returning=returning)
            finally:
                key = self.kind(sql) + " (bulk)"
                self.sql[key] += time.perf_counter() - t0
                self.count[key] += 1

        bulk._execute = timed

    def as_dict(self) -> dict:
        return {k: [round(v, 3), self.count[k]] for k, v in self.sql.items()}


def _backend_cpu(pids) -> float:
    """CPU seconds (user + system) the PostgreSQL backends serving this worker used so far (same machine)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def worker(url: str, batch_size: int | None, profile: bool, queue) -> None:
    from webapp.extensions import db
    from webapp.subscriptions import renewals

    started = time.perf_counter()
    app = _app(url)
    with app.app_context():
        prof = None
        pids: set[int] = set()
        if profile:
            prof = _Profile()
            prof.install(db.engine)
            prof.install_bulk()
            _time_commits(prof)
            from sqlalchemy import event

            @event.listens_for(db.engine, "checkout")
            def checkout(dbapi_connection, record, proxy):
                if "pid" not in record.info:
                    record.info["pid"] = dbapi_connection.info.backend_pid
                pids.add(record.info["pid"])

            db.session.execute(db.text("SELECT 1"))
            db.session.commit()
        ready = time.perf_counter()
        cpu0, backend0 = time.process_time(), _backend_cpu(pids)
        kwargs = {"source": "job"}
        if batch_size:
            kwargs["batch_size"] = batch_size
        result = renewals.process_renewals(**kwargs)
        done = time.perf_counter()
        result["startup_seconds"] = ready - started
        result["seconds"] = done - ready
        result["errors"] = result["errors"][:3]
        if prof is not None:
            result["profile"] = prof.as_dict()
            result["python_cpu"] = time.process_time() - cpu0
            result["backend_cpu"] = _backend_cpu(pids) - backend0
        db.session.remove()
    queue.put(result)


def _time_commits(prof: _Profile) -> None:
    """COMMIT does not pass through the cursor events: time Session.commit's connection commit too."""
    from sqlalchemy.engine import Connection

    original = Connection._commit_impl

    def timed(self):
        t0 = time.perf_counter()
        try:
            return original(self)
        finally:
            prof.sql["COMMIT"] += time.perf_counter() - t0
            prof.count["COMMIT"] += 1

    Connection._commit_impl = timed


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
            # each ledger row of a user starts where the previous one (by time, then TXMP number) ended
            "chain_breaks": q("SELECT count(*) FROM (SELECT balance_before, lag(balance_after) OVER (PARTITION BY "
                              "user_id ORDER BY created_at, substr(custom_id, 6)::bigint) AS previous FROM "
                              "transactions WHERE status = 'COMPLETED') c "
                              "WHERE previous IS NOT NULL AND previous <> balance_before"),
            "renewal_charges": q("SELECT count(*) FROM transactions WHERE type = 'SUBSCRIPTION'"),
            "still_due_not_in_grace": q("SELECT count(*) FROM subscriptions WHERE status = 'ACTIVE' AND "
                                        "next_billing <= now() AND grace_period_end IS NULL"),
            "in_grace": q("SELECT count(*) FROM subscriptions WHERE grace_period_end IS NOT NULL"),
            "notifications": q("SELECT count(*) FROM notifications"),
            "audit_entries": q("SELECT count(*) FROM audit_entries"),
            "postgres": q("SHOW server_version"),
        }


def machine(when: str = "at start") -> str:
    return f"{machine_line()}, {when}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="due subscriptions (default 10,000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="rows per transaction (default: renewals.BATCH_SIZE)")
    parser.add_argument("--poor", type=float, default=0.02, help="share of wallets that cannot pay (grace path)")
    parser.add_argument("--multi", type=int, default=10, help="every N-th user has two due subscriptions (0: none)")
    parser.add_argument("--profile", action="store_true", help="print where the workers' time goes")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--database", default="poddesk_renewals")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}", flush=True)
    url = recreate_database(args.database_url, args.database)
    t0 = time.perf_counter()
    seeded = seed(url, args.n, args.poor, args.multi)
    print(f"seeded {args.n:,} due subscriptions of {seeded['users']:,} users ({seeded['poor']:,} wallets short) in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, args.batch_size, args.profile, queue))
             for _ in range(args.workers)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    total = time.perf_counter() - started
    found = checks(url)
    renewed = sum(r["successful"] for r in results)
    from webapp.subscriptions.renewals import BATCH_SIZE

    print(f"workers: {args.workers}, batch size {args.batch_size or BATCH_SIZE}")
    for i, r in enumerate(results):
        print(f"  worker {i}: processed {r['processed']:,}, successful {r['successful']:,}, failed {r['failed']:,}, "
              f"grace started {r['gracePeriodsStarted']:,}, start-up {r['startup_seconds']:.1f} s, "
              f"pass {r['seconds']:.1f} s")
        if r["errors"] and not all("Insufficient credit" in e["error"] for e in r["errors"]):
            print(f"    first errors: {r['errors']}")
        if "profile" in r:
            sql_total = sum(v for v, _ in r["profile"].values())
            print(f"    wall {r['seconds']:.1f} s = SQL (until the driver returns; includes waiting for the server "
                  f"and for a CPU) {sql_total:.1f} s + Python and the rest {r['seconds'] - sql_total:.1f} s")
            print(f"    CPU used: worker process {r['python_cpu']:.1f} s, its PostgreSQL backend "
                  f"{r['backend_cpu']:.1f} s (on a shared machine the rest of the wall time is waiting for a core)")
            for key, (secs, count) in sorted(r["profile"].items(), key=lambda kv: -kv[1][0]):
                print(f"      {secs:7.2f} s  {count:6,}x  {key}")
    per_second = renewed / total if total else 0.0
    print(f"renewals: {renewed:,} in {total:.1f} s = {per_second:,.0f} renewals/s (incl. worker start-up)")
    print(f"double charges found: {found['double_charges']} (must be 0)")
    print(f"ledger-vs-balance mismatches: {found['ledger_mismatches']} (must be 0)")
    print(f"broken balance_before/after chains: {found['chain_breaks']} (must be 0)")
    print(f"renewal charges in ledger: {found['renewal_charges']:,}; in grace: {found['in_grace']:,}; "
          f"due and unhandled: {found['still_due_not_in_grace']:,}; notifications: {found['notifications']:,}; "
          f"audit entries: {found['audit_entries']:,}")
    print(f"machine: {machine('at the end')}; PostgreSQL {found['postgres']}; shared with other work: the figures "
          "are wall-clock times")
    ok = (found["double_charges"] == 0 and found["ledger_mismatches"] == 0 and found["chain_breaks"] == 0
          and found["still_due_not_in_grace"] == 0)
    if args.n >= TARGET_N:
        verdict = "PASS" if ok and total <= TARGET_SECONDS * args.n / TARGET_N else "MISS"
        print(f"target: {TARGET_N:,} renewals in <= {TARGET_SECONDS:.0f} s on 2 cores: {verdict} ({total:.1f} s)")
    else:
        print(f"target: {TARGET_N:,} renewals in <= {TARGET_SECONDS:.0f} s: not measured (--n {args.n:,}; "
              f"at this rate {TARGET_N / per_second if per_second else float('inf'):.0f} s)")
    print(json.dumps({"metric": "renewals", "n": args.n, "seconds": round(total, 2),
                      "per_second": round(per_second, 1), "double_charges": found["double_charges"],
                      "ledger_mismatches": found["ledger_mismatches"]}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
