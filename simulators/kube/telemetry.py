"""What the kubelet and metrics-server would report: container log lines and CPU/memory usage.

Everything is a pure function of (pod name, container, time), so repeated reads agree with each other and tests
can predict them: log line *i* of a container is emitted at `start + i * LOG_INTERVAL` and its text is chosen
by hashing (pod, container, i); usage is re-drawn every METRICS_WINDOW seconds and always stays within the
container's limits (or plausible defaults when it has none).
"""
from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime, timezone

from .quantity import cpu_nanos, fmt_kib, fmt_nanocores, mem_bytes
from .store import parse_rfc3339

LOG_INTERVAL = 2.0  # seconds between generated log lines of a running container
METRICS_WINDOW = 15  # seconds; metrics-server's default resolution
DEFAULT_CPU_LIMIT = 500_000_000  # nanocores used when a container has no CPU limit
DEFAULT_MEM_LIMIT = 256 * 1024 * 1024
MAX_LOG_LINES = 20_000  # oldest lines are rotated away, like the kubelet's log rotation


def _h(*parts) -> int:
    return int.from_bytes(hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def _frac(*parts) -> float:
    return _h(*parts) / 2 ** 64


def rfc3339_nano(t: float) -> str:
    base = datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{int((t - int(t)) * 1e9):09d}Z"


def _flavour(image: str) -> str:
    image = (image or "").lower()
    for key in ("n8n", "ghost", "postgres", "nginx", "redis", "wordpress", "mysql"):
        if key in image:
            return key
    return "generic"


_STARTUP = {
    "n8n": ["Initializing n8n process", "n8n ready on 0.0.0.0, port 5678", "Version: 1.64.0",
            "Editor is now accessible via:", "http://localhost:5678"],
    "ghost": ["[{ts}] INFO Ghost is running in production...", "[{ts}] INFO Your site is now available on {url}",
              "[{ts}] INFO Ctrl+C to shut down", "[{ts}] INFO Ghost server started in 1.873s",
              "[{ts}] INFO Database is in a ready state."],
    "postgres": ["PostgreSQL Database directory appears to contain a database; Skipping initialization",
                 "{ts} UTC [1] LOG:  starting PostgreSQL 16.4 on x86_64-pc-linux-gnu",
                 "{ts} UTC [1] LOG:  listening on IPv4 address \"0.0.0.0\", port 5432",
                 "{ts} UTC [1] LOG:  database system is ready to accept connections"],
    "nginx": ["/docker-entrypoint.sh: Configuration complete; ready for start up",
              "{ts} [notice] 1#1: using the \"epoll\" event method", "{ts} [notice] 1#1: nginx/1.27.2",
              "{ts} [notice] 1#1: start worker processes"],
    "generic": ["level=info ts={ts} msg=\"starting application\" version=1.0.0",
                "level=info ts={ts} msg=\"configuration loaded\" source=env",
                "level=info ts={ts} msg=\"listening\" addr=0.0.0.0:8080"],
}
_PATHS = ["/", "/healthz", "/api/v1/items", "/login", "/static/app.js", "/favicon.ico", "/rest/workflows",
          "/ghost/api/admin/site/", "/metrics"]
_AGENTS = ["kube-probe/1.32", "Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "Go-http-client/1.1"]


def _periodic_line(flavour: str, pod: str, container: str, i: int, t: float) -> str:
    h = _h(pod, container, i)
    path = _PATHS[h % len(_PATHS)]
    status = 200 if h % 17 else (404 if h % 2 else 500)
    ms = 1 + (h >> 8) % 240
    ts = rfc3339_nano(t)[:23] + "Z"
    if flavour == "nginx":
        when = datetime.fromtimestamp(t, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
        return (f"10.42.{h % 4}.{(h >> 4) % 250 + 1} - - [{when}] \"GET {path} HTTP/1.1\" {status} "
                f"{(h >> 12) % 9000 + 100} \"-\" \"{_AGENTS[(h >> 20) % len(_AGENTS)]}\"")
    if flavour == "postgres":
        if h % 5 == 0:
            return f"{ts} UTC [{27 + h % 90}] LOG:  checkpoint complete: wrote {h % 40} buffers"
        return f"{ts} UTC [{27 + h % 90}] LOG:  duration: {ms}.{h % 1000:03d} ms  statement: SELECT 1"
    if flavour == "ghost":
        return f"[{ts}] INFO \"GET {path}\" {status} {ms}ms"
    if flavour == "n8n":
        if h % 7 == 0:
            return f"Workflow execution finished successfully (executionId: {10000 + i})"
        return f"{ts} | info | Request {path} {status} {ms}ms"
    level = "info" if status == 200 else ("warn" if status == 404 else "error")
    return (f"level={level} ts={ts} msg=\"handled request\" method=GET path={path} status={status} "
            f"duration_ms={ms}")


def container_names(pod: dict) -> list[str]:
    return [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]


def _status_of(pod: dict, container: str) -> dict:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            return cs
    return {}


def log_window(pod: dict, container: str, previous: bool) -> tuple[float, float, bool] | None:
    """(start, end, crashed) of the container run whose logs are served, or None if it never ran."""
    cs = _status_of(pod, container)
    state, last = cs.get("state") or {}, cs.get("lastState") or {}
    if previous:
        term = last.get("terminated")
        if not term:
            return None
        return parse_rfc3339(term.get("startedAt")), parse_rfc3339(term.get("finishedAt")), True
    if "running" in state:
        return parse_rfc3339(state["running"].get("startedAt")), time.time(), False
    if "terminated" in state:
        t = state["terminated"]
        return parse_rfc3339(t.get("startedAt")), parse_rfc3339(t.get("finishedAt")), True
    if state.get("waiting") and last.get("terminated"):
        # CrashLoopBackOff: the kubelet still serves the last (crashed) run's output.
        t = last["terminated"]
        return parse_rfc3339(t.get("startedAt")), parse_rfc3339(t.get("finishedAt")), True
    return None


def log_lines(pod: dict, container: str, start: float, end: float, crashed: bool, *,
              tail: int | None = None, since: float | None = None, timestamps: bool = False,
              first_index: int = 0) -> tuple[list[str], int]:
    """Lines of one container run between `start` and `end`; returns (lines, next_index) for follow mode."""
    name = pod["metadata"]["name"]
    image = next((c.get("image", "") for c in pod["spec"].get("containers", []) if c["name"] == container), "")
    flavour = _flavour(image)
    url = "https://" + (name.split("-")[0] + ".minispod.com")
    startup = _STARTUP[flavour]
    # Index space: 0..len(startup)-1 are startup lines (10 ms apart), then periodic lines LOG_INTERVAL apart.
    n_periodic = max(0, int((end - start) / LOG_INTERVAL))
    total = len(startup) + n_periodic + (2 if crashed else 0)
    lo = max(first_index, total - MAX_LOG_LINES)
    if tail is not None:
        lo = max(lo, total - tail)

    def at(i: int) -> tuple[float, str]:
        if i < len(startup):
            t = start + 0.01 * i
            ts = (datetime.fromtimestamp(t, timezone.utc).strftime("%Y/%m/%d %H:%M:%S") if flavour == "nginx"
                  else rfc3339_nano(t)[:23] + "Z")
            return t, startup[i].format(ts=ts, url=url)
        j = i - len(startup)
        if crashed and j >= n_periodic:
            t = end - 0.01 * (2 - (j - n_periodic))
            return t, ("Error: connection refused (ECONNREFUSED) while connecting to the database"
                       if j == n_periodic else "process exited with code 1")
        t = start + (j + 1) * LOG_INTERVAL
        return t, _periodic_line(flavour, name, container, j, t)

    out = []
    for i in range(lo, total):
        t, text = at(i)
        if since is not None and t < since:
            continue
        out.append(f"{rfc3339_nano(t)} {text}" if timestamps else text)
    return out, total


# ------------------------------------------------------------------------------------------- metrics

def container_usage(pod: dict, container: dict, now: float | None = None) -> tuple[int, int]:
    """(nanocores, bytes) for one container, inside its limits."""
    bucket = int((now or time.time()) // METRICS_WINDOW)
    limits = (container.get("resources") or {}).get("limits") or {}
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu_lim = cpu_nanos(limits.get("cpu"), 0) or cpu_nanos(requests.get("cpu"), 0) * 2 or DEFAULT_CPU_LIMIT
    mem_lim = mem_bytes(limits.get("memory"), 0) or mem_bytes(requests.get("memory"), 0) * 2 or DEFAULT_MEM_LIMIT
    key = (pod["metadata"].get("namespace"), pod["metadata"]["name"], container["name"])
    # CPU wanders between 2 % and 60 % of the limit; memory sits at a per-pod level (30-70 %) with +-5 % noise.
    cpu = int(cpu_lim * (0.02 + 0.58 * _frac(*key, "cpu", bucket)))
    level = 0.30 + 0.40 * _frac(*key, "mem")
    mem = int(mem_lim * min(0.95, level + 0.10 * (_frac(*key, "mem", bucket) - 0.5)))
    return cpu, mem


def metrics_timestamp(now: float | None = None) -> str:
    t = int((now or time.time()) // METRICS_WINDOW) * METRICS_WINDOW
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_metrics(pod: dict, now: float | None = None) -> dict:
    return _pod_metrics(pod, now or time.time())[0]


def _pod_metrics(pod: dict, now: float) -> tuple[dict, int, int]:
    """PodMetrics and the pod's total (nanocores, bytes), which its node's figure includes."""
    containers, total_cpu, total_mem = [], 0, 0
    for c in pod["spec"].get("containers") or []:
        cpu, mem = container_usage(pod, c, now)
        total_cpu, total_mem = total_cpu + cpu, total_mem + mem
        containers.append({"name": c["name"], "usage": {"cpu": fmt_nanocores(cpu), "memory": fmt_kib(mem)}})
    meta = pod["metadata"]
    item = {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "creationTimestamp": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "labels": meta.get("labels") or {}},
            "timestamp": metrics_timestamp(now), "window": f"{METRICS_WINDOW}s", "containers": containers}
    return item, total_cpu, total_mem


def node_metrics(node: dict, pods_cpu: int, pods_mem: int, now: float | None = None) -> dict:
    """NodeMetrics: system daemons plus `pods_cpu` nanocores / `pods_mem` bytes used by its running pods."""
    now = now or time.time()
    name = node["metadata"]["name"]
    cap = (node.get("status") or {}).get("capacity") or {}
    cpu_cap, mem_cap = cpu_nanos(cap.get("cpu"), 4 * 10 ** 9), mem_bytes(cap.get("memory"), 16 * 2 ** 30)
    bucket = int(now // METRICS_WINDOW)
    # System daemons (kubelet, containerd, OS) plus the sum of the node's pods, capped at capacity.
    cpu = int(cpu_cap * (0.03 + 0.04 * _frac(name, "cpu", bucket))) + pods_cpu
    mem = int(mem_cap * (0.12 + 0.03 * _frac(name, "mem", bucket))) + pods_mem
    return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": name, "creationTimestamp": datetime.fromtimestamp(now, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"), "labels": node["metadata"].get("labels") or {}},
            "timestamp": metrics_timestamp(now), "window": f"{METRICS_WINDOW}s",
            "usage": {"cpu": fmt_nanocores(min(cpu, cpu_cap)), "memory": fmt_kib(min(mem, int(mem_cap * 0.98)))}}


class Scrapes:
    """What metrics-server holds between scrapes: each pod's figures for the current METRICS_WINDOW.

    metrics-server scrapes every kubelet once per resolution period and answers reads from memory; likewise a pod's
    PodMetrics (and its encoding) is computed on its first read in a window and reused until the window ends or the
    pod changes (a new store entry). Without it a list of 5,000 pods re-derived every figure on every read (~0.3 s),
    a cost no real metrics API has. creationTimestamp is therefore the scrape time, not the read time.
    """

    def __init__(self):
        self._pods: dict[tuple, tuple] = {}  # (namespace, name) -> (entry, window, item, json, cpu, mem)
        self._lock = threading.Lock()

    def pod(self, entry, now: float, encode) -> tuple[dict, bytes, int, int]:
        meta = entry.obj["metadata"]
        key, window = (meta.get("namespace"), meta["name"]), int(now // METRICS_WINDOW)
        hit = self._pods.get(key)
        if hit is not None and hit[0] is entry and hit[1] == window:
            return hit[2:]
        item, cpu, mem = _pod_metrics(entry.obj, now)
        value = (entry, window, item, encode(item), cpu, mem)
        with self._lock:
            self._pods[key] = value
        return value[2:]

    def forget_except(self, keys: set) -> None:
        """Drop pods no longer present (called after a full list, which saw every pod)."""
        with self._lock:
            for key in [k for k in self._pods if k not in keys]:
                del self._pods[key]
