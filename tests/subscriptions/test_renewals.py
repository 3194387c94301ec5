"""The renewal, grace and expiry passes (spec §3.8-§3.11, §5 items 1, 10, 12-15, 18, 19, 21, 26) on a frozen clock."""
from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.notifications.billing_helpers import instances_stub, jkt  # noqa: F401 (fixture)
from webapp import clock
from webapp.accounts.models import User
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionType
from webapp.catalog.models import ServicePlan
from webapp.extensions import db
from webapp.notifications.models import Notification, NotificationType
from webapp.subscriptions import renewals
from webapp.subscriptions.models import Subscription, SubscriptionStatus

UTC = timezone.utc
S = SubscriptionStatus


@pytest.fixture(autouse=True)
def _stubs(instances_stub):
    return instances_stub


def fresh(row):
    db.session.expire_all()
    return db.session.get(type(row), row.id)


def due_sub(make, *, balance=100_000, price=50_000, start, end, user=None, plan=None, **kw):
    user = user or make.user(credit_balance=balance)
    plan = plan or make.plan(monthly_price=price, used_quota=1)
    return make.subscription(user=user, plan=plan, start_date=start, end_date=end, next_billing=end,
                             monthly_price=price, **kw)


def charges(sub) -> list[Transaction]:
    return list(db.session.execute(select(Transaction).where(Transaction.subscription_id == sub.id,
                                                             Transaction.type == TransactionType.SUBSCRIPTION)
                                   .order_by(Transaction.created_at)).scalars())


def notes(sub, type_) -> list[Notification]:
    return list(db.session.execute(select(Notification).where(Notification.subscription_id == sub.id,
                                                              Notification.type == type_)).scalars())


def run(at, **kw):
    with clock.frozen(at):
        return renewals.process_renewals(**kw)


# ------------------------------------------------------------------------------------- success paths
def test_renewal_charges_once_advances_one_month_and_notifies_once(make):
    sub = due_sub(make, start=jkt(2025, 12, 31), end=jkt(2026, 1, 31))
    result = run(jkt(2026, 1, 31, 2))
    assert {k: result[k] for k in ("processed", "successful", "failed", "insufficientCredit", "quotaExceeded")} == {
        "processed": 1, "successful": 1, "failed": 0, "insufficientCredit": 0, "quotaExceeded": 0}
    sub = fresh(sub)
    # Jan 31 + 1 month = Feb 28 (clamped, never Mar 3), at Jakarta midnight.
    assert sub.end_date == sub.next_billing == jkt(2026, 2, 28)
    assert sub.last_billed == jkt(2026, 1, 31, 2) and sub.last_charge_amount == 50_000 and sub.failed_charges == 0
    [charge] = charges(sub)
    assert charge.amount == 50_000 and charge.idempotency_key == f"renewal:{sub.id}:2026-01-31"
    assert charge.description.startswith("Auto-renewal: ") and charge.metadata_["isAutoRenewal"] is True
    user = db.session.get(User, sub.user_id)
    assert user.credit_balance == 50_000
    assert len(notes(sub, NotificationType.RENEWAL_SUCCESS)) == 1
    # Same instant again, and the next day: nothing is due, nothing moves.
    assert run(jkt(2026, 1, 31, 3))["processed"] == 0
    assert run(jkt(2026, 2, 1, 2))["processed"] == 0
    assert len(charges(sub)) == 1 and fresh(user).credit_balance == 50_000


def test_month_ends_keep_the_anchor_day_through_a_leap_february(make):
    sub = due_sub(make, balance=500_000, start=jkt(2027, 12, 31), end=jkt(2028, 1, 31))
    ends = []
    for at in (jkt(2028, 1, 31, 2), jkt(2028, 2, 29, 2), jkt(2028, 3, 31, 2), jkt(2028, 4, 30, 2)):
        assert run(at)["successful"] == 1
        ends.append(fresh(sub).end_date.astimezone(jkt(2028, 1, 1).tzinfo).date().isoformat())
    assert ends == ["2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31"]
    assert len(charges(sub)) == 4


def test_billing_dates_are_computed_in_jakarta_not_utc(make):
    # 2026-03-01 00:00 Jakarta is 2026-02-28 17:00 UTC: a UTC calendar would renew to Mar 28.
    end = jkt(2026, 3, 1)
    assert end.astimezone(UTC).day == 28
    sub = due_sub(make, start=jkt(2026, 2, 1), end=end)
    assert run(jkt(2026, 3, 1, 0, 30))["successful"] == 1
    sub = fresh(sub)
    assert sub.end_date == jkt(2026, 4, 1)
    assert charges(sub)[0].idempotency_key.endswith(":2026-03-01")


