"""Distributions ('/distributions'): per-element error histograms per model (Supplementary Figure 2 c,d)
and a model-vs-model scatter with Spearman's rank correlation."""
from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from analysis import views
from analysis.electronic.descriptors import DESCRIPTORS
from analysis.metrics.tables import POOLED
from components import ids
from components.distributions import CORRELATION_HEADERS, descriptor_name, descriptor_scatter, error_histogram, model_scatter
from components.export import export_controls, export_download, export_id
from components.layout import METRIC_OPTIONS, alert, data_table, decode_query, encode_query, labelled, no_data_message
from components.theme import empty_figure, graph_config

dash.register_page(__name__, path="/distributions", title="Distributions · MLFF Error Atlas", name="Distributions")

DEFAULTS = {"metric": "force_rmse", "temperature": POOLED, "mode": "overlay", "normalise": "absolute", "hscale": "linear", "labels": "on"}
URL_CONTROLS: tuple[tuple[str, str], ...] = (
    ("metric", ids.DIST_METRIC),
    ("temperature", ids.DIST_TEMPERATURE),
    ("mode", ids.DIST_MODE),
    ("x", ids.DIST_X_MODEL),
    ("y", ids.DIST_Y_MODEL),
    ("descriptor", ids.DIST_DESCRIPTOR),
    ("hscale", ids.DIST_HSCALE),
    ("normalise", ids.DIST_NORMALISE),
    ("labels", ids.DIST_LABELS),
)


def parse_state(query: dict[str, str], dataset: str | None) -> dict[str, Any]:
    """Selections from the URL query, defaults filled in and impossible values dropped."""
    state: dict[str, Any] = {k: query.get(k) or v for k, v in DEFAULTS.items()}
    if state["metric"] not in views.METRICS:
        state["metric"] = DEFAULTS["metric"]
    if state["mode"] not in ("overlay", "side"):
        state["mode"] = "overlay"
    if state["hscale"] not in ("linear", "log"):
        state["hscale"] = "linear"
    if state["normalise"] not in ("absolute", "relative"):
        state["normalise"] = "absolute"
    if state["labels"] not in ("on", "off"):
        state["labels"] = "on"
    models = views.models(dataset) if dataset else []
    temps = [v for v, _ in views.temperature_options(dataset)] if dataset else [POOLED]
    if state["temperature"] not in temps:
        state["temperature"] = POOLED
    state["x"] = query.get("x") if query.get("x") in models else (models[0] if models else None)
    state["y"] = query.get("y") if query.get("y") in models else (models[1] if len(models) > 1 else state["x"])
    ranked = views.top_descriptor(dataset) if dataset and models else None  # the findings page's strongest, by median |partial rho|
    state["descriptor"] = query.get("descriptor") if query.get("descriptor") in DESCRIPTORS else (
        ranked if ranked in DESCRIPTORS else next(iter(DESCRIPTORS)))
    return state


def coverage_note() -> str:
    """Which elements the descriptors come from: only curves at the frames' reference state count."""
    done, off = views.descriptor_coverage()
    note = (f"Descriptors of {len(done)} elements, from eigenvalue-sum curves computed at the frames' reference state "
            "(PBE V0 of their equation of state, their phase, setups, cutoff and smearing).")
    if off:
        note += (f" {len(off)} elements ({', '.join(off)}) have only the earlier curves computed off the reference state "
                 "and are left out until their recomputation lands (scripts/electronic_reference_state.sh).")
    return note


