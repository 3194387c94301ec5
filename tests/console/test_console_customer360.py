"""The customer 360 page (`/admin/customers/<id>`) and its actions (balance, extend, cancel, activate)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from webapp.audit.models import AuditEntry
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionType
from webapp.cluster.models import InstanceStatus
from webapp.db import utcnow
from webapp.extensions import db
from webapp.subscriptions.models import SubscriptionStatus

from ..reporting.builders import count_queries, instance, notification, redemption, ticket, tx
from .conftest import BCRYPT_PREFIX, flashed_text, reload
from .test_console import is_login_redirect


def _url(user) -> str:
    return f"/admin/customers/{user.id}"


def _audit(action: str, target_id: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action,
                                                            AuditEntry.target_id == target_id)).scalars())


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def alice(make):
    return make.user(name="Alice Buyer", email="alice@c360.test", google_id="google-sub-alice",
                     credit_balance=200_000)


@pytest.fixture
def paid_sub(make, alice):
    """An ACTIVE subscription 10 days into a 30-day period, its 60.000 IDR charge linked to it."""
    now = utcnow()
    plan = make.plan(monthly_price=60_000)
    sub = make.subscription(user=alice, plan=plan, start_date=now - timedelta(days=10),
                            end_date=now + timedelta(days=20), next_billing=now + timedelta(days=20))
    ledger.credit(alice.id, 60_000, type=TransactionType.TOP_UP, description="Top-up", counts_as_top_up=True)
    ledger.debit(alice.id, 60_000, type=TransactionType.SUBSCRIPTION, description="Subscription charge",
                 subscription_id=sub.id)
    db.session.flush()
    return sub


# ------------------------------------------------------------------------------------------------ page
def test_page_shows_everything_about_the_customer(signed_in, make, admin, alice, paid_sub, other_customer):
    inst = instance(paid_sub, InstanceStatus.ERROR, env_vars={"POSTGRES_PASSWORD": "gen-pass-9f8e7d"})
    t = ticket(alice, subject="My n8n is down")
    notification(alice, "Renewal succeeded for n8n")
    redemption(alice, "WELCOME50")
    # Another customer's rows must not show up.
    ticket(other_customer, subject="Someone else's ticket")
    redemption(other_customer, "OTHERCODE")
    from webapp.audit.services import record

    record(actor=admin, action="subscription.extend", target_type="subscription", target_id=paid_sub.id,
           reason="Goodwill after outage")
    db.session.flush()

    r = signed_in.client.get(_url(alice))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for text in ("Alice Buyer", "alice@c360.test", 'data-balance="200000"', "My n8n is down", "WELCOME50",
                 "Renewal succeeded for n8n", "Goodwill after outage", "subscription.extend", inst.name,
                 'data-instance-status="ERROR"', f'data-subscription="{paid_sub.id}"'):
        assert text in html, text
    ledger_rows = db.session.execute(select(Transaction.custom_id).where(Transaction.user_id == alice.id)).scalars()
    for custom_id in ledger_rows:
        assert custom_id in html
    assert f'href="/admin/wallet/{alice.id}"' in html
    assert f'href="/admin/tickets/details/?id={t.id}"' in html
    for secret in (BCRYPT_PREFIX, "google-sub-alice", "gen-pass-9f8e7d", "password_hash", "token_version"):
        assert secret not in html, secret
    assert "Someone else" not in html and "OTHERCODE" not in html


def test_links_on_the_page_open(signed_in, alice, paid_sub):
    instance(paid_sub)
    ticket(alice)
    html = signed_in.client.get(_url(alice)).get_data(as_text=True)
    body = html.split('data-section="profile"', 1)[1]
    links = {h.replace("&amp;", "&") for h in re.findall(r'href="(/admin/[^"]*)"', body)}
    assert len(links) >= 8
    for url in sorted(links):
        response = signed_in.client.get(url)
        assert response.status_code == 200, url
    tickets_link = next(u for u in links if u.startswith("/admin/tickets/?"))
    assert "alice%40c360.test" in tickets_link or "alice@c360.test" in tickets_link


def test_page_for_a_customer_with_nothing(signed_in, make):
    bare = make.user(email="bare@c360.test")
    r = signed_in.client.get(_url(bare))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for text in ("No transactions.", "No subscriptions.", "No coupon redeemed.", "No tickets.", "No notifications.",
                 "No audit entries."):
        assert text in html, text


def test_unknown_or_deleted_user_is_404(signed_in, make):
    gone = make.user(deleted_at=utcnow())
    for user_id in ("does-not-exist", gone.id, "x" * 80):
        assert signed_in.client.get(f"/admin/customers/{user_id}").status_code == 404, user_id
    token = signed_in.token("/admin/customers/")
    assert signed_in.client.post("/admin/customers/nope/adjust-balance",
                                 data={"csrf_token": token, "amount": "5000", "direction": "ADD",
                                       "reason": "Valid reason"}).status_code == 404


def test_search_page(signed_in, alice):
    r = signed_in.client.get("/admin/customers/", query_string={"q": "Alice Buy"})
    assert r.status_code == 200 and _url(alice) in r.get_data(as_text=True)
    r = signed_in.client.get("/admin/customers/", query_string={"q": "  ALICE@c360.test "})
    assert r.status_code == 302 and r.headers["Location"].endswith(_url(alice))
    assert signed_in.client.get("/admin/customers/", query_string={"q": "x\x00%_"}).status_code == 200


def test_customers_and_anonymous_are_refused(console, client, alice, customer, paid_sub):
    urls = [_url(alice), "/admin/customers/"]
    for url in urls:
        assert is_login_redirect(client.get(url)), url
    post = {"amount": "5000", "direction": "ADD", "reason": "Trying to steal"}
    assert client.post(f"{_url(alice)}/adjust-balance", data=post).status_code == 400        # no token
    assert is_login_redirect(client.post(f"{_url(alice)}/adjust-balance",
                                         data={**post, "csrf_token": console.token()}))
    console.force_session(customer)
    for url in urls:
        assert client.get(url).status_code == 403, url
    token = console.token()
    assert client.post(f"{_url(alice)}/adjust-balance", data={**post, "csrf_token": token}).status_code == 403
    assert reload(alice).credit_balance == 200_000


def test_page_runs_a_constant_number_of_queries(signed_in, make, admin, alice):
    from webapp.audit.services import record

    def add():
        sub = make.subscription(user=alice, plan=make.plan())
        instance(sub)
        tx(alice, 10_000)
        ticket(alice)
        notification(alice)
        redemption(alice)
        record(actor=admin, action="subscription.extend", target_type="subscription", target_id=sub.id)
        db.session.flush()

    add()
    with count_queries() as small:
        assert signed_in.client.get(_url(alice)).status_code == 200
    for _ in range(5):
        add()
    with count_queries() as big:
        assert signed_in.client.get(_url(alice)).status_code == 200
    assert small[0] == big[0]


# ------------------------------------------------------------------------------------------- adjust balance
def test_adjust_balance_with_reason_moves_money_and_audits(signed_in, admin, alice):
    r = signed_in.post_form(_url(alice), {"amount": "25000", "direction": "ADD", "reason": "Goodwill credit"},
                            post_url=f"{_url(alice)}/adjust-balance")
    assert r.status_code == 200 and "25.000 IDR added to the wallet" in flashed_text(r)
    assert reload(alice).credit_balance == 225_000
    row = db.session.execute(select(Transaction).where(Transaction.user_id == alice.id,
                                                       Transaction.type == TransactionType.ADMIN_ADJUSTMENT)
                             ).scalar_one()
    assert (row.amount, row.processed_by, row.admin_notes) == (25_000, admin.id, "Goodwill credit")
    [entry] = _audit("wallet.credit_added", alice.id)
    assert (entry.actor_id, entry.reason, entry.source) == (admin.id, "Goodwill credit", "console")
    assert "Goodwill credit" in r.get_data(as_text=True)       # the audit trail on the page


def test_adjust_balance_without_reason_changes_nothing(signed_in, alice):
    before = _count(Transaction), _count(AuditEntry)
    for reason in ("", "   ", "abc"):
        r = signed_in.post_form(_url(alice), {"amount": "25000", "direction": "DEDUCT", "reason": reason},
                                post_url=f"{_url(alice)}/adjust-balance")
        assert r.status_code == 400, reason
        assert 'data-error="reason"' in r.get_data(as_text=True)
    assert reload(alice).credit_balance == 200_000
    assert (_count(Transaction), _count(AuditEntry)) == before


def test_adjust_balance_needs_the_csrf_token(signed_in, alice):
    r = signed_in.client.post(f"{_url(alice)}/adjust-balance",
                              data={"amount": "25000", "direction": "ADD", "reason": "No token here"})
    assert r.status_code == 400
    assert reload(alice).credit_balance == 200_000


def test_adjust_balance_refused_by_the_service_is_a_message(signed_in, alice):
    r = signed_in.post_form(_url(alice), {"amount": "900000", "direction": "DEDUCT", "reason": "Too much to take"},
                            post_url=f"{_url(alice)}/adjust-balance")
    assert r.status_code == 200 and "Insufficient balance" in flashed_text(r)
    assert reload(alice).credit_balance == 200_000


# ------------------------------------------------------------------------------------------- subscriptions
def test_extend_subscription(signed_in, admin, alice, paid_sub):
    end = paid_sub.end_date
    r = signed_in.post_form(_url(alice), {"subscription_id": paid_sub.id, "days": "7",
                                          "reason": "Compensation for the outage"},
                            post_url=f"{_url(alice)}/extend")
    assert r.status_code == 200 and "extended by 7 days" in flashed_text(r)
    assert reload(paid_sub).end_date - end == timedelta(days=7)
    [entry] = _audit("subscription.extend", paid_sub.id)
    assert (entry.actor_id, entry.reason) == (admin.id, "Compensation for the outage")


def test_extend_without_reason_changes_nothing(signed_in, alice, paid_sub):
    end = paid_sub.end_date
    for data in ({"subscription_id": paid_sub.id, "days": "7", "reason": ""},
                 {"subscription_id": paid_sub.id, "days": "7", "reason": "short"},
                 {"subscription_id": paid_sub.id, "days": "0", "reason": "A long enough reason"}):
        r = signed_in.post_form(_url(alice), data, post_url=f"{_url(alice)}/extend")
        assert r.status_code == 400, data
    assert reload(paid_sub).end_date == end
    assert _audit("subscription.extend", paid_sub.id) == []


def test_cancel_with_refund(signed_in, admin, alice, paid_sub):
    balance = reload(alice).credit_balance
    r = signed_in.post_form(_url(alice), {"subscription_id": paid_sub.id, "process_refund": "y",
                                          "reason": "Customer asked to stop"},
                            post_url=f"{_url(alice)}/cancel")
    assert r.status_code == 200 and "Subscription cancelled (refunded" in flashed_text(r)
    sub = reload(paid_sub)
    assert sub.status == SubscriptionStatus.CANCELLED
    refund = db.session.execute(select(Transaction).where(Transaction.subscription_id == sub.id,
                                                          Transaction.type == TransactionType.REFUND)).scalar_one()
    assert 0 < refund.amount <= 60_000
    assert reload(alice).credit_balance == balance + refund.amount
    assert [e.reason for e in _audit("subscription.force_cancel", sub.id)] == ["Customer asked to stop"]
    assert [e.actor_id for e in _audit("subscription.refund", sub.id)] == [admin.id]


def test_cancel_without_reason_changes_nothing(signed_in, alice, paid_sub):
    r = signed_in.post_form(_url(alice), {"subscription_id": paid_sub.id, "process_refund": "y", "reason": " "},
                            post_url=f"{_url(alice)}/cancel")
    assert r.status_code == 400 and 'data-error="reason"' in r.get_data(as_text=True)
    assert reload(paid_sub).status == SubscriptionStatus.ACTIVE
    assert _audit("subscription.force_cancel", paid_sub.id) == []
    assert reload(alice).credit_balance == 200_000


def test_actions_refuse_another_customers_subscription(signed_in, make, alice, other_customer):
    theirs = make.subscription(user=other_customer, plan=make.plan())
    end = theirs.end_date
    for action, data in (("extend", {"days": "5"}), ("cancel", {"process_refund": "y"})):
        r = signed_in.post_form(_url(alice), {"subscription_id": theirs.id, "reason": "Wrong customer page", **data},
                                post_url=f"{_url(alice)}/{action}")
        assert r.status_code == 400, action
        assert "Not a subscription of this customer." in r.get_data(as_text=True)
    sub = reload(theirs)
    assert (sub.status, sub.end_date) == (SubscriptionStatus.ACTIVE, end)


def test_cancel_twice_is_a_message_not_an_error(signed_in, alice, paid_sub):
    data = {"subscription_id": paid_sub.id, "reason": "Customer asked to stop"}
    signed_in.post_form(_url(alice), data, post_url=f"{_url(alice)}/cancel")
    r = signed_in.post_form(_url(alice), data, post_url=f"{_url(alice)}/cancel")
    assert r.status_code == 200 and "already cancelled" in flashed_text(r).lower()


# ------------------------------------------------------------------------------------------- account
def test_deactivate_and_activate_the_account(signed_in, alice):
    r = signed_in.post_form(_url(alice), {"active": "0"}, post_url=f"{_url(alice)}/active")
    assert r.status_code == 200 and "Account deactivated." in flashed_text(r)
    assert reload(alice).is_active is False
    r = signed_in.post_form(_url(alice), {"active": "1"}, post_url=f"{_url(alice)}/active")
    assert "Account activated." in flashed_text(r)
    assert reload(alice).is_active is True


def test_account_form_refuses_bad_input_and_self_deactivation(signed_in, admin, alice):
    r = signed_in.post_form(_url(alice), {"active": "maybe"}, post_url=f"{_url(alice)}/active")
    assert r.status_code == 400 and reload(alice).is_active is True
    r = signed_in.client.post(f"{_url(alice)}/active", data={"active": "0"})          # no CSRF token
    assert r.status_code == 400 and reload(alice).is_active is True
    r = signed_in.post_form(_url(admin), {"active": "0"}, post_url=f"{_url(admin)}/active")
    assert r.status_code == 200 and reload(admin).is_active is True


def test_deactivation_is_audited(signed_in, alice):
    signed_in.post_form(_url(alice), {"active": "0"}, post_url=f"{_url(alice)}/active")
    assert reload(alice).is_active is False
    assert db.session.execute(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.target_id == alice.id)).scalar_one() == 1


def test_users_list_and_detail_link_to_the_customer_360_page(app, make):
    from webapp.extensions import db

    from .conftest import Console, FreshContextClient

    client = FreshContextClient(app, app.response_class, use_cookies=True)
    admin = make.user(email="links360.admin@example.com", role="ADMINISTRATOR")
    customer = make.user(email="links360.cust@example.com")
    db.session.commit()
    Console(client).login(admin.email)
    assert f'href="/admin/customers/{customer.id}"' in client.get("/admin/users/").get_data(as_text=True)
    detail = client.get(f"/admin/users/details/?id={customer.id}").get_data(as_text=True)
    assert f'/admin/customers/{customer.id}' in detail and f'/admin/wallet/{customer.id}' in detail
