"""The subscription state machine: every legal and illegal transition, idempotency, quota exactly once."""
import threading
from datetime import datetime, timedelta, timezone

import pytest

from webapp import clock
from webapp.audit.models import AuditEntry
from webapp.catalog.models import ServicePlan
from webapp.extensions import db
from webapp.subscriptions import transitions as t
from webapp.subscriptions.errors import (ActiveSubscriptionExists, IllegalTransition, NewPlanFull, PlanFullRetryLater,
                                         SubscriptionNotFound)
from webapp.subscriptions.models import LIVE_STATUSES, Subscription, SubscriptionStatus

S = SubscriptionStatus
UTC = timezone.utc


def used(plan) -> int:
    return db.session.execute(db.select(ServicePlan.used_quota).where(ServicePlan.id == plan.id)).scalar_one()


@pytest.fixture
def setup(make):
    user = make.user()
    plan = make.plan(used_quota=1, total_quota=5)
    return user, plan


def sub_in(make, user, plan, status):
    return make.subscription(user=user, plan=plan, status=status)


def test_table_documents_the_spec_transitions():
    assert (None, S.ACTIVE) in t.ALLOWED
    assert (S.EXPIRED, S.ACTIVE) in t.ALLOWED
    assert (S.ACTIVE, S.EXPIRED) in t.ALLOWED and (S.ACTIVE, S.CANCELLED) in t.ALLOWED
    assert (S.EXPIRED, S.CANCELLED) in t.ALLOWED
    assert (S.CANCELLED, S.EXPIRED) not in t.ALLOWED  # fix 17
    assert (S.CANCELLED, S.ACTIVE) not in t.ALLOWED  # a new row instead (T1)
    assert (S.SUSPENDED, S.ACTIVE) not in t.ALLOWED
    assert t.can_transition("expire", S.ACTIVE) and not t.can_transition("expire", S.EXPIRED)


# expected result per (transition, status): "moved", "noop" (already done) or "illegal"
EXPECTED = {
    "cancel_by_user": {S.ACTIVE: "moved", S.PENDING_UPGRADE: "moved", S.PENDING_PAYMENT: "moved",
                       S.SUSPENDED: "moved", S.EXPIRED: "moved", S.CANCELLED: "noop"},
    "force_cancel": {S.ACTIVE: "moved", S.PENDING_UPGRADE: "moved", S.PENDING_PAYMENT: "moved",
                     S.SUSPENDED: "moved", S.EXPIRED: "moved", S.CANCELLED: "noop"},
    "expire": {S.ACTIVE: "moved", S.PENDING_UPGRADE: "moved", S.PENDING_PAYMENT: "moved", S.SUSPENDED: "moved",
               S.EXPIRED: "noop", S.CANCELLED: "noop"},
    "set_grace_period": {S.ACTIVE: "moved", **{s: "illegal" for s in S if s != S.ACTIVE}},
    "advance_period": {S.ACTIVE: "moved", **{s: "illegal" for s in S if s != S.ACTIVE}},
    "reactivate_expired": {S.EXPIRED: "moved", S.CANCELLED: "illegal", S.SUSPENDED: "illegal",
                           S.ACTIVE: "conflict", S.PENDING_UPGRADE: "conflict", S.PENDING_PAYMENT: "conflict"},
}


def _run(name, subscription, plan):
    if name == "cancel_by_user":
        return t.cancel_by_user(subscription.id, reason="test")
    if name == "force_cancel":
        return t.force_cancel(subscription.id, reason="test reason")
    if name == "expire":
        return t.expire_subscription(subscription.id, reason="test")
    if name == "set_grace_period":
        return t.set_grace_period(subscription.id, days=7)
    if name == "advance_period":
        return t.advance_period(subscription.id, expected_end_date=subscription.end_date,
                                new_end_date=clock.add_months(subscription.end_date, 1), charged_amount=50_000)
    if name == "reactivate_expired":
        now = clock.now()
        return t.reactivate_expired(subscription.id, plan=plan, start=now, end=clock.add_months(now, 1),
                                    monthly_price=plan.monthly_price, last_charge_amount=plan.monthly_price)
    raise AssertionError(name)


