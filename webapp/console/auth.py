"""Console sign-in and sign-out (`console_auth.login`, `console_auth.logout`) at /admin/login and /admin/logout.

Sign-in attempts are limited per client address and failures per account (`accounts.limits`, one bucket shared
with the API and the portal)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_user, logout_user
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import InputRequired, Length

from ..accounts import google_web
from ..accounts.limits import login_limits, mark_login_failed
from ..errors import DomainError
from ..web import fresh_session, safe_next
from ..extensions import limiter
from .base import SecureForm

NOT_ALLOWED = "This account cannot use the console"
GOOGLE_SESSION_KEY = "console_google_oidc"


class LoginForm(SecureForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=200)])
    next = HiddenField()


class LogoutForm(SecureForm):
    pass


def _default_target() -> str:
    return url_for("admin.index")


def _google_callback_url() -> str:
    return url_for("console_auth.login_google_callback", _external=True)


def create_auth_blueprint() -> Blueprint:
    bp = Blueprint("console_auth", __name__, url_prefix="/admin")
    login_limit = lambda: current_app.config["LOGIN_RATE_LIMIT"]  # noqa: E731  (read per request)

    @bp.route("/login", methods=["GET", "POST"])
    @login_limits  # per address, and failures per account shared with the API and the portal
    def login():
        if current_user.is_authenticated and getattr(current_user, "is_admin", False) and current_user.is_active:
            return redirect(safe_next(request.args.get("next")) or _default_target())
        form = LoginForm()
        if request.method == "GET":
            form.next.data = safe_next(request.args.get("next")) or ""
        if form.validate_on_submit():
            from ..accounts.services import authenticate_console

            try:
                user = authenticate_console(form.email.data or "", form.password.data or "")
            except DomainError as exc:
                mark_login_failed()
                form.form_errors.append(exc.text)
            else:
                if not user.is_admin:
                    form.form_errors.append(NOT_ALLOWED)
                else:
                    fresh_session()
                    login_user(user)
                    return redirect(safe_next(form.next.data) or _default_target())
        return render_template("console/login.html", form=form)

    @bp.get("/login/google")
    @limiter.limit(login_limit)
    def login_google():
        """Start "Sign in with Google" (OIDC authorization-code flow)."""
        return google_web.redirect_to_provider(session_key=GOOGLE_SESSION_KEY, callback_url=_google_callback_url(),
                                               next_url=safe_next(request.args.get("next")),
                                               login_endpoint="console_auth.login")

    @bp.get("/login/google/callback")
    @limiter.limit(login_limit)
    def login_google_callback():
        from ..accounts.google import existing_user_for
        from ..extensions import db

        try:
            identity, next_url = google_web.complete(session_key=GOOGLE_SESSION_KEY, callback_url=_google_callback_url())
            user = existing_user_for(identity)  # staff sign-in never creates accounts
            if not user.is_admin:
                raise PermissionError(NOT_ALLOWED)
            db.session.commit()
        except (DomainError, PermissionError) as exc:
            db.session.rollback()
            flash(getattr(exc, "text", None) or str(exc), "error")
            return redirect(url_for("console_auth.login"))
        fresh_session()
        login_user(user)
        return redirect(next_url or _default_target())

    @bp.post("/logout")
    def logout():
        form = LogoutForm()
        if form.validate_on_submit():
            logout_user()
            fresh_session()
            flash("You have been signed out.", "info")
        return redirect(url_for("console_auth.login"))

    @bp.errorhandler(RateLimitExceeded)
    def too_many_attempts(error):
        form = LoginForm(formdata=None)
        form.form_errors.append("Too many sign-in attempts, please try again later.")
        response = current_app.make_response((render_template("console/login.html", form=form), 429))
        response.headers["Retry-After"] = str(getattr(error, "retry_after", "") or 60)
        return response

    return bp
