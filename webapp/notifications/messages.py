"""The billing notifications (spec §3.12): their text, their data, and the event each one is recorded for once.

Every function records one row through `notify(...)` in the caller's transaction. Dedupe keys name the event:
- RENEWAL_SUCCESS / RENEWAL_FAILURE: per (subscription, period end being renewed) — one each per period;
- LOW_CREDIT_WARNING: per (subscription, period end) — once before each renewal, not every day (§5 item 26);
- GRACE_PERIOD_REMINDER: per (subscription, billing-zone day) — one a day while in grace;
- SUBSCRIPTION_SUSPENDED: per (subscription, period end at expiry) — one per expiry;
- ADMIN_BILLING_SUMMARY: per run id (a day for the cron run, a random id for a manual one).
- PASSWORD_RESET: per reset token (accounts.password_reset), not a billing message but built the same way.
Data fields keep the original's names (camelCase), so the console and any client read the same shapes.
"""
from __future__ import annotations

from datetime import datetime

from .. import clock
from ..db import isoformat
from .models import Notification, NotificationType
from .services import notify


def _idr(amount: int | None) -> str:
    return f"{int(amount or 0):,} IDR".replace(",", ".")


def _day(value: datetime | None) -> str:
    return clock.local(value).date().isoformat() if value is not None else "-"


def period_key(end_date: datetime) -> str:
    """The billing-zone date of a period end, as used in idempotency and dedupe keys."""
    return clock.local(end_date).date().isoformat()


def _names(subscription) -> tuple[str, str]:
    if getattr(subscription, "service_name", None):  # a plain record (the renewal pass) carries the names
        return subscription.service_name, subscription.plan_name
    service = getattr(subscription, "service", None)
    plan = getattr(subscription, "plan", None)
    return (getattr(service, "name", None) or "Service", getattr(plan, "name", None) or "Plan")


def renewal_success(subscription, *, user, charged_amount: int, period_end: datetime, new_end_date: datetime,
                    transaction_id: str | None = None) -> Notification:
    service, plan = _names(subscription)
    data = {"type": "RENEWAL_SUCCESS", "userId": user.id, "subscriptionId": subscription.id,
            "serviceName": service, "planName": plan, "chargedAmount": charged_amount,
            "newEndDate": isoformat(new_end_date), "nextBillingDate": isoformat(new_end_date),
            "transactionId": transaction_id}
    return notify(type=NotificationType.RENEWAL_SUCCESS, dedupe_key=f"renewal-success:{subscription.id}:{period_key(period_end)}",
                  subject=f"{service} {plan} renewed",
                  body=(f"Your {service} ({plan} plan) subscription was renewed: {_idr(charged_amount)} was charged "
                        f"from your wallet. Next billing date: {_day(new_end_date)}."),
                  user=user, subscription_id=subscription.id, data=data)


def renewal_failure(subscription, *, user, reason: str, period_end: datetime, grace_days: int | None,
                    grace_period_end: datetime | None, required: int, balance: int) -> Notification:
    service, plan = _names(subscription)
    data = {"type": "RENEWAL_FAILURE", "userId": user.id, "userEmail": user.email, "userName": user.name,
            "subscriptionId": subscription.id, "serviceName": service, "planName": plan, "reason": reason,
            "gracePeriodDays": grace_days, "gracePeriodEnd": isoformat(grace_period_end),
            "requiredAmount": required, "currentBalance": balance}
    if grace_period_end is not None:
        tail = (f"Your service keeps running during a {grace_days}-day grace period until {_day(grace_period_end)}. "
                f"Please top up at least {_idr(max(required - balance, 0))} to keep it.")
    else:
        tail = "The subscription has been stopped. Top up and subscribe again to restore the service."
    return notify(type=NotificationType.RENEWAL_FAILURE, dedupe_key=f"renewal-failure:{subscription.id}:{period_key(period_end)}",
                  subject=f"Renewal of {service} {plan} failed",
                  body=(f"We could not renew your {service} ({plan} plan) subscription: {reason}. "
                        f"Required {_idr(required)}, balance {_idr(balance)}. {tail}"),
                  user=user, subscription_id=subscription.id, data=data)