TARGET = {"cancel_by_user": S.CANCELLED, "force_cancel": S.CANCELLED, "expire": S.EXPIRED,
          "reactivate_expired": S.ACTIVE}


@pytest.mark.parametrize("name, status, expected",
                         [(n, s, e) for n, table in EXPECTED.items() for s, e in table.items()])
def test_every_transition_from_every_status(make, name, status, expected):
    user = make.user()
    live = status in LIVE_STATUSES
    plan = make.plan(used_quota=1 if live else 0, total_quota=5)
    subscription = sub_in(make, user, plan, status)
    quota_before = used(plan)
    if expected == "illegal":
        with pytest.raises(IllegalTransition):
            _run(name, subscription, plan)
        assert db.session.get(Subscription, subscription.id).status == status
        return
    if expected == "conflict":
        with pytest.raises(ActiveSubscriptionExists):
            _run(name, subscription, plan)
        return
    outcome = _run(name, subscription, plan)
    assert outcome.previous_status == status
    if expected == "noop":
        assert outcome.changed is False and outcome.subscription.status == status
        assert used(plan) == quota_before
        return
    assert outcome.changed is True
    assert outcome.subscription.status == TARGET.get(name, status)
    new_live = outcome.subscription.status in LIVE_STATUSES
    assert used(plan) == quota_before - (1 if live and not new_live else 0) + (1 if new_live and not live else 0)
    assert db.session.query(AuditEntry).filter_by(target_id=subscription.id).count() == 1


def test_unknown_subscription_is_not_found():
    with pytest.raises(SubscriptionNotFound):
        t.expire_subscription("c" + "0" * 24, reason="x")


def test_cancel_then_expire_releases_quota_once(make, setup):
    user, plan = setup
    subscription = sub_in(make, user, plan, S.ACTIVE)
    first = t.cancel_by_user(subscription.id)
    assert first.changed and first.quota_released and used(plan) == 0
    assert first.subscription.auto_renew is False and first.subscription.next_billing is None
    assert first.subscription.cancelled_at is not None
    assert first.subscription.end_date == subscription.end_date  # endDate kept on user cancel
    assert not t.cancel_by_user(subscription.id).changed
    assert not t.expire_subscription(subscription.id, reason="job").changed
    assert not t.force_cancel(subscription.id, reason="again").changed
    assert used(plan) == 0


def test_expire_then_cancel_does_not_release_twice(make, setup):
    user, plan = setup
    subscription = make.subscription(user=user, plan=plan, grace_period_end=clock.now() + timedelta(days=2), failed_charges=1)
    expired = t.expire_subscription(subscription.id, reason="grace over")
    assert expired.quota_released and used(plan) == 0
    row = expired.subscription
    assert (row.status, row.auto_renew, row.grace_period_end, row.next_billing) == (S.EXPIRED, False, None, None)
    assert row.end_date == subscription.end_date  # T6/T7 keep the end date
    cancelled = t.cancel_by_user(subscription.id)
    assert cancelled.changed and not cancelled.quota_released and used(plan) == 0


def test_expire_end_now_and_notification_once(make, setup):
    from webapp.notifications.models import Notification, NotificationType

    user, plan = setup
    subscription = sub_in(make, user, plan, S.ACTIVE)
    with clock.frozen(datetime(2026, 5, 5, 5, tzinfo=UTC)):
        outcome = t.expire_subscription(subscription.id, reason="admin", end_now=True)
    assert outcome.subscription.end_date == datetime(2026, 5, 5, 5, tzinfo=UTC)
    t.expire_subscription(subscription.id, reason="admin again")
    notes = db.session.query(Notification).filter_by(subscription_id=subscription.id).all()
    assert [n.type for n in notes] == [NotificationType.SUBSCRIPTION_SUSPENDED]


