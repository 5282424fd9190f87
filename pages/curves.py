"""Curves ('/curves'): the eigenvalue-sum curves of many elements at once, as small multiples
(Supplementary Figs S3-S18: six elements a figure, or one grid of all 43), exportable as one figure.

URL: ``?group=1`` (the SI layout's first six elements; ``all`` for every element), or
``?elements=Cu,Ag,Au``; ``kinds=displacement,fermi_shift``; ``methods=gaussian,tetrahedron``.
"""
from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html

from analysis import views
from components import ids
from components.curves import CAPTION, curves_from_electronic, curves_small_multiples, six_element_groups
from components.export import export_controls, export_download, export_id
from components.layout import alert, encode_query, labelled
from components.theme import graph_config

dash.register_page(__name__, path="/curves", title="Curves · MLFF Error Atlas", name="Curves")

KINDS = [{"label": "against displacement", "value": "displacement"}, {"label": "against Fermi-level shift", "value": "fermi_shift"}]
ALL = "all"


def groups(elements: list[str]) -> list[dict[str, str]]:
    """The six-element figures of the SI layout (in periodic-table order), then 'all in one grid'."""
    options = [{"label": f"figure {i + 1}: {', '.join(g)}", "value": str(i + 1)} for i, g in enumerate(six_element_groups(elements))]
    return options + [{"label": f"all {len(elements)} in one grid", "value": ALL}]


def selection(group: str | None, chosen: list[str] | None, available: list[str]) -> list[str]:
    """The elements drawn: an explicit choice (kept in the available order), else the group's."""
    if chosen:
        wanted = set(chosen)
        return [e for e in available if e in wanted]
    if group == ALL:
        return list(available)
    parts = six_element_groups(available)
    index = int(group) - 1 if group and group.isdigit() and 0 < int(group) <= len(parts) else 0
    return parts[index] if parts else []


@views.memo_on_store(maxsize=16)
def figure(elements: tuple[str, ...], kinds: tuple[str, ...], methods: tuple[str, ...] | None) -> go.Figure:
    """The small multiples of ``elements`` (memoised: the grid of 43 takes about a second to build)."""
    panels = {e: curves_from_electronic(views.load_curves(e)) for e in elements}
    per_row = (2 if len(elements) <= 6 else 4) * (1 if len(kinds) > 1 else 2)
    title = ("Eigenvalue-sum curves: " + ", ".join(elements)) if len(elements) <= 6 else f"Eigenvalue-sum curves of {len(elements)} elements"
    return curves_small_multiples(panels, list(elements), elements_per_row=per_row, kinds=list(kinds),
                                  visible=set(methods) if methods else None, title=title,
                                  panel_height=190 if len(elements) <= 6 else 150)


def export_name(elements: list[str], kinds: list[str], group: str | None, custom: bool) -> str:
    """The exported file's name: the view and the selection ('curves_figure-2_displacement+fermi_shift')."""
    what = "-".join(elements[:8]) + ("-etc" if len(elements) > 8 else "") if custom else ("all" if group == ALL else f"figure-{group or 1}")
    return "_".join(["curves", what, "+".join(kinds)])


def layout(group: str | None = None, elements: str | None = None, kinds: str | None = None, methods: str | None = None,
           **_: str) -> html.Div:
    """The page for a URL query."""
    available = views.elements_with_curves()
    if not available:
        return html.Div([html.H2("Eigenvalue-sum curves"), alert("No element has eigenvalue-sum curves yet "
                                                                "(python -m analysis electronic --elements all).", "info")])
    chosen = [e for e in (elements or "").split(",") if e in available]
    shown = selection(group, chosen, available)
    kind_list = [k for k in (kinds or "").split(",") if k in ("displacement", "fermi_shift")] or ["displacement", "fermi_shift"]
    all_methods = views.curve_methods(available)
    method_list = [m for m in (methods or "").split(",") if m in all_methods] or all_methods
    fig = figure(tuple(shown), tuple(kind_list), tuple(method_list))
    return html.Div([
        dcc.Location(id=ids.CURVES_URL, refresh=False),
        html.H2("Eigenvalue-sum curves, element by element"),
        html.P(CAPTION + " Computed at the frames' reference state (the embedded default set's PBE V0 and phase); "
               "each panel keeps its own y range.", className="hint"),
        html.Div([
            labelled("Figure", dcc.Dropdown(id=ids.CURVES_GROUP, options=groups(available), value=group or ("1" if not chosen else None),
                                            clearable=True, placeholder="custom selection"), width="26rem"),
            labelled("Elements (overrides the figure)", dcc.Dropdown(id=ids.CURVES_ELEMENTS, options=available, value=chosen, multi=True),
                     width="26rem"),
            labelled("Panels", dcc.Checklist(id=ids.CURVES_KINDS, options=KINDS, value=kind_list, inline=True)),
            labelled("Smearing methods", dcc.Checklist(id=ids.CURVES_METHODS, options=all_methods, value=method_list, inline=True)),
        ], className="controls"),
        dcc.Loading(dcc.Graph(id=ids.CURVES_GRAPH, figure=fig, config=graph_config(export_name(shown, kind_list, group, bool(chosen))))),
        export_controls("curves", [("curves", ids.CURVES_GRAPH)]),
    ])


@callback(
    Output(ids.CURVES_GRAPH, "figure"), Output(ids.CURVES_GRAPH, "config"), Output(ids.CURVES_URL, "search"),
    Input(ids.CURVES_GROUP, "value"), Input(ids.CURVES_ELEMENTS, "value"), Input(ids.CURVES_KINDS, "value"),
    Input(ids.CURVES_METHODS, "value"), prevent_initial_call=True,
)
def update(group: str | None, chosen: list[str] | None, kinds: list[str] | None, methods: list[str] | None) -> tuple[go.Figure, dict[str, Any], str]:
    """Redraw for the controls and keep the URL in step (a shared link shows the same figure)."""
    available = views.elements_with_curves()
    shown = selection(group, chosen, available)
    kind_list = [k for k in (kinds or []) if k in ("displacement", "fermi_shift")] or ["displacement"]
    fig = figure(tuple(shown), tuple(kind_list), tuple(methods or []) or None)
    query = encode_query({"group": None if chosen else group, "elements": shown if chosen else None, "kinds": kind_list, "methods": methods})
    return fig, graph_config(export_name(shown, kind_list, group, bool(chosen))), query


@callback(Output(export_id("curves", "download"), "data"), Input(export_id("curves", "button"), "n_clicks"),
          State(export_id("curves", "figure"), "value"), State(export_id("curves", "format"), "value"),
          State(export_id("curves", "size"), "value"), State(export_id("curves", "font"), "value"),
          State(ids.CURVES_GRAPH, "figure"), State(ids.CURVES_GRAPH, "config"),
          background=True, running=[(Output(export_id("curves", "button"), "disabled"), True, False)], prevent_initial_call=True)
def export_figure(_n: int, graph_id: str, fmt: str, size: str, font: float | None, fig: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Render the small multiples with kaleido and send the file."""
    return export_download(graph_id, {ids.CURVES_GRAPH: (fig, config)}, fmt=fmt, size=size, font_size=font, fallback="curves")
