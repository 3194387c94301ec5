"""Customer catalog routes (spec-accounts-catalog C1-C7): signed-in users browse visible services and plans.

The rendered `data` of the browse routes is reused across requests until the catalog changes (`catalog.cache`);
the search route (free text) always reads the database.
"""
from __future__ import annotations

from flask import Blueprint

from ..catalog import cache
from ..catalog import services as catalog
from . import schemas_catalog as s
from .auth import user_required
from .envelope import ok
from .presenters_catalog import category_row, plan_card, service_card
from .validation import validate

WITH_CATEGORY_ID = ("id", "name", "slug")


def _pagination(page: int, limit: int, total: int) -> dict:
    return {"page": page, "limit": limit, "total": total, "totalPages": -(-total // limit)}


def _cards(listing, **kwargs) -> list[dict]:
    return [service_card(service, listing.plans[service.id], **kwargs) for service in listing.services]


def register(bp: Blueprint) -> None:
    @bp.get("/catalog/categories")
    @user_required
    def catalog_categories():
        """Categories with at least one visible service."""
        return ok("Service categories retrieved successfully", cache.cached(("categories",), lambda: [
            {**category_row(category), "_count": {"services": count}} for category, count in catalog.list_categories()]))

    @bp.get("/catalog/services")
    @user_required
    @validate(query=s.CatalogPageQuery)
    def catalog_services(query: s.CatalogPageQuery):
        """Visible services, featured first, with their active plans."""
        def build():
            listing = catalog.list_services(page=query.page, limit=query.limit)
            return {"services": _cards(listing), "pagination": _pagination(query.page, query.limit, listing.total)}

        return ok("All services retrieved successfully", cache.cached(("services", query.page, query.limit), build))

    @bp.get("/catalog/categories/<categorySlug>/services")
    @user_required
    @validate(path=s.CategorySlugPath, query=s.CatalogPageQuery)
    def catalog_category_services(path: s.CategorySlugPath, query: s.CatalogPageQuery):
        """One category and a page of its visible services."""
        def build():
            category, listing = catalog.category_services(slug=path.categorySlug, page=query.page, limit=query.limit)
            return {"id": category.id, "name": category.name, "slug": category.slug,
                    "description": category.description, "services": _cards(listing),
                    "pagination": _pagination(query.page, query.limit, listing.total)}

        return ok("Services retrieved successfully",
                  cache.cached(("category", path.categorySlug, query.page, query.limit), build))

    @bp.get("/catalog/services/<serviceSlug>")
    @user_required
    @validate(path=s.ServiceSlugPath)
    def catalog_service_details(path: s.ServiceSlugPath):
        """A visible service with its active plans and their availability."""
        def build():
            service, plans = catalog.service_details(path.serviceSlug)
            return service_card(service, plans, category_fields=WITH_CATEGORY_ID)

        return ok("Service details retrieved successfully", cache.cached(("service", path.serviceSlug), build))

    @bp.get("/catalog/services/<serviceSlug>/plans")
    @user_required
    @validate(path=s.ServiceSlugPath)
    def catalog_service_plans(path: s.ServiceSlugPath):
        """The active plans of a visible service."""
        def build():
            service, plans = catalog.service_details(path.serviceSlug)
            return {"serviceId": service.id, "serviceName": service.name, "serviceSlug": service.slug,
                    "plans": [plan_card(plan) for plan in plans]}

        return ok("Service plans retrieved successfully", cache.cached(("plans", path.serviceSlug), build))

    @bp.get("/catalog/search")
    @user_required
    @validate(query=s.SearchQuery)
    def catalog_search(query: s.SearchQuery):
        """Text search over visible services (name, descriptions, tags), by category slug, featured only."""
        listing = catalog.search_services(text=query.q, category_slug=query.category,
                                          featured_only=query.featured == "true", page=query.page, limit=query.limit)
        return ok("Search completed successfully", {
            "services": _cards(listing, category_fields=WITH_CATEGORY_ID), "totalCount": listing.total,
            "hasMore": (query.page - 1) * query.limit + query.limit < listing.total})

    @bp.get("/catalog/featured")
    @user_required
    @validate(query=s.FeaturedQuery)
    def catalog_featured(query: s.FeaturedQuery):
        """Featured visible services with their cheapest active plan."""
        def build():
            return _cards(catalog.featured_services(limit=query.limit), category_fields=WITH_CATEGORY_ID)

        return ok("Featured services retrieved successfully", cache.cached(("featured", query.limit), build))

