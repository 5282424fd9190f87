"""The request loop shared by the model drivers that run in their own environments
(``sevenn_driver.py`` in ``.venv-sevenn``, ``deepmd_driver.py`` in ``.venv-deepmd``).

Imported by those scripts from their own folder (a script's folder is first on ``sys.path``), so it
imports only numpy and ase, never the analysis package. For each request line ``{"input":
"frames.extxyz", "output": "out.npz"}`` on stdin it evaluates every frame with ``calc`` and writes
``energy`` (F,) in eV, ``forces`` (A, 3) in eV/Å and ``n_atoms`` (F,) to the ``.npz``, then prints
``{"ok": true}`` (or ``{"ok": false, "error": ..., "traceback": ...}``; one bad request does not stop
the loop). It returns when stdin closes.
"""
from __future__ import annotations

import json
import sys
import traceback
from typing import Any


def serve(calc: Any) -> int:
    import numpy as np
    from ase.io import read

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            frames = read(request["input"], index=":", format="extxyz")
            energy, forces, n_atoms = [], [], []
            for atoms in frames:
                atoms.calc = calc
                energy.append(float(atoms.get_potential_energy()))
                forces.append(np.asarray(atoms.get_forces(), dtype=np.float64))
                n_atoms.append(len(atoms))
            np.savez(
                request["output"],
                energy=np.array(energy, dtype=np.float64),
                forces=np.concatenate(forces) if forces else np.zeros((0, 3)),
                n_atoms=np.array(n_atoms, dtype=np.int64),
            )
            print(json.dumps({"ok": True}), flush=True)
        except Exception as exc:  # one bad request must not kill the driver
            print(json.dumps({"ok": False, "error": repr(exc), "traceback": traceback.format_exc()}), flush=True)
    return 0
