"""Helpers shared by the bench scripts: the machine description, free ports, the bench database, running wrk,
and the machine-readable result line that bench/run_all.py collects.

Every script prints its figures for people and, last, one line `BENCH_JSON {...}` (see `emit`): the script name,
the machine, and a list of metrics {metric, target, value, unit, passed}.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/poddesk_bench"
JSON_PREFIX = "BENCH_JSON "


def machine() -> dict:
    """CPU model, cores, RAM, Python, load average and how many processes are running right now."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        ram = f"{int(Path('/proc/meminfo').read_text().split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    running = "?"
    try:
        running = Path("/proc/loadavg").read_text().split()[3]  # runnable/total scheduling entities
    except (OSError, IndexError):
        pass
    busy = busy_processes()
    return {"cpu": model, "cores": os.cpu_count(), "ram": ram, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "load": load, "running_total": running,
            "busy_processes": busy}


def busy_processes(threshold: float = 10.0, window: float = 0.5) -> list[str]:
    """Other processes using more than `threshold` % of a core over `window` seconds (a loaded machine)."""
    def ticks() -> dict[int, tuple[int, str]]:
        out = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                out[int(d.name)] = (int(fields[11]) + int(fields[12]), name)
            except (OSError, ValueError, IndexError):
                continue
        return out

    try:
        before = ticks()
        time.sleep(window)
        after = ticks()
    except OSError:
        return []
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    me = os.getpid()
    busy = []
    for pid, (t, name) in after.items():
        if pid == me or pid not in before:
            continue
        pct = (t - before[pid][0]) / hz / window * 100
        if pct >= threshold:
            busy.append(f"{name}[{pid}] {pct:.0f}%")
    return busy


def machine_line(m: dict | None = None) -> str:
    m = m or machine()
    busy = ", ".join(m["busy_processes"]) or "none"
    return (f"{m['cores']} cores ({m['cpu']}), {m['ram']} RAM, {m['os']}, Python {m['python']}, "
            f"load average {m['load']}, running/total tasks {m['running_total']}, busy processes: {busy}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def recreate_database(base_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `base_url`; return the URL of the new database."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    dsn = url.set(drivername="postgresql", database=url.database or "postgres").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def wait_http(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def reset_schema(app) -> None:
    """An empty `public` schema with the app's tables (call inside an app context)."""
    from sqlalchemy import text

    from webapp.extensions import db

    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.create_all()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def require_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (make bench installs it)")
    return path


def run_wrk(script: str | Path, url: str, args: list[str] = (), *, connections: int, duration: float,
            threads: int = 2, env: dict | None = None) -> dict:
    """Run wrk with a Lua script whose done() prints `WRK {json}`; return that dict plus req/s."""
    script = Path(script)
    if not script.is_absolute():
        script = WRK_DIR / script
    cmd = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{int(round(duration))}s", "--timeout", "10s",
           "-s", str(script), url, "--", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    match = re.search(r"^WRK (\{.*\})$", proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    result = json.loads(match.group(1))
    result["seconds"] = result["duration_us"] / 1e6
    result["rate"] = result["requests"] / result["seconds"] if result["seconds"] else 0.0
    for key in ("p50", "p90", "p99", "max", "mean"):
        if key in result:
            result[f"{key}_ms"] = result[key] / 1000
    return result


def metric(name: str, value: float | None, *, target: str, unit: str, passed: bool | None, note: str = "") -> dict:
    return {"metric": name, "value": value, "unit": unit, "target": target, "passed": passed, "note": note}


def verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("PASS" if passed else "MISS")


def print_metrics(metrics: list[dict]) -> None:
    width = max(len(m["metric"]) for m in metrics)
    for m in metrics:
        value = "-" if m["value"] is None else f"{m['value']:,.1f} {m['unit']}"
        note = f"  ({m['note']})" if m["note"] else ""
        print(f"{m['metric']:<{width}}  {value:>16}  target {m['target']:<12} {verdict(m['passed'])}{note}")


def emit(script: str, metrics: list[dict], m: dict | None = None, **extra) -> None:
    """The last line of a bench script: what bench/run_all.py parses."""
    payload = {"script": script, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": m or machine(), "metrics": metrics, **extra}
    print(JSON_PREFIX + json.dumps(payload), flush=True)
