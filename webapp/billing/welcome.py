"""The welcome bonus: every eligible WELCOME_BONUS coupon credited when an account is created.

Runs inside the registration transaction (password sign-up and Google sign-up), so the response shows the real
balance and a failed registration leaves no bonus behind. Each coupon is redeemed under its own savepoint
through the W10 routine (coupon row lock, conditional use counter, unique (coupon, user) redemption, ledger
credit keyed `welcome:<coupon_id>:<user_id>`): a coupon that cannot be applied (used up meanwhile, not yet
valid) is skipped and never fails the registration.
"""
from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from ..errors import DomainError
from ..extensions import db
from .coupon_models import CouponRedemption
from .coupons import redeem_welcome_coupon, welcome_candidates

log = logging.getLogger(__name__)


def apply_welcome_bonuses(user) -> list[CouponRedemption]:
    """Credit every eligible welcome coupon to `user` (oldest coupon first); returns the redemptions made."""
    applied = []
    for coupon in welcome_candidates():
        coupon_id = coupon.id
        try:
            with db.session.begin_nested():
                applied.append(redeem_welcome_coupon(coupon_id, user=user))
        except (DomainError, SQLAlchemyError) as exc:
            log.info("welcome bonus %s not applied to user %s: %s", coupon_id, user.id, exc)
    if applied:
        db.session.refresh(user)
    return applied


def total_credit(redemptions: list[CouponRedemption]) -> int:
    return sum(r.credit_amount or 0 for r in redemptions)
