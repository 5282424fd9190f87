"""Jobs ('/jobs'): submit model evaluations and fits per element to the job queue, follow their progress, cancel them.

The page only enqueues and reads (:mod:`analysis.jobs`); the worker process (``python -m analysis
worker``, started by ``make run``) runs the models. Finished predictions land beside the data set,
and the map picks them up on its next redraw (its caches are keyed on the prediction files).
"""
from __future__ import annotations

import time
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from analysis import views
from components import ids
from components.layout import alert, labelled, no_data_message

dash.register_page(__name__, path="/jobs", title="Jobs · MLFF Error Atlas", name="Jobs")

POLL_MS = 1000  # while a job is queued or running
IDLE_POLL_MS = 10_000  # otherwise: a new job from the command line still shows up within 10 s
STATE_CLASS = {"queued": "info", "running": "info", "done": "success", "failed": "error", "cancelled": "warning"}


def model_options() -> list[dict[str, Any]]:
    """Dropdown options for every registered model; those that cannot run here are disabled with the reason."""
    from analysis.models.registry import available_models

    out = []
    for spec in available_models():
        label = f"{spec.name}: {spec.description}" if spec.description else spec.name
        if not spec.available:
            label += f" (unavailable: {spec.reason})"
        out.append({"label": label, "value": spec.name, "disabled": not spec.available, "title": spec.reason or spec.description})
    return sorted(out, key=lambda o: (o["disabled"], o["value"]))


REFUSED_MODEL = "Unknown model: choose one of the registered models in the list."
READ_ONLY = "This dashboard is read-only: jobs cannot be submitted or cancelled here."


def submit(model: str | None, dataset: str | None, device: str, dtype: str) -> tuple[str, str]:
    """Queue an evaluation; returns (alert kind, message) with the job id or the reason it was refused.

    Only registry names are accepted: a ``family:PATH`` string or any other name from a request is
    refused with one generic message (no path reaches a loader; nothing says whether a file exists).
    """
    from analysis.jobs import queue as jobs
    from analysis.models.registry import ModelUnavailableError, registry

    if views.read_only():
        return "error", READ_ONLY
    if not model:
        return "error", "Choose a model."
    if not isinstance(model, str) or model not in registry():
        return "error", REFUSED_MODEL
    if not dataset:
        return "error", "Choose a data set."
    try:
        job_id = jobs.submit_job(model, dataset, device=device, dtype=dtype)
    except (KeyError, ValueError, ModelUnavailableError) as exc:
        return "error", str(exc).strip("'\"")
    rec = jobs.get_job(job_id)
    if rec.state == "done":
        return "success", f"{model} on {dataset} is already done (job {job_id[:12]}): its results are on the map."
    workers = jobs.live_workers()
    hint = "" if workers else " No worker is running: start one with `python -m analysis worker` (make run starts one)."
    return "info", f"Queued job {job_id[:12]}: {model} on {dataset} ({device}, {dtype}).{hint}"


def submit_many(models: list[str] | str | None, dataset: str | None, device: str, dtype: str) -> tuple[str, str]:
    """Queue one evaluation per chosen model; the worst outcome sets the alert kind, every message is kept."""
    chosen = [models] if isinstance(models, str) else list(models or [])
    if views.read_only():
        return "error", READ_ONLY
    if not chosen:
        return "error", "Choose a model (or several)."
    results = [submit(m, dataset, device, dtype) for m in chosen]
    kind = next((k for k in ("error", "info", "success") if any(r[0] == k for r in results)), "info")
    return kind, " ".join(message for _, message in results)


