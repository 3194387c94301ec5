"""Kubernetes resource quantities (`250m`, `64Mi`, `1.5Gi`, `2e3`, `123456n`) <-> numbers, and formatting
in the shapes metrics-server uses (`<nanocores>n`, `<kibibytes>Ki`)."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIX = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_RE = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[numkMGTPE]i?|Ki)?$")


def parse_quantity(q) -> Decimal:
    """Value in base units (cores, bytes).  Raises ValueError for malformed input."""
    if isinstance(q, (int, float)):
        return Decimal(str(q))
    s = str(q).strip()
    m = _RE.match(s)
    if not m:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got {q!r})")
    num, suf = m.group(1), m.group(2) or ""
    try:
        base = Decimal(num)
    except InvalidOperation:
        raise ValueError(f"invalid quantity {q!r}") from None
    if suf[:1] in ("e", "E"):
        return base * (Decimal(10) ** int(suf[1:]))
    if suf not in _SUFFIX:
        raise ValueError(f"invalid quantity suffix {suf!r}")
    return base * _SUFFIX[suf]


def cpu_nanos(q, default: int = 0) -> int:
    try:
        return int(parse_quantity(q) * Decimal(10) ** 9) if q is not None else default
    except ValueError:
        return default


def mem_bytes(q, default: int = 0) -> int:
    try:
        return int(parse_quantity(q)) if q is not None else default
    except ValueError:
        return default


def fmt_nanocores(n: int) -> str:
    return f"{max(0, int(n))}n"


def fmt_kib(b: int) -> str:
    return f"{max(0, int(b)) // 1024}Ki"
