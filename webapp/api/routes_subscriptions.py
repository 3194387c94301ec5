"""Customer subscription routes (spec-subscriptions-billing U1-U13): parse, call one service, commit, render.

Owner routes look the subscription up with the caller's id: someone else's id is 404 "Subscription not found".
"""
from __future__ import annotations

from flask import Blueprint

from .. import clock
from ..db import isoformat
from ..extensions import db
from ..subscriptions import services as subs
from . import presenters_subscriptions as p
from . import schemas_subscriptions as s
from .auth import current_api_user, user_required
from .envelope import created, envelope, ok
from .validation import validate


def _service_detail_for_create(sub) -> dict:
    return {**p.subscription_scalars(sub), "service": p.service_ref(sub.service, p.SERVICE_CREATED),
            "plan": p.plan_ref(sub.plan, p.PLAN_LIST)}


def _create_payload(result) -> dict:
    sub = result.subscription
    if result.is_reactivation:
        data = {"subscription": _service_detail_for_create(sub), "message": result.message,
                "chargeAmount": result.charge_amount, "originalAmount": result.original_amount,
                "discountAmount": result.discount_amount, "finalAmount": result.final_amount,
                "isBonusSubscription": False, "isFreeService": result.is_free_service, "isReactivation": True,
                "couponApplied": result.coupon_code,
                "nextSteps": ["Your expired subscription has been reactivated",
                              "A new service instance is being provisioned",
                              "Check the subscription details for the instance status"]}
    else:
        data = {"subscription": _service_detail_for_create(sub), "message": result.message,
                "chargeAmount": result.charge_amount, "originalAmount": result.original_amount,
                "discountAmount": result.discount_amount, "finalAmount": result.final_amount,
                "isBonusSubscription": result.is_bonus, "isFreeService": result.is_free_service,
                "couponApplied": result.coupon_code,
                "nextSteps": ["Your service instance is being provisioned",
                              "Provisioning usually takes 2-5 minutes",
                              "Check the subscription details for the instance status and URL"]}
    if result.coupon_code and result.is_free_service:
        data["freeService"] = {"couponCode": result.coupon_code, "redemptionId": result.redemption_id,
                               "freeServiceValue": result.original_amount}
    elif result.coupon_code and result.discount_amount:
        data["discount"] = {"couponCode": result.coupon_code, "originalAmount": result.original_amount,
                            "discountAmount": result.discount_amount, "finalAmount": result.final_amount}
    return data


def _plan_change_payload(change) -> dict:
    sub = change.subscription
    from ..cluster.models import InstanceStatus

    active = [i for i in subs.instances_of(sub.id)
              if i.status in (InstanceStatus.RUNNING, InstanceStatus.PENDING, InstanceStatus.PROVISIONING)]
    instance_update = None
    if change.instances_resized and active:
        instance_update = {"instance": p.instance_brief(active[0]),
                           "message": "Instance resource update scheduled",
                           "newResources": p.new_resources(change.to_plan)}
    return {"subscription": {**p.with_refs(sub, plan_fields=p.PLAN_LIST),
                             "instances": [p.instance_brief(i) for i in active]},
            "upgradeCost": change.cost, "actualCharge": change.actual_charge,
            "proratedDays": change.proration.days_remaining, "isBonusUpgrade": change.is_bonus,
            "instanceUpdateResult": instance_update, "message": change.message,
            "nextSteps": ["Your plan has been changed",
                          "Instance resources are updated in the background" if instance_update
                          else "New resources apply to your next service instance",
                          "The next renewal is charged at the new plan's price"]}


