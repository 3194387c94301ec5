"""Admin billing routes (spec-subscriptions-billing B1-B9), administrators only.

B2/B3/B5/B7 run the pass in the request, as the original did (the passes are safe to run concurrently with the
scheduler: claims are SKIP LOCKED and every charge is keyed per period). The billing settings are validated
when this blueprint is registered, so a bad CRON_* or grace setting stops the app at start-up.
"""
from __future__ import annotations

import logging

from flask import Blueprint

from ..db import isoformat
from ..errors import DomainError, ValidationFailed
from ..extensions import db
from . import schemas_billing as s
from .auth import admin_required, current_api_user
from .envelope import envelope, ok
from .validation import validate

log = logging.getLogger(__name__)


def subscription_scalars(subscription) -> dict:
    """All Subscription scalars (spec §1.1) in the original's camelCase."""
    status = subscription.status
    return {
        "id": subscription.id, "userId": subscription.user_id, "serviceId": subscription.service_id,
        "planId": subscription.plan_id, "status": getattr(status, "value", status),
        "startDate": isoformat(subscription.start_date), "endDate": isoformat(subscription.end_date),
        "lastBilled": isoformat(subscription.last_billed), "nextBilling": isoformat(subscription.next_billing),
        "monthlyPrice": subscription.monthly_price, "lastChargeAmount": subscription.last_charge_amount,
        "failedCharges": subscription.failed_charges, "previousPlanId": subscription.previous_plan_id,
        "upgradeDate": isoformat(subscription.upgrade_date), "downgradeTo": None,
        "autoRenew": subscription.auto_renew, "gracePeriodEnd": isoformat(subscription.grace_period_end),
        "createdAt": isoformat(subscription.created_at), "updatedAt": isoformat(subscription.updated_at),
    }


def _low_credit_row(subscription) -> dict:
    user, service, plan = subscription.user, subscription.service, subscription.plan
    return {**subscription_scalars(subscription),
            "user": {"id": user.id, "name": user.name, "email": user.email, "creditBalance": user.credit_balance},
            "service": {"name": service.name}, "plan": {"name": plan.name, "monthlyPrice": plan.monthly_price}}


def _guarded(failure_message: str, fn):
    """Run a pass; a DomainError keeps its status, anything else is the spec's 500 message (logged)."""
    try:
        return fn()
    except DomainError:
        db.session.rollback()
        raise
    except Exception:  # noqa: BLE001
        db.session.rollback()
        log.exception(failure_message)
        return None


def _audited(job: str, result):
    """Running a billing pass is an administrative write: record who ran it and what it did."""
    from ..audit.services import record

    record(actor=current_api_user(), action="billing.run_job", target_type="job", target_id=job,
           after=result if isinstance(result, dict) else {"result": str(result)}, source="api")
    db.session.commit()
    return result


def _fail(message: str):
    return envelope(500, message)


