"""Customer app-instance routes (spec-cluster-instances I1-I9) and the live log stream.

Owner only: another customer's instance id answers 404 "Service instance not found" (fix 4). Lifecycle actions
(restart, stop, start) return 202 with the transitional status: the work runs in a background job (fix 14).
I4 (`PUT /api/instances/:id/update`) is removed (fix 2): resources change only through a subscription upgrade.
"""
from __future__ import annotations

from flask import Blueprint, Response, stream_with_context

from ..cluster import services as cluster
from ..db import isoformat, utcnow
from ..extensions import db
from . import schemas_cluster as s
from .auth import current_api_user, user_required
from .envelope import created, envelope, ok
from .presenters_cluster import instance_brief, instance_detail, instance_in_list, instance_row, ssl, urls
from .validation import validate


def register(bp: Blueprint) -> None:
    @bp.post("/instances")
    @user_required
    @validate(body=s.CreateInstanceBody)
    def instances_create(body: s.CreateInstanceBody):
        """Provision an instance for one of the caller's ACTIVE subscriptions (background job)."""
        instance = cluster.provision_for_user(current_api_user(), body.subscriptionId)
        db.session.commit()
        return created("Service instance provisioning started successfully", {
            "instance": instance_row(instance), "message": "Service provisioning started",
            "estimatedTime": "2-5 minutes", "nextSteps": cluster.PROVISION_NEXT_STEPS})

    @bp.get("/instances")
    @user_required
    @validate(query=s.InstanceListQuery)
    def instances_list(query: s.InstanceListQuery):
        """The caller's instances, newest first; terminated ones only on request."""
        instances = cluster.list_user_instances(current_api_user(), status=query.status,
                                                include_terminated=query.includeTerminated == "true")
        return ok("Service instances retrieved successfully",
                  {"instances": [instance_in_list(i) for i in instances], "total": len(instances)})

    @bp.get("/instances/<id>")
    @user_required
    @validate(path=s.InstanceIdPath)
    def instances_get(path: s.InstanceIdPath):
        """One of the caller's instances with its live pods when running."""
        instance, kube_status = cluster.instance_details(current_api_user(), path.id)
        return ok("Service instance details retrieved successfully", {
            "instance": instance_detail(instance), "kubernetesStatus": kube_status, "urls": urls(instance),
            "ssl": ssl(instance)})

    @bp.delete("/instances/<id>")
    @user_required
    @validate(path=s.InstanceIdPath)
    def instances_delete(path: s.InstanceIdPath):
        """Clear a failed (ERROR) instance; live ones end by cancelling their subscription."""
        instance, already = cluster.user_terminate_instance(current_api_user(), path.id)
        db.session.commit()
        if already:
            return ok("Service instance terminated successfully", {
                "instance": instance_row(instance), "message": "Service instance already terminated",
                "resourcesDeleted": 0})
        return ok("Service instance terminated successfully", {
            "instance": instance_row(instance), "message": "Service instance terminated successfully",
            "resourcesDeleted": 0,
            "nextSteps": ["Kubernetes resources are being cleaned up in the background",
                          "Instance data has been preserved for audit purposes"]})

    @bp.get("/instances/<id>/logs")
    @user_required
    @validate(path=s.InstanceIdPath, query=s.LogsQuery)
    def instances_logs(path: s.InstanceIdPath, query: s.LogsQuery):
        """The last lines of the instance's log (follow: use /logs/stream)."""
        data = cluster.user_logs(current_api_user(), path.id, lines=query.lines, follow=query.follow == "true")
        return ok("Instance logs retrieved successfully", data)

    @bp.get("/instances/<id>/logs/stream")
    @user_required
    @validate(path=s.InstanceIdPath, query=s.LogStreamQuery)
    def instances_log_stream(path: s.InstanceIdPath, query: s.LogStreamQuery):
        """Live log lines as Server-Sent Events (log-start, log-data, log-error, log-end)."""
        events = cluster.user_log_stream(current_api_user(), path.id, tail_lines=query.tailLines)
        response = Response(stream_with_context(events), mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        return response

    @bp.post("/instances/<id>/restart")
    @user_required
    @validate(path=s.InstanceIdPath)
    def instances_restart(path: s.InstanceIdPath):
        """Rolling restart of a RUNNING instance (background job)."""
        instance, old_pod = cluster.user_restart(current_api_user(), path.id)
        db.session.commit()
        return envelope(202, "Service instance restart initiated successfully", {
            "instance": instance_brief(instance),
            "restart": {"oldPodName": old_pod, "newPodName": None, "restartTime": isoformat(utcnow()),
                        "method": "Rolling Restart"},
            "message": "Service instance restart initiated", "estimatedDowntime": "< 30 seconds",
            "nextSteps": ["New pod is being created with fresh state", "Old pod will be terminated gracefully",
                          "Service should be available shortly", "Check instance status for updates"]})

    @bp.put("/instances/<id>/stop")
    @user_required
    @validate(path=s.InstanceIdPath)
    def instances_stop(path: s.InstanceIdPath):
        """Scale a RUNNING instance to zero (background job); data is kept, billing continues."""
        instance = cluster.user_stop(current_api_user(), path.id)
        db.session.commit()
        return envelope(202, "Service instance stop initiated successfully", {
            "instance": instance_brief(instance),
            "stop": {"requestedAt": isoformat(utcnow()), "method": "Scale to Zero", "preservedData": True},
            "message": "Service instance stop initiated",
            "nextSteps": ["All pods are being terminated", "Data and configuration are preserved",
                          "Use START to resume the service", "Resources are freed up while stopped"]})

    @bp.put("/instances/<id>/start")
    @user_required
    @validate(path=s.InstanceIdPath)
    def instances_start(path: s.InstanceIdPath):
        """Scale a STOPPED instance back to one pod (background job)."""
        instance = cluster.user_start(current_api_user(), path.id)
        db.session.commit()
        return envelope(202, "Service instance start initiated successfully", {
            "instance": instance_brief(instance),
            "start": {"requestedAt": isoformat(utcnow()), "method": "Scale to One", "newPodName": None},
            "message": "Service instance start initiated",
            "nextSteps": ["A new pod is being created", "Service will be accessible once it is ready",
                          "All data and configuration are restored", "Check instance status for updates"]})
