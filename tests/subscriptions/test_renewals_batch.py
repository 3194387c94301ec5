"""The set-based renewal pass (PostgreSQL) against the per-row one: same ledger rows, statuses, notifications, audit
and quota; a wallet paying several renewals; two passes at once; a pass interrupted between batches."""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from tests.notifications.billing_helpers import instances_stub, jkt  # noqa: F401 (fixture)
from tests.subscriptions.helpers import concurrent_renewal_passes
from webapp import clock
from webapp.accounts.models import User
from webapp.audit.models import AuditEntry
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.catalog.models import PlanType, Service, ServiceCategory, ServicePlan
from webapp.extensions import db
from webapp.notifications.models import Notification, NotificationType
from webapp.subscriptions import renewals
from webapp.subscriptions.models import Subscription, SubscriptionStatus

S = SubscriptionStatus
END = jkt(2026, 6, 10)
AT = jkt(2026, 6, 10, 2)


@pytest.fixture(autouse=True)
def _stubs(instances_stub):
    return instances_stub


@pytest.fixture(params=["batch", "per-row"])
def path(request, monkeypatch):
    """Run the pass through one path only, and fail loudly if the other one is used."""
    def forbidden(*args, **kwargs):
        raise AssertionError(f"the {request.param} path must not use this")

    if request.param == "batch":
        monkeypatch.setattr(renewals, "_walk_ids", forbidden)  # the batch's row-by-row fallback
    else:
        monkeypatch.setattr(renewals, "_batch_supported", lambda: False)
        monkeypatch.setattr(renewals, "renew_batch", forbidden)
    return request.param


def chain_ok(user_id: str) -> bool:
    rows = db.session.execute(select(Transaction.custom_id, Transaction.balance_before, Transaction.balance_after)
                              .where(Transaction.user_id == user_id,
                                     Transaction.status == TransactionStatus.COMPLETED)).all()
    rows.sort(key=lambda r: int(r.custom_id.split("-")[1]))
    balance = db.session.get(User, user_id).credit_balance
    # (the seeded wallets start without an opening ledger row, so the chain starts at the first renewal)
    return (all(a.balance_after == b.balance_before for a, b in zip(rows, rows[1:]))
            and (not rows or rows[-1].balance_after == balance))


