"""Fault injection settings, changed at runtime through `KubeSimulator.set_faults()` or `/_sim/faults`.

API-level faults (applied by the HTTP layer to every Kubernetes API call, never to `/_sim/*`):
  down        every call answers 503 ServiceUnavailable (`down_mode: "close"` drops the connection instead,
              which clients see as a connection reset — the closest in-process stand-in for "refused")
  slow_ms     added latency per call
  error_rate  fraction (0..1) of calls answered with `error_code` (default 500 InternalError)
  paths       optional list of path prefixes the three faults above are limited to
Workload faults (applied by the controller to pods; entries are a deployment name, `namespace/name`, or a
label selector such as `app=ghost`):
  never_ready       containers run but never pass readiness
  crash_loop        containers crash repeatedly: CrashLoopBackOff, restartCount grows every `crash_period` s
  image_pull_error  pods stay Pending with ErrImagePull / ImagePullBackOff
  node_not_ready    node names whose Ready condition turns Unknown
"""
from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields

from .selectors import LabelSelector


@dataclass
class Faults:
    down: bool = False
    down_mode: str = "503"
    slow_ms: int = 0
    error_rate: float = 0.0
    error_code: int = 500
    paths: list = field(default_factory=list)
    never_ready: list = field(default_factory=list)
    crash_loop: list = field(default_factory=list)
    image_pull_error: list = field(default_factory=list)
    node_not_ready: list = field(default_factory=list)
    crash_period: float = 1.0
    seed: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class FaultState:
    """Thread-safe holder; workload matchers are compiled once per change."""

    def __init__(self, **initial):
        self._lock = threading.Lock()
        self.faults = Faults()
        self.rng = random.Random()
        self._compiled: dict[str, list] = {}
        if initial:
            self.update(initial)

    def update(self, changes: dict, replace: bool = False) -> dict:
        names = {f.name for f in fields(Faults)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            base = Faults() if replace else self.faults
            data = {**base.to_dict(), **changes}
            for key in ("never_ready", "crash_loop", "image_pull_error", "node_not_ready", "paths"):
                if isinstance(data[key], str):
                    data[key] = [data[key]]
                data[key] = list(data[key] or [])
            data["error_rate"] = float(data["error_rate"] or 0)
            data["slow_ms"] = int(data["slow_ms"] or 0)
            data["error_code"] = int(data["error_code"] or 500)
            data["crash_period"] = max(0.05, float(data["crash_period"] or 1.0))
            self.faults = Faults(**data)
            if self.faults.seed is not None:
                self.rng.seed(self.faults.seed)
            self._compiled = {k: [self._compile(e) for e in getattr(self.faults, k)]
                              for k in ("never_ready", "crash_loop", "image_pull_error")}
            return self.faults.to_dict()

    @staticmethod
    def _compile(entry: str):
        if "=" in entry or entry.startswith("!"):
            sel = LabelSelector(entry)
            return lambda ns, deploy, pod: sel.matches(pod["metadata"].get("labels"))
        if "/" in entry:
            ens, ename = entry.split("/", 1)
            return lambda ns, deploy, pod: ns == ens and ename in (deploy, pod["metadata"]["name"])
        return lambda ns, deploy, pod: entry in (deploy, pod["metadata"]["name"])

    def has_workload_faults(self) -> bool:
        return any(self._compiled.values()) if self._compiled else False

    def workload_fault(self, pod: dict, deploy_name: str | None) -> str | None:
        """The fault that applies to this pod: "crash_loop", "never_ready", "image_pull_error" or None."""
        compiled = self._compiled
        if not compiled or not any(compiled.values()):
            return None
        ns = pod["metadata"].get("namespace")
        for kind in ("image_pull_error", "crash_loop", "never_ready"):
            if any(m(ns, deploy_name, pod) for m in compiled.get(kind, [])):
                return kind
        return None

    def api_fault(self, path: str):
        """(kind, arg) for the HTTP layer: ("down", mode) / ("error", code) / None; plus the delay in seconds."""
        f = self.faults
        if f.paths and not any(path.startswith(p) for p in f.paths):
            return None, 0.0
        delay = f.slow_ms / 1000.0
        if f.down:
            return ("down", f.down_mode), delay
        if f.error_rate > 0 and self.rng.random() < f.error_rate:
            return ("error", f.error_code), delay
        return None, delay
