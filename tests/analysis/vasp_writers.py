"""Writers of small but real-format VASP files (OUTCAR, vasprun.xml) for the importer tests.

They follow VASP 5/6's layout closely enough for ASE's and pymatgen's parsers; each ionic step
holds the cell, positions, forces and the free energy TOTEN.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

_RULE = "-" * 104


def write_outcar(path: Path, frames: list[Atoms], energies: list[float], forces: list[np.ndarray]) -> None:
    """Write an OUTCAR with one ionic step per frame (single species, ordered as in ``frames[0]``)."""
    first = frames[0]
    species = list(dict.fromkeys(first.get_chemical_symbols()))
    counts = [first.get_chemical_symbols().count(s) for s in species]
    lines = [" vasp.6.4.2 (test writer)", "", f" {_RULE}", "", " INCAR:"]
    lines += [f" POTCAR:    PAW_PBE {s} 06Sep2000" for s in species]
    lines += [f" POTCAR:    PAW_PBE {s} 06Sep2000" for s in species]
    lines += [f"   ions per type =              {'  '.join(str(c) for c in counts)}", ""]
    lines += [f"   number of dos      NEDOS =    301   number of ions     NIONS =     {len(first)}", ""]
    for step, (atoms, energy, force) in enumerate(zip(frames, energies, forces), 1):
        rec = atoms.cell.reciprocal()
        lines += [f"----------------------------------------- Iteration {step:4d}(   1)  ---------------------------------------", ""]
        lines += ["  energy-cutoff  :      400.00", f"  volume of cell :   {atoms.get_volume():10.2f}"]
        lines += ["      direct lattice vectors                 reciprocal lattice vectors"]
        for a, b in zip(atoms.cell.array, rec):
            lines.append(f"   {a[0]:12.9f} {a[1]:12.9f} {a[2]:12.9f}    {b[0]:12.9f} {b[1]:12.9f} {b[2]:12.9f}")
        lines += ["", " POSITION                                       TOTAL-FORCE (eV/Angst)"]
        lines.append(" -----------------------------------------------------------------------------------")
        for pos, f in zip(atoms.positions, force):
            lines.append(f"   {pos[0]:10.5f}   {pos[1]:10.5f}   {pos[2]:10.5f}      {f[0]:12.6f} {f[1]:12.6f} {f[2]:12.6f}")
        lines.append(" -----------------------------------------------------------------------------------")
        lines += ["    total drift:                                0.000000      0.000000      0.000000", "", ""]
        lines += [f" {_RULE}", "", "", "  FREE ENERGIE OF THE ION-ELECTRON SYSTEM (eV)", "  ---------------------------------------------------"]
        lines += [f"  free  energy   TOTEN  =   {energy:18.8f} eV", ""]
        lines += [f"  energy  without entropy=   {energy + 0.001:18.8f}  energy(sigma->0) =   {energy + 0.0005:18.8f}", "", ""]
    path.write_text("\n".join(lines) + "\n")


def write_vasprun(path: Path, frames: list[Atoms], energies: list[float], forces: list[np.ndarray], *, truncate: bool = False) -> None:
    """Write a vasprun.xml with one <calculation> per frame; ``truncate`` cuts it mid-file."""
    first = frames[0]
    symbols = first.get_chemical_symbols()
    species = list(dict.fromkeys(symbols))

    def varray(name: str, rows: np.ndarray) -> str:
        body = "\n".join(f"    <v> {r[0]:16.8f} {r[1]:16.8f} {r[2]:16.8f} </v>" for r in rows)
        return f'   <varray name="{name}" >\n{body}\n   </varray>'

    def structure(atoms: Atoms, name: str | None = None) -> str:
        attr = f' name="{name}"' if name else ""
        return (
            f" <structure{attr}>\n  <crystal>\n{varray('basis', atoms.cell.array)}\n"
            f'   <i name="volume"> {atoms.get_volume():.8f} </i>\n  </crystal>\n'
            f"{varray('positions', atoms.get_scaled_positions())}\n </structure>"
        )

    atom_rows = "\n".join(f"    <rc><c>{s:2s}</c><c>{species.index(s) + 1}</c></rc>" for s in symbols)
    type_rows = "\n".join(
        f"    <rc><c>{symbols.count(s)}</c><c>{s:2s}</c><c>  1.0</c><c>  1.0</c><c>  PAW_PBE {s} 06Sep2000</c></rc>" for s in species
    )
    parts = [
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        "<modeling>",
        ' <generator>\n  <i name="program" type="string">vasp </i>\n  <i name="version" type="string">6.4.2 </i>\n </generator>',
        ' <incar>\n  <i type="string" name="PREC">accurate</i>\n  <i name="ENCUT">    400.00000000</i>\n </incar>',
        ' <kpoints>\n  <varray name="kpointlist" >\n   <v>       0.00000000       0.00000000       0.00000000 </v>\n  </varray>\n'
        '  <varray name="weights" >\n   <v>       1.00000000 </v>\n  </varray>\n </kpoints>',
        ' <parameters>\n  <separator name="electronic" >\n   <i name="NELECT">     %.8f</i>\n  </separator>\n </parameters>' % (3.0 * len(first)),
        f' <atominfo>\n  <atoms>       {len(first)} </atoms>\n  <types>       {len(species)} </types>\n'
        f'  <array name="atoms" >\n   <dimension dim="1">ion</dimension>\n   <field type="string">element</field>\n'
        f'   <field type="int">atomtype</field>\n   <set>\n{atom_rows}\n   </set>\n  </array>\n'
        f'  <array name="atomtypes" >\n   <dimension dim="1">type</dimension>\n   <field type="int">atomspertype</field>\n'
        f'   <field type="string">element</field>\n   <field>mass</field>\n   <field>valence</field>\n'
        f'   <field type="string">pseudopotential</field>\n   <set>\n{type_rows}\n   </set>\n  </array>\n </atominfo>',
        structure(first, "initialpos"),
    ]
    for atoms, energy, force in zip(frames, energies, forces):
        parts.append(
            " <calculation>\n"
            f'  <scstep>\n   <energy>\n    <i name="e_fr_energy"> {energy:16.8f} </i>\n'
            f'    <i name="e_wo_entrp"> {energy + 0.001:16.8f} </i>\n    <i name="e_0_energy"> {energy + 0.0005:16.8f} </i>\n   </energy>\n  </scstep>\n'
            f"{structure(atoms)}\n{varray('forces', force)}\n"
            f'  <energy>\n   <i name="e_fr_energy"> {energy:16.8f} </i>\n   <i name="e_wo_entrp"> {energy + 0.001:16.8f} </i>\n'
            f'   <i name="e_0_energy"> {energy + 0.0005:16.8f} </i>\n  </energy>\n </calculation>'
        )
    parts.append(' <structure name="finalpos">\n </structure>\n</modeling>')
    text = "\n".join(parts) + "\n"
    if truncate:
        text = text[: len(text) // 2]
    path.write_text(text)
