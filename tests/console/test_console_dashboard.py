"""The console home (`/admin/`): today's numbers, health tables, Plotly charts, and links to the filtered lists."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

from webapp.billing.models import TransactionStatus, TransactionType
from webapp.cluster.models import InstanceStatus
from webapp.db import utcnow
from webapp.reporting import dashboard
from webapp.subscriptions.models import SubscriptionStatus
from webapp.support.models import TicketStatus

from ..reporting.builders import count_queries, instance, ticket, tx
from .conftest import BCRYPT_PREFIX
from .test_console import is_login_redirect

T = TransactionType


def _kpi(html: str, key: str) -> str:
    match = re.search(rf'data-kpi="{re.escape(key)}"[^>]*>([^<]*)<', html)
    assert match, key
    return match.group(1).strip()


def _link(html: str, key: str) -> str:
    match = re.search(rf'href="([^"]+)"[^>]*data-link="{re.escape(key)}"', html)
    assert match, key
    return unescape(match.group(1))


def _data(make, tag: str = ""):
    """3 top-ups today (and one yesterday), revenue, subscriptions (one in grace), tickets, instances."""
    day = dashboard.today()
    alice, bob = make.user(email=f"alice{tag}@dash.test"), make.user(email=f"bob{tag}@dash.test")
    rows = {"topups": [tx(alice, a) for a in (10_000, 20_000, 30_000)],
            "old_topup": tx(bob, 99_000, at=day.start - timedelta(hours=2)),
            "charge": tx(alice, 50_000, T.SUBSCRIPTION), "upgrade": tx(bob, 15_000, T.UPGRADE),
            "pending": tx(bob, 40_000, status=TransactionStatus.PENDING)}
    now = utcnow()
    rows["grace"] = make.subscription(user=alice, plan=make.plan(), monthly_price=100_000,
                                      grace_period_end=now + timedelta(days=3), next_billing=now + timedelta(hours=3))
    rows["active"] = make.subscription(user=bob, plan=make.plan(), monthly_price=50_000,
                                       next_billing=now + timedelta(days=20))
    rows["expired"] = make.subscription(user=bob, plan=make.plan(), status=SubscriptionStatus.EXPIRED,
                                        next_billing=None)
    rows["error"] = instance(rows["grace"], InstanceStatus.ERROR)
    rows["running"] = instance(rows["active"], InstanceStatus.RUNNING)
    rows["t_new"] = ticket(alice, waiting_for=timedelta(hours=3), subject="Fresh question")
    rows["t_old"] = ticket(bob, waiting_for=timedelta(days=4), subject="Old question")
    rows["t_done"] = ticket(bob, TicketStatus.CLOSED, waiting_for=None, subject="Closed question")
    return rows


def test_home_shows_todays_numbers(signed_in, make):
    _data(make)
    r = signed_in.client.get("/admin/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert _kpi(html, "top-ups") == "3"
    assert _kpi(html, "top-up-amount") == "60.000"
    assert _kpi(html, "revenue") == "65.000"
    assert _kpi(html, "new-customers") == "2"            # the admin is not a customer
    assert _kpi(html, "mrr") == "150.000"
    assert _kpi(html, "due-renewals") == "1"
    assert _kpi(html, "in-grace") == "1"
    assert _kpi(html, "instance-errors") == "1"
    assert _kpi(html, "instances-ERROR") == "1" and _kpi(html, "instances-RUNNING") == "1"
    assert _kpi(html, "tickets-open") == "2"
    assert (_kpi(html, "tickets-lt1d"), _kpi(html, "tickets-1to3d"), _kpi(html, "tickets-gt3d")) == ("1", "0", "1")
    assert _kpi(html, "subscriptions-ACTIVE") == "2" and _kpi(html, "subscriptions-EXPIRED") == "1"
    # the ERROR count is highlighted
    assert re.search(r'class="table-danger[^"]*"[^>]*>\s*<td>ERROR</td>', html)


def test_home_renders_when_empty_with_server_side_charts(signed_in):
    r = signed_in.client.get("/admin/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert _kpi(html, "top-ups") == "0" and _kpi(html, "mrr") == "0" and _kpi(html, "instance-errors") == "0"
    for chart in ("money", "subscription-status", "subscription-service", "tickets"):
        assert re.search(rf'data-chart="{chart}"><div[^>]*>\s*<div id="[^"]+" class="plotly-graph-div"', html), chart
    assert html.count("data-plotly-figure=") == 4 and "Plotly.newPlot" not in html  # drawn by static/console/charts.js
    assert '<script src="/static/vendor/plotly.min.js"' in html
    assert "cdn.plot.ly" not in html
    assert signed_in.client.get("/static/vendor/plotly.min.js").status_code == 200


def test_every_link_on_the_home_page_opens_a_list(signed_in, make):
    _data(make)
    html = signed_in.client.get("/admin/").get_data(as_text=True)
    body = html.split('data-section="today"', 1)[1]
    links = {unescape(h) for h in re.findall(r'href="(/admin/[^"]*)"', body)}
    assert len(links) >= 15
    for url in sorted(links):
        response = signed_in.client.get(url)
        assert response.status_code == 200, url
        assert "Invalid search or filter value" not in response.get_data(as_text=True), url
        assert "invalid filter value" not in response.get_data(as_text=True).lower(), url


def test_links_filter_the_lists_to_the_counted_rows(signed_in, make):
    rows = _data(make)
    html = signed_in.client.get("/admin/").get_data(as_text=True)

    top_ups = signed_in.client.get(_link(html, "top-ups")).get_data(as_text=True)
    for row in rows["topups"]:
        assert row.custom_id in top_ups
    for other in ("old_topup", "charge", "pending"):
        assert rows[other].custom_id not in top_ups, other

    revenue = signed_in.client.get(_link(html, "revenue")).get_data(as_text=True)
    assert rows["charge"].custom_id in revenue and rows["upgrade"].custom_id in revenue
    assert rows["topups"][0].custom_id not in revenue

    grace = signed_in.client.get(_link(html, "in-grace")).get_data(as_text=True)
    assert f"id={rows['grace'].id}" in grace and f"id={rows['active'].id}" not in grace

    errors = signed_in.client.get(_link(html, "instance-errors")).get_data(as_text=True)
    assert rows["error"].name in errors and rows["running"].name not in errors

    tickets = signed_in.client.get(_link(html, "tickets")).get_data(as_text=True)
    assert "Fresh question" in tickets and "Old question" in tickets and "Closed question" not in tickets

    customers = _link(html, "new-customers")
    query = parse_qs(urlsplit(customers).query)
    assert "sort" in query and query.get("desc") == ["1"]
    page = signed_in.client.get(customers).get_data(as_text=True)
    listing = page.split("Sign out", 1)[1]
    assert "alice@dash.test" in listing and "boss@poddesk.example.com" not in listing   # customers only


def test_home_runs_a_constant_number_of_queries(signed_in, make):
    _data(make)
    with count_queries() as small:
        assert signed_in.client.get("/admin/").status_code == 200
    for n in range(5):
        _data(make, str(n))
    with count_queries() as big:
        assert signed_in.client.get("/admin/").status_code == 200
    assert small[0] == big[0]


def test_home_is_for_administrators_only(console, client, make, customer):
    assert is_login_redirect(client.get("/admin/"))
    console.force_session(customer)
    assert client.get("/admin/").status_code == 403


def test_home_shows_no_secrets(signed_in, make):
    _data(make)
    html = signed_in.client.get("/admin/").get_data(as_text=True)
    assert BCRYPT_PREFIX not in html and "password_hash" not in html and "token_version" not in html
