"""Real commits from several connections: double-clicked creates, create vs cancel, cancel vs expire."""
import threading

from webapp.accounts.models import User
from webapp.billing.models import Transaction
from webapp.catalog.models import ServicePlan
from webapp.extensions import db
from webapp.subscriptions.models import Subscription, SubscriptionStatus

from .helpers import ladder


def _token(app, user_id):
    from webapp.accounts.tokens import issue_access_token, parse_duration

    with app.app_context():
        user = db.session.get(User, user_id)
        token = issue_access_token(user, secret=app.config["JWT_SECRET"], lifetime=parse_duration("15m"))
        db.session.remove()
        return token


def _run_parallel(app, calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, method, path, token, body):
        client = app.test_client()
        barrier.wait()
        response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, json=body)
        results[index] = (response.status_code, response.get_json()["message"])

    threads = [threading.Thread(target=worker, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_creates_for_one_service_one_wins(app, committing_db, make):
    plans = ladder(make)
    user = make.user(credit_balance=1_000_000)
    db.session.commit()
    user_id, service_id = user.id, plans.service.id
    token = _token(app, user_id)
    calls = [("POST", "/api/subscriptions", token, {"planId": plan.id})
             for plan in (plans.basic, plans.basic, plans.pro, plans.basic, plans.premium, plans.basic)]
    results = _run_parallel(app, calls)
    assert sorted(status for status, _ in results) == [201, 409, 409, 409, 409, 409], results
    assert {m for s, m in results if s == 409} == {"User already has an active subscription for this service"}
    db.session.expire_all()
    live = db.session.query(Subscription).filter_by(user_id=user_id, service_id=service_id).all()
    assert len(live) == 1
    charges = db.session.query(Transaction).filter_by(user_id=user_id).all()
    assert len(charges) == 1 and charges[0].subscription_id == live[0].id
    assert db.session.get(User, user_id).credit_balance == 1_000_000 - charges[0].amount
    assert sum(p.used_quota for p in db.session.query(ServicePlan).filter_by(service_id=service_id)) == 1


def test_concurrent_cancels_release_quota_once(app, committing_db, make):
    plans = ladder(make)
    user = make.user(credit_balance=1_000_000)
    db.session.commit()
    user_id, plan_id = user.id, plans.basic.id
    token = _token(app, user_id)
    client = app.test_client()
    created = client.post("/api/subscriptions", headers={"Authorization": f"Bearer {token}"}, json={"planId": plan_id})
    assert created.status_code == 201
    sub_id = created.get_json()["data"]["subscription"]["id"]
    results = _run_parallel(app, [("DELETE", f"/api/subscriptions/{sub_id}", token, None)] * 5)
    assert sorted(status for status, _ in results) == [200, 400, 400, 400, 400]
    assert {m for s, m in results if s == 400} == {"Subscription is already cancelled"}
    db.session.expire_all()
    assert db.session.get(ServicePlan, plan_id).used_quota == 0
    assert db.session.get(Subscription, sub_id).status == SubscriptionStatus.CANCELLED
