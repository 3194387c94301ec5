"""Request schemas of the admin billing routes (B1-B9), with the original's messages."""
from __future__ import annotations

from ..subscriptions.scheduler import JOB_NAMES
from .validation import Enum, Integer, Schema, String

SUBSCRIPTION_ID = {"string.alphanum": "Subscription ID must contain only letters and numbers",
                   "string.min": "Subscription ID must be at least 20 characters long",
                   "string.max": "Subscription ID must not exceed 30 characters",
                   "any.required": "Subscription ID is required", "string.empty": "Subscription ID is required",
                   "string.base": "Subscription ID must be a string"}


class SubscriptionIdPath(Schema):
    subscriptionId: String(20, 30, alphanum=True)

    messages = {"subscriptionId": SUBSCRIPTION_ID}


class JobNamePath(Schema):
    jobName: Enum(*JOB_NAMES)

    messages = {"jobName": {"any.only": "Invalid job name", "any.required": "Invalid job name"}}


class GracePeriodBody(Schema):
    """`graceDays` range comes from GRACE_PERIOD_MIN_DAYS..GRACE_PERIOD_MAX_DAYS; the route checks it (the
    messages name the configured limits)."""

    graceDays: Integer() = None

    messages = {"graceDays": {"number.base": "Grace days must be a number",
                              "number.integer": "Grace days must be an integer",
                              "number.unsafe": "Grace days must be a number"}}


class ExpireBody(Schema):
    reason: String(3, 500) = None

    messages = {"reason": {"string.min": "Reason must be at least 3 characters long",
                           "string.max": "Reason cannot exceed 500 characters",
                           "string.base": "Reason must be a string"}}
