"""The Data page's key fields: an energy/forces key for reference uploads, a prefix for extended XYZ predictions."""
from __future__ import annotations

import base64
import importlib
import io
from pathlib import Path

import numpy as np
from ase.io import write

from tests.analysis.helpers import emt_reference


def _upload(text: str) -> str:
    return "data:text/plain;base64," + base64.b64encode(text.encode()).decode()


def _xyz(frames) -> str:
    buffer = io.StringIO()
    write(buffer, frames, format="extxyz")
    return buffer.getvalue()


def test_energy_key_and_prediction_prefix_fields(dash_app, own_data: Path) -> None:
    data = importlib.import_module("pages.data")
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3)
    a = ref.arrays()
    frames = []
    for k, atoms in enumerate(ref.frames):
        plain = atoms.copy()
        plain.info = {"total_E": float(a.energy[k])}
        plain.arrays["F_dft"] = a.forces[a.offsets[k]:a.offsets[k + 1]].copy()
        frames.append(plain)
    text = _upload(_xyz(frames))
    refused, _table, _options = data.upload_reference(text, "odd.xyz", "odd", None, None, 300)
    assert "alert-error" in refused.className and "total_E" in refused.children
    done, _table, options = data.upload_reference(text, "odd.xyz", "odd", None, None, 300, "refuse", None, "total_E", "F_dft")
    assert "alert-success" in done.className, done.children
    assert "odd" in options
    for plain in frames:  # the same frames as a model's output beside the reference, under two prefixes
        plain.info["A_energy"] = plain.info["total_E"] + 0.01 * len(plain)
        plain.arrays["A_forces"] = plain.arrays["F_dft"] + 0.01
        plain.info["B_energy"] = plain.info["total_E"]
        plain.arrays["B_forces"] = plain.arrays["F_dft"]
    outputs = _upload(_xyz(frames[::-1]))
    ambiguous, _ = data.upload_predictions([outputs], ["evaluated.xyz"], "odd", "model-a", None, [])
    assert "alert-error" in ambiguous.className and "several models" in ambiguous.children
    # the reference beside the predictions is under unconventional keys (total_E): refused, saying what is missing
    no_ref, _ = data.upload_predictions([outputs], ["evaluated.xyz"], "odd", "model-a", None, [], "A_")
    assert "alert-error" in no_ref.className and "reference energy" in no_ref.children
    assert "Imported predictions" not in no_ref.children
    from analysis.datasets import store

    assert "model-a" not in store.load_predictions("odd")
    frames = []  # now with MACE's reference keys beside the predictions
    for k, atoms in enumerate(ref.frames):
        plain = atoms.copy()
        plain.info = {"REF_energy": float(a.energy[k]), "A_energy": float(a.energy[k]) + 0.01 * len(atoms)}
        plain.arrays["REF_forces"] = a.forces[a.offsets[k]:a.offsets[k + 1]].copy()
        plain.arrays["A_forces"] = plain.arrays["REF_forces"] + 0.01
        frames.append(plain)
    good, _ = data.upload_predictions([_upload(_xyz(frames[::-1]))], ["evaluated.xyz"], "odd", "model-a", None, [], "A_")
    assert "alert-success" in good.className, good.children
    pred = store.load_predictions("odd")["model-a"]
    stored = store.load_dataset("odd").arrays()
    np.testing.assert_allclose(pred.energy - stored.energy, 0.01 * stored.n_atoms, atol=1e-6)
