"""The console home page (`/admin/`): today's numbers, subscription/ticket/cluster health and Plotly charts.

Numbers come from `reporting.dashboard` (a fixed number of aggregate queries); each one links to the Flask-Admin
list behind it, with that list's own filter arguments. The filter argument names are looked up on the list view
at render time (`ListLinks`), so a list that changes its filters keeps working links: where a list has no
matching filter the link falls back to the list itself (the closest list), never to a broken URL.
Figures are built on the server and embedded as JSON (`console.charts.figure_html`, no inline script); the local
`static/vendor/plotly.min.js` and `static/console/charts.js` draw them.
"""
from __future__ import annotations

from datetime import datetime

from flask import url_for
from flask_admin import AdminIndexView, expose
from markupsafe import Markup
from sqlalchemy import func, select

from ..extensions import db
from .base import AdminRequiredMixin


def headline_counts() -> dict[str, int]:
    from ..accounts.models import Role, User
    from ..catalog.models import Service, ServicePlan

    customers = db.session.execute(select(func.count()).select_from(User).where(
        User.role == Role.USER, User.deleted_at.is_(None))).scalar_one()
    services = db.session.execute(select(func.count()).select_from(Service)).scalar_one()
    plans, used, total = db.session.execute(select(
        func.count(ServicePlan.id), func.coalesce(func.sum(ServicePlan.used_quota), 0),
        func.coalesce(func.sum(ServicePlan.total_quota), 0))).one()
    return {"customers": customers, "services": services, "plans": plans, "quota_used": int(used),
            "quota_total": int(total)}


def money(value: int) -> str:
    return f"{int(value or 0):,}".replace(",", ".")


def _filter_time(value: datetime) -> str:
    """Flask-Admin's datetime filter format; the console's stored times are UTC."""
    from .. import clock

    return clock.to_utc(value).strftime("%Y-%m-%d %H:%M:%S")


class ListLinks:
    """URLs of Flask-Admin list views with filters and sorting, built from each view's own filter table."""

    def __init__(self, admin) -> None:
        self.views = {getattr(v, "endpoint", None): v for v in admin._views}

    def url(self, endpoint: str, filters=(), sort: str | None = None, desc: bool = False) -> str:
        """`filters`: (column label, operation, value) triples, e.g. ("Status", "equals", "ACTIVE").
        Filters or a sort column the view does not offer are left out (the link shows more, never fails)."""
        view = self.views.get(endpoint)
        if view is None:
            return url_for("admin.index")
        args: dict[str, str | int] = {}
        position = 0
        for label, operation, value in filters:
            for index, flt in enumerate(view._filters or []):
                if str(flt.name) == label and str(flt.operation()) == operation:
                    args[f"flt{position}_{view.get_filter_arg(index, flt)}"] = value
                    position += 1
                    break
        if sort is not None:
            columns = [name for name, _ in getattr(view, "_list_columns", [])]
            sortable = getattr(view, "_sortable_columns", {}) or {}
            if sort in columns and sort in sortable:
                args["sort"] = columns.index(sort)
                if desc:
                    args["desc"] = 1
        return url_for(f"{endpoint}.index_view", **args)


