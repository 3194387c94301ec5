"""Welcome bonus: credited inside the registration transaction (password and Google sign-up), once per coupon
and user, and shown in the register response (spec accounts §3.6 [fix], wallet §3.7)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from simulators.oidc import OIDCSimulator
from webapp.accounts.models import User
from webapp.billing.coupon_models import Coupon, CouponRedemption, CouponStatus, CouponType
from webapp.billing.ledger import ledger_sum
from webapp.billing.models import Transaction, TransactionType
from webapp.billing.welcome import apply_welcome_bonuses
from webapp.db import utcnow
from webapp.extensions import db

from ..billing.test_coupons import make_coupon
from ..conftest import assert_envelope

REGISTER = {"email": "Welcome.Me@Example.com", "password": "secret1", "name": "Welcome Me"}


def welcome(code, amount, **kw):
    return make_coupon(code, type=CouponType.WELCOME_BONUS, credit_amount=amount, **kw)


def _register(api, **overrides):
    return api.post("/api/auth/register", json={**REGISTER, **overrides})


def test_register_credits_every_eligible_welcome_coupon_and_returns_the_balance(api):
    welcome("WELCOME2025", 20_000, max_uses=1000, valid_until=utcnow() + timedelta(days=365))
    welcome("NEWUSER5K", 5_000, max_uses=500)
    welcome("OLDBONUS", 7_000, valid_until=utcnow() - timedelta(days=1))
    welcome("DISABLED_WELCOME", 10_000, status=CouponStatus.DISABLED)
    welcome("LATER", 9_000, valid_from=utcnow() + timedelta(days=1))
    welcome("NOMORE", 3_000, max_uses=1, used_count=1, status=CouponStatus.USED_UP)
    make_coupon("TOPUP", credit_amount=1_000)  # not a welcome coupon
    body = assert_envelope(_register(api), 201, "User registered successfully")
    user = body["data"]["user"]
    assert (user["creditBalance"], user["totalTopUp"], user["totalSpent"]) == (25_000, 25_000, 0)
    rows = db.session.execute(select(Transaction).where(Transaction.user_id == user["id"])
                              .order_by(Transaction.custom_id)).scalars().all()
    assert sorted(r.description for r in rows) == ["Welcome bonus:  20,000 IDR credit",
                                                   "Welcome bonus:  5,000 IDR credit"]
    assert {r.type for r in rows} == {TransactionType.COUPON_REDEMPTION}
    assert all(r.idempotency_key == f"welcome:{r.metadata_['couponId']}:{user['id']}" for r in rows)
    redemptions = db.session.execute(select(CouponRedemption).where(CouponRedemption.user_id == user["id"])).scalars().all()
    assert {r.metadata_["redemptionContext"] for r in redemptions} == {"welcome_bonus"}
    assert ledger_sum(user["id"]) == 25_000
    # the wallet API sees the same
    history = api.get("/api/wallet/coupon-history", token=body["data"]["accessToken"]).get_json()["data"]
    assert history["pagination"]["totalCount"] == 2


def test_max_uses_one_goes_to_the_first_user_only(api):
    welcome("WELCOME2025", 20_000, max_uses=1000)
    single = welcome("NEWUSER5K", 5_000, max_uses=1)
    first = assert_envelope(_register(api), 201)["data"]["user"]
    second = assert_envelope(_register(api, email="second@example.com"), 201)["data"]["user"]
    assert (first["creditBalance"], second["creditBalance"]) == (25_000, 20_000)
    db.session.refresh(single)
    assert (single.used_count, single.status) == (1, CouponStatus.USED_UP)


def test_no_welcome_coupons_means_zero_balance(api):
    body = assert_envelope(_register(api), 201)
    assert body["data"]["user"]["creditBalance"] == 0


def test_failed_registration_leaves_no_bonus(api, customer):
    coupon = welcome("WELCOME2025", 20_000)
    assert_envelope(_register(api, email=customer.email), 409, "User with this email already exists")
    db.session.refresh(coupon)
    assert coupon.used_count == 0
    assert db.session.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 0


def test_apply_welcome_bonuses_is_idempotent_per_coupon_and_user(make):
    user = make.user()
    welcome("WELCOME2025", 20_000)
    assert [r.credit_amount for r in apply_welcome_bonuses(user)] == [20_000]
    assert apply_welcome_bonuses(user) == []
    welcome("ANOTHER", 1_000)  # a coupon created later is applied, the first one not again
    assert [r.credit_amount for r in apply_welcome_bonuses(user)] == [1_000]
    db.session.refresh(user)
    assert user.credit_balance == 21_000 == ledger_sum(user.id)


def test_concurrent_sign_ups_share_a_single_use_bonus_exactly_once(app, committing_db):
    from webapp.accounts import services as accounts

    welcome("ONLYONE", 50_000, max_uses=1)
    db.session.commit()
    barrier = threading.Barrier(4)
    errors = []

    def sign_up(n):
        with app.app_context():
            try:
                barrier.wait()
                accounts.register(name=f"Racer {n}", email=f"racer{n}@example.com", password="secret1")
                db.session.commit()
            except Exception as exc:  # noqa: BLE001
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.session.expire_all()
    balances = sorted(db.session.execute(select(User.credit_balance).where(User.email.like("racer%"))).scalars())
    assert balances == [0, 0, 0, 50_000]
    assert db.session.execute(select(Coupon.used_count).where(Coupon.code == "ONLYONE")).scalar_one() == 1


# --------------------------------------------------------------------------------------------- Google sign-up
@pytest.fixture(scope="module")
def sim():
    with OIDCSimulator() as simulator:
        yield simulator


@pytest.fixture
def google(app, sim, monkeypatch):
    monkeypatch.setitem(app.config, "GOOGLE_CLIENT_ID", sim.default_client_id)
    monkeypatch.setitem(app.config, "GOOGLE_ISSUERS", (sim.issuer,))
    monkeypatch.setitem(app.config, "GOOGLE_JWKS_URL", sim.url + "/oauth2/v3/certs")
    return sim


def test_google_sign_up_gets_the_bonus_once(api, google):
    welcome("WELCOME2025", 20_000)
    welcome("NEWUSER5K", 5_000)
    token = google.mint_id_token("googler@example.com", sub="sub-googler", email_verified=True)
    r = api.post("/api/auth/google/login", json={"idToken": token})
    assert r.status_code == 200, r.get_json()
    user = r.get_json()["data"]["user"]
    assert (user["creditBalance"], user["totalTopUp"]) == (25_000, 25_000)
    # logging in again (existing Google user) credits nothing more
    r = api.post("/api/auth/google/login", json={"idToken": token})
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user["id"]).credit_balance == 25_000


def test_demo_seed_coupons_are_current_idempotent_and_welcome_new_accounts(api):
    from webapp.demo import seed_demo

    assert seed_demo()["coupons"] == 13
    assert seed_demo()["coupons"] == 0
    assert db.session.execute(select(Coupon.status).where(Coupon.code == "DISABLED_WELCOME")).scalar_one() == \
        CouponStatus.DISABLED
    n8n_pro = db.session.execute(select(Coupon).where(Coupon.code == "N8NSAVE30")).scalar_one()
    assert n8n_pro.service.slug == "n8n-automation" and n8n_pro.plan_type.value == "PRO"
    body = assert_envelope(_register(api), 201)
    assert body["data"]["user"]["creditBalance"] == 25_000  # WELCOME2025 + NEWUSER5K, as the .rest expects
    r = api.post("/api/wallet/validate-coupon", token=body["data"]["accessToken"],
                 json={"couponCode": "save20", "subscriptionAmount": 100_000})
    assert assert_envelope(r, 200, "Coupon is valid")["data"]["validation"]["coupon"]["potentialValue"] == 20_000
