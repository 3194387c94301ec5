"""Webhook and wallet-read benchmark against PostgreSQL (not part of the test suite).

    .venv/bin/python bench/webhook.py [--orders 8000] [--duration 8] [--connections 32] [--workers 2 --threads 4]

What it does:
1. Recreates the `public` schema of BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/poddesk_bench,
   created if missing) and seeds 100 customers plus `--orders` PENDING Midtrans top-ups spread over them.
2. Runs the Midtrans simulator in this process (on a free port) and settles every order there (no notification), keeping
   each order's validly signed notification body.
3. Starts gunicorn (`--workers` gthread workers, `--threads` each) on a free port, configured for the simulator.
4. Generates load from a separate process, `wrk` (Debian package; Lua scripts written to a temp dir):
   - unique notifications: every request a different order (each one re-fetches the status and credits once);
   - duplicate notifications: one already-settled order posted again and again;
   - GET /api/wallet/info with 100 concurrent connections, rotating 100 customers' tokens: p50 / p99 latency.
5. Checks the money afterwards: every posted order COMPLETED exactly once, balances == ledger sums.
Prints the machine (cores, CPU model, load) and the figures. Targets: >= 1,000 webhooks/s, p99 < 50 ms (the wallet
read figure here is a cross-check; bench/http_api.py owns that target). Last line: `BENCH_JSON {...}` (bench/run_all.py).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchutil import (reset_schema, cpu_seconds, emit, ensure_database, free_port, machine_line, metric,  # noqa: E402
                             print_metrics, wait_http)
from bench.benchutil import machine as machine_info  # noqa: E402

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/poddesk_bench"
SERVER_KEY = "SB-Mid-server-bench-" + secrets.token_hex(8)
WEBHOOK = "/api/wallet/webhook/midtrans"

LUA_BODIES = r"""
bodies, counter, nbodies = {}, 0, 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  local nthreads = tonumber(args[2])
  local me = tonumber(wrk.thread:get("id"))
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == me then table.insert(bodies, line) end
    i = i + 1
  end
  nbodies = #bodies
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local body = bodies[((counter - 1) % nbodies) + 1]
  return wrk.format(nil, nil, nil, body)
end
function response(status, headers, body)
  if status ~= 200 then bad = (bad or 0) + 1 end
end
function done(summary, latency, requests)
  local sent, wrapped, nonok = 0, 0, 0
  for _, t in ipairs(threads) do
    sent = sent + (t:get("counter") or 0)
    nonok = nonok + (t:get("bad") or 0)
    if (t:get("counter") or 0) > (t:get("nbodies") or 0) then wrapped = 1 end
  end
  io.write(string.format("RESULT %d %d %d %d %.1f %.1f %d\n", summary.requests, summary.duration, sent, wrapped,
    latency:percentile(50), latency:percentile(99), nonok))
