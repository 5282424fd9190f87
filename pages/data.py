"""Data ('/data'): upload reference and prediction files, list the data sets present with their provenance.

Uploaded bytes are written under their (sanitised) original name into a private temporary folder
and handed to the importers of :mod:`analysis.datasets.importers`, which parse text/array formats only: nothing
uploaded is ever unpickled or executed. Every bad file gets the importer's specific message.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from analysis import views
from analysis.core.errors import InputFileError
from analysis.datasets import store
from components import ids
from components.layout import alert, data_table, key_value_card, labelled

dash.register_page(__name__, path="/data", title="Data · MLFF Error Atlas", name="Data")

REFERENCE_FORMATS = ["extxyz", "nep", "outcar", "vasprun", "archive"]
PREDICTION_FORMATS = ["nep-out", "deepmd-out", "extxyz"]
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
READ_ONLY = "This dashboard is read-only: uploads are turned off."


def sanitise_filename(name: str) -> str:
    """The base name of an uploaded file with unsafe characters replaced ('../a b.xyz' -> 'a_b.xyz')."""
    base = Path(name.replace("\\", "/")).name
    safe = _SAFE.sub("_", base).lstrip(".")
    return safe[:120] or "upload"


LIMIT_SETTING = "MLFF_ATLAS_MAX_UPLOAD_MB"
CHUNK_CHARS = 4 * (1 << 18)  # base64 characters decoded at a time (1 MiB), a multiple of 4


def limit_message(filename: str, size_bytes: int, limit_bytes: int) -> str:
    """What the page says about a file over the upload limit: its size, the limit and the setting that raises it."""
    return (f"{filename}: the file is {size_bytes / 2**20:.1f} MB, over the {limit_bytes / 2**20:.0f} MB upload limit. "
            f"The server's operator can raise the limit with {LIMIT_SETTING} (in MB), or import the file on the server: "
            "python -m analysis import FILE.")


def write_upload(contents: str, path: Path, filename: str) -> int:
    """Decode a dcc.Upload ``contents`` string ('data:<mime>;base64,<data>') into ``path`` piece by piece.

    The decoded bytes are never all in memory: 1 MiB of base64 at a time goes to the file (a 45 MB
    upload otherwise held a second copy of the text and a full copy of the bytes).

    Returns:
        The number of bytes written.

    Raises:
        InputFileError: malformed content or a file over the upload limit (checked before decoding).
    """
    start = contents.find(",") + 1  # 0: no 'data:...;base64,' header, all of it is base64
    payload = len(contents) - start
    size = payload * 3 // 4 - (contents.endswith("==") + contents.endswith("="))
    limit = views.max_upload_bytes()
    if size > limit:
        raise InputFileError(filename, limit_message(filename, size, limit))
    written = 0
    with open(path, "wb") as handle:
        for offset in range(start, len(contents), CHUNK_CHARS):
            piece = contents[offset:offset + CHUNK_CHARS]
            try:
                data = base64.b64decode(piece, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InputFileError(filename, f"upload is not valid base64 data: {exc}") from exc
            written += handle.write(data)
    return written


def decode_upload(contents: str, filename: str) -> bytes:
    """The bytes of a dcc.Upload ``contents`` string ('data:<mime>;base64,<data>').

    Raises:
        InputFileError: malformed content or a file over the upload limit.
    """
    _, _, encoded = contents.partition(",")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputFileError(filename, f"upload is not valid base64 data: {exc}") from exc
    limit = views.max_upload_bytes()
    if len(data) > limit:
        raise InputFileError(filename, limit_message(filename, len(data), limit))
    return data


BUSY = ("The server is importing {n} upload(s) already (the limit set by MLFF_ATLAS_MAX_IMPORTS): try again when one has "
        "finished. Nothing was stored.")


def _import_slot() -> Any:
    """One of the server's import slots (:func:`analysis.core.locks.slot`), or NoSlotFree."""
    from analysis.core.config import cache_dir, max_imports
    from analysis.core.locks import slot

    return slot(cache_dir() / "import-slots", max_imports())


