"""Element page ('/element/<symbol>'): Metal-43 row, errors per model x temperature, parity plots,
eigenvalue-sum curves per smearing method, previous/next element."""
from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html

from analysis import views
from analysis.core import elements
from analysis.views.element import computed_as
from components import ids
from components.curves import curves_from_electronic, eigenvalue_sum_curve
from components.eos import eos_figure
from components.export import export_controls, export_download, export_id
from components.fitting import learning_curve_figure, split_table
from components.layout import alert, data_table, decode_query, encode_query, key_value_card, no_data_message, split_list
from components.parity import parity_plot
from components.temperature import element_temperature_figure
from components.theme import empty_figure, graph_config, is_presentation, presentation_style

dash.register_page(__name__, path_template="/element/<symbol>", title=lambda symbol=None: f"{symbol} · MLFF Error Atlas",
                   name="Element")

EXPORT_GRAPHS = (ids.ELEMENT_ENERGY_PARITY, ids.ELEMENT_FORCE_PARITY, ids.ELEMENT_TEMPERATURE, ids.ELEMENT_EOS_CURVE, ids.ELEMENT_DISPLACEMENT_CURVE,
                 ids.ELEMENT_FERMI_CURVE)
TABLE_HEADERS = {
    "model": "model",
    "temperature": "T (K)",
    "n_frames": "frames",
    "n_frames_unscored": "not scored",
    "n_train": "fitted on (frames)",
    "n_atoms": "atoms",
    "energy_rmse_mev_per_atom": "E RMSE (meV/atom)",
    "energy_mae_mev_per_atom": "E MAE (meV/atom)",
    "force_rmse_mev_per_a": "F RMSE (meV/Å)",
    "force_mae_mev_per_a": "F MAE (meV/Å)",
    "energy_shift_ev_per_atom": "E shift (eV/atom)",
}
FRAME_HEADERS = {
    "frame_id": "frame",
    "temperature": "T (K)",
    "n_atoms": "atoms",
    "energy_ev_per_atom": "E DFT (eV/atom)",
    "force_rms_mev_per_a": "F DFT RMS (meV/Å)",
}
PANELS = {
    "displacement": ("Displacement δ (Å)", "E_band(δ) − E_band(0) (eV/cell)", "Band energy vs displacement"),
    "fermi_shift": ("Fermi-level shift ΔE_F (eV)", "Σε below E_F + ΔE_F (eV/cell)", "Eigenvalue sum vs Fermi-level shift"),
}


def metal43_card(symbol: str) -> html.Div:
    """The element's row of the Metal-43 table, or a note that it is not in the table."""
    if not elements.is_metal43(symbol):
        return html.Div(alert(f"{symbol} is not one of the Metal-43 elements.", "info"), id=ids.ELEMENT_ROW)
    row = elements.row(symbol)
    temps = ", ".join(f"{t:g} K" if lab == "300 K" else f"{lab} = {t:g} K" for t, lab in row.temperature_labels.items())
    items = [("mp-id", row.mp_id), ("space group", row.space_group), ("AIMD temperatures", temps), ("POTCAR", row.potcar)]
    if row.note:
        items.append(("note", row.note))
    from analysis.reference.gpaw_calc import phase

    built = phase(symbol)
    if built.space_group != row.space_group:
        items.append(("built here", f"{built.space_group} ({built.prototype}) instead: {built.note}"))
    return key_value_card("Metal-43 table", items, id=ids.ELEMENT_ROW)


EOS_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("V0_A3_per_atom", "V0 (Å³/atom)", "{:.4g}"),
    ("B0_GPa", "B0 (GPa)", "{:.4g}"),
    ("Bprime", "B′ (dimensionless)", "{:.3g}"),
    ("E0_eV_per_atom", "E0 (eV/atom)", "{:.5g}"),
    ("covera", "c/a", "{:.4g}"),
)


def eos_card(symbol: str, dataset: str | None = None) -> html.Div:
    """V0, B0 and B' of the PBE equation-of-state fit, or what is missing."""
    eos = views.load_eos(symbol, dataset)
    if eos is None:
        return html.Div(alert(f"No equation-of-state fit for {symbol} yet (neither the data set's provenance nor "
                              f"{views.eos_path().name} has one).", "info"), id=ids.ELEMENT_EOS)
    items = [(label, fmt.format(eos[key]) if isinstance(eos[key], (int, float)) else str(eos[key]))
             for key, label, fmt in EOS_FIELDS if eos.get(key) is not None]
    if eos.get("flags"):
        items.append(("quality", "flagged: " + "; ".join(eos["flags"])))
        refit = eos.get("refit")
        if refit:
            items.append(("refit (11 points, ±12 %, denser mesh)",
                          f"V0 {refit['V0_A3_per_atom']:.4g} Å³/atom, B0 {refit['B0_GPa']:.4g} GPa, B′ {refit['Bprime']:.3g}"
                          + (f" (still {'; '.join(refit['flags'])})" if refit.get("flags") else "")
                          + "; the frames use the original V0"))
    return key_value_card("Equation of state (PBE, GPAW)", items or [(k, str(v)) for k, v in eos.items()], id=ids.ELEMENT_EOS)