def test_renewal_charges_the_cached_price_and_never_needs_a_quota_slot(make):
    plan = make.plan(monthly_price=80_000, used_quota=3, total_quota=3)  # full plan
    sub = due_sub(make, plan=plan, price=60_000, start=jkt(2026, 4, 10), end=jkt(2026, 5, 10))
    result = run(jkt(2026, 5, 10, 2))
    assert result["successful"] == 1 and result["quotaExceeded"] == 0
    assert charges(sub)[0].amount == 60_000
    assert db.session.get(ServicePlan, plan.id).used_quota == 3


def test_free_plan_renews_with_a_zero_amount_ledger_row(make):
    sub = due_sub(make, balance=0, price=0, start=jkt(2026, 4, 10), end=jkt(2026, 5, 10))
    assert run(jkt(2026, 5, 10, 2))["successful"] == 1
    [row] = charges(sub)
    assert row.amount == 0 and row.idempotency_key.startswith("renewal:")


def test_months_behind_charges_once_and_restarts_the_period_now(make):
    sub = due_sub(make, balance=500_000, start=jkt(2025, 12, 5), end=jkt(2026, 1, 5))
    at = jkt(2026, 4, 20, 2)
    assert run(at)["successful"] == 1
    sub = fresh(sub)
    assert len(charges(sub)) == 1 and sub.end_date == jkt(2026, 5, 20, 2)
    assert run(jkt(2026, 4, 21, 2))["processed"] == 0


# ------------------------------------------------------------------------------------ grace and expiry
def test_insufficient_credit_sets_grace_once_then_expires_at_its_end(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "GRACE_PERIOD_DAYS", "7")
    plan = make.plan(monthly_price=50_000, used_quota=1)
    sub = due_sub(make, plan=plan, balance=10_000, start=jkt(2026, 5, 15), end=jkt(2026, 6, 15))
    first = run(jkt(2026, 6, 15, 2))
    assert (first["failed"], first["insufficientCredit"], first["gracePeriodsStarted"]) == (1, 1, 1)
    assert first["errors"][0]["error"] == "Insufficient credit. Balance: 10000, Required: 50000"
    assert first["errors"][0]["userEmail"]
    sub = fresh(sub)
    grace_end = jkt(2026, 6, 22, 2)
    assert sub.status == S.ACTIVE and sub.grace_period_end == grace_end and sub.failed_charges == 1
    assert sub.end_date == jkt(2026, 6, 15) and charges(sub) == []
    # Daily retries during the grace: the grace end never moves, failedCharges stays 1 (§5 item 12).
    for day in (16, 17, 21):
        result = run(jkt(2026, 6, day, 2))
        assert result["insufficientCredit"] == 1 and result["gracePeriodsStarted"] == 0
        sub = fresh(sub)
        assert sub.grace_period_end == grace_end and sub.failed_charges == 1
    assert len(notes(sub, NotificationType.RENEWAL_FAILURE)) == 1
    # The grace pass before the end does nothing; at the end it expires (quota back once, one notice).
    with clock.frozen(jkt(2026, 6, 21, 3)):
        assert renewals.process_grace_period()["processed"] == 0
    with clock.frozen(jkt(2026, 6, 22, 3)):
        grace = renewals.process_grace_period()
    assert (grace["processed"], grace["expired"], grace["renewed"]) == (1, 1, 0)
    sub = fresh(sub)
    assert sub.status == S.EXPIRED and sub.auto_renew is False and sub.grace_period_end is None
    assert db.session.get(ServicePlan, plan.id).used_quota == 0
    assert len(notes(sub, NotificationType.SUBSCRIPTION_SUSPENDED)) == 1
    with clock.frozen(jkt(2026, 6, 23, 3)):
        assert renewals.process_grace_period()["processed"] == 0
    assert run(jkt(2026, 6, 23, 2))["processed"] == 0


def test_top_up_during_grace_renews_from_the_old_end_date(make):
    sub = due_sub(make, balance=0, start=jkt(2026, 5, 31), end=jkt(2026, 6, 30))
    run(jkt(2026, 6, 30, 2))
    ledger.credit(sub.user_id, 70_000, type=TransactionType.TOP_UP, description="top-up", counts_as_top_up=True)
    result = run(jkt(2026, 7, 3, 2))
    assert result["successful"] == 1
    sub = fresh(sub)
    assert sub.grace_period_end is None and sub.failed_charges == 0 and sub.end_date == jkt(2026, 7, 31)
    assert len(charges(sub)) == 1


