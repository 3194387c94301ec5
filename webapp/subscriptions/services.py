"""The subscription lifecycle: create, validate, upgrade, cancel, admin actions, instance actions, queries.

Every write runs in the caller's transaction (flush, never commit) following the money pattern:
lock the user row first (ledger.lock_user), then the subscription row, then plans; money through the
ledger with idempotency keys; quota and status through `transitions`; Kubernetes work only through the
cluster services, which enqueue it to run after the commit. Admin writes record an audit row.

Time is `clock.now()`; prorated amounts use `clock.prorate` (the one rounding rule, see clock.py).
The cluster and coupon services are imported inside functions (their modules import ours).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import joinedload

from .. import clock
from ..accounts.errors import UserNotFound
from ..accounts.models import User
from ..audit.services import record
from ..billing import ledger
from ..billing.models import Transaction, TransactionStatus, TransactionType
from ..catalog.errors import PlanNotFound
from ..catalog.models import Service, ServicePlan
from ..db import isoformat
from ..extensions import db
from . import transitions
from .errors import (AdminInsufficientCredit, AdminInsufficientCreditForUpgrade, AdminNotFound, AlreadyCancelled,
                     AlreadyExpired, AutoRenewCancelled, AutoRenewExpired, CannotExpireCancelled,
                     CannotRetryInactive, CanOnlyUpgradeActive, ConcurrentUpdate, DifferentService,
                     ExpiredSubscriptionExists, ActiveSubscriptionExists, ExtensionNotPositive, HigherTierRequired,
                     InsufficientCreditBalance, InsufficientCreditForUpgrade, InvalidServicePlan, NewPlanFull,
                     NewPlanNotFound, NoFieldsToUpdate, NoInstanceFound, NoInstances, NoRunningInstance,
                     NoRunningInstanceTo, NoStoppedInstance, PartialRefundTooLarge, PlanAtCapacity,
                     PlanNotAvailable, RefundAmountNotPositive, RefundExceedsPaid, SamePlan, SubscriptionNotFound,
                     UpgradeOptionsInactive, UpgradeWhileUnpaid)
from .models import LIVE_STATUSES, Subscription, SubscriptionStatus

S = SubscriptionStatus
CHARGE_TYPES = (TransactionType.SUBSCRIPTION, TransactionType.UPGRADE)


# ============================================================================================ loading
def _options():
    return (joinedload(Subscription.service), joinedload(Subscription.plan).joinedload(ServicePlan.service),
            joinedload(Subscription.user))


def get_subscription(subscription_id: str, *, user_id: str | None = None) -> Subscription:
    """One subscription (service, plan, user loaded); 404 when absent or, with `user_id`, not the caller's."""
    query = select(Subscription).options(*_options()).where(Subscription.id == subscription_id)
    if user_id is not None:
        query = query.where(Subscription.user_id == user_id)
    subscription = db.session.execute(query.execution_options(populate_existing=True)).unique().scalar_one_or_none()
    if subscription is None:
        raise SubscriptionNotFound()
    return subscription


def _lock(subscription_id: str, *, user_id: str | None = None) -> tuple[User, Subscription]:
    """Money-pattern lock order: the owner's user row, then the subscription row."""
    owner = db.session.execute(select(Subscription.user_id).where(Subscription.id == subscription_id)).scalar()
    if owner is None or (user_id is not None and owner != user_id):
        raise SubscriptionNotFound()
    user = ledger.lock_user(owner)
    subscription = transitions.load(subscription_id, lock=True)
    return user, subscription


def instances_of(subscription_id: str) -> list:
    from ..cluster.models import ServiceInstance

    return list(db.session.execute(select(ServiceInstance).where(ServiceInstance.subscription_id == subscription_id)
                                   .order_by(ServiceInstance.created_at.desc())).scalars())


def instance_counts(subscription_ids) -> dict[str, int]:
    from ..cluster.models import ServiceInstance

    ids = list(subscription_ids)
    if not ids:
        return {}
    return dict(db.session.execute(select(ServiceInstance.subscription_id, func.count())
                                   .where(ServiceInstance.subscription_id.in_(ids))
                                   .group_by(ServiceInstance.subscription_id)).all())


def instances_by_subscription(subscription_ids) -> dict[str, list]:
    from ..cluster.models import ServiceInstance

    ids = list(subscription_ids)
    out: dict[str, list] = {i: [] for i in ids}
    if not ids:
        return out
    for instance in db.session.execute(select(ServiceInstance).where(ServiceInstance.subscription_id.in_(ids))
                                       .order_by(ServiceInstance.created_at.desc())).scalars():
        out[instance.subscription_id].append(instance)
    return out


# ========================================================================================== U1 / U4
def list_user_subscriptions(user, *, status: str | None = None) -> list[Subscription]:
    """U1: the caller's subscriptions, newest first, optionally of one status."""
    query = select(Subscription).options(*_options()).where(Subscription.user_id == user.id)
    if status:
        query = query.where(Subscription.status == S(status))
    return list(db.session.execute(query.order_by(Subscription.created_at.desc(), Subscription.id.desc()))
                .unique().scalars())


def recent_charges(subscription_id: str, limit: int = 10) -> list[Transaction]:
    """U4: the newest SUBSCRIPTION/UPGRADE ledger rows linked to the subscription."""
    return list(db.session.execute(
        select(Transaction).where(Transaction.subscription_id == subscription_id, Transaction.type.in_(CHARGE_TYPES))
        .order_by(Transaction.created_at.desc(), Transaction.custom_id.desc()).limit(limit)).scalars())