def _message(exc: Exception, folder: str) -> str:
    """The exception's message with the temporary folder removed (the user sees their own file name)."""
    return str(exc).replace(folder + os.sep, "").replace(folder, "")


def import_reference_upload(contents: str, filename: str, *, dataset: str | None, fmt: str | None,
                            element: str | None, temperature: float | None, mode: str = "refuse",
                            type_map: str | None = None, energy_key: str | None = None,
                            forces_key: str | None = None) -> tuple[str, str]:
    """Import one uploaded reference file into the user data directory.

    A new data set is created (named after the file unless ``dataset`` is given); an existing one
    is written into only in ``mode`` append or replace (:func:`analysis.datasets.writing.write_frames`).

    Returns:
        (kind, message) for the alert: ('success', ...), ('warning', ...) when frames were dropped
        on the way in, or ('error', the importer's message).
    """
    if views.read_only():
        return "error", READ_ONLY
    name = dataset or Path(sanitise_filename(filename)).stem.replace(".", "-") or "imported"
    try:
        store.check_name(name)
    except ValueError as exc:
        return "error", str(exc)
    types = [t.strip() for t in (type_map or "").split(",") if t.strip()] or None
    from analysis.core.config import max_imports
    from analysis.core.locks import NoSlotFree

    try:
        with _import_slot():
            return _import_reference_file(contents, filename, name, fmt, element, temperature, mode, types,
                                          (energy_key or "").strip() or None, (forces_key or "").strip() or None)
    except NoSlotFree:
        return "error", BUSY.format(n=max_imports())


def _import_reference_file(contents: str, filename: str, name: str, fmt: str | None, element: str | None,
                           temperature: float | None, mode: str, types: list[str] | None,
                           energy_key: str | None = None, forces_key: str | None = None) -> tuple[str, str]:
    """Parse the upload and write it into data set ``name`` (inside an import slot)."""
    from analysis.datasets import importers as io
    from analysis.datasets.writing import write_frames

    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as folder:
        try:
            path = Path(folder) / sanitise_filename(filename)
            write_upload(contents, path, sanitise_filename(filename))
            ref = io.import_file(path, fmt=fmt or None, element=element or None, temperature=temperature, type_map=types,
                                 energy_key=energy_key, forces_key=forces_key)
        except (InputFileError, ValueError) as exc:
            return "error", _message(exc, folder)
        warnings = [_message(ValueError(w), folder) for w in ref.provenance.get("warnings", [])]
    ref.provenance = {**ref.provenance, "source_files": [filename], "imported_files": [filename]}
    try:
        outcome = write_frames(ref, name, mode=mode)  # type: ignore[arg-type]
    except ValueError as exc:
        return "error", str(exc)
    except OSError as exc:
        from analysis.core.config import data_dir
        from analysis.core.storage import disk_full_message, is_disk_full

        if is_disk_full(exc):
            return "error", f"could not write data set {name!r}: {disk_full_message(data_dir() / 'datasets', len(contents) * 3 // 4)}; nothing stored was changed"
        return "error", f"could not write data set {name!r}: {exc.strerror or exc}; nothing stored was changed"
    skipped = f", {outcome.skipped_duplicates} identical frames skipped" if outcome.skipped_duplicates else ""
    unknown = sum(1 for a in ref.frames if a.info["temperature"] != a.info["temperature"])
    notes = [*warnings]
    if unknown:
        notes.append(f"{unknown} frames have no temperature (T unknown): give one in the Temperature field to file them under it")
    text = (f"Imported {outcome.added} frames from {filename} into data set {name!r}{skipped} "
            f"({outcome.total} frames; {', '.join(outcome.elements)}).")
    return ("warning" if notes else "success"), " ".join([text, *notes])


