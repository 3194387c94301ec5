"""Catalog rules: what customers may browse, and the administration of categories, services and plans.

Reads build each list with a constant number of queries (one page query, one count, one query for the
plans of the whole page, one grouped count of subscriptions), never per-row loads; plans are always
returned beside their services (`Listing.plans`) rather than through the `Service.plans` relationship,
so a filtered list can never be mistaken for the full collection. Admin writes run inside the caller's
unit of work (flush, never commit) and record one audit row each. Capacity lives in `catalog.quota`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import exists, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..audit.services import record
from ..db import is_postgres
from ..extensions import db
from ..subscriptions.models import LIVE_STATUSES, Subscription
from ..cluster.models import ServiceInstance
from . import cache  # noqa: F401  (its session events version the customer catalog read cache on every commit)
from .errors import (CategoryNotFound, CategoryTaken, ClearingRequiredField, PlanHasSubscriptions, PlanInUse,
                     PlanNotFound, PlanTypeImmutable, PlanTypeTaken, ServiceCategoryNotFound, ServiceHasSubscriptions,
                     ServiceInUse, ServiceNotFound, ServiceSlugTaken, TotalQuotaBelowUsed)
from .models import PlanType, Service, ServiceCategory, ServicePlan
from .quota import quota_floor

VISIBLE = (Service.is_active.is_(True), Service.is_public.is_(True))

CATEGORY_FIELDS = {"name", "slug", "description", "sort_order"}
CATEGORY_REQUIRED = {"name", "slug", "sort_order"}
SERVICE_FIELDS = {"name", "slug", "description", "long_description", "icon", "version", "docker_image",
                  "default_port", "category_id", "env_template", "tags", "documentation", "is_active", "is_public",
                  "is_featured", "sort_order"}
SERVICE_REQUIRED = {"name", "slug", "version", "docker_image", "default_port", "category_id", "is_active",
                    "is_public", "is_featured", "sort_order"}
PLAN_FIELDS = {"name", "plan_type", "description", "monthly_price", "cpu_milli", "memory_mb", "storage_gb",
               "bandwidth", "total_quota", "features", "max_instances_per_user", "max_domains", "is_active",
               "is_popular", "sort_order"}
PLAN_REQUIRED = PLAN_FIELDS - {"description", "features"}


@dataclass
class Listing:
    """One page of services with the plans to show beside each and, for admin screens, subscription counts."""

    services: list[Service]
    plans: dict[str, list[ServicePlan]]  # by service id
    total: int
    subscription_counts: dict[str, int] = field(default_factory=dict)  # by service id and by plan id


@dataclass
class PlanListing:
    plans: list[ServicePlan]
    total: int
    subscription_counts: dict[str, int]  # by plan id


# ------------------------------------------------------------------------------------------ helpers
def _page(query, order_by, *, page: int, limit: int, options=()) -> tuple[list, int]:
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.options(*options).order_by(*order_by).offset((page - 1) * limit).limit(limit)
                              ).unique().scalars().all()
    return list(rows), total


def _plans_by_service(service_ids, *, active_only: bool, cheapest_only: bool = False) -> dict[str, list[ServicePlan]]:
    grouped: dict[str, list[ServicePlan]] = defaultdict(list)
    if not service_ids:
        return grouped
    query = select(ServicePlan).where(ServicePlan.service_id.in_(list(service_ids)))
    if active_only:
        query = query.where(ServicePlan.is_active.is_(True))
    order = ((ServicePlan.monthly_price, ServicePlan.sort_order) if cheapest_only
             else (ServicePlan.sort_order, ServicePlan.monthly_price))
    for plan in db.session.execute(query.order_by(*order, ServicePlan.id)
                                   .execution_options(populate_existing=True)).scalars():
        if not (cheapest_only and grouped[plan.service_id]):
            grouped[plan.service_id].append(plan)
    return grouped


def _subscription_counts(*, service_ids=(), plan_ids=()) -> dict[str, int]:
    """All subscription rows (any status) per service id and per plan id, as Prisma's `_count` did."""
    counts: dict[str, int] = {}
    if service_ids:
        counts.update(db.session.execute(select(Subscription.service_id, func.count())
                                         .where(Subscription.service_id.in_(list(service_ids)))
                                         .group_by(Subscription.service_id)).all())
    if plan_ids:
        counts.update(db.session.execute(select(Subscription.plan_id, func.count())
                                         .where(Subscription.plan_id.in_(list(plan_ids)))
                                         .group_by(Subscription.plan_id)).all())
    return counts