def test_grace_pass_renews_when_the_wallet_now_covers_it(make):
    sub = due_sub(make, balance=0, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10))
    run(jkt(2026, 6, 10, 2))
    ledger.credit(sub.user_id, 50_000, type=TransactionType.TOP_UP, description="top-up", counts_as_top_up=True)
    with clock.frozen(jkt(2026, 6, 17, 3)):
        result = renewals.process_grace_period()
    assert (result["renewed"], result["expired"]) == (1, 0)
    assert fresh(sub).status == S.ACTIVE and len(charges(sub)) == 1


def test_grace_pass_expires_instead_of_charging_when_auto_renew_was_turned_off(make):
    sub = due_sub(make, balance=0, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10))
    run(jkt(2026, 6, 10, 2))
    ledger.credit(sub.user_id, 90_000, type=TransactionType.TOP_UP, description="top-up", counts_as_top_up=True)
    db.session.execute(db.update(Subscription).where(Subscription.id == sub.id).values(auto_renew=False,
                                                                                       next_billing=None))
    with clock.frozen(jkt(2026, 6, 17, 3)):
        result = renewals.process_grace_period()
    assert result["expired"] == 1 and charges(sub) == [] and fresh(sub).status == S.EXPIRED


def test_grace_disabled_expires_at_once(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "GRACE_PERIOD_ENABLED", "false")
    sub = due_sub(make, balance=0, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10))
    result = run(jkt(2026, 6, 10, 2))
    assert (result["insufficientCredit"], result["expired"], result["gracePeriodsStarted"]) == (1, 1, 0)
    sub = fresh(sub)
    assert sub.status == S.EXPIRED and sub.grace_period_end is None
    assert len(notes(sub, NotificationType.RENEWAL_FAILURE)) == 1
    assert len(notes(sub, NotificationType.SUBSCRIPTION_SUSPENDED)) == 1


def test_auto_renew_off_expires_at_end_date_not_before(make):
    plan = make.plan(monthly_price=50_000, used_quota=1)
    sub = due_sub(make, plan=plan, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10), auto_renew=False)
    db.session.execute(db.update(Subscription).where(Subscription.id == sub.id).values(next_billing=None))
    assert run(jkt(2026, 6, 9, 23))["expired"] == 0 and fresh(sub).status == S.ACTIVE
    result = run(jkt(2026, 6, 10, 0, 1))
    assert result["expired"] == 1 and result["processed"] == 0
    assert fresh(sub).status == S.EXPIRED and charges(sub) == []
    assert db.session.get(ServicePlan, plan.id).used_quota == 0


def test_admin_grace_on_a_paid_period_never_expires_it_early(make):
    sub = due_sub(make, balance=0, start=jkt(2026, 6, 1), end=jkt(2026, 7, 1))
    db.session.execute(db.update(Subscription).where(Subscription.id == sub.id)
                       .values(grace_period_end=jkt(2026, 6, 8), failed_charges=1))
    with clock.frozen(jkt(2026, 6, 9, 3)):
        result = renewals.process_grace_period()
    assert result["skipped"] == 1 and result["expired"] == 0 and fresh(sub).status == S.ACTIVE
    # At the end date the renewal fails: a fresh grace starts (the stale one does not expire it at once).
    result = run(jkt(2026, 7, 1, 2))
    assert result["gracePeriodsStarted"] == 1
    assert fresh(sub).status == S.ACTIVE and fresh(sub).grace_period_end == jkt(2026, 7, 8, 2)


# ------------------------------------------------------------------------------ idempotency, isolation
def test_a_used_period_key_is_never_charged_again(make):
    sub = due_sub(make, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10))
    ledger.debit(sub.user_id, 50_000, type=TransactionType.SUBSCRIPTION, description="earlier run",
                 subscription_id=sub.id, idempotency_key=renewals.idempotency_key(sub.id, jkt(2026, 6, 10)))
    result = run(jkt(2026, 6, 10, 2))
    assert result["successful"] == 0 and result["alreadyRenewed"] == 1
    assert db.session.get(User, sub.user_id).credit_balance == 50_000 and len(charges(sub)) == 1
    assert fresh(sub).end_date == jkt(2026, 6, 10)  # the advance was rolled back with it


