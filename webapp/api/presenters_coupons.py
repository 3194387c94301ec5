"""JSON shapes of coupons and redemptions (camelCase, field for field as the original, plus `effectiveStatus`)."""
from __future__ import annotations

from ..billing.coupons import effective_status
from ..db import isoformat


def _value(enum_value):
    return enum_value.value if enum_value is not None else None


def coupon_columns(coupon) -> dict:
    return {
        "id": coupon.id, "code": coupon.code, "name": coupon.name, "description": coupon.description,
        "type": coupon.type.value, "status": coupon.status.value, "creditAmount": coupon.credit_amount,
        "discountType": _value(coupon.discount_type), "discountPercent": coupon.discount_percent,
        "maxUses": coupon.max_uses, "usedCount": coupon.used_count, "maxUsesPerUser": coupon.max_uses_per_user,
        "serviceId": coupon.service_id, "planType": _value(coupon.plan_type),
        "validFrom": isoformat(coupon.valid_from), "validUntil": isoformat(coupon.valid_until),
        "createdBy": coupon.created_by, "createdAt": isoformat(coupon.created_at),
        "updatedAt": isoformat(coupon.updated_at),
        # additive (fix 26): what a customer meets today, dates and the counter applied
        "effectiveStatus": effective_status(coupon),
    }


def service_ref(service) -> dict | None:
    return {"id": service.id, "name": service.name, "slug": service.slug} if service is not None else None


def coupon_with_service(coupon) -> dict:
    return {**coupon_columns(coupon), "service": service_ref(coupon.service)}


def coupon_list_row(coupon, counts: dict) -> dict:
    return {**coupon_with_service(coupon), "_count": {"redemptions": counts.get(coupon.id, 0)}}


def redemption_columns(redemption) -> dict:
    return {
        "id": redemption.id, "couponId": redemption.coupon_id, "userId": redemption.user_id,
        "redemptionType": redemption.redemption_type.value, "creditAmount": redemption.credit_amount,
        "discountAmount": redemption.discount_amount, "transactionId": redemption.transaction_id,
        "subscriptionId": redemption.subscription_id, "metadata": redemption.metadata_,
        "redeemedAt": isoformat(redemption.redeemed_at),
    }


def _transaction_ref(transaction) -> dict | None:
    if transaction is None:
        return None
    return {"id": transaction.id, "customId": transaction.custom_id, "status": transaction.status.value}


def coupon_details(coupon) -> dict:
    """C5: the coupon, its service and every redemption (user, ledger row, subscription)."""
    redemptions = []
    for r in coupon.redemptions:
        subscription = r.subscription
        redemptions.append({
            **redemption_columns(r),
            "user": {"id": r.user.id, "name": r.user.name, "email": r.user.email},
            "transaction": _transaction_ref(r.transaction),
            "subscription": {"id": subscription.id, "service": {"name": subscription.service.name},
                             "plan": {"name": subscription.plan.name}} if subscription is not None else None,
        })
    return {**coupon_with_service(coupon), "redemptions": redemptions,
            "_count": {"redemptions": len(redemptions)}}


def history_row(redemption) -> dict:
    """W11: a redemption with its coupon, ledger row and subscription."""
    coupon, subscription = redemption.coupon, redemption.subscription
    return {
        **redemption_columns(redemption),
        "coupon": {"id": coupon.id, "code": coupon.code, "name": coupon.name, "type": coupon.type.value,
                   "discountType": _value(coupon.discount_type)},
        "transaction": _transaction_ref(redemption.transaction),
        "subscription": {"id": subscription.id,
                         "service": {"name": subscription.service.name, "slug": subscription.service.slug},
                         "plan": {"name": subscription.plan.name, "planType": subscription.plan.plan_type.value}}
        if subscription is not None else None,
    }


def validation_result(check) -> dict:
    """W9: unknown code -> {valid, error}; other failures -> coupon null; valid -> the preview."""
    if check.coupon is None:
        return {"valid": False, "error": check.error}
    if not check.valid:
        return {"valid": False, "error": check.error, "coupon": None}
    coupon = check.coupon
    return {"valid": True, "error": None, "coupon": {
        "id": coupon.id, "code": coupon.code, "name": coupon.name, "description": coupon.description,
        "type": coupon.type.value, "discountType": _value(coupon.discount_type),
        "potentialValue": check.potential_value, "valueDescription": check.value_description,
        "service": service_ref(coupon.service), "validUntil": isoformat(coupon.valid_until),
        "usageInfo": {"used": coupon.used_count, "maxUses": coupon.max_uses, "userUsed": check.user_used,
                      "maxPerUser": coupon.max_uses_per_user}}}


def redemption_result(redemption, coupon) -> dict:
    """W10's `redemption` object."""
    transaction = redemption.transaction
    return {"success": True, "redemptionId": redemption.id, "couponCode": coupon.code, "couponName": coupon.name,
            "creditAmount": redemption.credit_amount, "description": transaction.description,
            "transactionId": transaction.id, "newBalance": transaction.balance_after}


def statistics(stats: dict) -> dict:
    return {**stats, "startDate": isoformat(stats["startDate"]), "endDate": isoformat(stats["endDate"])}


def pagination(page: int, limit: int, total: int) -> dict:
    pages = -(-total // limit)
    return {"currentPage": page, "totalPages": pages, "totalCount": total, "hasMore": page < pages}
