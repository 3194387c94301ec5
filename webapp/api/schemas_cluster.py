"""Request schemas of the instance (I1-I9), health (H1-H4) and Kubernetes monitoring (K1-K8) routes."""
from __future__ import annotations

from .validation import Enum, Integer, Schema, String

INSTANCE_LIST_STATUSES = ("PENDING", "PROVISIONING", "RUNNING", "STOPPED", "ERROR", "TERMINATED", "MAINTENANCE")
TIME_RANGES = ("1h", "6h", "24h", "7d")
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
_INSTANCE_ID = {"any.required": "Instance ID is required", "string.empty": "Instance ID is required"}


class InstanceIdPath(Schema):
    """Instance ids are not format-checked (as the original): unknown or foreign ids are a 404."""

    id: String()

    messages = {"id": _INSTANCE_ID}


class CreateInstanceBody(Schema):
    subscriptionId: String(max_length=100)

    messages = {"subscriptionId": {"any.required": "Subscription ID is required",
                                   "string.empty": "Subscription ID is required",
                                   "string.base": "Subscription ID must be a string"}}


class InstanceListQuery(Schema):
    status: Enum(*INSTANCE_LIST_STATUSES) = None
    includeTerminated: Enum("true", "false") = "false"

    messages = {"status": {"any.only": "Status must be one of: " + ", ".join(INSTANCE_LIST_STATUSES)},
                "includeTerminated": {"any.only": "includeTerminated must be 'true' or 'false'"}}


_LINES = {"number.base": "Lines must be a number", "number.integer": "Lines must be an integer",
          "number.min": "Lines must be at least 1", "number.max": "Lines cannot exceed 1000"}


class LogsQuery(Schema):
    lines: Integer(1, 1000) = 100
    follow: Enum("true", "false") = "false"

    messages = {"lines": _LINES, "follow": {"any.only": "Follow must be 'true' or 'false'"}}


class LogStreamQuery(Schema):
    tailLines: Integer(0, 1000) = 100

    messages = {"tailLines": {"number.base": "tailLines must be a number",
                              "number.integer": "tailLines must be an integer",
                              "number.min": "tailLines cannot be negative",
                              "number.max": "tailLines cannot exceed 1000"}}


class HealthStatsQuery(Schema):
    timeRange: Enum(*TIME_RANGES) = "24h"

    messages = {"timeRange": {"any.only": "Time range must be one of: " + ", ".join(TIME_RANGES)}}


class K8sListQuery(Schema):
    """Optional narrowing (fix 29); without it the whole cluster, as the original."""

    namespace: String(1, 63, pattern=DNS_LABEL, pattern_name="DNS label") = None
    limit: Integer(1, 10000) = None

    messages = {"namespace": {"string.pattern.base": "Namespace must be a valid Kubernetes namespace name",
                              "string.max": "Namespace must be a valid Kubernetes namespace name"},
                "limit": {"number.base": "Limit must be a number", "number.integer": "Limit must be an integer",
                          "number.min": "Limit must be at least 1", "number.max": "Limit cannot exceed 10000"}}


class NodeNamePath(Schema):
    name: String(max_length=253)


class PodLogsQuery(Schema):
    namespace: String(1, 63, pattern=DNS_LABEL, pattern_name="DNS label")
    pod: String(1, 253, pattern=DNS_SUBDOMAIN, pattern_name="DNS subdomain")
    container: String(1, 63, pattern=DNS_LABEL, pattern_name="DNS label") = None
    tailLines: Integer(1, 5000) = 100

    messages = {"namespace": {"any.required": "Namespace is required", "string.empty": "Namespace is required",
                              "string.pattern.base": "Namespace must be a valid Kubernetes namespace name",
                              "string.max": "Namespace must be a valid Kubernetes namespace name"},
                "pod": {"any.required": "Pod name is required", "string.empty": "Pod name is required",
                        "string.pattern.base": "Pod name must be a valid Kubernetes name",
                        "string.max": "Pod name must be a valid Kubernetes name"},
                "container": {"string.pattern.base": "Container name must be a valid Kubernetes name",
                              "string.max": "Container name must be a valid Kubernetes name"},
                "tailLines": {"number.base": "tailLines must be a number",
                              "number.integer": "tailLines must be an integer",
                              "number.min": "tailLines must be at least 1",
                              "number.max": "tailLines cannot exceed 5000"}}
