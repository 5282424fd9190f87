"""Error map ('/'): periodic-table heat map of one metric per element.

The selection lives in the URL query (``/?dataset=..&model=a,b&metric=force_rmse&temperature=300``),
so a link reproduces the view and the browser's back button steps through earlier selections.
"""
from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from analysis import views
from analysis.metrics.tables import POOLED
from components import ids
from components.export import export_controls, export_download, export_id
from components.layout import METRIC_OPTIONS, alert, caveat_strip, decode_query, encode_query, labelled, no_data_message, split_list
from components.ptable import MAX_SPLIT_MODELS, ptable_comparison, ptable_heatmap, ptable_heatmap_grid, symbol_from_click
from components.theme import empty_figure, graph_config, is_presentation, presentation_style

dash.register_page(__name__, path="/", title="Error map · MLFF Error Atlas", name="Error map")

DEFAULTS: dict[str, str] = {
    "metric": "force_rmse",
    "temperature": POOLED,
    "normalise": "absolute",
    "scale": "linear",
    "view": "tiles",
}
# (query key, component id) of the controls kept in the URL, in callback order
URL_CONTROLS: tuple[tuple[str, str], ...] = (
    ("model", ids.MAP_MODEL),
    ("metric", ids.MAP_METRIC),
    ("temperature", ids.MAP_TEMPERATURE),
    ("normalise", ids.MAP_NORMALISE),
    ("scale", ids.MAP_COLOR_SCALE),
    ("view", ids.MAP_VIEW),
    ("cmax", ids.MAP_CMAX),
    ("vs", ids.MAP_COMPARE),
)


def parse_state(query: dict[str, str], dataset: str | None) -> dict[str, Any]:
    """Selections from URL query values, with defaults and values the data set cannot show dropped."""
    state: dict[str, Any] = {k: query.get(k) or v for k, v in DEFAULTS.items()}
    if state["metric"] not in views.METRICS:
        state["metric"] = DEFAULTS["metric"]
    models = views.models(dataset) if dataset else []
    chosen = [m for m in split_list(query.get("model")) if m in models][:MAX_SPLIT_MODELS]
    first = views.default_model(dataset) if dataset else None
    state["model"] = chosen or ([first] if first else [])
    temps = [v for v, _ in views.temperature_options(dataset)] if dataset else [POOLED]
    if state["temperature"] not in temps:
        state["temperature"] = POOLED
    try:
        state["cmax"] = float(query["cmax"]) if query.get("cmax") else None
    except ValueError:
        state["cmax"] = None
    for key, allowed in (("view", ("tiles", "grid", "mean", "compare")), ("scale", ("linear", "log")), ("normalise", ("absolute", "relative"))):
        if state[key] not in allowed:
            state[key] = DEFAULTS[key]
    options = [o["value"] for o in compare_options(dataset)]
    state["vs"] = query.get("vs") if query.get("vs") in options else default_comparison(dataset, state, options)
    return state


def default_comparison(dataset: str | None, state: dict[str, Any], options: list[str]) -> str | None:
    """What the compare view starts with, chosen to show something: another model on the same
    frames; else the temperature class holding the most elements; else another data set."""
    first = state["model"][0] if state.get("model") else None
    other_models = [o for o in options if o.startswith("M:") and o[2:] != first]
    if other_models:
        return other_models[0]
    temps = [o for o in options if o.startswith("T:") and o != f"T:{state['temperature']}"]
    if temps and dataset and first:
        counts = {o: int(views.element_values(dataset, model=first, metric=state["metric"], temperature=o[2:])["value"].notna().sum())
                  for o in temps}
        return max(temps, key=lambda o: counts[o])
    return next((o for o in options if o.startswith("D:")), temps[0] if temps else None)


def concerns_view(text: str, models: list[str], state: dict[str, Any]) -> bool:
    """Whether a caveat concerns the models the map shows: one naming only models not on screen does not."""
    shown = set(models) if state.get("view") in ("grid", "mean") else set(state.get("model") or [])
    named = {m for m in models if m in text}
    return not named or bool(named & shown)


