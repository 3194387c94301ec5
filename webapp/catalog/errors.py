"""Failures of the catalog domain (categories, services, plans, quota)."""
from ..errors import DomainError


class CategoryNotFound(DomainError):
    status, message = 404, "Category not found"


class ServiceCategoryNotFound(DomainError):
    status, message = 404, "Service category not found"


class ServiceNotFound(DomainError):
    status, message = 404, "Service not found"


class ServiceSlugTaken(DomainError):
    status, message = 409, "Service with this slug already exists"


class ServiceHasSubscriptions(DomainError):
    status, message = 409, "Cannot delete service with active subscriptions. Use force=true to override."


class PlanNotFound(DomainError):
    status, message = 404, "Service plan not found"


class PlanTypeTaken(DomainError):
    status, message = 409, "A {plan_type} plan already exists for this service"


class PlanHasSubscriptions(DomainError):
    status, message = 409, "Cannot delete service plan with active subscriptions. Use force=true to override."


class TotalQuotaBelowUsed(DomainError):
    status, message = 400, "Cannot set total quota ({total}) below used quota ({used})"


class QuotaBelowActiveSubscriptions(DomainError):
    status, message = 400, "Cannot set quota to {total}. Currently {active} subscriptions are active."


class PlansNotFound(DomainError):
    status, message = 404, "One or more service plans not found"


class DuplicatePlanIds(DomainError):
    status, message = 400, "Duplicate plan IDs in updates"


class BulkQuotaInvalid(DomainError):
    status, message = 400, "Validation errors"


class QuotaExhausted(DomainError):
    status, message = 400, "Insufficient quota. Available: {available}, Requested: 1"


class ServiceInUse(DomainError):
    """A hard delete blocked by a foreign key other than subscriptions (e.g. a coupon restricted to it)."""

    status, message = 409, "Service is still referenced by other records and cannot be deleted"


class PlanInUse(DomainError):
    status, message = 409, "Service plan is still referenced by other records and cannot be deleted"


class ClearingRequiredField(DomainError):
    status, message = 400, "{field} cannot be cleared"


class CategoryTaken(DomainError):
    status, message = 409, "Category with this name or slug already exists"


class PlanTypeImmutable(DomainError):
    status, message = 400, "Plan type cannot be changed"