def _action_payload(action: str, sub, instance, result) -> dict:
    now = isoformat(clock.now())
    base = result if isinstance(result, dict) else None
    if base is None:
        current = getattr(result, "status", None) or instance.status
        inst = {"id": instance.id, "name": instance.name, "status": getattr(current, "value", current),
                "service": p.service_ref(sub.service), "plan": p.plan_ref(sub.plan)}
        if action == "restart":
            base = {"instance": inst, "restart": {"oldPodName": instance.pod_name, "newPodName": None,
                                                  "restartTime": now, "method": "Rolling Restart"},
                    "message": "Service restart initiated", "estimatedDowntime": "30-60 seconds",
                    "nextSteps": ["The service restarts with a rolling update",
                                  "Check the instance status in a minute"]}
        elif action == "stop":
            base = {"instance": inst, "stop": {"stoppedAt": now, "method": "Scale to Zero", "preservedData": True},
                    "message": "Service stop initiated",
                    "nextSteps": ["Your data is preserved", "Start the service again at any time",
                                  "Billing continues while the service is stopped"]}
        else:
            base = {"instance": inst, "start": {"startedAt": now, "method": "Scale to One", "newPodName": None},
                    "message": "Service start initiated",
                    "nextSteps": ["The service is starting", "Check the instance status in a minute"]}
    return {**base, "subscription": p.context(sub)}