# ------------------------------------------------------------------------------ one wallet, several renewals
def test_a_wallet_pays_its_due_subscriptions_in_id_order_while_it_lasts(make, app, monkeypatch, path):
    """Balance 100,000; due, in subscription-id order: 50,000, 80,000, 30,000, 40,000, 0 (free), and one whose
    grace ended without payment. Documented order: (user id, subscription id); a renewal the wallet cannot
    cover is skipped and a later, cheaper one is still paid."""
    monkeypatch.setitem(app.config, "GRACE_PERIOD_DAYS", "7")
    user = make.user(credit_balance=100_000)
    prices = [50_000, 80_000, 30_000, 40_000, 0, 60_000]
    plans = [make.plan(monthly_price=p, used_quota=1) for p in prices]
    subs = [make.subscription(user=user, plan=plan, start_date=jkt(2026, 5, 10), end_date=END, next_billing=END,
                              monthly_price=price) for plan, price in zip(plans, prices)]
    subs.sort(key=lambda s: s.id)  # the pass's order; prices follow the sorted order
    for sub, price in zip(subs, prices):
        sub.monthly_price = price
    over = subs[5]  # in a grace that started after its period ended and is over now: expires
    over.grace_period_end, over.failed_charges = jkt(2026, 6, 10, 1), 1
    db.session.flush()
    plan_of = {s.id: s.plan_id for s in subs}
    ids = [s.id for s in subs]

    with clock.frozen(AT):
        result = renewals.process_renewals()
    assert {k: result[k] for k in ("processed", "successful", "failed", "insufficientCredit",
                                   "gracePeriodsStarted", "expired", "alreadyRenewed")} == {
        "processed": 6, "successful": 3, "failed": 3, "insufficientCredit": 3, "gracePeriodsStarted": 2,
        "expired": 1, "alreadyRenewed": 0}
    assert [e["subscriptionId"] for e in result["errors"]] == [ids[1], ids[3], ids[5]]
    assert [e["error"] for e in result["errors"]] == [
        "Insufficient credit. Balance: 50000, Required: 80000",
        "Insufficient credit. Balance: 20000, Required: 40000",
        "Insufficient credit. Balance: 20000, Required: 60000"]

    db.session.expire_all()
    rows = db.session.execute(select(Transaction).where(Transaction.user_id == user.id)).scalars().all()
    rows.sort(key=lambda r: int(r.custom_id.split("-")[1]))
    assert [(r.subscription_id, r.amount, r.balance_before, r.balance_after) for r in rows] == [
        (ids[0], 50_000, 100_000, 50_000), (ids[2], 30_000, 50_000, 20_000), (ids[4], 0, 20_000, 20_000)]
    assert all(r.type == TransactionType.SUBSCRIPTION and r.status == TransactionStatus.COMPLETED for r in rows)
    assert [r.idempotency_key for r in rows] == [f"renewal:{ids[i]}:2026-06-10" for i in (0, 2, 4)]
    assert rows[0].description == f"Auto-renewal: {plans_by(ids[0]).service.name} - Basic plan"
    assert rows[0].metadata_ == {"subscriptionId": ids[0], "serviceName": plans_by(ids[0]).service.name,
                                 "planName": "Basic", "isAutoRenewal": True,
                                 "periodStart": "2026-06-09T17:00:00.000Z", "periodEnd": "2026-07-09T17:00:00.000Z"}
    fresh_user = db.session.get(User, user.id)
    assert (fresh_user.credit_balance, fresh_user.total_spent) == (20_000, 80_000)
    assert chain_ok(user.id)

    fresh = {s.id: db.session.get(Subscription, s.id) for s in subs}
    for i in (0, 2, 4):
        s = fresh[ids[i]]
        assert (s.status, s.end_date, s.next_billing, s.last_billed, s.last_charge_amount, s.failed_charges,
                s.grace_period_end) == (S.ACTIVE, jkt(2026, 7, 10), jkt(2026, 7, 10), AT, prices[i], 0, None)
    for i in (1, 3):
        s = fresh[ids[i]]
        assert (s.status, s.end_date, s.grace_period_end, s.failed_charges) == (S.ACTIVE, END, jkt(2026, 6, 17, 2), 1)
    assert (fresh[ids[5]].status, fresh[ids[5]].auto_renew) == (S.EXPIRED, False)
    assert [db.session.get(ServicePlan, plan_of[i]).used_quota for i in ids] == [1, 1, 1, 1, 1, 0]

    notes = {(n.subscription_id, n.type): n for n in db.session.execute(select(Notification)).scalars()}
    assert sorted((ids.index(s), t.value) for s, t in notes) == [
        (0, "RENEWAL_SUCCESS"), (1, "RENEWAL_FAILURE"), (2, "RENEWAL_SUCCESS"), (3, "RENEWAL_FAILURE"),
        (4, "RENEWAL_SUCCESS"), (5, "SUBSCRIPTION_SUSPENDED")]
    success = notes[(ids[0], NotificationType.RENEWAL_SUCCESS)]
    assert success.dedupe_key == f"renewal-success:{ids[0]}:2026-06-10" and success.recipient == user.email
    assert success.data["chargedAmount"] == 50_000 and success.data["transactionId"] == rows[0].custom_id
    failure = notes[(ids[1], NotificationType.RENEWAL_FAILURE)]
    assert (failure.data["currentBalance"], failure.data["requiredAmount"], failure.data["gracePeriodDays"],
            failure.data["gracePeriodEnd"]) == (50_000, 80_000, 7, "2026-06-16T19:00:00.000Z")
    assert notes[(ids[3], NotificationType.RENEWAL_FAILURE)].data["currentBalance"] == 20_000

    audit = {(a.target_id, a.action): a for a in db.session.execute(select(AuditEntry)).scalars()}
    advance = audit[(ids[0], "subscription.advance_period")]
    assert (advance.reason, advance.source, advance.actor_id) == ("Auto-renewal", "job", None)
    assert advance.before == {"end_date": "2026-06-09T17:00:00.000Z", "next_billing": "2026-06-09T17:00:00.000Z",
                              "last_billed": None, "last_charge_amount": None}
    assert advance.after == {"end_date": "2026-07-09T17:00:00.000Z", "next_billing": "2026-07-09T17:00:00.000Z",
                             "last_billed": "2026-06-09T19:00:00.000Z", "last_charge_amount": 50_000,
                             "charged_amount": 50_000}
    grace = audit[(ids[1], "subscription.set_grace_period")]
    assert grace.reason == "Renewal failed: Insufficient credit. Balance: 50000, Required: 80000"
    assert grace.before == {"failed_charges": 0, "grace_period_end": None}
    assert grace.after == {"failed_charges": 1, "grace_period_end": "2026-06-16T19:00:00.000Z", "days": 7}
    assert (ids[5], "subscription.expire") in audit
    assert sorted(action for _, action in audit) == sorted(
        ["subscription.advance_period"] * 3 + ["subscription.set_grace_period"] * 2 + ["subscription.expire"])

    # The next day: the two in grace are retried (nothing moves), nothing is charged twice.
    with clock.frozen(jkt(2026, 6, 11, 2)):
        again = renewals.process_renewals()
    assert (again["processed"], again["successful"], again["gracePeriodsStarted"]) == (2, 0, 0)
    assert db.session.execute(select(func.count()).select_from(Transaction)
                              .where(Transaction.user_id == user.id)).scalar_one() == 3
    assert db.session.execute(select(func.count()).select_from(Notification)).scalar_one() == 6


