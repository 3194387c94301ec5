"""JSON shapes of service instances (camelCase, field for field as the original's Prisma rows).

Decimal columns (cpuUsage, memoryUsage, storageUsage) stay JSON strings, as Prisma serialised them. `envVars` never
holds a secret (credentials live in the instance's Kubernetes Secret); references to it render as "[secret]".
"""
from __future__ import annotations

from decimal import Decimal

from ..cluster.manifests import is_secret_ref
from ..db import isoformat
from .presenters import number

SECRET_PLACEHOLDER = "[secret]"


def decimal_string(value) -> str | None:
    if value is None:
        return None
    value = Decimal(value)
    text = format(value.normalize(), "f")
    return text


def env_vars(values: dict | None) -> dict | None:
    if values is None:
        return None
    return {k: (SECRET_PLACEHOLDER if is_secret_ref(v) else v) for k, v in values.items()}


def instance_row(instance) -> dict:
    return {
        "id": instance.id, "subscriptionId": instance.subscription_id, "name": instance.name,
        "subdomain": instance.subdomain, "namespace": instance.namespace, "podName": instance.pod_name,
        "serviceName": instance.service_name, "ingressName": instance.ingress_name,
        "deploymentName": instance.deployment_name, "status": instance.status.value,
        "healthStatus": instance.health_status, "lastHealthCheck": isoformat(instance.last_health_check),
        "envVars": env_vars(instance.env_vars), "customDomain": instance.custom_domain,
        "sslEnabled": bool(instance.ssl_enabled), "cpuUsage": decimal_string(instance.cpu_usage),
        "memoryUsage": decimal_string(instance.memory_usage), "storageUsage": decimal_string(instance.storage_usage),
        "publicUrl": instance.public_url, "adminUrl": instance.admin_url,
        "createdAt": isoformat(instance.created_at), "updatedAt": isoformat(instance.updated_at),
        "lastStarted": isoformat(instance.last_started), "lastStopped": isoformat(instance.last_stopped),
    }


def subscription_scalars(sub) -> dict:
    return {
        "id": sub.id, "userId": sub.user_id, "serviceId": sub.service_id, "planId": sub.plan_id,
        "status": sub.status.value, "startDate": isoformat(sub.start_date), "endDate": isoformat(sub.end_date),
        "lastBilled": isoformat(sub.last_billed), "nextBilling": isoformat(sub.next_billing),
        "monthlyPrice": sub.monthly_price, "lastChargeAmount": sub.last_charge_amount,
        "failedCharges": sub.failed_charges, "previousPlanId": sub.previous_plan_id,
        "upgradeDate": isoformat(sub.upgrade_date), "autoRenew": sub.auto_renew,
        "gracePeriodEnd": isoformat(sub.grace_period_end), "createdAt": isoformat(sub.created_at),
        "updatedAt": isoformat(sub.updated_at),
    }


def instance_in_list(instance) -> dict:
    sub = instance.subscription
    service, plan = sub.service, sub.plan
    return {**instance_row(instance), "subscription": {
        **subscription_scalars(sub),
        "service": {"id": service.id, "name": service.name, "slug": service.slug, "icon": service.icon},
        "plan": {"id": plan.id, "name": plan.name, "planType": plan.plan_type.value, "cpuMilli": plan.cpu_milli,
                 "memoryMb": plan.memory_mb, "storageGb": number(plan.storage_gb)}}}


def instance_detail(instance) -> dict:
    sub = instance.subscription
    service, plan, user = sub.service, sub.plan, sub.user
    return {**instance_row(instance), "subscription": {
        **subscription_scalars(sub), "service": {"name": service.name, "slug": service.slug},
        "plan": {"name": plan.name, "planType": plan.plan_type.value},
        "user": {"id": user.id, "name": user.name, "email": user.email}}}


def instance_brief(instance) -> dict:
    """The `instance` of the lifecycle responses (I7-I9, U9-U11)."""
    sub = instance.subscription
    return {"id": instance.id, "name": instance.name, "status": instance.status.value,
            "service": {"name": sub.service.name, "slug": sub.service.slug},
            "plan": {"name": sub.plan.name, "planType": sub.plan.plan_type.value}}


def urls(instance) -> dict:
    return {"public": instance.public_url, "admin": instance.admin_url, "custom": instance.custom_domain}


def ssl(instance) -> dict:
    return {"enabled": bool(instance.ssl_enabled), "status": "Active" if instance.ssl_enabled else "Disabled"}