def test_one_failing_subscription_never_aborts_the_batch(make, monkeypatch):
    subs = [due_sub(make, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10)) for _ in range(5)]
    bad = subs[2].id
    real_debit = ledger.debit

    def debit(user_id, amount, **kw):
        if kw.get("subscription_id") == bad:
            raise RuntimeError("database hiccup")
        return real_debit(user_id, amount, **kw)

    real_post_debits = ledger.post_debits

    def post_debits(entries, balances):  # the set-based path (PostgreSQL): the whole batch fails, then is redone
        if any(entry.subscription_id == bad for entry in entries):  # row by row, where debit() fails for `bad`
            raise RuntimeError("database hiccup")
        return real_post_debits(entries, balances)

    monkeypatch.setattr(ledger, "debit", debit)
    monkeypatch.setattr(ledger, "post_debits", post_debits)
    result = run(jkt(2026, 6, 10, 2), batch_size=2)
    assert (result["processed"], result["successful"], result["failed"]) == (5, 4, 1)
    assert result["errors"] == [{"subscriptionId": bad, "userId": subs[2].user_id, "userEmail": subs[2].user.email,
                                 "error": "RuntimeError: database hiccup"}]
    assert fresh(subs[2]).end_date == jkt(2026, 6, 10) and charges(subs[2]) == []
    assert all(len(charges(s)) == 1 for s in subs if s.id != bad)


def test_cancelled_and_expired_rows_are_never_charged(make):
    a = due_sub(make, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10), status=S.CANCELLED)
    b = due_sub(make, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10), status=S.EXPIRED)
    assert run(jkt(2026, 6, 10, 2))["processed"] == 0
    assert charges(a) == charges(b) == []


# ------------------------------------------------------------------------------ warnings and reminders
def test_low_credit_warning_once_per_period_within_the_window(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOW_CREDIT_WARNING_DAYS", "3")
    poor = due_sub(make, balance=10_000, start=jkt(2026, 5, 20), end=jkt(2026, 6, 20))
    due_sub(make, balance=90_000, start=jkt(2026, 5, 20), end=jkt(2026, 6, 20))  # can pay
    due_sub(make, balance=0, start=jkt(2026, 5, 28), end=jkt(2026, 6, 28))  # outside the window
    with clock.frozen(jkt(2026, 6, 17, 9)):
        assert [s.id for s in renewals.low_credit_subscriptions()] == [poor.id]
        first = renewals.send_low_credit_notifications()
    with clock.frozen(jkt(2026, 6, 18, 9)):
        again = renewals.send_low_credit_notifications()
    assert first["processed"] == first["successful"] == 1 and again["processed"] == 1
    [note] = notes(poor, NotificationType.LOW_CREDIT_WARNING)
    assert note.data["shortfall"] == 40_000 and note.data["daysUntilBilling"] == 3 and note.recipient


def test_low_credit_warnings_can_be_disabled(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOW_CREDIT_WARNING_ENABLED", "false")
    due_sub(make, balance=0, start=jkt(2026, 5, 20), end=jkt(2026, 6, 20))
    with clock.frozen(jkt(2026, 6, 19)):
        assert renewals.send_low_credit_notifications() == {"processed": 0, "successful": 0, "failed": 0,
                                                            "errors": []}


def test_grace_reminders_once_a_day_and_never_after_the_grace(make):
    sub = due_sub(make, balance=0, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10))
    run(jkt(2026, 6, 10, 2))  # grace until Jun 17 02:00
    for at in (jkt(2026, 6, 11, 18), jkt(2026, 6, 11, 19), jkt(2026, 6, 12, 18)):
        with clock.frozen(at):
            renewals.send_grace_period_reminders()
    with clock.frozen(jkt(2026, 6, 17, 18)):
        assert renewals.send_grace_period_reminders()["processed"] == 0
    reminders = notes(sub, NotificationType.GRACE_PERIOD_REMINDER)
    assert len(reminders) == 2
    assert sorted(r.data["daysRemaining"] for r in reminders) == [5, 6]


def test_counts_of_a_mixed_pass(make):
    due_sub(make, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10))
    due_sub(make, balance=0, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10))
    due_sub(make, start=jkt(2026, 5, 10), end=jkt(2026, 6, 10), auto_renew=False)
    result = run(jkt(2026, 6, 10, 2))
    assert {k: result[k] for k in ("processed", "successful", "failed", "insufficientCredit", "expired")} == {
        "processed": 2, "successful": 1, "failed": 1, "insufficientCredit": 1, "expired": 1}
    total = db.session.execute(select(func.count()).select_from(Transaction)
                               .where(Transaction.type == TransactionType.SUBSCRIPTION)).scalar_one()
    assert total == 1
