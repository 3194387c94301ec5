"""Writing audit entries, inside the same transaction as the change they describe."""
from __future__ import annotations

from typing import Any

from ..extensions import db
from .models import AuditEntry


def record(*, actor, action: str, target_type: str, target_id: str | None, before: dict | None = None,
           after: dict | None = None, reason: str | None = None, source: str = "api") -> AuditEntry:
    entry = AuditEntry(actor_id=getattr(actor, "id", None), actor_email=getattr(actor, "email", None), action=action,
                       target_type=target_type, target_id=target_id, before=_jsonable(before),
                       after=_jsonable(after), reason=reason, source=source)
    db.session.add(entry)
    return entry


def _jsonable(value: Any) -> Any:
    from datetime import datetime
    from decimal import Decimal
    from enum import Enum

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
