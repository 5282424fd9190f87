"""The training programs' own files: deepmd-kit's input.json and npy systems and its lcurve.out,
GPUMD's nep.in, train.xyz/test.xyz and loss.out (read and written here; run by :mod:`.fitting`)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: a :class:`analysis.models.fitting.FitSpec` (not imported: that module imports this one)
FitSpec = Any


def deepmd_input(spec: FitSpec, *, n_train: int, n_valid: int = 1) -> dict[str, Any]:
    """deepmd-kit's input.json for SI Table S2; ``numb_steps`` = passes x ceil(n_train / batch); the
    validation line of ``lcurve.out`` covers all ``n_valid`` validation frames (one batch of them)."""
    h = spec.hyperparameters
    steps = int(spec.schedule["passes"]) * max(1, math.ceil(n_train / int(h["batch_size"])))
    return {
        "model": {
            "type_map": [spec.element],
            "descriptor": {"type": h["descriptor"], "sel": [int(h["sel"])], "rcut_smth": float(h["rcut_smth"]),
                           "rcut": float(h["rcut"]), "neuron": list(h["embedding"]), "resnet_dt": False,
                           "axis_neuron": int(h["axis_neuron"]), "activation_function": h["activation"],
                           "precision": h["precision"], "seed": spec.seed},
            "fitting_net": {"neuron": list(h["fitting"]), "resnet_dt": True, "activation_function": h["activation"],
                            "precision": h["precision"], "seed": spec.seed},
        },
        "learning_rate": {"type": "exp", "start_lr": float(h["start_lr"]), "stop_lr": float(h["stop_lr"]),
                          "decay_steps": max(1, steps // 50)},
        "loss": {"type": "ener", "start_pref_e": float(h["start_pref_e"]), "limit_pref_e": float(h["limit_pref_e"]),
                 "start_pref_f": float(h["start_pref_f"]), "limit_pref_f": float(h["limit_pref_f"]),
                 "start_pref_v": 0.0, "limit_pref_v": 0.0},
        "training": {
            "training_data": {"systems": ["train"], "batch_size": int(h["batch_size"])},
            "validation_data": {"systems": ["valid"], "batch_size": max(1, n_valid), "numb_btch": 1},
            "numb_steps": steps, "seed": spec.seed, "disp_file": "lcurve.out", "disp_freq": max(1, steps // 100),
            "save_freq": max(1, steps // 10), "save_ckpt": "model.ckpt",
        },
    }


def write_deepmd_system(frames: Sequence[Any], folder: Path, element: str) -> None:
    """One deepmd-kit system (``type.raw``, ``type_map.raw``, ``set.000/*.npy``) of elemental frames."""
    set_dir = folder / "set.000"
    set_dir.mkdir(parents=True, exist_ok=True)
    n = len(frames[0])
    if any(len(a) != n for a in frames):
        raise ValueError(f"{element}: frames with different atom counts need one deepmd system each")
    (folder / "type.raw").write_text("\n".join("0" for _ in range(n)) + "\n")
    (folder / "type_map.raw").write_text(element + "\n")
    np.save(set_dir / "coord.npy", np.array([a.positions.reshape(-1) for a in frames], dtype=np.float64))
    np.save(set_dir / "box.npy", np.array([a.cell.array.reshape(-1) for a in frames], dtype=np.float64))
    np.save(set_dir / "energy.npy", np.array([float(a.calc.results["energy"]) for a in frames], dtype=np.float64))
    np.save(set_dir / "force.npy", np.array([np.asarray(a.calc.results["forces"]).reshape(-1) for a in frames], dtype=np.float64))


def read_lcurve(path: Path) -> list[dict[str, Any]]:
    """deepmd-kit's ``lcurve.out``: columns named by its ``#`` header (rmse_val, rmse_trn,
    rmse_e_val, rmse_f_val, ...); energies per atom in eV, forces in eV/Å."""
    if not path.is_file():
        return []
    names: list[str] = []
    rows: dict[int, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            header = line.lstrip("#").split()
            if header[:1] == ["step"]:
                names = header
            continue
        parts = line.split()
        if not names or len(parts) != len(names):
            continue
        try:
            values = dict(zip(names, (float(p) for p in parts)))
        except ValueError:
            continue
        step = int(values["step"])
        rows[step] = {"step": step, "train_loss": values.get("rmse_trn"), "valid_loss": values.get("rmse_val"),
                      "valid_rmse_e_per_atom": values.get("rmse_e_val"), "valid_rmse_f": values.get("rmse_f_val"),
                      "lr": values.get("lr")}
    return [rows[k] for k in sorted(rows)]


def read_nep_loss(path: Path) -> list[dict[str, Any]]:
    """GPUMD's ``loss.out`` (generation, total, L1, L2, E_train, F_train, V_train, E_test, F_test,
    V_test; eV/atom and eV/Å); a file without a test set has 7 columns."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            continue
        if len(values) < 7:
            continue
        row: dict[str, Any] = {"step": int(values[0]), "train_loss": values[1], "train_rmse_e_per_atom": values[4],
                               "train_rmse_f": values[5]}
        if len(values) >= 10:
            row.update(valid_rmse_e_per_atom=values[7], valid_rmse_f=values[8])
        out.append(row)
    return out


def write_nep_inputs(work: Path, spec: FitSpec, train: Sequence[Any], valid: Sequence[Any]) -> None:
    """``nep.in`` (SI Table S3, through calorine's writer), ``train.xyz`` and ``test.xyz`` for GPUMD."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from calorine.nep import write_nepfile, write_structures

    h = spec.hyperparameters
    parameters = {"version": h["version"], "type": [1, spec.element], "cutoff": h["cutoff"], "n_max": h["n_max"],
                  "basis_size": h["basis_size"], "l_max": h["l_max"], "neuron": h["neuron"], "population": h["population"],
                  "batch": h["batch"], "generation": int(spec.schedule["generations"])}
    work.mkdir(parents=True, exist_ok=True)
    write_nepfile(str(work / "nep.in"), parameters)

    def bare(frames: Sequence[Any]) -> list[Any]:
        out = []
        for atoms in frames:
            copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
            copy.calc = SinglePointCalculator(copy, energy=float(atoms.calc.results["energy"]),
                                              forces=np.asarray(atoms.calc.results["forces"], dtype=np.float64))
            out.append(copy)
        return out

    write_structures(str(work / "train.xyz"), bare(train))
    write_structures(str(work / "test.xyz"), bare(valid or train[:1]))
