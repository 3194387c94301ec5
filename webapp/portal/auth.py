"""Portal sign-up, sign-in (password or Google), sign-out and password reset: /portal/register, /portal/login,
/portal/logout, /portal/forgot-password, /portal/reset-password/<token>.

Like the console: only active accounts (`accounts.services.authenticate_console`, Flask-Login's user loader),
the pre-login session is dropped at login (session fixation), `next` is only ever a path on this site, sign-in
attempts are rate limited per client address and failures per account (`accounts.limits`, shared with the API
and the console). Any role may use the portal. Password reset: `accounts.password_reset` (one generic answer to
"forgot password", single-use links).
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_user, logout_user
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length

from ..accounts import google_web, password_reset
from ..accounts.errors import AccountDeactivated, EmailTaken, InvalidCredentials, InvalidNewPassword
from ..accounts.limits import login_limits, mark_login_failed, password_reset_limits
from ..errors import DomainError
from ..web import fresh_session, safe_next
from ..extensions import db, limiter
from .base import PortalForm, call, form_error

GOOGLE_SESSION_KEY = "portal_google_oidc"


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(PortalForm):
    email = EmailField("Email", filters=[_strip], validators=[InputRequired("Please enter your email"), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired("Please enter your password"), Length(max=1024)])
    next = HiddenField()


class RegisterForm(PortalForm):
    name = StringField("Your name", filters=[_strip], validators=[InputRequired("Please enter your name"),
                                                Length(2, 50, "Name must be 2 to 50 characters")])
    email = EmailField("Email", filters=[_strip], validators=[InputRequired("Please enter your email"),
                                                              Length(max=254), Email("Please enter a valid email address", check_deliverability=False)])
    password = PasswordField("Password", validators=[InputRequired("Please choose a password"),
                                                     Length(6, 72, "Password must be 6 to 72 characters")])
    confirm = PasswordField("Repeat the password", validators=[EqualTo("password", "The passwords do not match")])


class LogoutForm(PortalForm):
    pass


class ForgotPasswordForm(PortalForm):
    email = EmailField("Email", filters=[_strip], validators=[InputRequired("Please enter your email"),
                                                              Length(max=254), Email("Please enter a valid email address", check_deliverability=False)])


class ResetPasswordForm(PortalForm):
    password = PasswordField("New password", validators=[InputRequired("Please choose a password"),
                                                         Length(6, 72, "Password must be 6 to 72 characters")])
    confirm = PasswordField("Repeat the new password", validators=[EqualTo("password", "The passwords do not match")])


def _no_store(response):
    """Reset pages carry a live token in their URL: keep them out of caches."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _home() -> str:
    return url_for("portal.catalog")


def _sign_in(user, target: str | None):
    fresh_session()
    login_user(user)
    return redirect(safe_next(target) or _home())


def _google_callback_url() -> str:
    return url_for("portal.login_google_callback", _external=True)


