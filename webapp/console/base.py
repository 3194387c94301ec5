"""Base classes and helpers shared by every console view.

- `AdminRequiredMixin`: every console page is for active administrators only; anonymous visitors are sent to
  the login page (with `next`), logged-in non-administrators get 403.
- `SecureForm`: the form base of every console form (Flask-Admin's generated forms, delete and action forms
  included). It is Flask-WTF's `FlaskForm`, not `flask_admin.form.SecureForm`: `CSRFProtect` checks every POST
  app-wide and only understands Flask-WTF tokens, so the two token formats cannot share the `csrf_token` field.
- `SecureModelView`: a Flask-Admin `ModelView` with both of the above, 50 rows a page.
- `call_service`: the one place where the console runs a service function, commits, and turns a
  `DomainError` (or a database refusal) into a flashed message instead of a 500.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from flask import abort, flash, redirect, request, url_for
from flask_admin.base import BaseView
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from sqlalchemy.exc import DataError, IntegrityError

from ..errors import DomainError
from ..extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

# Never rendered by any console page (list, details, export, audit before/after).
SECRET_FIELDS = frozenset({"password_hash", "token_version", "google_id", "password", "token", "token_hash",
                           "refresh_token", "access_token", "secret", "server_key", "client_secret"})


class SecureForm(FlaskForm):
    """Flask-WTF form with Flask-Admin's constructor conventions (`formdata` first, `obj` kept on `_obj`).

    Text containing NUL characters is refused here: PostgreSQL cannot store or even compare it.
    """

    def __init__(self, formdata: Any = _Auto, obj: Any = None, prefix: str = "", **kwargs: Any) -> None:
        self._obj = obj
        super().__init__(formdata=formdata, obj=obj, prefix=prefix, **kwargs)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            values = field.data if isinstance(field.data, list) else [field.data]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                field.errors = [*field.errors, "Contains an invalid character"]
                valid = False
        return valid


def current_admin():
    """The logged-in administrator as a plain model instance (for services' `actor`)."""
    return current_user._get_current_object()


def login_url_for_current_request() -> str:
    return url_for("console_auth.login", next=request.full_path.rstrip("?"))


class AdminRequiredMixin:
    """Access rule for every console view: an authenticated, active ADMINISTRATOR."""

    def is_accessible(self) -> bool:
        user = current_user
        return bool(user.is_authenticated and getattr(user, "is_admin", False) and getattr(user, "is_active", False))

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(login_url_for_current_request())
        abort(403)


class SecureBaseView(AdminRequiredMixin, BaseView):
    """A custom console page (not bound to a model)."""


class SecureModelView(AdminRequiredMixin, ModelView):
    form_base_class = SecureForm
    page_size = 50
    can_set_page_size = False
    can_view_details = True
    can_export = True
    export_types = ["csv"]
    # Generic create/edit/delete are opted into per view, and then routed through services.
    can_create = False
    can_edit = False
    can_delete = False
    create_modal = False
    edit_modal = False

    # ---- query-string hardening: Flask-Admin passes these straight to the database
    def _get_list_extra_args(self):
        args = super()._get_list_extra_args()
        args.page = max(args.page or 0, 0)
        if args.search:
            args.search = clean_text(args.search)[:200] or None
        if args.sort is not None and not 0 <= args.sort < len(self._list_columns):
            args.sort = None
        return args

    def _get_list_filter_args(self):
        """Flask-Admin's parser, except that a value a filter cannot take (an unknown enum name raises
        KeyError inside Flask-Admin's own validation) is flashed and dropped instead of failing."""
        if not self._filters:
            return None
        filters = []
        for arg in request.args:
            if not arg.startswith("flt") or "_" not in arg:
                continue
            pos, key = arg[3:].split("_", 1)
            if key not in self._filter_args:
                continue
            idx, flt = self._filter_args[key]
            value = clean_text(request.args[arg])[:200]
            try:
                valid = flt.validate(value) and self._in_options(flt, value)
            except (LookupError, ValueError, TypeError):
                valid = False
            if valid:
                filters.append((pos, (idx, str(flt.name), value)))
            else:
                flash(self.get_invalid_value_msg(value, flt), "error")
        return [f for _, f in sorted(filters, key=lambda item: item[0])]

    @staticmethod
    def _in_options(flt, value: str) -> bool:
        """Filters with a fixed choice list (enum, boolean) accept only those choices."""
        options = getattr(flt, "options", None)
        if callable(options):
            options = options()
        if not options:
            return True
        allowed = {str(o[0]) if isinstance(o, (tuple, list)) else str(o) for o in options}
        return value in allowed or all(part.strip() in allowed for part in value.split(","))

    def get_one(self, id):
        if not isinstance(id, str) or not id or len(id) > 64 or "\x00" in id:
            return None
        return super().get_one(id)

    def get_list(self, page, sort_field, sort_desc, search, filters, execute=True, page_size=None):
        try:
            return super().get_list(page, sort_field, sort_desc, search, filters, execute=execute,
                                    page_size=page_size)
        except (LookupError, ValueError, TypeError, DataError):
            # A filter value the column cannot take: show nothing rather than fail.
            db.session.rollback()
            log.info("console list query refused its arguments", exc_info=True)
            flash("Invalid search or filter value.", "error")
            return 0, []

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, DomainError):
            flash(exc.text, "error")
            return True
        return super().handle_view_exception(exc)


def call_service(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[bool, T | None]:
    """Run one service call in its own transaction; commit on success, flash the domain error otherwise.

    Returns (ok, result). A constraint the database enforces (unique slug raced by another request, a value
    the form did not bound) becomes a flashed error too: nothing a client sends may end in a 500.
    """
    try:
        result = fn(*args, **kwargs)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.text, "error")
        return False, None
    except (IntegrityError, DataError):
        db.session.rollback()
        log.warning("console write refused by the database", exc_info=True)
        flash("The change was refused: it conflicts with existing data or a value is out of range.", "error")
        return False, None
    return True, result


def clean_text(value: str) -> str:
    """Remove characters PostgreSQL cannot take in a string (NUL)."""
    return value.replace("\x00", "").strip()


def redact(value: Any) -> Any:
    """Drop secret-looking keys from nested dicts/lists (audit before/after snapshots)."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if str(k).lower() in SECRET_FIELDS or "password" in str(k).lower() else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
