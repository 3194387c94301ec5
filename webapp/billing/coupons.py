"""Coupon rules: validation, redemption (wallet credit, subscription checkout), administration, statistics.

Used alike by the JSON API, the console, the welcome bonus and subscription checkout. Every function runs in
the caller's unit of work (flush, never commit).

Redemption is one transaction (spec wallet §3.6 [fix]):
1. lock the coupon row (`SELECT ... FOR NO KEY UPDATE`) and re-check every rule against the locked row;
2. insert the CouponRedemption (the unique (coupon_id, user_id) index is the backstop of "once per user");
3. take one use: `UPDATE coupons SET used_count = used_count + 1 WHERE id = :id AND used_count < max_uses`
   (zero rows = exhausted; status becomes USED_UP when the last use is taken);
4. credit coupons: `ledger.credit` (user row lock, COUPON_REDEMPTION ledger row, idempotency key per (coupon, user)).
Any failure raises a typed error and the caller's rollback leaves nothing behind.

Lock order is always coupon, then user (the ledger locks the user), so concurrent redemptions cannot deadlock.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from ..audit.services import record
from ..catalog.models import PlanType, Service, ServicePlan
from ..db import as_utc, utcnow
from ..extensions import db
from . import ledger
from .coupon_errors import (CouponAlreadyRedeemed, CouponCodeTaken, CouponCreditAmountRequired, CouponDatesInvalid,
                            CouponDiscountTypeRequired, CouponExpired, CouponFixedAmountRequired,
                            CouponFreeServiceNeedsService, CouponHasRedemptions, CouponMaxUsesBelowUsed,
                            CouponNotActive, CouponNotForCheckout, CouponNotForCredit, CouponNotFound,
                            CouponNotYetValid, CouponPercentRequired, CouponPerUserLimitUnsupported,
                            CouponRedemptionNotFound, CouponServiceNotFound, CouponUsageLimitExceeded,
                            CouponValidUntilPast, CouponValueOutOfRange, CouponWrongPlanType, CouponWrongService,
                            InvalidCouponCode)
from .coupon_models import (CHECKOUT_TYPES, CREDIT_TYPES, Coupon, CouponDiscountType, CouponRedemption, CouponStatus,
                            CouponType)
from .models import TransactionType

log = logging.getLogger(__name__)

MAX_CREDIT_AMOUNT = 10_000_000
MAX_USES = 1_000_000


def normalise_code(code) -> str:
    """Codes are case-insensitive and trimmed: " save20 " is SAVE20."""
    return code.strip().upper() if isinstance(code, str) else ""


def format_idr(amount: int) -> str:
    """Thousands separators fixed to "," (the original used the server locale): 50000 -> "50,000"."""
    return f"{int(amount):,}"


# ------------------------------------------------------------------------------------------- lookups
def _find(code: str, *, lock: bool = False) -> Coupon | None:
    code = normalise_code(code)
    if not code:
        return None
    query = select(Coupon).where(Coupon.code == code)
    if lock:
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one_or_none()


def _user_redemptions(coupon_id: str, user_id: str) -> int:
    return db.session.execute(select(func.count()).select_from(CouponRedemption).where(
        CouponRedemption.coupon_id == coupon_id, CouponRedemption.user_id == user_id)).scalar_one()


def _service_name(coupon: Coupon) -> str:
    service = db.session.get(Service, coupon.service_id) if coupon.service_id else None
    return service.name if service else "another service"


# ---------------------------------------------------------------------------------------- the rules
def _status_problem(coupon: Coupon, now: datetime):
    """Rules 2-5 of spec §3.6, in W10's order for the typed errors they raise."""
    if coupon.status != CouponStatus.ACTIVE:
        return CouponNotActive()
    if coupon.valid_until is not None and as_utc(coupon.valid_until) < now:
        return CouponExpired()
    if as_utc(coupon.valid_from) > now:
        return CouponNotYetValid()
    if coupon.used_count >= coupon.max_uses:
        return CouponUsageLimitExceeded()
    return None


def _validity_problem(coupon: Coupon, user_id: str, *, service_id: str | None, now: datetime):
    """All common rules (§3.6 1-7) on an existing coupon; the first failing one, or None."""
    problem = _status_problem(coupon, now)
    if problem is not None:
        return problem
    if _user_redemptions(coupon.id, user_id) >= coupon.max_uses_per_user:
        return CouponAlreadyRedeemed()
    if coupon.service_id and service_id and coupon.service_id != service_id:
        return CouponWrongService(service=_service_name(coupon))
    return None