def model_options(dataset: str, models: list[str]) -> list[dict[str, str]]:
    """The model menu: a model fitted per element is labelled so ('deepmd-fitted: DeePMD (fitted per element)')."""
    out = []
    for m in models:
        label = views.model_label(dataset, m)
        out.append({"label": m if label == m else f"{m}: {label}", "value": m})
    return out


def compare_options(dataset: str | None) -> list[dict[str, str]]:
    """What the map can be compared with: another temperature of this data set, or another data set."""
    if not dataset:
        return []
    temps = [{"label": f"{lab}", "value": f"T:{v}"} for v, lab in views.temperature_options(dataset)]
    models = [{"label": f"model {m}", "value": f"M:{m}"} for m in views.models(dataset)]
    others = [{"label": f"data set {n}", "value": f"D:{n}"} for n in views.dataset_names() if n != dataset]
    return temps + models + others


@views.memo_on_store()
def comparison_figure(dataset: str, model: str, metric: str, temperature: str, relative: bool, log: bool, cmax: float | None,
                      vs: str | None) -> go.Figure:
    """Selection A (this data set, temperature) beside B (``vs``: 'T:<temperature>' or 'D:<data set>') and B - A."""
    if not vs or vs[:2] not in ("T:", "D:", "M:"):
        return empty_figure("Choose what to compare with.")
    kind, target = vs[:1], vs[2:]
    b_dataset, b_temp, b_model = {"T": (dataset, target, model), "D": (target, temperature, model), "M": (dataset, temperature, target)}[kind]
    if b_dataset not in views.dataset_names() or b_model not in views.models(b_dataset):
        return empty_figure(f"{b_model} has no predictions on data set {b_dataset!r}.")
    label = views.metric_label(metric, relative=relative)
    a = views.element_values(dataset, model=model, metric=metric, temperature=temperature, relative=relative)
    b = views.element_values(b_dataset, model=b_model, metric=metric, temperature=b_temp, relative=relative)
    names_t = dict(views.temperature_options(dataset))
    name_a = f"{model}, {dataset}, {names_t.get(temperature, temperature)}" if kind == "M" else f"{dataset}, {names_t.get(temperature, temperature)}"
    name_b = f"{b_model}, {b_dataset}, {dict(views.temperature_options(b_dataset)).get(b_temp, b_temp)}" if kind == "M" else \
        f"{b_dataset}, {dict(views.temperature_options(b_dataset)).get(b_temp, b_temp)}"
    title = f"{model} against {b_model}: {label.split(' (')[0]}" if kind == "M" else f"{model}: {label.split(' (')[0]}"
    return ptable_comparison(a, b, views.difference(a, b), names=(name_a, name_b), label=label, log=log, cmax=cmax, title=title)


def state_to_search(dataset: str | None, state: dict[str, Any]) -> str:
    """The URL query of a selection (defaults omitted, so short links stay short)."""
    params: dict[str, Any] = {"dataset": dataset}
    for key in [k for k, _ in URL_CONTROLS] + ["present"]:
        value = state.get(key)
        if (key in DEFAULTS and value == DEFAULTS[key]) or (key == "vs" and state.get("view") != "compare"):
            continue
        params[key] = value
    return encode_query(params)


