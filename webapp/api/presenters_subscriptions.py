"""JSON shapes of subscriptions, their instances and charges (camelCase, field for field as the original).

Customer shapes leave out the service's `envTemplate` and `dockerImage` (as the catalog does, its fix 20:
templates held default credentials); admin shapes carry them.
"""
from __future__ import annotations

from .. import clock
from ..db import isoformat
from .presenters import number


def subscription_scalars(sub) -> dict:
    return {
        "id": sub.id, "userId": sub.user_id, "serviceId": sub.service_id, "planId": sub.plan_id,
        "status": sub.status.value, "startDate": isoformat(sub.start_date), "endDate": isoformat(sub.end_date),
        "lastBilled": isoformat(sub.last_billed), "nextBilling": isoformat(sub.next_billing),
        "monthlyPrice": sub.monthly_price, "lastChargeAmount": sub.last_charge_amount,
        "failedCharges": sub.failed_charges, "previousPlanId": sub.previous_plan_id,
        "upgradeDate": isoformat(sub.upgrade_date), "downgradeTo": None, "autoRenew": sub.auto_renew,
        "gracePeriodEnd": isoformat(sub.grace_period_end), "cancelledAt": isoformat(sub.cancelled_at),
        "createdAt": isoformat(sub.created_at), "updatedAt": isoformat(sub.updated_at),
    }


_SERVICE_FIELDS = {
    "id": lambda s: s.id, "name": lambda s: s.name, "slug": lambda s: s.slug, "icon": lambda s: s.icon,
    "version": lambda s: s.version, "description": lambda s: s.description,
    "dockerImage": lambda s: s.docker_image, "defaultPort": lambda s: s.default_port,
    "envTemplate": lambda s: s.env_template, "documentation": lambda s: s.documentation,
}

_PLAN_FIELDS = {
    "id": lambda p: p.id, "name": lambda p: p.name, "planType": lambda p: p.plan_type.value,
    "description": lambda p: p.description, "monthlyPrice": lambda p: p.monthly_price,
    "cpuMilli": lambda p: p.cpu_milli, "memoryMb": lambda p: p.memory_mb, "storageGb": lambda p: number(p.storage_gb),
    "bandwidth": lambda p: p.bandwidth, "features": lambda p: p.features,
    "maxInstancesPerUser": lambda p: p.max_instances_per_user, "maxDomains": lambda p: p.max_domains,
}

SERVICE_LIST = ("id", "name", "slug", "icon", "version")
SERVICE_REF = ("id", "name", "slug")
SERVICE_DETAIL = ("id", "name", "slug", "description", "icon", "version", "documentation")
SERVICE_CREATED = ("id", "name", "slug", "defaultPort")
SERVICE_CREATED_ADMIN = ("id", "name", "slug", "dockerImage", "defaultPort", "envTemplate")
PLAN_LIST = ("id", "name", "planType", "monthlyPrice", "cpuMilli", "memoryMb", "storageGb", "features")
PLAN_REF = ("id", "name", "planType", "monthlyPrice")
PLAN_DETAIL = ("id", "name", "planType", "description", "monthlyPrice", "cpuMilli", "memoryMb", "storageGb",
               "bandwidth", "features", "maxInstancesPerUser", "maxDomains")


def service_ref(service, fields=SERVICE_REF) -> dict:
    return {name: _SERVICE_FIELDS[name](service) for name in fields}


def plan_ref(plan, fields=PLAN_REF) -> dict:
    return {name: _PLAN_FIELDS[name](plan) for name in fields}


def instance_row(instance) -> dict:
    return {"id": instance.id, "name": instance.name, "subdomain": instance.subdomain,
            "status": instance.status.value, "healthStatus": instance.health_status, "publicUrl": instance.public_url,
            "adminUrl": instance.admin_url, "customDomain": instance.custom_domain, "sslEnabled": instance.ssl_enabled,
            "cpuUsage": number(instance.cpu_usage), "memoryUsage": number(instance.memory_usage),
            "storageUsage": number(instance.storage_usage), "createdAt": isoformat(instance.created_at),
            "lastStarted": isoformat(instance.last_started), "lastHealthCheck": isoformat(instance.last_health_check)}


def instance_detail(instance) -> dict:
    return {**instance_row(instance), "podName": instance.pod_name, "namespace": instance.namespace}


def instance_brief(instance) -> dict:
    return {"id": instance.id, "name": instance.name, "status": instance.status.value}


def user_ref(user) -> dict:
    return {"id": user.id, "name": user.name, "email": user.email}


def list_item(sub, instances, *, include_instances: bool = True) -> dict:
    """U1 rows: scalars + service + plan (+ instances) + _count."""
    out = {**subscription_scalars(sub), "service": service_ref(sub.service, SERVICE_LIST),
           "plan": plan_ref(sub.plan, PLAN_LIST)}
    if include_instances:
        out["instances"] = [instance_row(i) for i in instances]
    out["_count"] = {"instances": len(instances)}
    return out


def admin_list_item(sub, instances) -> dict:
    return {**subscription_scalars(sub), "user": user_ref(sub.user),
            "service": service_ref(sub.service, ("id", "name", "slug", "icon")), "plan": plan_ref(sub.plan),
            "instances": [instance_row(i) for i in instances], "_count": {"instances": len(instances)}}


def transaction_brief(tx) -> dict:
    return {"id": tx.id, "customId": tx.custom_id, "type": tx.type.value, "amount": tx.amount,
            "description": tx.description, "createdAt": isoformat(tx.created_at),
            "completedAt": isoformat(tx.completed_at)}


def detail(sub, instances, transactions) -> dict:
    """U4."""
    return {**subscription_scalars(sub), "service": service_ref(sub.service, SERVICE_DETAIL),
            "plan": plan_ref(sub.plan, PLAN_DETAIL), "instances": [instance_detail(i) for i in instances],
            "transactions": [transaction_brief(t) for t in transactions],
            "billingInfo": {"nextBillingDate": isoformat(sub.next_billing),
                            "daysUntilBilling": clock.days_until(sub.next_billing),
                            "monthlyPrice": sub.monthly_price, "autoRenew": sub.auto_renew,
                            "gracePeriodEnd": isoformat(sub.grace_period_end)}}


def with_refs(sub, *, service_fields=SERVICE_REF, plan_fields=PLAN_REF) -> dict:
    return {**subscription_scalars(sub), "service": service_ref(sub.service, service_fields),
            "plan": plan_ref(sub.plan, plan_fields)}


def context(sub) -> dict:
    """The `subscription{id, service, plan, status}` block of the instance actions."""
    return {"id": sub.id, "service": service_ref(sub.service), "plan": plan_ref(sub.plan), "status": sub.status.value}


def resources(plan) -> dict:
    return {"cpuMilli": plan.cpu_milli, "memoryMb": plan.memory_mb, "storageGb": number(plan.storage_gb)}


def new_resources(plan) -> dict:
    return {"cpu": f"{plan.cpu_milli}m", "memory": f"{plan.memory_mb}Mi", "storage": f"{number(plan.storage_gb)}Gi"}