@views.memo_on_store()
def descriptor_section(dataset: str | None, metric: str, temperature: str, descriptor: str,
                       normalise: str = "absolute", labels: str = "on") -> tuple[go.Figure, Any, Any]:
    """Scatter of the per-element errors against one electronic descriptor, the correlation table and its caveats."""
    desc = views.descriptor_table()
    if desc.empty:
        message = ("No electronic descriptors yet: they come from the eigenvalue-sum curves at the frames' reference state "
                   "(`scripts/electronic_reference_state.sh`), which no element has so far.")
        return empty_figure(message), alert(message, "info"), html.Div()
    if not dataset or not views.models(dataset):
        return empty_figure("No model predictions yet."), html.Div(), html.Div()
    relative = normalise == "relative"
    errors = views.per_element_errors(dataset, metric=metric, temperature=temperature, relative=relative)
    unit, meaning = DESCRIPTORS[descriptor]
    error_label = views.metric_label(metric)
    if relative:
        error_label = f"{error_label.split(' (')[0]} / reference spread"
    fig = descriptor_scatter(desc[descriptor], errors, descriptor_label=f"{meaning[0].upper()}{meaning[1:]} ({unit})",
                             error_label=error_label, title=f"Per-element errors vs descriptor {descriptor}", labels=labels == "on")
    corr = views.correlation_table(dataset, metric=metric, temperature=temperature, relative=relative)
    shown = corr.drop(columns=["metric"]).assign(descriptor=lambda f: f["descriptor"].map(descriptor_name)) if not corr.empty else corr
    table = data_table(shown, id=ids.DIST_CORRELATIONS_TABLE, page_size=20, columns=CORRELATION_HEADERS) if not corr.empty else html.Div()
    notes = [coverage_note(), *views.correlation_caveats(dataset, temperature=temperature)]
    if not views.summary(dataset).embedded:
        notes.append(f"The descriptors are the embedded default set's (GPAW curves at its reference state), not computed for "
                     f"{dataset!r}: they describe the elements, and are paired here with {dataset!r}'s errors.")
    if not corr.empty and "partial_spearman_r" not in corr.columns:
        notes.append("The partial correlation needs elements sampled at different temperatures; the selection has one.")
    caveats = html.Div([alert(n, "info" if i == 0 else "warning") for i, n in enumerate(notes)])
    return fig, table, caveats


@views.memo_on_store()
def figures(dataset: str | None, metric: str, temperature: str, mode: str, x_model: str | None, y_model: str | None,
            hscale: str = "linear", labels: str = "on") -> tuple[go.Figure, go.Figure, Any]:
    """Histogram, scatter and statistics table for a selection."""
    if not dataset or not views.models(dataset):
        message = "No model predictions yet."
        return empty_figure(message), empty_figure(message), html.Div()
    errors = views.per_element_errors(dataset, metric=metric, temperature=temperature)
    label = views.metric_label(metric)
    hist = error_histogram(errors, label=label, mode=mode, log_x=hscale == "log", title=f"Per-element {label.split(' (')[0]} · {dataset}")
    scatter = (model_scatter(errors, x_model, y_model, label=label, labels=labels == "on") if x_model and y_model
               else empty_figure("Choose two models."))
    stats = errors.agg(["mean", "std", "median", "count"]).T.reset_index(names="model")
    stats = stats.rename(columns={"mean": f"mean ({label.split('(')[-1].rstrip(')')})", "std": "std (ddof=1)", "count": "elements"})
    return hist, scatter, data_table(stats, id=ids.DIST_STATS_TABLE, page_size=20)


FITTED_HEADERS = {"fitted": "fitted per element", "universal": "universal model", "n_elements": "elements",
                  "spearman": "Spearman ρ", "p_value": "p (two-sided)", "elements": "elements compared"}


