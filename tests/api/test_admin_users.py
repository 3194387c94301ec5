"""Admin user management A-U1..A-U6, with the [fix]es: self-protection, last admin, soft delete."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp.accounts import services as accounts
from webapp.accounts.errors import LastAdministrator
from webapp.accounts.models import RefreshToken, Role, User
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.db import utcnow
from webapp.extensions import db
from webapp.subscriptions.models import SubscriptionStatus

from ..conftest import assert_envelope
from . import ADMIN_USER_ROW, PASSWORD, USER_BASIC

PHONE_MESSAGE = "Phone number must be a valid Indonesian phone number"
SELF_CHANGE = "You cannot change your own role or status"
SELF_DELETE = "You cannot delete your own account"
DEACTIVATED = "Account is deactivated. Please contact administrator."
NEW_USER = {"name": "Made By Admin", "email": "Made@Example.com", "password": "secret1"}


def _login(api, email, password=PASSWORD):
    return api.post("/api/auth/login", json={"email": email, "password": password})


def _tx(user, n, amount=10_000, type_=TransactionType.TOP_UP):
    row = Transaction(custom_id=f"TXMP-{n}", user_id=user.id, type=type_, status=TransactionStatus.COMPLETED,
                      amount=amount, balance_before=0, balance_after=amount, description="test row",
                      completed_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row


# ------------------------------------------------------------------------------------------ A-U1
def test_create_user_honours_role_and_returns_user_basic(api, admin):
    from webapp.billing.coupon_models import Coupon, CouponType

    db.session.add(Coupon(code="HELLO99", name="Hello", type=CouponType.WELCOME_BONUS, credit_amount=9_900,
                          max_uses=10, created_by="test"))
    r = api.post("/api/admin/users", as_user=admin,
                 json={**NEW_USER, "role": "ADMINISTRATOR", "phone": "081233334444", "avatar": "https://a.example/x.png"})
    body = assert_envelope(r, 201, "User created successfully")
    assert set(body["data"]) == {"user"}  # no tokens
    user = body["data"]["user"]
    assert set(user) == USER_BASIC
    assert (user["email"], user["role"], user["phone"]) == ("made@example.com", "ADMINISTRATOR", "081233334444")
    stored = db.session.get(User, user["id"])
    assert stored.credit_balance == 0  # no welcome bonus for admin-created users
    token = assert_envelope(_login(api, "made@example.com", "secret1"), 200)["data"]["accessToken"]
    assert_envelope(api.get("/api/admin/users", token=token), 200, "Users retrieved successfully")


def test_create_user_defaults_to_customer(api, admin):
    body = assert_envelope(api.post("/api/admin/users", as_user=admin, json=NEW_USER), 201)
    assert body["data"]["user"]["role"] == "USER"


def test_create_user_conflicts(api, admin, make):
    make.user(email="made@example.com")
    make.user(email="phone@example.com", phone="081255556666")
    assert_envelope(api.post("/api/admin/users", as_user=admin, json=NEW_USER), 409,
                    "User with this email already exists")
    r = api.post("/api/admin/users", as_user=admin, json={**NEW_USER, "email": "fresh@example.com",
                                                          "phone": "081255556666"})
    assert_envelope(r, 409, "Phone number is already in use")
    assert db.session.execute(select(User).where(User.email == "fresh@example.com")).first() is None


@pytest.mark.parametrize("body, message", [
    ({"email": "a@example.com", "password": "secret1"}, "Name is required"),
    ({**NEW_USER, "name": "A"}, "Name must be at least 2 characters long"),
    ({**NEW_USER, "name": "A" * 51}, "Name must not exceed 50 characters"),
    ({"name": "Ann Lee", "password": "secret1"}, "Email is required"),
    ({**NEW_USER, "email": "bad"}, "Email must be a valid email address"),
    ({**NEW_USER, "phone": "+1234567898"}, PHONE_MESSAGE),
    ({"name": "Ann Lee", "email": "a@example.com"}, "Password is required"),
    ({**NEW_USER, "password": "12345"}, "Password must be at least 6 characters long"),
    ({**NEW_USER, "role": "MODERATOR"}, '"role" must be one of [USER, ADMINISTRATOR]'),
    ({**NEW_USER, "avatar": "nope"}, "Avatar must be a valid URL"),
    ({**NEW_USER, "isActive": False}, '"isActive" is not allowed'),
])
def test_create_user_validation(api, admin, body, message):
    assert_envelope(api.post("/api/admin/users", as_user=admin, json=body), 400, message)
    assert db.session.execute(select(User).where(User.email.in_(["a@example.com", "made@example.com"]))).first() is None


# ------------------------------------------------------------------------------------------ A-U2
def test_list_shape_pagination_and_counts(api, admin, customer, make):
    plan = make.plan()
    make.subscription(user=customer, plan=plan)
    make.subscription(user=customer, plan=make.plan(), status=SubscriptionStatus.CANCELLED)
    r = api.get("/api/admin/users?page=1&limit=10", as_user=admin)
    body = assert_envelope(r, 200, "Users retrieved successfully")
    assert set(body["data"]) == {"users", "pagination"}
    assert body["data"]["pagination"] == {"page": 1, "limit": 10, "totalCount": 2, "totalPages": 1}
    rows = {row["id"]: row for row in body["data"]["users"]}
    assert all(set(row) == ADMIN_USER_ROW for row in rows.values())
    assert rows[customer.id]["_count"] == {"subscriptions": 2}
    assert rows[admin.id]["_count"] == {"subscriptions": 0}
    # newest first
    assert [row["id"] for row in body["data"]["users"]] == [customer.id, admin.id]


def test_list_pages_with_coerced_query_values(api, admin, make):
    for i in range(4):
        make.user(email=f"bulk{i}@example.com")
    body = assert_envelope(api.get("/api/admin/users?page=2&limit=2", as_user=admin), 200)
    assert body["data"]["pagination"] == {"page": 2, "limit": 2, "totalCount": 5, "totalPages": 3}
    assert len(body["data"]["users"]) == 2
    body = assert_envelope(api.get("/api/admin/users?page=9&limit=2", as_user=admin), 200)
    assert body["data"]["users"] == []


def test_list_search_role_and_active_filters(api, admin, make):
    john = make.user(email="jdoe@example.com", name="John Doe")
    jane = make.user(email="jane@doe-family.example.com", name="Jane Smith", is_active=False)
    make.user(email="bob@example.com", name="Bob Johnson", role="ADMINISTRATOR")

    def ids(query):
        body = assert_envelope(api.get(f"/api/admin/users?{query}", as_user=admin), 200)
        return {row["id"] for row in body["data"]["users"]}

    assert ids("search=JOHN") == {john.id, db.session.execute(select(User.id).where(User.name == "Bob Johnson")).scalar()}
    assert ids("search=doe") == {john.id, jane.id}  # name or email
    assert ids("search=doe&role=USER") == {john.id, jane.id}
    assert ids("search=doe&isActive=false") == {jane.id}
    assert ids("isActive=true&role=USER") == {john.id}
    assert ids("role=ADMINISTRATOR&search=") == {admin.id, db.session.execute(
        select(User.id).where(User.name == "Bob Johnson")).scalar()}


def test_list_search_treats_wildcards_literally(api, admin, make):
    make.user(email="plain@example.com", name="Plain Name")
    body = assert_envelope(api.get("/api/admin/users?search=%25", as_user=admin), 200)
    assert body["data"]["users"] == []
    body = assert_envelope(api.get("/api/admin/users?search=_", as_user=admin), 200)
    assert body["data"]["users"] == []


def test_list_hides_deleted_users(api, admin, customer):
    accounts.delete_user(admin, customer.id)
    body = assert_envelope(api.get("/api/admin/users", as_user=admin), 200)
    assert [row["id"] for row in body["data"]["users"]] == [admin.id]


@pytest.mark.parametrize("query, message", [
    ("page=0", '"page" must be greater than or equal to 1'),
    ("page=abc", '"page" must be a number'),
    ("page=1.5", '"page" must be an integer'),
    ("limit=0", '"limit" must be greater than or equal to 1'),
    ("limit=101", '"limit" must be less than or equal to 100'),
    ("role=MODERATOR", '"role" must be one of [USER, ADMINISTRATOR]'),
    ("role=", '"role" must be one of [USER, ADMINISTRATOR]'),  # Joi checks valid() before emptiness
    ("isActive=maybe", '"isActive" must be a boolean'),
    ("sort=name", '"sort" is not allowed'),
])
def test_list_validation(api, admin, query, message):
    assert_envelope(api.get(f"/api/admin/users?{query}", as_user=admin), 400, message)


# ------------------------------------------------------------------------------------------ A-U3
def test_get_user(api, admin, customer):
    body = assert_envelope(api.get(f"/api/admin/users/{customer.id}", as_user=admin), 200, "User retrieved successfully")
    assert set(body["data"]) == {"user"} and set(body["data"]["user"]) == USER_BASIC
    assert body["data"]["user"]["id"] == customer.id
    assert_envelope(api.get("/api/admin/users/does-not-exist", as_user=admin), 404, "User not found")


# ------------------------------------------------------------------------------------------ A-U4
def test_update_user_fields(api, admin, make):
    user = make.user(email="edit@example.com", phone="081200001111", avatar="https://a.example/1.png")
    r = api.put(f"/api/admin/users/{user.id}", as_user=admin,
                json={"name": " Edited Name ", "avatar": None, "phone": "081200002222"})
    body = assert_envelope(r, 200, "User updated successfully")
    assert set(body["data"]["user"]) == USER_BASIC
    assert (body["data"]["user"]["name"], body["data"]["user"]["avatar"], body["data"]["user"]["phone"]) == (
        "Edited Name", None, "081200002222")
    assert_envelope(api.put(f"/api/admin/users/{user.id}", as_user=admin, json={}), 200, "User updated successfully")
    db.session.refresh(user)
    assert (user.name, user.avatar, user.phone) == ("Edited Name", None, "081200002222")


def test_update_user_phone_conflict_is_checked_before_existence(api, admin, make):
    make.user(email="holder@example.com", phone="081200003333")
    assert_envelope(api.put("/api/admin/users/nobody-here", as_user=admin, json={"phone": "081200003333"}), 409,
                    "Phone number is already in use")
    assert_envelope(api.put("/api/admin/users/nobody-here", as_user=admin, json={"name": "Someone"}), 404,
                    "User not found")


@pytest.mark.parametrize("body, message", [
    ({"phone": "+1234567891", "role": "MODERATOR"}, PHONE_MESSAGE),  # phone before role (manage-user.rest #10)
    ({"phone": "081234567891", "role": "MODERATOR"}, '"role" must be one of [USER, ADMINISTRATOR]'),
    ({"name": "A"}, "Name must be at least 2 characters long"),
    ({"avatar": "nope"}, "Avatar must be a valid URL"),
    ({"email": "x@example.com"}, '"email" is not allowed'),
    ({"password": "secret1"}, '"password" is not allowed'),
    ({"isActive": False}, '"isActive" is not allowed'),
])
def test_update_user_validation(api, admin, customer, body, message):
    assert_envelope(api.put(f"/api/admin/users/{customer.id}", as_user=admin, json=body), 400, message)
    db.session.refresh(customer)
    assert (customer.role, customer.phone, customer.name) == (Role.USER, None, "Cust Omer")


def test_role_change_takes_effect_at_once(api, admin, customer):
    old_token = api.token_for(customer)
    assert_envelope(api.get("/api/admin/users", token=old_token), 403, "Access denied. Insufficient permissions.")
    body = assert_envelope(api.put(f"/api/admin/users/{customer.id}", as_user=admin, json={"role": "ADMINISTRATOR"}), 200)
    assert body["data"]["user"]["role"] == "ADMINISTRATOR"
    # the customer's session predates the promotion: it ends; a fresh login has admin rights
    assert_envelope(api.get("/api/user/profile", token=old_token), 403, "Invalid or expired token")
    fresh = assert_envelope(_login(api, customer.email), 200)["data"]["accessToken"]
    assert_envelope(api.get("/api/admin/users", token=fresh), 200)
    # and demotion removes them again
    assert_envelope(api.put(f"/api/admin/users/{customer.id}", as_user=admin, json={"role": "USER"}), 200)
    assert_envelope(api.get("/api/admin/users", as_user=customer), 403, "Access denied. Insufficient permissions.")


def test_admin_cannot_demote_themselves(api, admin):
    assert_envelope(api.put(f"/api/admin/users/{admin.id}", as_user=admin, json={"role": "USER"}), 400, SELF_CHANGE)
    db.session.refresh(admin)
    assert admin.role == Role.ADMINISTRATOR
    # editing their own name (role unchanged) is fine
    body = assert_envelope(api.put(f"/api/admin/users/{admin.id}", as_user=admin,
                                   json={"name": "Boss Renamed", "role": "ADMINISTRATOR"}), 200)
    assert body["data"]["user"]["name"] == "Boss Renamed"


# ------------------------------------------------------------------------------------------ A-U6
def test_deactivate_and_activate(api, admin, customer):
    login = assert_envelope(_login(api, customer.email), 200)["data"]
    r = api.patch(f"/api/admin/users/{customer.id}/status", as_user=admin, json={"isActive": "false"})
    body = assert_envelope(r, 200, "User deactivated successfully")
    assert set(body["data"]["user"]) == USER_BASIC and body["data"]["user"]["isActive"] is False
    # sessions end: access token refused, refresh token revoked, password login says deactivated
    assert api.get("/api/user/profile", token=login["accessToken"]).status_code == 403
    assert api.post("/api/auth/refresh-token", json={"refreshToken": login["refreshToken"]}).status_code in (401, 403)
    assert db.session.execute(select(RefreshToken).where(RefreshToken.user_id == customer.id,
                                                         RefreshToken.revoked_at.is_(None))).first() is None
    assert_envelope(_login(api, customer.email), 403, DEACTIVATED)
    body = assert_envelope(api.patch(f"/api/admin/users/{customer.id}/status", as_user=admin, json={"isActive": True}),
                           200, "User activated successfully")
    assert body["data"]["user"]["isActive"] is True
    assert_envelope(_login(api, customer.email), 200)
    # idempotent
    assert_envelope(api.patch(f"/api/admin/users/{customer.id}/status", as_user=admin, json={"isActive": "true"}),
                    200, "User activated successfully")


@pytest.mark.parametrize("body, message", [
    ({}, "isActive is required"),
    ({"isActive": "maybe"}, "isActive must be a boolean value"),
    ({"isActive": 1}, "isActive must be a boolean value"),
    ({"isActive": None}, "isActive must be a boolean value"),
    ({"isActive": True, "role": "USER"}, '"role" is not allowed'),
])
def test_status_validation(api, admin, customer, body, message):
    assert_envelope(api.patch(f"/api/admin/users/{customer.id}/status", as_user=admin, json=body), 400, message)
    db.session.refresh(customer)
    assert customer.is_active is True


def test_status_unknown_user(api, admin):
    assert_envelope(api.patch("/api/admin/users/missing/status", as_user=admin, json={"isActive": False}), 404,
                    "User not found")


def test_admin_cannot_deactivate_themselves(api, admin):
    assert_envelope(api.patch(f"/api/admin/users/{admin.id}/status", as_user=admin, json={"isActive": False}), 400,
                    SELF_CHANGE)
    db.session.refresh(admin)
    assert admin.is_active is True
    assert_envelope(api.patch(f"/api/admin/users/{admin.id}/status", as_user=admin, json={"isActive": True}), 200,
                    "User activated successfully")


def test_deactivated_admin_is_refused_by_admin_guard(api, admin, make):
    other_admin = make.user(email="admin2@example.com", role="ADMINISTRATOR")
    token = api.token_for(other_admin)
    other_admin.is_active = False
    db.session.flush()
    assert_envelope(api.get("/api/admin/users", token=token), 403, DEACTIVATED)


def test_deactivating_another_admin(api, admin, make):
    other_admin = make.user(email="admin2@example.com", role="ADMINISTRATOR")
    assert_envelope(api.patch(f"/api/admin/users/{other_admin.id}/status", as_user=admin, json={"isActive": False}),
                    200, "User deactivated successfully")


# --------------------------------------------------------------------------- last active admin
def test_last_active_admin_cannot_be_deactivated_demoted_or_deleted(admin, make):
    """Unreachable over HTTP (the caller is an active admin too), so the rule is checked on the service."""
    other_admin = make.user(email="admin2@example.com", role="ADMINISTRATOR")
    admin.is_active = False  # the actor no longer counts: other_admin is the last active one
    db.session.flush()
    with pytest.raises(LastAdministrator):
        accounts.set_user_active(admin, other_admin.id, False)
    with pytest.raises(LastAdministrator):
        accounts.admin_update_user(admin, other_admin.id, {"role": "USER"})
    with pytest.raises(LastAdministrator):
        accounts.delete_user(admin, other_admin.id)
    db.session.refresh(other_admin)
    assert other_admin.is_active and other_admin.role == Role.ADMINISTRATOR and other_admin.deleted_at is None
    assert LastAdministrator().text == "At least one active administrator must remain"
    assert LastAdministrator.status == 400


# ------------------------------------------------------------------------------------------ A-U5
def test_delete_is_refused_while_an_active_subscription_exists(api, admin, customer, make):
    make.subscription(user=customer, plan=make.plan())
    assert_envelope(api.delete(f"/api/admin/users/{customer.id}", as_user=admin), 409, "User has active subscriptions")
    db.session.refresh(customer)
    assert customer.deleted_at is None and customer.is_active
    assert_envelope(api.get(f"/api/admin/users/{customer.id}", as_user=admin), 200)


def test_delete_soft_deletes_keeps_ledger_and_anonymises(api, admin, customer, make):
    plan = make.plan()
    make.subscription(user=customer, plan=plan, status=SubscriptionStatus.CANCELLED,
                      cancelled_at=utcnow() - timedelta(days=1))
    tx1, tx2 = _tx(customer, 901), _tx(customer, 902, type_=TransactionType.SUBSCRIPTION)
    customer.phone = "081277778888"
    db.session.flush()
    login = assert_envelope(_login(api, customer.email), 200)["data"]
    old_email = customer.email

    body = assert_envelope(api.delete(f"/api/admin/users/{customer.id}", as_user=admin), 200, "User deleted successfully")
    assert "data" not in body
    assert_envelope(api.get(f"/api/admin/users/{customer.id}", as_user=admin), 404, "User not found")
    assert_envelope(api.delete(f"/api/admin/users/{customer.id}", as_user=admin), 404, "User not found")
    assert_envelope(_login(api, old_email), 401, "Invalid email or password")
    assert api.get("/api/user/profile", token=login["accessToken"]).status_code == 403
    assert_envelope(api.post("/api/auth/refresh-token", json={"refreshToken": login["refreshToken"]}), 401,
                    "Invalid refresh token")

    stored = db.session.get(User, customer.id)
    assert stored is not None and stored.deleted_at is not None and stored.is_active is False
    assert stored.email != old_email and old_email not in stored.email
    assert stored.phone is None and stored.password_hash is None and stored.name != "Cust Omer"
    ledger = db.session.execute(select(Transaction.custom_id).where(Transaction.user_id == customer.id)).scalars().all()
    assert sorted(ledger) == ["TXMP-901", "TXMP-902"]
    # the email and phone are free again
    r = api.post("/api/auth/register", json={"email": old_email, "password": "secret1", "name": "Came Back",
                                             "phone": "081277778888"})
    assert_envelope(r, 201, "User registered successfully")


def test_admin_cannot_delete_themselves(api, admin):
    assert_envelope(api.delete(f"/api/admin/users/{admin.id}", as_user=admin), 400, SELF_DELETE)
    db.session.refresh(admin)
    assert admin.deleted_at is None


def test_delete_unknown_user(api, admin):
    assert_envelope(api.delete("/api/admin/users/no-such-user", as_user=admin), 404, "User not found")


# --------------------------------------------------------------------------------------- guards
ADMIN_ROUTES = [
    ("POST", "/api/admin/users", NEW_USER),
    ("GET", "/api/admin/users", None),
    ("GET", "/api/admin/users/{id}", None),
    ("PUT", "/api/admin/users/{id}", {"name": "Hacked Name"}),
    ("DELETE", "/api/admin/users/{id}", None),
    ("PATCH", "/api/admin/users/{id}/status", {"isActive": False}),
]


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES)
def test_admin_routes_refuse_customers_and_anonymous(api, customer, other_customer, method, path, body):
    path = path.format(id=other_customer.id)
    assert_envelope(api.call(method, path, json=body), 401, "Access token is required")
    assert_envelope(api.call(method, path, json=body, as_user=customer), 403, "Access denied. Insufficient permissions.")
    db.session.refresh(other_customer)
    assert other_customer.is_active and other_customer.deleted_at is None and other_customer.name == "Other Person"


def test_every_admin_user_write_records_an_audit_row(api, admin, make):
    from webapp.audit.models import AuditEntry
    from webapp.extensions import db

    target = make.user(email="audited@example.com")
    api.post("/api/admin/users", as_user=admin, json={"name": "New Person", "email": "newp@example.com",
                                                       "password": "secret1"})
    api.put(f"/api/admin/users/{target.id}", as_user=admin, json={"name": "Renamed"})
    api.patch(f"/api/admin/users/{target.id}/status", as_user=admin, json={"isActive": False})
    api.delete(f"/api/admin/users/{target.id}", as_user=admin)
    rows = db.session.query(AuditEntry).filter(AuditEntry.target_type == "user").order_by(AuditEntry.created_at).all()
    assert [r.action for r in rows] == ["user.create", "user.update", "user.deactivate", "user.delete"]
    update = rows[1]
    assert update.actor_id == admin.id and update.before["name"] != "Renamed" and update.after["name"] == "Renamed"
    assert all(r.source == "api" for r in rows) and "password_hash" not in update.after
