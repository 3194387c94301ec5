"""Wallet routes (spec-wallet-payments-coupons W1-W8, W12): balance, ledger, top-ups through Midtrans, the webhook.

The coupon routes W9-W11 live in `routes_coupons`. The top-up, status and cancel services end their own
transactions around Midtrans calls (no network call inside a transaction); the other views commit nothing.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, jsonify

from ..billing import wallet
from ..extensions import db
from ..payments import services as payments
from ..payments.midtrans import PaymentProviderUnavailable
from . import presenters_wallet as p
from . import schemas_wallet as s
from .auth import current_api_user, user_required
from .envelope import created, ok
from .validation import json_body, validate


def register(bp: Blueprint) -> None:
    @bp.get("/wallet/info")
    @user_required
    def wallet_info():
        """Balance, totals, this month's spending and the 10 newest ledger rows."""
        return ok("Wallet information retrieved successfully",
                  {"wallet": p.wallet_info(wallet.wallet_info(current_api_user().id))})

    @bp.get("/wallet/transactions")
    @user_required
    @validate(query=s.TransactionListQuery)
    def wallet_transactions(query: s.TransactionListQuery):
        """The caller's ledger, newest first, filtered by type, status and dates."""
        end, exclusive = query.endDate, False
        if isinstance(end, s.DateOnly):
            end, exclusive = end + timedelta(days=1), True
        page = wallet.list_transactions(current_api_user().id, page=query.page, limit=query.limit, type=query.type,
                                        status=query.status, start=query.startDate, end=end, end_exclusive=exclusive)
        return ok("Transaction history retrieved successfully",
                  {"transactions": [p.transaction_with_subscription(r) for r in page.rows],
                   "pagination": p.pagination(page)})

    @bp.post("/wallet/topup")
    @user_required
    @validate(body=s.TopUpBody)
    def wallet_topup(body: s.TopUpBody):
        """Start a Midtrans Snap top-up; the wallet is credited when Midtrans confirms the payment."""
        started = payments.start_top_up(current_api_user().id, body.amount, body.paymentMethod)
        return created("Top-up transaction created successfully", {"transaction": p.top_up(started)})

    @bp.get("/wallet/payment-methods")
    @user_required
    def wallet_payment_methods():
        """The four top-up methods."""
        return ok("Payment methods retrieved successfully", {"paymentMethods": payments.payment_methods()})

    @bp.get("/wallet/transactions/<transactionId>/status")
    @user_required
    @validate(path=s.TransactionIdPath)
    def wallet_transaction_status(path: s.TransactionIdPath):
        """One of the caller's transactions; a pending top-up is checked with Midtrans and settled if paid."""
        result = payments.payment_status(current_api_user().id, path.transactionId)
        return ok("Transaction status retrieved successfully", {"transaction": p.transaction_status(result)})

    @bp.post("/wallet/transactions/<transactionId>/cancel")
    @user_required
    @validate(path=s.TransactionIdPath)
    def wallet_transaction_cancel(path: s.TransactionIdPath):
        """Cancel one of the caller's pending top-ups."""
        payments.cancel_top_up(current_api_user().id, path.transactionId)
        return ok("Transaction cancelled successfully")

    @bp.get("/wallet/statistics")
    @user_required
    @validate(query=s.StatisticsQuery)
    def wallet_statistics(query: s.StatisticsQuery):
        """Totals of the caller's completed transactions, by type and by period."""
        stats = wallet.wallet_statistics(current_api_user().id, query.period)
        return ok("Wallet statistics retrieved successfully", {"statistics": p.statistics(stats)})

    @bp.post("/wallet/check-credit")
    @user_required
    @validate(body=s.CheckCreditBody)
    def wallet_check_credit(body: s.CheckCreditBody):
        """Whether the balance covers an amount, and the shortfall."""
        return ok("Credit check completed", {"creditCheck": wallet.check_credit(current_api_user().id, body.amount)})

    @bp.post("/wallet/webhook/midtrans")
    @validate(body=s.MidtransNotificationBody)
    def wallet_midtrans_webhook(body: s.MidtransNotificationBody):
        """Midtrans HTTP notification (no bearer token: the SHA-512 signature is verified, the status re-fetched)."""
        try:
            result = payments.handle_notification(json_body())
        except PaymentProviderUnavailable as exc:
            db.session.rollback()
            # Non-2xx: Midtrans retries later; nothing was changed.
            return jsonify({"success": False, "message": exc.text}), 503
        return jsonify({"success": result.success, "message": result.message}), 200