def import_predictions_upload(contents: list[str], filenames: list[str], *, dataset: str, model: str, fmt: str | None,
                              universal: bool, pred_prefix: str | None = None) -> tuple[str, str]:
    """Import uploaded prediction files (e.g. NEP's energy_test.out + force_test.out) for ``dataset``.

    Returns:
        (kind, message) for the alert.
    """
    if views.read_only():
        return "error", READ_ONLY
    if not dataset:
        return "error", "Choose the data set these predictions were computed on."
    if not model or not model.strip():
        return "error", "Give the model a name."
    if "," in model:
        return "error", f"Model name {model.strip()!r} contains a comma: links list models separated by commas, choose another name."
    from analysis.core.config import max_imports
    from analysis.core.locks import NoSlotFree

    try:
        with _import_slot():
            return _import_prediction_files(contents, filenames, dataset, model.strip(), fmt, universal,
                                            (pred_prefix or "").strip() or None)
    except NoSlotFree:
        return "error", BUSY.format(n=max_imports())


def _import_prediction_files(contents: list[str], filenames: list[str], dataset: str, model: str, fmt: str | None,
                             universal: bool, pred_prefix: str | None = None) -> tuple[str, str]:
    """Parse uploaded prediction files and store them for ``dataset`` (inside an import slot)."""
    from analysis.datasets.predictions import import_predictions

    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as folder:
        try:
            paths = []
            for data, filename in zip(contents, filenames):
                path = Path(folder) / sanitise_filename(filename)
                write_upload(data, path, sanitise_filename(filename))
                paths.append(path)
            reference = store.load_dataset(dataset)
            pred = import_predictions(paths, reference, model=model.strip(), fmt=fmt or None, universal=universal,
                                      pred_prefix=pred_prefix)
        except KeyError as exc:
            return "error", str(exc.args[0])
        except (InputFileError, ValueError) as exc:
            return "error", _message(exc, folder)
    store.save_predictions(pred, dataset)
    missing = int(pred.meta["frames_without_prediction"])
    notes = [f"Skipped: {', '.join(pred.meta['skipped_files'])}."] if pred.meta["skipped_files"] else []
    if missing:
        notes.append(f"{missing} frames of {dataset!r} have no prediction in these files.")
    return ("warning" if notes else "success"), " ".join(
        [f"Imported predictions of {model.strip()!r} for {len(pred.frame_id) - missing} of {len(pred.frame_id)} frames of {dataset!r}.", *notes])


def datasets_table() -> Any:
    """The data sets present with their provenance, or a note that there are none."""
    summaries = views.list_dataset_summaries()
    if not summaries:
        return alert("No data sets yet: upload reference files above.", "info")
    frame = pd.DataFrame(
        {
            "data set": [s.name for s in summaries],
            "frames": [s.n_frames for s in summaries],
            "elements": [" ".join(e for e in s.elements if e not in s.compounds) or "—" for s in summaries],
            "non-elemental": [" ".join(s.compounds) or "—" for s in summaries],
            "models": [", ".join(s.models) or "—" for s in summaries],
            "where": ["embedded default" if s.embedded else "user data" for s in summaries],
            "created (UTC)": [s.created for s in summaries],
        }
    )
    details = [
        html.Details([
            html.Summary(f"How {s.name!r} was made"),
            key_value_card(s.name, views.provenance_summary(s.name) or [("provenance", "none recorded")]),
            html.Details([html.Summary("full provenance (JSON)"), html.Pre(json.dumps(s.provenance, indent=2, sort_keys=True, default=str))]),
        ], className="provenance")
        for s in summaries
    ]
    return html.Div([data_table(frame, id=ids.DATA_LIST_TABLE, page_size=20), *details])


