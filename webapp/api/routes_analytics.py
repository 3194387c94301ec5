"""Admin analytics routes AN1-AN5 (spec-accounts-catalog §2, §3.12); figures from `reporting.analytics`."""
from __future__ import annotations

from flask import Blueprint

from ..reporting import analytics
from . import schemas_analytics as s
from .auth import admin_required
from .envelope import ok
from .validation import validate


def _window(query: s.AnalyticsQuery) -> analytics.Window:
    return analytics.resolve_window(query.period, query.startDate, query.endDate)


def register(bp: Blueprint) -> None:
    @bp.get("/admin/analytics/dashboard")
    @admin_required
    def analytics_dashboard():
        """Headline figures, alerts and the latest transactions."""
        return ok("Dashboard analytics retrieved successfully", analytics.dashboard())

    @bp.get("/admin/analytics/revenue")
    @admin_required
    @validate(query=s.AnalyticsQuery)
    def analytics_revenue(query: s.AnalyticsQuery):
        """Revenue, top-ups and refunds in a window, by service and by day."""
        return ok("Revenue analytics retrieved successfully", analytics.revenue(_window(query)))

    @bp.get("/admin/analytics/subscriptions")
    @admin_required
    @validate(query=s.AnalyticsQuery)
    def analytics_subscriptions(query: s.AnalyticsQuery):
        """Subscription counts, new subscriptions and churn in a window."""
        return ok("Subscription analytics retrieved successfully", analytics.subscriptions(_window(query)))

    @bp.get("/admin/analytics/users")
    @admin_required
    @validate(query=s.AnalyticsQuery)
    def analytics_users(query: s.AnalyticsQuery):
        """User counts, conversion, top spenders and sign-ups per day."""
        return ok("User analytics retrieved successfully", analytics.users(_window(query)))

    @bp.get("/admin/analytics/service-control")
    @admin_required
    @validate(query=s.AnalyticsQuery)
    def analytics_service_control(query: s.AnalyticsQuery):
        """Instances by status and service, and status changes in a window."""
        return ok("Service control metrics retrieved successfully", analytics.service_control(_window(query)))
