"""Admin cluster routes: instance health (H1-H4) and Kubernetes monitoring (K1-K8), administrators only.

Monitoring makes one list call per resource (plus one metrics list where the shape has usage) and answers
503 "Kubernetes cluster not accessible" when the API server cannot be reached; health answers 503 "Kubernetes
cluster not available for health checks" and then writes nothing.
"""
from __future__ import annotations

from flask import Blueprint

from ..cluster import health, monitoring
from ..cluster import services as cluster
from . import schemas_cluster as s
from .auth import admin_required
from .envelope import ok
from .validation import validate


def register(bp: Blueprint) -> None:
    # ----------------------------------------------------------------------------------------- health
    @bp.get("/admin/health/summary")
    @admin_required
    def admin_health_summary():
        """Instance counts per status and the results of the last five minutes of checks (database only)."""
        return ok("Health summary retrieved successfully", health.health_summary())

    @bp.post("/admin/health/check")
    @admin_required
    def admin_health_check():
        """Check every running instance now and store the results."""
        return ok("Health check completed successfully", health.run_sweep())

    @bp.get("/admin/health/instances/<id>")
    @admin_required
    @validate(path=s.InstanceIdPath)
    def admin_health_instance(path: s.InstanceIdPath):
        """Live health of one instance (not stored)."""
        return ok("Instance health status retrieved successfully", cluster.instance_health_by_id(path.id))

    @bp.get("/admin/health/stats")
    @admin_required
    @validate(query=s.HealthStatsQuery)
    def admin_health_stats(query: s.HealthStatsQuery):
        """Health and resource figures of the instances checked within the time range."""
        return ok("Health statistics retrieved successfully", health.health_stats(query.timeRange))

    # ----------------------------------------------------------------------------------------- k8s
    @bp.get("/admin/k8s/nodes")
    @admin_required
    def admin_k8s_nodes():
        """Every node with its capacity and live usage."""
        return ok("Kubernetes nodes retrieved successfully", monitoring.list_nodes())

    @bp.get("/admin/k8s/nodes/<name>")
    @admin_required
    @validate(path=s.NodeNamePath)
    def admin_k8s_node(path: s.NodeNamePath):
        """One node in full."""
        data = monitoring.get_node(path.name)
        return ok(f"Node '{path.name}' retrieved successfully", data)

    @bp.get("/admin/k8s/namespaces")
    @admin_required
    def admin_k8s_namespaces():
        """Every namespace."""
        return ok("Kubernetes namespaces retrieved successfully", monitoring.list_namespaces())

    @bp.get("/admin/k8s/deployments")
    @admin_required
    @validate(query=s.K8sListQuery)
    def admin_k8s_deployments(query: s.K8sListQuery):
        """Deployments (all namespaces, or one)."""
        return ok("Kubernetes deployments retrieved successfully",
                  monitoring.list_deployments(query.namespace, query.limit))

    @bp.get("/admin/k8s/pods")
    @admin_required
    @validate(query=s.K8sListQuery)
    def admin_k8s_pods(query: s.K8sListQuery):
        """Pods with per-container usage (all namespaces, or one)."""
        return ok("Kubernetes pods retrieved successfully", monitoring.list_pods(query.namespace, query.limit))

    @bp.get("/admin/k8s/ingresses")
    @admin_required
    @validate(query=s.K8sListQuery)
    def admin_k8s_ingresses(query: s.K8sListQuery):
        """Ingresses with hosts, TLS and backends."""
        return ok("Kubernetes ingresses retrieved successfully",
                  monitoring.list_ingresses(query.namespace, query.limit))

    @bp.get("/admin/k8s/services")
    @admin_required
    @validate(query=s.K8sListQuery)
    def admin_k8s_services(query: s.K8sListQuery):
        """Services with ports and endpoints."""
        return ok("Kubernetes services retrieved successfully", monitoring.list_services(query.namespace, query.limit))

    @bp.get("/admin/k8s/logs")
    @admin_required
    @validate(query=s.PodLogsQuery)
    def admin_k8s_logs(query: s.PodLogsQuery):
        """The last lines of one pod's container."""
        return ok("Pod logs retrieved successfully",
                  monitoring.pod_logs(query.namespace, query.pod, query.container, query.tailLines))
