"""Model registry: a model name maps to a :class:`ModelSpec`; packages are imported only when used.

Names:
    ``mace-mp-<key>``      MACE-MP foundation models (``mace-mp-large`` is the MPtrj model of the paper).
    ``orb-v3-...``, ...    every non-deprecated name of orb-models 0.5.5's pretrained table.
    ``chgnet-0.3.0``       CHGNet, weights shipped inside the chgnet wheel (runs offline).
    ``sevennet-0``         SevenNet-0, weights shipped inside the sevenn wheel; runs in ``.venv-sevenn``.
    ``emt``                ASE's EMT (cheap, real; for tests and demos).
    registered files       names the operator gave model files in ``<model dir>/models.json``
                           (``python -m analysis models register``; see :mod:`.local_files`).
    ``mace:PATH``, ...     on the command line only (``orb:``, ``nep:``, ``deepmd:`` too): a file
                           inside the model directory. The dashboard accepts registered names only.

Weights that are downloaded at run time by their package (MACE-MP, ORB) are looked for, in order,
in the model folder (``MLFF_ATLAS_MODEL_DIR``, default ``<data dir>/models``) under the file name of
their download URL, then in the package's own download cache (``$XDG_CACHE_HOME/mace`` for mace,
``$CACHED_PATH_CACHE_ROOT`` for orb's ``cached_path``). When absent, :func:`load_model` raises a
:class:`ModelUnavailableError` naming the file to place; there is no silent fallback.

Safe loading: ORB and CHGNet weights are plain state dicts and are read with
``torch.load(weights_only=True)``. MACE ``.model`` files are whole pickled ``torch.nn.Module``
objects and can only be read with ``weights_only=False`` (which can run code from the file): local
model files load only from inside the model directory (resolved, so symbolic links out of it are
refused), MACE-MP files also from mace's own download cache. Loader errors of local files name the
model, never the file's content. NEP files are text; DeePMD frozen graphs are read by deepmd-kit itself.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from analysis.core.config import DEEPMD_VENV_ENV, MODEL_DIR_ENV, SEVENN_VENV_ENV, deepmd_venv, sevenn_venv
from analysis.core.config import model_dir as config_model_dir
from analysis.core.errors import InputFileError
from analysis.models.local_files import ModelUnavailableError, contained_file, content_hidden, registered_files

Family = Literal["mace", "orb", "chgnet", "sevenn", "nep", "deepmd", "ase"]
Env = Literal["main", "sevenn"]


# mace-torch 0.3.16, mace/calculators/foundations_models.py: mace_mp_urls (MACE-MP family only)
MACE_MP_URLS: dict[str, str] = {
    "small": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0/2023-12-10-mace-128-L0_energy_epoch-249.model",
    "medium": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0/2023-12-03-mace-128-L1_epoch-199.model",
    "large": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0/MACE_MPtrj_2022.9.model",
    "small-0b": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0b/mace_agnesi_small.model",
    "medium-0b": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0b/mace_agnesi_medium.model",
    "small-0b2": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0b2/mace-small-density-agnesi-stress.model",
    "medium-0b2": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0b2/mace-medium-density-agnesi-stress.model",
    "large-0b2": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0b2/mace-large-density-agnesi-stress.model",
    "medium-0b3": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0b3/mace-mp-0b3-medium.model",
    "medium-mpa-0": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mpa_0/mace-mpa-0-medium.model",
    "small-omat-0": "https://github.com/ACEsuit/mace-mp/releases/download/mace_omat_0/mace-omat-0-small.model",
    "medium-omat-0": "https://github.com/ACEsuit/mace-mp/releases/download/mace_omat_0/mace-omat-0-medium.model",
}
_ORB_S3 = "https://orbitalmaterials-public-models.s3.us-west-1.amazonaws.com/forcefields"
# orb-models 0.5.5, orb_models/forcefield/pretrained.py: ORB_PRETRAINED_MODELS minus the deprecated v1 names
ORB_PRETRAINED_URLS: dict[str, str] = {
    "orb-v3-conservative-omol": f"{_ORB_S3}/orb-v3-conservative-omol-20250820.ckpt",
    "orb-v3-direct-omol": f"{_ORB_S3}/orb-v3-direct-omol-20250820.ckpt",
    "orb-v3-conservative-20-omat": f"{_ORB_S3}/orb-v3/orb-v3-conservative-20-omat-20250404.ckpt",
    "orb-v3-conservative-inf-omat": f"{_ORB_S3}/orb-v3/orb-v3-conservative-inf-omat-20250404.ckpt",
    "orb-v3-direct-20-omat": f"{_ORB_S3}/orb-v3/orb-v3-direct-20-omat-20250404.ckpt",
    "orb-v3-direct-inf-omat": f"{_ORB_S3}/orb-v3/orb-v3-direct-inf-omat-20250404.ckpt",
    "orb-v3-conservative-20-mpa": f"{_ORB_S3}/orb-v3/orb-v3-conservative-20-mpa-20250404.ckpt",
    "orb-v3-conservative-inf-mpa": f"{_ORB_S3}/orb-v3/orb-v3-conservative-inf-mpa-20250404.ckpt",
    "orb-v3-direct-20-mpa": f"{_ORB_S3}/orb-v3/orb-v3-direct-20-mpa-20250404.ckpt",
    "orb-v3-direct-inf-mpa": f"{_ORB_S3}/orb-v3/orb-v3-direct-inf-mpa-20250404.ckpt",
    "separate-d3-3layer": f"{_ORB_S3}/separate-d3-3layer.ckpt",
    "separate-d3-5layer": f"{_ORB_S3}/separate-d3-5layer.ckpt",
    "separate-d4-3layer": f"{_ORB_S3}/separate-d4-3layer.ckpt",
    "separate-d4-5layer": f"{_ORB_S3}/separate-d4-5layer.ckpt",
    "orb-v2": f"{_ORB_S3}/orb-v2-20241011.ckpt",
    "orb-d3-v2": f"{_ORB_S3}/orb-d3-v2-20241011.ckpt",
    "orb-d3-sm-v2": f"{_ORB_S3}/orb-d3-sm-v2-20241011.ckpt",
    "orb-d3-xs-v2": f"{_ORB_S3}/orb-d3-xs-v2-20241011.ckpt",
    "orb-mptraj-only-v2": f"{_ORB_S3}/orb-mptraj-only-v2-20241014.ckpt",
}
ORB_ARCHITECTURES = ("orb_v3_conservative_architecture", "orb_v3_direct_architecture", "orb_v2_architecture")
# integer / float keyword options passed to an ORB architecture function for local checkpoints
_ORB_INT_OPTIONS = (
    "latent_dim",
    "base_mlp_hidden_dim",
    "base_mlp_depth",
    "head_mlp_hidden_dim",
    "head_mlp_depth",
    "num_message_passing_steps",
)
CHGNET_NAMES = ("0.3.0", "0.2.0", "r2scan")
SEVENN_MODELS = {"sevennet-0": "7net-0", "sevennet-l3i5": "7net-l3i5", "sevennet-mf-0-pbe": "7net-mf-0@PBE"}
"""Registered SevenNet models -> the sevenn checkpoint name (``@modal`` picks one fidelity of a multi-fidelity model)."""
SEVENN_DESCRIPTIONS = {
    "sevennet-0": "SevenNet-0 (weights in the sevenn wheel)",
    "sevennet-l3i5": "SevenNet-l3i5 (weights in the sevenn wheel)",
    "sevennet-mf-0-pbe": "SevenNet-MF-0, PBE modality (weights in the sevenn wheel)",
}
PREFIXES: tuple[str, ...] = ("mace", "orb", "nep", "deepmd")


@dataclass(frozen=True)
class ModelSpec:
    """What a model is and where its weights come from.

    Attributes:
        name: registry name, also the name its predictions are stored under.
        family: the framework that runs it.
        source: foundation-model key (``'large'``, ``'orb-v3-conservative-inf-omat'``, ``'0.3.0'``,
            ``'7net-0'``) or a local file path.
        universal: a universal (foundation) model, whose energies get the per-element shift.
        env: ``'main'`` (this venv) or ``'sevenn'`` (the separate ``.venv-sevenn``, via a subprocess).
        options: extra settings as sorted (key, value) string pairs (e.g. the ORB architecture).
        description: one line for the dashboard.
        available: whether the model can run here now (filled by :func:`available_models`).
        reason: why not, when it cannot (what file to place, what to install).
    """

    name: str
    family: Family
    source: str
    universal: bool
    env: Env = "main"
    options: tuple[tuple[str, str], ...] = ()
    description: str = ""
    available: bool = field(default=True, compare=False)
    reason: str = field(default="", compare=False)

    def option(self, key: str, default: str | None = None) -> str | None:
        """The value of option ``key`` (a string), or ``default``."""
        return dict(self.options).get(key, default)

    def is_local(self) -> bool:
        """Whether ``source`` is a file on disk rather than a foundation-model key."""
        return self.family in ("nep", "deepmd") or (self.family in ("mace", "orb") and os.path.isabs(self.source))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (without the availability fields)."""
        out = asdict(self)
        out["options"] = [list(p) for p in self.options]
        out.pop("available")
        out.pop("reason")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        kwargs = dict(data)
        kwargs["options"] = tuple((str(k), str(v)) for k, v in kwargs.get("options", ()))
        kwargs.pop("available", None)
        kwargs.pop("reason", None)
        return cls(**kwargs)

    def identity(self) -> dict[str, Any]:
        """What determines the model's predictions: family, source, options and, for local
        files, the SHA-256 of the file content (so a replaced file is a new model)."""
        ident = {"family": self.family, "source": self.source, "options": [list(p) for p in self.options]}
        if self.is_local():
            ident["file_sha256"] = file_sha256(Path(self.source))
        return ident


