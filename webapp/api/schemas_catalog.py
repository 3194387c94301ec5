"""Request schemas of the catalog, admin service/plan and quota routes, with the original's exact messages."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from .validation import Boolean, Enum, Integer, JSONObject, Number, Schema, String, StringList

PLAN_TYPES = ("FREE", "BASIC", "PRO", "PREMIUM", "ENTERPRISE")


def _id_messages(label: str) -> dict[str, str]:
    return {"string.alphanum": f"{label} must contain only letters and numbers",
            "string.min": f"{label} must be at least 20 characters long",
            "string.max": f"{label} must not exceed 30 characters",
            "any.required": f"{label} is required", "string.empty": f"{label} is required"}


CuidId = String(20, 30, alphanum=True)
SERVICE_ID = _id_messages("Service ID")
PLAN_ID = _id_messages("Service plan ID")
QUOTA_PLAN_ID = _id_messages("Plan ID")
CATEGORY_ID = _id_messages("Category ID")


def _two_decimals(value: Any) -> Any:
    if value is None:
        return None
    amount = Decimal(str(value))
    if amount.as_tuple().exponent < -2:
        raise PydanticCustomError("number.precision", "number.precision", {"limit": 2})
    return amount


# storageGb is NUMERIC(8,2) (fix 24): decimals accepted, at most two places.
StorageGb = Annotated[Number(0.1, 1000), AfterValidator(_two_decimals)]


# ---------------------------------------------------------------------------------- customer catalog
class CatalogPageQuery(Schema):
    page: Integer(1) = 1
    limit: Integer(1, 50) = 10


class CategorySlugPath(Schema):
    categorySlug: String()

    messages = {"categorySlug": {"string.empty": "Category slug is required",
                                 "any.required": "Category slug is required"}}


class ServiceSlugPath(Schema):
    serviceSlug: String()

    messages = {"serviceSlug": {"string.empty": "Service slug is required",
                                "any.required": "Service slug is required"}}


class SearchQuery(Schema):
    q: String(allow_empty=True, max_length=200) = None
    category: String(allow_empty=True, max_length=100) = None
    featured: Enum("true", "false") = None
    page: Integer(1) = 1
    limit: Integer(1, 50) = 10


class FeaturedQuery(Schema):
    limit: Integer(1, 20) = 6


# ------------------------------------------------------------------------------------- admin: ids
class ServiceIdPath(Schema):
    id: CuidId

    messages = {"id": SERVICE_ID}


class ServiceIdParamPath(Schema):
    serviceId: CuidId

    messages = {"serviceId": SERVICE_ID}


class PlanIdsPath(Schema):
    serviceId: CuidId
    planId: CuidId

    messages = {"serviceId": SERVICE_ID, "planId": PLAN_ID}


class ForceQuery(Schema):
    force: Boolean = False

    messages = {"force": {"boolean.base": "Force parameter must be a boolean value"}}


# --------------------------------------------------------------------------------- admin: services
_LIST_MESSAGES = {
    "page": {"number.base": "Page must be a number", "number.integer": "Page must be an integer",
             "number.min": "Page must be at least 1"},
    "limit": {"number.base": "Limit must be a number", "number.integer": "Limit must be an integer",
              "number.min": "Limit must be at least 1", "number.max": "Limit cannot exceed 100"},
    "category": {"string.min": "Category must be at least 2 characters long",
                 "string.max": "Category cannot exceed 50 characters"},
    "status": {"any.only": 'Status must be either "active" or "inactive"'},
    "search": {"string.min": "Search term must be at least 1 character long",
               "string.max": "Search term cannot exceed 100 characters"},
    "sortBy": {"any.only": "sortBy must be one of: name, createdAt, updatedAt"},
    "sortOrder": {"any.only": 'sortOrder must be either "asc" or "desc"'},
}


class ServiceListQuery(Schema):
    page: Integer(1) = 1
    limit: Integer(1, 100) = 10
    category: String(2, 50) = None
    status: Enum("active", "inactive") = None
    search: String(1, 100) = None
    sortBy: Enum("name", "createdAt", "updatedAt") = "createdAt"
    sortOrder: Enum("asc", "desc") = "desc"

    messages = _LIST_MESSAGES


class PlanListQuery(Schema):
    """A-S2 (fix 23): the A-S3 schema plus the serviceId/planType filters and price/sort-order sorting."""

    page: Integer(1) = 1
    limit: Integer(1, 100) = 10
    category: String(2, 50) = None  # accepted and ignored, as in the original
    status: Enum("active", "inactive") = None
    search: String(1, 100) = None
    serviceId: CuidId = None
    planType: Enum(*PLAN_TYPES) = None
    sortBy: Enum("name", "createdAt", "updatedAt", "monthlyPrice", "sortOrder") = "createdAt"
    sortOrder: Enum("asc", "desc") = "desc"

    messages = {**_LIST_MESSAGES, "serviceId": SERVICE_ID,
                "planType": {"any.only": "Plan type must be one of: " + ", ".join(PLAN_TYPES)},
                "sortBy": {"any.only": "sortBy must be one of: name, createdAt, updatedAt, monthlyPrice, sortOrder"}}


_SERVICE_MESSAGES = {
    "name": {"string.empty": "Service name is required", "string.min": "Service name must be at least 2 characters long",
             "string.max": "Service name cannot exceed 100 characters"},
    "slug": {"string.empty": "Service slug is required", "string.min": "Service slug must be at least 2 characters long",
             "string.max": "Service slug cannot exceed 50 characters",
             "string.pattern.base": "Service slug can only contain lowercase letters, numbers, and hyphens"},
    "description": {"string.empty": "Service description is required",
                    "string.min": "Service description must be at least 10 characters long",
                    "string.max": "Service description cannot exceed 1000 characters"},
    "categoryId": CATEGORY_ID,
    "longDescription": {"string.max": "Long description cannot exceed 5000 characters"},
    "icon": {"string.uri": "Icon must be a valid URL"},
    "version": {"string.min": "Version must be at least 1 character long",
                "string.max": "Version cannot exceed 50 characters"},
    "dockerImage": {"string.empty": "Docker image is required",
                    "string.min": "Docker image must be at least 3 characters long",
                    "string.max": "Docker image cannot exceed 200 characters"},
    "defaultPort": {"number.base": "Default port must be a number", "number.integer": "Default port must be an integer",
                    "number.min": "Default port must be at least 1", "number.max": "Default port cannot exceed 65535"},
    "envTemplate": {"object.base": "Environment template must be an object"},
    "tags": {"array.base": "Tags must be an array of strings", "array.items": "Tags must be an array of strings"},
    "documentation": {"string.uri": "Documentation must be a valid URL"},
    "isActive": {"boolean.base": "isActive must be a boolean value"},
    "isPublic": {"boolean.base": "isPublic must be a boolean value"},
    "isFeatured": {"boolean.base": "isFeatured must be a boolean value"},
    "sortOrder": {"number.base": "Sort order must be a number", "number.integer": "Sort order must be an integer",
                  "number.min": "Sort order must be at least 0"},
}

SLUG_PATTERN = r"^[a-z0-9-]+$"

# camelCase request keys -> model attributes, shared by the service and plan bodies.
FIELD_NAMES = {
    "name": "name", "slug": "slug", "description": "description", "categoryId": "category_id",
    "longDescription": "long_description", "icon": "icon", "version": "version", "dockerImage": "docker_image",
    "defaultPort": "default_port", "envTemplate": "env_template", "tags": "tags", "documentation": "documentation",
    "isActive": "is_active", "isPublic": "is_public", "isFeatured": "is_featured", "sortOrder": "sort_order",
    "planType": "plan_type", "monthlyPrice": "monthly_price", "cpuMilli": "cpu_milli", "memoryMb": "memory_mb",
    "storageGb": "storage_gb", "bandwidth": "bandwidth", "totalQuota": "total_quota", "features": "features",
    "maxInstancesPerUser": "max_instances_per_user", "maxDomains": "max_domains", "isPopular": "is_popular",
}


class _ModelBody(Schema):
    def model_values(self, *, only_provided: bool) -> dict:
        """The body as model attribute names: every field (create, defaults applied) or only the sent ones."""
        data = self.provided() if only_provided else self.model_dump()
        return {FIELD_NAMES[key]: value for key, value in data.items()}


class ServiceCreateBody(_ModelBody):
    name: String(2, 100)
    slug: String(2, 50, pattern=SLUG_PATTERN)
    description: String(10, 1000)
    categoryId: CuidId
    longDescription: String(max_length=5000) = None
    icon: String(uri=True, max_length=2048) = None
    version: String(1, 50) = "latest"
    dockerImage: String(3, 200)
    defaultPort: Integer(1, 65535)
    envTemplate: JSONObject() = None
    tags: StringList(max_items=50, item_max_length=50) = None
    documentation: String(uri=True, max_length=2048) = None
    isActive: Boolean = True
    isPublic: Boolean = True
    isFeatured: Boolean = False
    sortOrder: Integer(0, 1_000_000) = 0

    messages = _SERVICE_MESSAGES


class ServiceUpdateBody(_ModelBody):
    """All optional, at least one; null clears the optional fields (fix 28)."""

    name: String(2, 100) = None
    slug: String(2, 50, pattern=SLUG_PATTERN) = None
    description: String(10, 1000, nullable=True) = None
    categoryId: CuidId = None
    longDescription: String(max_length=5000, nullable=True) = None
    icon: String(uri=True, max_length=2048, nullable=True) = None
    version: String(1, 50) = None
    dockerImage: String(3, 200) = None
    defaultPort: Integer(1, 65535) = None
    envTemplate: JSONObject(nullable=True) = None
    tags: StringList(max_items=50, item_max_length=50, nullable=True) = None
    documentation: String(uri=True, max_length=2048, nullable=True) = None
    isActive: Boolean = None
    isPublic: Boolean = None
    isFeatured: Boolean = None
    sortOrder: Integer(0, 1_000_000) = None

    messages = _SERVICE_MESSAGES

    def check(self) -> str | None:
        return None if self.model_fields_set else "At least one field must be provided for update"


# ------------------------------------------------------------------------------------ admin: plans
_PLAN_MESSAGES = {
    "name": {"string.empty": "Plan name is required", "string.min": "Plan name must be at least 2 characters long",
             "string.max": "Plan name cannot exceed 100 characters"},
    "planType": {"any.only": "Plan type must be one of: " + ", ".join(PLAN_TYPES), "any.required": "Plan type is required"},
    "description": {"string.min": "Plan description must be at least 10 characters long",
                    "string.max": "Plan description cannot exceed 1000 characters"},
    "monthlyPrice": {"number.base": "Monthly price must be a number", "number.integer": "Monthly price must be an integer",
                     "number.min": "Monthly price must be at least 0 IDR",
                     "number.max": "Monthly price cannot exceed 100,000,000 IDR",
                     "any.required": "Monthly price is required"},
    "cpuMilli": {"number.base": "CPU allocation must be a number", "number.integer": "CPU allocation must be an integer",
                 "number.min": "CPU allocation must be at least 100 millicores",
                 "number.max": "CPU allocation cannot exceed 16000 millicores",
                 "any.required": "CPU allocation is required"},
    "memoryMb": {"number.base": "Memory allocation must be a number",
                 "number.integer": "Memory allocation must be an integer",
                 "number.min": "Memory allocation must be at least 128 MB",
                 "number.max": "Memory allocation cannot exceed 32768 MB",
                 "any.required": "Memory allocation is required"},
    "storageGb": {"number.base": "Storage allocation must be a number",
                  "number.min": "Storage allocation must be at least 0.1 GB",
                  "number.max": "Storage allocation cannot exceed 1000 GB",
                  "number.precision": "Storage allocation must have at most 2 decimal places",
                  "any.required": "Storage allocation is required"},
    "bandwidth": {"number.base": "Bandwidth must be a number", "number.integer": "Bandwidth must be an integer",
                  "number.min": "Bandwidth must be at least 0 GB", "number.max": "Bandwidth cannot exceed 10000 GB"},
    "totalQuota": {"number.base": "Total quota must be a number", "number.integer": "Total quota must be an integer",
                   "number.min": "Total quota must be at least 1", "number.max": "Total quota cannot exceed 10000",
                   "any.required": "Total quota is required"},
    "features": {"array.base": "Features must be an array of strings",
                 "array.items": "Features must be an array of strings"},
    "maxInstancesPerUser": {"number.base": "Max instances per user must be a number",
                            "number.integer": "Max instances per user must be an integer",
                            "number.min": "Max instances per user must be at least 1",
                            "number.max": "Max instances per user cannot exceed 100"},
    "maxDomains": {"number.base": "Max domains must be a number", "number.integer": "Max domains must be an integer",
                   "number.min": "Max domains must be at least 1", "number.max": "Max domains cannot exceed 100"},
    "isActive": {"boolean.base": "isActive must be a boolean value"},
    "isPopular": {"boolean.base": "isPopular must be a boolean value"},
    "sortOrder": {"number.base": "Sort order must be a number", "number.integer": "Sort order must be an integer",
                  "number.min": "Sort order must be at least 0"},
}


class PlanCreateBody(_ModelBody):
    name: String(2, 100)
    planType: Enum(*PLAN_TYPES)
    description: String(10, 1000) = None
    monthlyPrice: Integer(0, 100_000_000)
    cpuMilli: Integer(100, 16000)
    memoryMb: Integer(128, 32768)
    storageGb: StorageGb
    bandwidth: Integer(0, 10000) = 0
    totalQuota: Integer(1, 10000)
    features: StringList(max_items=50, item_max_length=200) = None
    maxInstancesPerUser: Integer(1, 100) = 1
    maxDomains: Integer(1, 100) = 1
    isActive: Boolean = True
    isPopular: Boolean = False
    sortOrder: Integer(0, 1_000_000) = 0

    messages = _PLAN_MESSAGES


class PlanUpdateBody(_ModelBody):
    """All optional but planType (immutable), at least one; null clears description/features (fix 28).
    totalQuota keeps the original's 1..10000 here (Q4 allows 0 for closing a plan to new customers)."""

    name: String(2, 100) = None
    description: String(10, 1000, nullable=True) = None
    monthlyPrice: Integer(0, 100_000_000) = None
    cpuMilli: Integer(100, 16000) = None
    memoryMb: Integer(128, 32768) = None
    storageGb: StorageGb = None
    bandwidth: Integer(0, 10000) = None
    totalQuota: Integer(1, 10000) = None
    features: StringList(max_items=50, item_max_length=200, nullable=True) = None
    maxInstancesPerUser: Integer(1, 100) = None
    maxDomains: Integer(1, 100) = None
    isActive: Boolean = None
    isPopular: Boolean = None
    sortOrder: Integer(0, 1_000_000) = None

    messages = _PLAN_MESSAGES

    def check(self) -> str | None:
        return None if self.model_fields_set else "At least one field must be provided for update"