def register(bp: Blueprint) -> None:
    login_limit = lambda: current_app.config["LOGIN_RATE_LIMIT"]  # noqa: E731  (read per request)
    register_limit = lambda: current_app.config["REGISTER_RATE_LIMIT"]  # noqa: E731

    @bp.route("/login", methods=["GET", "POST"])
    @login_limits
    def login():
        if current_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")) or _home())
        form = LoginForm()
        if request.method == "GET":
            form.next.data = safe_next(request.args.get("next")) or ""
        if form.validate_on_submit():
            from ..accounts.services import authenticate_console

            user, error = call(authenticate_console, form.email.data or "", form.password.data or "")
            if error is None:
                return _sign_in(user, form.next.data)
            if isinstance(error, (InvalidCredentials, AccountDeactivated)):
                mark_login_failed()  # counts against the account (accounts.limits)
            form_error(form, error, {InvalidCredentials: "password"})
        return render_template("portal/login.html", form=form), 400 if form.errors or form.form_errors else 200

    @bp.route("/register", methods=["GET", "POST"])
    @limiter.limit(register_limit, methods=["POST"])
    def register_page():
        if current_user.is_authenticated:
            return redirect(_home())
        form = RegisterForm()
        if form.validate_on_submit():
            from ..accounts.services import register as register_account

            started, error = call(register_account, name=form.name.data, email=form.email.data,
                                  password=form.password.data)
            if error is None:
                flash("Welcome to PodDesk! Your account is ready.", "success")
                return _sign_in(started.user, None)
            form_error(form, error, {EmailTaken: "email"})
        status = 400 if form.errors or form.form_errors else 200
        return render_template("portal/register.html", form=form), status

    @bp.get("/login/google")
    @limiter.limit(login_limit)
    def login_google():
        """Start "Sign in with Google" (authorization code; state and nonce kept in the session)."""
        return google_web.redirect_to_provider(session_key=GOOGLE_SESSION_KEY, callback_url=_google_callback_url(),
                                               next_url=safe_next(request.args.get("next")),
                                               login_endpoint="portal.login")

    @bp.get("/login/google/callback")
    @limiter.limit(login_limit)
    def login_google_callback():
        from ..accounts.google import login_with_identity

        try:
            identity, next_url = google_web.complete(session_key=GOOGLE_SESSION_KEY, callback_url=_google_callback_url())
        except DomainError as error:
            db.session.rollback()
            flash(error.text, "error")
            return redirect(url_for("portal.login"))
        result, error = call(login_with_identity, identity)  # signs up new customers (welcome bonus included)
        if error is not None:
            flash(error.text, "error")
            return redirect(url_for("portal.login"))
        return _sign_in(result[0].user, next_url)

    @bp.route("/forgot-password", methods=["GET", "POST"])
    @password_reset_limits(per_email=True)
    def forgot_password():
        form = ForgotPasswordForm()
        if form.validate_on_submit():
            _, error = call(password_reset.request_password_reset, form.email.data or "",
                            requested_ip=request.remote_addr)
            if error is None:  # the same answer whether or not the address has an account
                flash(password_reset.GENERIC_REQUEST_MESSAGE, "info")
                return redirect(url_for("portal.login"))
            form_error(form, error)
        status = 400 if form.errors or form.form_errors else 200
        return render_template("portal/forgot_password.html", form=form), status

    @bp.route("/reset-password/<token>", methods=["GET", "POST"])
    @password_reset_limits(per_email=False)
    def reset_password(token: str):
        form = ResetPasswordForm()
        usable, status = True, 200
        if request.method == "GET":
            try:
                password_reset.check_token(token)
            except DomainError as error:
                db.session.rollback()
                form.form_errors.append(error.text)
                usable, status = False, error.status
        elif form.validate_on_submit():
            _, error = call(password_reset.reset_password, token, form.password.data or "")
            if error is None:
                if current_user.is_authenticated:  # whoever was signed in here: that session has ended too
                    logout_user()
                fresh_session()
                flash("Your password has been reset. Please sign in with your new password.", "success")
                return redirect(url_for("portal.login"))
            form_error(form, error, {InvalidNewPassword: "password"})
            usable = isinstance(error, InvalidNewPassword)
            status = error.status
        else:
            status = 400
        page = render_template("portal/reset_password.html", form=form, token=token, usable=usable)
        return _no_store(current_app.make_response((page, status)))

    @bp.post("/logout")
    def logout():
        form = LogoutForm()
        if form.validate_on_submit():
            logout_user()
            fresh_session()
            flash("You have been signed out.", "info")
        return redirect(url_for("portal.login"))

    @bp.errorhandler(RateLimitExceeded)
    def too_many_attempts(error):
        endpoint = request.endpoint or ""
        if endpoint == "portal.forgot_password":
            form, page = ForgotPasswordForm(formdata=None), "portal/forgot_password.html"
        elif endpoint == "portal.reset_password":
            form, page = ResetPasswordForm(formdata=None), "portal/reset_password.html"
        else:
            form, page = LoginForm(formdata=None), "portal/login.html"
        form.form_errors.append("Too many attempts, please try again later.")
        token = (request.view_args or {}).get("token", "")
        response = current_app.make_response((render_template(page, form=form, token=token, usable=False), 429))
        response.headers["Retry-After"] = str(getattr(error, "retry_after", "") or 60)
        return response
