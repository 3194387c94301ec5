"""JSON shapes of the wallet and admin wallet routes (camelCase, field for field as the original, plus the
additive fixes: `customId` everywhere, `direction` on ledger rows, `expiresAt` on top-ups)."""
from __future__ import annotations

from ..billing.wallet import direction
from ..db import isoformat


def _value(enum_or_none):
    return getattr(enum_or_none, "value", enum_or_none)


def transaction_columns(row) -> dict:
    """Every Transaction scalar (W2), plus the derived direction."""
    return {
        "id": row.id, "customId": row.custom_id, "userId": row.user_id, "type": _value(row.type),
        "status": _value(row.status), "amount": row.amount, "balanceBefore": row.balance_before,
        "balanceAfter": row.balance_after, "paymentMethod": row.payment_method,
        "paymentReference": row.payment_reference, "paymentProof": None, "subscriptionId": row.subscription_id,
        "description": row.description, "metadata": row.metadata_, "processedBy": row.processed_by,
        "adminNotes": row.admin_notes, "createdAt": isoformat(row.created_at), "updatedAt": isoformat(row.updated_at),
        "completedAt": isoformat(row.completed_at), "direction": direction(row),
    }


def _subscription_ref(subscription) -> dict | None:
    if subscription is None:
        return None
    return {"id": subscription.id, "service": {"name": subscription.service.name, "slug": subscription.service.slug},
            "plan": {"name": subscription.plan.name, "planType": _value(subscription.plan.plan_type)}}


def transaction_with_subscription(row) -> dict:
    return {**transaction_columns(row), "subscription": _subscription_ref(row.subscription)}


def recent_transaction(row) -> dict:
    return {"id": row.id, "customId": row.custom_id, "type": _value(row.type), "status": _value(row.status),
            "amount": row.amount, "description": row.description, "createdAt": isoformat(row.created_at),
            "completedAt": isoformat(row.completed_at), "direction": direction(row)}


def wallet_info(info: dict) -> dict:
    user = info["user"]
    return {"userId": user.id, "userName": user.name, "email": user.email, "creditBalance": user.credit_balance,
            "totalTopUp": user.total_top_up, "totalSpent": user.total_spent,
            "monthlySpending": info["monthly_spending"], "netBalance": user.total_top_up - user.total_spent,
            "memberSince": isoformat(user.created_at),
            "recentTransactions": [recent_transaction(r) for r in info["recent"]]}


def pagination(page) -> dict:
    return {"currentPage": page.page, "totalPages": page.total_pages, "totalCount": page.total,
            "hasMore": (page.page - 1) * page.limit + page.limit < page.total}


def top_up(started) -> dict:
    row = started.transaction
    return {"transactionId": row.id, "snapToken": started.snap_token, "redirectUrl": started.redirect_url,
            "amount": row.amount, "paymentMethod": (row.payment_method or "").removeprefix("MIDTRANS_"),
            "expiryTime": started.expiry_time, "expiresAt": isoformat(started.expires_at), "customId": row.custom_id}


def transaction_status(result) -> dict:
    row = result.transaction
    data = {"id": row.id, "customId": row.custom_id, "status": _value(row.status), "amount": row.amount,
            "type": _value(row.type), "description": row.description, "createdAt": isoformat(row.created_at),
            "completedAt": isoformat(row.completed_at)}
    status = result.midtrans_status
    if status:
        data["midtransStatus"] = {"transactionId": status.get("transaction_id"),
                                  "status": status.get("transaction_status"),
                                  "fraudStatus": status.get("fraud_status"), "paymentType": status.get("payment_type"),
                                  "transactionTime": status.get("transaction_time"),
                                  "grossAmount": status.get("gross_amount"), "currency": status.get("currency")}
    return data


def statistics(stats: dict) -> dict:
    return {**stats, "recentActivity": [{**a, "completedAt": isoformat(a["completedAt"])}
                                        for a in stats["recentActivity"]]}


# ------------------------------------------------------------------------------------------ admin
def overview(data: dict) -> dict:
    return {"users": [{"id": item["user"].id, "email": item["user"].email, "name": item["user"].name,
                       "creditBalance": item["user"].credit_balance, "totalTopUp": item["user"].total_top_up,
                       "totalSpent": item["user"].total_spent, "activeSubscriptions": item["activeSubscriptions"],
                       "totalTransactions": item["totalTransactions"], "memberSince": isoformat(item["user"].created_at)}
                      for item in data["users"]],
            "pagination": data["pagination"], "summary": data["summary"]}


def user_wallet(data: dict) -> dict:
    user = data["user"]
    recent = []
    for row in data["recent"]:
        sub = row.subscription
        recent.append({"id": row.id, "customId": row.custom_id, "type": _value(row.type), "amount": row.amount,
                       "description": row.description, "status": _value(row.status),
                       "createdAt": isoformat(row.created_at), "direction": direction(row),
                       "subscription": None if sub is None else {"id": sub.id, "serviceName": sub.service.name,
                                                                 "planName": sub.plan.name}})
    return {"user": {"id": user.id, "email": user.email, "name": user.name, "memberSince": isoformat(user.created_at)},
            "balance": {"current": user.credit_balance, "totalTopUp": user.total_top_up,
                        "totalSpent": user.total_spent, "netBalance": user.total_top_up - user.total_spent},
            "recentTransactions": recent,
            "activeSubscriptions": [{"id": s.id, "serviceName": s.service.name, "planName": s.plan.name,
                                     "monthlyPrice": s.plan.monthly_price, "nextBilling": isoformat(s.next_billing)}
                                    for s in data["subscriptions"]]}


def adjustment(result, *, counter: str) -> dict:
    row, user = result.transaction, result.user
    return {"transaction": {"id": row.id, "customId": row.custom_id, "amount": row.amount, "type": _value(row.type),
                            "description": row.description},
            "user": {"id": user.id, "email": user.email, "name": user.name, "previousBalance": result.previous_balance,
                     "newBalance": row.balance_after, counter: getattr(user, "total_top_up" if counter == "totalTopUp"
                                                                       else "total_spent")}}