def _contains(column, text: str):
    """Case-insensitive substring match, portable (PostgreSQL and SQLite); % and _ are literal."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def _has_tag(text: str):
    """Whole-tag, case-insensitive match on the JSON tag list."""
    elements = (func.json_array_elements_text if is_postgres() else func.json_each)(Service.tags) \
        .table_valued("value").alias("tag")
    return exists(select(literal(1)).select_from(elements).where(func.lower(elements.c.value) == text.lower()))


def _snapshot(obj, keys) -> dict:
    return {key: getattr(obj, key) for key in sorted(keys)}


def _apply(obj, changes: dict, *, allowed: set[str], required: set[str]) -> tuple[dict, dict]:
    """Set the given attributes; None clears an optional field (fix 28). Returns (before, after) of the changes."""
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"unknown fields for {type(obj).__name__}: {sorted(unknown)}")
    for key, value in changes.items():
        if value is None and key in required:
            raise ClearingRequiredField(field=key)
    before = _snapshot(obj, changes)
    for key, value in changes.items():
        setattr(obj, key, value)
    return before, _snapshot(obj, changes)


def _flush_or(error) -> None:
    """Flush in a savepoint, turning a constraint violation from a concurrent request into `error`."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise error() from None


def _locked(model, *criteria):
    return db.session.execute(select(model).where(*criteria).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()


def _lock_service(service_id: str) -> Service:
    service = _locked(Service, Service.id == service_id)
    if service is None:
        raise ServiceNotFound()
    return service


def _lock_plan(service_id: str, plan_id: str) -> ServicePlan:
    plan = _locked(ServicePlan, ServicePlan.id == plan_id, ServicePlan.service_id == service_id)
    if plan is None:
        raise PlanNotFound()
    return plan


def _normalise_plan_values(values: dict) -> dict:
    values = dict(values)
    if values.get("storage_gb") is not None:
        values["storage_gb"] = Decimal(str(values["storage_gb"]))
    if values.get("plan_type") is not None:
        values["plan_type"] = PlanType(values["plan_type"])
    return values


# ------------------------------------------------------------------------------- customer catalog
def list_categories() -> list[tuple[ServiceCategory, int]]:
    """C1: categories with at least one visible service, and how many they have."""
    rows = db.session.execute(
        select(ServiceCategory, func.count(Service.id)).join(Service, Service.category_id == ServiceCategory.id)
        .where(*VISIBLE).group_by(ServiceCategory.id).order_by(ServiceCategory.sort_order, ServiceCategory.name))
    return [(category, count) for category, count in rows.all()]


_CATALOG_ORDER = (Service.is_featured.desc(), Service.sort_order, Service.name, Service.id)


def list_services(*, page: int, limit: int, category_id: str | None = None) -> Listing:
    """C2/C3: visible services, featured first, each with its active plans."""
    query = select(Service).where(*VISIBLE)
    if category_id is not None:
        query = query.where(Service.category_id == category_id)
    services, total = _page(query, _CATALOG_ORDER, page=page, limit=limit, options=[joinedload(Service.category)])
    return Listing(services, _plans_by_service([s.id for s in services], active_only=True), total)


def category_services(*, slug: str, page: int, limit: int) -> tuple[ServiceCategory, Listing]:
    """C3: a category by slug and one page of its visible services."""
    category = db.session.execute(select(ServiceCategory).where(ServiceCategory.slug == slug)).scalar_one_or_none()
    if category is None:
        raise CategoryNotFound()
    return category, list_services(page=page, limit=limit, category_id=category.id)


def service_details(slug: str) -> tuple[Service, list[ServicePlan]]:
    """C4/C5: a visible service by slug with its active plans (404 for unknown, inactive or private: fix 19)."""
    service = db.session.execute(select(Service).options(joinedload(Service.category))
                                 .where(Service.slug == slug, *VISIBLE)).scalar_one_or_none()
    if service is None:
        raise ServiceNotFound()
    return service, _plans_by_service([service.id], active_only=True)[service.id]


def search_services(*, text: str | None, category_slug: str | None, featured_only: bool, page: int,
                    limit: int) -> Listing:
    """C6 (fix 18): visible services matching `text` in name/description/long description (substring) or a
    tag (whole word), optionally in one category (slug) and featured only; each with its cheapest active plan."""
    query = select(Service).where(*VISIBLE)
    if text:
        query = query.where(or_(_contains(Service.name, text), _contains(Service.description, text),
                                _contains(Service.long_description, text), _has_tag(text)))
    if category_slug:
        query = query.join(ServiceCategory, Service.category_id == ServiceCategory.id) \
            .where(ServiceCategory.slug == category_slug)
    if featured_only:
        query = query.where(Service.is_featured.is_(True))
    services, total = _page(query, (Service.is_featured.desc(), Service.name, Service.id), page=page, limit=limit,
                            options=[joinedload(Service.category)])
    return Listing(services, _plans_by_service([s.id for s in services], active_only=True, cheapest_only=True), total)


def featured_services(*, limit: int) -> Listing:
    """C7: visible featured services by sort order, each with its cheapest active plan."""
    services, total = _page(select(Service).where(*VISIBLE, Service.is_featured.is_(True)),
                            (Service.sort_order, Service.name, Service.id), page=1, limit=limit,
                            options=[joinedload(Service.category)])
    return Listing(services, _plans_by_service([s.id for s in services], active_only=True, cheapest_only=True), total)


# ----------------------------------------------------------------------------------- admin reads
def service_statistics() -> dict:
    """A-S1: counts over everything (inactive and private services, every status)."""
    total, active = db.session.execute(
        select(func.count(Service.id), func.count(Service.id).filter(Service.is_active.is_(True)))).one()
    categories = db.session.execute(
        select(ServiceCategory, func.count(Service.id)).outerjoin(Service, Service.category_id == ServiceCategory.id)
        .group_by(ServiceCategory.id).order_by(ServiceCategory.sort_order, ServiceCategory.name)).all()
    return {
        "services": {"total": total, "active": active, "inactive": total - active},
        "subscriptions": {"total": db.session.execute(select(func.count(Subscription.id))).scalar_one()},
        "instances": {"total": db.session.execute(select(func.count(ServiceInstance.id))).scalar_one()},
        "categories": [{"id": c.id, "name": c.name, "slug": c.slug, "serviceCount": n} for c, n in categories],
    }


_SERVICE_SORT = {"name": Service.name, "createdAt": Service.created_at, "updatedAt": Service.updated_at}
_PLAN_SORT = {"name": ServicePlan.name, "createdAt": ServicePlan.created_at, "updatedAt": ServicePlan.updated_at,
              "monthlyPrice": ServicePlan.monthly_price, "sortOrder": ServicePlan.sort_order}


def _direction(column, sort_order: str):
    return column.asc() if sort_order == "asc" else column.desc()


def list_services_admin(*, page: int, limit: int, category_slug: str | None = None, status: str | None = None,
                        search: str | None = None, sort_by: str = "createdAt", sort_order: str = "desc") -> Listing:
    """A-S3: every service (inactive and private too) with all its plans and subscription counts."""
    query = select(Service)
    if category_slug:
        query = query.join(ServiceCategory, Service.category_id == ServiceCategory.id) \
            .where(ServiceCategory.slug == category_slug)
    if status:
        query = query.where(Service.is_active.is_(status == "active"))
    if search:
        query = query.where(or_(_contains(Service.name, search), _contains(Service.description, search),
                                _contains(Service.slug, search)))
    services, total = _page(query, (_direction(_SERVICE_SORT[sort_by], sort_order), Service.id), page=page,
                            limit=limit, options=[joinedload(Service.category)])
    plans = _plans_by_service([s.id for s in services], active_only=False)
    counts = _subscription_counts(service_ids=[s.id for s in services],
                                  plan_ids=[p.id for group in plans.values() for p in group])
    return Listing(services, plans, total, counts)


def get_service(service_id: str) -> Listing:
    """A-S4: one service (any state) with all plans and subscription counts, as a one-row Listing."""
    service = db.session.execute(select(Service).options(joinedload(Service.category))
                                 .where(Service.id == service_id)
                                 .execution_options(populate_existing=True)).scalar_one_or_none()
    if service is None:
        raise ServiceNotFound()
    plans = _plans_by_service([service.id], active_only=False)
    counts = _subscription_counts(service_ids=[service.id], plan_ids=[p.id for p in plans[service.id]])
    return Listing([service], plans, 1, counts)


def list_plans_admin(*, page: int, limit: int, status: str | None = None, search: str | None = None,
                     service_id: str | None = None, plan_type: str | None = None, sort_by: str = "createdAt",
                     sort_order: str = "desc") -> PlanListing:
    """A-S2 (fix 23): every plan with its service and category; filters by service, type, status, text."""
    query = select(ServicePlan).join(Service, ServicePlan.service_id == Service.id)
    if status:
        query = query.where(ServicePlan.is_active.is_(status == "active"))
    if service_id:
        query = query.where(ServicePlan.service_id == service_id)
    if plan_type:
        query = query.where(ServicePlan.plan_type == PlanType(plan_type))
    if search:
        query = query.where(or_(_contains(ServicePlan.name, search), _contains(ServicePlan.description, search),
                                _contains(Service.name, search), _contains(Service.slug, search)))
    plans, total = _page(query, (_direction(_PLAN_SORT[sort_by], sort_order), ServicePlan.id), page=page,
                         limit=limit, options=[joinedload(ServicePlan.service).joinedload(Service.category)])
    return PlanListing(plans, total, _subscription_counts(plan_ids=[p.id for p in plans]))


def service_plans(service_id: str) -> Listing:
    """A-S9: a service's plans, active and inactive, by sort order, with subscription counts."""
    service = db.session.get(Service, service_id)
    if service is None:
        raise ServiceNotFound()
    plans = _plans_by_service([service.id], active_only=False)
    return Listing([service], plans, 1, _subscription_counts(plan_ids=[p.id for p in plans[service.id]]))


def get_plan(service_id: str, plan_id: str) -> tuple[ServicePlan, int]:
    """A-S11: a plan of the given service, with its number of subscription rows."""
    plan = db.session.execute(select(ServicePlan).options(joinedload(ServicePlan.service))
                              .where(ServicePlan.id == plan_id, ServicePlan.service_id == service_id)
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    if plan is None:
        raise PlanNotFound()
    return plan, _subscription_counts(plan_ids=[plan.id]).get(plan.id, 0)


# ---------------------------------------------------------------------------------- admin writes
def create_category(*, actor, data: dict, source: str = "api") -> ServiceCategory:
    """Additive (fix 29): categories were seed-only in the original."""
    category = ServiceCategory(sort_order=0)
    _apply(category, data, allowed=CATEGORY_FIELDS, required=CATEGORY_REQUIRED)
    if db.session.execute(select(ServiceCategory.id).where(
            or_(ServiceCategory.slug == category.slug, ServiceCategory.name == category.name))).first():
        raise CategoryTaken()
    db.session.add(category)
    _flush_or(CategoryTaken)
    record(actor=actor, action="category.create", target_type="service_category", target_id=category.id,
           after=_snapshot(category, CATEGORY_FIELDS), source=source)
    return category


def update_category(*, actor, category_id: str, changes: dict, source: str = "api") -> ServiceCategory:
    category = _locked(ServiceCategory, ServiceCategory.id == category_id)
    if category is None:
        raise ServiceCategoryNotFound()
    before, after = _apply(category, changes, allowed=CATEGORY_FIELDS, required=CATEGORY_REQUIRED)
    _flush_or(CategoryTaken)
    record(actor=actor, action="category.update", target_type="service_category", target_id=category.id,
           before=before, after=after, source=source)
    return category


def _ensure_slug_free(slug: str, *, except_id: str | None = None) -> None:
    query = select(Service.id).where(Service.slug == slug)
    if except_id:
        query = query.where(Service.id != except_id)
    if db.session.execute(query).first():
        raise ServiceSlugTaken()


def _ensure_category(category_id: str) -> None:
    if db.session.get(ServiceCategory, category_id) is None:
        raise ServiceCategoryNotFound()


def create_service(*, actor, data: dict, source: str = "api") -> Service:
    """A-S5: slug must be free (409), category must exist (404)."""
    values = {"version": "latest", "tags": [], "is_active": True, "is_public": True, "is_featured": False,
              "sort_order": 0, **data}
    if values.get("tags") is None:
        values["tags"] = []
    _ensure_slug_free(values["slug"])
    _ensure_category(values["category_id"])
    service = Service()
    _apply(service, values, allowed=SERVICE_FIELDS, required=SERVICE_REQUIRED)
    db.session.add(service)
    _flush_or(ServiceSlugTaken)
    record(actor=actor, action="service.create", target_type="service", target_id=service.id,
           after=_snapshot(service, SERVICE_FIELDS), source=source)
    return service


def update_service(*, actor, service_id: str, changes: dict, source: str = "api") -> Service:
    """A-S6: checks in the original's order (404 service, 409 slug, 404 category); None clears optional fields."""
    service = _lock_service(service_id)
    changes = dict(changes)
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []
    if changes.get("slug") and changes["slug"] != service.slug:
        _ensure_slug_free(changes["slug"], except_id=service.id)
    if changes.get("category_id") and changes["category_id"] != service.category_id:
        _ensure_category(changes["category_id"])
    before, after = _apply(service, changes, allowed=SERVICE_FIELDS, required=SERVICE_REQUIRED)
    _flush_or(ServiceSlugTaken)
    record(actor=actor, action="service.update", target_type="service", target_id=service.id, before=before,
           after=after, source=source)
    return service


def toggle_service_status(*, actor, service_id: str, source: str = "api") -> Service:
    """A-S8: flip is_active; hides the service from the catalog, existing subscriptions untouched."""
    service = _lock_service(service_id)
    before, after = _apply(service, {"is_active": not service.is_active}, allowed=SERVICE_FIELDS,
                           required=SERVICE_REQUIRED)
    db.session.flush()
    record(actor=actor, action="service.toggle_status", target_type="service", target_id=service.id,
           before=before, after=after, source=source)
    return service


def _subscription_tally(criterion) -> tuple[int, int]:
    """(live, all) subscription rows matching `criterion`."""
    live, total = db.session.execute(
        select(func.count(Subscription.id).filter(Subscription.status.in_(LIVE_STATUSES)), func.count(Subscription.id))
        .where(criterion)).one()
    return live, total


def delete_service(*, actor, service_id: str, force: bool, source: str = "api") -> None:
    """A-S7 (fix 25): refused (409) while live subscriptions exist, even with force, and without force while
    any subscription row exists; with force and only history, archived (inactive, private) so the history
    and its money trail stay; with no subscription ever, deleted with its plans."""
    service = _lock_service(service_id)
    live, total = _subscription_tally(Subscription.service_id == service.id)
    if live or (total and not force):
        raise ServiceHasSubscriptions()
    before = _snapshot(service, SERVICE_FIELDS)
    if total:
        service.is_active = False
        service.is_public = False
        db.session.flush()
        record(actor=actor, action="service.archive", target_type="service", target_id=service.id, before=before,
               after=_snapshot(service, SERVICE_FIELDS), source=source)
        return
    db.session.delete(service)
    _flush_or(ServiceInUse)
    record(actor=actor, action="service.delete", target_type="service", target_id=service_id, before=before,
           source=source)


def create_plan(*, actor, service_id: str, data: dict, source: str = "api") -> ServicePlan:
    """A-S10: the service must exist (404); one plan per type and service (409)."""
    if db.session.get(Service, service_id) is None:
        raise ServiceNotFound()
    values = _normalise_plan_values({"bandwidth": 0, "max_instances_per_user": 1, "max_domains": 1,
                                     "is_active": True, "is_popular": False, "sort_order": 0, **data})
    plan_type = values["plan_type"]
    taken = lambda: PlanTypeTaken(plan_type=plan_type.value)  # noqa: E731
    if db.session.execute(select(ServicePlan.id).where(ServicePlan.service_id == service_id,
                                                       ServicePlan.plan_type == plan_type)).first():
        raise taken()
    plan = ServicePlan(service_id=service_id, used_quota=0)
    _apply(plan, values, allowed=PLAN_FIELDS, required=PLAN_REQUIRED)
    db.session.add(plan)
    _flush_or(taken)
    record(actor=actor, action="plan.create", target_type="service_plan", target_id=plan.id,
           after=_snapshot(plan, PLAN_FIELDS), source=source)
    return plan


def update_plan(*, actor, service_id: str, plan_id: str, changes: dict, source: str = "api") -> ServicePlan:
    """A-S12: plan type is immutable; total_quota (min 1 from the API, like the original) may never drop
    below max(used_quota, live subscriptions) (fix 21). Price changes apply to new subscriptions only."""
    plan = _lock_plan(service_id, plan_id)
    if "plan_type" in changes:
        raise PlanTypeImmutable()
    changes = _normalise_plan_values(changes)
    if changes.get("total_quota") is not None:
        floor = quota_floor(plan)
        if changes["total_quota"] < floor:
            raise TotalQuotaBelowUsed(total=changes["total_quota"], used=floor)
    before, after = _apply(plan, changes, allowed=PLAN_FIELDS, required=PLAN_REQUIRED)
    db.session.flush()
    record(actor=actor, action="plan.update", target_type="service_plan", target_id=plan.id, before=before,
           after=after, source=source)
    return plan


def toggle_plan_status(*, actor, service_id: str, plan_id: str, source: str = "api") -> ServicePlan:
    """A-S14: flip is_active. Existing subscriptions keep working (quota moves ignore is_active, fix 26)."""
    plan = _lock_plan(service_id, plan_id)
    before, after = _apply(plan, {"is_active": not plan.is_active}, allowed=PLAN_FIELDS, required=PLAN_REQUIRED)
    db.session.flush()
    record(actor=actor, action="plan.toggle_status", target_type="service_plan", target_id=plan.id, before=before,
           after=after, source=source)
    return plan


def delete_plan(*, actor, service_id: str, plan_id: str, force: bool, source: str = "api") -> None:
    """A-S13: the rules of `delete_service` for one plan (archived = deactivated)."""
    plan = _lock_plan(service_id, plan_id)
    live, total = _subscription_tally(Subscription.plan_id == plan.id)
    if live or (total and not force):
        raise PlanHasSubscriptions()
    before = _snapshot(plan, PLAN_FIELDS)
    if total:
        plan.is_active = False
        db.session.flush()
        record(actor=actor, action="plan.archive", target_type="service_plan", target_id=plan.id, before=before,
               after=_snapshot(plan, PLAN_FIELDS), source=source)
        return
    db.session.delete(plan)
    _flush_or(PlanInUse)
    record(actor=actor, action="plan.delete", target_type="service_plan", target_id=plan_id, before=before,
           source=source)