# ------------------------------------------------------------------------------------------ quota
_QUOTA_MESSAGES = {
    "totalQuota": {"number.base": "Total quota must be a number", "number.integer": "Total quota must be an integer",
                   "number.min": "Total quota cannot be negative", "number.max": "Total quota cannot exceed 10,000",
                   "any.required": "Total quota is required"},
    "reason": {"string.empty": "Reason is required", "string.min": "Reason must be at least 5 characters long",
               "string.max": "Reason cannot exceed 500 characters"},
}


class QuotaPlanPath(Schema):
    planId: CuidId

    messages = {"planId": QUOTA_PLAN_ID}


class QuotaUpdateBody(Schema):
    totalQuota: Integer(0, 10000)
    reason: String(5, 500)

    messages = _QUOTA_MESSAGES


class QuotaUpdateItem(Schema):
    planId: CuidId
    totalQuota: Integer(0, 10000)


class BulkQuotaBody(Schema):
    updates: Annotated[list[QuotaUpdateItem], Field(min_length=1, max_length=50)]
    reason: String(5, 500)

    messages = {
        "updates": {"array.base": "Updates must be an array", "array.min": "At least one update is required",
                    "array.max": "Cannot update more than 50 plans at once", "any.required": "Updates array is required"},
        "updates.planId": QUOTA_PLAN_ID,
        "updates.totalQuota": _QUOTA_MESSAGES["totalQuota"],
        "reason": _QUOTA_MESSAGES["reason"],
    }