def curve_figures(symbol: str, methods: list[str] | None) -> tuple[go.Figure, go.Figure]:
    """The displacement and Fermi-shift figures of ``symbol`` with only ``methods`` shown."""
    curves = curves_from_electronic(views.load_curves(symbol))
    figs = []
    for panel, (x_label, y_label, title) in PANELS.items():
        figs.append(eigenvalue_sum_curve(curves.get(panel, {}), x_label=x_label, y_label=y_label, visible=methods, title=f"{symbol}: {title}"))
    return figs[0], figs[1]


def curves_panel(symbol: str, methods: list[str] | None, *, present: bool = False) -> html.Div:
    """The eigenvalue-sum section: a checklist of smearing methods and the two curve plots."""
    curves = curves_from_electronic(views.load_curves(symbol))
    all_methods = list(dict.fromkeys(m for panel in curves.values() for m in panel))
    if not all_methods:
        message = alert(
            f"No eigenvalue-sum curves for {symbol} yet: they come from the electronic analysis "
            f"(`python -m analysis electronic --elements {symbol}`), which has not produced this element's "
            "displacement and Fermi-shift curves.",
            "info",
        )
    else:
        raw = views.load_curves(symbol) or {}
        origin = raw.get("source") or f"GPAW {raw.get('gpaw_version', '?')}"
        message = html.Div([
            html.P(f"Source: {origin}; analysis smearing σ = {raw.get('sigma_ev', '?')} eV, Methfessel-Paxton order "
                   f"{raw.get('mp_order', '?')}.", className="hint"),
            html.Ul([html.Li(f"{label}: {value}") for label, value in computed_as(symbol, raw)], className="hint computed-as"),
        ])
    shown = [m for m in methods if m in all_methods] if methods else all_methods
    disp, fermi = (presentation_style(f, present) for f in curve_figures(symbol, shown))
    return html.Div(
        [
            html.H3("Eigenvalue sums"),
            html.Div(message, id=ids.ELEMENT_CURVES_MESSAGE),
            dcc.Checklist(id=ids.ELEMENT_METHODS, options=all_methods, value=shown, inline=True, className="checklist"),
            html.Div(
                [
                    dcc.Graph(id=ids.ELEMENT_DISPLACEMENT_CURVE, figure=disp, config=graph_config(f"{symbol}_eigenvalue-sum_displacement")),
                    dcc.Graph(id=ids.ELEMENT_FERMI_CURVE, figure=fermi, config=graph_config(f"{symbol}_eigenvalue-sum_fermi-shift")),
                ],
                className="two-col",
                style=None if all_methods else {"display": "none"},  # kept in the page for the export callback
            ),
        ]
    )


def fitted_section(dataset: str, symbol: str, present: bool = False) -> list[Any]:
    """The models fitted on this element's frames: their split and learning curves (empty without any)."""
    fits = views.fits_for_element(dataset, symbol)
    if not fits:
        return []
    labels = {m: views.model_label(dataset, m) for m in fits}
    table = split_table(fits, labels=labels)
    figure = presentation_style(learning_curve_figure(fits, symbol=symbol, labels=labels), present)
    return [
        html.H3("Models fitted per element"),
        html.P("Each model was fitted on this element's training frames only, validated on its validation frames, and scored "
               "on its held-out test frames (the errors above); the split is per temperature with a fixed seed.", className="hint"),
        data_table(table, id=ids.ELEMENT_FIT_TABLE),
        dcc.Graph(id=ids.ELEMENT_LEARNING_CURVE, config=graph_config(f"{symbol}_{dataset}_learning-curve"), figure=figure),
    ]


def _nav_link(target: str | None, label: str, cid: str, query: dict[str, Any]) -> Any:
    if target is None:
        return html.Span(label, id=cid, className="nav-disabled")
    return dcc.Link(f"{label} {target}" if label == "←" else f"{target} {label}", href=f"/element/{target}" + encode_query(query), id=cid)


