"""Why is Ba's PBE V0 6.7 % above WIEN2k's? EOS scans of bcc Ba under one changed setting at a time."""
import json
import sys
import time

import numpy as np
from ase import units
from ase.eos import EquationOfState

from analysis.reference import gpaw_calc

base = {"mode": "pw", "xc": "PBE", "ecut_ev": 350, "kpt_density": 4.0, "gamma": False, "smearing": "fermi-dirac",
        "width_ev": 0.1, "symmetry": "full", "convergence": {"density": 1e-5, "eigenstates": 1e-6}, "maxiter": 300}
variants = {"frames' EOS settings": {}, "ecut 600 eV": {"ecut_ev": 600}, "k density 7": {"kpt_density": 7.0},
            "smearing 0.02 eV": {"width_ev": 0.02}}
out = {}
for name, change in variants.items():
    s = {**base, **change}
    vols = np.linspace(0.9, 1.1, 7) * 65.2
    mesh = gpaw_calc.kpoint_mesh(gpaw_calc.primitive_cell("Ba", 65.2), s["kpt_density"])
    s["kpts"] = list(mesh)
    es = []
    t = time.time()
    for v in vols:
        r = gpaw_calc.single_point(gpaw_calc.primitive_cell("Ba", float(v)), s, forces=False)
        es.append(r.energy_ev)
    eos = EquationOfState(list(vols), es, eos="birchmurnaghan")
    v0, e0, b0 = eos.fit(warn=False)
    out[name] = {"V0": float(v0), "B0_GPa": float(b0 / units.GPa), "Bprime": float(eos.eos_parameters[2]), "kpts": list(mesh), "wall_s": time.time() - t}
    print(name, out[name], flush=True)
json.dump(out, open(sys.argv[1], "w"), indent=1)
