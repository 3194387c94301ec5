"""Account rules: registration, login, sessions, profiles, passwords and user administration.

Plain functions used alike by the JSON API, the console, the portal and the CLI. Each runs inside the
caller's unit of work (it flushes, never commits) except where a comment says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..db import utcnow
from ..extensions import db
from . import tokens
from .errors import (AccountDeactivated, CurrentPasswordRequired, EmailTaken, InvalidAccessToken, InvalidCredentials,
                     InvalidRefreshToken, LastAdministrator, PhoneTaken, SelfDeletionForbidden,
                     SelfModificationForbidden, UserHasActiveSubscriptions, UserNotFound, WrongCurrentPassword)
from .models import Role, User
from .passwords import burn_time, hash_password, verify_password

@dataclass
class Session:
    user: User
    access_token: str
    refresh_token: str


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _access_lifetime() -> timedelta:
    return tokens.parse_duration(current_app.config["JWT_EXPIRES_IN"])


def _refresh_lifetime() -> timedelta:
    return tokens.parse_duration(current_app.config["JWT_REFRESH_EXPIRES_IN"], default_unit="d")


def start_session(user: User) -> Session:
    """Issue an access token and a new refresh-token family for `user`."""
    access = tokens.issue_access_token(user, secret=current_app.config["JWT_SECRET"], lifetime=_access_lifetime())
    refresh = tokens.issue_refresh_token(user, lifetime=_refresh_lifetime())
    return Session(user, access, refresh)


# ------------------------------------------------------------------------------------- lookups
def find_by_email(email: str) -> User | None:
    return db.session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


def get_user(user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise UserNotFound()
    return user


def _ensure_email_free(email: str) -> None:
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise EmailTaken()


def _ensure_phone_free(phone: str | None, *, except_user_id: str | None = None) -> None:
    if not phone:
        return
    query = select(User.id).where(User.phone == phone)
    if except_user_id:
        query = query.where(User.id != except_user_id)
    if db.session.execute(query).first():
        raise PhoneTaken()


def _flush_unique(*, email_error=EmailTaken, phone_error=PhoneTaken) -> None:
    """Flush, turning a unique violation from a concurrent request into the same 409 as the pre-check."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        text = str(exc.orig).lower()
        if "phone" in text:
            raise phone_error() from None
        if "email" in text:
            raise email_error() from None
        raise


# ------------------------------------------------------------------------------ registration / login
def create_user(*, name: str, email: str, password: str | None, phone: str | None = None,
                avatar: str | None = None, role: Role = Role.USER) -> User:
    email = normalise_email(email)
    _ensure_email_free(email)
    _ensure_phone_free(phone)
    user = User(name=name.strip(), email=email, phone=phone, avatar=avatar, role=role, is_active=True,
                password_hash=hash_password(password, current_app.config["BCRYPT_ROUNDS"]) if password else None,
                credit_balance=0, total_top_up=0, total_spent=0, token_version=0)
    db.session.add(user)
    _flush_unique()
    return user


def register(*, name: str, email: str, password: str, phone: str | None = None, avatar: str | None = None) -> Session:
    """Self-registration: always a USER (a `role` sent by old clients is ignored), welcome bonus, tokens."""
    from ..billing.welcome import apply_welcome_bonuses  # billing imports accounts

    user = create_user(name=name, email=email, password=password, phone=phone, avatar=avatar)
    apply_welcome_bonuses(user)  # same transaction: the response shows the post-bonus balance
    return start_session(user)


def login(*, email: str, password: str) -> Session:
    """Password first, then account state, so a deactivated account is only revealed to its owner."""
    user = find_by_email(email)
    if user is None or user.deleted_at is not None:
        burn_time(password)
        raise InvalidCredentials()
    if not verify_password(password, user.password_hash):
        raise InvalidCredentials()
    if not user.is_active:
        raise AccountDeactivated()
    return start_session(user)