@views.memo_on_store()
def layout(symbol: str | None = None, dataset: str | None = None, model: str | None = None, methods: str | None = None,
           present: str | None = None, **_: str) -> html.Div:
    """The page of ``symbol`` (Dash passes the path variable and the query parameters)."""
    symbol = (symbol or "").strip()
    try:
        z = elements.atomic_number(symbol)
    except ValueError:
        return html.Div([html.H2("Element"), alert(f"Unknown element symbol {symbol!r}.", "error")])
    name = views.resolve_dataset(dataset)
    present = is_presentation(present)
    query = {"dataset": name, "model": split_list(model), "methods": methods, "present": "1" if present else None}
    prev_el, next_el = views.neighbours(name, symbol)
    header = html.Div(
        [
            _nav_link(prev_el, "←", ids.ELEMENT_PREV, query),
            html.H2(f"{symbol} (Z = {z})", id=ids.ELEMENT_TITLE),
            _nav_link(next_el, "→", ids.ELEMENT_NEXT, query),
        ],
        className="element-header",
    )
    info = html.Div([metal43_card(symbol), eos_card(symbol, name)], className="two-col")
    borrowed = views.borrowed_data_note(name, symbol)
    eos_graph = dcc.Graph(id=ids.ELEMENT_EOS_CURVE, config=graph_config(f"{symbol}_eos"),
                          figure=presentation_style(eos_figure(views.load_eos(symbol, name), symbol=symbol), present))
    body: list[Any]
    energy_fig = force_fig = None
    if name is None:
        body = [no_data_message()]
    elif symbol not in views.summary(name).elements:
        pending = symbol in views.pending_elements(name)
        body = [alert(f"{symbol} is not labelled yet. {views.build_status(name)}" if pending
                      else f"Data set {name!r} has no frames of {symbol}.", "info")]
    else:
        table = views.element_table(name, symbol)
        chosen = [m for m in split_list(model) if m in views.models(name)] or None
        refused_by = views.refused_frames(name, symbol)
        if table.empty and refused_by:
            errors: Any = alert(f"No model on {name!r} scored a {symbol} frame.", "info")
        elif table.empty and views.stale_predictions(name):
            errors = alert(f"The stored predictions on {name!r} do not match its frames ({', '.join(views.stale_predictions(name))}): "
                           "evaluate the models again on the Jobs page.", "warning")
        elif table.empty and views.unseen_frames(name, symbol):
            errors = alert(f"No model has seen the {symbol} frames of {name!r} yet (they were added after the models ran): "
                           "evaluate again on the Jobs page; only the new frames are computed.", "info")
        elif table.empty:
            errors = alert(f"No model predictions on {name!r} yet: submit an evaluation on the Jobs page.", "info")
        else:
            errors = html.Div([
                data_table(table, id=ids.ELEMENT_TABLE, columns=TABLE_HEADERS),
                html.Button("Download table (CSV)", id=ids.ELEMENT_CSV_BUTTON, className="button"),
                dcc.Download(id=ids.ELEMENT_CSV_DOWNLOAD),
            ])
        note = views.sampler_note(name)
        refused = [alert(f"{model} refused {info['count']} {symbol} frame(s), left out of its errors here. "
                         f"The model said: {info['error']}", "info")
                   for model, info in refused_by.items()]
        refused += [alert(f"{model} has not seen {count} {symbol} frame(s) added or changed since it ran: left out of its errors "
                          "until it is evaluated again.", "info")
                    for model, count in views.unseen_frames(name, symbol).items()]
        body = [html.P(f"Data set: {name}", className="hint"), *([alert(note, "warning")] if note else []),
                *refused, html.H3("Errors per model and temperature"), errors, *fitted_section(name, symbol, present)]
        energy_fig = parity_plot(views.parity_data(name, symbol, quantity="energy", models_=chosen), quantity="energy",
                                 title=f"{symbol}: energy per atom (per-element shift applied to universal models)")
        force_fig = parity_plot(views.parity_data(name, symbol, quantity="force", models_=chosen), quantity="force",
                                title=f"{symbol}: force components")
    no_parity = f"No parity data for {symbol} in this data set."
    parity = html.Div(
        [
            dcc.Graph(id=ids.ELEMENT_ENERGY_PARITY, config=graph_config(f"{symbol}_{name}_energy-parity"),
                      figure=presentation_style(energy_fig or empty_figure(no_parity), present)),
            dcc.Graph(id=ids.ELEMENT_FORCE_PARITY, config=graph_config(f"{symbol}_{name}_force-parity"),
                      figure=presentation_style(force_fig or empty_figure(no_parity), present)),
        ],
        className="two-col",
    )
    # without data the parity graphs stay in the page (the export callback reads them) but hidden
    has_predictions = energy_fig is not None and not energy_fig.layout.meta.get("empty", False)
    temperature_fig = (element_temperature_figure(views.metrics_table(name), symbol, views.metric_column("force_rmse"),
                                                  views.metric_label("force_rmse")) if name is not None else empty_figure(no_parity))
    body += [html.Div([html.H3("Errors against temperature"),
                       dcc.Graph(id=ids.ELEMENT_TEMPERATURE, config=graph_config(f"{symbol}_{name}_errors-vs-temperature"),
                                 figure=presentation_style(temperature_fig, present))],
                      style=None if has_predictions else {"display": "none"})]
    body += [html.Div([html.H3("Parity"), parity], style=None if has_predictions else {"display": "none"})]
    if has_predictions and name is not None:
        frames = views.frame_table(name, symbol)
        body.append(html.Details([
            html.Summary(f"Per-frame errors ({len(frames)} frames): sort to find the frames a model gets most wrong"),
            data_table(frames, id=ids.ELEMENT_FRAME_TABLE, page_size=20, columns=FRAME_HEADERS),
        ]))
    return html.Div(
        [
            dcc.Location(id=ids.ELEMENT_URL, refresh=False),
            dcc.Store(id=ids.ELEMENT_CURVES_STORE, data={"symbol": symbol, "dataset": name, "present": present}),
            header,
            *([alert(borrowed, "info", id=ids.ELEMENT_BORROWED)] if borrowed else []),
            info,
            html.Details([html.Summary("Energy-volume curve"), eos_graph], open=False),
            *body,
            curves_panel(symbol, split_list(methods) or None, present=present),
            export_controls("element", [("Energy parity", ids.ELEMENT_ENERGY_PARITY), ("Force parity", ids.ELEMENT_FORCE_PARITY),
                                        ("Errors against temperature", ids.ELEMENT_TEMPERATURE),
                                        ("Energy-volume fit", ids.ELEMENT_EOS_CURVE),
                                        ("Eigenvalue sum vs displacement", ids.ELEMENT_DISPLACEMENT_CURVE),
                                        ("Eigenvalue sum vs Fermi shift", ids.ELEMENT_FERMI_CURVE)]),
        ],
        className="presentation" if present else None,
    )