end
"""

LUA_GET = r"""
tokens, counter = {}, 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do table.insert(tokens, line) end
  counter = math.random(#tokens)
end
function request()
  counter = counter + 1
  return wrk.format("GET", "/api/wallet/info", {["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]})
end
function response(status, headers, body)
  if status ~= 200 then bad = (bad or 0) + 1 end
end
function done(summary, latency, requests)
  local nonok = 0
  for _, t in ipairs(threads) do nonok = nonok + (t:get("bad") or 0) end
  io.write(string.format("RESULT %d %d 0 0 %.1f %.1f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), nonok))
end
"""


def run_wrk(script: str, url: str, args: list[str], *, connections: int, duration: int, threads: int = 2) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", f.name, url, "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)", out)
    if not match:
        raise RuntimeError(out)
    requests_done, duration_us, sent, wrapped, p50, p99, non_ok = match.groups()
    return {"requests": int(requests_done), "seconds": int(duration_us) / 1e6,
            "rate": int(requests_done) / (int(duration_us) / 1e6), "sent": int(sent), "wrapped": wrapped == "1",
            "p50_ms": float(p50) / 1000, "p99_ms": float(p99) / 1000, "non_ok": int(non_ok)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=8000)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    opts = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    ensure_database(db_url)
    from sqlalchemy import func, select

    from simulators.midtrans import MidtransSimulator
    from webapp import create_app
    from webapp.accounts.models import User
    from webapp.accounts.tokens import issue_access_token, parse_duration
    from webapp.billing import ledger
    from webapp.billing.models import Transaction, TransactionStatus, TransactionType
    from webapp.extensions import db

    sim = MidtransSimulator(server_key=SERVER_KEY, client_key="SB-Mid-client-bench").start()
    secret_key, jwt_secret = secrets.token_hex(32), secrets.token_hex(32)
    env = {**os.environ, "PODDESK_ENV": "production", "DATABASE_URL": db_url, "SECRET_KEY": secret_key,
           "JWT_SECRET": jwt_secret, "JWT_EXPIRES_IN": "1h",
           "REDIS_URL": f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '8')}",
           "RATELIMIT_ENABLED": "false", "MIDTRANS_SERVER_KEY": SERVER_KEY, "MIDTRANS_CLIENT_KEY": "SB-Mid-client-bench",
           "MIDTRANS_API_BASE_URL": sim.url, "MIDTRANS_TIMEOUT": "5"}
    app = create_app("production", SQLALCHEMY_DATABASE_URI=db_url, SECRET_KEY=secret_key, JWT_SECRET=jwt_secret,
                     RATELIMIT_ENABLED=False, RATELIMIT_STORAGE_URI="memory://")
    print(f"machine: {machine_line()}")
    print(f"database: {db_url}; gunicorn: {opts.workers} gthread workers x {opts.threads} threads; load: wrk (separate process)")

    with app.app_context():
        reset_schema(app)
        users = [User(name=f"Bench {i}", email=f"bench{i}@example.com", credit_balance=0, total_top_up=0,
                      total_spent=0, token_version=0) for i in range(100)]
        db.session.add_all(users)
        db.session.commit()
        user_ids = [u.id for u in users]
        tokens = [issue_access_token(u, secret=jwt_secret, lifetime=parse_duration("1h")) for u in users]
        t0 = time.time()
        orders = []
        for i in range(opts.orders + 1):
            row = ledger.open_pending(user_ids[i % 100], 10_000 + (i % 50) * 1_000, type=TransactionType.TOP_UP,
                                      description="Top-up credit via QRIS", payment_method="MIDTRANS_QRIS")
            orders.append((row.id, row.amount))
            if i % 500 == 0:
                db.session.commit()
        db.session.commit()
        bodies = []
        for order_id, amount in orders:
            sim.create(order_id, amount)
            body = sim.apply(order_id, "complete", payment_type="qris", notify=False)
            body["status_message"] = "midtrans payment notification"
            bodies.append(json.dumps(body, separators=(",", ":")))
        print(f"seeded {len(orders)} settled orders over 100 customers in {time.time() - t0:.1f}s")
        db.session.remove()

    work = Path(tempfile.mkdtemp(prefix="poddesk-bench-"))
    unique_file, dup_file, token_file = work / "unique.jsonl", work / "dup.jsonl", work / "tokens.txt"
    unique_file.write_text("\n".join(bodies[1:]) + "\n")
    dup_file.write_text((bodies[0] + "\n") * 64)  # one order, a line for every wrk thread
    token_file.write_text("\n".join(tokens) + "\n")

    port = free_port()
    log = open(work / "gunicorn.log", "w")  # the app's JSON access lines
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-w", str(opts.workers), "-k", "gthread", "--threads",
         str(opts.threads), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "2048", "wsgi:app"],
        cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/api/health")
        import requests

        first = requests.post(base + WEBHOOK, data=bodies[0], headers={"Content-Type": "application/json"}, timeout=10)
        assert first.status_code == 200 and first.json()["success"], first.text
        # warm-up (connections, imports) on duplicates
        run_wrk(LUA_BODIES, base + WEBHOOK, [str(dup_file), "2"], connections=opts.connections, duration=2)

        workers = [int(p) for p in Path(f"/proc/{gunicorn.pid}/task/{gunicorn.pid}/children").read_text().split()]
        cpu0, sim0 = cpu_seconds(workers), time.process_time()
        unique = run_wrk(LUA_BODIES, base + WEBHOOK, [str(unique_file), "2"], connections=opts.connections,
                         duration=opts.duration)
        unique["worker_cpu_ms"] = (cpu_seconds(workers) - cpu0) * 1000 / max(unique["requests"], 1)
        unique["sim_cpu_ms"] = (time.process_time() - sim0) * 1000 / max(unique["requests"], 1)
        dup = run_wrk(LUA_BODIES, base + WEBHOOK, [str(dup_file), "2"], connections=opts.connections,
                      duration=opts.duration)
        reads = run_wrk(LUA_GET, base, [str(token_file)], connections=100, duration=opts.duration)
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)
        log.close()
        sim.stop()

    with app.app_context():
        completed = db.session.execute(select(func.count()).select_from(Transaction)
                                       .where(Transaction.status == TransactionStatus.COMPLETED)).scalar_one()
        mismatched = [uid for uid in user_ids
                      if db.session.get(User, uid).credit_balance != ledger.ledger_sum(uid)]
        credited = db.session.execute(select(func.coalesce(func.sum(User.credit_balance), 0))).scalar_one()
        expected = db.session.execute(select(func.coalesce(func.sum(Transaction.amount), 0))
                                      .where(Transaction.status == TransactionStatus.COMPLETED)).scalar_one()

    print()
    print(f"unique notifications:    {unique['rate']:8.0f} webhooks/s  ({unique['requests']} in {unique['seconds']:.1f}s, "
          f"p50 {unique['p50_ms']:.1f} ms, p99 {unique['p99_ms']:.1f} ms, non-200 {unique['non_ok']}"
          f"{', ORDERS EXHAUSTED: raise --orders' if unique['wrapped'] else ''})")
    print(f"  CPU per unique webhook: gunicorn workers {unique['worker_cpu_ms']:.2f} ms, Midtrans simulator (this "
          f"process) {unique['sim_cpu_ms']:.2f} ms")
    print(f"duplicate notifications: {dup['rate']:8.0f} webhooks/s  ({dup['requests']} in {dup['seconds']:.1f}s, "
          f"p50 {dup['p50_ms']:.1f} ms, p99 {dup['p99_ms']:.1f} ms, non-200 {dup['non_ok']})")
    print(f"GET /api/wallet/info, 100 concurrent: p50 {reads['p50_ms']:.1f} ms, p99 {reads['p99_ms']:.1f} ms "
          f"({reads['rate']:.0f} req/s, non-200 {reads['non_ok']})")
    print(f"money check: {completed} orders COMPLETED (1 warm-up + unique ones posted), credited {credited} IDR == "
          f"completed amounts {expected} IDR: {credited == expected}; users whose balance != ledger: {len(mismatched)}")
    print("targets: >= 1,000 webhooks/s; p99 < 50 ms")
    money_ok = credited == expected and not mismatched
    m = machine_info()
    print(f"machine at the end: {machine_line(m)}")
    metrics = [
        metric("unique Midtrans webhooks/s", unique["rate"], target=">= 1000", unit="/s", passed=unique["rate"] >= 1000,
               note=f"{opts.connections} connections, p99 {unique['p99_ms']:.0f} ms, status re-check with the "
                    f"Midtrans simulator included; worker CPU {unique['worker_cpu_ms']:.1f} ms/webhook{'; ORDERS EXHAUSTED' if unique['wrapped'] else ''}"),
        metric("duplicate Midtrans webhooks/s", dup["rate"], target="(report)", unit="/s", passed=None,
               note=f"p99 {dup['p99_ms']:.0f} ms"),
        metric("webhook money check (each order credited once, balances == ledger)", 0 if money_ok else 1,
               target="0 errors", unit="errors", passed=money_ok),
    ]
    print_metrics(metrics)
    emit("bench/webhook.py", metrics, m)
    return 0 if money_ok else 1


if __name__ == "__main__":
    sys.exit(main())
