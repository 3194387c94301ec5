"""Money and cluster invariants, checked after the fact: `flask check-invariants`, the money soak (bench/soak.py)
and its CI test run the same queries. `check_all()` returns {name: [violation, ...]}; every list empty = healthy.

Ledger sign convention (webapp/billing/ledger.py): `Transaction.amount` is never negative; a row's direction is
`balance_after - balance_before` (credits: TOP_UP, REFUND, COUPON_REDEMPTION, credit ADMIN_ADJUSTMENT; debits:
SUBSCRIPTION, UPGRADE, debit ADMIN_ADJUSTMENT; 0 for free records). Only COMPLETED rows moved money: a PENDING,
FAILED or CANCELLED top-up never did (its before/after are the balance when it was opened).

The checks read committed state. Run them on a quiet system (or accept transient reports): an instance whose
termination job has not run yet shows up as orphaned Kubernetes objects until it has.

 1 wallet_balance_equals_ledger   users.credit_balance == Σ(after - before) of COMPLETED rows == the newest row's
                                  balance_after; every COMPLETED row moved exactly its amount
 1b ledger_chain                  per user, in completion order, each row starts where the previous one ended
 2 no_negative_balance            no wallet and no ledger row below 0
 3 no_duplicate_period_charge     one renewal charge per (subscription, period): no repeated or overlapping periods
 4 quota_matches_live             plans.used_quota == live subscriptions of the plan (<= total_quota)
 5 no_orphaned_k8s_objects        managed Deployments/Services/Ingresses/Secrets/PVCs in user namespaces belong to a
                                  non-terminated instance; every RUNNING instance has its objects (needs a cluster)
 6 top_ups_credited_once          COMPLETED top-ups were credited once, by a settled Midtrans status; with
                                  `provider_statuses` (order id -> Midtrans status) settled <=> COMPLETED
 7 coupon_redemptions_within_limit redemptions <= max uses (and per user), used_count in step, each redemption has
                                  its ledger row
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

from sqlalchemy import func, select

from ..accounts.models import User
from ..billing.coupon_models import CREDIT_TYPES, Coupon, CouponRedemption
from ..billing.models import Transaction, TransactionStatus, TransactionType
from ..catalog.models import Service, ServicePlan
from ..extensions import db
from ..subscriptions.models import LIVE_STATUSES, Subscription

COMPLETED = TransactionStatus.COMPLETED
SETTLED_PROVIDER_STATUSES = ("settlement", "capture")
CHECKS = ("wallet_balance_equals_ledger", "ledger_chain", "no_negative_balance", "no_duplicate_period_charge",
          "quota_matches_live", "no_orphaned_k8s_objects", "top_ups_credited_once",
          "coupon_redemptions_within_limit")


def _delta():
    return Transaction.balance_after - Transaction.balance_before


# ------------------------------------------------------------------------------------------------ 1, 1b, 2
def wallet_balance_equals_ledger() -> list[dict]:
    out = []
    sums = dict(db.session.execute(select(Transaction.user_id, func.sum(_delta()))
                                   .where(Transaction.status == COMPLETED).group_by(Transaction.user_id)).all())
    newest = select(Transaction.user_id, Transaction.balance_after, func.row_number().over(
        partition_by=Transaction.user_id,
        order_by=(Transaction.completed_at.desc(), Transaction.id.desc())).label("n")
    ).where(Transaction.status == COMPLETED).subquery()
    last = dict(db.session.execute(select(newest.c.user_id, newest.c.balance_after).where(newest.c.n == 1)).all())
    for user_id, balance in db.session.execute(select(User.id, User.credit_balance)).all():
        ledger = int(sums.get(user_id) or 0)
        if ledger != balance:
            out.append({"user": user_id, "balance": balance, "ledger_sum": ledger})
        if user_id in last and last[user_id] != balance:
            out.append({"user": user_id, "balance": balance, "last_balance_after": last[user_id]})
        elif user_id not in last and balance != 0:
            out.append({"user": user_id, "balance": balance, "last_balance_after": None})
    for row in db.session.execute(select(Transaction.custom_id, Transaction.user_id, Transaction.amount, _delta())
                                  .where(Transaction.status == COMPLETED,
                                         func.abs(_delta()) != Transaction.amount)).all():
        out.append({"transaction": row[0], "user": row[1], "amount": row[2], "moved": row[3]})
    return out


def ledger_chain() -> list[dict]:
    ordered = select(Transaction.custom_id, Transaction.user_id, Transaction.balance_before, func.lag(
        Transaction.balance_after).over(partition_by=Transaction.user_id,
                                        order_by=(Transaction.completed_at, Transaction.id)).label("previous")
    ).where(Transaction.status == COMPLETED).subquery()
    rows = db.session.execute(select(ordered).where(ordered.c.previous.is_not(None),
                                                    ordered.c.previous != ordered.c.balance_before)).all()
    return [{"transaction": r.custom_id, "user": r.user_id, "balance_before": r.balance_before,
             "previous_balance_after": r.previous} for r in rows]


def no_negative_balance() -> list[dict]:
    out = [{"user": uid, "balance": balance} for uid, balance in db.session.execute(
        select(User.id, User.credit_balance).where(User.credit_balance < 0)).all()]
    out += [{"transaction": cid, "balance_before": before, "balance_after": after}
            for cid, before, after in db.session.execute(
                select(Transaction.custom_id, Transaction.balance_before, Transaction.balance_after)
                .where(Transaction.status == COMPLETED,
                       (Transaction.balance_after < 0) | (Transaction.balance_before < 0))).all()]
    return out


# ------------------------------------------------------------------------------------------------ 3
def no_duplicate_period_charge() -> list[dict]:
    """Renewal charges carry the key `renewal:<subscription>:<period end>` and their period in the metadata; a
    second charge for a period (same start, or an overlapping one from a differently keyed charge) is a double
    charge. Creation and reactivation charges are keyed once per subscription/reactivation (unique index)."""
    rows = db.session.execute(
        select(Transaction.custom_id, Transaction.subscription_id, Transaction.idempotency_key, Transaction.metadata_)
        .where(Transaction.status == COMPLETED, Transaction.type == TransactionType.SUBSCRIPTION,
               Transaction.subscription_id.is_not(None), Transaction.idempotency_key.like("renewal:%"))).all()
    periods: dict[str, list] = defaultdict(list)
    for custom_id, subscription_id, key, meta in rows:
        meta = meta or {}
        start = meta.get("periodStart") or key.rsplit(":", 1)[-1]
        periods[subscription_id].append((str(start), str(meta.get("periodEnd") or ""), custom_id))
    out = []
    for subscription_id, charges in periods.items():
        charges.sort()
        for (start_a, end_a, id_a), (start_b, _end_b, id_b) in zip(charges, charges[1:]):
            if start_a == start_b or (end_a and start_b < end_a):
                out.append({"subscription": subscription_id, "charges": [id_a, id_b], "period": start_b})
    return out


# ------------------------------------------------------------------------------------------------ 4
def quota_matches_live() -> list[dict]:
    live = dict(db.session.execute(select(Subscription.plan_id, func.count())
                                   .where(Subscription.status.in_(LIVE_STATUSES))
                                   .group_by(Subscription.plan_id)).all())
    out = []
    for plan_id, name, used, total in db.session.execute(
            select(ServicePlan.id, ServicePlan.name, ServicePlan.used_quota, ServicePlan.total_quota)).all():
        count = int(live.get(plan_id, 0))
        if used != count or used > total or used < 0:
            out.append({"plan": plan_id, "name": name, "used_quota": used, "live_subscriptions": count,
                        "total_quota": total})
    return out


# ------------------------------------------------------------------------------------------------ 5
def no_orphaned_k8s_objects(kube=None) -> list[dict]:
    """Objects are read with the app's Kubernetes client (one list per kind, cluster-wide); objects being deleted
    (deletionTimestamp) are ignored."""
    from ..cluster import manifests as m
    from ..cluster.client import get_kube
    from ..cluster.models import InstanceStatus, ServiceInstance

    kube = kube or get_kube()
    namespaces = {item["metadata"]["name"] for item in kube.raw(
        kube.core.list_namespace, label_selector="minispod.com/type=user-namespace").get("items") or []}
    kinds = {"Deployment": kube.apps.list_deployment_for_all_namespaces,
             "Service": kube.core.list_service_for_all_namespaces,
             "Ingress": kube.net.list_ingress_for_all_namespaces,
             "Secret": kube.core.list_secret_for_all_namespaces,
             "PersistentVolumeClaim": kube.core.list_persistent_volume_claim_for_all_namespaces}
    present: dict[str, set[str]] = defaultdict(set)
    out = []
    loose = []
    for kind, method in kinds.items():
        for item in kube.raw(method).get("items") or []:
            meta = item["metadata"]
            if meta.get("namespace") not in namespaces or meta.get("deletionTimestamp"):
                continue
            if kind == "Secret" and item.get("type", "Opaque") != "Opaque":
                continue  # service-account tokens and the like are the cluster's, not ours
            instance_id = (meta.get("labels") or {}).get("instance")
            if instance_id is None:
                loose.append({"kind": kind, "namespace": meta["namespace"], "name": meta["name"],
                              "problem": "no instance label"})
                continue
            present[instance_id].add(kind)
            present[f"{instance_id}/names"].add(f"{kind}/{meta['namespace']}/{meta['name']}")
    instance_ids = [k for k in present if "/" not in k]
    rows = {}
    if instance_ids:
        rows = {r.id: r for r in db.session.execute(
            select(ServiceInstance.id, ServiceInstance.status, ServiceInstance.last_started)
            .where(ServiceInstance.id.in_(instance_ids))).all()}
    for instance_id in instance_ids:
        row = rows.get(instance_id)
        problem = None
        if row is None:
            problem = "no such instance"
        elif row.status is InstanceStatus.TERMINATED:
            problem = "instance is TERMINATED"
        elif row.status is InstanceStatus.ERROR and row.last_started is None:
            problem = "provisioning failed (ERROR, never ran)"
        if problem:
            out.append({"instance": instance_id, "problem": problem,
                        "objects": sorted(present[f"{instance_id}/names"])})
    out += loose
    running = db.session.execute(
        select(ServiceInstance.id, Service.slug, ServicePlan.storage_gb)
        .join(Subscription, Subscription.id == ServiceInstance.subscription_id)
        .join(Service, Service.id == Subscription.service_id)
        .join(ServicePlan, ServicePlan.id == Subscription.plan_id)
        .where(ServiceInstance.status == InstanceStatus.RUNNING)).all()
    for instance_id, slug, storage_gb in running:
        wanted = {"Deployment", "Service", "Ingress"}
        if m.template_for(slug).generated:
            wanted.add("Secret")
        if m.storage_quantity(storage_gb):
            wanted.add("PersistentVolumeClaim")
        missing = wanted - present.get(instance_id, set())
        if missing:
            out.append({"instance": instance_id, "problem": "RUNNING without its objects", "missing": sorted(missing)})
    db.session.commit()  # end the read transaction
    return out


# ------------------------------------------------------------------------------------------------ 6
def top_ups_credited_once(provider_statuses: dict[str, str] | None = None) -> list[dict]:
    """`provider_statuses`: order id (the top-up's id) -> Midtrans `transaction_status` (with fraud_status
    "accept" assumed for capture); when given, a top-up is COMPLETED exactly when Midtrans says it was paid."""
    out = []
    rows = db.session.execute(
        select(Transaction.id, Transaction.custom_id, Transaction.status, Transaction.amount,
               Transaction.balance_before, Transaction.balance_after, Transaction.metadata_,
               Transaction.payment_method, Transaction.idempotency_key)
        .where(Transaction.type == TransactionType.TOP_UP)).all()
    provider_ids: dict[str, str] = {}
    for row in rows:
        meta = row.metadata_ or {}
        midtrans = (row.payment_method or "").startswith("MIDTRANS_")
        moved = row.balance_after - row.balance_before
        if row.status is COMPLETED:
            if moved != row.amount:
                out.append({"transaction": row.custom_id, "problem": "credited amount differs", "amount": row.amount,
                            "moved": moved})
            if midtrans and meta.get("midtrans_status") not in SETTLED_PROVIDER_STATUSES:
                out.append({"transaction": row.custom_id, "problem": "credited without a settled Midtrans status",
                            "midtrans_status": meta.get("midtrans_status")})
            provider_id = meta.get("midtrans_transaction_id")
            if midtrans and provider_id:
                if provider_id in provider_ids:
                    out.append({"transaction": row.custom_id, "problem": "one Midtrans payment credited twice",
                                "other": provider_ids[provider_id]})
                provider_ids[provider_id] = row.custom_id
        elif moved != 0:
            out.append({"transaction": row.custom_id, "problem": f"{row.status.value} top-up moved money",
                        "moved": moved})
        if provider_statuses is not None and midtrans:
            paid = provider_statuses.get(row.id) in SETTLED_PROVIDER_STATUSES
            if paid and row.status is not COMPLETED:
                out.append({"transaction": row.custom_id, "problem": "paid at Midtrans, not credited",
                            "status": row.status.value})
            elif not paid and row.status is COMPLETED:
                out.append({"transaction": row.custom_id, "problem": "credited, not paid at Midtrans",
                            "midtrans": provider_statuses.get(row.id)})
    return out


# ------------------------------------------------------------------------------------------------ 7
def coupon_redemptions_within_limit() -> list[dict]:
    out = []
    counts = dict(db.session.execute(select(CouponRedemption.coupon_id, func.count())
                                     .group_by(CouponRedemption.coupon_id)).all())
    for coupon_id, code, max_uses, used in db.session.execute(
            select(Coupon.id, Coupon.code, Coupon.max_uses, Coupon.used_count)).all():
        count = int(counts.get(coupon_id, 0))
        if count > max_uses or used != count:
            out.append({"coupon": code, "redemptions": count, "max_uses": max_uses, "used_count": used})
    for code, user_id, count, per_user in db.session.execute(
            select(Coupon.code, CouponRedemption.user_id, func.count(), Coupon.max_uses_per_user)
            .join(Coupon, Coupon.id == CouponRedemption.coupon_id)
            .group_by(Coupon.code, CouponRedemption.user_id, Coupon.max_uses_per_user)
            .having(func.count() > Coupon.max_uses_per_user)).all():
        out.append({"coupon": code, "user": user_id, "redemptions": count, "max_uses_per_user": per_user})
    ledger = Transaction.__table__.alias("ledger_row")
    for r in db.session.execute(
            select(CouponRedemption.id, CouponRedemption.user_id, CouponRedemption.credit_amount,
                   CouponRedemption.redemption_type, ledger.c.id.label("tx"), ledger.c.type, ledger.c.status,
                   ledger.c.amount, ledger.c.user_id.label("tx_user"))
            .outerjoin(ledger, ledger.c.id == CouponRedemption.transaction_id)
            .where(CouponRedemption.redemption_type.in_(CREDIT_TYPES))).all():
        # str enums: the alias's columns compare equal to the enum members and to their values alike
        if (r.tx is None or r.type != TransactionType.COUPON_REDEMPTION or r.status != COMPLETED
                or r.amount != r.credit_amount or r.tx_user != r.user_id):
            out.append({"redemption": r.id, "problem": "credit redemption without its ledger row",
                        "transaction": r.tx, "amount": r.amount, "credit_amount": r.credit_amount})
    charged = select(Transaction.id).where(Transaction.subscription_id == CouponRedemption.subscription_id,
                                           Transaction.type == TransactionType.SUBSCRIPTION,
                                           Transaction.status == COMPLETED).exists()
    for redemption_id, subscription_id in db.session.execute(
            select(CouponRedemption.id, CouponRedemption.subscription_id)
            .where(CouponRedemption.redemption_type.not_in(CREDIT_TYPES),
                   (CouponRedemption.subscription_id.is_(None)) | ~charged)).all():
        out.append({"redemption": redemption_id, "problem": "checkout redemption without its subscription charge",
                    "subscription": subscription_id})
    return out


# ------------------------------------------------------------------------------------------------ all
def check_all(*, cluster: bool = True, provider_statuses: dict[str, str] | None = None, kube=None
              ) -> dict[str, list[dict] | None]:
    """Run every check; a check that cannot run (no cluster configured) maps to None ("skipped")."""
    checks: dict[str, Callable[[], list[dict]]] = {
        "wallet_balance_equals_ledger": wallet_balance_equals_ledger,
        "ledger_chain": ledger_chain,
        "no_negative_balance": no_negative_balance,
        "no_duplicate_period_charge": no_duplicate_period_charge,
        "quota_matches_live": quota_matches_live,
        "no_orphaned_k8s_objects": lambda: no_orphaned_k8s_objects(kube),
        "top_ups_credited_once": lambda: top_ups_credited_once(provider_statuses),
        "coupon_redemptions_within_limit": coupon_redemptions_within_limit,
    }
    results: dict[str, list[dict] | None] = {}
    for name, check in checks.items():
        if name == "no_orphaned_k8s_objects" and not cluster:
            results[name] = None
            continue
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - report which check could not run, run the others
            from ..cluster.client import ClusterUnavailable

            db.session.rollback()
            if isinstance(exc, ClusterUnavailable):
                results[name] = None
            else:
                raise
    db.session.rollback()  # read-only
    return results


def violation_count(results: dict[str, list[dict] | None]) -> int:
    return sum(len(v) for v in results.values() if v)


def format_table(results: dict[str, list[dict] | None], *, examples: int = 3) -> str:
    lines = [f"{'invariant':<34} violations"]
    for name, violations in results.items():
        shown = "skipped" if violations is None else str(len(violations))
        lines.append(f"{name:<34} {shown}")
        for v in (violations or [])[:examples]:
            lines.append(f"    {v}")
    return "\n".join(lines)


__all__ = ["check_all", "violation_count", "format_table", "CHECKS", *CHECKS]
