"""Run every benchmark and write bench/RESULTS.md (`make bench`).

    .venv/bin/python bench/run_all.py [--only http,webhook,renewals,cluster,soak] [--quick] [--renewals-n 100000]
                                      [--output bench/RESULTS.md]

Runs, one after the other (each needs the whole machine): bench/http_api.py, bench/webhook.py,
bench/renewals.py --n 100000, `python -m bench.cluster`, bench/soak.py --users 100 (invariants). The scripts we own end with a `BENCH_JSON {...}` line
(bench/benchutil.py); renewals.py prints text, parsed here. Each script's full output goes to
artifacts/bench/<name>.log. RESULTS.md gets one table (metric, target, figure, PASS/MISS, script, date, machine) and the
machine details; a script that failed is listed with its exit status and the end of its output.
Needs PostgreSQL on BENCH_DATABASE_URL (default 127.0.0.1:5432, database poddesk_bench), Redis (db BENCH_REDIS_DB,
default 8) and wrk. Exit status 0 when every script ran (MISSes included), else 1.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchutil import JSON_PREFIX, machine, machine_line, metric, verdict  # noqa: E402

PY = sys.executable
SCRIPTS = {
    "http": ("bench/http_api.py", [PY, "bench/http_api.py"], ["--duration", "5"]),
    "webhook": ("bench/webhook.py", [PY, "bench/webhook.py"], ["--duration", "5", "--orders", "6000"]),
    "renewals": ("bench/renewals.py", [PY, "bench/renewals.py", "--n", "100000"], None),
    "cluster": ("bench/cluster.py", [PY, "-m", "bench.cluster"], ["--runs", "3", "--instances", "5"]),
    "soak": ("bench/soak.py", [PY, "bench/soak.py", "--users", "100"], ["--duration", "60", "--rounds", "2"]),
}
TIMEOUT = 1800


def parse_json(out: str) -> dict | None:
    for line in reversed(out.splitlines()):
        if line.startswith(JSON_PREFIX):
            return json.loads(line[len(JSON_PREFIX):])
    return None


def parse_renewals(out: str, n_expected: int) -> list[dict]:
    """renewals.py's output: its JSON line `{"metric": "renewals", "n", "seconds", ...}` when present, else its text
    ('renewals: 98,000 in 55.1 s = ...', 'double charges found: 0', 'ledger-vs-balance mismatches: 0')."""
    for line in reversed(out.splitlines()):
        if line.startswith('{"metric": "renewals"'):
            data = json.loads(line)
            n, seconds = int(data["n"]), float(data["seconds"])
            chains = re.search(r"broken balance_before/after chains:\s*(\d+)", out)
            return [
                metric(f"renewal pass over {n:,} due subscriptions", seconds, target="<= 60 s", unit="s",
                       passed=seconds <= 60 and n >= 100_000,
                       note=f"{data.get('per_second', 0):,.0f} renewals/s, 2 worker processes, incl. start-up"),
                metric("renewals: double charges", data.get("double_charges"), target="0", unit="",
                       passed=data.get("double_charges") == 0),
                metric("renewals: ledger-vs-balance mismatches", data.get("ledger_mismatches"), target="0", unit="",
                       passed=data.get("ledger_mismatches") == 0),
                *([metric("renewals: broken balance_before/after chains", int(chains.group(1)), target="0", unit="",
                          passed=chains.group(1) == "0")] if chains else []),
            ]
    metrics = []
    match = re.search(r"renewals:\s*([\d,]+)\s+in\s+([\d.]+)\s*s", out)
    seeded = re.search(r"seeded ([\d,]+) due subscriptions", out)
    n = int(seeded.group(1).replace(",", "")) if seeded else n_expected
    if match:
        renewed, seconds = int(match.group(1).replace(",", "")), float(match.group(2))
        metrics.append(metric(f"renewal pass over {n:,} due subscriptions", seconds, target="<= 60 s", unit="s",
                              passed=seconds <= 60 and n >= 100_000,
                              note=f"{renewed:,} renewed, {renewed / seconds:,.0f} renewals/s, 2 worker processes"))
    else:
        metrics.append(metric(f"renewal pass over {n:,} due subscriptions", None, target="<= 60 s", unit="s",
                              passed=False, note="figure not found in the output"))
    for label, pattern in (("double charges", r"double charges found:\s*(\d+)"),
                           ("ledger-vs-balance mismatches", r"ledger-vs-balance mismatches:\s*(\d+)")):
        found = re.search(pattern, out)
        value = int(found.group(1)) if found else None
        metrics.append(metric(f"renewals: {label}", value, target="0", unit="", passed=value == 0))
    return metrics


def parse_soak(out: str) -> list[dict]:
    """soak.py's text: 'operations: N (x/s)', 'workers killed: K', 'RESULT: OK (V violations, F HTTP 5xx)'."""
    result = re.search(r"RESULT: \w+ \((\d+) violations, (\d+) HTTP 5xx\)", out)
    if not result:
        return []
    operations = re.search(r"^operations: (\d+)", out, re.M)
    killed = re.search(r"^workers killed: (\d+)", out, re.M)
    note = (f"{int(operations.group(1)):,} operations" if operations else "") + \
        (f", {killed.group(1)} worker(s) SIGKILLed mid-job" if killed else "")
    violations, errors = int(result.group(1)), int(result.group(2))
    return [metric("money soak: invariant violations", violations, target="0", unit="", passed=violations == 0,
                   note=note + "; balance == ledger, no negative balance, one charge per period, quota, "
                                "no orphaned k8s objects, top-ups once, coupons within limits"),
            metric("money soak: HTTP 5xx", errors, target="0", unit="", passed=errors == 0)]


