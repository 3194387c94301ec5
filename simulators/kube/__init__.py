"""A protocol-true Kubernetes API server simulator (core/v1, apps/v1, networking.k8s.io/v1, metrics.k8s.io).

Modules: `resources` (catalogue + discovery), `store` (objects, resourceVersions, GC), `admission` (defaults and
validation), `patch` (merge / strategic-merge / JSON patch), `selectors`, `controller` (deployment, replicaset,
scheduler, kubelet, PV and ingress controllers), `telemetry` (logs and metrics), `faults`, `tables`
(kubectl server-side printing), `server` (HTTP), `simulator` (the `KubeSimulator` facade).
Run standalone with `python -m simulators.kube --port 8001`.
"""
from .simulator import KubeSimulator

__all__ = ["KubeSimulator"]
