"""The reference state of the electronic protocols: the structure and DFT settings the frames use.

The protocols must describe the same crystal the frames sample, so everything here is read from the
reference pipeline rather than chosen anew:

* **phase and cell**: :func:`analysis.reference.gpaw_calc.phase` and ``primitive_cell`` (alpha-Hg
  R-3m, bcc Mn standing for alpha-Mn, omega-Ti, alpha-Ga ...), with the c/a of the fit;
* **volume**: the PBE V0 of the frames' own energy-volume fit (``analysis/data/eos.json``, keyed by
  the default tier's EOS hash and the element's setup);
* **setups, cutoff, smearing**: the default tier's DFT settings (``setups`` Ni.10, 350 eV, Fermi-Dirac
  0.1 eV), copied into the protocol settings by :func:`protocol_settings`.

:func:`reference_state` returns all of it as one record, which the curves file stores and the
pages print ("say what was computed").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analysis.core.errors import InputFileError

DFT_KEYS_FROM_FRAMES = ("mode", "xc", "ecut_ev", "smearing", "width_ev", "setups", "spin_polarized", "initial_magmom")
"""Keys of the frames' DFT settings that the protocols take over unchanged."""


@dataclass(frozen=True)
class ReferenceState:
    """Structure and settings of one element's protocols, as the frames have them.

    Attributes:
        element: chemical symbol.
        space_group: the space group built (alpha-Hg: R-3m; Mn: Im-3m).
        listed_space_group: the Metal-43 table's entry (differs for Mn and Hg).
        prototype: structure prototype ('fcc', 'bcc', 'hcp', 'omega', 'alpha-Ga', 'alpha-Hg').
        note: why a substitute phase is used ('' otherwise).
        volume_per_atom_a3: PBE V0 of the frames' EOS fit (Å^3/atom).
        covera: c/a of hexagonal cells (None otherwise).
        b0_gpa: bulk modulus of the fit (GPa).
        bprime: pressure derivative of the bulk modulus of the fit.
        eos_key: the ``eos.json`` entry used.
        setup: PAW setup name ('default' is gpaw-data's own).
        spin_polarized: whether the SCFs are spin-polarised.
    """

    element: str
    space_group: str
    listed_space_group: str
    prototype: str
    note: str
    volume_per_atom_a3: float
    covera: float | None
    b0_gpa: float
    bprime: float
    eos_key: str
    setup: str
    spin_polarized: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in each curves file as ``reference_state``)."""
        return asdict(self)


def reference_state(symbol: str, *, eos_path: Path | None = None, tier: str = "default") -> ReferenceState:
    """The reference state of ``symbol``: the frames' phase, PBE V0, c/a and setup.

    Raises:
        InputFileError: ``eos.json`` has no fit of ``symbol`` under the tier's EOS settings.
    """
    from analysis.reference import gpaw_calc
    from analysis.reference.eos_fit import DEFAULT_EOS_PATH, load_eos_table
    from analysis.reference.tiers import load_settings

    path = Path(eos_path) if eos_path is not None else DEFAULT_EOS_PATH
    settings = load_settings(tier, elements=[symbol])
    key = f"{settings.eos_hash_of(symbol)}/{symbol}"
    entry = load_eos_table(path)["entries"].get(key)
    if entry is None:
        raise InputFileError(path, f"no equation-of-state fit {key!r} for {symbol}: run "
                                   f"'python -m analysis build-reference --tier {tier} --elements {symbol}' first")
    ph = gpaw_calc.phase(symbol)
    return ReferenceState(
        element=symbol,
        space_group=ph.space_group,
        listed_space_group=ph.listed_space_group,
        prototype=ph.prototype,
        note=ph.note,
        volume_per_atom_a3=float(entry["V0_A3_per_atom"]),
        covera=None if entry.get("covera") is None else float(entry["covera"]),
        b0_gpa=float(entry["B0_GPa"]),
        bprime=float(entry["Bprime"]),
        eos_key=key,
        setup=settings.setup_of(symbol),
        spin_polarized=gpaw_calc.is_spin_polarized(symbol, settings.dft),
    )


def frames_dft(tier: str = "default") -> dict[str, Any]:
    """The keys of the tier's frame DFT settings that the protocols share (see :data:`DFT_KEYS_FROM_FRAMES`)."""
    from analysis.reference.tiers import load_settings

    dft = load_settings(tier).dft
    return {k: dft[k] for k in DFT_KEYS_FROM_FRAMES if k in dft}
