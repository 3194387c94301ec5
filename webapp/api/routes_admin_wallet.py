"""Admin wallet routes (spec-wallet-payments-coupons A1-A6), administrators only.

A4-A6 accept an optional `Idempotency-Key` header (fix 20): repeating a request with the same key changes
nothing and answers with the first result.
"""
from __future__ import annotations

from flask import Blueprint, request

from ..billing import wallet
from ..extensions import db
from . import presenters_wallet as p
from . import schemas_wallet as s
from .auth import admin_required, current_api_user
from .envelope import ok
from .validation import validate


def _idempotency_key() -> str | None:
    return request.headers.get("Idempotency-Key")


def register(bp: Blueprint) -> None:
    @bp.get("/admin/wallets/statistics")
    @admin_required
    def admin_wallet_statistics():
        """Users by balance, ledger counts by type, balance/top-up/spending totals."""
        return ok("Wallet statistics retrieved successfully", {"statistics": wallet.admin_statistics()})

    @bp.get("/admin/wallets/overview")
    @admin_required
    @validate(query=s.OverviewQuery)
    def admin_wallet_overview(query: s.OverviewQuery):
        """Wallets of all users: search, balance range, sorting, pagination and an all-users summary."""
        data = wallet.admin_overview(page=query.page, limit=query.limit, search=query.search, sort_by=query.sortBy,
                                     sort_order=query.sortOrder, min_balance=query.minBalance,
                                     max_balance=query.maxBalance)
        return ok("Wallet overview retrieved successfully", {"walletOverview": p.overview(data)})

    @bp.get("/admin/wallets/users/<userId>")
    @admin_required
    @validate(path=s.UserIdPath)
    def admin_wallet_user(path: s.UserIdPath):
        """One user's balance, 20 newest ledger rows and active subscriptions."""
        return ok("User wallet details retrieved successfully",
                  {"walletDetails": p.user_wallet(wallet.admin_user_wallet(path.userId))})

    @bp.post("/admin/wallets/users/<userId>/add-credit")
    @admin_required
    @validate(path=s.UserIdPath, body=s.AddCreditBody)
    def admin_wallet_add_credit(path: s.UserIdPath, body: s.AddCreditBody):
        """Credit a wallet (ledger row ADMIN_ADJUSTMENT, reason and admin recorded, audited)."""
        result = wallet.adjust_balance(current_api_user(), path.userId, amount=body.amount, kind=wallet.ADD,
                                       reason=body.reason, description=body.description,
                                       idempotency_key=_idempotency_key())
        db.session.commit()
        return ok("Credit added to user wallet successfully", p.adjustment(result, counter="totalTopUp"))

    @bp.post("/admin/wallets/users/<userId>/deduct-credit")
    @admin_required
    @validate(path=s.UserIdPath, body=s.DeductCreditBody)
    def admin_wallet_deduct_credit(path: s.UserIdPath, body: s.DeductCreditBody):
        """Debit a wallet; never below zero."""
        result = wallet.adjust_balance(current_api_user(), path.userId, amount=body.amount, kind=wallet.DEDUCT,
                                       reason=body.reason, description=body.description,
                                       allow_negative=body.allowNegative, idempotency_key=_idempotency_key())
        db.session.commit()
        return ok("Credit deducted from user wallet successfully", p.adjustment(result, counter="totalSpent"))

    @bp.post("/admin/wallets/bulk-adjustment")
    @admin_required
    @validate(body=s.BulkAdjustmentBody)
    def admin_wallet_bulk_adjustment(body: s.BulkAdjustmentBody):
        """Several credits/debits in one transaction: all applied or none."""
        items = [wallet.BulkItem(user_id=i.userId, kind=i.type, amount=i.amount, allow_negative=i.allowNegative)
                 for i in body.adjustments]
        results = wallet.bulk_adjust(current_api_user(), items, reason=body.reason, description=body.description,
                                     idempotency_key=_idempotency_key())
        db.session.commit()
        return ok("Bulk credit adjustment completed", {
            "results": [{"userId": r.user.id, "success": True, "transactionId": r.transaction.id,
                         "customId": r.transaction.custom_id} for r in results],
            "summary": {"total": len(results), "successful": len(results), "failed": 0}})
