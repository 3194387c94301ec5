"""JSON shapes of categories, services and plans (camelCase, field for field as the original).

Admin shapes carry every column. Customer shapes (C1-C7) leave out `envTemplate`, `dockerImage`,
`isActive` and `isPublic` (fix 20): templates held default credentials and the rest is internal.
"""
from __future__ import annotations

from ..db import isoformat
from .presenters import number

CUSTOMER_HIDDEN = ("envTemplate", "dockerImage", "isActive", "isPublic")


def category_row(category) -> dict:
    return {"id": category.id, "name": category.name, "slug": category.slug, "description": category.description,
            "sortOrder": category.sort_order, "createdAt": isoformat(category.created_at),
            "updatedAt": isoformat(category.updated_at)}


def category_ref(category) -> dict:
    return {"id": category.id, "name": category.name, "slug": category.slug}


def service_columns(service) -> dict:
    return {
        "id": service.id, "name": service.name, "slug": service.slug, "description": service.description,
        "longDescription": service.long_description, "icon": service.icon, "version": service.version,
        "dockerImage": service.docker_image, "defaultPort": service.default_port, "categoryId": service.category_id,
        "envTemplate": service.env_template, "tags": service.tags or [], "documentation": service.documentation,
        "isActive": service.is_active, "isPublic": service.is_public, "isFeatured": service.is_featured,
        "sortOrder": service.sort_order, "createdAt": isoformat(service.created_at),
        "updatedAt": isoformat(service.updated_at),
    }


def plan_columns(plan) -> dict:
    return {
        "id": plan.id, "serviceId": plan.service_id, "name": plan.name, "planType": plan.plan_type.value,
        "description": plan.description, "monthlyPrice": plan.monthly_price, "cpuMilli": plan.cpu_milli,
        "memoryMb": plan.memory_mb, "storageGb": number(plan.storage_gb), "bandwidth": plan.bandwidth,
        "totalQuota": plan.total_quota, "usedQuota": plan.used_quota, "features": plan.features,
        "maxInstancesPerUser": plan.max_instances_per_user, "maxDomains": plan.max_domains,
        "isActive": plan.is_active, "isPopular": plan.is_popular, "sortOrder": plan.sort_order,
        "createdAt": isoformat(plan.created_at), "updatedAt": isoformat(plan.updated_at),
    }


# --------------------------------------------------------------------------------------- customer
_CARD_PLAN_FIELDS = ("id", "name", "planType", "description", "monthlyPrice", "cpuMilli", "memoryMb", "storageGb",
                     "bandwidth", "features", "maxInstancesPerUser", "maxDomains", "totalQuota", "usedQuota",
                     "isPopular")


def plan_card(plan) -> dict:
    """A plan as customers see it, with availability from the used_quota column."""
    columns = plan_columns(plan)
    available = plan.total_quota - plan.used_quota
    return {**{key: columns[key] for key in _CARD_PLAN_FIELDS}, "availableQuota": available,
            "isAvailable": available > 0}


def service_public(service) -> dict:
    columns = service_columns(service)
    for key in CUSTOMER_HIDDEN:
        del columns[key]
    return columns


def service_card(service, plans, *, category_fields=("name", "slug")) -> dict:
    """C2/C3 use category {name, slug}; C4/C6/C7 pass category_fields=("id", "name", "slug")."""
    category = category_ref(service.category)
    return {**service_public(service), "category": {key: category[key] for key in category_fields},
            "plans": [plan_card(plan) for plan in plans]}


# ------------------------------------------------------------------------------------------ admin
def utilization(plan) -> dict:
    return {"percentage": plan.used_quota / plan.total_quota * 100 if plan.total_quota else 0,
            "available": plan.total_quota - plan.used_quota}


def admin_plan(plan, counts: dict | None = None, *, with_utilization: bool = False) -> dict:
    """All plan columns, plus `_count` when `counts` is given and utilization when asked."""
    row = plan_columns(plan)
    if counts is not None:
        row["_count"] = {"subscriptions": counts.get(plan.id, 0)}
    if with_utilization:
        row["utilization"] = utilization(plan)
    return row


def admin_service(service, plans=None, counts: dict | None = None, *, full_category: bool = False,
                  plan_utilization: bool = False) -> dict:
    """All service columns + category (+ plans, + `_count` when counts are given)."""
    row = {**service_columns(service),
           "category": category_row(service.category) if full_category else category_ref(service.category)}
    if plans is not None:
        row["plans"] = [admin_plan(plan, counts, with_utilization=plan_utilization) for plan in plans]
    if counts is not None:
        row["_count"] = {"subscriptions": counts.get(service.id, 0)}
    return row


def plan_with_service(plan, fields=("name", "slug")) -> dict:
    service = {"id": plan.service.id, "name": plan.service.name, "slug": plan.service.slug}
    return {**plan_columns(plan), "service": {key: service[key] for key in fields}}