@views.memo_on_store()
def map_figure(
    dataset: str | None,
    models: list[str],
    metric: str,
    temperature: str,
    normalise: str,
    scale: str,
    view: str,
    cmax: float | None,
    vs: str | None = None,
) -> go.Figure:
    """The map for a selection: split tiles of the chosen models, the grid of all models, or a comparison."""
    if not dataset:
        return empty_figure("No data yet.")
    all_models = views.models(dataset)
    if not all_models:
        return empty_figure(f"No model predictions on data set {dataset!r} yet: submit an evaluation on the Jobs page.")
    relative = normalise == "relative"
    label = views.metric_label(metric, relative=relative)
    shown = all_models if view == "grid" else (models or [views.default_model(dataset) or all_models[0]])
    if view == "compare":
        return comparison_figure(dataset, shown[0], metric, temperature, relative, scale == "log", cmax, vs)
    if view == "mean":  # SI Fig. S2 a/b: per element the mean over the chosen models (all when fewer than two are chosen)
        averaged = models if len(models) >= 2 else all_models
        mean = views.model_average(dataset, averaged, metric=metric, temperature=temperature, relative=relative)
        temp_text = "all temperatures" if temperature == POOLED else dict(views.temperature_options(dataset)).get(temperature, temperature)
        return ptable_heatmap(mean, label=label, log=scale == "log", cmax=cmax,
                              title=f"Mean of {len(averaged)} models: {label.split(' (')[0]} · {temp_text} · {dataset}")
    values = {m: views.element_values(dataset, model=m, metric=metric, temperature=temperature, relative=relative) for m in shown}
    pending = {e: "not labelled yet: the data set is still being built" for e in views.pending_elements(dataset)}
    kwargs: dict[str, Any] = {"label": label, "log": scale == "log", "cmax": cmax, "missing_notes": pending}
    temp_text = "all temperatures" if temperature == POOLED else dict(views.temperature_options(dataset)).get(temperature, temperature)
    title = f"{label.split(' (')[0]} · {temp_text} · {dataset}"
    try:
        if view == "grid":
            return ptable_heatmap_grid(values, title=title, **kwargs)
        if len(shown) == 1:
            return ptable_heatmap(values[shown[0]], title=f"{shown[0]}: {title}", **kwargs)
        return ptable_heatmap(values, title=title, **kwargs)
    except ValueError as exc:  # e.g. a colour maximum below the data's minimum on a log scale
        return empty_figure(f"Cannot draw this selection: {exc}")


def export_name(dataset: str | None, models: list[str], metric: str, temperature: str, normalise: str, view: str = "tiles",
                vs: str | None = None) -> str:
    """File name for exported figures and tables, carrying the view and the selection (a compare export
    never overwrites the grid's)."""
    what = {"grid": "all-models-grid", "mean": "mean-of-" + ("+".join(models) if len(models) >= 2 else "all"),
            "compare": "+".join(models[:1]) + "-vs-" + (vs or "none").replace(":", "-")}.get(view, "+".join(models) or "all")
    return "_".join(["error-map", view, dataset or "none", what, metric, temperature, normalise])


