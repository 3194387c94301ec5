"""Cluster: the app instances PodDesk runs on Kubernetes for each subscription.

Statuses move only through `cluster.status.transition` (conditional UPDATE ... WHERE status IN (...)); the table of
allowed moves is `cluster.status.TRANSITIONS`. At most one instance per subscription is not TERMINATED (partial
unique index below).
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Enum, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import IdMixin, TimestampMixin
from ..extensions import db


class InstanceStatus(str, enum.Enum):
    PENDING = "PENDING"
    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    ERROR = "ERROR"
    TERMINATED = "TERMINATED"
    MAINTENANCE = "MAINTENANCE"
    RESTARTING = "RESTARTING"
    STOPPING = "STOPPING"
    STARTING = "STARTING"


_LIVE_SQL = "status <> 'TERMINATED'"


class ServiceInstance(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "service_instances"
    __table_args__ = (
        # At most one instance that is not TERMINATED per subscription.
        Index("uq_service_instances_live_subscription", "subscription_id", unique=True,
              postgresql_where=text(_LIVE_SQL), sqlite_where=text(_LIVE_SQL)),
        Index("ix_service_instances_status", "status"),
    )

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    subdomain: Mapped[str] = mapped_column(String(253), unique=True)
    namespace: Mapped[str] = mapped_column(String(63))
    pod_name: Mapped[str | None] = mapped_column(String(253))
    service_name: Mapped[str | None] = mapped_column(String(63))
    ingress_name: Mapped[str | None] = mapped_column(String(253))
    deployment_name: Mapped[str | None] = mapped_column(String(63))
    status: Mapped[InstanceStatus] = mapped_column(
        Enum(InstanceStatus, name="instance_status", native_enum=False, length=20), default=InstanceStatus.PENDING)
    health_status: Mapped[str | None] = mapped_column(Text)
    last_health_check: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    env_vars: Mapped[dict | None] = mapped_column(JSON)
    custom_domain: Mapped[str | None] = mapped_column(String(253))
    ssl_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    cpu_usage: Mapped[float | None] = mapped_column(Numeric(10, 2))
    memory_usage: Mapped[float | None] = mapped_column(Numeric(10, 2))
    storage_usage: Mapped[float | None] = mapped_column(Numeric(10, 2))
    public_url: Mapped[str | None] = mapped_column(String(2048))
    admin_url: Mapped[str | None] = mapped_column(String(2048))
    last_started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_stopped: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Consecutive failed health checks (reset by a healthy one); "degraded" without changing the status.
    health_failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    subscription = relationship("Subscription")
