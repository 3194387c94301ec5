"""Flask-Login wiring for cookie sessions (console and portal); the API uses bearer tokens instead."""
from __future__ import annotations

from flask_login import LoginManager

from ..extensions import db
from .models import User


def init_login_manager(login_manager: LoginManager) -> None:
    login_manager.login_view = "console_auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        # Session ids embed the token version: password change, logout-all or deactivation ends them.
        user_id, _, version = session_id.partition(":")
        user = db.session.get(User, user_id)
        if user is None or not user.is_active or user.deleted_at is not None or str(user.token_version) != version:
            return None
        return user