def fitted_section(dataset: str, metric: str) -> list[Any]:
    """The per-element rank correlation between each fitted and each universal model's errors on
    the same held-out frames, and the scatter of the best-covered pair."""
    from components.fitting import fitted_vs_universal_figure

    table = views.fitted_vs_universal(dataset, metric)
    if table.empty:
        fitted = views.fitted_models(dataset)
        why = ("no universal model has predictions on this data set" if fitted else
               "no model has been fitted per element on this data set (python -m analysis fit, or the Jobs page)")
        return [html.P(f"Nothing to compare: {why}.", className="hint")]
    best = table.sort_values(["n_elements", "fitted", "universal"], ascending=[False, True, True]).iloc[0]
    pairs = views.paired_errors(dataset, best["fitted"], best["universal"], metric)
    label = views.metric_label(metric)
    figure = fitted_vs_universal_figure(pairs, fitted=views.model_label(dataset, best["fitted"]), universal=best["universal"],
                                        metric_label=label, rho=float(best["spearman"]))
    n_train = sorted(set(pairs["n_train"])) if not pairs.empty else []
    return [
        html.P("Each element's fitted model is scored on its held-out test frames; the universal model is scored on exactly those "
               f"frames here, so both errors describe the same structures. Training frames per element: {', '.join(map(str, n_train))}. "
               "A high rank correlation means the elements that are hard for a model fitted to them alone are the ones that are "
               "hard for the universal models too (the paper's claim). p is undefined below 4 elements.", className="hint"),
        data_table(table, id=ids.DIST_FITTED_TABLE, columns=FITTED_HEADERS),
        dcc.Graph(id=ids.DIST_FITTED_SCATTER, figure=figure, config=graph_config(f"fitted-vs-universal_{dataset}_{metric}")),
    ]


@callback(Output(ids.DIST_FITTED, "children"), Input(ids.DIST_METRIC, "value"), State(ids.DIST_DATASET, "data"),
          prevent_initial_call=True)
def update_fitted(metric: str, dataset: str | None) -> Any:
    """The fitted-vs-universal section for the chosen metric."""
    if not dataset or metric not in views.METRICS:
        return no_update
    return fitted_section(dataset, metric)


