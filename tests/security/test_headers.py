"""Security headers (webapp/security.py) and pages that work under the Content-Security-Policy: no inline script,
no inline event handler on any console or portal page; charts are JSON data blocks; confirmations are attributes."""
from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from webapp.console.charts import figure_html, json_for_html


def _directives(response) -> dict[str, str]:
    policy = response.headers.get("Content-Security-Policy")
    assert policy, (response.request.path, dict(response.headers))
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()}


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline <script> code, on* attributes, javascript: URLs in forms."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.links: list[str] = []
        self._script_type: str | None = None
        self._script_src = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
        if tag == "script":
            self._script_type = (attrs.get("type") or "").lower()
            self._script_src = bool(attrs.get("src"))
        if tag == "form" and (attrs.get("action") or "").lower().startswith("javascript:"):
            self.problems.append("form action=javascript:")
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._script_type = None

    def handle_data(self, data):
        if self._script_type is not None and not self._script_src and data.strip() \
                and self._script_type != "application/json":
            self.problems.append(f"inline <script>: {data.strip()[:80]}")


def inline_code(html: str) -> InlineCode:
    parser = InlineCode()
    parser.feed(html)
    return parser


# --------------------------------------------------------------------------------------------------- headers
def test_html_pages_get_the_content_security_policy(client):
    for path in ("/portal/login", "/admin/login", "/portal/register", "/portal/forgot-password"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = _directives(response)
        assert csp["script-src"] == "'self'", path
        assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
        assert csp["frame-ancestors"] == "'none'"
        assert csp["form-action"].split()[0] == "'self'"
        assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-inline'" not in csp["default-src"]
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["X-Content-Type-Options"] == "nosniff"


def test_form_action_allows_exactly_the_payment_page_origin(client, app, monkeypatch):
    # No MIDTRANS_API_BASE_URL (the testing profile's default) -> the Snap sandbox host the top-up form redirects to.
    monkeypatch.setitem(app.config, "MIDTRANS_API_BASE_URL", None)
    monkeypatch.setitem(app.config, "MIDTRANS_IS_PRODUCTION", False)
    monkeypatch.setitem(app.config, "CSP_FORM_ACTION_ORIGINS", [])
    assert _directives(client.get("/portal/login"))["form-action"] == "'self' https://app.sandbox.midtrans.com"
    monkeypatch.setitem(app.config, "MIDTRANS_IS_PRODUCTION", True)
    assert _directives(client.get("/portal/login"))["form-action"] == "'self' https://app.midtrans.com"
    monkeypatch.setitem(app.config, "MIDTRANS_API_BASE_URL", "http://127.0.0.1:5558/some/path")  # the simulator
    monkeypatch.setitem(app.config, "CSP_FORM_ACTION_ORIGINS", ["https://pay.example.com/x", "not a url"])
    assert _directives(client.get("/portal/login"))["form-action"] == \
        "'self' http://127.0.0.1:5558 https://pay.example.com"


def test_hsts_only_when_configured(client, app, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/portal/login").headers
    monkeypatch.setitem(app.config, "HSTS_SECONDS", 31536000)
    for path in ("/portal/login", "/api/health"):
        assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_attachment_downloads_keep_their_stricter_policy(portal, customer, app, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path))
    portal.login_as(customer)
    image = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(image, "PNG")
    data = {"subject": "A screenshot", "description": "Here is what I see on the page.",
            "attachments": [(io.BytesIO(image.getvalue()), "shot.png")],
            "csrf_token": portal.token("/portal/tickets/new")}
    created = portal.client.post("/portal/tickets/new", data=data, content_type="multipart/form-data")
    assert created.status_code == 303
    html = portal.get(created.location).get_data(as_text=True)
    href = re.search(r'href="(/portal/tickets/attachments/[^"]+)"', html).group(1)
    download = portal.get(href)
    assert download.status_code == 200 and download.headers["Content-Security-Policy"] == "default-src 'none'"


# -------------------------------------------------------------------------------------- pages under the CSP
def _crawl(client, start: list[str], prefix: str, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """GET every same-site page linked from `start` under `prefix` (one level deep); {path: problems}."""
    seen, found = set(), {}
    queue = list(start)
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        parsed = inline_code(response.get_data(as_text=True))
        found[path] = parsed.problems
        if path in start:
            for href in parsed.links:
                target = urlsplit(href)
                if not target.netloc and target.path.startswith(prefix) and not target.path.startswith(skip) \
                        and "logout" not in target.path:
                    queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return found


def test_no_console_page_has_inline_script_or_handlers(console, client, admin, make):
    customer = make.user(email="crawl-customer@example.com")
    plan = make.plan()
    make.subscription(user=customer, plan=plan)
    console.login_as(admin)
    pages = _crawl(client, ["/admin/", f"/admin/customers/{customer.id}"], "/admin/", skip=("/admin/cluster/",))
    assert len(pages) >= 15, sorted(pages)
    problems = {path: found for path, found in pages.items() if found}
    assert problems == {}
    services = client.get("/admin/services/").get_data(as_text=True)
    # Flask-Admin's delete button: no inline handler; a non-submit button the console script confirms then submits.
    assert re.search(r'<button type="button" data-confirm="Are you sure you want to delete this record\?"', services)
    assert "/static/console/console.js" in services and "faHelpers.safeConfirm" not in services


def test_no_portal_page_has_inline_script_or_handlers(portal, client, customer, make):
    plan = make.plan()
    anonymous = _crawl(client, ["/portal/login"], "/portal/")
    portal.login_as(customer)
    signed_in = _crawl(client, ["/portal/catalog", "/portal/wallet", f"/portal/services/{plan.service.slug}"],
                       "/portal/")
    pages = {**anonymous, **signed_in}
    assert len(pages) >= 8, sorted(pages)
    assert {path: found for path, found in pages.items() if found} == {}


def test_console_charts_are_json_data_blocks(console, client, admin):
    console.login_as(admin)
    html = client.get("/admin/").get_data(as_text=True)
    assert inline_code(html).problems == []
    blocks = re.findall(r'<div id="([^"]+)" class="plotly-graph-div" data-plotly-figure="([^"]+)"', html)
    assert len(blocks) == 4
    traces = 0
    for chart_id, data_id in blocks:
        assert data_id == f"{chart_id}-data"
        raw = re.search(rf'<script type="application/json" id="{data_id}">(.*?)</script>', html, re.S).group(1)
        spec = json.loads(raw)
        assert spec["figure"]["layout"]["title"] and spec["config"]["displaylogo"] is False
        traces += len(spec["figure"].get("data", []))
    assert traces >= 3
    assert "/static/console/charts.js" in html and "/static/vendor/plotly.min.js" in html


@pytest.mark.parametrize("label", ["</script><script>alert(1)</script>", "<!--", "a & b", "\u2028line"])
def test_chart_json_cannot_break_out_of_its_data_block(label):
    import plotly.graph_objects as go

    html = str(figure_html(go.Figure(go.Bar(x=[label], y=[1])), height=300))
    body = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S).group(1)
    assert "<" not in body and ">" not in body and "&" not in body
    assert json.loads(body)["figure"]["data"][0]["x"] == [label]
    assert html.count("</script>") == 1 and 'style="height:300px; width:100%;"' in html
    assert json.loads(json_for_html({"k": label})) == {"k": label}