def register(bp: Blueprint) -> None:
    @bp.record_once
    def _validate_settings(state):
        from ..subscriptions.scheduler import billing_settings

        billing_settings(state.app.config)  # BillingSettingsError stops create_app with a clear message

    @bp.get("/admin/billing/stats")
    @admin_required
    def admin_billing_stats():
        """B1: subscriptions due, in grace, failed; this month's subscription revenue."""
        from ..subscriptions.billing_stats import billing_stats

        stats = _guarded("billing stats failed", billing_stats)
        if stats is None:
            return _fail("Failed to retrieve billing statistics")
        return ok("Billing statistics retrieved successfully", stats)

    @bp.post("/admin/billing/process-renewals")
    @admin_required
    def admin_process_renewals():
        """B2: run the renewal pass now."""
        from ..subscriptions.renewals import process_renewals

        result = _guarded("renewal pass failed", lambda: _audited("daily-renewals", process_renewals(source="api")))
        if result is None:
            return _fail("Failed to process renewals")
        return ok("Auto-renewal processing completed", result)

    @bp.post("/admin/billing/process-grace-period")
    @admin_required
    def admin_process_grace_period():
        """B3: renew or expire subscriptions whose grace period ended."""
        from ..subscriptions.renewals import process_grace_period

        result = _guarded("grace pass failed", lambda: _audited("grace-period", process_grace_period(source="api")))
        if result is None:
            return _fail("Failed to process grace period")
        return ok("Grace period processing completed", result)

    @bp.get("/admin/billing/low-credit")
    @admin_required
    def admin_low_credit():
        """B4: subscriptions whose owner cannot pay the next renewal (within LOW_CREDIT_WARNING_DAYS)."""
        from ..subscriptions.renewals import low_credit_subscriptions

        rows = _guarded("low-credit query failed", lambda: [_low_credit_row(x) for x in low_credit_subscriptions()])
        if rows is None:
            return _fail("Failed to retrieve low credit subscriptions")
        return ok("Low credit subscriptions retrieved successfully", {"subscriptions": rows, "count": len(rows)})

    @bp.post("/admin/billing/send-low-credit-notifications")
    @admin_required
    def admin_send_low_credit():
        """B5: record the low-credit warnings (once per subscription and period)."""
        from ..subscriptions.renewals import send_low_credit_notifications

        result = _guarded("low-credit notifications failed", send_low_credit_notifications)
        if result is None:
            return _fail("Failed to send low credit notifications")
        return ok("Low credit notifications sent", result)

    @bp.get("/admin/billing/job-status")
    @admin_required
    def admin_job_status():
        """B6: the scheduler as Redis sees it: leader alive, registered jobs, next and last runs, settings."""
        from ..subscriptions.scheduler import current_settings, scheduler_state

        def state():
            data = scheduler_state()
            data["configuration"] = current_settings().configuration()
            return data

        data = _guarded("job status failed", state)
        if data is None:
            return _fail("Failed to retrieve job status")
        return ok("Job status retrieved successfully", data)

    @bp.post("/admin/billing/run-job/<jobName>")
    @admin_required
    @validate(path=s.JobNamePath)
    def admin_run_job(path: s.JobNamePath):
        """B7: run one scheduled job now, in this request; its result is recorded as the job's last run."""
        from jobs.billing import run_named

        result = _guarded(f"job {path.jobName} failed",
                          lambda: _audited(path.jobName, run_named(path.jobName, source="api")))
        if result is None:
            return _fail("Failed to run job")
        return ok(f"Job {path.jobName} executed successfully", result)

    @bp.post("/admin/billing/set-grace-period/<subscriptionId>")
    @admin_required
    @validate(path=s.SubscriptionIdPath, body=s.GracePeriodBody)
    def admin_set_grace_period(path: s.SubscriptionIdPath, body: s.GracePeriodBody):
        """B8: start (or replace) a grace period of `graceDays` days (default GRACE_PERIOD_DAYS)."""
        from ..subscriptions import transitions
        from ..subscriptions.scheduler import current_settings

        settings = current_settings()
        days = settings.grace_days if body.graceDays is None else body.graceDays
        if days < settings.grace_min_days:
            raise ValidationFailed(f"Grace days must be at least {settings.grace_min_days}")
        if days > settings.grace_max_days:
            raise ValidationFailed(f"Grace days cannot exceed {settings.grace_max_days}")

        def run():
            outcome = transitions.set_grace_period(path.subscriptionId, days=days, actor=current_api_user(),
                                                   source="api", reason=f"Admin set a {days}-day grace period",
                                                   replace=True)
            db.session.commit()
            return outcome.subscription

        subscription = _guarded("set grace period failed", run)
        if subscription is None:
            return _fail("Failed to set grace period")
        return ok(f"Grace period of {days} days set successfully", {"subscription": subscription_scalars(subscription)})

    @bp.post("/admin/billing/expire/<subscriptionId>")
    @admin_required
    @validate(path=s.SubscriptionIdPath, body=s.ExpireBody)
    def admin_expire(path: s.SubscriptionIdPath, body: s.ExpireBody):
        """B9: expire now (quota back once, instances terminated, customer notified). Repeats are no-ops."""
        from ..subscriptions import transitions

        def run():
            outcome = transitions.expire_subscription(path.subscriptionId, actor=current_api_user(), source="api",
                                                      reason=body.reason or "Expired by administrator")
            db.session.commit()
            return outcome.subscription

        subscription = _guarded("expire failed", run)
        if subscription is None:
            return _fail("Failed to expire subscription")
        return ok("Subscription expired successfully", {"subscription": subscription_scalars(subscription)})
