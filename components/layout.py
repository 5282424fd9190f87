"""Layout builders (html/dcc trees) shared by the pages: navbar, alerts, tables, cards, URL state."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import pandas as pd
from dash import dcc, html
from dash.dash_table.DataTable import DataTable  # the class itself: dash.dash_table's __init__ is untyped

from components import ids
from components.numbers import format_number

NAV_PAGES: tuple[tuple[str, str], ...] = (
    ("/", "Error map"),
    ("/findings", "Findings"),
    ("/distributions", "Distributions"),
    ("/curves", "Curves"),
    ("/jobs", "Jobs"),
    ("/data", "Data"),
)
AlertKind = Literal["info", "warning", "error", "success"]
#: metric choices offered on the pages (values are analysis.views.METRICS keys)
METRIC_OPTIONS: list[dict[str, str]] = [
    {"label": "Force RMSE (meV/Å)", "value": "force_rmse"},
    {"label": "Force MAE (meV/Å)", "value": "force_mae"},
    {"label": "Energy RMSE (meV/atom)", "value": "energy_rmse"},
    {"label": "Energy MAE (meV/atom)", "value": "energy_mae"},
]


def navbar() -> html.Nav:
    """The top navigation bar with links to every page."""
    return html.Nav(
        [
            html.Span("MLFF Error Atlas", className="brand"),
            html.Div(
                [dcc.Link(label, href=href, className="nav-link", id=f"{ids.NAV}-{label.lower().replace(' ', '-')}") for href, label in NAV_PAGES],
                id=ids.NAV_LINKS,
                className="nav-links",
            ),
        ],
        id=ids.NAV,
        className="navbar",
    )


def alert(message: Any, kind: AlertKind = "info", *, id: str | None = None) -> html.Div:
    """A coloured message box (role=alert for errors, so screen readers announce it)."""
    props: dict[str, Any] = {"className": f"alert alert-{kind}", "role": "alert" if kind == "error" else "status"}
    if id:
        props["id"] = id
    return html.Div(message, **props)


def caveat_strip(caveats: Sequence[tuple[AlertKind, str]], *, id: str | None = None) -> html.Details | None:
    """One strip for all of a view's caveats: the most serious one in the summary line with the count
    of the others, every caveat in the list it opens; None when there is none."""
    if not caveats:
        return None
    order = {"error": 0, "warning": 1, "info": 2, "success": 3}
    ranked = sorted(caveats, key=lambda c: order.get(c[0], 9))
    kind, first = ranked[0]
    more = f" (and {len(ranked) - 1} more caveat{'s' if len(ranked) > 2 else ''})" if len(ranked) > 1 else ""
    props: dict[str, Any] = {"className": f"alert alert-{kind} caveats", "role": "status"}
    if id:
        props["id"] = id
    return html.Details([html.Summary(first + more), html.Ul([html.Li(text, className=f"caveat-{k}") for k, text in ranked])], **props)


def no_data_message() -> html.Div:
    """What every page shows while no data set exists (never invented numbers)."""
    return alert(
        [
            html.Strong("No data yet. "),
            "The embedded default data set (metal43-gpaw) is still being computed and no data set "
            "has been imported. Import reference and prediction files on the ",
            dcc.Link("Data page", href="/data"),
            ", or run an evaluation on the ",
            dcc.Link("Jobs page", href="/jobs"),
            ".",
        ],
        "info",
    )


def _format_cell(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        text = format_number(value)  # the tiles' and hovers' rounding; numeric, so the column still sorts
        return float(text) if "×" not in text else float(f"{value:.3g}")
    return value


def data_table(frame: pd.DataFrame, *, id: str, page_size: int = 50, columns: Mapping[str, str] | None = None) -> DataTable:
    """A sortable, filterable table of ``frame`` (numbers as :func:`components.numbers.format_number` rounds them).

    Args:
        frame: the data.
        id: component id.
        page_size: rows per page.
        columns: column -> header text (with units); default: the column names.
    """
    names = columns or {c: c for c in frame.columns}
    records = [{k: _format_cell(v) for k, v in rec.items()} for rec in frame.to_dict("records")]
    return DataTable(
        id=id,
        columns=[{"name": names.get(c, c), "id": c, "type": "numeric" if pd.api.types.is_numeric_dtype(frame[c]) else "text"} for c in frame.columns],
        data=records,
        sort_action="native",
        filter_action="native",
        page_size=page_size,
        style_table={"overflowX": "auto"},
        style_cell={"fontFamily": "Arial, Helvetica, sans-serif", "fontSize": 13, "padding": "4px 8px"},
        style_header={"fontWeight": "bold", "backgroundColor": "#f2f2f2"},
    )


def labelled(label: str, control: Any, *, width: str | None = None) -> html.Div:
    """A control with its label above it."""
    return html.Div([html.Label(label, className="control-label"), control], className="control", style={"width": width} if width else None)


def key_value_card(title: str, items: Sequence[tuple[str, Any]], *, id: str | None = None) -> html.Div:
    """A small card of labelled values (e.g. the Metal-43 row of an element)."""
    body = html.Dl([part for k, v in items for part in (html.Dt(k), html.Dd("—" if v in (None, "") else v))], className="kv")
    props: dict[str, Any] = {"id": id} if id else {}
    return html.Div([html.H4(title), body], className="card", **props)


# --------------------------------------------------------------------------- URL state
def decode_query(search: str | None) -> dict[str, str]:
    """'?a=1&b=x' -> {'a': '1', 'b': 'x'} (empty values dropped)."""
    return {k: v for k, v in parse_qsl((search or "").lstrip("?"), keep_blank_values=False)}


def encode_query(params: Mapping[str, Any]) -> str:
    """{'a': 1, 'b': ['x', 'y'], 'c': None} -> '?a=1&b=x%2Cy' (None and empty values dropped)."""
    clean: dict[str, str] = {}
    for k, v in params.items():
        if v is None or v == "" or v == []:
            continue
        clean[k] = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return "?" + urlencode(clean) if clean else ""


def split_list(value: str | Sequence[str] | None) -> list[str]:
    """'a,b' or ['a', 'b'] -> ['a', 'b']; None -> []."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return [str(v) for v in value if v]
