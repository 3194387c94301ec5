"""Accounts: users (with their wallet columns), refresh tokens and password-reset tokens."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import IdMixin, TimestampMixin, utcnow
from ..extensions import db


class Role(str, enum.Enum):
    USER = "USER"
    ADMINISTRATOR = "ADMINISTRATOR"


class User(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        # Emails are normalised (trimmed, lower-cased) before they reach the database.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("credit_balance >= 0", name="credit_balance_non_negative"),
        CheckConstraint("total_top_up >= 0 AND total_spent >= 0", name="totals_non_negative"),
        Index("ix_users_created_at", "created_at"),
    )

    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, length=20), default=Role.USER)
    avatar: Mapped[str | None] = mapped_column(String(2048))
    password_hash: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    google_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    is_google_user: Mapped[bool] = mapped_column(Boolean, default=False)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    credit_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    total_top_up: Mapped[int] = mapped_column(BigInteger, default=0)
    total_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bumped on password change, logout-all, deactivation and deletion: access tokens carry it, so
    # those events end existing sessions immediately instead of at token expiry.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    refresh_tokens: Mapped[list[RefreshToken]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                              passive_deletes=True)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMINISTRATOR

    # Flask-Login protocol (console and portal sessions).
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # The token version invalidates console/portal sessions together with API tokens.
        return f"{self.id}:{self.token_version}"

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class RefreshToken(IdMixin, TimestampMixin, db.Model):
    """An opaque refresh token, stored only as its SHA-256 digest.

    Tokens rotate: refreshing revokes the presented token and issues a new one in the same family.
    Presenting a revoked token again means it leaked, so the whole family is revoked.
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_user_id", "user_id"), Index("ix_refresh_tokens_expires_at", "expires_at"))

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[str] = mapped_column(String(25), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="refresh_tokens")


class PasswordResetToken(IdMixin, db.Model):
    """A single-use password-reset link (accounts.password_reset), stored only as the SHA-256 digest of its token.

    Spent with one conditional UPDATE (`used_at IS NULL AND expires_at > now`), so two concurrent uses of the same
    link cannot both succeed; a successful reset also marks the user's other outstanding links used.
    """

    __tablename__ = "password_reset_tokens"
    __table_args__ = (Index("ix_password_reset_tokens_user_id", "user_id"),
                      Index("ix_password_reset_tokens_expires_at", "expires_at"))

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_ip: Mapped[str | None] = mapped_column(String(45))