def plans_by(subscription_id: str) -> ServicePlan:
    return db.session.get(Subscription, subscription_id).plan


def test_a_used_period_key_is_skipped_before_the_balance_is_counted(make, path):
    """An already-charged period (key used) is never charged again and does not use up the wallet."""
    user = make.user(credit_balance=50_000)
    a, b = sorted((make.subscription(user=user, plan=make.plan(monthly_price=50_000, used_quota=1),
                                     start_date=jkt(2026, 5, 10), end_date=END, next_billing=END,
                                     monthly_price=50_000) for _ in range(2)), key=lambda s: s.id)
    ledger.credit(user.id, 50_000, type=TransactionType.TOP_UP, description="top-up")
    ledger.debit(user.id, 50_000, type=TransactionType.SUBSCRIPTION, description="earlier run",
                 subscription_id=a.id, idempotency_key=renewals.idempotency_key(a.id, END))
    with clock.frozen(AT):
        result = renewals.process_renewals()
    assert (result["alreadyRenewed"], result["successful"], result["failed"]) == (1, 1, 0)
    db.session.expire_all()
    assert db.session.get(Subscription, a.id).end_date == END  # not advanced: the period was charged before
    assert db.session.get(Subscription, b.id).end_date == jkt(2026, 7, 10)
    assert db.session.get(User, user.id).credit_balance == 0 and chain_ok(user.id)


# ------------------------------------------------------------------------------------ real commits
def _seed(users: int, per_user: int, balance: int) -> list[str]:
    category = ServiceCategory(name="Batch", slug="batch", description="x", sort_order=1)
    db.session.add(category)
    db.session.flush()
    plans = []
    for k in range(per_user):
        service = Service(name=f"Batch {k}", slug=f"batch-{k}", description="A one-click app for tests",
                          version="1", docker_image=f"x/b{k}:1", default_port=80, category_id=category.id,
                          is_active=True, is_public=True, is_featured=False, sort_order=1)
        db.session.add(service)
        db.session.flush()
        plan = ServicePlan(service_id=service.id, name="Basic", plan_type=PlanType.BASIC, monthly_price=50_000,
                           cpu_milli=100, memory_mb=128, storage_gb=1, bandwidth=1, total_quota=users,
                           used_quota=users, max_instances_per_user=1, max_domains=1, is_active=True,
                           is_popular=False, sort_order=1)
        db.session.add(plan)
        plans.append(plan)
    people = [User(name=f"B{i}", email=f"batch{i}@example.com", credit_balance=balance, total_top_up=0,
                   total_spent=0) for i in range(users)]
    db.session.add_all(people)
    db.session.flush()
    db.session.add_all(Subscription(user_id=u.id, service_id=p.service_id, plan_id=p.id,
                                    status="ACTIVE", start_date=jkt(2026, 1, 15), end_date=jkt(2026, 2, 15),
                                    next_billing=jkt(2026, 2, 15), monthly_price=50_000, auto_renew=True,
                                    failed_charges=0) for u in people for p in plans)
    db.session.commit()
    return [u.id for u in people]