def upload_sections(names: list[str]) -> list[Any]:
    """The two upload areas with their options; in read-only mode a note instead."""
    if views.read_only():
        return [alert(READ_ONLY, "info")]
    limit_mb = views.max_upload_bytes() / 2**20
    upload_style = {"className": "upload"}
    return [
        html.H3("Upload reference data"),
        html.P(f"Extended XYZ, NEP train/test.xyz, VASP OUTCAR or vasprun.xml, or a .zip/.tar.gz of those and of DeePMD "
               f"system folders (up to {limit_mb:.0f} MB; in an archive, a folder named like Cu_1200K gives its temperature). "
               "Energies in eV, forces in eV/Å (files in other units are refused: docs/import.md). gzip and bzip2 files are read too.",
               className="hint"),
        html.Div(
            [
                labelled("Data set name", dcc.Input(id=ids.DATA_REF_NAME, type="text", placeholder="from the file name"), width="12rem"),
                labelled("Format", dcc.Dropdown(id=ids.DATA_REF_FORMAT, options=REFERENCE_FORMATS, placeholder="detect"), width="10rem"),
                labelled("Element", dcc.Input(id=ids.DATA_REF_ELEMENT, type="text", placeholder="from the frames"), width="9rem"),
                labelled("Temperature (K)", dcc.Input(id=ids.DATA_REF_TEMPERATURE, type="number", min=0, placeholder="from the file"), width="11rem"),
                labelled("If the data set exists", dcc.Dropdown(id=ids.DATA_REF_MODE, options=[
                    {"label": "refuse", "value": "refuse"}, {"label": "append (skip identical frames)", "value": "append"},
                    {"label": "replace it", "value": "replace"}], value="refuse", clearable=False), width="15rem"),
                labelled("DeePMD type map", dcc.Input(id=ids.DATA_REF_TYPE_MAP, type="text", placeholder="e.g. O,H (no type_map.raw)"),
                         width="12rem"),
                labelled("Energy key", dcc.Input(id=ids.DATA_REF_ENERGY_KEY, type="text", placeholder="detect (REF_energy, ...)"),
                         width="11rem"),
                labelled("Forces key", dcc.Input(id=ids.DATA_REF_FORCES_KEY, type="text", placeholder="detect (REF_forces, ...)"),
                         width="11rem"),
            ],
            className="controls",
        ),
        dcc.Upload(id=ids.DATA_REF_UPLOAD, children=html.Div(["Drag a reference file here or ", html.A("choose one")]),
                   multiple=False, **upload_style),
        html.Div(id=ids.DATA_REF_TOO_BIG, className="alert alert-error", role="alert"),
        dcc.Store(id=ids.DATA_REF_ACCEPTED),
        dcc.Store(id=ids.DATA_UPLOAD_LIMIT, data=views.max_upload_bytes()),
        dcc.Loading(html.Div(id=ids.DATA_REF_MESSAGE)),
        html.H3("Upload predictions"),
        html.P("NEP energy_*.out + force_*.out, DeePMD dp test *.e.out + *.f.out, or an extended XYZ with the model's keys "
               "beside the reference (mace_eval_configs: MACE_energy, MACE_forces next to REF_energy, REF_forces), computed on one of the data sets below, "
               "in any frame order (each frame is matched by the reference values the files carry; a folder's other files are skipped).",
               className="hint"),
        html.Div(
            [
                labelled("Data set", dcc.Dropdown(id=ids.DATA_PRED_DATASET, options=names, value=names[0] if names else None), width="14rem"),
                labelled("Model name", dcc.Input(id=ids.DATA_PRED_MODEL, type="text", placeholder="e.g. nep-my-fit"), width="12rem"),
                labelled("Format", dcc.Dropdown(id=ids.DATA_PRED_FORMAT, options=PREDICTION_FORMATS, placeholder="detect"), width="10rem"),
                labelled("Prediction prefix", dcc.Input(id=ids.DATA_PRED_PREFIX, type="text", placeholder="detect (MACE_, ...)"),
                         width="11rem"),
                labelled("Universal model", dcc.Checklist(id=ids.DATA_PRED_UNIVERSAL,
                                                          options=[{"label": " apply the per-element energy shift", "value": "yes"}], value=[])),
            ],
            className="controls",
        ),
        dcc.Upload(id=ids.DATA_PRED_UPLOAD, children=html.Div(["Drag prediction files here or ", html.A("choose them")]),
                   multiple=True, **upload_style),
        html.Div(id=ids.DATA_PRED_TOO_BIG, className="alert alert-error", role="alert"),
        dcc.Store(id=ids.DATA_PRED_ACCEPTED),
        dcc.Loading(html.Div(id=ids.DATA_PRED_MESSAGE)),
    ]


