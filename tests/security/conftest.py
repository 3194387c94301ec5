"""Security tests: a fresh-context test client per request (tests/console/conftest.py explains why), the portal and
console drivers, and helpers to read the password-reset e-mail."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.console.conftest import Console, FreshContextClient
from tests.portal.conftest import Portal
from webapp.extensions import db
from webapp.notifications.models import Notification, NotificationType

LINK = re.compile(r"https?://\S+/portal/reset-password/(\S+)")


@pytest.fixture
def client(app):
    return FreshContextClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def portal(client) -> Portal:
    return Portal(client)


@pytest.fixture
def console(client) -> Console:
    return Console(client)


def reset_messages(user=None) -> list[Notification]:
    db.session.expire_all()
    query = select(Notification).where(Notification.type == NotificationType.PASSWORD_RESET)
    if user is not None:
        query = query.where(Notification.user_id == user.id)
    return list(db.session.execute(query.order_by(Notification.created_at, Notification.id)).scalars())


def reset_link(user) -> tuple[str, str]:
    """(path of the link, token) from the newest reset e-mail of `user`."""
    messages = reset_messages(user)
    assert messages, f"no password reset e-mail for {user.email}"
    match = LINK.search(messages[-1].body)
    assert match, messages[-1].body
    return urlsplit(match.group(0)).path, match.group(1)
