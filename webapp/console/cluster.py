"""Console pages of the live Kubernetes cluster (Plotly) and of the app instances, under the "Cluster" menu.

Pages read through `cluster.monitoring` (one list call per resource) and build figures server-side, embedded as JSON by
`console.charts.figure_html` (no inline script) and drawn by `static/console/charts.js` with the local
`static/vendor/plotly.min.js` (no CDN). When the cluster cannot be reached a page answers 200 with a banner.
Tables are sorted, filtered and paged on the server (a cluster can have thousands of pods).
Instance actions (restart, stop, start, retry) call `cluster.services` through `call_service`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from flask import flash, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup, escape

from ..cluster.client import ClusterUnavailable
from ..cluster.models import InstanceStatus, ServiceInstance
from .base import SecureBaseView, SecureModelView, call_service, current_admin
from .charts import figure, figure_html

PAGE_SIZE = 100
CATEGORY = "Cluster"
PHASE_COLOURS = {"Running": "#2ca02c", "Pending": "#ff7f0e", "Failed": "#d62728", "Succeeded": "#1f77b4",
                 "Unknown": "#7f7f7f"}


# ------------------------------------------------------------------------------------------------ helpers
def _read(fn: Callable, *args, **kwargs):
    """(data, banner): the banner explains an unreachable cluster instead of a 500."""
    try:
        return fn(*args, **kwargs), None
    except ClusterUnavailable as exc:
        return None, f"The Kubernetes cluster is unreachable ({exc.text}). Live data cannot be shown right now."


def _figure_html(fig) -> Markup:
    fig.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=360)
    return figure_html(fig, template="plotly_white")


def age(timestamp: str | None, now: datetime | None = None) -> str:
    if not timestamp:
        return ""
    try:
        created = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return ""
    seconds = int(((now or datetime.now(timezone.utc)) - created).total_seconds())
    if seconds < 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            big, rest = divmod(seconds, size)
            small = {"d": ("h", 3600), "h": ("m", 60), "m": ("s", 1)}[unit]
            extra = rest // small[1]
            return f"{big}{unit}{extra}{small[0]}" if extra and unit != "m" else f"{big}{unit}"
    return f"{seconds}s"


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    try:
        return min(hi, max(lo, int(request.args.get(name, default))))
    except (TypeError, ValueError):
        return default


def _text_arg(name: str, max_len: int = 100) -> str:
    return (request.args.get(name) or "").replace("\x00", "").strip()[:max_len]


def _sort_rows(rows: list[dict], sortable: dict[str, Callable], default: str) -> tuple[list[dict], str, bool]:
    key = request.args.get("sort", default)
    if key not in sortable:
        key = default
    desc = request.args.get("desc") == "1"
    return sorted(rows, key=sortable[key], reverse=desc), key, desc


def _page(rows: list, page: int) -> tuple[list, int]:
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], pages


class ClusterView(SecureBaseView):
    """A console page of live cluster data."""

    def render_page(self, template: str, **context):
        return self.render(template, plotly_js=url_for("static", filename="vendor/plotly.min.js"), **context)


# ------------------------------------------------------------------------------------------------ nodes
class NodesView(ClusterView):
    @expose("/")
    def index(self):
        from ..cluster import monitoring

        rows, banner = _read(monitoring.node_capacity_rows)
        figures = []
        if rows:
            names = [r["name"] for r in rows]
            for title, prefix, unit in (("CPU (millicores)", "cpu", "m"), ("Memory (MiB)", "mem", "MiB")):
                fig = figure()
                fig.add_bar(name="Requested", x=names, y=[r[f"{prefix}Requested"] for r in rows])
                fig.add_bar(name="Used", x=names, y=[r[f"{prefix}Used"] or 0 for r in rows])
                fig.add_bar(name="Allocatable", x=names, y=[r[f"{prefix}Allocatable"] for r in rows])
                fig.update_layout(title=title, barmode="group", yaxis_title=unit)
                figures.append(_figure_html(fig))
        return self.render_page("console/cluster/nodes.html", rows=rows or [], banner=banner, figures=figures)


# ------------------------------------------------------------------------------------------------ pods
class PodsView(ClusterView):
    SORTABLE = {"name": lambda p: p["name"], "namespace": lambda p: (p["namespace"] or "", p["name"]),
                "status": lambda p: (p["status"] or "", p["name"]), "restarts": lambda p: (p["restarts"], p["name"]),
                "age": lambda p: p["createdAt"] or "", "node": lambda p: (p["nodeName"] or "", p["name"]),
                "cpu": lambda p: (p["cpu"], p["name"]), "memory": lambda p: (p["memory"], p["name"])}

    @expose("/")
    def index(self):
        from ..cluster import monitoring

        namespace, status = _text_arg("namespace", 63), _text_arg("status", 20)
        pods, banner = _read(monitoring.pod_summaries)
        pods = pods or []
        namespaces = sorted({p["namespace"] for p in pods if p["namespace"]})
        phases = sorted({p["status"] for p in pods if p["status"]})
        shown = [p for p in pods if (not namespace or p["namespace"] == namespace)
                 and (not status or p["status"] == status)]
        figures = self._figures(shown) if shown else []
        shown, sort, desc = _sort_rows(shown, self.SORTABLE, "namespace")
        page_rows, pages = _page(shown, _int_arg("page", 1, 1, 100000))
        now = datetime.now(timezone.utc)
        for pod in page_rows:
            pod["age"] = age(pod["createdAt"], now)
        return self.render_page("console/cluster/pods.html", pods=page_rows, total=len(shown), all_total=len(pods),
                                banner=banner, figures=figures, namespaces=namespaces, phases=phases,
                                namespace=namespace, status=status, sort=sort, desc=desc,
                                page=_int_arg("page", 1, 1, pages), pages=pages)

    @staticmethod
    def _figures(pods: list[dict]) -> list[Markup]:
        import plotly.graph_objects as go

        counts: dict[str, int] = {}
        for pod in pods:
            counts[pod["status"] or "Unknown"] = counts.get(pod["status"] or "Unknown", 0) + 1
        phases = sorted(counts)
        fig = figure(go.Bar(x=phases, y=[counts[p] for p in phases],
                               marker_color=[PHASE_COLOURS.get(p, "#9467bd") for p in phases]))
        fig.update_layout(title="Pods per phase")
        figures = [_figure_html(fig)]
        for title, key, unit in (("Top CPU consumers (millicores)", "cpu", "m"),
                                 ("Top memory consumers (MiB)", "memory", "MiB")):
            top = sorted(pods, key=lambda p: p[key], reverse=True)[:10][::-1]
            fig = figure(go.Bar(orientation="h", x=[p[key] for p in top],
                                   y=[f"{p['namespace']}/{p['name']}" for p in top]))
            fig.update_layout(title=title, xaxis_title=unit)
            figures.append(_figure_html(fig))
        return figures


# ------------------------------------------------------------------------------------------------ tables
class _TableView(ClusterView):
    """Deployments, services, ingresses, namespaces: one list call, server-side filter/sort/paging."""

    title = ""
    loader: Callable | None = None
    key = ""
    columns: list[tuple[str, str]] = []  # (sort key, label)

    def cells(self, row: dict) -> list:
        raise NotImplementedError

    def sortable(self) -> dict[str, Callable]:
        return {"name": lambda r: r["name"], "namespace": lambda r: (r.get("namespace") or "", r["name"]),
                "age": lambda r: r.get("createdAt") or ""}

    def extra(self, rows: list[dict]) -> dict:
        return {}

    @expose("/")
    def index(self):
        namespace, query = _text_arg("namespace", 63), _text_arg("q")
        data, banner = _read(type(self).loader)
        rows = (data or {}).get(self.key, [])
        namespaces = sorted({r.get("namespace") for r in rows if r.get("namespace")})
        shown = [r for r in rows if (not namespace or r.get("namespace") == namespace)
                 and (not query or query.lower() in r["name"].lower())]
        shown, sort, desc = _sort_rows(shown, self.sortable(), "namespace" if rows and "namespace" in rows[0] else "name")
        page_rows, pages = _page(shown, _int_arg("page", 1, 1, 100000))
        context = self.extra(page_rows)
        now = datetime.now(timezone.utc)
        table = [self.cells({**r, "age": age(r.get("createdAt"), now)}, **context) for r in page_rows]
        return self.render_page("console/cluster/table.html", title=self.title, columns=self.columns, table=table,
                                total=len(shown), banner=banner, namespaces=namespaces, namespace=namespace,
                                q=query, sort=sort, desc=desc, page=_int_arg("page", 1, 1, pages), pages=pages,
                                has_namespace=bool(rows) and "namespace" in rows[0])


def _loader(name: str) -> Callable:
    def load():
        from ..cluster import monitoring

        return getattr(monitoring, name)()

    return load


class DeploymentsView(_TableView):
    title, key = "Deployments", "deployments"
    loader = staticmethod(_loader("list_deployments"))
    columns = [("namespace", "Namespace"), ("name", "Name"), ("ready", "Ready"), ("", "Images"),
               ("", "Requests / limits"), ("age", "Age")]

    def sortable(self):
        return {**super().sortable(), "ready": lambda r: (r["readyReplicas"], r["name"])}

    def cells(self, r, **_):
        c = r["containers"][0] if r["containers"] else {"resources": {"requests": {}, "limits": {}}}
        res = c["resources"]
        return [r["namespace"], r["name"], f"{r['readyReplicas']}/{r['replicas']}", ", ".join(r["images"]),
                f"{res['requests'].get('cpu')} / {res['requests'].get('memory')} · "
                f"{res['limits'].get('cpu')} / {res['limits'].get('memory')}", r["age"]]


class ServicesView(_TableView):
    title, key = "Services", "services"
    loader = staticmethod(_loader("list_services"))
    columns = [("namespace", "Namespace"), ("name", "Name"), ("type", "Type"), ("", "Cluster IP"), ("", "Ports"),
               ("", "Selector"), ("age", "Age")]

    def sortable(self):
        return {**super().sortable(), "type": lambda r: (r["type"], r["name"])}

    def cells(self, r, **_):
        ports = ", ".join(f"{p['port']}→{p['targetPort']}/{p['protocol']}" for p in r["ports"])
        selector = ", ".join(f"{k}={v}" for k, v in r["selector"].items())
        return [r["namespace"], r["name"], r["type"], r["clusterIP"], ports, selector, r["age"]]


class NamespacesView(_TableView):
    title, key = "Namespaces", "namespaces"
    loader = staticmethod(_loader("list_namespaces"))
    columns = [("name", "Name"), ("status", "Status"), ("", "Labels"), ("age", "Age")]

    def sortable(self):
        return {"name": lambda r: r["name"], "status": lambda r: (r["status"] or "", r["name"]),
                "age": lambda r: r.get("createdAt") or ""}

    def cells(self, r, **_):
        return [r["name"], r["status"], ", ".join(f"{k}={v}" for k, v in (r.get("labels") or {}).items()), r["age"]]


class IngressesView(_TableView):
    title, key = "Ingresses", "ingresses"
    loader = staticmethod(_loader("list_ingresses"))
    columns = [("namespace", "Namespace"), ("name", "Name"), ("", "Hosts"), ("", "TLS"), ("", "Backends"),
               ("", "Address"), ("", "Instance / customer"), ("age", "Age")]

    def extra(self, rows):
        from ..cluster.monitoring import ingress_owners

        ids = {(r.get("labels") or {}).get("instance") for r in rows}
        return {"owners": ingress_owners({i for i in ids if i})}

    def cells(self, r, owners=None, **_):
        owner = (owners or {}).get((r.get("labels") or {}).get("instance"))
        if owner:
            link = Markup('<a href="{}">{}</a> · {} ({})').format(
                url_for("cluster_instances.live_view", id=owner["instanceId"]), owner["service"], owner["email"],
                owner["status"])
        else:
            link = ""
        tls = "; ".join(f"{t['secretName']} ({', '.join(t['hosts'])})" for t in r["tls"]) or "none"
        backends = ", ".join(f"{p['path']} → {p['serviceName']}:{p['servicePort']}" for p in r["paths"])
        return [r["namespace"], r["name"], ", ".join(r["hosts"]), tls, backends, ", ".join(r["externalIPs"]), link,
                r["age"]]


# ------------------------------------------------------------------------------------------------ instances
def _status_badge(view, context, model, name):
    colour = {InstanceStatus.RUNNING: "success", InstanceStatus.ERROR: "danger", InstanceStatus.STOPPED: "secondary",
              InstanceStatus.TERMINATED: "dark"}.get(model.status, "warning")
    return Markup('<span class="badge badge-{}">{}</span>').format(colour, model.status.value)


def _name_link(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(url_for(".live_view", id=model.id), model.name)


ACTIONS = {"restart": "restart_instance", "stop": "stop_instance", "start": "start_instance",
           "retry": "retry_provisioning"}


class InstancesView(SecureModelView):
    """Every instance (database), each with a live page: objects, events, last log lines, actions."""

    column_list = ["name", "status", "health_status", "namespace", "subdomain", "last_health_check", "created_at"]
    column_details_list = ["id", "subscription_id", "name", "status", "health_status", "namespace", "pod_name",
                           "deployment_name", "service_name", "ingress_name", "subdomain", "public_url", "cpu_usage",
                           "memory_usage", "health_failures", "last_started", "last_stopped", "last_health_check",
                           "created_at", "updated_at"]
    column_export_list = column_details_list
    column_searchable_list = ["name", "subdomain", "namespace", "id"]
    column_filters = ["status"]
    column_sortable_list = ["name", "status", "namespace", "last_health_check", "created_at"]
    column_default_sort = [("created_at", True)]
    column_formatters = {"status": _status_badge, "name": _name_link}
    column_labels = {"health_status": "Health", "last_health_check": "Last check", "created_at": "Created"}

    def __init__(self, session_or_db, **kwargs):
        super().__init__(ServiceInstance, session_or_db, **kwargs)

    @expose("/live/")
    def live_view(self):
        from ..cluster import monitoring

        instance = self.get_one(request.args.get("id", ""))
        if instance is None:
            flash("Service instance not found", "error")
            return redirect(self.get_url(".index_view"))
        sub = instance.subscription
        info = {"instance": instance, "customer": sub.user, "service": sub.service, "plan": sub.plan}
        live, banner = _read(monitoring.instance_objects, instance.namespace, instance.id,
                             instance.deployment_name or instance.name)
        return self.render("console/cluster/instance.html", plotly_js=url_for("static", filename="vendor/plotly.min.js"),
                           live=live, banner=banner, actions=list(ACTIONS), **info)

    @expose("/live/action/", methods=("POST",))
    def action_post(self):
        from flask_wtf.csrf import validate_csrf
        from wtforms import ValidationError

        from ..cluster import services

        instance_id = request.form.get("id", "")
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            flash("The form expired; try again.", "error")
            return redirect(self.get_url(".live_view", id=instance_id))
        action = request.form.get("action", "")
        instance = self.get_one(instance_id)
        if instance is None or action not in ACTIONS:
            flash("Service instance not found" if instance is None else "Unknown action", "error")
            return redirect(self.get_url(".index_view"))
        def act(instance):
            from ..audit.services import record

            before = instance.status.value
            changed = getattr(services, ACTIONS[action])(instance)
            record(actor=current_admin(), action=f"instance.{action}", target_type="instance", target_id=instance.id,
                   before={"status": before}, after={"status": changed.status.value}, source="console")
            return changed

        ok, _ = call_service(act, instance)
        if ok:
            flash(f"{action.capitalize()} requested; it runs in the background.", "success")
        return redirect(self.get_url(".live_view", id=instance_id))


def register_views(admin, db) -> None:
    admin.add_view(NodesView(name="Nodes", endpoint="cluster_nodes", url="cluster/nodes", category=CATEGORY))
    admin.add_view(PodsView(name="Pods", endpoint="cluster_pods", url="cluster/pods", category=CATEGORY))
    admin.add_view(DeploymentsView(name="Deployments", endpoint="cluster_deployments", url="cluster/deployments",
                                   category=CATEGORY))
    admin.add_view(ServicesView(name="Services", endpoint="cluster_services", url="cluster/services",
                                category=CATEGORY))
    admin.add_view(IngressesView(name="Ingresses", endpoint="cluster_ingresses", url="cluster/ingresses",
                                 category=CATEGORY))
    admin.add_view(NamespacesView(name="Namespaces", endpoint="cluster_namespaces", url="cluster/namespaces",
                                  category=CATEGORY))
    admin.add_view(InstancesView(db, name="Instances", endpoint="cluster_instances", url="cluster/instances",
                                 category=CATEGORY))


__all__ = ["register_views", "age", "escape"]
