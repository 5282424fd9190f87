"""One number format for tiles, hover texts, legends, tables and the report.

Every number the dashboard prints goes through :func:`format_number`, so a tile, its hover and
the report never disagree ("1060" against "1065"). The rule: ``digits`` significant digits, but
never fewer than the integer digits (1065.4 -> "1065", 20.64 -> "20.6", 0.06249 -> "0.0625"),
rounded half away from zero, trailing zeros dropped, no exponent between 1e-4 and 1e15, no SI
prefix ever, and never "-0" (a value that rounds to zero prints "0").

Plotly formats axis ticks itself; error axes and colour bars get :data:`ERROR_AXIS` so they show
plain decimals ("30", "0.00003") instead of SI prefixes ("31μ").
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

#: plotly axis / colour-bar settings for error values: plain decimals, no SI prefixes
ERROR_AXIS: dict[str, Any] = {"tickformat": "~r", "exponentformat": "none"}
NOT_AVAILABLE = "n/a"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _round(value: float, decimals: int) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def format_number(value: Any, *, digits: int = 3, unit: str | None = None) -> str:
    """``value`` as text with ``digits`` significant digits (integer digits always kept) and ``unit``.

    Args:
        value: a number (None, NaN and infinities give "n/a").
        digits: significant digits (at least 1).
        unit: appended after a space, e.g. 'meV/Å'.

    Returns:
        e.g. '1065', '20.6', '0.0625', '0', '1.23×10⁻⁵ meV/atom', 'n/a'.
    """
    if digits < 1:
        raise ValueError(f"{digits=} must be at least 1")
    try:
        v = float(value)
    except (TypeError, ValueError):
        return NOT_AVAILABLE
    if not math.isfinite(v):
        return NOT_AVAILABLE
    text = _plain(v, digits)
    return f"{text} {unit}" if unit else text


def _plain(v: float, digits: int) -> str:
    if v == 0:
        return "0"
    exponent = math.floor(math.log10(abs(v)))
    if exponent < -4 or exponent >= 15:
        mantissa = _plain(v / 10.0**exponent, digits)
        if mantissa in ("10", "-10"):  # 9.999e-5 rounds up a decade
            mantissa, exponent = mantissa[:-1], exponent + 1
        return f"{mantissa}×10{str(exponent).translate(_SUPERSCRIPT)}"
    decimals = max(digits - 1 - exponent, 0)
    rounded = _round(v, decimals)
    if rounded != 0 and decimals > 0 and math.floor(math.log10(abs(float(rounded)))) > exponent:
        decimals -= 1  # 9.996 -> 10.0, not 10.00
        rounded = _round(v, decimals)
    if rounded == 0:
        return "0"
    text = f"{rounded:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


def format_cell(value: Any, *, digits: int = 3) -> Any:
    """A table cell: floats through :func:`format_number` (NaN -> 'n/a'), anything else unchanged."""
    if isinstance(value, float):
        return format_number(value, digits=digits)
    return value
