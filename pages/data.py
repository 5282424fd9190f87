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
from dash import Input, Output, State, callback, dcc, html

from analysis.datasets import store
from analysis import views
from analysis.core.errors import InputFileError
from components import ids
from components.layout import alert, data_table, key_value_card, labelled

dash.register_page(__name__, path="/data", title="Data · MLFF Error Atlas", name="Data")

REFERENCE_FORMATS = ["extxyz", "nep", "outcar", "vasprun", "archive"]
PREDICTION_FORMATS = ["nep-out", "deepmd-out"]
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
READ_ONLY = "This dashboard is read-only: uploads are turned off."


def sanitise_filename(name: str) -> str:
    """The base name of an uploaded file with unsafe characters replaced ('../a b.xyz' -> 'a_b.xyz')."""
    base = Path(name.replace("\\", "/")).name
    safe = _SAFE.sub("_", base).lstrip(".")
    return safe[:120] or "upload"


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
        raise InputFileError(filename, f"file is {len(data) / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB upload limit "
                                       "(MLFF_ATLAS_MAX_UPLOAD_MB)")
    return data


def _message(exc: Exception, folder: str) -> str:
    """The exception's message with the temporary folder removed (the user sees their own file name)."""
    return str(exc).replace(folder + os.sep, "").replace(folder, "")


def import_reference_upload(contents: str, filename: str, *, dataset: str | None, fmt: str | None,
                            element: str | None, temperature: float | None) -> tuple[str, str]:
    """Import one uploaded reference file into the user data directory.

    A new data set is created (named after the file unless ``dataset`` is given); an existing
    user data set without predictions is extended by the new frames.

    Returns:
        (kind, message) for the alert: ('success', ...) or ('error', the importer's message).
    """
    from analysis.datasets import importers as io

    if views.read_only():
        return "error", READ_ONLY
    name = dataset or Path(sanitise_filename(filename)).stem.replace(".", "-") or "imported"
    try:
        store.check_name(name)
    except ValueError as exc:
        return "error", str(exc)
    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as folder:
        try:
            path = Path(folder) / sanitise_filename(filename)
            path.write_bytes(decode_upload(contents, sanitise_filename(filename)))
            ref = io.import_file(path, fmt=fmt or None, element=element or None, temperature=temperature)
        except (InputFileError, ValueError) as exc:
            return "error", _message(exc, folder)
    existing = next((s for s in views.list_dataset_summaries() if s.name == name), None)
    if existing is not None:
        if existing.embedded:
            return "error", f"{name!r} is the embedded default data set: choose another data set name."
        if existing.models:
            return "error", f"data set {name!r} already has predictions ({', '.join(existing.models)}): import into a new data set name."
        ref = type(ref).merge([store.load_dataset(name), ref])
        ref.provenance = {"imported_files": [*existing.provenance.get("imported_files", []), filename]}
    else:
        ref.provenance = {**ref.provenance, "imported_files": [filename]}
    store.save_dataset(ref, name)
    return "success", f"Imported {len(ref.frames) - (existing.n_frames if existing else 0)} frames from {filename} into data set {name!r} ({', '.join(ref.elements)})."


def import_predictions_upload(contents: list[str], filenames: list[str], *, dataset: str, model: str, fmt: str | None,
                              universal: bool) -> tuple[str, str]:
    """Import uploaded prediction files (e.g. NEP's energy_test.out + force_test.out) for ``dataset``.

    Returns:
        (kind, message) for the alert.
    """
    from analysis.datasets import importers as io

    if views.read_only():
        return "error", READ_ONLY
    if not dataset:
        return "error", "Choose the data set these predictions were computed on."
    if not model or not model.strip():
        return "error", "Give the model a name."
    if "," in model:
        return "error", f"Model name {model.strip()!r} contains a comma: links list models separated by commas, choose another name."
    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as folder:
        try:
            paths = []
            for data, filename in zip(contents, filenames):
                path = Path(folder) / sanitise_filename(filename)
                path.write_bytes(decode_upload(data, sanitise_filename(filename)))
                paths.append(path)
            reference = store.load_dataset(dataset)
            pred = io.import_predictions(paths, reference, model=model.strip(), fmt=fmt or None, universal=universal)
        except (InputFileError, ValueError) as exc:
            return "error", _message(exc, folder)
    store.save_predictions(pred, dataset)
    return "success", f"Imported predictions of {model.strip()!r} for {len(pred.frame_id)} frames of {dataset!r}."