def _when(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else ""


def jobs_table(records: list[Any]) -> Any:
    """The job list: state, progress bar, timings, error of failed jobs, cancel buttons."""
    if not records:
        return alert("No jobs yet.", "info")
    header = html.Tr([html.Th(h) for h in ("job", "model", "data set", "device", "dtype", "state", "progress", "submitted", "time (s)", "")])
    rows = []
    for rec in records:
        progress = html.Div([
            html.Progress(value=str(rec.frames_done), max=str(max(rec.frames_total, 1)), className="progress"),
            html.Span(f" {rec.frames_done}/{rec.frames_total}" + (f" {rec.unit}" if rec.unit != "frames" else "")),
            *([html.Span(f" ({rec.frames_failed} refused)", className="hint",
                         title="frames the model raised an error on: left out of its errors; see the element pages")]
              if rec.frames_failed else []),
            *([html.Span(f" ({rec.frames_cached} cached)", className="hint",
                         title="frames this model had already evaluated (same structure, dtype and device kind): read, not recomputed")]
              if rec.frames_cached else []),
        ])
        cancel = (html.Button("Cancel", id={"type": ids.JOBS_CANCEL, "index": rec.job_id}, className="button")
                  if rec.state in ("queued", "running") and not views.read_only() else "")
        rows.append(html.Tr([
            html.Td(rec.job_id[:12], title=rec.job_id),
            html.Td(f"{rec.model} {rec.fit.get('element', '')}" if rec.kind == "fit" else rec.model,
                    title="fit per element: trained on the element's training frames, scored on its test frames" if rec.kind == "fit" else None),
            html.Td(rec.dataset),
            html.Td(rec.device_used or rec.device), html.Td(rec.dtype),
            html.Td(rec.state, className=f"state-{rec.state}", id=f"{ids.JOBS_STATE_PREFIX}-{rec.job_id[:12]}"),
            html.Td(progress), html.Td(_when(rec.created)), html.Td(f"{rec.seconds:.1f}" if rec.seconds else ""), html.Td(cancel),
        ]))
        if rec.integrity_notes:
            rows.append(html.Tr(html.Td(alert([html.Strong("Repaired: "), "; ".join(rec.integrity_notes)], "warning"), colSpan=10)))
        if rec.state == "failed":
            rows.append(html.Tr(html.Td(alert([html.Strong("Error: "), rec.error, html.Details([html.Summary("traceback"), html.Pre(rec.traceback)])],
                                              "error"), colSpan=10)))
    return html.Table([html.Thead(header), html.Tbody(rows)], className="jobs")


REFUSED_FIT = "Choose a fitting family from the list and elements of the chosen data set."


def family_options() -> list[dict[str, Any]]:
    """The fitting families; those that cannot be fitted here are disabled with the reason."""
    from analysis.models.fitting import FAMILIES, FITTED_LABELS, FITTED_MODELS, fit_available

    out = []
    for family in FAMILIES:
        ok, reason = fit_available(family)
        label = FITTED_LABELS[FITTED_MODELS[family]] + ("" if ok else f" (unavailable: {reason})")
        out.append({"label": " " + label, "value": family, "disabled": not ok, "title": reason})
    return out


def element_options(dataset: str | None) -> list[str]:
    if not dataset or dataset not in views.dataset_names():
        return []
    return list(views.summary(dataset).elements)


def submit_fits(family: str | None, dataset: str | None, elements: list[str] | str | None) -> tuple[str, str]:
    """Queue one fit per chosen element with the family's uniform hyper-parameters; (alert kind, message).

    Family and elements must be from the offered lists (anything else from a request is refused with
    one message); no schedule, path or hyper-parameter is taken from the request.
    """
    from analysis.jobs import queue as jobs
    from analysis.jobs.fit_jobs import submit_fit
    from analysis.models.fitting import FAMILIES
    from analysis.models.local_files import ModelUnavailableError

    if views.read_only():
        return "error", READ_ONLY
    chosen = [elements] if isinstance(elements, str) else list(elements or [])
    if not dataset or dataset not in views.dataset_names():
        return "error", "Choose a data set."
    allowed = set(element_options(dataset))
    if family not in FAMILIES or not chosen or not all(isinstance(e, str) and e in allowed for e in chosen):
        return "error", REFUSED_FIT
    messages, kind = [], "info"
    for element in chosen:
        try:
            job_id = submit_fit(str(family), dataset, element)
        except (KeyError, ValueError, ModelUnavailableError) as exc:
            messages.append(f"{element}: {str(exc).strip(chr(39) + chr(34))}")
            kind = "error"
            continue
        rec = jobs.get_job(job_id)
        messages.append(f"{element}: already fitted (job {job_id[:12]})" if rec.state == "done" else f"{element}: queued job {job_id[:12]}")
    hint = "" if jobs.live_workers() else " No worker is running: start one with `python -m analysis worker` (make run starts one)."
    return kind, f"{family} fitted per element on {dataset}: " + "; ".join(messages) + "." + hint


def fit_controls(names: list[str]) -> Any:
    """Family and elements for fits per element (the data set is the one chosen above); hidden when read-only."""
    if views.read_only():
        return html.Div()
    return html.Details([
        html.Summary("Fit a model per element (the paper's small models; one uniform hyper-parameter set per family)"),
        html.Div([
            labelled("Family", dcc.RadioItems(id=ids.JOBS_FIT_FAMILY, options=family_options(), value="mace")),
            labelled("Elements", dcc.Dropdown(id=ids.JOBS_FIT_ELEMENTS, options=element_options(views.default_dataset()), multi=True,
                                              placeholder="elements of the chosen data set"), width="30rem"),
            html.Button("Fit per element", id=ids.JOBS_FIT_SUBMIT, className="button"),
        ], className="controls"),
        html.Div(id=ids.JOBS_FIT_MESSAGE),
    ], open=False)


@callback(Output(ids.JOBS_FIT_MESSAGE, "children"), Input(ids.JOBS_FIT_SUBMIT, "n_clicks"), State(ids.JOBS_FIT_FAMILY, "value"),
          State(ids.JOBS_DATASET, "value"), State(ids.JOBS_FIT_ELEMENTS, "value"), prevent_initial_call=True)
def on_fit(_n: int, family: str | None, dataset: str | None, elements: list[str] | None) -> Any:
    """Submit the chosen fits and say what happened."""
    kind, message = submit_fits(family, dataset, elements)
    return alert(message, kind, id=ids.JOBS_FIT_ALERT)


@callback(Output(ids.JOBS_FIT_ELEMENTS, "options"), Input(ids.JOBS_DATASET, "value"), prevent_initial_call=True)
def on_fit_dataset(dataset: str | None) -> list[str]:
    """The chosen data set's elements."""
    return element_options(dataset)


def submit_controls(names: list[str]) -> Any:
    """Model, data set, device and precision choices and the submit button; read-only: the data set only."""
    dataset = labelled("Data set", dcc.Dropdown(id=ids.JOBS_DATASET, options=names, value=views.default_dataset()), width="14rem")
    if views.read_only():
        return html.Div([alert(READ_ONLY, "info"), html.Div([dataset], className="controls")])
    return html.Div(
        [
            labelled("Models", dcc.Dropdown(id=ids.JOBS_MODEL, options=model_options(), multi=True,
                                             placeholder="choose one or more models"), width="30rem"),
            dataset,
            labelled("Device", dcc.RadioItems(id=ids.JOBS_DEVICE, options=["auto", "cpu", "cuda"], value="auto", inline=True)),
            labelled("Precision", dcc.RadioItems(id=ids.JOBS_DTYPE, options=[{"label": " auto (float64 where supported)", "value": "auto"},
                                                                          {"label": " float64", "value": "float64"},
                                                                          {"label": " float32", "value": "float32"}],
                                                 value="auto", inline=True)),
            html.Button("Submit evaluation", id=ids.JOBS_SUBMIT, className="button"),
        ],
        className="controls",
    )


def layout(**_: str) -> html.Div:
    """The jobs page."""
    from analysis.jobs import queue as jobs

    names = views.dataset_names()
    return html.Div(
        [
            html.H2("Jobs"),
            no_data_message() if not names else html.Div(),
            submit_controls(names),
            html.Div(id=ids.JOBS_SUBMIT_MESSAGE),
            fit_controls(names),
            html.Div(coverage_panel(views.default_dataset()), id=ids.JOBS_COVERAGE),
            dcc.Interval(id=ids.JOBS_INTERVAL, interval=poll_interval_ms(records := jobs.list_jobs())),
            html.Div([worker_status(jobs.live_workers()), jobs_table(records)], id=ids.JOBS_TABLE),
        ]
    )


@callback(Output(ids.JOBS_SUBMIT_MESSAGE, "children"), Input(ids.JOBS_SUBMIT, "n_clicks"), State(ids.JOBS_MODEL, "value"),
          State(ids.JOBS_DATASET, "value"), State(ids.JOBS_DEVICE, "value"), State(ids.JOBS_DTYPE, "value"), prevent_initial_call=True)
def on_submit(_n: int, model: list[str] | str | None, dataset: str | None, device: str, dtype: str) -> Any:
    """Submit the chosen evaluation and say what happened."""
    kind, message = submit_many(model, dataset, device, dtype)
    return alert(message, kind, id=ids.JOBS_SUBMIT_ALERT)


def coverage_panel(dataset: str | None) -> Any:
    """What the stored predictions on ``dataset`` already cover, so a user sees what a new job would add."""
    if not dataset:
        return html.Div()
    try:
        coverage = views.prediction_coverage(dataset)
    except KeyError:
        return html.Div()
    if coverage.empty:
        return html.P(f"No model has predictions on {dataset!r} yet.", className="hint")
    header = html.Tr([html.Th(h) for h in ("model", "frames scored", "refused", "not seen yet", "status")])
    rows = [html.Tr([html.Td(r.model), html.Td(r.scored), html.Td(r.refused or ""), html.Td(r.not_seen or ""), html.Td(r.status)])
            for r in coverage.itertuples()]
    return html.Details(
        [html.Summary(f"Stored predictions on {dataset!r}: {len(coverage)} model(s)"),
         html.Table([html.Thead(header), html.Tbody(rows)], className="jobs"),
         html.P("Evaluating a model again reads the frames this machine has already computed with it (same structure, precision and "
                "device kind) from the per-frame cache and computes only the rest.", className="hint")],
        open=True,
    )


@callback(Output(ids.JOBS_COVERAGE, "children"), Input(ids.JOBS_DATASET, "value"), Input(ids.JOBS_TABLE, "children"),
          prevent_initial_call=True)
def on_dataset(dataset: str | None, _table: Any = None) -> Any:
    """Show the chosen data set's stored predictions; refreshed with the job table, so finished jobs appear."""
    return coverage_panel(dataset)


def poll_interval_ms(records: list[Any]) -> int:
    """How often the page polls the queue: every second while a job is queued or running."""
    return POLL_MS if any(r.state in ("queued", "running") for r in records) else IDLE_POLL_MS


@callback(Output(ids.JOBS_TABLE, "children"), Output(ids.JOBS_INTERVAL, "interval"), Input(ids.JOBS_INTERVAL, "n_intervals"),
          Input({"type": ids.JOBS_CANCEL, "index": ALL}, "n_clicks"), Input(ids.JOBS_SUBMIT_MESSAGE, "children"),
          Input(ids.JOBS_FIT_MESSAGE, "children"), prevent_initial_call=True)
def refresh(_n: int | None, cancel_clicks: list[int | None], _submitted: Any = None, _fitted: Any = None) -> Any:
    """Poll the queue (and cancel a job when its button was clicked); poll fast only while jobs are active.

    A submission (the message under the button changes) refreshes at once and speeds polling up.
    """
    from analysis.jobs import queue as jobs

    trigger = ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == ids.JOBS_CANCEL:
        if not any(cancel_clicks) or views.read_only():  # read-only: a forged cancel click changes nothing
            return no_update, no_update
        try:
            jobs.cancel_job(trigger["index"])
        except KeyError:
            pass  # already removed: the refreshed table shows what is there
    records = jobs.list_jobs()
    return [worker_status(jobs.live_workers()), jobs_table(records)], poll_interval_ms(records)


def worker_status(workers: list[dict[str, Any]]) -> Any:
    """One line saying whether a worker is there to run queued jobs."""
    if not workers:
        return alert("No job worker is running: queued jobs wait until one starts (`python -m analysis worker`; make run starts one).",
                     "warning")
    return html.P(f"{len(workers)} worker(s) running: " + ", ".join(f"pid {w.get('pid')} on {w.get('host')}" for w in workers), className="hint")