def export_section(names: list[str]) -> list[Any]:
    """Export a data set (or some elements) to a fitting code's format, as a zip download."""
    if not names:
        return []
    return [
        html.H3("Export a data set to a fitting code"),
        html.Div([
            labelled("Data set", dcc.Dropdown(id=ids.DATA_EXPORT_DATASET, options=names, value=names[0], clearable=False), width="16rem"),
            labelled("Format", dcc.Dropdown(id=ids.DATA_EXPORT_FORMAT, value="mace", clearable=False,
                                            options=[{"label": label, "value": k} for k, (label, _) in views.EXPORT_FORMATS.items()]),
                     width="26rem"),
            labelled("Elements (all when empty)", dcc.Dropdown(id=ids.DATA_EXPORT_ELEMENTS, multi=True, options=[]), width="20rem"),
            html.Button("Download (zip)", id=ids.DATA_EXPORT_BUTTON, className="button"),
        ], className="controls"),
        html.Div(id=ids.DATA_EXPORT_MESSAGE),
        dcc.Download(id=ids.DATA_EXPORT_DOWNLOAD),
    ]


@callback(Output(ids.DATA_EXPORT_ELEMENTS, "options"), Input(ids.DATA_EXPORT_DATASET, "value"))
def export_elements(dataset: str | None) -> list[str]:
    """The chosen data set's elements."""
    return views.summary(dataset).elements if dataset in views.dataset_names() else []


@callback(Output(ids.DATA_EXPORT_DOWNLOAD, "data"), Output(ids.DATA_EXPORT_MESSAGE, "children"), Input(ids.DATA_EXPORT_BUTTON, "n_clicks"),
          State(ids.DATA_EXPORT_DATASET, "value"), State(ids.DATA_EXPORT_FORMAT, "value"), State(ids.DATA_EXPORT_ELEMENTS, "value"),
          prevent_initial_call=True)
def export_download(_n: int, dataset: str, fmt: str, elements: list[str] | None) -> tuple[Any, Any]:
    """The zip of the export, or the reason it cannot be made (names and formats only from the offered lists)."""
    try:
        filename, data, n = views.export_zip(dataset, fmt, elements)
    except (ValueError, KeyError) as exc:
        return no_update, alert(str(exc), "error")
    return dcc.send_bytes(data, filename), alert(f"{n} frames of {dataset} exported as {fmt}: {filename}", "success")


def layout(**_: str) -> html.Div:
    """The data page."""
    names = views.dataset_names()
    return html.Div(
        [
            html.H2("Data"),
            *upload_sections(names),
            *export_section(names),
            html.H3("Data sets present"),
            html.Div(datasets_table(), id=ids.DATA_LIST),
        ]
    )


def upload_reference(contents: str | None, filename: str | None, dataset: str | None, fmt: str | None,
                     element: str | None, temperature: float | None, mode: str | None = "refuse",
                     type_map: str | None = None, energy_key: str | None = None,
                     forces_key: str | None = None) -> tuple[Any, Any, list[str]]:
    """Import an uploaded reference file and report the outcome."""
    if not contents:
        return dash.no_update, dash.no_update, dash.no_update
    kind, message = import_reference_upload(contents, filename or "upload", dataset=(dataset or "").strip() or None, fmt=fmt,
                                            element=(element or "").strip() or None, temperature=temperature,
                                            mode=mode or "refuse", type_map=type_map, energy_key=energy_key,
                                            forces_key=forces_key)
    return alert(message, kind, id=ids.DATA_REF_ALERT), datasets_table(), views.dataset_names()


def upload_predictions(contents: list[str] | None, filenames: list[str] | None, dataset: str | None, model: str | None,
                       fmt: str | None, universal: list[str] | None, pred_prefix: str | None = None) -> tuple[Any, Any]:
    """Import uploaded prediction files and report the outcome."""
    if not contents:
        return dash.no_update, dash.no_update
    kind, message = import_predictions_upload(list(contents), list(filenames or []), dataset=dataset or "", model=model or "",
                                              fmt=fmt, universal=bool(universal), pred_prefix=pred_prefix)
    return alert(message, kind, id=ids.DATA_PRED_ALERT), datasets_table()