def _take_one_use(coupon: Coupon) -> None:
    """The only place used_count moves: a conditional increment; zero rows means the last use is gone."""
    result = db.session.execute(
        update(Coupon).where(Coupon.id == coupon.id, Coupon.used_count < Coupon.max_uses)
        .values(used_count=Coupon.used_count + 1,
                status=case((Coupon.used_count + 1 >= Coupon.max_uses, CouponStatus.USED_UP),
                            else_=Coupon.status))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise CouponUsageLimitExceeded()
    db.session.refresh(coupon, attribute_names=["used_count", "status"])


def _insert_redemption(redemption: CouponRedemption) -> None:
    """Insert under a savepoint: a concurrent twin that won the unique index makes this "already redeemed"."""
    try:
        with db.session.begin_nested():
            db.session.add(redemption)
            db.session.flush()
    except IntegrityError:
        raise CouponAlreadyRedeemed() from None


# ------------------------------------------------------------------------------- W9 validate (preview)
@dataclass(frozen=True)
class CouponCheck:
    """W9's answer: `coupon` is None for an unknown code; valid coupons carry their preview value."""

    valid: bool
    error: str | None
    coupon: Coupon | None
    potential_value: int = 0
    value_description: str = ""
    user_used: int = 0


def validate_coupon(code: str, *, user, service_id: str | None = None, subscription_amount: int | None = None,
                    context: str | None = None) -> CouponCheck:
    """W9: check a code for this user without writing anything. `context` ("billing" / "checkout") is an
    additive option that also checks the coupon's type against where it is going to be used (fix 27)."""
    coupon = _find(code)
    if coupon is None:
        return CouponCheck(False, InvalidCouponCode().text, None)
    problem = _validity_problem(coupon, user.id, service_id=service_id, now=utcnow())
    if problem is None and context == "billing" and coupon.type not in CREDIT_TYPES:
        problem = CouponNotForCredit()
    if problem is None and context == "checkout" and coupon.type not in CHECKOUT_TYPES:
        problem = CouponNotForCheckout()
    if problem is not None:
        return CouponCheck(False, problem.text, coupon)
    value, text = _potential_value(coupon, subscription_amount)
    return CouponCheck(True, None, coupon, value, text, _user_redemptions(coupon.id, user.id))


def _potential_value(coupon: Coupon, amount: int | None) -> tuple[int, str]:
    if coupon.type in CREDIT_TYPES:
        value = coupon.credit_amount or 0
        return value, f"{format_idr(value)} IDR credit"
    if coupon.type == CouponType.SUBSCRIPTION_DISCOUNT:
        if coupon.discount_type == CouponDiscountType.FIXED_AMOUNT:
            value = coupon.credit_amount or 0
            if amount is not None:
                value = min(value, amount)  # fix 27: a discount never exceeds the price
            return value, f"{format_idr(value)} IDR discount"
        percent = coupon.discount_percent or 0
        if amount is not None:
            value = amount * percent // 100
            return value, f"{percent}% discount ({format_idr(value)} IDR)"
        return 0, f"{percent}% discount"
    service = coupon.service
    return 0, f"Free {service.name}" if service else "Free service"


# ------------------------------------------------------------------------------- wallet credit (W10)
def redeem_credit_coupon(code: str, *, user, context: str = "billing_page") -> CouponRedemption:
    """W10 (and the welcome bonus): credit a CREDIT_TOPUP / WELCOME_BONUS coupon to the user's wallet.

    Checks in W10's order; "not active" and "not yet valid" are 400s (fix 23). Returns the redemption, whose
    `transaction` is the COUPON_REDEMPTION ledger row (its balance_after is the new balance).
    """
    coupon = _find(code, lock=True)
    if coupon is None:
        raise InvalidCouponCode()
    return _redeem_credit(coupon, user, context=context)


def _redeem_credit(coupon: Coupon, user, *, context: str) -> CouponRedemption:
    if coupon.type not in CREDIT_TYPES:
        raise CouponNotForCredit()
    if _user_redemptions(coupon.id, user.id) >= coupon.max_uses_per_user:
        raise CouponAlreadyRedeemed()
    problem = _status_problem(coupon, utcnow())
    if problem is not None:
        raise problem
    amount = coupon.credit_amount
    redemption = CouponRedemption(coupon_id=coupon.id, user_id=user.id, redemption_type=coupon.type,
                                  credit_amount=amount,
                                  metadata_={"originalCouponValue": amount, "redemptionContext": context})
    _insert_redemption(redemption)
    _take_one_use(coupon)
    if coupon.type == CouponType.WELCOME_BONUS:
        description = f"Welcome bonus:  {format_idr(amount)} IDR credit"
        key = f"welcome:{coupon.id}:{user.id}"
    else:
        description = f"Coupon redemption: {coupon.name} - {format_idr(amount)} IDR credit"
        key = f"coupon:{coupon.id}:{user.id}"
    posting = ledger.credit(user.id, amount, type=TransactionType.COUPON_REDEMPTION, description=description,
                            counts_as_top_up=True, idempotency_key=key,
                            metadata={"type": TransactionType.COUPON_REDEMPTION.value, "status": "COMPLETED",
                                      "couponId": coupon.id, "couponCode": coupon.code,
                                      "couponType": coupon.type.value, "redemptionId": redemption.id})
    if not posting.applied:  # the key was spent by an earlier redemption of this coupon: never pay twice
        raise CouponAlreadyRedeemed()
    redemption.transaction_id = posting.transaction.id
    redemption.transaction = posting.transaction
    db.session.flush()
    return redemption


# ------------------------------------------------------------------------------- subscription checkout
@dataclass(frozen=True)
class SubscriptionCouponResult:
    coupon_id: str
    redemption_id: str
    code: str
    original_amount: int
    discount_amount: int
    final_amount: int
    is_free_service: bool


def _checkout_problem(coupon: Coupon | None, user, plan: ServicePlan):
    """U3 step 2: the common rules with the plan's service, the plan type (fix 25), then the type."""
    if coupon is None:
        return InvalidCouponCode()
    problem = _validity_problem(coupon, user.id, service_id=plan.service_id, now=utcnow())
    if problem is not None:
        return problem
    if coupon.plan_type is not None and plan.plan_type != coupon.plan_type:
        return CouponWrongPlanType(plan_type=coupon.plan_type.value)
    if coupon.type not in CHECKOUT_TYPES:
        return CouponNotForCheckout()
    return None


def _checkout_amounts(coupon: Coupon, plan: ServicePlan) -> tuple[int, int, int]:
    price = int(plan.monthly_price)
    if coupon.type == CouponType.FREE_SERVICE:
        discount = price
    elif coupon.discount_type == CouponDiscountType.FIXED_AMOUNT:
        discount = min(int(coupon.credit_amount or 0), price)
    else:
        discount = price * int(coupon.discount_percent or 0) // 100
    return price, discount, max(0, price - discount)


def _result(coupon: Coupon, plan: ServicePlan, redemption_id: str) -> SubscriptionCouponResult:
    original, discount, final = _checkout_amounts(coupon, plan)
    return SubscriptionCouponResult(coupon_id=coupon.id, redemption_id=redemption_id, code=coupon.code,
                                    original_amount=original, discount_amount=discount, final_amount=final,
                                    is_free_service=coupon.type == CouponType.FREE_SERVICE)


def check_subscription_coupon(code: str, *, user, plan: ServicePlan) -> SubscriptionCouponResult:
    """Checkout preview (U2/U3 step 2): raise the coupon's error or return the amounts; nothing is written."""
    coupon = _find(code)
    problem = _checkout_problem(coupon, user, plan)
    if problem is not None:
        raise problem
    return _result(coupon, plan, "")


def redeem_subscription_coupon(code: str, *, user, plan: ServicePlan) -> SubscriptionCouponResult:
    """Consume one use of a SUBSCRIPTION_DISCOUNT / FREE_SERVICE coupon in the caller's transaction: the redemption
    row (subscription_id set later by `link_redemption_to_subscription`) and the counter. No ledger row: the
    subscription's own charge (or zero-amount record) carries the discounted amount."""
    coupon = _find(code, lock=True)
    problem = _checkout_problem(coupon, user, plan)
    if problem is not None:
        raise problem
    original, discount, final = _checkout_amounts(coupon, plan)
    if coupon.type == CouponType.FREE_SERVICE:
        service = plan.service
        metadata = {"serviceId": plan.service_id, "planId": plan.id, "serviceName": service.name if service else None,
                    "planName": plan.name, "freeServiceValue": original, "redemptionContext": "free_service"}
    else:
        metadata = {"originalAmount": original, "discountAmount": discount, "finalAmount": final,
                    "discountType": coupon.discount_type.value if coupon.discount_type else None,
                    "discountPercent": coupon.discount_percent, "redemptionContext": "checkout_page"}
    redemption = CouponRedemption(coupon_id=coupon.id, user_id=user.id, redemption_type=coupon.type,
                                  discount_amount=discount, metadata_=metadata)
    _insert_redemption(redemption)
    _take_one_use(coupon)
    return _result(coupon, plan, redemption.id)


def link_redemption_to_subscription(redemption_id: str, subscription_id: str) -> None:
    """Attach a checkout redemption to the subscription it paid for (same transaction as the checkout)."""
    changed = db.session.execute(
        update(CouponRedemption).where(CouponRedemption.id == redemption_id)
        .values(subscription_id=subscription_id).execution_options(synchronize_session="fetch")).rowcount
    if changed != 1:
        raise CouponRedemptionNotFound()


# ------------------------------------------------------------------------------------ W11 history
def redemption_history(user, *, page: int, limit: int, type: str | None = None
                       ) -> tuple[list[CouponRedemption], int]:
    query = select(CouponRedemption).where(CouponRedemption.user_id == user.id)
    if type:
        query = query.where(CouponRedemption.redemption_type == CouponType(type))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(
        query.options(joinedload(CouponRedemption.coupon), joinedload(CouponRedemption.transaction),
                      joinedload(CouponRedemption.subscription))
        .order_by(CouponRedemption.redeemed_at.desc(), CouponRedemption.id.desc())
        .offset((page - 1) * limit).limit(limit)).scalars().all()
    return list(rows), total


# -------------------------------------------------------------------------------------- administration
CREATE_FIELDS = ("code", "name", "description", "type", "credit_amount", "discount_type", "discount_percent",
                 "max_uses", "max_uses_per_user", "service_id", "plan_type", "valid_from", "valid_until")
UPDATE_FIELDS = ("name", "description", "status", "max_uses", "max_uses_per_user", "valid_from", "valid_until")


def _enum(cls, value):
    if value is None or isinstance(value, cls):
        return value
    return cls(value)


def _snapshot(coupon: Coupon) -> dict:
    return {field: getattr(coupon, field) for field in (*CREATE_FIELDS, "status", "used_count")}


def _check_int(value, low: int, high: int, field: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        raise CouponValueOutOfRange(field=field)


def _check_definition(data: dict, now: datetime) -> None:
    """C1's cross-field rules (first failing wins), shared by the API and the console."""
    valid_from, valid_until = data.get("valid_from"), data.get("valid_until")
    if valid_until is not None and as_utc(valid_until) < now:
        raise CouponValidUntilPast()
    if valid_from is not None and valid_until is not None and as_utc(valid_until) <= as_utc(valid_from):
        raise CouponDatesInvalid()
    coupon_type = data["type"]
    if coupon_type in CREDIT_TYPES and not data.get("credit_amount"):
        raise CouponCreditAmountRequired()
    if coupon_type == CouponType.SUBSCRIPTION_DISCOUNT:
        if data.get("discount_type") is None:
            raise CouponDiscountTypeRequired()
        if data["discount_type"] == CouponDiscountType.FIXED_AMOUNT and not data.get("credit_amount"):
            raise CouponFixedAmountRequired()
        if data["discount_type"] == CouponDiscountType.PERCENTAGE and not data.get("discount_percent"):
            raise CouponPercentRequired()
    if coupon_type == CouponType.FREE_SERVICE and not data.get("service_id"):
        raise CouponFreeServiceNeedsService()
    _check_int(data.get("credit_amount"), 1_000, MAX_CREDIT_AMOUNT, "Credit amount")
    _check_int(data.get("discount_percent"), 1, 100, "Discount percentage")
    _check_int(data.get("max_uses"), 1, MAX_USES, "Max uses")
    _check_int(data.get("max_uses_per_user"), 1, 100, "Max uses per user")
    if (data.get("max_uses_per_user") or 1) != 1:
        raise CouponPerUserLimitUnsupported()


def _only_relevant(data: dict) -> dict:
    """Fields a type does not use are stored as null (fix 29)."""
    coupon_type = data["type"]
    if coupon_type in CREDIT_TYPES or coupon_type == CouponType.FREE_SERVICE:
        data["discount_type"] = data["discount_percent"] = None
    if coupon_type == CouponType.FREE_SERVICE:
        data["credit_amount"] = None
    if coupon_type == CouponType.SUBSCRIPTION_DISCOUNT:
        if data["discount_type"] == CouponDiscountType.FIXED_AMOUNT:
            data["discount_percent"] = None
        else:
            data["credit_amount"] = None
    return data


def create_coupon(*, actor, data: dict, source: str = "api") -> Coupon:
    """C1: create a coupon from snake_case `data` (enums as values or members)."""
    data = {field: data.get(field) for field in CREATE_FIELDS}
    data["code"] = normalise_code(data["code"])
    data["name"] = (data["name"] or "").strip()
    data["type"] = _enum(CouponType, data["type"])
    data["discount_type"] = _enum(CouponDiscountType, data["discount_type"])
    data["plan_type"] = _enum(PlanType, data["plan_type"])
    data["max_uses"] = data["max_uses"] or 1
    data["max_uses_per_user"] = data["max_uses_per_user"] or 1
    data["description"] = data["description"] or None
    now = utcnow()
    _check_definition(data, now)
    data = _only_relevant(data)
    if data["service_id"] and db.session.get(Service, data["service_id"]) is None:
        raise CouponServiceNotFound()
    if _find(data["code"]) is not None:
        raise CouponCodeTaken()
    coupon = Coupon(**{k: v for k, v in data.items() if k != "valid_from"}, valid_from=data["valid_from"] or now,
                    status=CouponStatus.ACTIVE, used_count=0, created_by=getattr(actor, "id", None) or "system")
    try:
        with db.session.begin_nested():
            db.session.add(coupon)
            db.session.flush()
    except IntegrityError:
        raise CouponCodeTaken() from None
    record(actor=actor, action="coupon.create", target_type="coupon", target_id=coupon.id, after=_snapshot(coupon),
           source=source)
    return coupon


def _lock(coupon_id: str) -> Coupon:
    coupon = None
    if isinstance(coupon_id, str) and 0 < len(coupon_id) <= 64:
        coupon = db.session.execute(select(Coupon).where(Coupon.id == coupon_id).with_for_update(key_share=True)
                                    .execution_options(populate_existing=True)).scalar_one_or_none()
    if coupon is None:
        raise CouponNotFound()
    return coupon


def _settled_status(requested: CouponStatus, used: int, max_uses: int) -> CouponStatus:
    """ACTIVE and USED_UP follow the counter (fix 26); DISABLED and EXPIRED are the admin's word."""
    if requested in (CouponStatus.ACTIVE, CouponStatus.USED_UP):
        return CouponStatus.USED_UP if used >= max_uses else CouponStatus.ACTIVE
    return requested


def update_coupon(*, actor, coupon_id: str, changes: dict, source: str = "api") -> Coupon:
    """C6: change name, description, status, limits and dates. Type, amounts and restrictions are immutable.
    `valid_until=None` clears the expiry; max_uses never below used_count (the CHECK would refuse it anyway)."""
    coupon = _lock(coupon_id)
    changes = {k: v for k, v in changes.items() if k in UPDATE_FIELDS}
    if not changes:
        return coupon
    before = _snapshot(coupon)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip() or coupon.name
    if "description" in changes:
        changes["description"] = changes["description"] or None
    _check_int(changes.get("max_uses"), 1, MAX_USES, "Max uses")
    _check_int(changes.get("max_uses_per_user"), 1, 100, "Max uses per user")
    if changes.get("max_uses_per_user") not in (None, 1):
        raise CouponPerUserLimitUnsupported()
    max_uses = changes.get("max_uses") or coupon.max_uses
    if max_uses < coupon.used_count:
        raise CouponMaxUsesBelowUsed(used=coupon.used_count)
    valid_from = changes.get("valid_from") or coupon.valid_from
    valid_until = changes["valid_until"] if "valid_until" in changes else coupon.valid_until
    if valid_until is not None and as_utc(valid_until) <= as_utc(valid_from):
        raise CouponDatesInvalid()
    requested = _enum(CouponStatus, changes.get("status")) or coupon.status
    for field in ("name", "description", "max_uses", "max_uses_per_user", "valid_from", "valid_until"):
        if field in changes and not (field in ("max_uses", "max_uses_per_user", "valid_from")
                                     and changes[field] is None):
            setattr(coupon, field, changes[field])
    coupon.status = _settled_status(requested, coupon.used_count, max_uses)
    db.session.flush()
    record(actor=actor, action="coupon.update", target_type="coupon", target_id=coupon.id, before=before,
           after=_snapshot(coupon), source=source)
    return coupon


def bulk_set_status(*, actor, coupon_ids: list[str], status, source: str = "api") -> int:
    """C4: set the status of every listed coupon that exists (unknown ids are ignored); returns how many.
    ACTIVE on an exhausted coupon leaves it USED_UP (fix 26)."""
    status = _enum(CouponStatus, status)
    ids = sorted({i for i in coupon_ids if isinstance(i, str) and 0 < len(i) <= 64})
    if not ids:
        return 0
    coupons = db.session.execute(select(Coupon).where(Coupon.id.in_(ids)).order_by(Coupon.id)
                                 .with_for_update(key_share=True)
                                 .execution_options(populate_existing=True)).scalars().all()
    for coupon in coupons:
        before = coupon.status
        coupon.status = _settled_status(status, coupon.used_count, coupon.max_uses)
        record(actor=actor, action="coupon.status", target_type="coupon", target_id=coupon.id,
               before={"status": before}, after={"status": coupon.status}, source=source)
    db.session.flush()
    return len(coupons)


def deactivate_coupon(*, actor, coupon_id: str, source: str = "console") -> Coupon:
    """Disable one coupon (console's deactivate)."""
    return update_coupon(actor=actor, coupon_id=coupon_id, changes={"status": CouponStatus.DISABLED}, source=source)


def delete_coupon(*, actor, coupon_id: str, source: str = "api") -> None:
    """C7: only a coupon never redeemed can be deleted."""
    coupon = _lock(coupon_id)
    if db.session.execute(select(CouponRedemption.id).where(CouponRedemption.coupon_id == coupon.id).limit(1)).first():
        raise CouponHasRedemptions()
    if coupon.used_count:
        raise CouponHasRedemptions()
    record(actor=actor, action="coupon.delete", target_type="coupon", target_id=coupon.id, before=_snapshot(coupon),
           source=source)
    db.session.delete(coupon)
    db.session.flush()


def get_coupon(coupon_id: str) -> Coupon:
    """C5: one coupon with its service and every redemption (user, transaction, subscription)."""
    coupon = None
    if isinstance(coupon_id, str) and 0 < len(coupon_id) <= 64:
        coupon = db.session.execute(
            select(Coupon).where(Coupon.id == coupon_id).options(
                joinedload(Coupon.service),
                selectinload(Coupon.redemptions).options(
                    joinedload(CouponRedemption.user), joinedload(CouponRedemption.transaction),
                    joinedload(CouponRedemption.subscription)))).scalar_one_or_none()
    if coupon is None:
        raise CouponNotFound()
    return coupon


def redemption_counts(coupon_ids) -> dict[str, int]:
    ids = list(coupon_ids)
    if not ids:
        return {}
    return dict(db.session.execute(select(CouponRedemption.coupon_id, func.count())
                                   .where(CouponRedemption.coupon_id.in_(ids))
                                   .group_by(CouponRedemption.coupon_id)).all())


def _like(text: str) -> str:
    literal = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{literal.lower()}%"


def list_coupons(*, page: int, limit: int, status: str | None = None, type: str | None = None,
                 service_id: str | None = None, search: str | None = None
                 ) -> tuple[list[Coupon], int, dict[str, int]]:
    """C2: newest first; `search` is a case-insensitive substring of code or name."""
    query = select(Coupon)
    if status:
        query = query.where(Coupon.status == CouponStatus(status))
    if type:
        query = query.where(Coupon.type == CouponType(type))
    if service_id:
        query = query.where(Coupon.service_id == service_id)
    if search:
        pattern = _like(search)
        query = query.where(or_(func.lower(Coupon.code).like(pattern, escape="\\"),
                                func.lower(Coupon.name).like(pattern, escape="\\")))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    coupons = list(db.session.execute(query.options(joinedload(Coupon.service))
                                      .order_by(Coupon.created_at.desc(), Coupon.id.desc())
                                      .offset((page - 1) * limit).limit(limit)).scalars())
    return coupons, total, redemption_counts(c.id for c in coupons)


def _period_start(period: str, now: datetime) -> datetime:
    """Windows in the billing time zone (fix 33): week = last 7 days, month/year = calendar start."""
    if period == "week":
        return now - timedelta(days=7)
    local = now.astimezone(ZoneInfo(current_app.config.get("BILLING_TIMEZONE") or "Asia/Jakarta"))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == "year":
        start = start.replace(month=1)
    return start


def coupon_statistics(period: str = "month") -> dict:
    """C3: counts by status, redemptions overall and in the window, top coupons by use."""
    now = utcnow()
    start = _period_start(period, now)
    by_status = dict(db.session.execute(select(Coupon.status, func.count()).group_by(Coupon.status)).all())
    total_redemptions = db.session.execute(select(func.count()).select_from(CouponRedemption)).scalar_one()
    by_type = dict(db.session.execute(select(CouponRedemption.redemption_type, func.count())
                                      .where(CouponRedemption.redeemed_at >= start)
                                      .group_by(CouponRedemption.redemption_type)).all())
    top = db.session.execute(select(Coupon).order_by(Coupon.used_count.desc(), Coupon.created_at.desc())
                             .limit(10)).scalars().all()
    return {
        "overview": {"totalCoupons": sum(by_status.values()),
                     "activeCoupons": by_status.get(CouponStatus.ACTIVE, 0),
                     "expiredCoupons": by_status.get(CouponStatus.EXPIRED, 0),
                     "usedUpCoupons": by_status.get(CouponStatus.USED_UP, 0),
                     "totalRedemptions": total_redemptions,
                     "periodRedemptions": sum(by_type.values())},
        "topCoupons": [{"id": c.id, "code": c.code, "name": c.name, "type": c.type.value, "usedCount": c.used_count,
                        "maxUses": c.max_uses} for c in top],
        "redemptionsByType": {t.value: n for t, n in by_type.items()},
        "period": period, "startDate": start, "endDate": now,
    }


def effective_status(coupon: Coupon, now: datetime | None = None) -> str:
    """The status a customer meets today (additive, fix 26): dates and the counter applied to the stored one."""
    now = now or utcnow()
    if coupon.status != CouponStatus.ACTIVE:
        return coupon.status.value
    if coupon.valid_until is not None and as_utc(coupon.valid_until) < now:
        return CouponStatus.EXPIRED.value
    if coupon.used_count >= coupon.max_uses:
        return CouponStatus.USED_UP.value
    if as_utc(coupon.valid_from) > now:
        return "SCHEDULED"
    return CouponStatus.ACTIVE.value


def welcome_candidates() -> list[Coupon]:
    """§3.6 (accounts): active, unexpired WELCOME_BONUS coupons with uses left, oldest first."""
    now = utcnow()
    return list(db.session.execute(
        select(Coupon).where(Coupon.type == CouponType.WELCOME_BONUS, Coupon.status == CouponStatus.ACTIVE,
                             or_(Coupon.valid_until.is_(None), Coupon.valid_until >= now),
                             Coupon.used_count < Coupon.max_uses)
        .order_by(Coupon.created_at, Coupon.id)).scalars())


def redeem_welcome_coupon(coupon_id: str, *, user) -> CouponRedemption:
    """One welcome bonus: the W10 routine on a locked coupon row, context "welcome_bonus"."""
    coupon = db.session.execute(select(Coupon).where(Coupon.id == coupon_id).with_for_update(key_share=True)
                                .execution_options(populate_existing=True)).scalar_one_or_none()
    if coupon is None:
        raise InvalidCouponCode()
    return _redeem_credit(coupon, user, context="welcome_bonus")


__all__ = [
    "SubscriptionCouponResult", "check_subscription_coupon", "redeem_subscription_coupon",
    "link_redemption_to_subscription", "redeem_credit_coupon", "validate_coupon", "redemption_history",
    "create_coupon", "update_coupon", "bulk_set_status", "deactivate_coupon", "delete_coupon", "get_coupon",
    "list_coupons", "coupon_statistics", "effective_status", "normalise_code", "format_idr",
]