def low_credit_warning(subscription, *, user, now: datetime) -> Notification:
    service, plan = _names(subscription)
    required = subscription.monthly_price
    days = clock.days_until(subscription.next_billing, at=now)
    data = {"type": "LOW_CREDIT_WARNING", "userId": user.id, "userEmail": user.email, "userName": user.name,
            "serviceName": service, "planName": plan, "currentBalance": user.credit_balance,
            "requiredAmount": required, "shortfall": required - user.credit_balance, "daysUntilBilling": days,
            "nextBillingDate": isoformat(subscription.next_billing), "subscriptionId": subscription.id}
    return notify(type=NotificationType.LOW_CREDIT_WARNING,
                  dedupe_key=f"low-credit:{subscription.id}:{period_key(subscription.end_date)}",
                  subject=f"Top up to keep {service} running",
                  body=(f"Your balance ({_idr(user.credit_balance)}) does not cover the renewal of {service} "
                        f"({plan} plan, {_idr(required)}) due in {days} day(s), on {_day(subscription.next_billing)}. "
                        f"Please top up at least {_idr(required - user.credit_balance)}."),
                  user=user, subscription_id=subscription.id, data=data)


def grace_period_reminder(subscription, *, user, now: datetime) -> Notification:
    service, plan = _names(subscription)
    required = subscription.monthly_price
    days = clock.days_until(subscription.grace_period_end, at=now)
    shortfall = max(required - user.credit_balance, 0)
    data = {"type": "GRACE_PERIOD_REMINDER", "userId": user.id, "userEmail": user.email, "userName": user.name,
            "subscriptionId": subscription.id, "serviceName": service, "planName": plan, "daysRemaining": days,
            "gracePeriodEnd": isoformat(subscription.grace_period_end), "requiredAmount": required,
            "currentBalance": user.credit_balance, "shortfall": shortfall}
    return notify(type=NotificationType.GRACE_PERIOD_REMINDER,
                  dedupe_key=f"grace-reminder:{subscription.id}:{clock.local(now).date().isoformat()}",
                  subject=f"{service}: {days} day(s) left in your grace period",
                  body=(f"Your {service} ({plan} plan) subscription is in its grace period: {days} day(s) remaining. "
                        f"Please top up {_idr(shortfall)} to avoid suspension."),
                  user=user, subscription_id=subscription.id, data=data)


def subscription_suspended(subscription, *, user, reason: str, at: datetime) -> Notification:
    service, plan = _names(subscription)
    data = {"type": "SUBSCRIPTION_SUSPENDED", "userId": user.id, "userEmail": user.email, "userName": user.name,
            "subscriptionId": subscription.id, "serviceName": service, "planName": plan,
            "suspendedAt": isoformat(at), "reason": reason}
    return notify(type=NotificationType.SUBSCRIPTION_SUSPENDED,
                  dedupe_key=f"suspended:{subscription.id}:{period_key(subscription.end_date)}",
                  subject=f"{service} {plan} has been stopped",
                  body=(f"Your {service} ({plan} plan) subscription expired on {_day(at)} ({reason}). "
                        "Its instances are being shut down. Top up and subscribe again to restore the service."),
                  user=user, subscription_id=subscription.id, data=data)


def admin_billing_summary(result: dict, *, run_key: str, recipient: str | None, at: datetime) -> Notification:
    data = {"type": "ADMIN_BILLING_SUMMARY", "timestamp": isoformat(at),
            **{k: v for k, v in result.items() if k != "errors"}, "errorCount": len(result.get("errors") or [])}
    text = (f"Daily billing summary: {result.get('successful', 0)}/{result.get('processed', 0)} renewals successful, "
            f"{result.get('failed', 0)} failed, {result.get('insufficientCredit', 0)} insufficient credit cases, "
            f"{result.get('expired', 0)} expired.")
    return notify(type=NotificationType.ADMIN_BILLING_SUMMARY, dedupe_key=f"billing-summary:{run_key}",
                  subject="Daily billing summary", body=text, recipient=recipient, data=data)


def password_reset(*, user, link: str, token_id: str, expires_at: datetime, ttl_minutes: int) -> Notification:
    """The reset link for `user` (accounts.password_reset), one message per token. The clear token exists only in
    this body (the database keeps its digest); a successful reset strips the links from the user's reset messages."""
    data = {"type": "PASSWORD_RESET", "userId": user.id, "tokenId": token_id, "expiresAt": isoformat(expires_at)}
    return notify(type=NotificationType.PASSWORD_RESET, dedupe_key=f"password-reset:{token_id}",
                  subject="Reset your PodDesk password",
                  body=(f"Hello {user.name},\n\nsomeone (hopefully you) asked to reset the password of your PodDesk "
                        f"account. Open this link to choose a new password:\n\n{link}\n\n"
                        f"The link works once and expires in {ttl_minutes} minutes. If you did not ask for it, "
                        "ignore this message: your password stays as it is."),
                  user=user, data=data)
