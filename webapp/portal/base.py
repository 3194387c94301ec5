"""What every portal page shares: the one way to call a service, error pages, the navigation context.

- `call(fn, ...)`: run one service function, commit on success, roll back and return the `DomainError` otherwise
  (or a generic refusal when the database refuses a value); the caller shows `error.text` next to a field.
- `form_error(form, error, fields)`: put a domain error next to the field it is about (by error class), else on
  top of the form.
- A `DomainError` a view did not catch (a 404 from an owner-scoped lookup) renders the portal's error page with
  its status; a missing or wrong CSRF token is a 400 page.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from flask import Blueprint, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError

from ..console.base import SecureForm
from ..errors import DomainError
from ..extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

REFUSED = "That change was refused; please check your input and try again."
PAGE_SIZE = 20


class PortalForm(SecureForm):
    """Flask-WTF form (CSRF token) that refuses NUL characters; `form_errors` shows above the fields."""


def customer():
    """The signed-in account as a plain model instance (what services take as `user`)."""
    return current_user._get_current_object()


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T | None, DomainError | None]:
    """One service call in its own transaction: (result, None) committed, or (None, error) rolled back."""
    try:
        result = fn(*args, **kwargs)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return None, error
    except (IntegrityError, DataError):
        db.session.rollback()
        log.warning("portal write refused by the database", exc_info=True)
        return None, DomainError(REFUSED)
    return result, None


def form_error(form, error: DomainError, fields: dict[type, str] | None = None) -> None:
    """Show `error` next to the field its class is about, else above the form."""
    for cls, name in (fields or {}).items():
        if isinstance(error, cls):
            field = getattr(form, name)
            field.errors = [*field.errors, error.text]
            return
    form.form_errors.append(error.text)


def page_arg(name: str = "page") -> int:
    try:
        return min(max(int(request.args.get(name, "1")), 1), 100_000)
    except ValueError:
        return 1


def idr(amount) -> str:
    return f"Rp {int(amount or 0):,}"


def install(bp: Blueprint) -> None:
    @bp.context_processor
    def navigation() -> dict:
        balance = None
        if current_user.is_authenticated:
            balance = current_user.credit_balance
        return {"idr": idr, "nav_balance": balance}

    @bp.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        status = error.status if 400 <= error.status < 600 else 400
        return render_template("portal/error.html", message=error.text, status=status), status

    @bp.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("portal/error.html", status=400,
                               message="This form has expired. Please go back, reload the page and try again."), 400

    @bp.errorhandler(404)
    def not_found(error):
        return render_template("portal/error.html", status=404, message="Page not found"), 404

    @bp.after_request
    def no_store(response):
        # Pages show balances and private data: never cached by the browser or a proxy.
        response.headers.setdefault("Cache-Control", "private, no-store")
        return response


def raise_not_found(error: DomainError | None) -> None:
    """A 404 from an owner-scoped service (another customer's row, or none) is the portal's 404 page, not a form
    error: it says nothing about whether the row exists."""
    if error is not None and error.status == 404:
        raise error
