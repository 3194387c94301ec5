"""Users in the console: list, search, filters, CSV export, a detail page, and state changes through services.

Nothing here writes a column: activate/deactivate call `accounts.services.set_user_active`, role changes call
`accounts.services.admin_update_user`, each committed on its own (a refused row does not undo the others).
"""
from __future__ import annotations

from flask import flash, url_for
from flask_admin.actions import action
from markupsafe import Markup, escape
from sqlalchemy import select

from ..accounts.models import Role, User
from ..extensions import db
from .base import SecureModelView, call_service, current_admin

# Bulk actions act on at most this many rows per request.
MAX_ROWS_PER_ACTION = 200


def _money(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else f"{value:,}".replace(",", ".")


def _balance_link(view, context, model, name):
    """The balance links to the customer's wallet page (ledger and the adjust-balance form)."""
    return Markup('<a href="{}" title="Wallet and ledger">{}</a>').format(
        url_for("wallet.user_view", user_id=model.id), _money(view, context, model, name))


def _customer_link(view, context, model, name):
    """The name opens the customer 360 page (profile, money, subscriptions, tickets, audit trail)."""
    return Markup('<a href="{}">{}</a>').format(url_for("customers.user_view", user_id=model.id), model.name)


def _active_badge(view, context, model, name):
    if model.is_active:
        return Markup('<span class="badge badge-success">active</span>')
    return Markup('<span class="badge badge-secondary">inactive</span>')


def _role(view, context, model, name):
    role = model.role
    return escape(role.value if isinstance(role, Role) else role)


class UserView(SecureModelView):
    list_template = "console/users_list.html"
    details_template = "console/user_details.html"

    # Explicit lists everywhere: password_hash, token_version and google_id are never shown or exported.
    column_list = ["name", "email", "phone", "role", "is_active", "credit_balance", "created_at"]
    column_details_list = ["id", "name", "email", "phone", "role", "is_active", "email_verified", "is_google_user",
                           "credit_balance", "total_top_up", "total_spent", "avatar", "created_at", "updated_at"]
    column_export_list = ["id", "name", "email", "phone", "role", "is_active", "credit_balance", "total_top_up",
                          "total_spent", "created_at"]
    column_labels = {"is_active": "isActive", "credit_balance": "Credit balance", "created_at": "Created",
                     "updated_at": "Updated", "email_verified": "Email verified", "is_google_user": "Google user",
                     "total_top_up": "Total top-up", "total_spent": "Total spent", "id": "ID"}
    column_searchable_list = ["name", "email", "phone"]
    column_filters = ["role", "is_active"]
    column_sortable_list = ["name", "email", "role", "is_active", "credit_balance", "created_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_formatters = {"name": _customer_link, "credit_balance": _balance_link, "total_top_up": _money, "total_spent": _money,
                         "is_active": _active_badge, "role": _role}
    column_formatters_export = {"role": lambda v, c, m, n: m.role.value}
    column_formatters_detail = {"credit_balance": _money, "total_top_up": _money, "total_spent": _money,
                                "role": _role}
    export_max_rows = 0  # all rows

    def __init__(self, session_or_db, **kwargs):
        super().__init__(User, session_or_db, **kwargs)

    # Soft-deleted (anonymised) accounts are not listed.
    def get_query(self):
        return super().get_query().filter(User.deleted_at.is_(None))

    def get_count_query(self):
        return super().get_count_query().filter(User.deleted_at.is_(None))

    def get_one(self, id):
        if not isinstance(id, str) or not id or len(id) > 64 or "\x00" in id:
            return None
        return db.session.execute(select(User).where(User.id == id, User.deleted_at.is_(None))).scalar_one_or_none()

    # ------------------------------------------------------------------------------ actions
    def _apply(self, ids, change, done: str) -> None:
        ids = [i for i in dict.fromkeys(ids) if isinstance(i, str) and 0 < len(i) <= 64][:MAX_ROWS_PER_ACTION]
        if not ids:
            flash("No user selected.", "warning")
            return
        changed = 0
        for user_id in ids:
            ok, _ = call_service(change, current_admin(), user_id)
            changed += ok
        if changed:
            flash(f"{changed} user{'s' if changed != 1 else ''} {done}.", "success")

    @action("activate", "Activate")
    def action_activate(self, ids):
        from ..accounts.services import set_user_active

        self._apply(ids, lambda actor, uid: set_user_active(actor, uid, True, source="console"), "activated")

    @action("deactivate", "Deactivate", "Deactivate the selected users? Their sessions end at once.")
    def action_deactivate(self, ids):
        from ..accounts.services import set_user_active

        self._apply(ids, lambda actor, uid: set_user_active(actor, uid, False, source="console"), "deactivated")

    @action("make_admin", "Make administrator", "Give the selected users administrator rights?")
    def action_make_admin(self, ids):
        from ..accounts.services import admin_update_user

        self._apply(ids, lambda actor, uid: admin_update_user(actor, uid, {"role": Role.ADMINISTRATOR.value}, source="console"),
                    "made administrator")

    @action("make_user", "Make customer", "Remove administrator rights from the selected users?")
    def action_make_user(self, ids):
        from ..accounts.services import admin_update_user

        self._apply(ids, lambda actor, uid: admin_update_user(actor, uid, {"role": Role.USER.value}, source="console"),
                    "made customer")


def register_views(admin, db) -> None:
    admin.add_view(UserView(db, name="Users", endpoint="users", url="users"))
