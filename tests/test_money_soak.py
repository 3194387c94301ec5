"""The money soak in small (the driver is bench/soak.py's `run_soak`, same code path as the benchmark).

A dozen customers, ~10 s of concurrent traffic over two billing months: top-ups through the Midtrans simulator with
repeated, out-of-order and forged notifications, coupon races, subscribe/upgrade/downgrade/cancel, admin refunds and
force-cancels; two renewal passes at once on two real worker processes, a worker SIGKILLed mid-job. Then every
invariant of webapp/reporting/invariants.py must hold and no request may have failed with a 5xx.

Needs PostgreSQL (the soak creates its own database, `SOAK_DATABASE` or `poddesk_soak`, on the test server) and
Redis (the test Redis database, flushed). In CI a missing service fails the run (conftest).
"""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.slow


def test_money_soak_keeps_every_invariant(app, committing_db):
    from bench.soak import run_soak

    result = run_soak(users=12, duration=10, rounds=2, concurrency=6, workers=2, kills_per_round=1, seed=7,
                      database=os.environ.get("SOAK_DATABASE", "poddesk_soak"),
                      base_url=app.config["SQLALCHEMY_DATABASE_URI"], redis_url=app.config["REDIS_URL"],
                      log=lambda line: None)
    report = result.report()
    print(report)

    assert result.invariants, report
    for name, violations in result.invariants.items():
        assert violations == [], f"{name}: {violations}\n{report}"  # None would mean "skipped": not acceptable here
    for name, violations in result.checks.items():
        assert violations == [], f"{name}: {violations}\n{report}"
    assert result.http_5xx == [] and result.errors == [], report
    assert result.exit_code == 0, report
    # It really exercised what it claims to.
    kinds = {kind for (kind, outcome), count in result.operations.items() if outcome == "2xx" and count}
    assert {"topup_settle", "webhook_forged", "webhook_out_of_order", "subscribe", "coupon_race"} <= kinds, report
    assert any("renewals" in p and "finished" in p for p in result.passes), report
    assert result.recovery.get("quiet") is True, report
