"""The Metal-43 table (Supplementary Table 1) and periodic-table positions for any element.

Example:
    >>> from analysis.core import elements
    >>> elements.row("Al").space_group
    'Fm-3m'
    >>> elements.temperatures("K")
    [300.0, 403.0]
    >>> elements.ptable_position("Fe")
    (4, 8)
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache

from ase.data import atomic_numbers, chemical_symbols

from analysis.core.config import PACKAGE_DATA_DIR

TEMPERATURE_LABELS: tuple[str, ...] = ("300 K", "0.5 Tc", "Tc", "1.2 Tc")
_TEMPERATURE_COLUMNS: tuple[str, ...] = ("t_300k", "t_half_tc", "t_tc", "t_1p2_tc")


@dataclass(frozen=True)
class ElementRow:
    """One row of the Metal-43 table.

    Attributes:
        symbol: chemical symbol.
        mp_id: Materials Project id of the initial structure (None where the source gives none).
        space_group: Hermann-Mauguin symbol (as corrected in the transcription notes).
        t_300k, t_half_tc, t_tc, t_1p2_tc: AIMD temperatures in K (None where no run exists).
        potcar: the VASP PAW potential used in the source.
        note: transcription notes on the source's typos.
    """

    symbol: str
    mp_id: str | None
    space_group: str
    t_300k: float | None
    t_half_tc: float | None
    t_tc: float | None
    t_1p2_tc: float | None
    potcar: str
    note: str

    @property
    def temperatures(self) -> list[float]:
        """The listed AIMD temperatures in K, in table order (300 K, 0.5 Tc, Tc, 1.2 Tc), gaps dropped."""
        return [t for t in (self.t_300k, self.t_half_tc, self.t_tc, self.t_1p2_tc) if t is not None]

    @property
    def temperature_labels(self) -> dict[float, str]:
        """Map from temperature (K) to its label in the table ('300 K', '0.5 Tc', ...)."""
        values = (self.t_300k, self.t_half_tc, self.t_tc, self.t_1p2_tc)
        return {t: lab for t, lab in zip(values, TEMPERATURE_LABELS) if t is not None}


def _opt_float(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


@lru_cache(maxsize=1)
def _table() -> dict[str, ElementRow]:
    rows: dict[str, ElementRow] = {}
    with open(PACKAGE_DATA_DIR / "metal43.csv", newline="") as handle:
        for rec in csv.DictReader(handle):
            rows[rec["element"]] = ElementRow(
                symbol=rec["element"],
                mp_id=rec["mp_id"].strip() or None,
                space_group=rec["space_group"].strip(),
                t_300k=_opt_float(rec["t_300k"]),
                t_half_tc=_opt_float(rec["t_half_tc"]),
                t_tc=_opt_float(rec["t_tc"]),
                t_1p2_tc=_opt_float(rec["t_1p2_tc"]),
                potcar=rec["potcar"].strip(),
                note=rec["note"].strip(),
            )
    return rows


METAL43: tuple[str, ...] = tuple(_table())


def is_metal43(symbol: str) -> bool:
    """Whether ``symbol`` is one of the 43 elements of the table."""
    return symbol in _table()


def row(symbol: str) -> ElementRow:
    """The Metal-43 row of ``symbol``.

    Raises:
        KeyError: if the element is not in the table (the message lists what is).
    """
    try:
        return _table()[symbol]
    except KeyError:
        raise KeyError(f"{symbol!r} is not in the Metal-43 table") from None


def temperatures(symbol: str) -> list[float]:
    """The listed AIMD temperatures of ``symbol`` in K; empty for elements outside the table."""
    return row(symbol).temperatures if is_metal43(symbol) else []


def atomic_number(symbol: str) -> int:
    """Atomic number of ``symbol``; ValueError for an unknown symbol."""
    if symbol not in atomic_numbers or symbol == "X":
        raise ValueError(f"unknown element symbol {symbol!r}")
    return atomic_numbers[symbol]


# Lanthanides (57-71) and actinides (89-103) go to the f-block rows 9 and 10, as in pymatviz.
def ptable_position(symbol: str) -> tuple[int, int]:
    """Periodic-table position (period row for plotting, group 1-18) of any element.

    La-Lu are placed in row 9 and Ac-Lr in row 10 (columns 3-17), the usual detached f-block.

    Returns:
        (row, group): row 1-7 for the main table, 9-10 for the f-block.
    """
    z = atomic_number(symbol)
    if 57 <= z <= 71:
        return 9, z - 57 + 3
    if 89 <= z <= 103:
        return 10, z - 89 + 3
    period_starts = (1, 3, 11, 19, 37, 55, 87, 119)
    period = max(i + 1 for i, start in enumerate(period_starts) if z >= start)
    offset = z - period_starts[period - 1]
    if period == 1:
        return 1, 1 if z == 1 else 18
    if period in (2, 3):
        return period, offset + 1 if offset < 2 else offset + 11
    if period in (4, 5):
        return period, offset + 1
    # periods 6 and 7: s-block, then the f-block gap (15 elements counted in 3), then d and p.
    if offset < 2:
        return period, offset + 1
    return period, offset - 14 + 1


def all_symbols(max_z: int = 103) -> list[str]:
    """Chemical symbols Z = 1..max_z in order."""
    return list(chemical_symbols[1 : max_z + 1])
