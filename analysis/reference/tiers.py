"""Reference tiers: the versioned settings file resolved into the settings of one tier (ci, default, train, full)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase import units

from analysis.core import elements as el
from analysis.core.config import PACKAGE_DATA_DIR
from analysis.core.errors import InputFileError, one_line
from analysis.reference import gpaw_calc

SETTINGS_PATH = PACKAGE_DATA_DIR / "reference_settings.json"

TIERS = ("ci", "default", "train", "full", "smear0.4")


# --------------------------------------------------------------------------- settings
PER_ELEMENT_KEYS = ("setups", "mixers")


def _shared(dft: dict[str, Any]) -> dict[str, Any]:
    """``dft`` without the per-element parts that :class:`TierSettings` hashes per element."""
    return {k: v for k, v in dft.items() if k not in PER_ELEMENT_KEYS}


@dataclass(frozen=True)
class TierSettings:
    """Resolved settings of one tier.

    Attributes:
        tier: 'ci', 'default', 'train' or 'full'.
        dataset: data set name.
        build: build folder name (default: the data set's); tiers that share one share their frames.
        elements: elements in the order they are computed (cheapest first).
        temperatures: 'highest' (the highest listed temperature), 'lowest_and_highest' or 'all'.
        n_frames: frames per element and temperature.
        n_atoms: target supercell size.
        dft: GPAW settings of the labels.
        eos_dft: GPAW settings of the energy-volume fit.
        eos: EOS protocol (points, strain range, c/a scans).
        sampler: MD sampler parameters.
        version: settings file version.
        build: build folder name (default: the data set's).
        source: for a relabelling tier (``"relabel_of"`` in the settings file), the tier whose MD
            samples and EOS it takes: the same positions labelled again with the changed DFT settings.
    """

    tier: str
    dataset: str
    elements: tuple[str, ...]
    temperatures: str
    n_frames: int
    n_atoms: int
    dft: dict[str, Any]
    eos_dft: dict[str, Any]
    eos: dict[str, Any]
    sampler: dict[str, Any]
    version: int
    build: str = ""
    source: TierSettings | None = None

    @property
    def eos_hash(self) -> str:
        """Hash of everything that determines an EOS result, except per-element PAW setups (see :meth:`eos_hash_of`)."""
        return gpaw_calc.settings_hash({"dft": _shared(self.eos_dft), "eos": self.eos})

    @property
    def frames_hash(self) -> str:
        """Hash of everything that determines a labelled frame (except the element, its PAW setup and the index).

        Per-element setups (``dft["setups"]``) are left out, so choosing one for an element that has
        no frames yet keeps every other element's frames; each frame records its setup instead
        (``info['paw_setup']``) and a frame made with another setup is not current (:func:`is_current`).
        """
        relabel = {"relabel_of": self.source.frames_hash} if self.source is not None else {}
        return gpaw_calc.settings_hash(
            {"dft": _shared(self.dft), "sampler": self.sampler, "n_atoms": self.n_atoms, "eos": self.eos_hash, **relabel}
        )

    def setup_of(self, symbol: str) -> str:
        """The PAW setup of ``symbol``: 'default' (gpaw-data's ``<El>.PBE``) or a named one such as '10' (``Ni.10.PBE``)."""
        return str((self.dft.get("setups") or {}).get(symbol, gpaw_calc.DEFAULT_SETUP))

    def eos_hash_of(self, symbol: str) -> str:
        """The EOS cache key's hash for ``symbol``: :attr:`eos_hash`, or a hash of it and the element's own setup."""
        setup = self.setup_of(symbol)
        return self.eos_hash if setup == gpaw_calc.DEFAULT_SETUP else gpaw_calc.settings_hash({"eos": self.eos_hash, "setup": setup})

    def temperatures_of(self, symbol: str) -> list[float]:
        """Temperatures (K) sampled for ``symbol``: the highest listed one, or all of them."""
        temps = el.temperatures(symbol)
        if not temps:
            raise ValueError(f"{symbol} has no listed temperature")
        if self.temperatures == "highest":
            return [max(temps)]
        if self.temperatures == "lowest_and_highest":
            return sorted({min(temps), max(temps)})
        return list(temps)

    def planned_frames(self) -> list[tuple[str, float, int]]:
        """Every (element, temperature, index) this tier labels."""
        return [(s, t, i) for s in self.elements for t in self.temperatures_of(s) for i in range(self.n_frames)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "version": self.version,
            "dataset": self.dataset,
            "build": self.build or self.dataset,
            "elements": list(self.elements),
            "temperatures": self.temperatures,
            "n_frames": self.n_frames,
            "n_atoms": self.n_atoms,
            "dft": self.dft,
            "eos_dft": self.eos_dft,
            "eos": self.eos,
            "sampler": self.sampler,
            "frames_hash": self.frames_hash,
            "eos_hash": self.eos_hash,
            **({"relabel_of": {"tier": self.source.tier, "frames_hash": self.source.frames_hash,
                               "changed_dft": changed_dft(self.source.dft, self.dft)}} if self.source is not None else {}),
        }


def changed_dft(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """The DFT keys whose values differ between two settings: key -> [before, after]."""
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def tier_names(path: Path = SETTINGS_PATH) -> list[str]:
    """The tiers the settings file defines, in its order (:data:`TIERS` are the shipped file's)."""
    try:
        return list(json.loads(Path(path).read_text())["tiers"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputFileError(path, f"cannot read the tiers of the reference settings: {exc}") from exc


def load_settings(tier: str, *, path: Path = SETTINGS_PATH, elements: list[str] | None = None) -> TierSettings:
    """Resolve the settings of ``tier`` from the versioned settings file.

    Args:
        tier: 'ci', 'default' or 'full'.
        path: settings file.
        elements: restrict to these elements (default: the tier's list).

    Raises:
        InputFileError: the settings file is missing or malformed.
        ValueError: unknown tier or element.
    """
    known = tier_names(path)
    if tier not in known:
        if tier in TIERS:  # a shipped tier the given file lacks: the file is the problem
            raise InputFileError(path, f"cannot read reference settings for tier {tier!r}: the file defines {', '.join(known) or 'no tier'}")
        raise ValueError(f"{tier=} must be one of {tuple(known)}")
    try:
        raw = json.loads(Path(path).read_text())
        spec = raw["tiers"][tier]
        dft = {**raw["dft"], **spec.get("dft", {})}
        eos = {**raw["eos"], **spec.get("eos", {})}
        sampler = {**raw["sampler"], **spec.get("sampler", {})}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputFileError(path, f"cannot read reference settings for tier {tier!r}: {exc}") from exc
    _check_setups(dft.get("setups"), Path(path), xc=str(dft.get("xc", "PBE")))
    eos_dft = {**dft, "kpt_density": eos["kpt_density"], "symmetry": eos.get("symmetry", dft.get("symmetry"))}
    names = list(el.METAL43) if spec["elements"] == "all" else list(spec["elements"])
    if elements:
        unknown = [s for s in elements if not el.is_metal43(s)]
        if unknown:
            raise ValueError(f"not Metal-43 elements: {unknown}")
        names = [s for s in elements]
    ordered = tuple(sorted(names, key=lambda s: (estimated_cost(s, dft), s)))
    source = None
    if "relabel_of" in spec:
        source_tier = str(spec["relabel_of"])
        if source_tier not in known or source_tier == tier or "relabel_of" in raw["tiers"].get(source_tier, {}):
            raise InputFileError(path, f"tier {tier!r}: relabel_of must name another tier that samples its own frames, got {source_tier!r}")
        source = load_settings(source_tier, path=path, elements=list(ordered))
        if {k: v for k, v in spec.items() if k in ("temperatures", "n_frames", "n_atoms")} != {
                "temperatures": source.temperatures, "n_frames": source.n_frames, "n_atoms": source.n_atoms}:
            raise InputFileError(path, f"tier {tier!r} relabels {source_tier!r}: temperatures, n_frames and n_atoms must be the source's")
    return TierSettings(
        tier=tier,
        dataset=spec["dataset"],
        elements=ordered,
        temperatures=spec["temperatures"],
        n_frames=int(spec["n_frames"]),
        n_atoms=int(spec["n_atoms"]),
        dft=dft,
        eos_dft=eos_dft,
        eos={k: v for k, v in eos.items() if k not in ("kpt_density", "symmetry")},
        sampler=sampler,
        version=int(raw.get("version", 0)),
        build=str(spec.get("build", "")),
        source=source,
    )


def _check_setups(setups: Any, path: Path, *, xc: str) -> None:
    """``dft.setups`` must map Metal-43 symbols to setup names that exist (e.g. {"Ni": "10"} for Ni.10.PBE)."""
    if setups is None:
        return
    if not isinstance(setups, dict):
        raise InputFileError(path, f"dft.setups must map element symbols to setup names, got {setups!r}")
    for symbol, name in setups.items():
        if not el.is_metal43(str(symbol)):
            raise InputFileError(path, f"dft.setups names {symbol!r}, which is not a Metal-43 element")
        if name == gpaw_calc.DEFAULT_SETUP:
            continue
        try:
            gpaw_calc.valence_electrons(str(symbol), xc, setup=str(name))
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            raise InputFileError(path, f"dft.setups: no usable PAW setup {symbol}.{name}.{xc} ({one_line(exc)[:120]})") from exc


def dft_for_temperature(dft: dict[str, Any], temperature_k: float) -> dict[str, Any]:
    """The label settings at ``temperature_k``: with ``"electronic_temperature": "ionic"`` the
    Fermi-Dirac width is the ionic temperature's k_B T (Mermin finite-temperature DFT), never below
    ``width_ev``; otherwise ``dft`` unchanged."""
    if dft.get("electronic_temperature") != "ionic":
        return dict(dft)
    width = max(float(dft["width_ev"]), units.kB * float(temperature_k))
    return {**dft, "width_ev": round(width, 4)}


def estimated_cost(symbol: str, dft: dict[str, Any]) -> float:
    """Relative cost of one labelled frame: valence electrons squared, x3 if spin-polarised.

    At a fixed k-point density and cutoff the plane waves times k-points of a cell hardly depend on
    its volume, so the band count (valence electrons) dominates; spin doubles the work and the
    magnetic SCF takes about 1.5x the iterations (measured in the convergence study).
    """
    n_val = gpaw_calc.valence_electrons(symbol, setup=(dft.get("setups") or {}).get(symbol))
    return n_val**2 * (3.0 if gpaw_calc.is_spin_polarized(symbol, dft) else 1.0)
