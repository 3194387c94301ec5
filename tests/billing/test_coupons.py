"""The coupon service: credit redemption, checkout coupons, limits under races, administration rules."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from webapp.audit.models import AuditEntry
from webapp.billing import coupons
from webapp.billing.coupon_errors import (CouponAlreadyRedeemed, CouponCodeTaken, CouponCreditAmountRequired,
                                          CouponDatesInvalid, CouponDiscountTypeRequired, CouponExpired,
                                          CouponFixedAmountRequired, CouponFreeServiceNeedsService,
                                          CouponHasRedemptions, CouponMaxUsesBelowUsed, CouponNotActive,
                                          CouponNotForCheckout, CouponNotForCredit, CouponNotFound, CouponNotYetValid,
                                          CouponPercentRequired, CouponPerUserLimitUnsupported,
                                          CouponRedemptionNotFound, CouponServiceNotFound, CouponUsageLimitExceeded,
                                          CouponValidUntilPast, CouponWrongPlanType, CouponWrongService,
                                          InvalidCouponCode)
from webapp.billing.coupon_models import Coupon, CouponDiscountType, CouponRedemption, CouponStatus, CouponType
from webapp.billing.ledger import ledger_sum
from webapp.billing.models import Transaction, TransactionType
from webapp.catalog.models import PlanType
from webapp.db import utcnow
from webapp.extensions import db


def make_coupon(code="TOPUP20K", *, type=CouponType.CREDIT_TOPUP, credit_amount=20_000, **kw) -> Coupon:
    """A coupon row as an admin would have created it (tests only; the service is the writer otherwise)."""
    defaults = dict(code=code, name=kw.pop("name", f"Coupon {code}"), type=CouponType(type),
                    credit_amount=credit_amount, max_uses=10, used_count=0, max_uses_per_user=1,
                    status=CouponStatus.ACTIVE, valid_from=utcnow() - timedelta(days=1), valid_until=None,
                    created_by="test")
    defaults.update(kw)
    coupon = Coupon(**defaults)
    db.session.add(coupon)
    db.session.flush()
    return coupon


def discount_coupon(code="SAVE20", *, percent=None, fixed=None, **kw) -> Coupon:
    if percent is not None:
        return make_coupon(code, type=CouponType.SUBSCRIPTION_DISCOUNT, credit_amount=None,
                           discount_type=CouponDiscountType.PERCENTAGE, discount_percent=percent, **kw)
    return make_coupon(code, type=CouponType.SUBSCRIPTION_DISCOUNT, credit_amount=fixed,
                       discount_type=CouponDiscountType.FIXED_AMOUNT, **kw)


def _state(user, coupon):
    db.session.expire_all()
    user = db.session.get(type(user), user.id)
    coupon = db.session.get(Coupon, coupon.id)
    redemptions = db.session.execute(select(func.count()).select_from(CouponRedemption)
                                     .where(CouponRedemption.coupon_id == coupon.id)).scalar_one()
    return user.credit_balance, coupon.used_count, coupon.status, redemptions


# ---------------------------------------------------------------------------------------------- credit (W10)
def test_credit_coupon_credits_wallet_once_with_ledger_row_and_redemption(make):
    user = make.user(credit_balance=0)
    coupon = make_coupon("TOPUP20K", name="Top up 20K", max_uses=2)
    redemption = coupons.redeem_credit_coupon("  topup20k ", user=user)
    tx = redemption.transaction
    assert (tx.type, tx.amount, tx.balance_before, tx.balance_after) == (TransactionType.COUPON_REDEMPTION, 20_000, 0,
                                                                         20_000)
    assert tx.description == "Coupon redemption: Top up 20K - 20,000 IDR credit"
    assert tx.idempotency_key == f"coupon:{coupon.id}:{user.id}"
    assert tx.metadata_["couponCode"] == "TOPUP20K" and tx.metadata_["couponType"] == "CREDIT_TOPUP"
    assert redemption.transaction_id == tx.id and redemption.credit_amount == 20_000
    assert redemption.metadata_ == {"originalCouponValue": 20_000, "redemptionContext": "billing_page"}
    assert _state(user, coupon) == (20_000, 1, CouponStatus.ACTIVE, 1)
    assert ledger_sum(user.id) == 20_000
    assert db.session.get(type(user), user.id).total_top_up == 20_000

    with pytest.raises(CouponAlreadyRedeemed):
        coupons.redeem_credit_coupon("TOPUP20K", user=user)
    assert _state(user, coupon) == (20_000, 1, CouponStatus.ACTIVE, 1)


def test_last_use_marks_coupon_used_up_and_then_refuses(make):
    first, second = make.user(), make.user()
    coupon = make_coupon("LAST1", max_uses=1)
    coupons.redeem_credit_coupon("LAST1", user=first)
    assert _state(first, coupon)[1:3] == (1, CouponStatus.USED_UP)
    with pytest.raises(CouponNotActive):
        coupons.redeem_credit_coupon("LAST1", user=second)
    assert _state(second, coupon) == (0, 1, CouponStatus.USED_UP, 1)


def test_welcome_bonus_coupon_redeemed_by_hand_uses_welcome_description(make):
    user = make.user()
    make_coupon("HELLO50K", type=CouponType.WELCOME_BONUS, credit_amount=50_000)
    redemption = coupons.redeem_credit_coupon("hello50k", user=user)
    assert redemption.transaction.description == "Welcome bonus:  50,000 IDR credit"


@pytest.mark.parametrize("setup, code, error", [
    (lambda: None, "NOPE", InvalidCouponCode),
    (lambda: discount_coupon("SAVE20", percent=20), "SAVE20", CouponNotForCredit),
    (lambda: make_coupon("FREEGHOST", type=CouponType.FREE_SERVICE, credit_amount=None), "FREEGHOST",
     CouponNotForCredit),
    (lambda: make_coupon("OFF", status=CouponStatus.DISABLED), "OFF", CouponNotActive),
    (lambda: make_coupon("OLD", valid_until=utcnow() - timedelta(seconds=1)), "OLD", CouponExpired),
    (lambda: make_coupon("SOON", valid_from=utcnow() + timedelta(hours=1)), "SOON", CouponNotYetValid),
    (lambda: make_coupon("FULL", max_uses=3, used_count=3), "FULL", CouponUsageLimitExceeded),
])
def test_credit_coupon_refusals_change_nothing(make, setup, code, error):
    user = make.user(credit_balance=1_000)
    setup()
    before = db.session.execute(select(func.count()).select_from(Transaction)).scalar_one()
    with pytest.raises(error) as raised:
        coupons.redeem_credit_coupon(code, user=user)
    assert raised.value.status == 400
    db.session.expire_all()
    assert db.session.get(type(user), user.id).credit_balance == 1_000
    assert db.session.execute(select(func.count()).select_from(Transaction)).scalar_one() == before
    assert db.session.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 0


def test_error_messages_are_the_originals():
    assert InvalidCouponCode().text == "Invalid coupon code"
    assert CouponNotActive().text == "Coupon is not active"
    assert CouponNotYetValid().text == "Coupon is not yet valid"
    assert CouponWrongService(service="Ghost Blog").text == "Coupon is only valid for Ghost Blog"
    assert CouponWrongPlanType(plan_type="PRO").text == "Coupon is only valid for PRO plans"
    assert CouponNotForCheckout().text == "This coupon cannot be used during subscription checkout"


# ------------------------------------------------------------------------------------------- validate (W9)
def test_validate_reports_first_failing_rule_and_writes_nothing(make):
    user = make.user()
    ghost = make.service(name="Ghost Blog")
    other = make.service(name="Other")
    discount_coupon("GHOST10", percent=10, service_id=ghost.id)
    assert coupons.validate_coupon("nope", user=user).error == "Invalid coupon code"
    check = coupons.validate_coupon(" ghost10 ", user=user, service_id=other.id)
    assert (check.valid, check.error) == (False, "Coupon is only valid for Ghost Blog")
    check = coupons.validate_coupon("GHOST10", user=user, service_id=ghost.id, subscription_amount=75_555)
    assert check.valid and (check.potential_value, check.value_description) == (7_555, "10% discount (7,555 IDR)")
    assert coupons.validate_coupon("GHOST10", user=user).value_description == "10% discount"
    # the additive context option checks the type too
    assert coupons.validate_coupon("GHOST10", user=user, context="billing").error == \
        "This coupon cannot be used for credit top-up"
    assert db.session.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 0


def test_validate_fixed_discount_is_capped_by_the_amount(make):
    user = make.user()
    discount_coupon("SAVE30K", fixed=30_000)
    assert coupons.validate_coupon("SAVE30K", user=user).potential_value == 30_000
    check = coupons.validate_coupon("SAVE30K", user=user, subscription_amount=25_000)
    assert (check.potential_value, check.value_description) == (25_000, "25,000 IDR discount")


# ------------------------------------------------------------------------------------------------- checkout
def test_check_subscription_coupon_amounts_and_nothing_written(make):
    user = make.user()
    plan = make.plan(monthly_price=75_000)
    discount_coupon("PCT33", percent=33)
    discount_coupon("FIX100K", fixed=100_000)
    make_coupon("FREEIT", type=CouponType.FREE_SERVICE, credit_amount=None, service_id=plan.service_id)
    pct = coupons.check_subscription_coupon("pct33", user=user, plan=plan)
    assert (pct.original_amount, pct.discount_amount, pct.final_amount, pct.is_free_service) == (75_000, 24_750,
                                                                                                 50_250, False)
    assert pct.redemption_id == "" and pct.code == "PCT33"
    fixed = coupons.check_subscription_coupon("FIX100K", user=user, plan=plan)
    assert (fixed.discount_amount, fixed.final_amount) == (75_000, 0)
    free = coupons.check_subscription_coupon("FREEIT", user=user, plan=plan)
    assert (free.discount_amount, free.final_amount, free.is_free_service) == (75_000, 0, True)
    assert db.session.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 0
    assert db.session.execute(select(func.sum(Coupon.used_count))).scalar_one() == 0


def test_checkout_refuses_wrong_service_wrong_plan_type_and_credit_coupons(make):
    user = make.user()
    n8n = make.service(name="N8N Automation")
    basic = make.plan(service=n8n, plan_type=PlanType.BASIC)
    pro = make.plan(service=n8n, plan_type=PlanType.PRO)
    elsewhere = make.plan()
    discount_coupon("N8NSAVE30", percent=30, service_id=n8n.id, plan_type=PlanType.PRO)
    make_coupon("FREEN8N", type=CouponType.FREE_SERVICE, credit_amount=None, service_id=n8n.id)
    make_coupon("CASH", credit_amount=10_000)
    with pytest.raises(CouponWrongService, match="^Coupon is only valid for N8N Automation$"):
        coupons.check_subscription_coupon("N8NSAVE30", user=user, plan=elsewhere)
    with pytest.raises(CouponWrongPlanType, match="^Coupon is only valid for PRO plans$"):
        coupons.redeem_subscription_coupon("N8NSAVE30", user=user, plan=basic)
    with pytest.raises(CouponWrongService):
        coupons.redeem_subscription_coupon("FREEN8N", user=user, plan=elsewhere)
    with pytest.raises(CouponNotForCheckout):
        coupons.redeem_subscription_coupon("CASH", user=user, plan=pro)
    assert coupons.check_subscription_coupon("N8NSAVE30", user=user, plan=pro).final_amount == pro.monthly_price * 7 // 10
    assert db.session.execute(select(func.sum(Coupon.used_count))).scalar_one() == 0


def test_redeem_subscription_coupon_writes_redemption_counter_and_links(make):
    user = make.user()
    plan = make.plan(monthly_price=50_000)
    coupon = make_coupon("FREEBIE", type=CouponType.FREE_SERVICE, credit_amount=None, service_id=plan.service_id,
                         max_uses=1)
    result = coupons.redeem_subscription_coupon("freebie", user=user, plan=plan)
    assert result.is_free_service and result.final_amount == 0 and result.redemption_id
    redemption = db.session.get(CouponRedemption, result.redemption_id)
    assert redemption.subscription_id is None and redemption.transaction_id is None
    assert redemption.metadata_["freeServiceValue"] == 50_000
    assert redemption.metadata_["redemptionContext"] == "free_service"
    db.session.refresh(coupon)
    assert (coupon.used_count, coupon.status) == (1, CouponStatus.USED_UP)
    subscription = make.subscription(user=user, plan=plan)
    coupons.link_redemption_to_subscription(result.redemption_id, subscription.id)
    db.session.refresh(redemption)
    assert redemption.subscription_id == subscription.id
    with pytest.raises(CouponRedemptionNotFound):
        coupons.link_redemption_to_subscription("c" + "x" * 24, subscription.id)
    # no money moved: the subscription's own charge carries the amount
    assert db.session.execute(select(func.count()).select_from(Transaction)).scalar_one() == 0


def test_discount_redeemed_twice_by_same_user_is_refused(make):
    user = make.user()
    plan = make.plan(monthly_price=100_000)
    coupon = discount_coupon("SAVE20", percent=20)
    result = coupons.redeem_subscription_coupon("SAVE20", user=user, plan=plan)
    assert (result.discount_amount, result.final_amount) == (20_000, 80_000)
    assert db.session.get(CouponRedemption, result.redemption_id).metadata_["redemptionContext"] == "checkout_page"
    with pytest.raises(CouponAlreadyRedeemed):
        coupons.redeem_subscription_coupon("save20", user=user, plan=plan)
    db.session.refresh(coupon)
    assert coupon.used_count == 1


# ----------------------------------------------------------------------------------------------- concurrency
def _in_app(app, fn):
    def run():
        with app.app_context():
            try:
                fn()
            finally:
                db.session.remove()
    return run


def _race(app, workers):
    barrier = threading.Barrier(len(workers))
    outcomes = []

    def wrap(fn):
        def go():
            barrier.wait()
            try:
                fn()
                db.session.commit()
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                db.session.rollback()
                outcomes.append(exc)
        return go

    threads = [threading.Thread(target=_in_app(app, wrap(fn))) for fn in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_users_racing_for_the_last_use_exactly_one_wins(app, committing_db, make):
    from webapp.accounts.models import User

    users = [make.user(), make.user()]
    rounds = [make_coupon(f"LASTONE{n}", max_uses=1).id for n in range(3)]
    db.session.commit()
    user_ids = [u.id for u in users]

    def redeem(code, uid):
        return lambda: coupons.redeem_credit_coupon(code, user=db.session.get(User, uid))

    for n in range(3):  # the race goes either way; every round must hold the limit
        outcomes = _race(app, [redeem(f"lastone{n}", uid) for uid in user_ids])
        assert outcomes.count("ok") == 1, outcomes
        (loser,) = [o for o in outcomes if o != "ok"]
        assert isinstance(loser, (CouponNotActive, CouponUsageLimitExceeded)), loser
    db.session.expire_all()
    for coupon_id in rounds:
        coupon = db.session.get(Coupon, coupon_id)
        assert (coupon.used_count, coupon.status) == (1, CouponStatus.USED_UP)
    assert sum(db.session.get(User, uid).credit_balance for uid in user_ids) == 3 * 20_000
    assert all(db.session.get(User, uid).credit_balance == ledger_sum(uid) for uid in user_ids)
    assert db.session.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 3


def test_same_user_firing_ten_concurrent_redeems_is_credited_once(app, committing_db, make):
    from webapp.accounts.models import User

    user = make.user()
    coupon = make_coupon("BURST", max_uses=100)
    db.session.commit()
    user_id, coupon_id = user.id, coupon.id
    outcomes = _race(app, [lambda: coupons.redeem_credit_coupon("burst", user=db.session.get(User, user_id))] * 10)
    assert outcomes.count("ok") == 1
    assert all(isinstance(o, CouponAlreadyRedeemed) for o in outcomes if o != "ok"), outcomes
    db.session.expire_all()
    assert db.session.get(User, user_id).credit_balance == 20_000 == ledger_sum(user_id)
    assert db.session.get(Coupon, coupon_id).used_count == 1


def test_checkout_redemptions_racing_never_exceed_max_uses(app, committing_db, make):
    from webapp.accounts.models import User
    from webapp.catalog.models import ServicePlan

    users = [make.user() for _ in range(6)]
    plan = make.plan(monthly_price=80_000)
    coupon = discount_coupon("FEW", percent=50, max_uses=2)
    db.session.commit()
    ids, plan_id, coupon_id = [u.id for u in users], plan.id, coupon.id

    def redeem(uid):
        return lambda: coupons.redeem_subscription_coupon("FEW", user=db.session.get(User, uid),
                                                          plan=db.session.get(ServicePlan, plan_id))

    outcomes = _race(app, [redeem(uid) for uid in ids])
    assert outcomes.count("ok") == 2
    db.session.expire_all()
    coupon = db.session.get(Coupon, coupon_id)
    assert (coupon.used_count, coupon.status) == (2, CouponStatus.USED_UP)


# -------------------------------------------------------------------------------------------- administration
BASE = dict(code="new10k", name=" New 10K ", type="CREDIT_TOPUP", credit_amount=10_000)


def test_create_normalises_and_audits(make, admin):
    coupon = coupons.create_coupon(actor=admin, data={**BASE, "discount_type": "PERCENTAGE", "discount_percent": 10})
    assert (coupon.code, coupon.name, coupon.status, coupon.used_count, coupon.created_by) == (
        "NEW10K", "New 10K", CouponStatus.ACTIVE, 0, admin.id)
    assert coupon.discount_type is None and coupon.discount_percent is None  # irrelevant fields nulled (fix 29)
    assert coupon.valid_from is not None and coupon.valid_until is None
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "coupon.create")).scalar_one()
    assert entry.target_id == coupon.id and entry.actor_id == admin.id
    with pytest.raises(CouponCodeTaken):
        coupons.create_coupon(actor=admin, data={**BASE, "code": " New10k "})


@pytest.mark.parametrize("data, error", [
    ({**BASE, "credit_amount": None}, CouponCreditAmountRequired),
    ({**BASE, "type": "WELCOME_BONUS", "credit_amount": None}, CouponCreditAmountRequired),
    ({**BASE, "type": "SUBSCRIPTION_DISCOUNT"}, CouponDiscountTypeRequired),
    ({**BASE, "type": "SUBSCRIPTION_DISCOUNT", "discount_type": "FIXED_AMOUNT", "credit_amount": None},
     CouponFixedAmountRequired),
    ({**BASE, "type": "SUBSCRIPTION_DISCOUNT", "discount_type": "PERCENTAGE"}, CouponPercentRequired),
    ({**BASE, "type": "FREE_SERVICE"}, CouponFreeServiceNeedsService),
    ({**BASE, "type": "FREE_SERVICE", "service_id": "c" + "0" * 24}, CouponServiceNotFound),
    ({**BASE, "max_uses_per_user": 2}, CouponPerUserLimitUnsupported),
    ({**BASE, "valid_until": utcnow() - timedelta(days=1)}, CouponValidUntilPast),
    ({**BASE, "valid_from": utcnow() + timedelta(days=9), "valid_until": utcnow() + timedelta(days=2)},
     CouponDatesInvalid),
])
def test_create_rules(admin, data, error):
    with pytest.raises(error):
        coupons.create_coupon(actor=admin, data=data)
    assert db.session.execute(select(func.count()).select_from(Coupon)).scalar_one() == 0


def test_update_keeps_status_consistent_with_counter_and_dates(make, admin):
    coupon = make_coupon("FLEX", max_uses=2, used_count=2, status=CouponStatus.USED_UP,
                         valid_until=utcnow() + timedelta(days=5))
    coupons.update_coupon(actor=admin, coupon_id=coupon.id, changes={"max_uses": 5})
    assert (coupon.max_uses, coupon.status) == (5, CouponStatus.ACTIVE)
    with pytest.raises(CouponMaxUsesBelowUsed, match=r"\(2\)"):
        coupons.update_coupon(actor=admin, coupon_id=coupon.id, changes={"max_uses": 1})
    coupons.update_coupon(actor=admin, coupon_id=coupon.id, changes={"max_uses": 2, "status": "ACTIVE"})
    assert coupon.status == CouponStatus.USED_UP  # ACTIVE cannot resurrect an exhausted coupon
    with pytest.raises(CouponDatesInvalid):
        coupons.update_coupon(actor=admin, coupon_id=coupon.id, changes={"valid_until": coupon.valid_from})
    coupons.update_coupon(actor=admin, coupon_id=coupon.id, changes={"valid_until": None, "status": "DISABLED"})
    db.session.expire_all()
    coupon = db.session.get(Coupon, coupon.id)
    assert coupon.valid_until is None and coupon.status == CouponStatus.DISABLED
    with pytest.raises(CouponNotFound):
        coupons.update_coupon(actor=admin, coupon_id="missing", changes={"name": "x"})


def test_delete_only_unredeemed_and_bulk_status(make, admin):
    user = make.user()
    used = make_coupon("USED")
    unused = make_coupon("UNUSED")
    coupons.redeem_credit_coupon("USED", user=user)
    with pytest.raises(CouponHasRedemptions):
        coupons.delete_coupon(actor=admin, coupon_id=used.id)
    coupons.delete_coupon(actor=admin, coupon_id=unused.id)
    assert db.session.get(Coupon, unused.id) is None
    assert coupons.bulk_set_status(actor=admin, coupon_ids=[used.id, "nope"], status="DISABLED") == 1
    assert used.status == CouponStatus.DISABLED
    actions = db.session.execute(select(AuditEntry.action)).scalars().all()
    assert {"coupon.delete", "coupon.status"} <= set(actions)


def test_same_user_redeeming_two_coupons_at_once_gets_both(app, committing_db, make):
    """Each redemption inserts a row referencing the user (FOR KEY SHARE) before the ledger locks the user row;
    with a plain FOR UPDATE two such transactions waited for each other and PostgreSQL killed one (the soak's
    503). Both must now be credited."""
    from webapp.accounts.models import User

    user = make.user()
    for n in range(8):
        make_coupon(f"PAIR{n}A", credit_amount=1_000)
        make_coupon(f"PAIR{n}B", credit_amount=2_000)
    db.session.commit()
    user_id = user.id

    def redeem(code):
        return lambda: coupons.redeem_credit_coupon(code, user=db.session.get(User, user_id))

    for n in range(8):  # interleavings vary between rounds; none may fail
        outcomes = _race(app, [redeem(f"PAIR{n}A"), redeem(f"PAIR{n}B")])
        assert outcomes == ["ok", "ok"], outcomes
    db.session.expire_all()
    assert db.session.get(User, user_id).credit_balance == 8 * 3_000 == ledger_sum(user_id)
