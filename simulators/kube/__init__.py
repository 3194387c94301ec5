"""A protocol-true Kubernetes API server simulator (core/v1, apps/v1, networking.k8s.io/v1, batch/v1, policy/v1,
rbac.authorization.k8s.io/v1, metrics.k8s.io).

Modules: `resources` (catalogue + discovery), `store` (objects, resourceVersions, GC), `admission` (defaults and
validation), `patch` (merge / strategic-merge / JSON patch), `selectors`, `controller` (deployment, replicaset,
job, scheduler, kubelet, PV, ingress and disruption-budget controllers), `telemetry` (logs and metrics),
`faults`, `tables` (kubectl server-side printing), `server` (HTTP, and the request log of authorization attributes that
`KubeSimulator.requests_seen()` returns), `simulator` (the `KubeSimulator` facade).
Run standalone with `python -m simulators.kube --port 8001`.
"""
from .simulator import KubeSimulator

__all__ = ["KubeSimulator"]
