"""Failures of the cluster domain, each with the HTTP status and message of the spec (spec-cluster-instances §2, §5).

`ClusterUnavailable` lives in `client.py` (it is raised by the client layer) and is re-exported here.
"""
from __future__ import annotations

from ..errors import DomainError
from .client import ClusterUnavailable  # noqa: F401  (re-export)


class InstanceNotFound(DomainError):
    """Also what a customer gets for another customer's instance: existence is not revealed."""

    status, message = 404, "Service instance not found"


class SubscriptionNotFound(DomainError):
    status, message = 404, "Subscription not found"


class SubscriptionNotActive(DomainError):
    status, message = 400, "Can only provision instances for active subscriptions"


class InstanceAlreadyExists(DomainError):
    status, message = 409, "Subscription already has an active service instance"


class IllegalTransition(DomainError):
    """A lifecycle action asked of an instance in the wrong status."""

    status, message = 400, "Illegal service instance status transition"


class CannotRestart(IllegalTransition):
    message = "Can only restart running service instances"


class CannotStop(IllegalTransition):
    message = "Can only stop running service instances"


class CannotStart(IllegalTransition):
    message = "Can only start stopped service instances"


class TerminateThroughSubscription(IllegalTransition):
    """Fix 3: a live instance belongs to a paid subscription; ending it alone would keep the billing running."""

    message = "Cancel the subscription to terminate its service instance"


class RetryWhileRunning(DomainError):
    status, message = 409, "Service is already running - no retry needed"


class RetryWhileProvisioning(DomainError):
    status, message = 409, "Service is currently being provisioned - please wait"


class RetryInvalidStatus(DomainError):
    status, message = 400, "Cannot retry provisioning for instance with status: {status}"


class RetryInactiveSubscription(DomainError):
    status, message = 400, "Cannot retry provisioning for inactive subscriptions"


class NoRunningPod(DomainError):
    status, message = 404, "Could not find a running pod for this service."


class MetricsNotAvailable(DomainError):
    status, message = 404, "Metrics not available for this instance"


class InstanceMissingPod(DomainError):
    status, message = 400, "Instance missing pod name or namespace information"


class NodeNotFound(DomainError):
    status, message = 404, "Node '{name}' not found"


class PodNotFound(DomainError):
    status, message = 404, "Pod '{name}' not found in namespace '{namespace}'"


class ContainerNotFound(DomainError):
    status, message = 404, "Container '{container}' not found in pod '{pod}'"