@views.memo_on_store()
def layout(dataset: str | None = None, present: str | None = None, **query: str) -> html.Div:
    """The page for a URL query (Dash passes the query parameters as keyword arguments).

    ``present=1`` turns on presentation mode: large high-contrast type, controls hidden.
    """
    present_mode = is_presentation(present)
    name = views.resolve_dataset(dataset)
    if name is None:
        return html.Div([html.H2("Error map"), no_data_message()])
    state = parse_state(query, name)
    models = views.models(name)
    controls = html.Div(
        [
            labelled("Data set", dcc.Dropdown(id=ids.MAP_DATASET, options=views.dataset_names(), value=name, clearable=False), width="14rem"),
            labelled(
                f"Models (up to {MAX_SPLIT_MODELS}: split tiles)",
                dcc.Dropdown(id=ids.MAP_MODEL, options=model_options(name, models), value=state["model"], multi=True),
                width="22rem",
            ),
            labelled("Metric", dcc.Dropdown(id=ids.MAP_METRIC, options=METRIC_OPTIONS, value=state["metric"], clearable=False), width="14rem"),
            labelled(
                "Temperature",
                dcc.Dropdown(id=ids.MAP_TEMPERATURE, options=[{"label": lab, "value": v} for v, lab in views.temperature_options(name)],
                             value=state["temperature"], clearable=False),
                width="14rem",
            ),
            labelled("Values", dcc.RadioItems(id=ids.MAP_NORMALISE, options=[{"label": " absolute", "value": "absolute"},
                                                                            {"label": " / reference std", "value": "relative"}],
                                              value=state["normalise"], inline=True)),
            labelled("Colour scale", dcc.RadioItems(id=ids.MAP_COLOR_SCALE, options=[{"label": " linear", "value": "linear"},
                                                                                   {"label": " log", "value": "log"}],
                                                    value=state["scale"], inline=True)),
            labelled("View", dcc.RadioItems(id=ids.MAP_VIEW, options=[{"label": " selected models", "value": "tiles"},
                                                                    {"label": " all models (grid)", "value": "grid"},
                                                                    {"label": " mean of models (SI Fig. S2)", "value": "mean"},
                                                                    {"label": " compare", "value": "compare"}],
                                             value=state["view"], inline=True)),
            labelled("Compare with (first model)", dcc.Dropdown(id=ids.MAP_COMPARE, options=compare_options(name), value=state["vs"],
                                                                clearable=False), width="16rem"),
            labelled("Colour max", dcc.Input(id=ids.MAP_CMAX, type="number", value=state["cmax"], placeholder="auto", debounce=True,
                                             min=0, style={"width": "7rem"})),
        ],
        className="controls",
    )
    message = [] if models else [alert(f"Data set {name!r} has no model predictions yet: submit an evaluation on the Jobs page.", "info")]
    if not present_mode and not views.fitted_models(name):
        elsewhere = [d for d in views.dataset_names() if d != name and views.fitted_models(d)]
        if elsewhere:
            message.append(html.P(["Models fitted per element (the paper's small models) are on data set ",
                                   *[dcc.Link(d, href=f"/?dataset={d}") for d in elsewhere[:1]],
                                   f"{' and ' + ', '.join(elsewhere[1:]) if len(elsewhere) > 1 else ''}: "
                                   "its map, element pages and distributions compare them with the universal models."],
                                  className="hint", id=ids.MAP_FITTED_HINT))
    shown = [(c.level, f"{c.text} {c.action}".strip()) for c in views.caveats(name)
             if not (present_mode and not concerns_view(c.text, models, state))]  # on a projector only what concerns the map on screen
    strip = caveat_strip(shown, id=ids.MAP_CAVEATS)
    if strip is not None:
        message.append(strip)
    return html.Div(
        [
            dcc.Location(id=ids.MAP_URL, refresh=False),
            dcc.Location(id=ids.MAP_NAV, refresh="callback-nav"),
            html.H2("Error map"),
            controls,
            html.Div(message, id=ids.MAP_MESSAGE),
            dcc.Loading(dcc.Graph(id=ids.MAP_GRAPH, figure=presentation_style(map_figure(
                                      name, state["model"], state["metric"], state["temperature"], state["normalise"], state["scale"],
                                      state["view"], state["cmax"], state["vs"]), present_mode),
                                  config=graph_config(export_name(name, state["model"], state["metric"], state["temperature"], state["normalise"],
                                                                  state["view"], state["vs"]))),
                        delay_show=300),
            html.P(["Click an element to open its page. Grey tiles: no data for this selection. The address bar holds the view: ",
                    dcc.Clipboard(id=ids.MAP_COPY_LINK, title="copy a link to this view", style={"display": "inline-block"}),
                    " copy a link to share it."], className="hint"),
            html.Button("Download table (CSV)", id=ids.MAP_CSV_BUTTON, className="button"),
            dcc.Download(id=ids.MAP_CSV_DOWNLOAD),
            html.Button("Download report (self-contained HTML)", id=ids.MAP_REPORT_BUTTON, className="button",
                        title="every model's maps, the distributions, a section per element and the provenance, in one file that opens offline"),
            dcc.Download(id=ids.MAP_REPORT_DOWNLOAD),
            export_controls("map", [("Error map", ids.MAP_GRAPH)]),
        ],
        className="presentation" if present_mode else None,
    )


@callback(
    *[Output(cid, "value") for _, cid in URL_CONTROLS],
    Output(ids.MAP_URL, "search"),
    *[Input(cid, "value") for _, cid in URL_CONTROLS],
    Input(ids.MAP_URL, "search"),
    State(ids.MAP_DATASET, "value"),
)
def sync_url(*args: Any) -> tuple[Any, ...]:
    """Keep the controls and the URL query in step, in both directions (Back button included)."""
    *values, search, dataset = args
    n = len(URL_CONTROLS)
    if ctx.triggered_id == ids.MAP_URL:  # the URL changed (back/forward): controls follow it
        state = parse_state(decode_query(search), dataset)
        new = [state[key] for key, _ in URL_CONTROLS]
        return (*[v if v != old else no_update for v, old in zip(new, values)], no_update)
    if ctx.triggered_id is None:
        return (no_update,) * (n + 1)
    state = dict(zip([k for k, _ in URL_CONTROLS], values))
    state["present"] = decode_query(search).get("present")  # presentation mode survives control changes
    target = state_to_search(dataset, state)
    return (*([no_update] * n), target if target != (search or "") else no_update)


