"""Coupon failures: one class per failure, with the original API's status and exact message."""
from ..errors import DomainError


# ------------------------------------------------------------------------------ validity (W9, W10, checkout)
class CouponError(DomainError):
    """A coupon a customer sent cannot be used (always a 400: client input, never a server fault)."""

    status = 400


class InvalidCouponCode(CouponError):
    message = "Invalid coupon code"


class CouponNotActive(CouponError):
    message = "Coupon is not active"


class CouponExpired(CouponError):
    message = "Coupon has expired"


class CouponNotYetValid(CouponError):
    message = "Coupon is not yet valid"


class CouponUsageLimitExceeded(CouponError):
    message = "Coupon usage limit exceeded"


class CouponAlreadyRedeemed(CouponError):
    message = "You have already redeemed this coupon"


class CouponWrongService(CouponError):
    message = "Coupon is only valid for {service}"


class CouponWrongPlanType(CouponError):
    message = "Coupon is only valid for {plan_type} plans"


class CouponNotForCredit(CouponError):
    message = "This coupon cannot be used for credit top-up"


class CouponNotForCheckout(CouponError):
    message = "This coupon cannot be used during subscription checkout"


class CouponRedemptionNotFound(DomainError):
    status, message = 404, "Coupon redemption not found"


# ------------------------------------------------------------------------------------------- admin (C1-C7)
class CouponNotFound(DomainError):
    status, message = 404, "Coupon not found"


class CouponCodeTaken(DomainError):
    status, message = 400, "Coupon code already exists"


class CouponServiceNotFound(DomainError):
    status, message = 400, "Service not found"


class CouponHasRedemptions(DomainError):
    status, message = 400, "Cannot delete coupon that has been redeemed. Consider disabling it instead."


class CouponRuleViolation(DomainError):
    """A coupon definition that breaks a cross-field rule of C1/C6 (the message names the rule)."""

    status = 400


class CouponDatesInvalid(CouponRuleViolation):
    message = "Valid until date must be after valid from date"


class CouponValidUntilPast(CouponRuleViolation):
    message = '"validUntil" must be greater than or equal to "now"'


class CouponCreditAmountRequired(CouponRuleViolation):
    message = "Credit amount is required for credit top-up and welcome bonus coupons"


class CouponDiscountTypeRequired(CouponRuleViolation):
    message = "Discount type is required for subscription discount coupons"


class CouponFixedAmountRequired(CouponRuleViolation):
    message = "Credit amount is required for fixed amount discount coupons"


class CouponPercentRequired(CouponRuleViolation):
    message = "Discount percentage is required for percentage discount coupons"


class CouponFreeServiceNeedsService(CouponRuleViolation):
    message = "Service ID is required for free service coupons"


class CouponMaxUsesBelowUsed(CouponRuleViolation):
    message = "Max uses cannot be lower than the number of redemptions ({used})"


class CouponPerUserLimitUnsupported(CouponRuleViolation):
    message = "A coupon can be redeemed only once per user: maxUsesPerUser must be 1"


class CouponValueOutOfRange(CouponRuleViolation):
    message = "{field} is out of range"