@views.memo_on_store()
def layout(dataset: str | None = None, **query: str) -> html.Div:
    """The page for a URL query."""
    name = views.resolve_dataset(dataset)
    if name is None:
        return html.Div([html.H2("Distributions"), no_data_message()])
    state = parse_state(query, name)
    models = views.models(name)
    hist, scatter, stats = figures(name, state["metric"], state["temperature"], state["mode"], state["x"], state["y"], state["hscale"],
                                   state["labels"])
    desc_fig, corr_table, caveats = descriptor_section(name, state["metric"], state["temperature"], state["descriptor"],
                                                       state["normalise"], state["labels"])
    return html.Div(
        [
            dcc.Location(id=ids.DIST_URL, refresh=False),
            dcc.Store(id=ids.DIST_DATASET, data=name),
            html.H2("Distributions of per-element errors"),
            html.Div(
                [
                    labelled("Metric", dcc.Dropdown(id=ids.DIST_METRIC, options=METRIC_OPTIONS, value=state["metric"], clearable=False), width="14rem"),
                    labelled("Temperature", dcc.Dropdown(id=ids.DIST_TEMPERATURE, value=state["temperature"], clearable=False,
                                                         options=[{"label": lab, "value": v} for v, lab in views.temperature_options(name)]), width="14rem"),
                    labelled("Histograms", dcc.RadioItems(id=ids.DIST_MODE, options=[{"label": " overlaid", "value": "overlay"},
                                                                                   {"label": " side by side", "value": "side"}],
                                                          value=state["mode"], inline=True)),
                    labelled("Error axis", dcc.RadioItems(id=ids.DIST_HSCALE, options=[{"label": " linear", "value": "linear"},
                                                                                     {"label": " log", "value": "log"}],
                                                          value=state["hscale"], inline=True)),
                    labelled("Scatter x", dcc.Dropdown(id=ids.DIST_X_MODEL, options=models, value=state["x"], clearable=False), width="14rem"),
                    labelled("Scatter y", dcc.Dropdown(id=ids.DIST_Y_MODEL, options=models, value=state["y"], clearable=False), width="14rem"),
                    labelled("Element labels", dcc.RadioItems(id=ids.DIST_LABELS, options=[{"label": " on", "value": "on"},
                                                                                          {"label": " off", "value": "off"}],
                                                              value=state["labels"], inline=True)),
                ],
                className="controls",
            ),
            html.Div([] if models else [alert(f"Data set {name!r} has no model predictions yet.", "info")], id=ids.DIST_MESSAGE),
            html.Div(
                [
                    dcc.Graph(id=ids.DIST_HISTOGRAM, figure=hist, config=graph_config(f"histogram_{name}_{state['metric']}_{state['temperature']}")),
                    dcc.Graph(id=ids.DIST_SCATTER, figure=scatter, config=graph_config(f"scatter_{name}_{state['metric']}_{state['x']}_vs_{state['y']}")),
                ],
                className="two-col",
            ),
            html.H3("Mean and standard deviation across elements"),
            html.Div(stats, id=ids.DIST_STATS),
            html.Button("Download per-element errors (CSV)", id=ids.DIST_CSV_BUTTON, className="button"),
            dcc.Download(id=ids.DIST_CSV_DOWNLOAD),
            html.H3("Fitted per element against universal: is the trend universal?"),
            html.Div(fitted_section(name, state["metric"]), id=ids.DIST_FITTED),
            html.H3("Electronic descriptors and the errors"),
            html.Div([labelled("Descriptor", dcc.Dropdown(id=ids.DIST_DESCRIPTOR, value=state["descriptor"], clearable=False,
                                                          options=[{"label": f"{d} ({u})", "value": k, "title": k} for k, (u, d) in DESCRIPTORS.items()]),
                               width="40rem"),
                      labelled("Errors", dcc.RadioItems(id=ids.DIST_NORMALISE, options=[
                          {"label": " absolute", "value": "absolute"},
                          {"label": " relative to the reference spread", "value": "relative"}], value=state["normalise"], inline=True))],
                     className="controls"),
            html.Div(caveats, id=ids.DIST_CAVEATS),
            dcc.Graph(id=ids.DIST_DESCRIPTOR_SCATTER, figure=desc_fig, config=graph_config(f"descriptor_{name}_{state['descriptor']}_{state['metric']}")),
            html.P("Correlation of each descriptor with each model's per-element error: Pearson and Spearman, and the partial "
                   "Spearman correlation with the sampling temperature held fixed; 95 % bootstrap intervals over elements; "
                   "p-values raw and adjusted across every row of the table (Holm: family-wise error; BH: false discovery rate). "
                   "Read the adjusted columns.", className="hint"),
            html.Div(corr_table, id=ids.DIST_CORRELATIONS),
            html.Button("Download descriptors and correlations (CSV)", id=ids.DIST_DESC_CSV_BUTTON, className="button"),
            dcc.Download(id=ids.DIST_DESC_CSV_DOWNLOAD),
            export_controls("dist", [("Histograms", ids.DIST_HISTOGRAM), ("Model-vs-model scatter", ids.DIST_SCATTER),
                                     ("Errors vs descriptor", ids.DIST_DESCRIPTOR_SCATTER)]),
        ]
    )


@callback(
    *[Output(cid, "value") for _, cid in URL_CONTROLS],
    Output(ids.DIST_URL, "search"),
    *[Input(cid, "value") for _, cid in URL_CONTROLS],
    Input(ids.DIST_URL, "search"),
    State(ids.DIST_DATASET, "data"),
)
def sync_url(*args: Any) -> tuple[Any, ...]:
    """Keep the controls and the URL query in step, in both directions."""
    *values, search, dataset = args
    n = len(URL_CONTROLS)
    if ctx.triggered_id == ids.DIST_URL:
        state = parse_state(decode_query(search), dataset)
        return (*[state[k] if state[k] != old else no_update for (k, _), old in zip(URL_CONTROLS, values)], no_update)
    if ctx.triggered_id is None:
        return (no_update,) * (n + 1)
    params: dict[str, Any] = {"dataset": dataset}
    for (key, _), value in zip(URL_CONTROLS, values):
        if DEFAULTS.get(key) != value:
            params[key] = value
    target = encode_query(params)
    return (*([no_update] * n), target if target != (search or "") else no_update)