@callback(
    Output(ids.ELEMENT_DISPLACEMENT_CURVE, "figure"),
    Output(ids.ELEMENT_FERMI_CURVE, "figure"),
    Output(ids.ELEMENT_URL, "search"),
    Input(ids.ELEMENT_METHODS, "value"),
    State(ids.ELEMENT_CURVES_STORE, "data"),
    State(ids.ELEMENT_URL, "search"),
    prevent_initial_call=True,
)
def toggle_methods(methods: list[str] | None, store: dict[str, Any], search: str | None) -> tuple[go.Figure, go.Figure, str]:
    """Show only the ticked smearing methods, and keep the choice in the URL."""
    disp, fermi = (presentation_style(f, bool(store.get("present"))) for f in curve_figures(store["symbol"], list(methods or [])))
    query = decode_query(search)
    query["methods"] = ",".join(methods or []) or "none"
    return disp, fermi, encode_query(query)


@callback(Output(ids.ELEMENT_CSV_DOWNLOAD, "data"), Input(ids.ELEMENT_CSV_BUTTON, "n_clicks"), State(ids.ELEMENT_CURVES_STORE, "data"),
          prevent_initial_call=True)
def download_csv(_n: int, store: dict[str, Any]) -> dict[str, Any]:
    """The element's errors per model and temperature, as CSV."""
    table = views.element_table(store["dataset"], store["symbol"])
    return dcc.send_data_frame(table.to_csv, f"{store['symbol']}_{store['dataset']}_errors.csv", index=False)


@callback(Output(export_id("element", "download"), "data"), Input(export_id("element", "button"), "n_clicks"),
          State(export_id("element", "figure"), "value"), State(export_id("element", "format"), "value"),
          State(export_id("element", "size"), "value"), State(export_id("element", "font"), "value"),
          *[State(gid, prop) for gid in EXPORT_GRAPHS for prop in ("figure", "config")],
          background=True, running=[(Output(export_id("element", "button"), "disabled"), True, False)], prevent_initial_call=True)
def export_figure(_n: int, graph_id: str, fmt: str, size: str, font: float | None, *figures_and_configs: Any) -> dict[str, Any]:
    """Render the chosen figure with kaleido (a background job) and send the file."""
    pairs = list(zip(figures_and_configs[::2], figures_and_configs[1::2]))
    return export_download(graph_id, dict(zip(EXPORT_GRAPHS, pairs)), fmt=fmt, size=size, font_size=font, fallback="element")