# ============================================================================================= U2
def _plan_for_checkout(plan_id: str) -> ServicePlan | None:
    return db.session.execute(select(ServicePlan).options(joinedload(ServicePlan.service))
                              .where(ServicePlan.id == plan_id)).scalar_one_or_none()


def _quota_info(plan: ServicePlan) -> dict:
    available = plan.total_quota - plan.used_quota
    return {"planId": plan.id, "planName": plan.name, "serviceName": plan.service.name,
            "totalQuota": plan.total_quota, "usedQuota": plan.used_quota, "availableQuota": available,
            "requestedQuota": 1, "isAvailable": available >= 1, "canAllocate": available >= 1}


def _live_subscription_for(user_id: str, service_id: str) -> Subscription | None:
    return db.session.execute(select(Subscription).where(
        Subscription.user_id == user_id, Subscription.service_id == service_id,
        Subscription.status.in_(LIVE_STATUSES)).limit(1)).scalar_one_or_none()


def _latest_for(user_id: str, service_id: str) -> Subscription | None:
    return db.session.execute(select(Subscription).where(
        Subscription.user_id == user_id, Subscription.service_id == service_id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc()).limit(1)).scalar_one_or_none()


def validate_subscription(user_id: str, plan_id: str, *, required_amount: int | None = None) -> dict:
    """U2: the checks of a new subscription, in the original's order; returns the `validation` object
    (`isValid` false with `error` and `code` on the first failure). `required_amount` defaults to the
    plan's price (U3 passes the price after the coupon)."""
    user = db.session.get(User, user_id)
    if user is None:
        return {"isValid": False, "error": "User not found", "code": "USER_NOT_FOUND"}
    plan = _plan_for_checkout(plan_id)
    if plan is None or not plan.is_active or not plan.service.is_active or not plan.service.is_public:
        return {"isValid": False, "error": "Service plan not found or not available", "code": "PLAN_NOT_AVAILABLE"}
    existing = _live_subscription_for(user.id, plan.service_id)
    if existing is not None:
        return {"isValid": False, "error": "User already has an active subscription for this service",
                "code": "DUPLICATE_SUBSCRIPTION", "existingSubscriptionId": existing.id}
    required = plan.monthly_price if required_amount is None else required_amount
    if user.credit_balance < required:
        return {"isValid": False, "error": "Insufficient credit balance", "code": "INSUFFICIENT_CREDIT",
                "currentBalance": user.credit_balance, "requiredAmount": required,
                "shortfall": required - user.credit_balance}
    quota = _quota_info(plan)
    if not quota["isAvailable"]:
        return {"isValid": False, "error": "Service plan is at full capacity", "code": "QUOTA_EXCEEDED",
                "quotaInfo": quota}
    return {"isValid": True,
            "user": {"id": user.id, "name": user.name, "creditBalance": user.credit_balance},
            "plan": {"id": plan.id, "name": plan.name, "monthlyPrice": plan.monthly_price,
                     "serviceName": plan.service.name},
            "quotaInfo": quota}


_VALIDATION_ERRORS = {"USER_NOT_FOUND": UserNotFound, "PLAN_NOT_AVAILABLE": PlanNotAvailable,
                      "DUPLICATE_SUBSCRIPTION": ActiveSubscriptionExists,
                      "INSUFFICIENT_CREDIT": InsufficientCreditBalance, "QUOTA_EXCEEDED": PlanAtCapacity}


# ========================================================================================= U3 / A1
@dataclass
class CreateResult:
    subscription: Subscription
    message: str
    charge_amount: int
    original_amount: int
    discount_amount: int
    final_amount: int
    is_bonus: bool = False
    is_free_service: bool = False
    is_reactivation: bool = False
    coupon_code: str | None = None
    redemption_id: str | None = None
    transaction: Transaction | None = None
    instance: object | None = None