# The browser checks the size first: a file over the limit never leaves it (the server would answer
# HTTP 413, which Dash shows as nothing); the page says the size, the limit and the setting instead.
_SIZE_CHECK = """
function(contents, filenames, limit) {
    const none = window.dash_clientside.no_update;
    if (!contents) { return ["", none]; }
    const list = Array.isArray(contents) ? contents : [contents];
    const names = Array.isArray(filenames) ? filenames : [filenames];
    for (let i = 0; i < list.length; i++) {
        const bytes = Math.floor((list[i].length - list[i].indexOf(",") - 1) * 3 / 4);
        if (bytes > limit) {
            const mb = (x) => (x / 1048576).toFixed(1);
            return [`${names[i] || "upload"}: the file is ${mb(bytes)} MB, over the ${Math.round(limit / 1048576)} MB upload limit. `
                    + "The server's operator can raise the limit with %s (in MB), or import the file on the server: "
                    + "python -m analysis import FILE.", none];
        }
    }
    return ["", Date.now()];
}
""" % LIMIT_SETTING  # noqa: UP031 (JavaScript's braces stay literal under %)
for _upload, _too_big, _accepted in ((ids.DATA_REF_UPLOAD, ids.DATA_REF_TOO_BIG, ids.DATA_REF_ACCEPTED),
                                     (ids.DATA_PRED_UPLOAD, ids.DATA_PRED_TOO_BIG, ids.DATA_PRED_ACCEPTED)):
    clientside_callback(_SIZE_CHECK, Output(_too_big, "children"), Output(_accepted, "data"), Input(_upload, "contents"),
                        State(_upload, "filename"), State(ids.DATA_UPLOAD_LIMIT, "data"), prevent_initial_call=True)


@callback(
    Output(ids.DATA_REF_MESSAGE, "children"),
    Output(ids.DATA_LIST, "children", allow_duplicate=True),
    Output(ids.DATA_PRED_DATASET, "options", allow_duplicate=True),
    Input(ids.DATA_REF_ACCEPTED, "data"),
    State(ids.DATA_REF_UPLOAD, "contents"),
    State(ids.DATA_REF_UPLOAD, "filename"),
    State(ids.DATA_REF_NAME, "value"),
    State(ids.DATA_REF_FORMAT, "value"),
    State(ids.DATA_REF_ELEMENT, "value"),
    State(ids.DATA_REF_TEMPERATURE, "value"),
    State(ids.DATA_REF_MODE, "value"),
    State(ids.DATA_REF_TYPE_MAP, "value"),
    State(ids.DATA_REF_ENERGY_KEY, "value"),
    State(ids.DATA_REF_FORCES_KEY, "value"),
    background=True,  # parsing a large OUTCAR takes seconds: run it off the request thread
    running=[(Output(ids.DATA_REF_UPLOAD, "disabled"), True, False)],
    prevent_initial_call=True,
)
def on_reference_upload(_accepted: Any, *args: Any) -> tuple[Any, Any, list[str]]:
    """A reference file within the limit (the browser checked its size) is imported: :func:`upload_reference`."""
    return upload_reference(*args)


@callback(
    Output(ids.DATA_PRED_MESSAGE, "children"),
    Output(ids.DATA_LIST, "children", allow_duplicate=True),
    Input(ids.DATA_PRED_ACCEPTED, "data"),
    State(ids.DATA_PRED_UPLOAD, "contents"),
    State(ids.DATA_PRED_UPLOAD, "filename"),
    State(ids.DATA_PRED_DATASET, "value"),
    State(ids.DATA_PRED_MODEL, "value"),
    State(ids.DATA_PRED_FORMAT, "value"),
    State(ids.DATA_PRED_UNIVERSAL, "value"),
    State(ids.DATA_PRED_PREFIX, "value"),
    background=True,
    running=[(Output(ids.DATA_PRED_UPLOAD, "disabled"), True, False)],
    prevent_initial_call=True,
)
def on_predictions_upload(_accepted: Any, *args: Any) -> tuple[Any, Any]:
    """Prediction files within the limit are imported: :func:`upload_predictions`."""
    return upload_predictions(*args)
