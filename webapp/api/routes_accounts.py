"""Auth, Google sign-in, profile and admin-user routes (spec-accounts-catalog AU1-AU9, P1-P3, A-U1-A-U6)."""
from __future__ import annotations

from flask import Blueprint, current_app, request
from sqlalchemy import func, select

from ..accounts import google as google_signin
from ..accounts import password_reset
from ..accounts import services as accounts
from ..accounts.limits import login_limits, password_reset_limits
from ..errors import DomainError
from ..extensions import db, limiter
from ..subscriptions.models import Subscription
from . import schemas_accounts as s
from .auth import admin_required, current_api_user, user_required
from .envelope import created, google_error, google_ok, ok
from .presenters import admin_user_row, user_basic, user_full, user_no_password
from .validation import validate


def register(bp: Blueprint) -> None:
    limit = lambda key: lambda: current_app.config[key]  # noqa: E731  (read per request, not at import)

    # ---------------------------------------------------------------------------------- auth
    @bp.post("/auth/register")
    @limiter.limit(limit("REGISTER_RATE_LIMIT"))
    @validate(body=s.RegisterBody)
    def auth_register(body: s.RegisterBody):
        """Register a customer account (welcome bonus applied) and start a session."""
        session = accounts.register(name=body.name, email=body.email, password=body.password, phone=body.phone,
                                    avatar=body.avatar)
        db.session.commit()
        return created("User registered successfully", {"user": user_full(session.user),
                                                        "accessToken": session.access_token,
                                                        "refreshToken": session.refresh_token})

    @bp.post("/auth/login")
    @login_limits  # per address, and failures per account shared with the portal and console sign-in forms
    @validate(body=s.LoginBody)
    def auth_login(body: s.LoginBody):
        """Log in with email and password."""
        session = accounts.login(email=body.email, password=body.password)
        db.session.commit()
        return ok("Login successful", {"user": user_no_password(session.user), "accessToken": session.access_token,
                                       "refreshToken": session.refresh_token})

    @bp.post("/auth/refresh-token")
    @limiter.limit(limit("REFRESH_RATE_LIMIT"))
    @validate(body=s.RefreshBody)
    def auth_refresh(body: s.RefreshBody):
        """Exchange a refresh token for a new access token and a rotated refresh token."""
        session = accounts.refresh(body.refreshToken)
        db.session.commit()
        user = session.user
        return ok("Token refreshed successfully", {
            "accessToken": session.access_token, "refreshToken": session.refresh_token,
            "user": {"id": user.id, "name": user.name, "email": user.email, "role": user.role.value}})

    @bp.post("/auth/forgot-password")
    @password_reset_limits(per_email=True)
    @validate(body=s.ForgotPasswordBody)
    def auth_forgot_password(body: s.ForgotPasswordBody):
        """Send a password reset link to the email's account, if there is one (same answer either way)."""
        password_reset.request_password_reset(body.email, requested_ip=request.remote_addr)
        db.session.commit()
        return ok(password_reset.GENERIC_REQUEST_MESSAGE)

    @bp.post("/auth/reset-password")
    @password_reset_limits(per_email=False)
    @validate(body=s.ResetPasswordBody)
    def auth_reset_password(body: s.ResetPasswordBody):
        """Set a new password with a reset link's token (single use); every existing session ends."""
        password_reset.reset_password(body.token, body.password)
        db.session.commit()
        return ok("Password has been reset successfully. Please log in with your new password.")

    @bp.get("/auth/profile")
    @user_required
    def auth_profile():
        """The caller's profile."""
        return ok("Profile retrieved successfully", {"user": user_basic(current_api_user())})

    @bp.post("/auth/logout")
    @user_required
    @validate(body=s.LogoutBody)
    def auth_logout(body: s.LogoutBody):
        """Revoke one of the caller's refresh tokens."""
        accounts.logout(current_api_user(), body.refreshToken)
        db.session.commit()
        return ok("Logged out successfully")

    @bp.post("/auth/logout-all")
    @user_required
    def auth_logout_all():
        """Revoke every session of the caller (refresh tokens and issued access tokens)."""
        accounts.logout_everywhere(current_api_user())
        db.session.commit()
        return ok("Logged out from all devices successfully")

    # ------------------------------------------------------------------------------- google
    @bp.post("/auth/google/login")
    @limiter.limit(limit("LOGIN_RATE_LIMIT"))
    @validate(body=s.GoogleTokenBody)
    def auth_google_login(body: s.GoogleTokenBody):
        """Sign in with a Google ID token (legacy envelope {success, data|error})."""
        try:
            session, shape = google_signin.login(body.idToken)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            return google_error(error)
        return google_ok({"user": shape(session.user), "accessToken": session.access_token,
                          "refreshToken": session.refresh_token})

    auth_google_login.api_google_envelope = True

    @bp.post("/auth/google/link")
    @user_required
    @validate(body=s.GoogleTokenBody)
    def auth_google_link(body: s.GoogleTokenBody):
        """Link a Google account to the caller."""
        user = google_signin.link(current_api_user(), body.idToken)
        db.session.commit()
        return ok("Google account linked successfully", {"user": user_full(user)})

    @bp.post("/auth/google/unlink")
    @user_required
    def auth_google_unlink():
        """Unlink the caller's Google account (legacy envelope)."""
        try:
            user = google_signin.unlink(current_api_user())
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            return google_error(error)
        return google_ok({"user": user_full(user)})

    auth_google_unlink.api_google_envelope = True

    # ------------------------------------------------------------------------------ profile
    @bp.get("/user/profile")
    @user_required
    def user_profile():
        """The caller's profile."""
        return ok("Profile retrieved successfully", {"user": user_basic(current_api_user())})

    @bp.put("/user/profile")
    @user_required
    @validate(body=s.ProfileUpdateBody)
    def user_profile_update(body: s.ProfileUpdateBody):
        """Change name, phone or avatar (null clears phone/avatar)."""
        user = accounts.update_profile(current_api_user(), body.provided())
        db.session.commit()
        return ok("Profile updated successfully", {"user": user_basic(user)})

    @bp.patch("/user/avatar")
    @user_required
    @validate(body=s.AvatarBody)
    def user_avatar(body: s.AvatarBody):
        """Change the avatar URL."""
        user = accounts.update_profile(current_api_user(), {"avatar": body.avatar})
        db.session.commit()
        return ok("Avatar updated successfully", {"user": user_basic(user)})

    @bp.put("/user/password")
    @user_required
    @validate(body=s.PasswordChangeBody)
    def user_password(body: s.PasswordChangeBody):
        """Change (or, for Google-only accounts, set) the password; ends every session."""
        accounts.change_password(current_api_user(), current_password=body.currentPassword,
                                 new_password=body.newPassword)
        db.session.commit()
        return ok("Password updated successfully")

    # -------------------------------------------------------------------------- admin users
    @bp.post("/admin/users")
    @admin_required
    @validate(body=s.AdminCreateUserBody)
    def admin_users_create(body: s.AdminCreateUserBody):
        """Create a user of any role."""
        user = accounts.admin_create_user(current_api_user(), name=body.name, email=body.email,
                                          password=body.password, phone=body.phone, avatar=body.avatar,
                                          role=accounts.Role(body.role))
        db.session.commit()
        return created("User created successfully", {"user": user_basic(user)})

    @bp.get("/admin/users")
    @admin_required
    @validate(query=s.AdminUserListQuery)
    def admin_users_list(query: s.AdminUserListQuery):
        """List users, newest first, with search and filters."""
        users, total = accounts.list_users(page=query.page, limit=query.limit, search=query.search, role=query.role,
                                           is_active=query.isActive)
        counts = dict(db.session.execute(
            select(Subscription.user_id, func.count()).where(Subscription.user_id.in_([u.id for u in users]))
            .group_by(Subscription.user_id)).all()) if users else {}
        return ok("Users retrieved successfully", {
            "users": [admin_user_row(u, counts.get(u.id, 0)) for u in users],
            "pagination": {"page": query.page, "limit": query.limit, "totalCount": total,
                           "totalPages": -(-total // query.limit)}})

    @bp.get("/admin/users/<id>")
    @admin_required
    @validate(path=s.AdminUserId)
    def admin_users_get(path: s.AdminUserId):
        """One user."""
        return ok("User retrieved successfully", {"user": user_basic(accounts.get_user(path.id))})

    @bp.put("/admin/users/<id>")
    @admin_required
    @validate(path=s.AdminUserId, body=s.AdminUpdateUserBody)
    def admin_users_update(path: s.AdminUserId, body: s.AdminUpdateUserBody):
        """Change a user's name, phone, role or avatar."""
        user = accounts.admin_update_user(current_api_user(), path.id, body.provided())
        db.session.commit()
        return ok("User updated successfully", {"user": user_basic(user)})

    @bp.delete("/admin/users/<id>")
    @admin_required
    @validate(path=s.AdminUserId)
    def admin_users_delete(path: s.AdminUserId):
        """Delete (anonymise and deactivate) a user without live subscriptions."""
        accounts.delete_user(current_api_user(), path.id)
        db.session.commit()
        return ok("User deleted successfully")

    @bp.patch("/admin/users/<id>/status")
    @admin_required
    @validate(path=s.AdminUserId, body=s.AdminUserStatusBody)
    def admin_users_status(path: s.AdminUserId, body: s.AdminUserStatusBody):
        """Activate or deactivate a user (deactivation ends their sessions)."""
        user = accounts.set_user_active(current_api_user(), path.id, body.isActive)
        db.session.commit()
        word = "activated" if body.isActive else "deactivated"
        return ok(f"User {word} successfully", {"user": user_basic(user)})