def register(bp: Blueprint) -> None:
    # ---------------------------------------------------------------------------------- U1 list
    @bp.get("/subscriptions")
    @user_required
    @validate(query=s.ListQuery)
    def subscriptions_list(query: s.ListQuery):
        """The caller's subscriptions, newest first. `includeInstances=false` leaves instances out
        (they are included when the flag is absent, as the original's clients expect)."""
        rows = subs.list_user_subscriptions(current_api_user(), status=query.status)
        instances = subs.instances_by_subscription([r.id for r in rows])
        include = query.includeInstances is not False
        return ok("Subscriptions retrieved successfully",
                  {"subscriptions": [p.list_item(r, instances[r.id], include_instances=include) for r in rows]})

    # ------------------------------------------------------------------------------ U2 validate
    @bp.post("/subscriptions/validate")
    @user_required
    @validate(body=s.PlanBody)
    def subscriptions_validate(body: s.PlanBody):
        """Dry run of a subscription to a plan: user, plan, duplicate, credit and quota checks."""
        validation = subs.validate_subscription(current_api_user().id, body.planId)
        if validation["isValid"]:
            return ok("Subscription validation passed", {"validation": validation})
        return envelope(400, "Subscription validation failed", {"validation": validation})

    # -------------------------------------------------------------------------------- U3 create
    @bp.post("/subscriptions")
    @user_required
    @validate(body=s.CreateBody)
    def subscriptions_create(body: s.CreateBody):
        """Subscribe to a plan (or reactivate an expired subscription of the service), paying from the wallet."""
        result = subs.create_subscription(current_api_user(), body.planId, coupon_code=body.couponCode)
        db.session.commit()
        return created("Subscription created successfully", _create_payload(result))

    # ------------------------------------------------------------------------------- U4 details
    @bp.get("/subscriptions/<subscriptionId>")
    @user_required
    @validate(path=s.SubscriptionIdPath)
    def subscriptions_get(path: s.SubscriptionIdPath):
        """One of the caller's subscriptions with instances, recent charges and billing info."""
        sub = subs.get_subscription(path.subscriptionId, user_id=current_api_user().id)
        return ok("Subscription details retrieved successfully", {
            "subscription": p.detail(sub, subs.instances_of(sub.id), subs.recent_charges(sub.id))})

    # ------------------------------------------------------------------------------- U5 metrics
    @bp.get("/subscriptions/<subscriptionId>/metrics")
    @user_required
    @validate(path=s.SubscriptionIdPath)
    def subscriptions_metrics(path: s.SubscriptionIdPath):
        """Live CPU/memory usage of the subscription's running instance."""
        sub, instance, metrics = subs.subscription_metrics(current_api_user(), path.subscriptionId)
        data = dict(metrics) if isinstance(metrics, dict) else {}
        data.setdefault("instanceId", instance.id)
        data.setdefault("status", instance.status.value)
        data.setdefault("timestamp", isoformat(clock.now()))
        return ok("Subscription metrics retrieved successfully", data)

    # -------------------------------------------------------------------------- U6 billing info
    @bp.get("/subscriptions/<subscriptionId>/billing-info")
    @user_required
    @validate(path=s.SubscriptionIdPath)
    def subscriptions_billing_info(path: s.SubscriptionIdPath):
        """Upgrade options: higher tiers of the same service with today's prorated cost."""
        options = subs.upgrade_options(current_api_user(), path.subscriptionId)
        sub, pr, current = options.subscription, options.proration, options.subscription.plan
        upgrades = []
        for plan, cost, quota_available, can, reason in options.plans:
            row = {"id": plan.id, "name": plan.name, "planType": plan.plan_type.value,
                   "monthlyPrice": plan.monthly_price, "upgradeCost": cost, "proratedDays": max(pr.days_remaining, 0),
                   "resources": p.resources(plan), "quotaAvailable": quota_available, "canUpgrade": can}
            if reason:
                row["reason"] = reason
            upgrades.append(row)
        return ok("Available upgrade plans retrieved successfully", {
            "currentPlan": {"id": current.id, "name": current.name, "planType": current.plan_type.value,
                            "monthlyPrice": current.monthly_price, "resources": p.resources(current),
                            "features": current.features},
            "availableUpgrades": upgrades,
            "userInfo": {"creditBalance": options.credit_balance, "hasUpgradeOptions": bool(upgrades),
                         "canUpgradeAny": any(u["canUpgrade"] for u in upgrades)},
            "billingInfo": {"daysRemaining": max(pr.days_remaining, 0), "nextBillingDate": isoformat(sub.next_billing),
                            "proratedRatio": round(pr.ratio, 2), "periodDays": pr.period_days,
                            "autoRenew": sub.auto_renew, "monthlyPrice": sub.monthly_price,
                            "lastChargeAmount": sub.last_charge_amount,
                            "nextChargeAmount": sub.monthly_price if sub.auto_renew else 0},
            "service": p.service_ref(sub.service)})

    # ------------------------------------------------------------------------------- U7 upgrade
    @bp.put("/subscriptions/<subscriptionId>/upgrade")
    @user_required
    @validate(path=s.SubscriptionIdPath, body=s.UpgradeBody)
    def subscriptions_upgrade(path: s.SubscriptionIdPath, body: s.UpgradeBody):
        """Move to a higher tier of the same service, paying the prorated difference now."""
        change = subs.upgrade_subscription(current_api_user(), path.subscriptionId, body.newPlanId)
        db.session.commit()
        return ok("Subscription upgraded successfully", _plan_change_payload(change))

    # --------------------------------------------------------------------- U8 retry provisioning
    @bp.post("/subscriptions/<subscriptionId>/retry-provisioning")
    @user_required
    @validate(path=s.SubscriptionIdPath)
    def subscriptions_retry(path: s.SubscriptionIdPath):
        """Provision again when the latest instance ended in ERROR or TERMINATED."""
        sub, latest, previous, result = subs.retry_provisioning(current_api_user(), path.subscriptionId)
        db.session.commit()
        instance = result if hasattr(result, "status") and hasattr(result, "name") else latest
        db.session.refresh(instance)
        return ok("Provisioning retry initiated successfully", {
            "subscription": {"id": sub.id, "status": sub.status.value, "service": p.service_ref(sub.service),
                             "plan": p.plan_ref(sub.plan)},
            "instance": {"id": instance.id, "name": instance.name, "status": instance.status.value,
                         "previousStatus": previous},
            "message": "Provisioning retry initiated", "estimatedTime": "2-5 minutes",
            "nextSteps": ["A new deployment of your service is being created",
                          "Provisioning usually takes 2-5 minutes",
                          "Check the subscription details for progress",
                          "Contact support if the problem persists"]})

    # ------------------------------------------------------------------- U9-U11 instance actions
    def _instance_action(action: str, subscription_id: str, message: str):
        sub, instance, result = subs.instance_action(current_api_user(), subscription_id, action)
        db.session.commit()
        return ok(message, _action_payload(action, sub, instance, result))

    @bp.post("/subscriptions/<subscriptionId>/restart")
    @user_required
    @validate(path=s.SubscriptionIdPath)
    def subscriptions_restart(path: s.SubscriptionIdPath):
        """Rolling restart of the subscription's running instance."""
        return _instance_action("restart", path.subscriptionId, "Subscription service restarted successfully")

    @bp.put("/subscriptions/<subscriptionId>/stop")
    @user_required
    @validate(path=s.SubscriptionIdPath)
    def subscriptions_stop(path: s.SubscriptionIdPath):
        """Scale the running instance to zero (data kept; billing continues)."""
        return _instance_action("stop", path.subscriptionId, "Subscription service stopped successfully")

    @bp.put("/subscriptions/<subscriptionId>/start")
    @user_required
    @validate(path=s.SubscriptionIdPath)
    def subscriptions_start(path: s.SubscriptionIdPath):
        """Start the stopped instance again."""
        return _instance_action("start", path.subscriptionId, "Subscription service started successfully")

    # ---------------------------------------------------------------------------- U12 auto-renew
    @bp.put("/subscriptions/<subscriptionId>/auto-renew")
    @user_required
    @validate(path=s.SubscriptionIdPath, body=s.AutoRenewBody)
    def subscriptions_auto_renew(path: s.SubscriptionIdPath, body: s.AutoRenewBody):
        """Turn automatic monthly renewal on or off."""
        sub = subs.set_auto_renew(current_api_user(), path.subscriptionId, body.autoRenew)
        db.session.commit()
        word = "enabled" if sub.auto_renew else "disabled"
        return ok(f"Auto-renew {word} successfully", {
            "subscription": {"id": sub.id, "status": sub.status.value, "autoRenew": sub.auto_renew,
                             "endDate": isoformat(sub.end_date), "nextBilling": isoformat(sub.next_billing),
                             "monthlyPrice": sub.monthly_price, "service": p.service_ref(sub.service),
                             "plan": p.plan_ref(sub.plan)},
            "billingInfo": {"autoRenew": sub.auto_renew, "nextBillingDate": isoformat(sub.next_billing),
                            "daysUntilBilling": clock.days_until(sub.end_date), "monthlyPrice": sub.monthly_price,
                            "nextChargeAmount": sub.monthly_price if sub.auto_renew else 0},
            "message": f"Auto-renew has been {word}",
            "nextSteps": (["Your subscription renews automatically at the end of each period",
                           "Keep enough credit in your wallet before the billing date"] if sub.auto_renew else
                          ["Your subscription ends at the end of the current period",
                           "Enable auto-renew again at any time before then"])})

    # ------------------------------------------------------------------------------- U13 cancel
    @bp.delete("/subscriptions/<subscriptionId>")
    @user_required
    @validate(path=s.SubscriptionIdPath, body=s.CancelBody)
    def subscriptions_cancel(path: s.SubscriptionIdPath, body: s.CancelBody):
        """Cancel now: the service stops, the quota slot is freed, nothing is refunded."""
        outcome = subs.cancel_subscription(current_api_user(), path.subscriptionId, reason=body.reason)
        db.session.commit()
        sub = outcome.subscription
        db.session.refresh(sub)
        return ok("Subscription cancelled successfully", {
            "subscription": p.subscription_scalars(sub), "refundAmount": 0, "refundProcessed": False,
            "instancesTerminated": outcome.instances_terminated, "daysRemaining": 0,
            "endDate": isoformat(sub.end_date),
            "message": "Subscription cancelled and service instance termination initiated",
            "nextSteps": ["Your service instance is being terminated", "No refund is issued for the current period",
                          "You can subscribe to the service again at any time"]})
