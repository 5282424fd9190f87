"""Groups of the periodic table the atlas compares: Metal-43 by block, each element once.

The paper reads its error map as early transition metals hard and alkali and alkaline-earth
metals easy; :data:`HARD` and :data:`EASY` name those groups for the tests of that claim
(:mod:`analysis.metrics.findings`, the smearing experiment in :mod:`analysis.jobs.smearing`).
"""
from __future__ import annotations

GROUPS: dict[str, tuple[str, ...]] = {
    "alkali": ("Li", "Na", "K", "Rb", "Cs"),
    "alkaline earth": ("Be", "Mg", "Ca", "Sr", "Ba"),
    "early TM": ("Sc", "Ti", "V", "Cr", "Mn", "Y", "Zr", "Nb", "Mo", "Tc", "Hf", "Ta", "W", "Re"),
    "late TM": ("Fe", "Co", "Ni", "Ru", "Rh", "Pd", "Os", "Ir", "Pt"),
    "noble and group 12": ("Cu", "Ag", "Au", "Zn", "Cd", "Hg"),
    "p-block": ("Al", "Ga", "In", "Tl"),
}
"""Metal-43 by block of the periodic table (each element once)."""

HARD: tuple[str, ...] = ("early TM",)
EASY: tuple[str, ...] = ("alkali", "alkaline earth")


def group_of(symbol: str) -> str | None:
    """The :data:`GROUPS` name of ``symbol`` (None outside Metal-43)."""
    return next((g for g, members in GROUPS.items() if symbol in members), None)


__all__ = ["EASY", "GROUPS", "HARD", "group_of"]