def dashboard_links(admin, kpis: dict, statuses: dict) -> dict:
    """Every link of the home page. `statuses`: the instance/subscription/ticket statuses shown."""
    links = ListLinks(admin)
    day_range = f"{_filter_time(kpis['dayStart'])} to {_filter_time(kpis['dayEnd'])}"
    completed_today = [("Status", "equals", "COMPLETED"), ("Created", "between", day_range)]
    active = ("Status", "equals", "ACTIVE")
    auto = ("Auto-renew", "equals", "1")
    waiting_tickets = [("Status", "not equal", "CLOSED")]  # no waiting-time filter: the inbox sorts by it
    out = {
        "customers": links.url("users", [("Role", "equals", "USER")], sort="created_at", desc=True),
        "newCustomers": links.url("users", [("Role", "equals", "USER")], sort="created_at", desc=True),
        "topUps": links.url("transactions", [("Type", "equals", "TOP_UP"), *completed_today]),
        "revenue": links.url("transactions", [("Type", "in list", "SUBSCRIPTION,UPGRADE"), *completed_today]),
        "mrr": links.url("subscriptions", [active, auto], sort="monthly_price", desc=True),
        "dueRenewals": links.url("subscriptions", [active, auto], sort="next_billing"),
        "inGrace": links.url("subscriptions", [active, ("Grace period", "is", "1")], sort="grace_period_end"),
        "services": links.url("services"),
        "plans": links.url("plans"),
        "tickets": links.url("tickets", waiting_tickets),
        "ticketStatus": {s: links.url("tickets", [("Status", "equals", s)]) for s in statuses["tickets"]},
        "instances": links.url("cluster_instances"),
        "instanceStatus": {s: links.url("cluster_instances", [("Status", "equals", s)])
                           for s in statuses["instances"]},
        "subscriptionStatus": {s: links.url("subscriptions", [("Status", "equals", s)])
                               for s in statuses["subscriptions"]},
        "subscriptions": links.url("subscriptions"),
    }
    return out


# ------------------------------------------------------------------------------------------------ charts
def _figure_html(fig) -> Markup:
    from .charts import figure_html

    fig.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=340, legend={"orientation": "h"})
    return figure_html(fig, template="plotly_white")


def charts(data: dict) -> dict[str, Markup]:
    import plotly.graph_objects as go

    from .charts import figure

    daily = data["daily"]
    days = [d["day"] for d in daily]
    money_fig = figure()
    money_fig.add_bar(x=days, y=[d["revenue"] for d in daily], name="Revenue (subscriptions + upgrades, IDR)")
    money_fig.add_scatter(x=days, y=[d["topUps"] for d in daily], name="Top-ups (IDR)", mode="lines")
    money_fig.update_layout(title=f"Revenue and top-ups per day (last {len(days)} days)")

    subs = data["subscriptions"]
    by_status = {k: v for k, v in subs["byStatus"].items() if v} or subs["byStatus"]
    status_fig = figure(go.Bar(x=list(by_status), y=list(by_status.values())))
    status_fig.update_layout(title="Subscriptions by status")

    services = subs["byService"][:15][::-1]
    service_fig = figure()
    shown = [s for s in subs["byStatus"] if any(row["byStatus"].get(s) for row in services)]
    for status in shown:
        service_fig.add_bar(orientation="h", name=status, y=[row["service"] for row in services],
                            x=[row["byStatus"].get(status, 0) for row in services])
    service_fig.update_layout(title="Subscriptions by service", barmode="stack", margin={"l": 120})

    tickets = data["tickets"]
    ticket_fig = figure(go.Bar(x=list(tickets["byStatus"]), y=list(tickets["byStatus"].values()),
                                  name="Tickets"))
    ticket_fig.update_layout(title="Ticket backlog by status")
    return {"money": _figure_html(money_fig), "subscriptionStatus": _figure_html(status_fig),
            "subscriptionService": _figure_html(service_fig), "tickets": _figure_html(ticket_fig)}


class ConsoleIndexView(AdminRequiredMixin, AdminIndexView):
    @expose("/")
    def index(self):
        from .. import clock
        from ..reporting.dashboard import overview

        data = overview()
        day_label = f"{clock.local(data['kpis']['dayStart']):%Y-%m-%d} ({clock.billing_zone().key})"
        statuses = {"tickets": list(data["tickets"]["byStatus"]), "instances": list(data["cluster"]["byStatus"]),
                    "subscriptions": list(data["subscriptions"]["byStatus"])}
        return self.render("console/index.html", counts=headline_counts(), data=data, charts=charts(data),
                           links=dashboard_links(self.admin, data["kpis"], statuses), money=money, day_label=day_label,
                           plotly_js=url_for("static", filename="vendor/plotly.min.js"))
