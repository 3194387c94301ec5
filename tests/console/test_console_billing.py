"""Console: Subscriptions list (search, filters, columns) and lifecycle actions with CSRF and audit rows; the
Billing page (KPIs, server-rendered Plotly charts, run-now through the outbox, run status); the Outbox page."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from jobs.queue import get_queue, redis_connection, run_burst
from tests.console.conftest import flashed_text, reload
from tests.notifications.billing_helpers import instances_stub  # noqa: F401 (fixture)
from webapp import clock
from webapp.audit.models import AuditEntry
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionType
from webapp.extensions import db
from webapp.notifications.models import NotificationType
from webapp.notifications.services import notify
from webapp.subscriptions.models import SubscriptionStatus

S = SubscriptionStatus


@pytest.fixture(autouse=True)
def _clean(app, instances_stub):
    redis_connection().flushdb()
    yield
    get_queue().empty()
    redis_connection().flushdb()


@pytest.fixture
def subs(make):
    alice = make.user(email="alice@shop.example.com", credit_balance=200_000)
    bob = make.user(email="bob@shop.example.com", credit_balance=0)
    ghost = make.service(name="Ghost Blog")
    n8n = make.service(name="N8N Flows")
    ghost_plan = make.plan(service=ghost, monthly_price=40_000, used_quota=1)
    n8n_plan = make.plan(service=n8n, monthly_price=60_000, used_quota=1)
    now = clock.now()
    a = make.subscription(user=alice, plan=ghost_plan, start_date=now - timedelta(days=10),
                          end_date=now + timedelta(days=20), next_billing=now + timedelta(days=20),
                          monthly_price=40_000)
    b = make.subscription(user=bob, plan=n8n_plan, start_date=now - timedelta(days=31),
                          end_date=now - timedelta(days=1), next_billing=now - timedelta(days=1),
                          monthly_price=60_000, grace_period_end=now + timedelta(days=6), failed_charges=1)
    # What Alice paid for her current period (the refund base of cancel-with-refund).
    ledger.debit(alice.id, 40_000, type=TransactionType.SUBSCRIPTION, description="Subscription to Ghost",
                 subscription_id=a.id)
    return a, b


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return flashed_text(response)


def test_pages_need_an_administrator(console, make):
    for url in ("/admin/subscriptions/", "/admin/billing/", "/admin/outbox/"):
        assert console.client.get(url).status_code == 302
    console.force_session(make.user())
    for url in ("/admin/subscriptions/", "/admin/billing/", "/admin/outbox/"):
        assert console.client.get(url).status_code == 403


def test_subscription_list_search_and_filters(signed_in, subs):
    a, b = subs
    html = page(signed_in.client, "/admin/subscriptions/")
    assert "alice@shop.example.com" in html and "bob@shop.example.com" in html
    assert "Next billing" in html and "Failed charges" in html and "Grace until" in html
    html = page(signed_in.client, "/admin/subscriptions/?search=alice@shop")
    assert "alice@shop.example.com" in html and "bob@shop.example.com" not in html
    html = page(signed_in.client, "/admin/subscriptions/?search=N8N")
    assert "bob@shop.example.com" in html and "alice@shop.example.com" not in html
    from webapp.console.subscriptions import SubscriptionView

    sv = next(v for v in signed_in.client.application.extensions["poddesk_console"]._views
              if isinstance(v, SubscriptionView))
    keys = {flt.name: key for key, (idx, flt) in sv._filter_args.items()}
    html = page(signed_in.client, f"/admin/subscriptions/?flt0_{keys['Grace period']}=1")
    assert "bob@shop.example.com" in html and "alice@shop.example.com" not in html
    html = page(signed_in.client, f"/admin/subscriptions/?flt0_{keys['Plan']}={a.plan_id}")
    assert "alice@shop.example.com" in html and "bob@shop.example.com" not in html
    html = page(signed_in.client, f"/admin/subscriptions/?flt0_{keys['Plan']}=nonsense")
    assert "Invalid Filter Value" in html or "Invalid" in html  # flashed, never a 500


def _manage(signed_in, sub):
    return f"/admin/subscriptions/manage/?id={sub.id}"


def test_extend_with_reason_is_audited(signed_in, subs, admin):
    a, _ = subs
    before = a.end_date
    url = _manage(signed_in, a)
    response = signed_in.post_form(url, {"days": "5", "reason": "Goodwill after an outage"},
                                   post_url=url + "&op=extend")
    assert response.status_code == 200 and "Extended by 5 days" in flashed_text(response)
    assert reload(a).end_date == clock.add_days(before, 5)
    entry = db.session.query(AuditEntry).filter_by(target_id=a.id, action="subscription.extend").one()
    assert entry.actor_id == admin.id and entry.reason == "Goodwill after an outage"


def test_actions_need_a_reason_and_csrf(signed_in, subs):
    a, _ = subs
    url = _manage(signed_in, a)
    response = signed_in.post_form(url, {"days": "5", "reason": "short"}, post_url=url + "&op=extend")
    assert "Field must be between 10 and 500 characters long." in flashed_text(response)
    response = signed_in.client.post(url + "&op=expire", data={"reason": "No token in this form at all"})
    assert response.status_code == 400
    assert reload(a).status == S.ACTIVE


def test_cancel_with_refund(signed_in, subs):
    a, _ = subs
    url = _manage(signed_in, a)
    response = signed_in.post_form(url, {"reason": "Customer asked to stop", "process_refund": "y"},
                                   post_url=url + "&op=cancel")
    assert "Subscription cancelled (refunded" in flashed_text(response)
    a = reload(a)
    assert a.status == S.CANCELLED
    refund = db.session.query(Transaction).filter_by(subscription_id=a.id, type=TransactionType.REFUND).one()
    assert 0 < refund.amount <= 40_000


def test_expire_and_set_grace(signed_in, subs):
    a, b = subs
    url = _manage(signed_in, b)
    response = signed_in.post_form(url, {"days": "10", "reason": "Customer promised to pay"},
                                   post_url=url + "&op=grace")
    assert "Grace period of 10 days set" in flashed_text(response)
    assert abs(reload(b).grace_period_end - (clock.now() + timedelta(days=10))) < timedelta(minutes=1)
    assert db.session.query(AuditEntry).filter_by(target_id=b.id, action="subscription.set_grace_period",
                                                  source="console").count() == 1
    url = _manage(signed_in, a)
    response = signed_in.post_form(url, {"reason": "Abuse of the service terms"}, post_url=url + "&op=expire")
    assert "Subscription expired." in flashed_text(response)
    assert reload(a).status == S.EXPIRED
    # Again: the service's 400 message is flashed, nothing breaks.
    response = signed_in.post_form(url, {"reason": "Abuse of the service terms"}, post_url=url + "&op=expire")
    assert "Subscription is already expired" in flashed_text(response)


def test_manage_unknown_subscription(signed_in):
    response = signed_in.client.get("/admin/subscriptions/manage/?id=nope", follow_redirects=True)
    assert response.status_code == 200 and "Subscription not found" in flashed_text(response)


def test_billing_page_kpis_and_charts(signed_in, subs):
    html = page(signed_in.client, "/admin/billing/")
    assert 'data-kpi="mrr">100.000<' in html  # 40,000 + 60,000 active auto-renewing
    assert 'data-kpi="in-grace">1<' in html and 'data-kpi="failed">1<' in html and 'data-kpi="due-today">1<' in html
    assert "vendor/plotly.min.js" in html and "cdn.plot.ly" not in html
    assert html.count("data-plotly-figure=") == 4 and "Plotly.newPlot" not in html  # drawn by static/console/charts.js
    for job in ("daily-renewals", "grace-period", "low-credit-notifications", "grace-period-reminders",
                "billing-stats"):
        assert f'data-job="{job}"' in html
    assert 'data-scheduler="idle"' in html


def test_run_now_goes_through_the_outbox_and_the_run_page_follows_it(signed_in, subs, app):
    response = signed_in.post_form("/admin/billing/", {"job": "billing-stats"}, post_url="/admin/billing/run/",
                                   follow=False)
    assert response.status_code == 302
    run_url = response.headers["Location"]
    assert "/admin/billing/runs/" in run_url
    html = page(signed_in.client, run_url)
    assert 'data-run-status="queued"' in html and 'http-equiv="refresh"' in html
    assert len(get_queue().job_ids) == 1  # pushed to RQ after the commit
    run_burst(app)
    html = page(signed_in.client, run_url)
    assert 'data-run-status="finished"' in html and 'http-equiv="refresh"' not in html
    assert "monthlyRevenue" in html
    # The last run shows on the Billing page.
    assert "(console)" in page(signed_in.client, "/admin/billing/")


def test_run_now_refuses_unknown_jobs_and_missing_csrf(signed_in):
    response = signed_in.post_form("/admin/billing/", {"job": "rm -rf"}, post_url="/admin/billing/run/")
    assert "Invalid job name" in flashed_text(response)
    assert signed_in.client.post("/admin/billing/run/", data={"job": "billing-stats"}).status_code == 400
    assert get_queue().count == 0
    assert signed_in.client.get("/admin/billing/runs/doesnotexist").status_code == 404


def test_outbox_lists_notifications_newest_first_with_filters(signed_in, make):
    user = make.user(email="reader@shop.example.com")
    notify(type=NotificationType.LOW_CREDIT_WARNING, dedupe_key="t:1", subject="Older warning", body="b", user=user)
    db.session.flush()
    notify(type=NotificationType.RENEWAL_SUCCESS, dedupe_key="t:2", subject="Newer renewal", body="b", user=user)
    from webapp.notifications.models import Notification

    db.session.execute(db.update(Notification).where(Notification.dedupe_key == "t:1")
                       .values(created_at=clock.now() - timedelta(hours=1)))
    html = page(signed_in.client, "/admin/outbox/")
    assert html.index("Newer renewal") < html.index("Older warning")
    from webapp.console.billing import OutboxView

    ov = next(v for v in signed_in.client.application.extensions["poddesk_console"]._views if isinstance(v, OutboxView))
    keys = {(flt.name, flt.operation()): key for key, (idx, flt) in ov._filter_args.items()}
    type_key = next(k for (name, op), k in keys.items() if name == "Type" and op == "equals")
    html = page(signed_in.client, f"/admin/outbox/?flt0_{type_key}=RENEWAL_SUCCESS")
    assert "Newer renewal" in html and "Older warning" not in html
    html = page(signed_in.client, f"/admin/outbox/?flt0_{type_key}=NOT_A_TYPE")
    assert "Older warning" in html or "Invalid" in html
