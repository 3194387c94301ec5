"""JSON shapes of domain objects, field for field as the original API returned them (camelCase)."""
from __future__ import annotations

from decimal import Decimal

from ..db import isoformat


def number(value):
    """Decimals (storageGb) as JSON numbers: 0.25, 2 (not "0.25", not 2.0)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# ------------------------------------------------------------------------------------------ users
def user_basic(user) -> dict:
    return {
        "id": user.id, "name": user.name, "email": user.email, "phone": user.phone, "role": user.role.value,
        "avatar": user.avatar, "isActive": user.is_active,
        "createdAt": isoformat(user.created_at), "updatedAt": isoformat(user.updated_at),
    }


def user_google_existing(user) -> dict:
    return {**user_basic(user), "isGoogleUser": user.is_google_user, "emailVerified": user.email_verified}


def user_full(user) -> dict:
    return {**user_google_existing(user), "creditBalance": user.credit_balance, "totalTopUp": user.total_top_up,
            "totalSpent": user.total_spent}


def user_no_password(user) -> dict:
    return {**user_full(user), "googleId": user.google_id}


def admin_user_row(user, subscription_count: int) -> dict:
    basic = user_basic(user)
    return {**{k: basic[k] for k in ("id", "name", "email", "phone", "role", "avatar", "isActive")},
            "creditBalance": user.credit_balance, "totalTopUp": user.total_top_up, "totalSpent": user.total_spent,
            "createdAt": basic["createdAt"], "updatedAt": basic["updatedAt"],
            "_count": {"subscriptions": subscription_count}}
