"""Electronic structure: occupation schemes and the tetrahedron method (:mod:`.smearing`), eigenvalues and VASP readers (:mod:`.eigenvalues`), the GPAW eigenvalue-sum protocols (:mod:`.protocols`) and their SCF cache (:mod:`.scf_cache`), descriptors (:mod:`.descriptors`).

Imports :mod:`analysis.core` and the reference pipeline's calculator factory.
"""
from __future__ import annotations

from analysis.core.lazy import lazy_exports

#: commands of ``python -m analysis``: name -> ("module:function", one-line help); modules load only when run
COMMANDS: dict[str, tuple[str, str]] = {
    'electronic': ('analysis.electronic.cli:main', 'GPAW eigenvalue protocols (displacement, Fermi shift) per element'),
}

_EXPORTS: dict[str, str] = {
    'Method': 'analysis.electronic.smearing',
    'METHODS': 'analysis.electronic.smearing',
    'SMEARING_METHODS': 'analysis.electronic.smearing',
    'BandEnergy': 'analysis.electronic.smearing',
    'FermiShiftCurve': 'analysis.electronic.smearing',
    'distribution': 'analysis.electronic.smearing',
    'fermi_level': 'analysis.electronic.smearing',
    'occupations': 'analysis.electronic.smearing',
    'band_energy': 'analysis.electronic.smearing',
    'eigenvalue_sum_vs_fermi_shift': 'analysis.electronic.smearing',
    'dos_tetrahedron': 'analysis.electronic.smearing',
    'dos_at_fermi': 'analysis.electronic.smearing',
    'Eigenvalues': 'analysis.electronic.eigenvalues',
    'read_vasprun': 'analysis.electronic.eigenvalues',
    'read_eigenval': 'analysis.electronic.eigenvalues',
    'read_vasp': 'analysis.electronic.eigenvalues',
    'smearing_table': 'analysis.electronic.eigenvalues',
    'SETTINGS': 'analysis.electronic.protocols',
    'SCHEMA_VERSION': 'analysis.electronic.scf_cache',
    'structure_hash': 'analysis.electronic.scf_cache',
    'load_scf': 'analysis.electronic.scf_cache',
    'electronic_dir': 'analysis.electronic.scf_cache',
    'protocol_cell': 'analysis.electronic.protocols',
    'displaced': 'analysis.electronic.protocols',
    'run_scf': 'analysis.electronic.protocols',
    'curves_from_eigenvalues': 'analysis.electronic.protocols',
    'ElementResult': 'analysis.electronic.protocols',
    'run_element': 'analysis.electronic.protocols',
    'load_curves': 'analysis.electronic.protocols',
    'curves_frame': 'analysis.electronic.protocols',
    'available_elements': 'analysis.electronic.protocols',
    'DESCRIPTORS': 'analysis.electronic.descriptors',
    'deband_dmu_exact': 'analysis.electronic.descriptors',
    'descriptors_from_curves': 'analysis.electronic.descriptors',
    'compute_descriptors': 'analysis.electronic.descriptors',
    'correlate': 'analysis.electronic.descriptors',
    'main': 'analysis.electronic.cli',
}
__all__ = list(_EXPORTS)  # public names only: a module's private helpers stay in it
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
