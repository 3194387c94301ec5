"""Shared test data for the subscription API tests: one service with a ladder of plans."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from webapp.catalog.models import ServicePlan
from webapp.extensions import db

MISSING_ID = "clnonexistentsubscription"  # alphanumeric, 25 chars: passes id validation, exists nowhere


@dataclass
class Ladder:
    service: object
    free: object
    basic: object
    pro: object
    premium: object


def ladder(make, **service_kw) -> Ladder:
    service = make.service(**service_kw)
    return Ladder(service=service,
                  free=make.plan(service=service, plan_type="FREE", monthly_price=0, cpu_milli=250, memory_mb=256),
                  basic=make.plan(service=service, plan_type="BASIC", monthly_price=50_000),
                  pro=make.plan(service=service, plan_type="PRO", monthly_price=150_000, cpu_milli=1000,
                                memory_mb=1024),
                  premium=make.plan(service=service, plan_type="PREMIUM", monthly_price=300_000, cpu_milli=2000,
                                    memory_mb=2048))


def used(plan) -> int:
    return db.session.execute(select(ServicePlan.used_quota).where(ServicePlan.id == plan.id)).scalar_one()


def balance(user) -> int:
    db.session.refresh(user)
    return user.credit_balance


def freeze(when):
    """freezegun's freeze_time, skipping the kubernetes client (its lazy model imports break under a fake datetime)."""
    from freezegun import freeze_time

    return freeze_time(when, ignore=["kubernetes"])


def concurrent_renewal_passes(app, when, *, batch_size: int, passes: int = 2) -> tuple[list[dict], list[Exception]]:
    """`passes` renewal passes at once, each in its own thread and session, at billing time `when`:
    (their results, the exceptions they raised)."""
    import threading

    from webapp import clock
    from webapp.subscriptions import renewals

    results, errors = [], []

    def one_pass():
        with app.app_context():
            try:
                results.append(renewals.process_renewals(batch_size=batch_size))
            except Exception as exc:  # noqa: BLE001 - returned to the test
                errors.append(exc)
            finally:
                db.session.remove()

    with clock.frozen(when):
        threads = [threading.Thread(target=one_pass) for _ in range(passes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return results, errors
