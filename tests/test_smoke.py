from .conftest import assert_envelope


def test_health(client):
    body = client.get("/api/health").get_json()
    assert body["success"] is True and body["message"] == "API is running"


def test_register_login_profile(api):
    r = api.post("/api/auth/register", json={"email": "New@Example.com ", "password": "secret1", "name": "New User"})
    body = assert_envelope(r, 201, "User registered successfully")
    assert body["data"]["user"]["email"] == "new@example.com"
    r = api.post("/api/auth/login", json={"email": "new@example.com", "password": "secret1"})
    body = assert_envelope(r, 200, "Login successful")
    r = api.get("/api/auth/profile", token=body["data"]["accessToken"])
    assert_envelope(r, 200, "Profile retrieved successfully")


def test_cli_seed_demo_is_idempotent_and_users_commands_use_the_services(app, make):
    from webapp.accounts.models import User
    from webapp.catalog.models import ServicePlan
    from webapp.extensions import db

    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    counts = (db.session.query(User).count(), db.session.query(ServicePlan).count())
    second = runner.invoke(args=["seed-demo"])
    assert "0 users created, 0 categories created, 0 services created, 0 plans created" in second.output
    assert (db.session.query(User).count(), db.session.query(ServicePlan).count()) == counts
    from webapp.billing.ledger import ledger_sum

    admin = db.session.query(User).filter_by(email="admin@minispod.com").one()
    assert admin.credit_balance == 1_000_000 == ledger_sum(admin.id)
    plans = {p.name: p for p in db.session.query(ServicePlan)}
    assert len(plans) == 7 and plans["Pro"].monthly_price == 150_000 and float(plans["Basic DB"].storage_gb) == 0.25

    out = runner.invoke(args=["users", "set-active", "user1@minispod.com", "off", "--as", "admin@minispod.com"])
    assert out.exit_code == 0 and "deactivated" in out.output
    refused = runner.invoke(args=["users", "set-active", "admin@minispod.com", "off", "--as", "admin@minispod.com"])
    assert refused.exit_code != 0 and "You cannot change your own role or status" in refused.output
    listing = runner.invoke(args=["users", "list", "--search", "minispod"])
    assert "user1@minispod.com" in listing.output and "inactive" in listing.output


def test_ids_are_cuid_shaped_and_sort_in_creation_order():
    from webapp.db import new_id

    ids = [new_id() for _ in range(500)]
    assert all(len(i) == 25 and i.isalnum() and i == i.lower() and i[0] == "c" for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 500