@callback(
    Output(ids.DIST_HISTOGRAM, "figure"),
    Output(ids.DIST_SCATTER, "figure"),
    Output(ids.DIST_STATS, "children"),
    Output(ids.DIST_DESCRIPTOR_SCATTER, "figure"),
    Output(ids.DIST_CORRELATIONS, "children"),
    Output(ids.DIST_CAVEATS, "children"),
    *[Input(cid, "value") for _, cid in URL_CONTROLS],
    State(ids.DIST_DATASET, "data"),
    prevent_initial_call=True,
)
def update(metric: str, temperature: str, mode: str, x_model: str | None, y_model: str | None, descriptor: str, hscale: str,
           normalise: str, labels: str, dataset: str) -> tuple[go.Figure, go.Figure, Any, go.Figure, Any, Any]:
    """Redraw the histogram, scatter, statistics and descriptor panel for the current controls."""
    return (*figures(dataset, metric, temperature, mode, x_model, y_model, hscale, labels),
            *descriptor_section(dataset, metric, temperature, descriptor, normalise, labels))


@callback(Output(ids.DIST_DESC_CSV_DOWNLOAD, "data"), Input(ids.DIST_DESC_CSV_BUTTON, "n_clicks"), State(ids.DIST_DATASET, "data"),
          State(ids.DIST_METRIC, "value"), State(ids.DIST_TEMPERATURE, "value"), State(ids.DIST_NORMALISE, "value"),
          prevent_initial_call=True)
def download_descriptors_csv(_n: int, dataset: str, metric: str, temperature: str, normalise: str = "absolute") -> dict[str, Any]:
    """Descriptors per element joined with the correlation table, as one CSV (two blocks)."""
    desc = views.descriptor_table()
    corr = (views.correlation_table(dataset, metric=metric, temperature=temperature, relative=normalise == "relative")
            if not desc.empty else desc)
    text = "# descriptors per element\n" + desc.to_csv(index_label="element") + "\n# correlations\n" + corr.to_csv(index=False)
    return dcc.send_string(text, f"descriptors_{dataset}_{metric}_{temperature}.csv")


@callback(Output(ids.DIST_CSV_DOWNLOAD, "data"), Input(ids.DIST_CSV_BUTTON, "n_clicks"), State(ids.DIST_DATASET, "data"),
          State(ids.DIST_METRIC, "value"), State(ids.DIST_TEMPERATURE, "value"), prevent_initial_call=True)
def download_csv(_n: int, dataset: str, metric: str, temperature: str) -> dict[str, Any]:
    """The element x model error matrix for the current selection, as CSV."""
    table = views.per_element_errors(dataset, metric=metric, temperature=temperature)
    return dcc.send_data_frame(table.to_csv, f"per-element_{dataset}_{metric}_{temperature}.csv", index_label="element")


@callback(Output(export_id("dist", "download"), "data"), Input(export_id("dist", "button"), "n_clicks"),
          State(export_id("dist", "figure"), "value"), State(export_id("dist", "format"), "value"), State(export_id("dist", "size"), "value"),
          State(export_id("dist", "font"), "value"), State(ids.DIST_HISTOGRAM, "figure"), State(ids.DIST_HISTOGRAM, "config"),
          State(ids.DIST_SCATTER, "figure"), State(ids.DIST_SCATTER, "config"),
          State(ids.DIST_DESCRIPTOR_SCATTER, "figure"), State(ids.DIST_DESCRIPTOR_SCATTER, "config"),
          background=True, running=[(Output(export_id("dist", "button"), "disabled"), True, False)], prevent_initial_call=True)
def export_figure(_n: int, graph_id: str, fmt: str, size: str, font: float | None, hist: dict[str, Any], hist_config: dict[str, Any],
                  scatter: dict[str, Any], scatter_config: dict[str, Any], desc: dict[str, Any] | None = None,
                  desc_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render the chosen figure with kaleido (a background job) and send the file."""
    graphs = {ids.DIST_HISTOGRAM: (hist, hist_config), ids.DIST_SCATTER: (scatter, scatter_config),
              ids.DIST_DESCRIPTOR_SCATTER: (desc, desc_config)}
    return export_download(graph_id, graphs, fmt=fmt, size=size, font_size=font, fallback="distributions")
