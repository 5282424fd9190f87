"""Synthetic data of the paper's shape for ``bench_scale.py`` (seeded; physical scales, not physics).

43 metals x every listed temperature x ``frames`` frames x 64 atoms (the paper's shape at
``frames=750``: 116,250 frames, 8.3 M atoms), one extended XYZ file per element and temperature
(``<El>_<T>K.xyz``, ``temperature=`` on each frame), and NEP-style predictions of one model
(``energy_train.out``: predicted and reference energy per atom; ``force_train.out``: predicted and
reference force components) for all frames in the same order.

Positions: an fcc 2x2x4 supercell (64 atoms) at the element's volume, rattled with an amplitude
growing with temperature; forces: a harmonic restoring force with noise (eV/Å, about 0.2-2 eV/Å);
energies: E0 + 3/2 k_B T per atom plus noise; predictions: the reference plus Gaussian errors
whose size grows with the element's group in the table (so the map has structure).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.core import elements as el

N_ATOMS = 64
K_B = 8.617333e-5


def _lattice(symbol: str) -> float:
    """An fcc lattice constant (Å) with the element's atomic volume (15-35 Å^3/atom by row)."""
    z = el.atomic_number(symbol)
    volume = 12.0 + 0.25 * (z % 18) + 4.0 * (z // 18)
    return float((4.0 * volume) ** (1 / 3))


def _frames(symbol: str, temperature: float, n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    a = _lattice(symbol)
    base = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    grid = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(4)])
    frac = (grid[:, None, :] + base[None, :, :]).reshape(-1, 3)
    ideal = frac * a
    cell = np.diag([2 * a, 2 * a, 4 * a])
    amplitude = 0.05 * np.sqrt(temperature / 300.0)
    disp = rng.normal(0.0, amplitude, (n_frames, N_ATOMS, 3))
    disp -= disp.mean(axis=1, keepdims=True)
    positions = ideal[None] + disp
    forces = -8.0 * disp + rng.normal(0.0, 0.05, disp.shape)
    forces -= forces.mean(axis=1, keepdims=True)
    energy = N_ATOMS * (-4.0 - 0.02 * (el.atomic_number(symbol) % 18) + 1.5 * K_B * temperature) + rng.normal(0, 0.05, n_frames)
    return positions, forces, energy, cell


def _error_scale(symbol: str) -> float:
    """Prediction error (eV/Å) by group: early transition metals hardest."""
    group = el.ptable_position(symbol)[1]
    return 0.02 + 0.015 * max(0, 8 - abs(int(group) - 5))


def write(out: Path, *, frames: int, seed: int = 0) -> dict[str, int]:
    """Write the synthetic reference files under ``out/ref`` and NEP predictions under ``out/pred``."""
    rng = np.random.default_rng(seed)
    ref_dir, pred_dir = out / "ref", out / "pred"
    ref_dir.mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    n_frames = n_atoms = 0
    with open(pred_dir / "energy_train.out", "w") as e_out, open(pred_dir / "force_train.out", "w") as f_out:
        for symbol in el.METAL43:
            for temperature in el.temperatures(symbol):
                positions, forces, energy, cell = _frames(symbol, temperature, frames, rng)
                lattice = " ".join(f"{v:.8f}" for v in cell.T.ravel())
                lines: list[str] = []
                for i in range(frames):
                    lines.append(f"{N_ATOMS}\n")
                    lines.append(f'Lattice="{lattice}" Properties=species:S:1:pos:R:3:forces:R:3 energy={energy[i]:.8f} '
                                 f'temperature={temperature:g} pbc="T T T"\n')
                    block = np.concatenate([positions[i], forces[i]], axis=1)
                    lines.append("".join(f"{symbol} {r[0]:.8f} {r[1]:.8f} {r[2]:.8f} {r[3]:.8f} {r[4]:.8f} {r[5]:.8f}\n" for r in block))
                (ref_dir / f"{symbol}_{temperature:g}K.xyz").write_text("".join(lines))
                scale = _error_scale(symbol)
                pred_f = forces + rng.normal(0, scale, forces.shape)
                pred_e = energy / N_ATOMS + rng.normal(0, scale / 20, frames)
                e_out.write("".join(f"{p:.8f} {r:.8f}\n" for p, r in zip(pred_e, energy / N_ATOMS)))
                both = np.concatenate([pred_f.reshape(-1, 3), forces.reshape(-1, 3)], axis=1)
                f_out.write("".join(f"{r[0]:.8f} {r[1]:.8f} {r[2]:.8f} {r[3]:.8f} {r[4]:.8f} {r[5]:.8f}\n" for r in both))
                n_frames += frames
                n_atoms += frames * N_ATOMS
    return {"frames": n_frames, "atoms": n_atoms}
