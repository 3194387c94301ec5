"""Time for the billing code: "now", the billing calendar, month arithmetic and the IDR rounding rule.

- `now()` is the only clock the subscription and billing services read. It is timezone-aware UTC and
  follows freezegun; tests can also pin it with `frozen(dt)` without any library.
- Calendar math (adding months, "which day is it") happens in `BILLING_TIMEZONE` (default Asia/Jakarta),
  never in the server's local zone (spec §5 item 21); results are returned in UTC.
- Months clamp at month end (`relativedelta`): Jan 31 + 1 month = Feb 28 (29 in leap years), never
  Mar 3 like JS `setMonth`. Pass `anchor_day` to stop the drift of chained additions
  (Jan 31 -> Feb 28 -> Mar 31 instead of -> Mar 28).

THE ROUNDING RULE for every prorated IDR amount (upgrade costs, downgrade credits, force-cancel
refunds): `prorate(amount, remaining, total)` = amount x remaining / total, with remaining clamped to
[0, total], computed exactly (integers, no floats) and rounded **half away from zero to a whole
rupiah** (for the usual non-negative amounts: half up, like the original's `Math.round`). Charges
and refunds use the same rule, so an upgrade followed by the mirror downgrade nets to zero.
"""
from __future__ import annotations

import contextlib
import math
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

DEFAULT_BILLING_TIMEZONE = "Asia/Jakarta"
DAY = timedelta(days=1)

_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """The current instant, timezone-aware UTC (honours `frozen()`, `set_offset()` and freezegun)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(timezone.utc) + _offset


def set_offset(delta: timedelta) -> None:
    """Run the billing clock `delta` ahead of real time from now on, still ticking (the money soak moves months
    forward this way; `frozen()` would make every request of a round share one instant). Never in production."""
    global _offset
    _offset = delta


@contextlib.contextmanager
def frozen(at: datetime):
    """Pin `now()` to `at` (aware, or naive meaning UTC) inside the block; for tests."""
    global _frozen
    previous = _frozen
    _frozen = to_utc(at)
    try:
        yield _frozen
    finally:
        _frozen = previous


def to_utc(value: datetime) -> datetime:
    """Aware UTC; naive values are taken as UTC (SQLite hands those back)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def billing_zone() -> ZoneInfo:
    """The zone of billing dates: the app's BILLING_TIMEZONE, Asia/Jakarta outside an app context."""
    name = DEFAULT_BILLING_TIMEZONE
    try:
        from flask import current_app

        name = current_app.config.get("BILLING_TIMEZONE") or DEFAULT_BILLING_TIMEZONE
    except RuntimeError:  # no app context (scripts, unit tests of this module)
        pass
    return ZoneInfo(name)


def local(value: datetime) -> datetime:
    """`value` as wall-clock time in the billing zone."""
    return to_utc(value).astimezone(billing_zone())


def today() -> date:
    """Today's date in the billing zone."""
    return local(now()).date()


def add_months(value: datetime, months: int, *, anchor_day: int | None = None) -> datetime:
    """`value` + `months` calendar months in the billing zone, clamped to the month's last day; UTC out.

    `anchor_day` (1-31): land on that day of the target month when it exists, else on its last day.
    Renewals pass the subscription's original day so a Jan 31 start renews Feb 28/29, Mar 31, Apr 30...
    """
    moved = local(value) + relativedelta(months=months)
    if anchor_day is not None:
        if not 1 <= anchor_day <= 31:
            raise ValueError("anchor_day must be within 1..31")
        moved = moved + relativedelta(day=anchor_day)  # relativedelta(day=) clamps to the month's end
    # Re-attach the zone for the new date (no-op for Jakarta, correct for zones with DST).
    moved = moved.replace(tzinfo=None).replace(tzinfo=billing_zone())
    return moved.astimezone(timezone.utc)


def add_days(value: datetime, days: int) -> datetime:
    """`value` + `days` calendar days in the billing zone (same wall-clock time); UTC out."""
    moved = (local(value) + timedelta(days=days)).replace(tzinfo=None).replace(tzinfo=billing_zone())
    return moved.astimezone(timezone.utc)


def days_between(start: datetime, end: datetime) -> int:
    """ceil((end - start) / 1 day), the original's day count; negative when end is before start."""
    return math.ceil((to_utc(end) - to_utc(start)) / DAY)


def days_until(moment: datetime | None, *, at: datetime | None = None) -> int | None:
    """Whole days from now (or `at`) until `moment`, rounded up; None for None."""
    if moment is None:
        return None
    return days_between(at or now(), moment)


def period_days(start: datetime, end: datetime) -> int:
    """Length of a billing period in days (at least 1): Jan 15 -> Feb 15 is 31, Feb 15 -> Mar 15 is 28/29."""
    return max(1, days_between(start, end))


def prorate(amount: int, remaining, total) -> int:
    """amount x remaining / total in whole IDR (see THE ROUNDING RULE above).

    `remaining` and `total` are both day counts (ints) or both timedeltas. `remaining` is clamped to
    [0, total], so a prorated amount never exceeds `amount` nor changes its sign. total <= 0 gives 0.
    """
    if isinstance(remaining, timedelta) or isinstance(total, timedelta):
        remaining = _microseconds(remaining)
        total = _microseconds(total)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount must be a whole number of IDR")
    if total <= 0:
        return 0
    remaining = min(max(remaining, 0), total)
    magnitude = abs(amount)
    numerator = magnitude * remaining
    # round half up on the magnitude: floor(n/d + 1/2) = (2n + d) // 2d, exact for integers.
    if isinstance(numerator, int) and isinstance(total, int):
        rounded = (2 * numerator + total) // (2 * total)
    else:  # fractional day counts: exact via Fraction
        from fractions import Fraction

        value = Fraction(numerator) / Fraction(total)
        rounded = math.floor(value + Fraction(1, 2))
    return rounded if amount >= 0 else -rounded


def _microseconds(value) -> int:
    if isinstance(value, timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    raise TypeError("remaining and total must both be timedeltas or both numbers")
