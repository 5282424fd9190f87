"""Models: the registry of universal and fitted models (:mod:`.registry`), evaluation on frames (:mod:`.evaluate`), the per-frame result cache (:mod:`.frame_cache`).

Imports :mod:`analysis.core` and :mod:`analysis.datasets`; never the reference pipeline.
"""
from __future__ import annotations

from analysis.core.lazy import lazy_exports

#: commands of ``python -m analysis``: name -> ("module:function", one-line help); modules load only when run
COMMANDS: dict[str, tuple[str, str]] = {
    'models': ('analysis.models.cli:models_main', 'list the registered models and whether they can run here'),
    'export': ('analysis.models.export:export_main', 'write a data set for a fitting code: extxyz, mace, nep, deepmd, ase-db'),
}

_EXPORTS: dict[str, str] = {
    'Family': 'analysis.models.registry',
    'Env': 'analysis.models.registry',
    'MACE_MP_URLS': 'analysis.models.registry',
    'ORB_PRETRAINED_URLS': 'analysis.models.registry',
    'ORB_ARCHITECTURES': 'analysis.models.registry',
    'CHGNET_NAMES': 'analysis.models.registry',
    'SEVENN_MODELS': 'analysis.models.registry',
    'PREFIXES': 'analysis.models.registry',
    'ModelUnavailableError': 'analysis.models.registry',
    'ModelSpec': 'analysis.models.registry',
    'file_sha256': 'analysis.models.registry',
    'model_dir': 'analysis.models.registry',
    'sevenn_python': 'analysis.models.registry',
    'get_spec': 'analysis.models.registry',
    'weights_path': 'analysis.models.registry',
    'check_available': 'analysis.models.registry',
    'available_models': 'analysis.models.registry',
    'supported_dtypes': 'analysis.models.registry',
    'resolve_dtype': 'analysis.models.registry',
    'model_versions': 'analysis.models.registry',
    'slug': 'analysis.models.registry',
    'load_torch_model': 'analysis.models.registry',
    'default_torch_dtype': 'analysis.models.registry',
    'build_small_mace': 'analysis.models.registry',
    'Mode': 'analysis.models.evaluate',
    'DRIVER': 'analysis.models.evaluate',
    'FrameResults': 'analysis.models.evaluate',
    'resolve_device': 'analysis.models.evaluate',
    'Evaluator': 'analysis.models.evaluate',
    'LoopEvaluator': 'analysis.models.evaluate',
    'BatchedEvaluator': 'analysis.models.evaluate',
    'MaceBatched': 'analysis.models.evaluate',
    'OrbBatched': 'analysis.models.evaluate',
    'ChgnetBatched': 'analysis.models.evaluate',
    'SevennSubprocess': 'analysis.models.evaluate',
    'make_evaluator': 'analysis.models.evaluate',
    'evaluator_for_model': 'analysis.models.evaluate',
    'evaluate_frames': 'analysis.models.evaluate',
    'predict_isolating_failures': 'analysis.models.evaluate',
    'Timing': 'analysis.models.evaluate',
    'SIZE_LIMIT_BYTES': 'analysis.models.frame_cache',
    'model_key': 'analysis.models.frame_cache',
    'FrameCache': 'analysis.models.frame_cache',
    'models_main': 'analysis.models.cli',
}
__all__ = [name for name in _EXPORTS if not name.startswith("_")]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