def datasets_table() -> Any:
    """The data sets present with their provenance, or a note that there are none."""
    summaries = views.list_dataset_summaries()
    if not summaries:
        return alert("No data sets yet: upload reference files above.", "info")
    frame = pd.DataFrame(
        {
            "data set": [s.name for s in summaries],
            "frames": [s.n_frames for s in summaries],
            "elements": [" ".join(s.elements) for s in summaries],
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
               "Energies in eV, forces in eV/Å.", className="hint"),
        html.Div(
            [
                labelled("Data set name", dcc.Input(id=ids.DATA_REF_NAME, type="text", placeholder="from the file name", debounce=True), width="12rem"),
                labelled("Format", dcc.Dropdown(id=ids.DATA_REF_FORMAT, options=REFERENCE_FORMATS, placeholder="detect"), width="10rem"),
                labelled("Element", dcc.Input(id=ids.DATA_REF_ELEMENT, type="text", placeholder="from the frames", debounce=True), width="9rem"),
                labelled("Temperature (K)", dcc.Input(id=ids.DATA_REF_TEMPERATURE, type="number", min=0, placeholder="from the file", debounce=True), width="11rem"),
            ],
            className="controls",
        ),
        dcc.Upload(id=ids.DATA_REF_UPLOAD, children=html.Div(["Drag a reference file here or ", html.A("choose one")]),
                   multiple=False, **upload_style),
        dcc.Loading(html.Div(id=ids.DATA_REF_MESSAGE)),
        html.H3("Upload predictions"),
        html.P("NEP energy_*.out + force_*.out, or DeePMD dp test *.e.out + *.f.out, computed on one of the data sets below "
               "in its frame order.", className="hint"),
        html.Div(
            [
                labelled("Data set", dcc.Dropdown(id=ids.DATA_PRED_DATASET, options=names, value=names[0] if names else None), width="14rem"),
                labelled("Model name", dcc.Input(id=ids.DATA_PRED_MODEL, type="text", placeholder="e.g. nep-my-fit", debounce=True), width="12rem"),
                labelled("Format", dcc.Dropdown(id=ids.DATA_PRED_FORMAT, options=PREDICTION_FORMATS, placeholder="detect"), width="10rem"),
                labelled("Universal model", dcc.Checklist(id=ids.DATA_PRED_UNIVERSAL,
                                                          options=[{"label": " apply the per-element energy shift", "value": "yes"}], value=[])),
            ],
            className="controls",
        ),
        dcc.Upload(id=ids.DATA_PRED_UPLOAD, children=html.Div(["Drag prediction files here or ", html.A("choose them")]),
                   multiple=True, **upload_style),
        dcc.Loading(html.Div(id=ids.DATA_PRED_MESSAGE)),
    ]


def layout(**_: str) -> html.Div:
    """The data page."""
    names = views.dataset_names()
    return html.Div(
        [
            html.H2("Data"),
            *upload_sections(names),
            html.H3("Data sets present"),
            html.Div(datasets_table(), id=ids.DATA_LIST),
        ]
    )


@callback(
    Output(ids.DATA_REF_MESSAGE, "children"),
    Output(ids.DATA_LIST, "children", allow_duplicate=True),
    Output(ids.DATA_PRED_DATASET, "options", allow_duplicate=True),
    Input(ids.DATA_REF_UPLOAD, "contents"),
    State(ids.DATA_REF_UPLOAD, "filename"),
    State(ids.DATA_REF_NAME, "value"),
    State(ids.DATA_REF_FORMAT, "value"),
    State(ids.DATA_REF_ELEMENT, "value"),
    State(ids.DATA_REF_TEMPERATURE, "value"),
    background=True,  # parsing a large OUTCAR takes seconds: run it off the request thread
    running=[(Output(ids.DATA_REF_UPLOAD, "disabled"), True, False)],
    prevent_initial_call=True,
)
def upload_reference(contents: str | None, filename: str | None, dataset: str | None, fmt: str | None,
                     element: str | None, temperature: float | None) -> tuple[Any, Any, list[str]]:
    """Import an uploaded reference file and report the outcome."""
    if not contents:
        return dash.no_update, dash.no_update, dash.no_update
    kind, message = import_reference_upload(contents, filename or "upload", dataset=(dataset or "").strip() or None, fmt=fmt,
                                            element=(element or "").strip() or None, temperature=temperature)
    return alert(message, kind, id=ids.DATA_REF_ALERT), datasets_table(), views.dataset_names()


@callback(
    Output(ids.DATA_PRED_MESSAGE, "children"),
    Output(ids.DATA_LIST, "children", allow_duplicate=True),
    Input(ids.DATA_PRED_UPLOAD, "contents"),
    State(ids.DATA_PRED_UPLOAD, "filename"),
    State(ids.DATA_PRED_DATASET, "value"),
    State(ids.DATA_PRED_MODEL, "value"),
    State(ids.DATA_PRED_FORMAT, "value"),
    State(ids.DATA_PRED_UNIVERSAL, "value"),
    background=True,
    running=[(Output(ids.DATA_PRED_UPLOAD, "disabled"), True, False)],
    prevent_initial_call=True,
)
def upload_predictions(contents: list[str] | None, filenames: list[str] | None, dataset: str | None, model: str | None,
                       fmt: str | None, universal: list[str] | None) -> tuple[Any, Any]:
    """Import uploaded prediction files and report the outcome."""
    if not contents:
        return dash.no_update, dash.no_update
    kind, message = import_predictions_upload(list(contents), list(filenames or []), dataset=dataset or "", model=model or "",
                                              fmt=fmt, universal=bool(universal))
    return alert(message, kind, id=ids.DATA_PRED_ALERT), datasets_table()
