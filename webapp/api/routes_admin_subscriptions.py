"""Admin subscription routes (spec-subscriptions-billing A1-A9), administrators only.

Every write records an audit row (before/after, reason) in the same transaction (services do it).
"""
from __future__ import annotations

from flask import Blueprint, request

from .. import clock
from ..db import isoformat
from ..extensions import db
from ..subscriptions import services as subs
from . import presenters_subscriptions as p
from . import schemas_subscriptions as s
from .auth import admin_required, current_api_user
from .routes_subscriptions import _plan_change_payload
from .envelope import created, ok
from .validation import json_body, validate


def _admin_full(sub) -> dict:
    return {**p.subscription_scalars(sub), "user": p.user_ref(sub.user),
            "service": p.service_ref(sub.service, p.SERVICE_CREATED_ADMIN), "plan": p.plan_ref(sub.plan, p.PLAN_LIST)}


def register(bp: Blueprint) -> None:
    # ------------------------------------------------------------------------------- A1 create
    @bp.post("/admin/subscriptions")
    @admin_required
    @validate(body=s.AdminCreateBody)
    def admin_subscriptions_create(body: s.AdminCreateBody):
        """Create a subscription for a customer; skipCreditCheck makes it a free bonus."""
        admin = current_api_user()
        result = subs.admin_create_subscription(actor=admin, user_id=body.userId, plan_id=body.planId,
                                                skip_credit_check=body.skipCreditCheck, reason=body.reason)
        db.session.commit()
        sub = result.subscription
        return created(result.message, {
            "subscription": _admin_full(sub), "user": p.user_ref(sub.user),
            "plan": {"id": sub.plan.id, "name": sub.plan.name, "serviceName": sub.service.name,
                     "monthlyPrice": sub.plan.monthly_price},
            "billing": {"chargeAmount": result.charge_amount, "isBonusSubscription": result.is_bonus,
                        "originalPrice": result.original_amount},
            "adminAction": {"createdBy": admin.id, "reason": body.reason or "Admin created subscription",
                            "skipCreditCheck": body.skipCreditCheck}})

    # ---------------------------------------------------------------------------------- A2 list
    @bp.get("/admin/subscriptions")
    @admin_required
    @validate(query=s.AdminListQuery)
    def admin_subscriptions_list(query: s.AdminListQuery):
        """Every subscription, filtered and paginated, newest first."""
        rows, total = subs.admin_list(page=query.page, limit=query.limit, status=query.status,
                                      service_id=query.serviceId, user_id=query.userId, search=query.search)
        instances = subs.instances_by_subscription([r.id for r in rows])
        offset = (query.page - 1) * query.limit
        return ok("Subscriptions retrieved successfully", {
            "subscriptions": [p.admin_list_item(r, instances[r.id]) for r in rows],
            "pagination": {"currentPage": query.page, "totalPages": -(-total // query.limit), "totalCount": total,
                           "hasMore": offset + query.limit < total}})

    # --------------------------------------------------------------------------------- A3 stats
    @bp.get("/admin/subscriptions/stats")
    @admin_required
    @validate(query=s.AdminStatsQuery)
    def admin_subscriptions_stats(query: s.AdminStatsQuery):
        """Counts, recurring revenue and breakdowns, optionally for subscriptions created in a date range."""
        return ok("Subscription statistics retrieved successfully",
                  subs.admin_stats(start=query.startDate, end=query.endDate))

    # -------------------------------------------------------------------------- A4 force-cancel
    @bp.delete("/admin/subscriptions/<subscriptionId>/force-cancel")
    @admin_required
    @validate(path=s.AdminSubscriptionIdPath, body=s.ForceCancelBody)
    def admin_subscriptions_force_cancel(path: s.AdminSubscriptionIdPath, body: s.ForceCancelBody):
        """Cancel now, terminate every instance, optionally refund the unused part of what was paid."""
        admin = current_api_user()
        result = subs.force_cancel(actor=admin, subscription_id=path.subscriptionId, reason=body.reason,
                                   process_refund=body.processRefund)
        db.session.commit()
        sub = subs.get_subscription(result.outcome.subscription.id)
        if result.refund_amount > 0:
            refund = {"amount": result.refund_amount, "transactionId": result.refund_transaction.custom_id,
                      "processed": True, **result.details}
        else:
            refund = {"amount": 0, "processed": False, "reason": result.refund_reason}
        return ok("Subscription force-cancelled successfully", {
            "subscription": _admin_full(sub), "instancesTerminated": result.outcome.instances_terminated,
            "refund": refund, "message": "Subscription force-cancelled and service instances terminated",
            "nextSteps": ["The subscription is cancelled immediately", "Service instances are being terminated",
                          "The plan's quota slot has been released",
                          "The refund (if any) is in the customer's wallet",
                          "The action is recorded in the audit log"],
            "adminAction": {"cancelledBy": admin.id, "reason": body.reason, "processRefund": body.processRefund,
                            "immediateTermination": True}})

    # -------------------------------------------------------------------------------- A5 refund
    @bp.post("/admin/subscriptions/<subscriptionId>/refund")
    @admin_required
    @validate(path=s.AdminSubscriptionIdPath, body=s.RefundBody)
    def admin_subscriptions_refund(path: s.AdminSubscriptionIdPath, body: s.RefundBody):
        """Credit the customer's wallet for a subscription (capped by what it brought in)."""
        admin = current_api_user()
        result = subs.refund_subscription(actor=admin, subscription_id=path.subscriptionId, amount=body.amount,
                                          reason=body.reason, refund_type=body.refundType,
                                          idempotency_key=request.headers.get("Idempotency-Key"))
        db.session.commit()
        tx, user, sub = result.transaction, result.user, result.subscription
        return ok("Refund processed successfully", {
            "refund": {"transactionId": tx.custom_id, "userId": user.id, "userName": user.name,
                       "refundAmount": result.amount, "balanceBefore": tx.balance_before,
                       "balanceAfter": tx.balance_after, "description": tx.description, "success": True},
            "subscription": {"id": sub.id, "serviceName": sub.service.name, "planName": sub.plan.name,
                             "monthlyPrice": sub.monthly_price},
            "user": p.user_ref(user),
            "refundDetails": {"amount": result.amount, "refundType": result.refund_type, "reason": result.reason,
                              "processedBy": admin.id}})

    # -------------------------------------------------------------------------------- A6 extend
    @bp.put("/admin/subscriptions/<subscriptionId>/extend")
    @admin_required
    @validate(path=s.AdminSubscriptionIdPath, body=s.ExtendBody)
    def admin_subscriptions_extend(path: s.AdminSubscriptionIdPath, body: s.ExtendBody):
        """Push the end date N days, free of charge."""
        admin = current_api_user()
        ext = subs.extend_subscription(actor=admin, subscription_id=path.subscriptionId, days=body.extensionDays,
                                       reason=body.reason)
        db.session.commit()
        return ok("Subscription extended successfully", {
            "subscription": _admin_full(ext.subscription),
            "extension": {"days": ext.days, "previousEndDate": isoformat(ext.previous_end),
                          "newEndDate": isoformat(ext.new_end), "reason": body.reason, "processedBy": admin.id}})

    # ------------------------------------------------------------------------------- A7 upgrade
    @bp.put("/admin/subscriptions/<subscriptionId>/upgrade")
    @admin_required
    @validate(path=s.AdminSubscriptionIdPath, body=s.AdminUpgradeBody)
    def admin_subscriptions_upgrade(path: s.AdminSubscriptionIdPath, body: s.AdminUpgradeBody):
        """Move to any other plan of the same service (downgrades credit the prorated difference)."""
        admin = current_api_user()
        change = subs.admin_change_plan(actor=admin, subscription_id=path.subscriptionId,
                                        new_plan_id=body.newPlanId, skip_credit_check=body.skipCreditCheck,
                                        reason=body.reason)
        db.session.commit()
        data = _plan_change_payload(change)
        data.update({
            "user": p.user_ref(change.user),
            "upgrade": {"fromPlan": p.plan_ref(change.from_plan), "toPlan": p.plan_ref(change.to_plan),
                        "upgradeCost": change.cost, "actualCharge": change.actual_charge,
                        "proratedDays": change.proration.days_remaining, "isBonusUpgrade": change.is_bonus},
            "adminAction": {"upgradedBy": admin.id, "reason": body.reason or "Admin upgrade",
                            "skipCreditCheck": body.skipCreditCheck}})
        return ok(change.message, data)

    # -------------------------------------------------------------------------------- A8 expire
    @bp.put("/admin/subscriptions/<subscriptionId>/expire")
    @admin_required
    @validate(path=s.AdminSubscriptionIdPath, body=s.ExpireBody)
    def admin_subscriptions_expire(path: s.AdminSubscriptionIdPath, body: s.ExpireBody):
        """Expire now: quota released, auto-renew off, instances terminated unless asked not to."""
        admin = current_api_user()
        outcome = subs.admin_expire(actor=admin, subscription_id=path.subscriptionId, reason=body.reason,
                                    terminate_instances=body.terminateInstances)
        db.session.commit()
        sub = subs.get_subscription(outcome.subscription.id)
        return ok("Subscription expired successfully", {
            "subscription": _admin_full(sub), "instancesTerminated": outcome.instances_terminated,
            "message": "Subscription expired" + (" and service instances terminated"
                                                 if body.terminateInstances else ""),
            "nextSteps": ["The subscription is expired and will not renew",
                          "The plan's quota slot has been released",
                          "Service instances are being terminated" if body.terminateInstances
                          else "Service instances were left untouched",
                          "The customer can subscribe again to reactivate it"],
            "adminAction": {"expiredBy": admin.id, "reason": body.reason,
                            "terminateInstances": body.terminateInstances}})

    # ---------------------------------------------------------------------------- A9 free edit
    @bp.put("/admin/subscriptions/<subscriptionId>")
    @admin_required
    @validate(path=s.AdminSubscriptionIdPath, body=s.AdminUpdateBody)
    def admin_subscriptions_update(path: s.AdminSubscriptionIdPath, body: s.AdminUpdateBody):
        """Edit fields directly (status changes keep the quota consistent); every change is audited."""
        admin = current_api_user()
        provided = body.provided()
        order = [key for key in (json_body() or {}) if key in provided]
        changes = [(key, provided[key]) for key in order]
        result = subs.admin_update(actor=admin, subscription_id=path.subscriptionId, changes=changes)
        db.session.commit()
        sub = subs.get_subscription(result.subscription.id)
        original = result.original
        return ok("Subscription updated successfully", {
            "subscription": {**p.subscription_scalars(sub), "user": p.user_ref(sub.user),
                             "service": p.service_ref(sub.service), "plan": p.plan_ref(sub.plan)},
            "changes": result.changes, "fieldsUpdated": result.fields,
            "adminAction": {"updatedBy": admin.id, "adminName": admin.name, "timestamp": isoformat(clock.now()),
                            "changes": result.changes},
            "originalSubscription": {"id": sub.id, "status": original["status"], "endDate": original["end_date"],
                                     "nextBilling": original["next_billing"], "autoRenew": original["auto_renew"],
                                     "monthlyPrice": original["monthly_price"]}})
