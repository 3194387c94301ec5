"""Admin service/plan and quota routes (spec-accounts-catalog A-S1-A-S14, Q1-Q5), administrators only."""
from __future__ import annotations

from flask import Blueprint

from ..catalog import quota
from ..catalog import services as catalog
from ..db import isoformat
from ..extensions import db
from . import schemas_catalog as s
from .auth import admin_required, current_api_user
from .envelope import created, ok
from .presenters_catalog import (admin_plan, admin_service, category_ref, plan_columns, plan_with_service,
                                 service_columns)
from .validation import validate


def _pagination(page: int, limit: int, total: int) -> dict:
    pages = -(-total // limit)
    return {"currentPage": page, "totalPages": pages, "totalCount": total, "hasNext": page < pages,
            "hasPrev": page > 1}


def _service_detail(listing) -> dict:
    service = listing.services[0]
    return admin_service(service, listing.plans[service.id], listing.subscription_counts, full_category=True)


def register(bp: Blueprint) -> None:
    # ------------------------------------------------------------------------------- services
    # Static paths (statistics, plans) are matched before /<id> by Werkzeug, as in the original.
    @bp.get("/admin/services/statistics")
    @admin_required
    def admin_service_statistics():
        """Counts of services, subscriptions, instances and services per category."""
        return ok("Service statistics retrieved successfully", {"statistics": catalog.service_statistics()})

    @bp.get("/admin/services/plans")
    @admin_required
    @validate(query=s.PlanListQuery)
    def admin_all_plans(query: s.PlanListQuery):
        """Every plan of every service, filtered by service, type, status or text."""
        listing = catalog.list_plans_admin(page=query.page, limit=query.limit, status=query.status,
                                           search=query.search, service_id=query.serviceId,
                                           plan_type=query.planType, sort_by=query.sortBy,
                                           sort_order=query.sortOrder)
        plans = []
        for plan in listing.plans:
            service = plan.service
            plans.append({**admin_plan(plan, listing.subscription_counts, with_utilization=True),
                          "service": {"id": service.id, "name": service.name, "slug": service.slug,
                                      "isActive": service.is_active, "category": category_ref(service.category)}})
        return ok("All service plans retrieved successfully",
                  {"plans": plans, "pagination": _pagination(query.page, query.limit, listing.total)})

    @bp.get("/admin/services")
    @admin_required
    @validate(query=s.ServiceListQuery)
    def admin_services_list(query: s.ServiceListQuery):
        """Every service (inactive and private too) with plans, utilization and subscription counts."""
        listing = catalog.list_services_admin(page=query.page, limit=query.limit, category_slug=query.category,
                                              status=query.status, search=query.search, sort_by=query.sortBy,
                                              sort_order=query.sortOrder)
        return ok("Services retrieved successfully", {
            "services": [admin_service(service, listing.plans[service.id], listing.subscription_counts,
                                       plan_utilization=True) for service in listing.services],
            "pagination": _pagination(query.page, query.limit, listing.total)})

    @bp.get("/admin/services/<id>")
    @admin_required
    @validate(path=s.ServiceIdPath, query=s.ForceQuery)
    def admin_service_get(path: s.ServiceIdPath, query: s.ForceQuery):
        """One service with its category, plans and subscription counts."""
        return ok("Service details retrieved successfully", {"service": _service_detail(catalog.get_service(path.id))})

    @bp.post("/admin/services")
    @admin_required
    @validate(body=s.ServiceCreateBody)
    def admin_service_create(body: s.ServiceCreateBody):
        """Create a service."""
        service = catalog.create_service(actor=current_api_user(), data=body.model_values(only_provided=False))
        db.session.commit()
        return created("Service created successfully", {"service": admin_service(service, full_category=True)})

    @bp.put("/admin/services/<id>")
    @admin_required
    @validate(path=s.ServiceIdPath, body=s.ServiceUpdateBody)
    def admin_service_update(path: s.ServiceIdPath, body: s.ServiceUpdateBody):
        """Change a service; null clears its optional fields."""
        service = catalog.update_service(actor=current_api_user(), service_id=path.id,
                                         changes=body.model_values(only_provided=True))
        db.session.commit()
        # After the commit the relationship reloads every plan; A-S6 shows them without counts.
        return ok("Service updated successfully", {"service": admin_service(service, service.plans, full_category=True)})

    @bp.delete("/admin/services/<id>")
    @admin_required
    @validate(path=s.ServiceIdPath, query=s.ForceQuery)
    def admin_service_delete(path: s.ServiceIdPath, query: s.ForceQuery):
        """Delete a service never subscribed to; with force, archive one that only has past subscriptions."""
        catalog.delete_service(actor=current_api_user(), service_id=path.id, force=query.force)
        db.session.commit()
        return ok("Service deleted successfully")

    @bp.patch("/admin/services/<id>/toggle-status")
    @admin_required
    @validate(path=s.ServiceIdPath, query=s.ForceQuery)
    def admin_service_toggle(path: s.ServiceIdPath, query: s.ForceQuery):
        """Activate or deactivate a service."""
        service = catalog.toggle_service_status(actor=current_api_user(), service_id=path.id)
        db.session.commit()
        word = "activated" if service.is_active else "deactivated"
        return ok(f"Service {word} successfully", {"service": admin_service(service, full_category=True)})

    # ---------------------------------------------------------------------------------- plans
    @bp.get("/admin/services/<serviceId>/plans")
    @admin_required
    @validate(path=s.ServiceIdParamPath)
    def admin_service_plans(path: s.ServiceIdParamPath):
        """A service's plans, active and inactive."""
        listing = catalog.service_plans(path.serviceId)
        service = listing.services[0]
        return ok("Service plans retrieved successfully", {
            "service": {"id": service.id, "name": service.name, "slug": service.slug},
            "plans": [admin_plan(plan, listing.subscription_counts) for plan in listing.plans[service.id]]})

    @bp.post("/admin/services/<serviceId>/plans")
    @admin_required
    @validate(path=s.ServiceIdParamPath, body=s.PlanCreateBody)
    def admin_plan_create(path: s.ServiceIdParamPath, body: s.PlanCreateBody):
        """Add a plan (one per plan type) to a service."""
        plan = catalog.create_plan(actor=current_api_user(), service_id=path.serviceId,
                                   data=body.model_values(only_provided=False))
        db.session.commit()
        return created("Service plan created successfully", {"plan": plan_with_service(plan)})

    @bp.get("/admin/services/<serviceId>/plans/<planId>")
    @admin_required
    @validate(path=s.PlanIdsPath, query=s.ForceQuery)
    def admin_plan_get(path: s.PlanIdsPath, query: s.ForceQuery):
        """One plan of a service with its subscription count."""
        plan, count = catalog.get_plan(path.serviceId, path.planId)
        return ok("Service plan details retrieved successfully", {
            "plan": {**plan_with_service(plan, ("id", "name", "slug")), "_count": {"subscriptions": count}}})

    @bp.put("/admin/services/<serviceId>/plans/<planId>")
    @admin_required
    @validate(path=s.PlanIdsPath, body=s.PlanUpdateBody)
    def admin_plan_update(path: s.PlanIdsPath, body: s.PlanUpdateBody):
        """Change a plan (not its type); total quota never below what is in use."""
        plan = catalog.update_plan(actor=current_api_user(), service_id=path.serviceId, plan_id=path.planId,
                                   changes=body.model_values(only_provided=True))
        db.session.commit()
        return ok("Service plan updated successfully", {"plan": plan_with_service(plan)})

    @bp.delete("/admin/services/<serviceId>/plans/<planId>")
    @admin_required
    @validate(path=s.PlanIdsPath, query=s.ForceQuery)
    def admin_plan_delete(path: s.PlanIdsPath, query: s.ForceQuery):
        """Delete a plan never subscribed to; with force, deactivate one that only has past subscriptions."""
        catalog.delete_plan(actor=current_api_user(), service_id=path.serviceId, plan_id=path.planId,
                            force=query.force)
        db.session.commit()
        return ok("Service plan deleted successfully")

    @bp.patch("/admin/services/<serviceId>/plans/<planId>/toggle-status")
    @admin_required
    @validate(path=s.PlanIdsPath, query=s.ForceQuery)
    def admin_plan_toggle(path: s.PlanIdsPath, query: s.ForceQuery):
        """Activate or deactivate a plan (existing subscriptions keep working)."""
        plan = catalog.toggle_plan_status(actor=current_api_user(), service_id=path.serviceId, plan_id=path.planId)
        db.session.commit()
        word = "activated" if plan.is_active else "deactivated"
        return ok(f"Service plan {word} successfully", {"plan": plan_with_service(plan)})

    # ---------------------------------------------------------------------------------- quota
    @bp.get("/admin/quota/statistics")
    @admin_required
    def admin_quota_statistics():
        """Capacity totals and plans near their limit (live subscription counts)."""
        return ok("Quota statistics retrieved successfully", {"statistics": quota.quota_statistics()})

    @bp.get("/admin/quota/overview")
    @admin_required
    def admin_quota_overview():
        """Capacity per plan."""
        return ok("Quota overview retrieved successfully", {"quotaOverview": quota.quota_overview()})

    @bp.get("/admin/quota/plans/<planId>")
    @admin_required
    @validate(path=s.QuotaPlanPath)
    def admin_quota_plan(path: s.QuotaPlanPath):
        """One plan's capacity and the subscriptions holding its slots."""
        plan, figures, subscriptions = quota.plan_quota_details(path.planId)
        return ok("Plan quota details retrieved successfully", {"quotaDetails": {
            "plan": {"id": plan.id, "name": plan.name, "service": service_columns(plan.service)},
            "quota": figures,
            "activeSubscriptions": [{"id": sub.id, "user": {"id": sub.user.id, "email": sub.user.email,
                                                            "name": sub.user.name},
                                     "status": sub.status.value, "createdAt": isoformat(sub.created_at),
                                     "nextBilling": isoformat(sub.next_billing)} for sub in subscriptions]}})

    @bp.put("/admin/quota/plans/<planId>")
    @admin_required
    @validate(path=s.QuotaPlanPath, body=s.QuotaUpdateBody)
    def admin_quota_update(path: s.QuotaPlanPath, body: s.QuotaUpdateBody):
        """Set one plan's capacity (the reason is kept in the audit log)."""
        plan = quota.set_total_quota(actor=current_api_user(), plan_id=path.planId, total_quota=body.totalQuota,
                                     reason=body.reason)
        db.session.commit()
        return ok("Plan quota updated successfully", {"plan": {**plan_columns(plan),
                                                               "service": service_columns(plan.service)}})

    @bp.put("/admin/quota/bulk-update")
    @admin_required
    @validate(body=s.BulkQuotaBody)
    def admin_quota_bulk(body: s.BulkQuotaBody):
        """Set several capacities at once: all or nothing."""
        plans = quota.bulk_set_total_quota(actor=current_api_user(), reason=body.reason,
                                           updates=[(item.planId, item.totalQuota) for item in body.updates])
        db.session.commit()
        return ok("Bulk quota update completed successfully", {"updatedPlans": [plan_columns(p) for p in plans]})
