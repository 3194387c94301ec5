"""Kubernetes resource quantities (fix 24): every suffix, exponent form, exact with Decimal.

`parse_quantity("250m") == Decimal("0.25")`, `parse_quantity("64Mi") == 67108864`; CPU and memory helpers give the
output shapes of the original API (K1/K5 `usage`, health metrics).
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")


def parse_quantity(value) -> Decimal:
    """A quantity string (or number) as a Decimal in base units (cores, bytes); ValueError when malformed."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise ValueError(f"not a quantity: {value!r}")
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    number, exponent, suffix = match.groups()
    try:
        result = Decimal(number)
        if exponent:
            result = result.scaleb(int(exponent[1:]))
        return result * _SUFFIXES[suffix or ""]
    except InvalidOperation:  # pragma: no cover - the regex admits only valid numbers
        raise ValueError(f"not a quantity: {value!r}") from None


def safe_quantity(value, default: Decimal = Decimal(0)) -> Decimal:
    try:
        return parse_quantity(value)
    except ValueError:
        return default


def _round(value: Decimal, places: int) -> float:
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def cpu_usage(raw, *, core_places: int = 2) -> dict:
    """{raw, millicores, cores} of a CPU quantity (K1/K5 shape)."""
    cores = safe_quantity(raw)
    return {"raw": raw, "millicores": int((cores * 1000).to_integral_value(rounding=ROUND_HALF_UP)),
            "cores": _round(cores, core_places)}


def memory_usage(raw, *, gb_places: int = 2) -> dict:
    """{raw, bytes, megabytes, gigabytes} of a memory quantity (binary MB/GB, as the original)."""
    value = safe_quantity(raw)
    return {"raw": raw, "bytes": int(value), "megabytes": _round(value / 2 ** 20, 2),
            "gigabytes": _round(value / 2 ** 30, gb_places)}


def millicores(value) -> int:
    return int((safe_quantity(value) * 1000).to_integral_value(rounding=ROUND_HALF_UP))


def mebibytes(value) -> float:
    return _round(safe_quantity(value) / 2 ** 20, 2)
