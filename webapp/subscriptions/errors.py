"""Failures of the subscription domain, each with the original API's status and exact message."""
from ..errors import DomainError


class SubscriptionNotFound(DomainError):
    status, message = 404, "Subscription not found"


class IllegalTransition(DomainError):
    """A status change the state machine (transitions.TRANSITIONS) does not allow from the current status."""

    status, message = 400, "Cannot {action} a {current} subscription"


class AlreadyCancelled(IllegalTransition):
    status, message = 400, "Subscription is already cancelled"


class AlreadyExpired(IllegalTransition):
    status, message = 400, "Subscription is already expired"


class CannotExpireCancelled(IllegalTransition):
    status, message = 400, "Cannot expire a cancelled subscription"


class ConcurrentUpdate(DomainError):
    """The row kept changing under a transition (or a period advance found another end date)."""

    status, message = 409, "Subscription was modified concurrently, please retry"


# ------------------------------------------------------------------------------------------ create
class ActiveSubscriptionExists(DomainError):
    status, message = 409, "User already has an active subscription for this service"


class ExpiredSubscriptionExists(DomainError):
    """Admin create never reactivates (A1, [orig] 500)."""

    status, message = 409, ("User has an expired subscription for this service (ID: {subscription_id}). "
                            "Use regular subscription creation endpoint to reactivate it.")


class InvalidServicePlan(DomainError):
    status, message = 400, "Invalid service plan"


class PlanNotAvailable(DomainError):
    status, message = 404, "Service plan not found or not available"


class InsufficientCreditBalance(DomainError):
    status, message = 400, "Insufficient credit balance"


class PlanAtCapacity(DomainError):
    status, message = 503, "Service plan is at full capacity"


class PlanFullRetryLater(DomainError):
    status, message = 503, "Service plan is at full capacity. Please try again later."


class AdminInsufficientCredit(DomainError):
    status, message = 400, "User has insufficient credit. Balance: {balance}, Required: {required}"


class CouponNotForCheckout(DomainError):
    status, message = 400, "This coupon cannot be used during subscription checkout"


# ----------------------------------------------------------------------------------------- upgrade
class UpgradeOptionsInactive(DomainError):
    status, message = 400, "Can only get upgrade options for active subscriptions"


class CanOnlyUpgradeActive(DomainError):
    status, message = 400, "Can only upgrade active subscriptions"


class NewPlanNotFound(DomainError):
    status, message = 404, "New service plan not found"


class DifferentService(DomainError):
    status, message = 400, "Cannot upgrade to a different service"


class HigherTierRequired(DomainError):
    status, message = 400, "Can only upgrade to a higher tier plan"


class SamePlan(DomainError):
    status, message = 400, "Subscription is already on this plan"


class InsufficientCreditForUpgrade(DomainError):
    status, message = 400, "Insufficient credit for upgrade. Balance: {balance}, Required: {required}"


class AdminInsufficientCreditForUpgrade(DomainError):
    status, message = 400, "User has insufficient credit for upgrade. Balance: {balance}, Required: {required}"


class NewPlanFull(DomainError):
    status, message = 503, "New service plan is at full capacity. Please try again later."


# --------------------------------------------------------------------------------------- instances
class NoInstances(DomainError):
    status, message = 404, "No instances found for this subscription"


class NoInstanceFound(DomainError):
    status, message = 404, "No service instance found for this subscription"


class NoRunningInstance(DomainError):
    status, message = 404, "No running service instance found"


class NoRunningInstanceTo(DomainError):
    status, message = 400, "No running service instance found to {verb}"


class NoStoppedInstance(DomainError):
    status, message = 400, "No stopped service instance found to start"


class CannotRetryInactive(DomainError):
    status, message = 400, "Cannot retry provisioning for inactive subscriptions"


class AlreadyRunning(DomainError):
    status, message = 409, "Service is already running - no retry needed"


class BeingProvisioned(DomainError):
    status, message = 409, "Service is currently being provisioned - please wait for it to complete"


class CannotRetryStatus(DomainError):
    status, message = 400, "Cannot retry provisioning for instance with status: {status}"


# -------------------------------------------------------------------------------------- auto-renew
class AutoRenewCancelled(DomainError):
    status, message = 400, "Cannot modify auto-renew for cancelled subscriptions"


class AutoRenewExpired(DomainError):
    status, message = 400, "Cannot modify auto-renew for expired subscriptions"


# ------------------------------------------------------------------------------------------- admin
class RefundAmountNotPositive(DomainError):
    status, message = 400, "Refund amount must be greater than 0"


class PartialRefundTooLarge(DomainError):
    status, message = 400, "Partial refund amount cannot exceed monthly price"


class RefundExceedsPaid(DomainError):
    """[fix 9] refunds of one subscription never exceed what was paid for it."""

    status, message = 400, "Refund amount exceeds the amount paid for this subscription. Refundable: {refundable}"


class ExtensionNotPositive(DomainError):
    status, message = 400, "Extension days must be greater than 0"


class AdminNotFound(DomainError):
    status, message = 404, "Admin user not found or insufficient permissions"


class NoFieldsToUpdate(DomainError):
    status, message = 400, "At least one field must be provided for update"


class UpgradeWhileUnpaid(DomainError):
    status, message = 400, "Cannot change plan while a renewal is unpaid. Please top up and renew first"