def refresh(refresh_token: str) -> Session:
    user, new_refresh = tokens.rotate_refresh_token(refresh_token, lifetime=_refresh_lifetime())
    if user is None or user.deleted_at is not None:
        raise InvalidRefreshToken()
    if not user.is_active:
        raise AccountDeactivated()
    access = tokens.issue_access_token(user, secret=current_app.config["JWT_SECRET"], lifetime=_access_lifetime())
    return Session(user, access, new_refresh)


def logout(user: User, refresh_token: str | None) -> None:
    if refresh_token:
        tokens.revoke_token_of_user(refresh_token, user.id)


def logout_everywhere(user: User) -> None:
    tokens.revoke_all_for_user(user.id)
    _bump_token_version(user)


def _bump_token_version(user: User) -> None:
    db.session.execute(update(User).where(User.id == user.id).values(token_version=User.token_version + 1))
    db.session.refresh(user, attribute_names=["token_version"])


def authenticate_access_token(token: str) -> User:
    """The user behind a bearer token, or a typed error (403 invalid, 403 deactivated)."""
    user_id, version = tokens.decode_access_token(token, secret=current_app.config["JWT_SECRET"])
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise InvalidAccessToken()
    if version is not None and version != user.token_version:
        raise InvalidAccessToken()
    if not user.is_active:
        raise AccountDeactivated()
    return user


def authenticate_console(email: str, password: str) -> User:
    """Session login for the console and portal: same checks as the API login."""
    user = find_by_email(email)
    if user is None or user.deleted_at is not None:
        burn_time(password)
        raise InvalidCredentials()
    if not verify_password(password, user.password_hash):
        raise InvalidCredentials()
    if not user.is_active:
        raise AccountDeactivated()
    return user


# ------------------------------------------------------------------------------------ profile
def update_profile(user: User, changes: dict) -> User:
    """Change name/phone/avatar. An explicit None clears phone or avatar."""
    if "phone" in changes:
        _ensure_phone_free(changes["phone"], except_user_id=user.id)
    for field in ("name", "phone", "avatar"):
        if field in changes:
            if field == "name" and changes[field] is None:
                continue
            setattr(user, field, changes[field])
    _flush_unique()
    return user


def change_password(user: User, *, current_password: str | None, new_password: str) -> None:
    """Set a new password (Google-only accounts may set a first one) and end every other session."""
    if user.password_hash:
        if not current_password:
            raise CurrentPasswordRequired()
        if not verify_password(current_password, user.password_hash):
            raise WrongCurrentPassword()
    set_password(user, new_password)


def set_password(user: User, new_password: str) -> None:
    """Store a new password hash and end every session (refresh tokens, access tokens, console/portal cookies)."""
    user.password_hash = hash_password(new_password, current_app.config["BCRYPT_ROUNDS"])
    logout_everywhere(user)


# ---------------------------------------------------------------------------- administration
def list_users(*, page: int, limit: int, search: str | None = None, role: str | None = None,
               is_active: bool | None = None) -> tuple[list[User], int]:
    query = select(User).where(User.deleted_at.is_(None))
    if search:
        # A substring search, like Prisma's `contains`: % and _ typed by the admin match themselves.
        literal = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{literal.lower()}%"
        query = query.where(or_(func.lower(User.name).like(pattern, escape="\\"),
                                User.email.like(pattern, escape="\\"),
                                User.phone.like(f"%{literal}%", escape="\\")))
    if role:
        query = query.where(User.role == Role(role))
    if is_active is not None:
        query = query.where(User.is_active.is_(is_active))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(
        query.order_by(User.created_at.desc(), User.id.desc()).offset((page - 1) * limit).limit(limit)
    ).scalars().all()
    return list(rows), total


def _active_admin_count() -> int:
    return db.session.execute(
        select(func.count()).select_from(User).where(User.role == Role.ADMINISTRATOR, User.is_active.is_(True),
                                                     User.deleted_at.is_(None))).scalar_one()