def create_subscription(user, plan_id: str, *, coupon_code: str | None = None) -> CreateResult:
    """U3 (T1, or T2 when the caller's latest subscription of the service is EXPIRED).

    One transaction: user row locked, coupon redeemed, quota taken, wallet charged (idempotent per
    subscription period, linked to the subscription), row inserted/reactivated, instance row created
    and provisioning enqueued for after the commit. Any failure leaves nothing behind.
    """
    from ..billing.coupons import check_subscription_coupon, redeem_subscription_coupon

    plan = _plan_for_checkout(plan_id)
    if plan is None:
        raise InvalidServicePlan()
    amount = plan.monthly_price
    if coupon_code:
        amount = check_subscription_coupon(coupon_code, user=user, plan=plan).final_amount
    locked_user = ledger.lock_user(user.id)  # concurrent creates of one user queue here
    validation = validate_subscription(locked_user.id, plan.id, required_amount=amount)
    if not validation["isValid"]:
        raise _VALIDATION_ERRORS[validation["code"]]()
    latest = _latest_for(locked_user.id, plan.service_id)
    coupon = redeem_subscription_coupon(coupon_code, user=locked_user, plan=plan) if coupon_code else None
    original = plan.monthly_price
    final = coupon.final_amount if coupon else original
    discount = coupon.discount_amount if coupon else 0
    is_free_service = bool(coupon and coupon.is_free_service)
    now = clock.now()
    end = clock.add_months(now, 1)
    service = plan.service
    reactivation = latest is not None and latest.status == S.EXPIRED
    if reactivation:
        subscription = transitions.reactivate_expired(latest.id, plan=plan, start=now, end=end,
                                                      monthly_price=original, last_charge_amount=final,
                                                      actor=locked_user, source="api").subscription
        description = f"Reactivated subscription: {service.name} - {plan.name} plan"
        key = f"subscription:{subscription.id}:reactivate:{isoformat(now)}"
    else:
        subscription = transitions.activate_new(user_id=locked_user.id, plan=plan, start=now, end=end,
                                                monthly_price=original, last_charge_amount=final,
                                                actor=locked_user, source="api")
        if is_free_service:
            description = f"Free service: {service.name} - {plan.name} plan (Coupon: {coupon.code})"
        elif coupon and discount:
            description = (f"Subscription to {service.name} - {plan.name} plan "
                           f"(Discount: {discount} IDR, Coupon: {coupon.code})")
        else:
            description = f"Subscription to {service.name} - {plan.name} plan"
        key = f"subscription:{subscription.id}:create"
    metadata = {"type": TransactionType.SUBSCRIPTION.value, "planId": plan.id, "serviceName": service.name,
                "planName": plan.name, "originalAmount": original, "discountAmount": discount, "finalAmount": final}
    if coupon:
        metadata["couponCode"] = coupon.code
    if is_free_service:
        metadata["isFreeService"] = True
    if reactivation:
        metadata["isReactivation"] = True
    if final > 0:
        posting = ledger.debit(locked_user.id, final, type=TransactionType.SUBSCRIPTION, description=description,
                               metadata=metadata, subscription_id=subscription.id, idempotency_key=key)
    else:
        posting = ledger.record_free(locked_user.id, type=TransactionType.SUBSCRIPTION, description=description,
                                     metadata={**metadata, "isBonusSubscription": False},
                                     subscription_id=subscription.id, idempotency_key=key)
    if coupon:
        from ..billing.coupons import link_redemption_to_subscription

        link_redemption_to_subscription(coupon.redemption_id, subscription.id)
    instance = _create_instance(subscription, reuse_live=reactivation)
    if reactivation:
        message = "Expired subscription reactivated successfully"
    elif is_free_service:
        message = "Free service subscription created successfully"
    elif discount:
        message = f"Subscription created successfully with {discount} IDR discount"
    else:
        message = "Subscription created successfully"
    return CreateResult(subscription=get_subscription(subscription.id), message=message, charge_amount=final,
                        original_amount=original, discount_amount=discount, final_amount=final,
                        is_free_service=is_free_service, is_reactivation=reactivation,
                        coupon_code=coupon.code if coupon else None,
                        redemption_id=coupon.redemption_id if coupon else None, transaction=posting.transaction,
                        instance=instance)


def _create_instance(subscription: Subscription, *, reuse_live: bool = False):
    """Provision the subscription's instance (row now, Kubernetes after the commit). A reactivated row may
    still own a live instance (an admin expiry that kept it): that one is kept and resized to the plan."""
    from ..cluster.models import InstanceStatus
    from ..cluster.services import create_instance

    if reuse_live:
        live = [i for i in instances_of(subscription.id) if i.status != InstanceStatus.TERMINATED]
        if live:
            _resize(subscription.id)
            return live[0]
    return create_instance(subscription)


