"""Cost/accuracy study of GPAW settings for the Metal-43 reference labels.

Three elements: Al (sp metal), W (5d), Ni (magnetic 3d, spin-polarised). For each, one rattled
cell (Gaussian displacements of 0.1 Å standard deviation, seed 0: the size of thermal displacements
near melting) is computed with several settings; each row is compared with the reference row of
its group (a denser k-mesh and/or higher cutoff at the same smearing): change of energy (meV/atom)
and of forces (RMS and max over components, meV/Å), and the wall time.

Groups:
  A  Al, 4 atoms, Fermi-Dirac 0.1 eV: k-point density 1.5-3.0 and cutoff 300-500 eV against
     PW 500 eV / k 3.0 (A0), and all against k 4.5 (A1).
  B  Al, 4 atoms, smearing: Fermi-Dirac 0.2 eV and Marzari-Vanderbilt 0.2 eV at k 2.0-2.5 against
     k 4.5 at the same smearing, and the k-4.5 forces of each smearing against Fermi-Dirac 0.1 eV.
  C  W, 4 atoms, Fermi-Dirac 0.1 eV: as A0.
  D  W, 4 atoms, Fermi-Dirac at the sampled temperature (4434 K, 0.382 eV): k 2.0-3.5 against k 4.5.
  E  Ni, 2 atoms, spin-polarised, Fermi-Dirac at the sampled temperature (2138 K, 0.184 eV):
     k 2.0-3.0 against k 4.5, and PW 500 eV at k 3.0 (cutoff).
  T  production timing: the 8-atom cells used for the labels.

All runs: PBE, time-reversal symmetry kept (``symmetry={'point_group': False}``), density
convergence 1e-5 (1e-6 for the A0/C0 references), one BLAS thread, serial GPAW.

Usage::

    .venv/bin/python scripts/convergence_study.py [--out docs/convergence_study.jsonl] [--groups A B C D E T]

Each finished calculation is appended to the JSONL file at once and skipped on a rerun; the
Markdown table is printed at the end (docs/reference_data.md quotes it).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.reference.gpaw_calc import phase, primitive_cell, single_point, supercell  # noqa: E402

BASE = {
    "mode": "pw",
    "xc": "PBE",
    "smearing": "fermi-dirac",
    "width_ev": 0.1,
    "symmetry": "time-reversal",
    "spin_polarized": ["Fe", "Co", "Ni"],
    "initial_magmom": {"Fe": 3.0, "Co": 2.0, "Ni": 1.0},
}
SCF = {"convergence": {"density": 1e-5}}
TIGHT = {"convergence": {"density": 1e-6}}


def _pw(ecut: float, kd: float, **extra: Any) -> dict[str, Any]:
    return {"ecut_ev": ecut, "kpt_density": kd, **SCF, **extra}


FD2 = {"width_ev": 0.2}
MV2 = {"smearing": "marzari-vanderbilt", "width_ev": 0.2}
W_T = {"width_ev": 0.382}  # k_B * 4434 K
NI_T = {"width_ev": 0.184}  # k_B * 2138 K

# (element, n_atoms, label, settings, compared with)
JOBS: list[tuple[str, int, str, dict[str, Any], str | None]] = [
    ("Al", 4, "reference", {"ecut_ev": 500, "kpt_density": 3.0, **TIGHT}, "fd0.1_k4.5"),
    ("Al", 4, "pw350_k3.0", _pw(350, 3.0), "fd0.1_k4.5"),
    ("Al", 4, "pw350_k2.5", _pw(350, 2.5), "fd0.1_k4.5"),
    ("Al", 4, "pw300_k2.5", _pw(300, 2.5), "pw350_k2.5"),
    ("Al", 4, "pw350_k2.0", _pw(350, 2.0), "fd0.1_k4.5"),
    ("Al", 4, "pw350_k1.5", _pw(350, 1.5), "fd0.1_k4.5"),
    ("Al", 4, "fd0.1_k4.5", _pw(350, 4.5), None),
    ("Al", 4, "fd0.2_k4.5", _pw(350, 4.5, **FD2), "fd0.1_k4.5"),
    ("Al", 4, "fd0.2_k2.5", _pw(350, 2.5, **FD2), "fd0.2_k4.5"),
    ("Al", 4, "mv0.2_k4.5", _pw(350, 4.5, **MV2), "fd0.1_k4.5"),
    ("Al", 4, "mv0.2_k2.5", _pw(350, 2.5, **MV2), "mv0.2_k4.5"),
    ("Al", 4, "mv0.2_k2.0", _pw(350, 2.0, **MV2), "mv0.2_k4.5"),
    ("W", 4, "reference", {"ecut_ev": 500, "kpt_density": 3.0, **TIGHT}, None),
    ("W", 4, "pw350_k3.0", _pw(350, 3.0), "reference"),
    ("W", 4, "pw350_k2.5", _pw(350, 2.5), "reference"),
    ("W", 4, "pw300_k2.5", _pw(300, 2.5), "pw350_k2.5"),
    ("W", 4, "pw350_k2.0", _pw(350, 2.0), "reference"),
    ("W", 4, "pw350_k1.5", _pw(350, 1.5), "reference"),
    ("W", 4, "fdT_k4.5", _pw(350, 4.5, **W_T), None),
    ("W", 4, "fdT_k3.5", _pw(350, 3.5, **W_T), "fdT_k4.5"),
    ("W", 4, "fdT_k2.5", _pw(350, 2.5, **W_T), "fdT_k4.5"),
    ("W", 4, "fdT_k2.0", _pw(350, 2.0, **W_T), "fdT_k4.5"),
    ("Ni", 2, "fdT_k4.5", _pw(350, 4.5, **NI_T), None),
    ("Ni", 2, "fdT_k3.0", _pw(350, 3.0, **NI_T), "fdT_k4.5"),
    ("Ni", 2, "fdT_pw500_k3.0", _pw(500, 3.0, **NI_T), "fdT_k3.0"),
    ("Ni", 2, "fdT_k2.5", _pw(350, 2.5, **NI_T), "fdT_k4.5"),
    ("Ni", 2, "fdT_k2.0", _pw(350, 2.0, **NI_T), "fdT_k4.5"),
    ("Al", 8, "8atoms_pw350_k2.5", _pw(350, 2.5), None),
    ("W", 8, "8atoms_pw350_k2.5", _pw(350, 2.5), None),
]
GROUPS = {
    "A": lambda j: j[0] == "Al" and j[1] == 4 and not j[2].startswith(("fd0.2", "mv")),
    "B": lambda j: j[0] == "Al" and j[1] == 4 and j[2].startswith(("fd", "mv")),
    "C": lambda j: j[0] == "W" and j[1] == 4 and not j[2].startswith("fdT"),
    "D": lambda j: j[0] == "W" and j[1] == 4 and j[2].startswith("fdT"),
    "E": lambda j: j[0] == "Ni",
    "T": lambda j: j[1] == 8,
}


def _cell(symbol: str, n_atoms: int):
    volume = phase(symbol).volume_guess
    if n_atoms == 2:  # two primitive cells of a one-atom phase (fcc Ni)
        atoms = primitive_cell(symbol, volume).repeat((2, 1, 1))
    else:
        atoms = supercell(symbol, volume, n_atoms)
    rng = np.random.default_rng(0)
    atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
    return atoms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "convergence_study.jsonl")
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    parser.add_argument("--table-only", action="store_true", help="print the table of what is done")
    args = parser.parse_args(argv)
    done: dict[tuple[str, int, str], dict] = {}
    if args.out.is_file():
        for line in args.out.read_text().splitlines():
            rec = json.loads(line)
            done[(rec["element"], rec["n_atoms"], rec["label"])] = rec
    args.out.parent.mkdir(parents=True, exist_ok=True)
    jobs = [j for j in JOBS if any(GROUPS[g](j) for g in args.groups)]
    for symbol, n_atoms, label, overrides, _ref in [] if args.table_only else jobs:
        if (symbol, n_atoms, label) in done:
            continue
        atoms = _cell(symbol, n_atoms)
        result = single_point(atoms, {**BASE, **overrides})
        rec = {
            "element": symbol,
            "label": label,
            "n_atoms": n_atoms,
            "settings": overrides,
            "kpts": list(result.kpts),
            "wall_s": round(result.wall_s, 2),
            "iterations": result.iterations,
            "energy_ev": result.energy_ev,
            "forces": result.forces_ev_per_a.round(6).tolist(),
            "magmom": result.magmom,
        }
        with args.out.open("a") as handle:
            handle.write(json.dumps(rec) + "\n")
        done[(symbol, n_atoms, label)] = rec
        print(f"{symbol} {n_atoms} {label}: {result.wall_s:.1f} s, kpts {result.kpts}", flush=True)
    print(table(done))
    return 0


def table(done: dict[tuple[str, int, str], dict]) -> str:
    """Markdown table of every finished job against its comparison row."""
    lines = [
        "| element | atoms | setting | smearing (eV) | k-mesh | wall (s) | SCF iter. | compared with | dE (meV/atom) | dF RMS (meV/Å) | dF max (meV/Å) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for symbol, n_atoms, label, overrides, ref_label in JOBS:
        rec = done.get((symbol, n_atoms, label))
        if rec is None:
            continue
        ref = done.get((symbol, n_atoms, ref_label)) if ref_label else None
        if ref is None:
            de = df_rms = df_max = "-"
        else:
            de = f"{(rec['energy_ev'] - ref['energy_ev']) / n_atoms * 1000:+.1f}"
            diff = (np.array(rec["forces"]) - np.array(ref["forces"])) * 1000
            df_rms, df_max = f"{np.sqrt(np.mean(diff**2)):.1f}", f"{np.abs(diff).max():.1f}"
        settings = {**BASE, **overrides}
        smear = f"{'FD' if settings['smearing'] == 'fermi-dirac' else 'MV'} {settings['width_ev']:g}"
        kpts = "x".join(str(k) for k in rec["kpts"])
        lines.append(
            f"| {symbol} | {n_atoms} | {label} (PW {settings['ecut_ev']:g} eV, k {settings['kpt_density']:g}/Å) | {smear} | {kpts} "
            f"| {rec['wall_s']:.1f} | {rec['iterations'] if rec['iterations'] is not None else 'n/r'} | {ref_label or '-'} | {de} | {df_rms} | {df_max} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