def _charges_per_subscription() -> dict[str, int]:
    return dict(db.session.execute(select(Transaction.subscription_id, func.count())
                                   .where(Transaction.type == TransactionType.SUBSCRIPTION)
                                   .group_by(Transaction.subscription_id)).all())


def _consistent(user_ids) -> None:
    db.session.expire_all()
    assert all(count == 1 for count in _charges_per_subscription().values())
    assert all(chain_ok(uid) for uid in user_ids)
    # every charged subscription advanced, every advanced one was charged
    advanced = set(db.session.execute(select(Subscription.id).where(Subscription.end_date == jkt(2026, 3, 15)))
                   .scalars())
    assert advanced == set(_charges_per_subscription())
    renewed = db.session.execute(select(func.count()).select_from(Notification)
                                 .where(Notification.type == NotificationType.RENEWAL_SUCCESS)).scalar_one()
    assert renewed == len(advanced)


def test_two_passes_at_once_charge_each_period_once_and_keep_every_chain(app, committing_db):
    """200 users x 3 due subscriptions, wallets covering two of the three; two passes in threads, batches of 64
    (a user's subscriptions straddle batches, so the passes also meet on shared wallets)."""
    user_ids = _seed(200, 3, 120_000)
    results, errors = concurrent_renewal_passes(app, jkt(2026, 2, 15, 2), batch_size=64)
    assert errors == []
    assert sum(r["successful"] for r in results) == 400
    assert sum(r["gracePeriodsStarted"] for r in results) == 200
    assert sum(r["failed"] for r in results) == 200  # one pass's unpaid rows are not retried by the other
    assert sum(r["processed"] for r in results) == 600
    assert all(r["alreadyRenewed"] == 0 for r in results)
    _consistent(user_ids)
    per_user = db.session.execute(select(Transaction.user_id, func.count()).group_by(Transaction.user_id)).all()
    assert len(per_user) == 200 and all(count == 2 for _, count in per_user)
    assert set(db.session.execute(select(User.credit_balance)).scalars()) == {20_000}
    assert db.session.execute(select(func.count()).select_from(Subscription)
                              .where(Subscription.grace_period_end.is_not(None))).scalar_one() == 200


class Killed(BaseException):
    """Stands for the process dying (SIGKILL, OOM): not an Exception, nothing in the pass catches it."""


@pytest.mark.parametrize("where", ["between batches", "inside a batch"])
def test_a_pass_killed_mid_way_leaves_whole_batches_and_a_rerun_completes_it(app, committing_db, monkeypatch,
                                                                             where):
    user_ids = _seed(125, 2, 120_000)  # 250 due subscriptions, batches of 100
    calls = {"claim": 0, "post": 0}
    real_claim, real_post = renewals._claim, ledger.post_debits

    def claim(ids, condition):
        calls["claim"] += 1
        if where == "between batches" and calls["claim"] == 2:
            raise Killed()
        return real_claim(ids, condition)

    def post_debits(entries, balances):
        calls["post"] += 1
        if where == "inside a batch" and calls["post"] == 2:
            raise Killed()  # after the period advances and audit rows of batch 2 were written
        return real_post(entries, balances)

    monkeypatch.setattr(renewals, "_claim", claim)
    monkeypatch.setattr(ledger, "post_debits", post_debits)
    with clock.frozen(jkt(2026, 2, 15, 2)):
        with pytest.raises(Killed):
            renewals.process_renewals(batch_size=100)
        db.session.rollback()  # what the dying connection does
        _consistent(user_ids)
        assert len(_charges_per_subscription()) == 100  # batch 1 whole, nothing of batch 2
        assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 100

        monkeypatch.setattr(renewals, "_claim", real_claim)
        monkeypatch.setattr(ledger, "post_debits", real_post)
        rerun = renewals.process_renewals(batch_size=100)
    assert (rerun["processed"], rerun["successful"], rerun["failed"]) == (150, 150, 0)
    _consistent(user_ids)
    assert len(_charges_per_subscription()) == 250
    assert set(db.session.execute(select(User.credit_balance)).scalars()) == {20_000}
