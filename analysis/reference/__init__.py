"""The GPAW reference pipeline: calculator factory and phases (:mod:`.gpaw_calc`), tiers (:mod:`.tiers`), equation of state (:mod:`.eos`, :mod:`.eos_fit`), MD sampling (:mod:`.sampling`), the resumable build (:mod:`.build`).

Imports :mod:`analysis.core` and :mod:`analysis.datasets`.
"""
from __future__ import annotations

from analysis.core.lazy import lazy_exports

#: commands of ``python -m analysis``: name -> ("module:function", one-line help); modules load only when run
COMMANDS: dict[str, tuple[str, str]] = {
    'build-reference': ('analysis.reference.cli:main', 'GPAW reference set (--tier ci|default|train|full), resumable, in the background'),
    'contacts': ('analysis.reference.contacts:contacts_main', 'frames with a close contact (shortest distance below 0.78 d_nn)'),
}

_EXPORTS: dict[str, str] = {
    'DEFAULT_SETUP': 'analysis.reference.gpaw_calc',
    'SETUP_DIR': 'analysis.reference.gpaw_calc',
    'SUBSTITUTES': 'analysis.reference.gpaw_calc',
    'Phase': 'analysis.reference.gpaw_calc',
    'SPACE_GROUP_NUMBER': 'analysis.reference.gpaw_calc',
    'phase': 'analysis.reference.gpaw_calc',
    'primitive_cell': 'analysis.reference.gpaw_calc',
    'conventional_cell': 'analysis.reference.gpaw_calc',
    'SUPERCELL_REPEATS': 'analysis.reference.gpaw_calc',
    'supercell': 'analysis.reference.gpaw_calc',
    'settings_hash': 'analysis.reference.gpaw_calc',
    'kpoint_mesh': 'analysis.reference.gpaw_calc',
    'mesh_for': 'analysis.reference.gpaw_calc',
    'is_spin_polarized': 'analysis.reference.gpaw_calc',
    'ensure_setup_path': 'analysis.reference.gpaw_calc',
    'valence_electrons': 'analysis.reference.gpaw_calc',
    'make_calculator': 'analysis.reference.gpaw_calc',
    'mixer_for': 'analysis.reference.gpaw_calc',
    'limit_threads': 'analysis.reference.gpaw_calc',
    'SinglePoint': 'analysis.reference.gpaw_calc',
    'single_point': 'analysis.reference.gpaw_calc',
    'SETTINGS_PATH': 'analysis.reference.tiers',
    'TIERS': 'analysis.reference.tiers',
    'PER_ELEMENT_KEYS': 'analysis.reference.tiers',
    'TierSettings': 'analysis.reference.tiers',
    'load_settings': 'analysis.reference.tiers',
    'tier_names': 'analysis.reference.tiers',
    'dft_for_temperature': 'analysis.reference.tiers',
    'estimated_cost': 'analysis.reference.tiers',
    'append_jsonl': 'analysis.reference.timing',
    'Timer': 'analysis.reference.timing',
    'utc_now': 'analysis.reference.timing',
    'timing_records': 'analysis.reference.timing',
    'timing_totals': 'analysis.reference.timing',
    'dft_seconds_per_frame': 'analysis.reference.timing',
    'projected_seconds': 'analysis.reference.timing',
    'GPA_PER_EV_PER_A3': 'analysis.reference.eos',
    'birch_murnaghan': 'analysis.reference.eos',
    'eos_curve': 'analysis.reference.eos',
    'DEFAULT_EOS_PATH': 'analysis.reference.eos_fit',
    'compute_eos': 'analysis.reference.eos_fit',
    'load_eos_table': 'analysis.reference.eos_fit',
    'eos_for': 'analysis.reference.eos_fit',
    'sampler_name': 'analysis.reference.sampling',
    'sample_configurations': 'analysis.reference.sampling',
    'write_frames_atomic': 'analysis.reference.build',
    'frame_path': 'analysis.reference.build',
    'failed_path': 'analysis.reference.build',
    'samples_path': 'analysis.reference.build',
    'build_dir': 'analysis.reference.build',
    'sampling_tier': 'analysis.reference.build',
    'claim_path': 'analysis.reference.build',
    'claim_frame': 'analysis.reference.build',
    'run_element': 'analysis.reference.build',
    'finished_frames': 'analysis.reference.build',
    'is_current': 'analysis.reference.build',
    'samples_match': 'analysis.reference.build',
    'assemble_dataset': 'analysis.reference.build',
    'failed_frames': 'analysis.reference.build',
    'BuildIncomplete': 'analysis.reference.build',
    'build_reference': 'analysis.reference.build',
    'main': 'analysis.reference.cli',
}
__all__ = list(_EXPORTS)  # public names only: a module's private helpers stay in it
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
