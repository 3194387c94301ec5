"""The console Pods page reads `monitoring.pod_summaries`: the same pods and figures as K5 (`list_pods`), lighter."""
from __future__ import annotations

import pytest

from simulators.kube import KubeSimulator
from webapp.cluster import monitoring


@pytest.fixture
def seeded_cluster(app, monkeypatch):
    with KubeSimulator(port=0, nodes=3, pod_start_delay=0.05) as sim:
        sim.seed(pods=120, namespaces=4)
        for key, value in {"KUBE_API_URL": sim.url, "KUBE_PROBE_CACHE_SECONDS": 0, "KUBE_TIMEOUT_SECONDS": 5}.items():
            monkeypatch.setitem(app.config, key, value)
        yield sim


def _k5_projection(row: dict) -> dict:
    """The page's columns computed from a K5 row (how the page computed them before)."""
    used = [c["usage"] for c in row["containers"] if c["usage"]]
    return {"name": row["name"], "namespace": row["namespace"], "status": row["status"], "nodeName": row["nodeName"],
            "restarts": row["restarts"], "createdAt": row["createdAt"],
            "cpu": sum(u["cpu"]["millicores"] for u in used), "memory": sum(u["memory"]["megabytes"] for u in used)}


def test_summaries_match_the_k5_rows(app, seeded_cluster):
    with app.app_context():
        full = monitoring.list_pods()["pods"]
        summaries = monitoring.pod_summaries()
        only_ns = monitoring.pod_summaries("user-bench-0002")
    key = lambda r: (r["namespace"], r["name"])  # noqa: E731
    assert len(summaries) == len(full) >= 120
    assert sorted(summaries, key=key) == sorted((_k5_projection(r) for r in full), key=key)
    assert any(s["cpu"] > 0 and s["memory"] > 0 for s in summaries)  # metrics were joined, not all zero
    assert {s["namespace"] for s in only_ns} == {"user-bench-0002"} and len(only_ns) == 30
