"""Findings ('/findings'): the paper's three claims tested on the selected data set and models.

(1) the periodic trend in absolute and relative errors, (2) the agreement of every pair of
models on the per-element ranking, (3) the descriptors' partial correlations with the errors at a
fixed sampling temperature. Each statement comes from :func:`analysis.views.findings`; the page
only wires the selection (in the URL) to it.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from analysis import views
from analysis.metrics.tables import POOLED
from components import ids
from components.export import export_controls, export_download, export_id
from components.findings import agreement_heatmap, descriptor_heatmap, group_figure, smearing_figure
from components.layout import METRIC_OPTIONS, alert, data_table, encode_query, labelled, no_data_message
from components.temperature import temperature_grid
from components.theme import graph_config

dash.register_page(__name__, path="/findings", title="Findings · MLFF Error Atlas", name="Findings")

DEFAULTS = {"metric": "force_rmse", "temperature": POOLED, "values": "absolute"}
URL_CONTROLS: tuple[tuple[str, str], ...] = (("metric", ids.FINDINGS_METRIC), ("temperature", ids.FINDINGS_TEMPERATURE),
                                             ("values", ids.FINDINGS_VALUES))


def parse_state(query: dict[str, str], dataset: str) -> dict[str, Any]:
    """Selections from the URL query, impossible values replaced by the defaults."""
    state = {k: query.get(k) or v for k, v in DEFAULTS.items()}
    if state["metric"] not in views.METRICS:
        state["metric"] = DEFAULTS["metric"]
    if state["values"] not in ("absolute", "relative"):
        state["values"] = "absolute"
    if state["temperature"] not in [v for v, _ in views.temperature_options(dataset)]:
        state["temperature"] = POOLED
    return state


def body(dataset: str, metric: str, temperature: str, values: str) -> list[Any]:
    """The statements, figures and tables for one selection."""
    found = views.paper_findings(dataset, metric, temperature)
    label = views.metric_label(metric, relative=values == "relative")
    relative = values == "relative"
    trend = found.trend_relative if relative else found.trend_absolute
    statements = [s for s, t in zip(found.trend_statements, found.trend_absolute + found.trend_relative) if t.relative == relative]
    limits = [alert("What this data set cannot answer: " + "; ".join(found.limits.notes) + ".", "warning")] if found.limits.notes else []
    medians = [{"model": t.model, **{g: v for g, v in t.group_medians.items()}} for t in trend]
    import pandas as pd

    return [
        *limits,
        dcc.Graph(id=ids.FINDINGS_TEMPERATURE_GRID, figure=temperature_grid(views.metrics_table(dataset), views.metric_column(metric),
                                                                             views.metric_label(metric)),
                  config=graph_config(f"findings_errors-vs-temperature_{dataset}_{metric}")),
        html.H3("1. The periodic trend: early transition metals against alkali and alkaline-earth metals"),
        html.Ul([html.Li(s) for s in statements] or [html.Li("No model has scored this data set.")], className="findings"),
        dcc.Graph(id=ids.FINDINGS_GROUPS, figure=group_figure(found.values_relative if relative else found.values_absolute,
                                                              title=f"{label} per element, by group (bars: medians)", y_label=label),
                  config=graph_config(f"findings_groups_{dataset}_{metric}_{values}")),
        html.Details([html.Summary("Group medians (table)"),
                      data_table(pd.DataFrame(medians).round(4), id="findings-medians-table")]),
        html.H3("2. Universality: do the models rank the elements alike?"),
        html.P(found.universality),
        dcc.Graph(id=ids.FINDINGS_AGREEMENT, figure=agreement_heatmap(found.agreement),
                  config=graph_config(f"findings_agreement_{dataset}_{metric}")),
        html.Details([html.Summary("Every pair (table)"), data_table(found.agreement.round(4), id="findings-agreement-table")]),
        html.H3("3. The electronic link, temperature held fixed"),
        html.P(found.electronic_statement),
        dcc.Graph(id=ids.FINDINGS_ELECTRONIC, figure=descriptor_heatmap(found.electronic),
                  config=graph_config(f"findings_electronic_{dataset}_{metric}")),
        html.Details([html.Summary("Descriptor x model (table)"), data_table(found.electronic.round(4), id="findings-electronic-table")]),
        *smearing_section(),
    ]


def smearing_section() -> list[Any]:
    """4. The intervention: the same frames labelled at a wider smearing, refitted (the stored experiment)."""
    import pandas as pd

    result = views.smearing_experiment() or {}
    rows = result.get("rows", [])
    summary = pd.DataFrame(result.get("summary", []))
    return [
        html.H3("4. An intervention: relabel with a smoother Fermi surface, refit"),
        html.P(result.get("statement", "The smearing experiment has not run yet: python -m analysis experiment smearing.")),
        dcc.Graph(id=ids.FINDINGS_SMEARING, figure=smearing_figure(rows), config=graph_config("findings_smearing-experiment")),
        html.Details([html.Summary("Ratios per element and model (table)"),
                      data_table(summary.round(4) if not summary.empty else summary, id="findings-smearing-table")]),
    ]


@views.memo_on_store()
def layout(dataset: str | None = None, **query: str) -> html.Div:
    """The page for a URL query."""
    name = views.resolve_dataset(dataset)
    if name is None:
        return html.Div([html.H2("Findings"), no_data_message()])
    state = parse_state(query, name)
    return html.Div([
        dcc.Location(id=ids.FINDINGS_URL, refresh=False),
        dcc.Store(id=ids.FINDINGS_DATASET, data=name),
        html.H2(f"Findings on {name}: the paper's claims, tested"),
        html.Div([
            labelled("Metric", dcc.Dropdown(id=ids.FINDINGS_METRIC, options=METRIC_OPTIONS, value=state["metric"], clearable=False), width="14rem"),
            labelled("Temperature", dcc.Dropdown(id=ids.FINDINGS_TEMPERATURE, value=state["temperature"], clearable=False,
                                                 options=[{"label": lab, "value": v} for v, lab in views.temperature_options(name)]), width="14rem"),
            labelled("Errors", dcc.RadioItems(id=ids.FINDINGS_VALUES, options=[{"label": " absolute", "value": "absolute"},
                                                                              {"label": " relative to the reference spread", "value": "relative"}],
                                              value=state["values"], inline=True)),
        ], className="controls"),
        html.Div(body(name, state["metric"], state["temperature"], state["values"]), id=ids.FINDINGS_BODY),
        export_controls("findings", [("Errors against temperature", ids.FINDINGS_TEMPERATURE_GRID), ("Errors by group", ids.FINDINGS_GROUPS), ("Rank agreement", ids.FINDINGS_AGREEMENT),
                                     ("Descriptors vs errors", ids.FINDINGS_ELECTRONIC), ("Smearing experiment", ids.FINDINGS_SMEARING)]),
    ])


@callback(
    Output(ids.FINDINGS_BODY, "children"),
    Output(ids.FINDINGS_URL, "search"),
    *[Input(cid, "value") for _, cid in URL_CONTROLS],
    State(ids.FINDINGS_DATASET, "data"),
    State(ids.FINDINGS_URL, "search"),
    prevent_initial_call=True,
)
def update(metric: str, temperature: str, values: str, dataset: str, search: str | None) -> tuple[Any, Any]:
    """Recompute the statements for the controls and keep the URL in step."""
    if not dataset or ctx.triggered_id is None:
        return no_update, no_update
    state = parse_state({"metric": metric, "temperature": temperature, "values": values}, dataset)
    params = {"dataset": dataset, **{k: v for k, v in state.items() if DEFAULTS.get(k) != v}}
    target = encode_query(params)
    return body(dataset, state["metric"], state["temperature"], state["values"]), (target if target != (search or "") else no_update)


@callback(Output(export_id("findings", "download"), "data"), Input(export_id("findings", "button"), "n_clicks"),
          State(export_id("findings", "figure"), "value"), State(export_id("findings", "format"), "value"),
          State(export_id("findings", "size"), "value"), State(export_id("findings", "font"), "value"),
          State(ids.FINDINGS_TEMPERATURE_GRID, "figure"), State(ids.FINDINGS_TEMPERATURE_GRID, "config"),
          State(ids.FINDINGS_GROUPS, "figure"), State(ids.FINDINGS_GROUPS, "config"),
          State(ids.FINDINGS_AGREEMENT, "figure"), State(ids.FINDINGS_AGREEMENT, "config"),
          State(ids.FINDINGS_ELECTRONIC, "figure"), State(ids.FINDINGS_ELECTRONIC, "config"),
          State(ids.FINDINGS_SMEARING, "figure"), State(ids.FINDINGS_SMEARING, "config"),
          background=True, running=[(Output(export_id("findings", "button"), "disabled"), True, False)], prevent_initial_call=True)
def export_figure(_n: int, graph_id: str, fmt: str, size: str, font: float | None, grid: dict[str, Any], grid_config: dict[str, Any],
                  groups: dict[str, Any], groups_config: dict[str, Any],
                  agreement: dict[str, Any], agreement_config: dict[str, Any], electronic: dict[str, Any],
                  electronic_config: dict[str, Any], smearing: dict[str, Any], smearing_config: dict[str, Any]) -> dict[str, Any]:
    """Render the chosen figure with kaleido (a background job) and send the file."""
    graphs = {ids.FINDINGS_TEMPERATURE_GRID: (grid, grid_config), ids.FINDINGS_GROUPS: (groups, groups_config), ids.FINDINGS_AGREEMENT: (agreement, agreement_config),
              ids.FINDINGS_ELECTRONIC: (electronic, electronic_config), ids.FINDINGS_SMEARING: (smearing, smearing_config)}
    return export_download(graph_id, graphs, fmt=fmt, size=size, font_size=font, fallback="findings")


__all__ = ["body", "layout", "parse_state"]