def admin_create_subscription(*, actor, user_id: str, plan_id: str, skip_credit_check: bool = False,
                              reason: str | None = None) -> CreateResult:
    """A1: create for a customer (never reactivates: an EXPIRED latest row is a 409). `skip_credit_check`
    makes it a bonus (a zero-amount ledger record)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    plan = _plan_for_checkout(plan_id)
    if plan is None or not plan.is_active:
        raise PlanNotFound()
    user = ledger.lock_user(user.id)
    if _live_subscription_for(user.id, plan.service_id) is not None:
        raise ActiveSubscriptionExists()
    latest = _latest_for(user.id, plan.service_id)
    if latest is not None and latest.status == S.EXPIRED:
        raise ExpiredSubscriptionExists(subscription_id=latest.id)
    price = plan.monthly_price
    if not skip_credit_check and user.credit_balance < price:
        raise AdminInsufficientCredit(balance=user.credit_balance, required=price, data={
            "currentBalance": user.credit_balance, "requiredAmount": price,
            "shortfall": price - user.credit_balance})
    if plan.total_quota - plan.used_quota < 1:
        from .errors import PlanFullRetryLater

        raise PlanFullRetryLater()
    now = clock.now()
    charge = 0 if skip_credit_check else price
    subscription = transitions.activate_new(user_id=user.id, plan=plan, start=now, end=clock.add_months(now, 1),
                                            monthly_price=price, last_charge_amount=charge, actor=actor,
                                            source="api", reason=reason)
    service = plan.service
    description = reason or f"Admin created subscription: {service.name} - {plan.name} plan"
    metadata = {"type": TransactionType.SUBSCRIPTION.value, "planId": plan.id, "serviceName": service.name,
                "planName": plan.name, "originalAmount": price, "discountAmount": 0, "finalAmount": charge,
                "adminId": actor.id, "isBonusSubscription": skip_credit_check}
    key = f"subscription:{subscription.id}:create"
    if charge > 0:
        posting = ledger.debit(user.id, charge, type=TransactionType.SUBSCRIPTION, description=description,
                               metadata=metadata, subscription_id=subscription.id, idempotency_key=key,
                               processed_by=actor.id)
    else:
        posting = ledger.record_free(user.id, type=TransactionType.SUBSCRIPTION, description=description,
                                     metadata=metadata, subscription_id=subscription.id, idempotency_key=key)
    instance = _create_instance(subscription)
    message = ("Bonus subscription created successfully (no charge)" if skip_credit_check
               else "Subscription created successfully")
    return CreateResult(subscription=get_subscription(subscription.id), message=message, charge_amount=charge,
                        original_amount=price, discount_amount=0, final_amount=charge, is_bonus=skip_credit_check,
                        transaction=posting.transaction, instance=instance)


# ========================================================================================= U6 / U7 / A7
def current_period_start(subscription: Subscription) -> datetime:
    """Start of the period the subscription is in: one calendar month before its end, never before its start."""
    start = clock.add_months(subscription.end_date, -1)
    return max(start, clock.to_utc(subscription.start_date))


@dataclass(frozen=True)
class Proration:
    days_remaining: int  # ceil((end - now) / day), unclamped (the original's proratedDays)
    period_days: int  # length of the current billing period (fix 22), not of the calendar month

    @property
    def ratio(self) -> float:
        return min(max(self.days_remaining, 0), self.period_days) / self.period_days

    def cost(self, difference: int) -> int:
        return clock.prorate(difference, max(self.days_remaining, 0), self.period_days)


def proration(subscription: Subscription, *, at: datetime | None = None) -> Proration:
    now = at or clock.now()
    return Proration(days_remaining=clock.days_between(now, subscription.end_date),
                     period_days=clock.period_days(current_period_start(subscription), subscription.end_date))


@dataclass
class UpgradeOptions:
    subscription: Subscription
    proration: Proration
    plans: list  # (plan, upgrade_cost, quota_available, can_upgrade, reason)
    credit_balance: int


def upgrade_options(user, subscription_id: str) -> UpgradeOptions:
    """U6: higher-tier active plans of the same service with their prorated cost today."""
    subscription = get_subscription(subscription_id, user_id=user.id)
    if subscription.status != S.ACTIVE:
        raise UpgradeOptionsInactive()
    current = subscription.plan
    pr = proration(subscription)
    balance = db.session.get(User, user.id).credit_balance
    candidates = db.session.execute(select(ServicePlan).where(
        ServicePlan.service_id == subscription.service_id, ServicePlan.is_active.is_(True))
        .order_by(ServicePlan.monthly_price.asc(), ServicePlan.id)).scalars().all()
    rows = []
    for plan in candidates:
        if plan.plan_type.tier <= current.plan_type.tier:
            continue
        cost = pr.cost(plan.monthly_price - current.monthly_price)
        quota_available = plan.total_quota - plan.used_quota >= 1
        can = quota_available and balance >= cost
        reason = None
        if not quota_available:
            reason = "Plan at full capacity"
        elif balance < cost:
            reason = f"Insufficient credit. Need {cost - balance} IDR more"
        rows.append((plan, cost, quota_available, can, reason))
    return UpgradeOptions(subscription, pr, rows, balance)


@dataclass
class PlanChange:
    subscription: Subscription
    from_plan: ServicePlan
    to_plan: ServicePlan
    cost: int  # prorated difference (negative for a downgrade)
    actual_charge: int  # what left the wallet
    proration: Proration
    is_bonus: bool
    is_downgrade: bool
    transaction: Transaction | None
    instances_resized: int
    user: User
    message: str = ""


def upgrade_subscription(user, subscription_id: str, new_plan_id: str) -> PlanChange:
    """U7: the owner moves to a higher tier of the same service, paying the prorated difference now."""
    return _change_plan(subscription_id, new_plan_id, owner_id=user.id, actor=user, admin=False,
                        skip_credit_check=False, reason=None)


def admin_change_plan(*, actor, subscription_id: str, new_plan_id: str, skip_credit_check: bool = False,
                      reason: str | None = None) -> PlanChange:
    """A7: any other plan of the same service; a downgrade credits the prorated difference; `skip_credit_check`
    moves no money (zero-amount record)."""
    return _change_plan(subscription_id, new_plan_id, owner_id=None, actor=actor, admin=True,
                        skip_credit_check=skip_credit_check, reason=reason)


def _change_plan(subscription_id: str, new_plan_id: str, *, owner_id, actor, admin: bool, skip_credit_check: bool,
                 reason: str | None) -> PlanChange:
    user, subscription = _lock(subscription_id, user_id=owner_id)
    if subscription.status != S.ACTIVE:
        raise CanOnlyUpgradeActive()
    current = db.session.get(ServicePlan, subscription.plan_id)
    new_plan = db.session.execute(select(ServicePlan).options(joinedload(ServicePlan.service))
                                  .where(ServicePlan.id == new_plan_id)).scalar_one_or_none()
    if new_plan is None or not new_plan.is_active:
        raise NewPlanNotFound()
    if new_plan.service_id != subscription.service_id:
        raise DifferentService()
    if new_plan.id == current.id:
        raise SamePlan() if admin else HigherTierRequired()
    if not admin and new_plan.plan_type.tier <= current.plan_type.tier:
        raise HigherTierRequired()
    if new_plan.total_quota - new_plan.used_quota < 1:
        raise NewPlanFull()
    if not admin and (subscription.grace_period_end is not None or clock.to_utc(subscription.end_date) <= clock.now()):
        # The paid period is over: proration would make the new plan free until the grace ends.
        raise UpgradeWhileUnpaid()
    pr = proration(subscription)
    cost = pr.cost(new_plan.monthly_price - current.monthly_price)
    if not skip_credit_check and cost > 0 and user.credit_balance < cost:
        if admin:
            raise AdminInsufficientCreditForUpgrade(balance=user.credit_balance, required=cost, data={
                "currentBalance": user.credit_balance, "requiredAmount": cost,
                "shortfall": cost - user.credit_balance})
        raise InsufficientCreditForUpgrade(balance=user.credit_balance, required=cost)
    actual = 0 if skip_credit_check else max(cost, 0)
    outcome = transitions.change_plan(subscription.id, from_plan_id=current.id, to_plan=new_plan,
                                      last_charge_amount=actual, actor=actor, source="api", reason=reason)
    service = new_plan.service
    is_downgrade = new_plan.monthly_price < current.monthly_price
    word = "Downgrade" if is_downgrade else "Upgrade"
    if admin:
        tier_word = "downgrade" if new_plan.plan_type.tier < current.plan_type.tier else "upgrade"
        description = reason or f"Admin {tier_word}: {service.name} from {current.name} to {new_plan.name}"
    else:
        description = f"{word} {service.name} from {current.name} to {new_plan.name}"
    metadata = {"subscriptionId": subscription.id, "oldPlanId": current.id, "newPlanId": new_plan.id,
                "proratedAmount": cost, "daysRemaining": pr.days_remaining, "periodDays": pr.period_days}
    # One posting per plan change: (subscription, from, to, when) names it even within one millisecond.
    key = (f"plan-change:{subscription.id}:{current.id}:{new_plan.id}:"
           f"{outcome.subscription.upgrade_date.isoformat()}")
    posting = None
    if cost != 0:
        if skip_credit_check:
            posting = ledger.record_free(user.id, type=TransactionType.UPGRADE if cost > 0 else TransactionType.REFUND,
                                         description=description, metadata={**metadata, "isBonusChange": True},
                                         subscription_id=subscription.id, idempotency_key=key)
        elif cost > 0:
            posting = ledger.debit(user.id, cost, type=TransactionType.UPGRADE, description=description,
                                   metadata=metadata, subscription_id=subscription.id, idempotency_key=key,
                                   processed_by=getattr(actor, "id", None) if admin else None)
        else:
            posting = ledger.refund(user.id, -cost, description=description, reason="Plan downgrade",
                                    metadata={**metadata, "isDowngradeRefund": True}, subscription_id=subscription.id,
                                    idempotency_key=key, processed_by=getattr(actor, "id", None) if admin else None)
    resized = _resize(subscription.id)
    if admin and skip_credit_check:
        message = f"Bonus {'downgrade' if is_downgrade else 'upgrade'} completed successfully (no charge)"
    elif admin and is_downgrade:
        message = "Subscription downgraded successfully"
    else:
        message = "Subscription upgraded successfully"
    return PlanChange(subscription=get_subscription(subscription.id), from_plan=current, to_plan=new_plan, cost=cost,
                      actual_charge=actual, proration=pr, is_bonus=skip_credit_check, is_downgrade=is_downgrade,
                      transaction=posting.transaction if posting else None, instances_resized=resized,
                      user=db.session.get(User, user.id), message=message)


def _resize(subscription_id: str) -> int:
    from ..cluster.services import resize_subscription_instances

    return resize_subscription_instances(subscription_id)


# ================================================================================================ U12
def set_auto_renew(user, subscription_id: str, enabled: bool) -> Subscription:
    """U12: autoRenew on/off; nextBilling follows (= endDate when on, null when off). A conditional UPDATE
    so a concurrent cancel/expire is never overwritten."""
    subscription = get_subscription(subscription_id, user_id=user.id)
    changed = db.session.execute(
        update(Subscription).where(Subscription.id == subscription.id,
                                   Subscription.status.not_in((S.CANCELLED, S.EXPIRED)))
        .values(auto_renew=enabled, next_billing=Subscription.end_date if enabled else None)
        .execution_options(synchronize_session=False)).rowcount
    if not changed:
        current = transitions.load(subscription.id).status
        raise AutoRenewCancelled() if current == S.CANCELLED else AutoRenewExpired()
    return get_subscription(subscription.id)


# ================================================================================================ U13
def cancel_subscription(user, subscription_id: str, *, reason: str | None = None) -> transitions.Outcome:
    """U13 (T9): cancel now, no refund; a second cancel is 400 "Subscription is already cancelled"."""
    subscription = get_subscription(subscription_id, user_id=user.id)
    outcome = transitions.cancel_by_user(subscription.id, reason=reason, actor=user, source="api")
    if not outcome.changed:
        raise AlreadyCancelled()
    return outcome


# ============================================================================================ A4 / A5
def paid_for_subscription(subscription_id: str, *, since: datetime | None = None) -> int:
    """Money the subscription brought in (SUBSCRIPTION + UPGRADE charges) minus refunds linked to it."""
    def total(types):
        query = select(func.coalesce(func.sum(Transaction.amount), 0)).where(
            Transaction.subscription_id == subscription_id, Transaction.type.in_(types),
            Transaction.status == TransactionStatus.COMPLETED)
        if since is not None:
            query = query.where(Transaction.created_at >= since)
        return int(db.session.execute(query).scalar_one())

    return total(CHARGE_TYPES) - total((TransactionType.REFUND,))


@dataclass
class ForceCancelResult:
    outcome: transitions.Outcome
    refund_amount: int = 0
    refund_transaction: Transaction | None = None
    refund_reason: str | None = None
    details: dict = field(default_factory=dict)


def force_cancel(*, actor, subscription_id: str, reason: str, process_refund: bool = False) -> ForceCancelResult:
    """A4 (T10). With `process_refund` and an ACTIVE subscription: refund the unused share of what was
    actually paid for the current period (fix 9) - the charges linked to the subscription since the
    period began (creation/renewal + upgrades, minus refunds), prorated by whole days over the period,
    rounded by clock.prorate. Bonus/free periods refund 0. The refund is keyed per subscription and period."""
    user, subscription = _lock(subscription_id)
    if subscription.status == S.CANCELLED:
        raise AlreadyCancelled()
    was_active = subscription.status == S.ACTIVE
    now = clock.now()
    period_start = current_period_start(subscription)
    # The current period's money: the charge that opened it (creation/reactivation at start_date, renewal at
    # last_billed; an hour of slack for the order of the writes in that transaction) and later upgrades,
    # minus refunds since. An admin extension does not move this window.
    window = clock.to_utc(subscription.last_billed or subscription.start_date) - timedelta(hours=1)
    paid = max(paid_for_subscription(subscription.id, since=window), 0) if was_active else 0
    total_days = clock.period_days(period_start, subscription.end_date)
    used_days = max(clock.days_between(period_start, now), 0)
    remaining = max(total_days - used_days, 0)
    outcome = transitions.force_cancel(subscription.id, reason=reason, actor=actor, source="api")
    if not outcome.changed:
        raise AlreadyCancelled()
    result = ForceCancelResult(outcome=outcome)
    if not process_refund:
        result.refund_reason = "Refund not requested"
        return result
    amount = clock.prorate(paid, remaining, total_days) if was_active else 0
    result.details = {"originalAmount": paid, "totalDays": total_days, "daysUsed": used_days,
                      "remainingDays": remaining, "dailyRate": clock.prorate(paid, 1, total_days)}
    if amount <= 0:
        result.refund_reason = "No remaining days to refund" if was_active else "Subscription was not active"
        return result
    service = subscription.service
    posting = ledger.refund(user.id, amount, description=f"Admin force cancel refund: {service.name} - {reason}",
                            reason=reason, subscription_id=subscription.id, processed_by=actor.id,
                            idempotency_key=f"force-cancel-refund:{subscription.id}:{period_start.isoformat()}",
                            metadata={"refundType": "PRORATED", "reason": reason, "adminId": actor.id,
                                      **result.details})
    if not posting.applied:  # this period was already refunded by an earlier force-cancel
        result.refund_reason = "This period was already refunded"
        return result
    result.refund_amount = amount
    result.refund_transaction = posting.transaction
    record(actor=actor, action="subscription.refund", target_type="subscription", target_id=subscription.id,
           before={"credit_balance": posting.transaction.balance_before},
           after={"credit_balance": posting.transaction.balance_after, "refund": amount,
                  "transaction": posting.transaction.custom_id}, reason=reason, source="api")
    return result


@dataclass
class RefundResult:
    subscription: Subscription
    user: User
    transaction: Transaction
    amount: int
    refund_type: str
    reason: str


def refund_subscription(*, actor, subscription_id: str, amount: int, reason: str,
                        refund_type: str = "PARTIAL", idempotency_key: str | None = None) -> RefundResult:
    """A5: credit the customer for a subscription (any status). PARTIAL is capped at the plan's price;
    every refund is capped by what the subscription brought in minus earlier refunds (fix 9).
    With an `idempotency_key` (the Idempotency-Key header) a repeated request returns the first refund."""
    user, subscription = _lock(subscription_id)
    subscription = get_subscription(subscription.id)
    ledger_key = (f"subscription-refund:{subscription.id}:{amount}:{idempotency_key[:100]}"
                  if idempotency_key else None)
    if ledger_key and (existing := ledger.find_by_idempotency_key(ledger_key)) is not None:
        return RefundResult(subscription, db.session.get(User, user.id), existing, amount, refund_type, reason)
    if amount is None or amount <= 0:
        raise RefundAmountNotPositive()
    if refund_type == "PARTIAL" and amount > subscription.plan.monthly_price:
        raise PartialRefundTooLarge()
    refundable = max(paid_for_subscription(subscription.id), 0)
    if amount > refundable:
        raise RefundExceedsPaid(refundable=refundable)
    service = subscription.service
    posting = ledger.refund(user.id, amount, description=f"Admin refund for subscription: {service.name} - {reason}",
                            reason=reason, subscription_id=subscription.id, processed_by=actor.id,
                            idempotency_key=ledger_key,
                            metadata={"subscriptionId": subscription.id, "refundType": refund_type, "reason": reason,
                                      "adminId": actor.id, "originalAmount": subscription.monthly_price})
    record(actor=actor, action="subscription.refund", target_type="subscription", target_id=subscription.id,
           before={"credit_balance": posting.transaction.balance_before},
           after={"credit_balance": posting.transaction.balance_after, "refund": amount, "refundType": refund_type,
                  "transaction": posting.transaction.custom_id}, reason=reason, source="api")
    return RefundResult(subscription, db.session.get(User, user.id), posting.transaction, amount, refund_type, reason)


# ================================================================================================= A6
@dataclass
class Extension:
    subscription: Subscription
    days: int
    previous_end: datetime
    new_end: datetime


def extend_subscription(*, actor, subscription_id: str, days: int, reason: str) -> Extension:
    """A6: end date + N calendar days (billing zone), any status, no money; nextBilling follows autoRenew."""
    if days is None or days <= 0:
        raise ExtensionNotPositive()
    subscription = get_subscription(subscription_id)
    previous = clock.to_utc(subscription.end_date)
    new_end = clock.add_days(previous, days)
    changed = db.session.execute(
        update(Subscription).where(Subscription.id == subscription.id, Subscription.end_date == previous)
        .values(end_date=new_end, next_billing=case((Subscription.auto_renew.is_(True), new_end), else_=None))
        .execution_options(synchronize_session=False)).rowcount
    if not changed:
        raise ConcurrentUpdate()
    record(actor=actor, action="subscription.extend", target_type="subscription", target_id=subscription.id,
           before={"end_date": previous, "next_billing": subscription.next_billing},
           after={"end_date": new_end, "days": days}, reason=reason, source="api")
    return Extension(get_subscription(subscription.id), days, previous, new_end)


# ================================================================================================= A8
def admin_expire(*, actor, subscription_id: str, reason: str, terminate_instances: bool = True
                 ) -> transitions.Outcome:
    """A8 (T8): expire now (endDate = now). 400 when already expired or cancelled."""
    subscription = get_subscription(subscription_id)
    if subscription.status == S.EXPIRED:
        raise AlreadyExpired()
    if subscription.status == S.CANCELLED:
        raise CannotExpireCancelled()
    outcome = transitions.expire_subscription(subscription.id, reason=reason, actor=actor, source="api",
                                              end_now=True, terminate_instances=terminate_instances)
    if not outcome.changed:
        raise AlreadyExpired() if outcome.subscription.status == S.EXPIRED else CannotExpireCancelled()
    return outcome


# ================================================================================================= A9
EDITABLE = {"status": "status", "startDate": "start_date", "endDate": "end_date", "nextBilling": "next_billing",
            "lastBilled": "last_billed", "gracePeriodEnd": "grace_period_end", "monthlyPrice": "monthly_price",
            "lastChargeAmount": "last_charge_amount", "failedCharges": "failed_charges", "autoRenew": "auto_renew"}


@dataclass
class AdminUpdate:
    subscription: Subscription
    original: dict
    changes: list[str]
    fields: list[str]


def _show(value) -> str:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, S):
        return value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def admin_update(*, actor, subscription_id: str, changes: list[tuple[str, object]], reason: str | None = None
                 ) -> AdminUpdate:
    """A9 (T11): free edit. `changes` = (camelCase field, value) in the body's key order. autoRenew sets
    nextBilling (endDate / null) unless a later nextBilling in the body says otherwise. A status change goes
    through transitions.set_status, so the quota follows (fix 17); everything is audited."""
    if actor is None or not getattr(actor, "is_admin", False):
        raise AdminNotFound()
    if not changes:
        raise NoFieldsToUpdate()
    subscription = get_subscription(subscription_id)
    user, subscription = _lock(subscription.id)
    original = transitions.snapshot(subscription)
    values: dict = {}
    new_status = None
    for key, value in changes:
        column = EDITABLE[key]
        if column == "status":
            new_status = S(value)
            continue
        values[column] = value
        if column == "auto_renew":
            values["next_billing"] = values.get("end_date", subscription.end_date) if value else None
    if new_status is not None and new_status != subscription.status:
        transitions.set_status(subscription.id, status=new_status, actor=actor, source="api", reason=reason)
    if values:
        db.session.execute(update(Subscription).where(Subscription.id == subscription.id).values(**values)
                           .execution_options(synchronize_session=False))
    fresh = get_subscription(subscription.id)
    after = transitions.snapshot(fresh)
    lines, fields = [], []
    for key, _ in changes:
        column = EDITABLE[key]
        if key not in fields:
            fields.append(key)
        old_value, new_value = getattr_snapshot(original, column), getattr_snapshot(after, column)
        line = f"{key}: {_show(old_value)} → {_show(new_value)}"
        if line not in lines:
            lines.append(line)
    if "auto_renew" in values and "nextBilling" not in fields and original["next_billing"] != after["next_billing"]:
        lines.append(f"nextBilling: {_show(original['next_billing'])} → {_show(after['next_billing'])}")
    if values:
        record(actor=actor, action="subscription.update", target_type="subscription", target_id=fresh.id,
               before={k: original[k] for k in original if original[k] != after[k]},
               after={k: after[k] for k in after if original[k] != after[k]}, reason=reason or "Admin free edit",
               source="api")
    return AdminUpdate(fresh, original, lines, fields)


def getattr_snapshot(snap: dict, column: str):
    return snap.get(column)


# ================================================================================================= A2
def admin_list(*, page: int, limit: int, status: str | None = None, service_id: str | None = None,
               user_id: str | None = None, search: str | None = None) -> tuple[list[Subscription], int]:
    query = select(Subscription).join(User, User.id == Subscription.user_id).join(
        Service, Service.id == Subscription.service_id)
    if status:
        query = query.where(Subscription.status == S(status))
    if service_id:
        query = query.where(Subscription.service_id == service_id)
    if user_id:
        query = query.where(Subscription.user_id == user_id)
    if search:
        like = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(User.name).like(like, escape="\\"),
                                func.lower(User.email).like(like, escape="\\"),
                                func.lower(Service.name).like(like, escape="\\")))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.options(*_options()).order_by(Subscription.created_at.desc(), Subscription.id.desc())
                              .offset((page - 1) * limit).limit(limit)).unique().scalars().all()
    return list(rows), total


# ================================================================================================= A3
def admin_stats(*, start: datetime | None = None, end: datetime | None = None) -> dict:
    """A3 (fix 28): counts, MRR/ARPU of ACTIVE rows and breakdowns, optionally over createdAt in [start, end]."""
    conditions = []
    if start is not None and end is not None:
        conditions = [Subscription.created_at >= start, Subscription.created_at <= end]
    by_status = dict(db.session.execute(select(Subscription.status, func.count()).where(*conditions)
                                        .group_by(Subscription.status)).all())
    total = sum(by_status.values())
    active = by_status.get(S.ACTIVE, 0)
    cancelled = by_status.get(S.CANCELLED, 0)
    mrr, avg = db.session.execute(select(func.coalesce(func.sum(Subscription.monthly_price), 0),
                                         func.avg(Subscription.monthly_price))
                                  .where(Subscription.status == S.ACTIVE, *conditions)).one()
    by_service = db.session.execute(
        select(Subscription.service_id, Service.name, Service.slug, func.count(Subscription.id))
        .join(Service, Service.id == Subscription.service_id).where(*conditions)
        .group_by(Subscription.service_id, Service.name, Service.slug).order_by(func.count(Subscription.id).desc(),
                                                                               Service.name)).all()
    by_plan = db.session.execute(
        select(Subscription.plan_id, func.count(Subscription.id), func.coalesce(func.sum(Subscription.monthly_price), 0))
        .where(*conditions).group_by(Subscription.plan_id).order_by(func.count(Subscription.id).desc(),
                                                                    Subscription.plan_id)).all()
    return {
        "overview": {"totalSubscriptions": total, "activeSubscriptions": active,
                     "cancelledSubscriptions": cancelled,
                     "cancellationRate": math.floor(cancelled / total * 100 + 0.5) if total else 0},
        "revenue": {"monthlyRecurringRevenue": int(mrr or 0),
                    "averageRevenuePerUser": round(float(avg), 2) if avg is not None else 0},
        "breakdown": {
            "byStatus": {status.value: by_status.get(status, 0) for status in S},
            "byService": [{"serviceId": sid, "serviceName": name, "serviceSlug": slug, "_count": {"id": count}}
                          for sid, name, slug, count in by_service],
            "byPlan": [{"planId": pid, "_count": {"id": count}, "_sum": {"monthlyPrice": int(amount)}}
                       for pid, count, amount in by_plan],
        },
    }


# ============================================================================================ U5, U8-U11
def _instances_or_404(subscription: Subscription) -> list:
    instances = instances_of(subscription.id)
    if not instances:
        raise NoInstanceFound()
    return instances


def subscription_metrics(user, subscription_id: str) -> tuple[Subscription, object, dict]:
    """U5: live usage of the subscription's running instance (cluster.services.instance_metrics)."""
    from ..cluster.models import InstanceStatus
    from ..cluster.services import instance_metrics

    subscription = get_subscription(subscription_id, user_id=user.id)
    instances = _instances_or_404(subscription)
    running = next((i for i in instances if i.status == InstanceStatus.RUNNING), None)
    if running is None:
        raise NoRunningInstance()
    return subscription, running, instance_metrics(running)


