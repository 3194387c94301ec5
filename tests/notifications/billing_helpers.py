"""Shared helpers of the billing-engine tests (renewals, scheduler, notifications, admin billing routes)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

JKT = ZoneInfo("Asia/Jakarta")


def jkt(year, month, day, hour=0, minute=0) -> datetime:
    """A wall-clock time in Jakarta (UTC+7), as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=JKT)


@pytest.fixture
def instances_stub(monkeypatch):
    """Instance termination belongs to the cluster domain; use it when present, else count the calls."""
    calls = []
    try:
        import webapp.cluster.services  # noqa: F401
    except ImportError:
        from webapp.subscriptions import transitions

        monkeypatch.setattr(transitions, "_terminate_instances", lambda sid: calls.append(sid) or 0)
    return calls
