"""Audit log: one append-only row per administrative write (who, what, before/after, why, when)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import IdMixin, utcnow
from ..extensions import db


class AuditEntry(IdMixin, db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_target", "target_type", "target_id"),
                      Index("ix_audit_entries_created_at", "created_at"))

    # No foreign key on the actor: the trail must outlive (anonymised) accounts.
    actor_id: Mapped[str | None] = mapped_column(String(25), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="api")  # api | console | cli | job
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