def retry_provisioning(user, subscription_id: str) -> tuple[Subscription, object, str, object]:
    """U8: provision again after an ERROR/TERMINATED latest instance (cluster.services.retry_provisioning).
    Returns (subscription, latest instance before, its previous status, the cluster's result)."""
    from ..cluster.services import retry_provisioning as cluster_retry

    subscription = get_subscription(subscription_id, user_id=user.id)
    if subscription.status != S.ACTIVE:
        raise CannotRetryInactive()
    instances = instances_of(subscription.id)
    if not instances:
        raise NoInstances()
    latest = instances[0]
    previous = latest.status.value
    result = cluster_retry(latest)
    return subscription, latest, previous, result


def instance_action(user, subscription_id: str, action: str) -> tuple[Subscription, object, object]:
    """U9-U11: restart/stop a RUNNING instance or start a STOPPED one of the caller's subscription."""
    from ..cluster import services as cluster
    from ..cluster.models import InstanceStatus

    subscription = get_subscription(subscription_id, user_id=user.id)
    instances = _instances_or_404(subscription)
    wanted = InstanceStatus.STOPPED if action == "start" else InstanceStatus.RUNNING
    instance = next((i for i in instances if i.status == wanted), None)
    if instance is None:
        raise NoStoppedInstance() if action == "start" else NoRunningInstanceTo(verb=action)
    handler = {"restart": cluster.restart_instance, "stop": cluster.stop_instance, "start": cluster.start_instance}
    return subscription, instance, handler[action](instance)
