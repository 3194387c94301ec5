"""Console Billing page (KPIs, Plotly charts rendered on the server, the scheduled jobs with "run now" buttons and
their runs) and the notification Outbox page.

"Run now" never runs a pass in the request: it records a queued run (Redis) and enqueues
`jobs.billing.run_job` through the job outbox (after the commit); the run page shows its status and result,
refreshing itself until the job is done. Charts are embedded as JSON (`console.charts.figure_html`, no inline script) and drawn by `static/console/charts.js` with
the local `static/vendor/plotly.min.js` (no CDN).
"""
from __future__ import annotations

import json

from flask import abort, flash, redirect, url_for
from flask_admin import expose
from markupsafe import Markup, escape
from wtforms import HiddenField
from wtforms.validators import InputRequired

from ..db import isoformat
from ..extensions import db
from ..notifications.models import Notification
from .base import SecureBaseView, SecureForm, SecureModelView


class RunJobForm(SecureForm):
    job = HiddenField(validators=[InputRequired()])


def _figure_html(fig) -> str:
    from .charts import figure_html

    return figure_html(fig, height=320)


def charts(data: dict) -> dict[str, str]:
    import plotly.graph_objects as go

    from .charts import figure

    daily = data["daily"]
    days = [d["day"] for d in daily]
    revenue = figure()
    revenue.add_bar(x=days, y=[d["renewalRevenue"] for d in daily], name="Renewal revenue (IDR)")
    revenue.add_scatter(x=days, y=[d["revenue"] for d in daily], name="All subscription revenue (IDR)",
                        mode="lines+markers")
    revenue.update_layout(title="Revenue by day", margin=dict(l=40, r=20, t=40, b=40), legend=dict(orientation="h"))
    renewals = figure(go.Bar(x=days, y=[d["renewals"] for d in daily], name="Renewals"))
    renewals.update_layout(title="Renewals by day", margin=dict(l=40, r=20, t=40, b=40))
    by_status = data["byStatus"]
    status = figure(go.Bar(x=list(by_status), y=list(by_status.values())))
    status.update_layout(title="Subscriptions by status", margin=dict(l=40, r=20, t=40, b=40))
    by_service = data["byService"]
    service = figure(go.Bar(x=[r["active"] for r in by_service], y=[r["service"] for r in by_service],
                               orientation="h"))
    service.update_layout(title="Active subscriptions by service", margin=dict(l=120, r=20, t=40, b=40))
    return {"revenue": _figure_html(revenue), "renewals": _figure_html(renewals), "status": _figure_html(status),
            "service": _figure_html(service)}


class BillingView(SecureBaseView):
    @expose("/")
    def index(self):
        from ..subscriptions.billing_stats import dashboard
        from ..subscriptions.scheduler import JOBS, current_settings, scheduler_state

        data = dashboard()
        try:
            state = scheduler_state()
            redis_error = None
        except Exception as exc:  # noqa: BLE001 - Redis down: the page still shows the numbers
            state, redis_error = {"isRunning": False, "jobs": [], "scheduler": {}}, str(exc)
        return self.render("console/billing/index.html", data=data, charts=charts(data), state=state,
                           jobs=JOBS, settings=current_settings(), form=RunJobForm(), redis_error=redis_error,
                           money=_money)

    @expose("/run/", methods=("POST",))
    def run(self):
        from ..outbox import enqueue
        from ..subscriptions.scheduler import JOBS, new_run

        form = RunJobForm()
        name = form.job.data if form.validate_on_submit() else None
        if name not in JOBS:
            flash("Invalid job name", "error")
            return redirect(url_for(".index"))
        run_id = new_run(name, source="console")
        enqueue("jobs.billing.run_job", name, run_id=run_id, source="console")
        db.session.commit()  # the outbox pushes the job to the queue after this commit
        flash(f"Job {name} queued.", "success")
        return redirect(url_for(".run_status", run_id=run_id))

    @expose("/runs/<run_id>")
    def run_status(self, run_id: str):
        from ..subscriptions.scheduler import get_run

        run = get_run(run_id)
        if run is None:
            abort(404)
        done = run.get("status") in ("finished", "failed")
        result = json.dumps(run.get("result"), indent=2, ensure_ascii=False) if run.get("result") is not None else ""
        return self.render("console/billing/run.html", run=run, done=done, result=result)


def _money(value) -> str:
    return f"{int(value or 0):,}".replace(",", ".")


def _data(view, context, model, name):
    value = getattr(model, name)
    if value is None:
        return ""
    return Markup("<pre class='mb-0 small'>%s</pre>") % escape(json.dumps(value, indent=1, ensure_ascii=False,
                                                                         default=str))


def _enum(view, context, model, name):
    value = getattr(model, name)
    return getattr(value, "value", value)


class OutboxView(SecureModelView):
    """Every notification recorded (the outbox): newest first, filter by type and status."""

    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["created_at", "type", "status", "recipient", "subject", "attempts", "sent_at", "last_error"]
    column_details_list = ["id", "created_at", "type", "status", "recipient", "user_id", "subscription_id",
                           "dedupe_key", "subject", "body", "data", "attempts", "last_error", "sent_at", "read_at"]
    column_export_list = ["id", "created_at", "type", "status", "recipient", "subscription_id", "subject", "body",
                          "attempts", "sent_at"]
    column_filters = ["type", "status", "recipient", "created_at"]
    column_searchable_list = ["recipient", "subject", "dedupe_key"]
    column_sortable_list = ["created_at", "type", "status", "recipient", "sent_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_labels = {"created_at": "Created", "sent_at": "Sent", "last_error": "Last error", "dedupe_key": "Event key",
                     "id": "ID"}
    column_formatters = {"type": _enum, "status": _enum}
    column_formatters_detail = {"data": _data, "type": _enum, "status": _enum}
    column_formatters_export = {"type": _enum, "status": _enum}

    def __init__(self, session_or_db, **kwargs):
        super().__init__(Notification, session_or_db, **kwargs)


def register_views(admin, db) -> None:
    admin.add_view(BillingView(name="Billing", endpoint="billing", url="billing"))
    admin.add_view(OutboxView(db, name="Outbox", endpoint="outbox", url="outbox"))


__all__ = ["BillingView", "OutboxView", "charts", "isoformat"]