def _options(**kwargs: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in kwargs.items() if v is not None))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (cached per path, size and modification time)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelUnavailableError(f"model file {path} is missing: {exc.strerror}") from exc
    return _file_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _file_sha256(path: str, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- registry
def model_dir() -> Path:
    """Folder searched for downloaded weights (see :func:`analysis.core.config.model_dir`)."""
    return config_model_dir()


def deepmd_python() -> Path:
    """The Python of the deepmd-kit environment (``MLFF_ATLAS_DEEPMD_VENV``, default ``.venv-deepmd``)."""
    return deepmd_venv() / "bin" / "python"


def sevenn_python() -> Path:
    """The Python of the SevenNet environment (see :func:`analysis.core.config.sevenn_venv`)."""
    return sevenn_venv() / "bin" / "python"


@lru_cache(maxsize=1)
def _builtin() -> dict[str, ModelSpec]:
    specs: list[ModelSpec] = []
    for key in MACE_MP_URLS:
        specs.append(
            ModelSpec(f"mace-mp-{key}", "mace", key, True, description=f"MACE-MP foundation model '{key}'")
        )
    for name in ORB_PRETRAINED_URLS:
        specs.append(ModelSpec(name, "orb", name, True, description=f"ORB pretrained '{name}'"))
    for key in CHGNET_NAMES:
        specs.append(
            ModelSpec(f"chgnet-{key}", "chgnet", key, True, description=f"CHGNet {key} (weights in the chgnet wheel)")
        )
    specs.append(ModelSpec("emt", "ase", "EMT", False, description="ASE's EMT potential (cheap; for tests and demos)"))
    for name, key in SEVENN_MODELS.items():
        specs.append(
            ModelSpec(name, "sevenn", key, True, env="sevenn", description=SEVENN_DESCRIPTIONS[name])
        )
    return {s.name: s for s in specs}


def registered_specs() -> dict[str, ModelSpec]:
    """Model files the operator registered in ``<model dir>/models.json`` (see :mod:`.local_files`).

    Raises:
        InputFileError: ``models.json`` is not a valid table.
    """
    specs = {}
    for entry in registered_files():
        options = dict(entry.options)
        if entry.family == "orb":
            options.setdefault("architecture", "orb-v3-conservative-inf-omat")
        source = str(model_dir().resolve() / entry.file)
        specs[entry.name] = ModelSpec(entry.name, entry.family, source, entry.universal,  # type: ignore[arg-type]
                                      options=_options(**options), description=entry.description)
    return specs


def registry() -> dict[str, ModelSpec]:
    """Every model name the dashboard accepts: the built-in ones and the registered model files.

    A ``models.json`` that cannot be read leaves only the built-in names (logged; ``python -m
    analysis models`` prints the error), so the dashboard keeps serving.
    """
    out = dict(_builtin())
    try:
        registered = registered_specs()
    except InputFileError as exc:
        logging.getLogger(__name__).warning("registered models ignored: %s", exc)
        registered = {}
    out.update({name: spec for name, spec in registered.items() if name not in out})
    return out


def get_spec(name: str | ModelSpec, /, **options: Any) -> ModelSpec:
    """The spec for a registry name (built-in or registered file) or a ``family:PATH`` string.

    A ``family:PATH`` spec is for the command line; its file loads only when it lies inside the
    model directory (:func:`weights_path`). Never pass a name from a web request here unchecked.

    Args:
        name: a registry name (``'mace-mp-large'``), or ``'mace:/path/x.model'``,
            ``'orb:/path/x.ckpt'``, ``'nep:/path/nep.txt'``, ``'deepmd:/path/graph.pb'``; a spec is
            returned unchanged.
        **options: settings for local files: ``universal`` (bool), ``architecture`` and the
            architecture's integer sizes for ORB checkpoints, ``name`` for the display name.

    Raises:
        KeyError: an unknown name (the message lists the known names).
    """
    if isinstance(name, ModelSpec):
        return name
    builtin = registry()
    if name in builtin and not options:
        return builtin[name]
    prefix, sep, rest = name.partition(":")
    if sep and prefix in PREFIXES and rest:
        path = str(Path(rest).expanduser().resolve())
        display = str(options.pop("name", "") or f"{prefix}-{Path(rest).stem}")
        universal = bool(options.pop("universal", prefix in ("mace", "orb")))
        if prefix == "orb":
            options.setdefault("architecture", "orb-v3-conservative-inf-omat")
        return ModelSpec(display, prefix, path, universal, options=_options(**options))  # type: ignore[arg-type]
    known = ", ".join(sorted(builtin))
    raise KeyError(f"unknown model {name!r}: use one of {known}, or mace:PATH, orb:PATH, nep:PATH, deepmd:PATH")


def _url_basename(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _mace_cache_file(key: str) -> Path:
    # mirrors mace.calculators.foundations_models.download_mace_mp_checkpoint
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mace"
    name = "".join(c for c in _url_basename(MACE_MP_URLS[key]) if c.isalnum() or c == "_")
    return cache / name


def _orb_cached(url: str) -> Path | None:
    # mirrors cached_path.find_latest_cached: files named sha256(url)[.sha256(etag)]
    root = Path(os.environ.get("CACHED_PATH_CACHE_ROOT", Path.home() / ".cache" / "cached_path"))
    stem = hashlib.sha256(url.encode()).hexdigest()
    if not root.is_dir():
        return None
    found = [
        p
        for p in root.glob(f"{stem}*")
        if p.suffix not in (".json", ".lock") and not p.name.endswith("-extracted") and p.is_file()
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def weights_path(spec: ModelSpec) -> Path | None:
    """The local weights file of ``spec`` (None for models whose weights ship in a package).

    Raises:
        ModelUnavailableError: the file is not on this machine; the message names the file to
            place and the environment variable to set.
    """
    if spec.family == "mace" and spec.source in MACE_MP_URLS:
        url = MACE_MP_URLS[spec.source]
        candidates = [model_dir() / _url_basename(url), _mace_cache_file(spec.source)]
        for path in candidates:
            if path.is_file():
                # read with weights_only=False: only from the model directory or mace's own download cache
                return contained_file(path, name=spec.name, roots=(model_dir(), candidates[1].parent))
        raise ModelUnavailableError(
            f"{spec.name}: weights not on this machine (no network here). Download {url} and place it at "
            f"{candidates[0]} (or set {MODEL_DIR_ENV} to the folder holding {_url_basename(url)}); "
            f"mace's own download cache {candidates[1]} is also used when present."
        )
    if spec.family == "orb" and spec.source in ORB_PRETRAINED_URLS:
        url = ORB_PRETRAINED_URLS[spec.source]
        local = model_dir() / _url_basename(url)
        if local.is_file():
            return local
        cached = _orb_cached(url)
        if cached is not None:
            return cached
        raise ModelUnavailableError(
            f"{spec.name}: weights not on this machine (no network here). Download {url} and place it at "
            f"{local} (or set {MODEL_DIR_ENV} to the folder holding {_url_basename(url)}); orb's cached_path "
            f"cache ($CACHED_PATH_CACHE_ROOT, default ~/.cache/cached_path) is also used when present."
        )
    if spec.is_local():
        return contained_file(spec.source, name=spec.name)
    return None


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def check_available(spec: ModelSpec) -> tuple[bool, str]:
    """Whether ``spec`` can run here, and if not why (cheap: imports no model package)."""
    packages = {"mace": "mace-torch", "orb": "orb-models", "chgnet": "chgnet", "nep": "calorine", "deepmd": "deepmd-kit"}
    if spec.family == "deepmd" and _package_version("deepmd-kit") is None:
        if not deepmd_python().is_file():
            return False, (f"DeePMD runs in its own environment: run scripts/deepmd_env.sh to create {deepmd_venv()} "
                           f"(or set {DEEPMD_VENV_ENV})")
    elif spec.family in packages and _package_version(packages[spec.family]) is None:
        return False, f"package {packages[spec.family]} is not installed in this environment"
    if spec.family == "sevenn":
        python = sevenn_python()
        if not python.is_file():
            return False, (
                f"SevenNet runs in its own environment: run scripts/sevenn_env.sh to create {python.parent.parent} "
                f"(or set {SEVENN_VENV_ENV})"
            )
    try:
        weights_path(spec)
    except ModelUnavailableError as exc:
        return False, str(exc)
    return True, ""


def available_models(extra: list[str | ModelSpec] | None = None) -> list[ModelSpec]:
    """Every registered model (plus ``extra`` names/specs) with ``available`` and ``reason`` filled in."""
    specs = list(registry().values()) + [get_spec(e) for e in extra or []]
    out = []
    for spec in specs:
        ok, reason = check_available(spec)
        out.append(replace(spec, available=ok, reason=reason))
    return out


_DTYPES: dict[str, tuple[str, ...]] = {
    "mace": ("float64", "float32"),
    "orb": ("float64", "float32"),
    "chgnet": ("float32",),  # its graph converter builds float32 tensors
    "sevenn": ("float32",),
    "nep": ("float64",),  # calorine's CPU NEP computes in double precision
    "deepmd": ("float64",),  # the frozen model fixes the precision
    "ase": ("float64",),
}


def supported_dtypes(spec: ModelSpec) -> tuple[str, ...]:
    """The precisions ``spec`` can run in, preferred first."""
    return _DTYPES[spec.family]


def resolve_dtype(spec: ModelSpec, dtype: str = "auto") -> str:
    """'auto' -> the model's preferred precision; an unsupported one raises ValueError (no silent change)."""
    allowed = supported_dtypes(spec)
    if dtype == "auto":
        return allowed[0]
    if dtype not in allowed:
        raise ValueError(f"{spec.name} runs in {' or '.join(allowed)} only, not {dtype}: use dtype='auto' or {allowed[0]!r}")
    return dtype


def model_versions(spec: ModelSpec) -> dict[str, str]:
    """Versions of the packages that run ``spec`` (for the predictions' metadata)."""
    names = {
        "mace": ["mace-torch", "torch", "e3nn"],
        "orb": ["orb-models", "torch"],
        "chgnet": ["chgnet", "torch"],
        "nep": ["calorine"],
        "deepmd": ["deepmd-kit"],
        "ase": ["ase"],
        "sevenn": [],
    }[spec.family]
    return {n: v for n in names if (v := _package_version(n)) is not None}


def slug(name: str) -> str:
    """A file-name-safe form of a model name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.") or "model"


# --------------------------------------------------------------------------- loading
def load_torch_model(spec: ModelSpec, *, device: str, dtype: str) -> Any:
    """Load the torch model of ``spec`` on ``device`` in ``dtype`` ('float32' or 'float64').

    Returns:
        A ``torch.nn.Module`` in eval mode (MACE, ORB, CHGNet).

    Raises:
        ModelUnavailableError: weights or package missing (the message says what to do).
        ValueError: a family without a torch model here (sevenn, nep, deepmd, ase).
    """
    ok, reason = check_available(spec)
    if not ok:
        raise ModelUnavailableError(reason)
    if spec.family == "mace":
        with content_hidden(spec.name):
            return _load_mace(weights_path(spec), device=device, dtype=dtype)  # type: ignore[arg-type]
    if spec.family == "orb":
        with content_hidden(spec.name):
            return _load_orb(spec, weights_path(spec), device=device, dtype=dtype)  # type: ignore[arg-type]
    if spec.family == "chgnet":
        return _load_chgnet(spec.source, device=device, dtype=dtype)
    raise ValueError(f"{spec.name}: family {spec.family!r} has no in-process torch model")


def _torch_dtype(dtype: str) -> Any:
    import torch

    if dtype not in ("float32", "float64"):
        raise ValueError(f"{dtype=} must be 'float32' or 'float64'")
    return torch.float64 if dtype == "float64" else torch.float32


def _load_mace(path: Path, *, device: str, dtype: str) -> Any:
    import mace  # noqa: F401  (sets torch's load mode before e3nn reads its constants)
    import torch

    # A .model file is a pickled nn.Module: weights_only=True cannot read it.
    model = torch.load(str(path), map_location=device, weights_only=False)
    model = model.to(device=device, dtype=_torch_dtype(dtype))
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def _load_orb(spec: ModelSpec, path: Path, *, device: str, dtype: str) -> Any:
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.atomic_system import SystemConfig

    precision = "float64" if dtype == "float64" else "float32-highest"
    with default_torch_dtype(dtype):
        if spec.source in ORB_PRETRAINED_URLS:
            loader = pretrained.ORB_PRETRAINED_MODELS[spec.source]
            return loader(weights_path=str(path), device=device, precision=precision, compile=False)
        arch = spec.option("architecture", "orb-v3-conservative-inf-omat")
        if arch in ORB_PRETRAINED_URLS:
            loader = pretrained.ORB_PRETRAINED_MODELS[arch]
            return loader(weights_path=str(path), device=device, precision=precision, compile=False)
        if arch not in ORB_ARCHITECTURES:
            raise ValueError(f"{spec.name}: unknown ORB architecture {arch!r}: use a pretrained name or one of {ORB_ARCHITECTURES}")
        kwargs: dict[str, Any] = {k: int(v) for k, v in spec.options if k in _ORB_INT_OPTIONS}
        config = SystemConfig(
            radius=float(spec.option("radius", "6.0")),  # type: ignore[arg-type]
            max_num_neighbors=int(spec.option("max_num_neighbors", "20")),  # type: ignore[arg-type]
        )
        model = getattr(pretrained, arch)(device=device, system_config=config, **kwargs)
        return pretrained.load_model(model, str(path), device, precision=precision, compile=False)


def _load_chgnet(name: str, *, device: str, dtype: str) -> Any:
    import chgnet
    import torch
    from chgnet.model import CHGNet

    files = {
        "0.3.0": "0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
        "0.2.0": "0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
        "r2scan": "r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
    }
    path = Path(chgnet.__file__).parent / "pretrained" / files[name]
    # the checkpoint is a plain dict of tensors and numbers: no code is unpickled
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    model = CHGNet.from_dict(state["model"], mlp_out_bias=name == "0.2.0", version=name)
    model = model.to(device=device, dtype=_torch_dtype(dtype))
    model.eval()
    return model


class default_torch_dtype:
    """Context manager: torch's default dtype set to ``dtype`` inside, restored after."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype

    def __enter__(self) -> None:
        import torch

        self._old = torch.get_default_dtype()
        torch.set_default_dtype(_torch_dtype(self.dtype))

    def __exit__(self, *exc: Any) -> None:
        import torch

        torch.set_default_dtype(self._old)


def build_small_mace(
    path: Path,
    *,
    atomic_numbers: tuple[int, ...] = (29,),
    r_max_a: float = 4.0,
    channels: int = 8,
    seed: int = 0,
) -> Path:
    """Build a small randomly initialised ``ScaleShiftMACE`` and save it as a ``.model`` file.

    For tests and benchmarks: a real MACE architecture with random weights (a few hundred kB).

    Args:
        path: where to write the ``.model`` file.
        atomic_numbers: elements the model knows.
        r_max_a: cutoff radius in Å.
        channels: number of scalar and vector channels of the hidden irreps.
        seed: torch random seed of the initial weights.
    """
    import mace  # noqa: F401
    import numpy as np
    import torch
    from e3nn import o3
    from mace import modules

    with default_torch_dtype("float64"):
        torch.manual_seed(seed)
        block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
        model = modules.ScaleShiftMACE(
            r_max=r_max_a,
            num_bessel=4,
            num_polynomial_cutoff=5,
            max_ell=2,
            interaction_cls=block,
            interaction_cls_first=block,
            num_interactions=2,
            num_elements=len(atomic_numbers),
            hidden_irreps=o3.Irreps(f"{channels}x0e+{channels}x1o"),
            MLP_irreps=o3.Irreps("8x0e"),
            atomic_energies=np.array([-3.0 - 0.1 * i for i in range(len(atomic_numbers))]),
            avg_num_neighbors=12.0,
            atomic_numbers=list(atomic_numbers),
            correlation=2,
            gate=torch.nn.functional.silu,
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model, str(path))
    return path