@callback(
    Output(ids.MAP_GRAPH, "figure"),
    Output(ids.MAP_GRAPH, "config"),
    *[Input(cid, "value") for _, cid in URL_CONTROLS],
    State(ids.MAP_DATASET, "value"),
    prevent_initial_call=True,
)
def update_map(models: list[str] | None, metric: str, temperature: str, normalise: str, scale: str, view: str,
               cmax: float | None, vs: str | None, dataset: str) -> tuple[go.Figure, dict[str, Any]]:
    """Redraw the map for the current controls (the layout drew the first one)."""
    models = split_list(models)[:MAX_SPLIT_MODELS]
    fig = map_figure(dataset, models, metric, temperature, normalise, scale, view, cmax, vs)
    return fig, graph_config(export_name(dataset, models, metric, temperature, normalise, view, vs))


@callback(Output(ids.MAP_NAV, "href"), Input(ids.MAP_GRAPH, "clickData"), Input(ids.MAP_DATASET, "value"),
          State(ids.MAP_MODEL, "value"), State(ids.MAP_URL, "search"), prevent_initial_call=True)
def navigate(click: dict[str, Any] | None, dataset: str, models: list[str] | None, search: str | None = None) -> str:
    """Open the clicked element's page, or reload the map for another data set."""
    if ctx.triggered_id == ids.MAP_DATASET:
        return "/" + encode_query({"dataset": dataset})
    symbol = symbol_from_click(click)
    if symbol is None:
        return no_update
    present = decode_query(search).get("present")
    return f"/element/{symbol}" + encode_query({"dataset": dataset, "model": split_list(models), "present": present})


@callback(Output(ids.MAP_CSV_DOWNLOAD, "data"), Input(ids.MAP_CSV_BUTTON, "n_clicks"), State(ids.MAP_DATASET, "value"),
          State(ids.MAP_METRIC, "value"), State(ids.MAP_TEMPERATURE, "value"), State(ids.MAP_NORMALISE, "value"),
          prevent_initial_call=True)
def download_csv(_n: int, dataset: str, metric: str, temperature: str, normalise: str) -> dict[str, Any]:
    """The per-element values of every model for the current selection, as CSV."""
    table = views.per_element_errors(dataset, metric=metric, temperature=temperature, relative=normalise == "relative")
    name = export_name(dataset, ["all"], metric, temperature, normalise)
    return dcc.send_data_frame(table.to_csv, f"{name}.csv", index_label="element")


@callback(Output(export_id("map", "download"), "data"), Input(export_id("map", "button"), "n_clicks"),
          State(export_id("map", "figure"), "value"), State(export_id("map", "format"), "value"), State(export_id("map", "size"), "value"),
          State(export_id("map", "font"), "value"), State(ids.MAP_GRAPH, "figure"), State(ids.MAP_GRAPH, "config"),
          background=True, running=[(Output(export_id("map", "button"), "disabled"), True, False)], prevent_initial_call=True)
def export_figure(_n: int, graph_id: str, fmt: str, size: str, font: float | None, figure: dict[str, Any], config: dict[str, Any]
                  ) -> dict[str, Any]:
    """Render the map with kaleido (a background job: it takes seconds) and send the file."""
    return export_download(graph_id, {ids.MAP_GRAPH: (figure, config)}, fmt=fmt, size=size, font_size=font, fallback="error-map")


# the link to share is the browser's current address (the selection lives in its query)
clientside_callback(
    "function(n) { return window.location.href; }",
    Output(ids.MAP_COPY_LINK, "content"),
    Input(ids.MAP_COPY_LINK, "n_clicks"),
    prevent_initial_call=True,
)


@callback(Output(ids.MAP_REPORT_DOWNLOAD, "data"), Input(ids.MAP_REPORT_BUTTON, "n_clicks"), State(ids.MAP_DATASET, "value"),
          background=True, running=[(Output(ids.MAP_REPORT_BUTTON, "disabled"), True, False)], prevent_initial_call=True)
def download_report(_n: int, dataset: str) -> dict[str, Any]:
    """The self-contained HTML report of the data set (a background job: it draws every figure)."""
    from components.report import build_report

    return dcc.send_string(build_report(dataset), f"mlff-atlas-report_{dataset}.html")