def test_force_cancel_sets_end_now(make, setup):
    user, plan = setup
    subscription = sub_in(make, user, plan, S.ACTIVE)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    with clock.frozen(at):
        outcome = t.force_cancel(subscription.id, reason="abuse")
    assert outcome.subscription.end_date == at and outcome.subscription.cancelled_at == at


def test_grace_is_set_once_and_never_extended(make, setup):
    user, plan = setup
    subscription = sub_in(make, user, plan, S.ACTIVE)
    with clock.frozen(datetime(2026, 1, 1, tzinfo=UTC)):
        first = t.set_grace_period(subscription.id, days=7)
    with clock.frozen(datetime(2026, 1, 2, tzinfo=UTC)):
        again = t.set_grace_period(subscription.id, days=7)
    assert first.changed and not again.changed
    row = db.session.get(Subscription, subscription.id)
    assert row.grace_period_end == datetime(2026, 1, 8, tzinfo=UTC) and row.failed_charges == 1
    with clock.frozen(datetime(2026, 1, 3, tzinfo=UTC)):
        replaced = t.set_grace_period(subscription.id, days=14, replace=True)
    assert replaced.changed and replaced.subscription.grace_period_end == datetime(2026, 1, 17, tzinfo=UTC)
    assert replaced.subscription.failed_charges == 1
    with pytest.raises(ValueError):
        t.set_grace_period(subscription.id, days=0)


def test_advance_period_is_guarded_by_the_expected_end_date(make, setup):
    user, plan = setup
    end = datetime(2026, 1, 31, 2, tzinfo=UTC)
    subscription = make.subscription(user=user, plan=plan, end_date=end, next_billing=end,
                                     grace_period_end=end + timedelta(days=7), failed_charges=2)
    new_end = clock.add_months(end, 1)
    first = t.advance_period(subscription.id, expected_end_date=end, new_end_date=new_end, charged_amount=50_000)
    second = t.advance_period(subscription.id, expected_end_date=end, new_end_date=clock.add_months(new_end, 1),
                              charged_amount=50_000)
    assert first.changed and not second.changed
    row = db.session.get(Subscription, subscription.id)
    assert (row.end_date, row.next_billing, row.grace_period_end, row.failed_charges, row.last_charge_amount) == (
        new_end, new_end, None, 0, 50_000)
    assert row.last_billed is not None


def test_advance_period_without_auto_renew_leaves_next_billing_null(make, setup):
    user, plan = setup
    subscription = make.subscription(user=user, plan=plan, auto_renew=False, next_billing=None)
    new_end = clock.add_months(subscription.end_date, 1)
    outcome = t.advance_period(subscription.id, expected_end_date=subscription.end_date, new_end_date=new_end,
                               charged_amount=1, monthly_price=60_000)
    assert outcome.subscription.next_billing is None and outcome.subscription.monthly_price == 60_000


def test_activate_new_takes_quota_and_the_database_refuses_a_second_live_row(make, setup):
    user, plan = setup
    now = clock.now()
    subscription = t.activate_new(user_id=user.id, plan=plan, start=now, end=clock.add_months(now, 1),
                                  monthly_price=plan.monthly_price, last_charge_amount=plan.monthly_price)
    assert subscription.status == S.ACTIVE and used(plan) == 2 and subscription.next_billing == subscription.end_date
    with pytest.raises(ActiveSubscriptionExists):
        t.activate_new(user_id=user.id, plan=plan, start=now, end=clock.add_months(now, 1),
                       monthly_price=plan.monthly_price, last_charge_amount=0)
    assert used(plan) == 2
    # Other statuses do not block (the partial index covers live statuses only).
    t.cancel_by_user(subscription.id)
    again = t.activate_new(user_id=user.id, plan=plan, start=now, end=clock.add_months(now, 1),
                           monthly_price=plan.monthly_price, last_charge_amount=0)
    assert again.id != subscription.id


def test_activate_new_on_a_full_plan(make):
    user = make.user()
    plan = make.plan(total_quota=1, used_quota=1)
    with pytest.raises(PlanFullRetryLater):
        t.activate_new(user_id=user.id, plan=plan, start=clock.now(), end=clock.now() + timedelta(days=30),
                       monthly_price=1, last_charge_amount=1)