def _lock_user(user_id: str) -> User:
    user = db.session.execute(select(User).where(User.id == user_id)
                              .with_for_update(key_share=True)).scalar_one_or_none()
    if user is None or user.deleted_at is not None:
        raise UserNotFound()
    return user


def _guard_last_admin(target: User) -> None:
    """Refuse a change that would leave no active administrator (the count is taken under lock)."""
    if target.role == Role.ADMINISTRATOR and target.is_active:
        admins = db.session.execute(
            select(User.id).where(User.role == Role.ADMINISTRATOR, User.is_active.is_(True),
                                  User.deleted_at.is_(None)).with_for_update(key_share=True)).all()
        if len(admins) <= 1:
            raise LastAdministrator()


_AUDITED_FIELDS = ("name", "email", "phone", "role", "avatar", "is_active", "deleted_at")


def _snapshot(user: User) -> dict:
    return {field: getattr(user, field) for field in _AUDITED_FIELDS}


def _audit(actor: User, action: str, user: User, before: dict | None, *, source: str, reason: str | None) -> None:
    from ..audit.services import record

    record(actor=actor, action=action, target_type="user", target_id=user.id, before=before, after=_snapshot(user),
           reason=reason, source=source)


def admin_create_user(actor: User, *, source: str = "api", reason: str | None = None, **fields) -> User:
    """A-U1: any role, no welcome bonus, no session; audited."""
    user = create_user(**fields)
    _audit(actor, "user.create", user, None, source=source, reason=reason)
    return user


def admin_update_user(actor: User, user_id: str, changes: dict, *, source: str = "api",
                      reason: str | None = None) -> User:
    """Edit name/phone/role/avatar. Phone is checked first, like the original (409 before 404)."""
    if "phone" in changes:
        _ensure_phone_free(changes["phone"], except_user_id=user_id)
    user = _lock_user(user_id)
    before = _snapshot(user)
    if "role" in changes and changes["role"] is not None and Role(changes["role"]) != user.role:
        if user.id == actor.id:
            raise SelfModificationForbidden()
        if user.role == Role.ADMINISTRATOR:
            _guard_last_admin(user)
        user.role = Role(changes["role"])
        _bump_token_version(user)
    for field in ("name", "phone", "avatar"):
        if field in changes and not (field == "name" and changes[field] is None):
            setattr(user, field, changes[field])
    _flush_unique()
    _audit(actor, "user.update", user, before, source=source, reason=reason)
    return user


def set_user_active(actor: User, user_id: str, active: bool, *, source: str = "api", reason: str | None = None) -> User:
    user = _lock_user(user_id)
    before = _snapshot(user)
    if user.id == actor.id and not active:
        raise SelfModificationForbidden()
    if user.is_active and not active:
        _guard_last_admin(user)
        tokens.revoke_all_for_user(user.id)
        _bump_token_version(user)
    user.is_active = active
    db.session.flush()
    _audit(actor, "user.activate" if active else "user.deactivate", user, before, source=source, reason=reason)
    return user


def has_live_subscriptions(user_id: str) -> bool:
    from ..subscriptions.models import LIVE_STATUSES, Subscription

    return db.session.execute(select(Subscription.id).where(Subscription.user_id == user_id,
                                                            Subscription.status.in_(LIVE_STATUSES)).limit(1)).first() is not None


def delete_user(actor: User, user_id: str, *, source: str = "api", reason: str | None = None) -> None:
    """Soft delete: the ledger and tickets stay for the books; the person's data is anonymised."""
    user = _lock_user(user_id)
    before = _snapshot(user)
    if user.id == actor.id:
        raise SelfDeletionForbidden()
    if has_live_subscriptions(user.id):
        raise UserHasActiveSubscriptions()
    _guard_last_admin(user)
    tokens.revoke_all_for_user(user.id)
    user.is_active = False
    user.deleted_at = utcnow()
    user.name = "Deleted user"
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.phone = None
    user.avatar = None
    user.google_id = None
    user.password_hash = None
    _bump_token_version(user)
    db.session.flush()
    _audit(actor, "user.delete", user, before, source=source, reason=reason)
