"""Coupon routes: the wallet's W9-W11 (customers) and the admin coupon routes C1-C7.

Views parse input, call one `billing.coupons` function, commit, and render. Admin writes are audited by the
service in the same transaction.
"""
from __future__ import annotations

from flask import Blueprint

from ..billing import coupons
from ..extensions import db
from . import presenters_coupons as p
from . import schemas_coupons as s
from .auth import admin_required, current_api_user, user_required
from .envelope import created, ok
from .validation import validate


def register(bp: Blueprint) -> None:
    # ------------------------------------------------------------------------------------ wallet (W9-W11)
    @bp.post("/wallet/validate-coupon")
    @user_required
    @validate(body=s.ValidateCouponBody)
    def wallet_validate_coupon(body: s.ValidateCouponBody):
        """Check a coupon code for the caller without using it (always 200 when it runs)."""
        check = coupons.validate_coupon(body.couponCode, user=current_api_user(), service_id=body.serviceId,
                                        subscription_amount=body.subscriptionAmount, context=body.context)
        return ok("Coupon is valid" if check.valid else "Coupon validation failed",
                  {"validation": p.validation_result(check)})

    @bp.post("/wallet/redeem-coupon")
    @user_required
    @validate(body=s.RedeemCouponBody)
    def wallet_redeem_coupon(body: s.RedeemCouponBody):
        """Credit a CREDIT_TOPUP / WELCOME_BONUS coupon to the caller's wallet (once per user)."""
        redemption = coupons.redeem_credit_coupon(body.couponCode, user=current_api_user())
        data = {"redemption": p.redemption_result(redemption, redemption.coupon)}
        db.session.commit()
        return ok("Coupon redeemed successfully", data)

    @bp.get("/wallet/coupon-history")
    @user_required
    @validate(query=s.CouponHistoryQuery)
    def wallet_coupon_history(query: s.CouponHistoryQuery):
        """The caller's coupon redemptions, newest first."""
        rows, total = coupons.redemption_history(current_api_user(), page=query.page, limit=query.limit,
                                                 type=query.type)
        return ok("Coupon history retrieved successfully",
                  {"redemptions": [p.history_row(r) for r in rows],
                   "pagination": p.pagination(query.page, query.limit, total)})

    # ------------------------------------------------------------------------------------- admin (C1-C7)
    # Static paths (statistics, bulk-status) are matched before /<couponId> by Werkzeug, as in the original.
    @bp.post("/admin/coupons")
    @admin_required
    @validate(body=s.CouponCreateBody)
    def admin_coupon_create(body: s.CouponCreateBody):
        """Create a coupon (code stored upper-case)."""
        coupon = coupons.create_coupon(actor=current_api_user(), data=body.values())
        data = {"coupon": p.coupon_with_service(coupon)}
        db.session.commit()
        return created("Coupon created successfully", data)

    @bp.get("/admin/coupons")
    @admin_required
    @validate(query=s.CouponListQuery)
    def admin_coupon_list(query: s.CouponListQuery):
        """Coupons, newest first, filtered by status, type, service or code/name text."""
        rows, total, counts = coupons.list_coupons(page=query.page, limit=query.limit, status=query.status,
                                                   type=query.type, service_id=query.serviceId, search=query.search)
        return ok("Coupons retrieved successfully", {"coupons": [p.coupon_list_row(c, counts) for c in rows],
                                                     "pagination": p.pagination(query.page, query.limit, total)})

    @bp.get("/admin/coupons/statistics")
    @admin_required
    @validate(query=s.CouponStatisticsQuery)
    def admin_coupon_statistics(query: s.CouponStatisticsQuery):
        """Coupon counts by status, redemptions overall and in the period, top coupons."""
        return ok("Coupon statistics retrieved successfully",
                  {"statistics": p.statistics(coupons.coupon_statistics(query.period))})

    @bp.put("/admin/coupons/bulk-status")
    @admin_required
    @validate(body=s.BulkStatusBody)
    def admin_coupon_bulk_status(body: s.BulkStatusBody):
        """Set the status of several coupons (unknown ids are ignored)."""
        count = coupons.bulk_set_status(actor=current_api_user(), coupon_ids=body.couponIds, status=body.status)
        db.session.commit()
        return ok(f"{count} coupons updated successfully", {"updatedCount": count})

    @bp.get("/admin/coupons/<couponId>")
    @admin_required
    @validate(path=s.CouponIdPath)
    def admin_coupon_get(path: s.CouponIdPath):
        """One coupon with its service and redemptions."""
        return ok("Coupon details retrieved successfully", {"coupon": p.coupon_details(coupons.get_coupon(path.couponId))})

    @bp.put("/admin/coupons/<couponId>")
    @admin_required
    @validate(path=s.CouponIdPath, body=s.CouponUpdateBody)
    def admin_coupon_update(path: s.CouponIdPath, body: s.CouponUpdateBody):
        """Change name, description, status, limits or dates of a coupon."""
        coupon = coupons.update_coupon(actor=current_api_user(), coupon_id=path.couponId, changes=body.changes())
        data = {"coupon": p.coupon_with_service(coupon)}
        db.session.commit()
        return ok("Coupon updated successfully", data)

    @bp.delete("/admin/coupons/<couponId>")
    @admin_required
    @validate(path=s.CouponIdPath)
    def admin_coupon_delete(path: s.CouponIdPath):
        """Delete a coupon that was never redeemed."""
        coupons.delete_coupon(actor=current_api_user(), coupon_id=path.couponId)
        db.session.commit()
        return ok("Coupon deleted successfully")