def run(name: str, quick: bool, renewals_n: int = 100_000) -> dict:
    script, cmd, quick_args = SCRIPTS[name]
    cmd = cmd + (quick_args if quick and quick_args else [])
    if name == "renewals":
        cmd = [*cmd[:-1], str(renewals_n)]
    logs = ROOT / "artifacts" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    before = machine()  # other processes busy right before the script starts its own
    started = time.time()
    print(f"== {' '.join(cmd[1:])}", flush=True)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        stdout, code = proc.stdout, proc.returncode
        out = stdout + ("\n" + proc.stderr if proc.stderr else "")
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stdout, code = partial, -1
        out = f"{partial}\nTIMEOUT after {TIMEOUT}s"
    (logs / f"{name}.log").write_text(out)
    elapsed = time.time() - started
    for line in stdout.splitlines():
        if not line.startswith(JSON_PREFIX):
            print("   " + line)
    result = {"name": name, "script": script, "code": code, "seconds": elapsed, "tail": out.strip().splitlines()[-15:],
              "before": before}
    if name in ("renewals", "soak"):
        result.update(metrics=parse_renewals(out, renewals_n) if name == "renewals" else parse_soak(out),
                      machine=machine(), date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    else:
        payload = parse_json(out)
        result.update(metrics=payload["metrics"] if payload else [], machine=payload["machine"] if payload else None,
                      date=payload["date"] if payload else None)
    return result


def short_machine(before: dict) -> str:
    """Cores, and whether other processes were using the CPU when the script started (then: LOADED)."""
    busy = before["busy_processes"]
    state = f"LOADED: {len(busy)} other busy processes at start" if busy else "quiet at start"
    return f"{before['cores']} cores, {state}, load {before['load'].split('/')[0]}"


def figure(m: dict) -> str:
    if m["value"] is None:
        return "-"
    value = m["value"]
    text = f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"
    return f"{text} {m['unit']}".strip()


def write_results(results: list[dict], path: Path, before: dict, quick: bool) -> None:
    lines = ["# Benchmark results", "",
             f"Generated by `make bench` (bench/run_all.py{' --quick' if quick else ''}) on "
             f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. Each script's full output: "
             "artifacts/bench/<name>.log.", "",
             "| metric | target | figure | PASS/MISS | script | date | machine |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        if not r["metrics"]:
            lines.append(f"| {r['name']}: no figures (exit status {r['code']}) | - | - | MISS | {r['script']} | "
                         f"{r['date'] or '-'} | - |")
        for m in r["metrics"]:
            note = f" ({m['note']})" if m.get("note") else ""
            lines.append(f"| {m['metric']}{note} | {m['target']} | {figure(m)} | {verdict(m['passed'])} | "
                         f"{r['script']} | {r['date'] or '-'} | {short_machine(r['before'])} |")
    lines += ["", "## Machine", "", f"- before the runs: {machine_line(before)}"]
    for r in results:
        lines.append(f"- when {r['script']} started: {machine_line(r['before'])}")
        if r["machine"]:
            lines.append(f"- when {r['script']} ended: {machine_line(r['machine'])}")
    lines += ["", "LOADED: other processes (more than 10 % of a core each over half a second) were busy when the script "
              "started, so its figures understate what the code does on a quiet machine. The load average includes the "
              "benchmark's own processes (gunicorn threads, wrk, PostgreSQL backends), so it is high during any run.", ""]
    failed = [r for r in results if r["code"] != 0]
    if failed:
        lines += ["## Scripts that failed", ""]
        for r in failed:
            lines += [f"### {r['script']} (exit status {r['code']})", "", "```", *r["tail"], "```", ""]
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SCRIPTS), help="comma-separated subset of " + ",".join(SCRIPTS))
    parser.add_argument("--quick", action="store_true", help="shorter runs (trial; renewals still 100,000)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--renewals-n", type=int, default=100_000, help="due subscriptions for renewals.py (trials)")
    opts = parser.parse_args(argv)
    names = [n.strip() for n in opts.only.split(",") if n.strip()]
    unknown = set(names) - set(SCRIPTS)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    before = machine()
    print(f"machine: {machine_line(before)}", flush=True)
    results = [run(name, opts.quick, opts.renewals_n) for name in names]
    write_results(results, Path(opts.output), before, opts.quick)
    print(f"\nwrote {opts.output}")
    for r in results:
        for m in r["metrics"]:
            print(f"  {verdict(m['passed']):4}  {m['metric']}: {figure(m)} (target {m['target']})")
        if r["code"] != 0:
            print(f"  FAILED {r['script']}: exit status {r['code']} (artifacts/bench/{r['name']}.log)")
    return 0 if all(r["code"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
