"""webapp.clock: UTC now, month math in the billing zone (Jakarta), period lengths, the IDR rounding rule."""
from datetime import datetime, timedelta, timezone

import pytest

from webapp import clock

from .helpers import freeze as freeze_time

UTC = timezone.utc


def jkt(y, m, d, hh=0, mm=0):
    """A Jakarta wall-clock time (UTC+7) as a UTC instant."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=7)


def test_now_is_aware_utc_and_follows_freezegun_and_frozen():
    assert clock.now().tzinfo is not None and clock.now().utcoffset() == timedelta(0)
    with freeze_time("2026-01-31T10:00:00Z"):
        assert clock.now() == datetime(2026, 1, 31, 10, tzinfo=UTC)
    with clock.frozen(datetime(2025, 5, 1, 12)):
        assert clock.now() == datetime(2025, 5, 1, 12, tzinfo=UTC)
    assert clock.now().year >= 2025


def test_billing_zone_comes_from_config(app):
    with app.app_context():
        assert str(clock.billing_zone()) == "Asia/Jakarta"
        app.config["BILLING_TIMEZONE"] = "UTC"
        try:
            assert str(clock.billing_zone()) == "UTC"
        finally:
            app.config["BILLING_TIMEZONE"] = "Asia/Jakarta"


@pytest.mark.parametrize("start, months, expected", [
    (jkt(2026, 1, 31, 9), 1, jkt(2026, 2, 28, 9)),       # clamped, not Mar 3
    (jkt(2028, 1, 31, 9), 1, jkt(2028, 2, 29, 9)),       # leap year
    (jkt(2026, 3, 31, 0, 30), 1, jkt(2026, 4, 30, 0, 30)),
    (jkt(2026, 12, 15), 1, jkt(2027, 1, 15)),            # year rollover
    (jkt(2026, 1, 15), 12, jkt(2027, 1, 15)),
    (jkt(2026, 3, 31), -1, jkt(2026, 2, 28)),            # backwards too
])
def test_add_months_clamps_month_end_in_jakarta(start, months, expected):
    assert clock.add_months(start, months) == expected


def test_add_months_uses_the_jakarta_date_not_the_utc_date():
    # 2026-01-30 17:30 UTC is Jan 31 00:30 in Jakarta: one month later is Feb 28 00:30 Jakarta
    # (Feb 27 17:30 UTC), where UTC month math would have said Feb 28 17:30 UTC.
    start = datetime(2026, 1, 30, 17, 30, tzinfo=UTC)
    assert clock.add_months(start, 1) == datetime(2026, 2, 27, 17, 30, tzinfo=UTC)
    # 2026-02-28 18:00 UTC = Mar 1 01:00 Jakarta -> Apr 1 01:00 Jakarta
    assert clock.add_months(datetime(2026, 2, 28, 18, tzinfo=UTC), 1) == jkt(2026, 4, 1, 1)
    assert clock.add_months(start, 1).tzinfo == UTC


def test_anchor_day_stops_drift():
    start = jkt(2026, 1, 31, 8)
    feb = clock.add_months(start, 1, anchor_day=31)
    mar = clock.add_months(feb, 1, anchor_day=31)
    assert (feb, mar) == (jkt(2026, 2, 28, 8), jkt(2026, 3, 31, 8))
    assert clock.add_months(feb, 1) == jkt(2026, 3, 28, 8)  # without the anchor it drifts
    with pytest.raises(ValueError):
        clock.add_months(start, 1, anchor_day=32)


def test_period_days_and_days_between():
    assert clock.period_days(jkt(2026, 1, 15), jkt(2026, 2, 15)) == 31
    assert clock.period_days(jkt(2026, 2, 15), jkt(2026, 3, 15)) == 28
    assert clock.period_days(jkt(2028, 2, 15), jkt(2028, 3, 15)) == 29
    assert clock.period_days(jkt(2026, 2, 15), jkt(2026, 2, 15)) == 1  # never 0
    assert clock.days_between(jkt(2026, 1, 1), jkt(2026, 1, 1, 0, 1)) == 1  # started days count
    assert clock.days_between(jkt(2026, 1, 2), jkt(2026, 1, 1)) == -1
    assert clock.days_until(None) is None
    with freeze_time("2026-03-01T00:00:00Z"):
        assert clock.days_until(datetime(2026, 3, 3, 12, tzinfo=UTC)) == 3


@pytest.mark.parametrize("amount, remaining, total, expected", [
    (100_000, 15, 30, 50_000),
    (50_000, 15, 31, 24_194),          # the spec's force-cancel example: 24,193.548 -> 24,194
    (1, 1, 2, 1),                      # exactly half rounds up
    (3, 1, 2, 2),                      # 1.5 -> 2
    (5, 1, 4, 1),                      # 1.25 -> 1
    (-100_000, 15, 30, -50_000),
    (-3, 1, 2, -2),                    # half away from zero: mirror of an upgrade cost
    (100_000, 40, 30, 100_000),        # remaining clamped to the period: never more than the amount
    (100_000, -3, 30, 0),              # past the end: nothing
    (100_000, 5, 0, 0),
])
def test_prorate_rounding_rule(amount, remaining, total, expected):
    assert clock.prorate(amount, remaining, total) == expected


def test_prorate_with_timedeltas_is_exact():
    assert clock.prorate(31_000, timedelta(days=15, hours=12), timedelta(days=31)) == 15_500
    assert clock.prorate(10, timedelta(hours=1), timedelta(hours=4)) == 3  # 2.5 -> 3
    with pytest.raises(TypeError):
        clock.prorate(1.5, 1, 2)


def test_upgrade_then_mirror_downgrade_nets_to_zero():
    for remaining in range(0, 32):
        assert clock.prorate(50_001, remaining, 31) + clock.prorate(-50_001, remaining, 31) == 0


def test_add_days_keeps_wall_clock():
    assert clock.add_days(jkt(2026, 2, 27, 10), 2) == jkt(2026, 3, 1, 10)
