"""Kubernetes resource quantities (fix 24): every suffix, exponent form, exact with Decimal.

`parse_quantity("250m") == Decimal("0.25")`, `parse_quantity("64Mi") == 67108864`; CPU and memory helpers give the
output shapes of the original API (K1/K5 `usage`, health metrics).

A pod list of 5,000 pods means ~20,000 quantities per page view. Two things keep that cheap without giving up
exactness: parsed strings are memoised (requests and limits repeat: "250m", "256Mi"), and usage figures in the
forms metrics-server writes (an integer with a suffix: "123456n", "51200Ki") are computed in integers, which
gives the same numbers as the Decimal path (tests compare the two).
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

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
    return _parse_text(value)


@lru_cache(maxsize=8192)
def _parse_text(value: str) -> Decimal:  # Decimals are immutable: sharing one is safe
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


# Integer quantities whose suffix is a whole number of the unit counted in: nanocores for CPU, bytes for memory.
_WHOLE = re.compile(r"^(\d+)(n|u|m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_NANOCORES = {"n": 1, "u": 10 ** 3, "m": 10 ** 6, None: 10 ** 9, "k": 10 ** 12, "M": 10 ** 15, "G": 10 ** 18,
              "T": 10 ** 21}
_BYTES = {None: 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "Ki": 2 ** 10, "Mi": 2 ** 20,
          "Gi": 2 ** 30, "Ti": 2 ** 40}


def _whole(raw, units: dict) -> int | None:
    """`raw` as a whole number of units when it is a plain non-negative integer with such a suffix, else None."""
    match = _WHOLE.match(raw) if isinstance(raw, str) else None
    if match is None or match.group(2) not in units:
        return None
    return int(match.group(1)) * units[match.group(2)]


def _ratio_half_up(numerator: int, denominator: int, places: int) -> float:
    """round(numerator / denominator, places) with halves rounded up (the Decimal path's rule), for values >= 0."""
    scale = 10 ** places
    return ((numerator * scale * 2 + denominator) // (denominator * 2)) / scale


def cpu_usage(raw, *, core_places: int = 2) -> dict:
    """{raw, millicores, cores} of a CPU quantity (K1/K5 shape)."""
    nanocores = _whole(raw, _NANOCORES)
    if nanocores is not None:
        return {"raw": raw, "millicores": (nanocores * 2 + 10 ** 6) // (2 * 10 ** 6),
                "cores": _ratio_half_up(nanocores, 10 ** 9, core_places)}
    cores = safe_quantity(raw)
    return {"raw": raw, "millicores": int((cores * 1000).to_integral_value(rounding=ROUND_HALF_UP)),
            "cores": _round(cores, core_places)}


def memory_usage(raw, *, gb_places: int = 2) -> dict:
    """{raw, bytes, megabytes, gigabytes} of a memory quantity (binary MB/GB, as the original)."""
    size = _whole(raw, _BYTES)
    if size is not None:
        return {"raw": raw, "bytes": size, "megabytes": _ratio_half_up(size, 2 ** 20, 2),
                "gigabytes": _ratio_half_up(size, 2 ** 30, gb_places)}
    value = safe_quantity(raw)
    return {"raw": raw, "bytes": int(value), "megabytes": _round(value / 2 ** 20, 2),
            "gigabytes": _round(value / 2 ** 30, gb_places)}


def millicores(value) -> int:
    """cpu_usage(value)["millicores"]."""
    nanocores = _whole(value, _NANOCORES)
    if nanocores is not None:
        return (nanocores * 2 + 10 ** 6) // (2 * 10 ** 6)
    return int((safe_quantity(value) * 1000).to_integral_value(rounding=ROUND_HALF_UP))


def mebibytes(value) -> float:
    """memory_usage(value)["megabytes"]."""
    size = _whole(value, _BYTES)
    if size is not None:
        return _ratio_half_up(size, 2 ** 20, 2)
    return _round(safe_quantity(value) / 2 ** 20, 2)