def test_reactivate_resets_the_row(make):
    user = make.user()
    basic = make.plan(used_quota=0)
    pro = make.plan(service=basic.service, plan_type="PRO", monthly_price=150_000)
    subscription = make.subscription(user=user, plan=basic, status=S.EXPIRED, auto_renew=False, failed_charges=3,
                                     grace_period_end=clock.now(), next_billing=None)
    now = clock.now()
    outcome = t.reactivate_expired(subscription.id, plan=pro, start=now, end=clock.add_months(now, 1),
                                   monthly_price=150_000, last_charge_amount=150_000)
    row = outcome.subscription
    assert (row.status, row.plan_id, row.auto_renew, row.failed_charges, row.grace_period_end) == (
        S.ACTIVE, pro.id, True, 0, None)
    assert row.next_billing == row.end_date and used(pro) == 1 and used(basic) == 0


def test_change_plan_moves_quota(make):
    user = make.user()
    basic = make.plan(used_quota=1)
    pro = make.plan(service=basic.service, plan_type="PRO", monthly_price=150_000, total_quota=1)
    subscription = make.subscription(user=user, plan=basic)
    outcome = t.change_plan(subscription.id, from_plan_id=basic.id, to_plan=pro, last_charge_amount=10)
    assert outcome.subscription.plan_id == pro.id and outcome.subscription.previous_plan_id == basic.id
    assert outcome.subscription.monthly_price == 150_000 and outcome.subscription.end_date == subscription.end_date
    assert (used(basic), used(pro)) == (0, 1)
    other = make.subscription(user=make.user(), plan=basic)
    with pytest.raises(NewPlanFull):
        t.change_plan(other.id, from_plan_id=basic.id, to_plan=pro, last_charge_amount=0)


def test_admin_set_status_keeps_quota_consistent(make, setup):
    user, plan = setup
    subscription = sub_in(make, user, plan, S.ACTIVE)
    assert t.set_status(subscription.id, status=S.SUSPENDED).quota_released and used(plan) == 0
    assert not t.set_status(subscription.id, status=S.SUSPENDED).changed
    t.set_status(subscription.id, status=S.PENDING_PAYMENT)
    assert used(plan) == 1
    t.set_status(subscription.id, status=S.ACTIVE)
    assert used(plan) == 1
    t.set_status(subscription.id, status=S.CANCELLED)
    assert used(plan) == 0 and db.session.get(Subscription, subscription.id).cancelled_at is not None
    make.subscription(user=user, plan=plan)  # a new live row for the same service
    with pytest.raises(ActiveSubscriptionExists):
        t.set_status(subscription.id, status=S.ACTIVE)


def _in_app(app, fn):
    def run():
        with app.app_context():
            try:
                fn()
            finally:
                db.session.remove()
    return run


def test_concurrent_cancel_and_expire_release_quota_exactly_once(app, committing_db, make):
    plan = make.plan(used_quota=1, total_quota=3)
    user = make.user()
    subscription = make.subscription(user=user, plan=plan)
    db.session.commit()
    sub_id, plan_id = subscription.id, plan.id
    results, errors = [], []
    barrier = threading.Barrier(6)

    def worker(kind):
        barrier.wait()
        try:
            if kind == "cancel":
                outcome = t.cancel_by_user(sub_id)
            elif kind == "force":
                outcome = t.force_cancel(sub_id, reason="race")
            else:
                outcome = t.expire_subscription(sub_id, reason="race")
            db.session.commit()
            results.append(outcome.quota_released)
        except Exception as exc:  # noqa: BLE001
            db.session.rollback()
            errors.append(exc)

    threads = [threading.Thread(target=_in_app(app, lambda k=k: worker(k)))
               for k in ("cancel", "expire", "force", "expire", "cancel", "expire")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    assert errors == []
    assert results.count(True) == 1
    assert db.session.get(ServicePlan, plan_id).used_quota == 0
    assert db.session.get(Subscription, sub_id).status in (S.CANCELLED, S.EXPIRED)
