"""Periodic-table heat maps of per-element errors.

Built here on a plain ``go.Heatmap`` over the (row, group) grid of
:func:`analysis.core.elements.ptable_position` instead of pymatviz: pymatviz 0.18's
``ptable_heatmap`` needs ``plotly.figure_factory.create_annotated_heatmap``, which plotly 7
removed, so using it would pin plotly < 7 for good; drawing the grid ourselves (about 150 lines)
removes that dependency, works for any element (f-block rows appear when data needs them), and
gives what pymatviz does not: split tiles for up to four models in one table (as in Matbench
Discovery) and the 2x2 "all models" grid of Supplementary Figure 1 with one shared colour bar.

Tiles of elements without data are drawn grey, not hidden. Each tile carries in ``customdata``
its hover text and its symbol (``customdata[1]``), so a click handler can open the element page.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.core.elements import all_symbols, ptable_position
from components.numbers import ERROR_AXIS, format_number
from components.theme import HEATMAP_COLORSCALE, MISSING_COLOR, MISSING_TEXT_COLOR, apply_theme, empty_figure

MAX_SPLIT_MODELS = 4
# sub-tiles (dx, dy) of each model when n models share a tile (k=2 sub-grid; dy=0 is the top)
_SPLITS: dict[int, list[list[tuple[int, int]]]] = {
    2: [[(0, 0), (0, 1)], [(1, 0), (1, 1)]],
    3: [[(0, 0)], [(1, 0)], [(0, 1), (1, 1)]],
    4: [[(0, 0)], [(1, 0)], [(0, 1)], [(1, 1)]],
}
_SPLIT_NAMES: dict[int, list[str]] = {
    2: ["left", "right"],
    3: ["top left", "top right", "bottom"],
    4: ["top left", "top right", "bottom left", "bottom right"],
}


def _as_frame(values: pd.DataFrame | pd.Series | Mapping[str, float]) -> pd.DataFrame:
    """Normalise the accepted inputs to a DataFrame indexed by symbol with a 'value' column."""
    if isinstance(values, pd.DataFrame):
        if "value" not in values.columns:
            raise ValueError(f"values needs a 'value' column, got {list(values.columns)}")
        frame = values.copy()
    else:
        frame = pd.DataFrame({"value": pd.Series(values, dtype=np.float64)})
    for symbol in frame.index:
        ptable_position(str(symbol))  # ValueError naming an unknown symbol
    frame["value"] = frame["value"].astype(np.float64)
    return frame


def symbol_at(row: int, group: int) -> str | None:
    """The element drawn at periodic-table (row, group), or None for an empty cell."""
    for symbol in all_symbols(118):
        if ptable_position(symbol) == (row, group):
            return symbol
    return None


def symbol_from_click(click: Mapping[str, Any] | None) -> str | None:
    """The element of a click on a periodic-table figure (a ``dcc.Graph`` clickData), or None.

    Dash drops heat-map ``customdata`` from click data (heat-map point numbers are (row, column)
    pairs), so the tile is found from the clicked coordinates instead: tile centres sit at
    integer (group, row).
    """
    for point in (click or {}).get("points", []):
        x, y = point.get("x"), point.get("y")
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            symbol = symbol_at(int(round(y)), int(round(x)))
            if symbol:
                return symbol
    return None


def _symbols_to_draw(frames: Sequence[pd.DataFrame]) -> list[str]:
    """Elements H-Rn without the f-block always (the table stays recognisable), plus any data element."""
    symbols = [s for z, s in enumerate(all_symbols(86), start=1) if not 57 <= z <= 71]
    extra = sorted({str(s) for f in frames for s in f.index} - set(symbols), key=lambda s: ptable_position(s))
    return symbols + extra


def _hover(symbol: str, model: str | None, row: pd.Series | None, label: str, missing_note: str | None = None) -> str:
    head = f"<b>{symbol}</b>" + (f" ({model})" if model else "")
    if row is None or not np.isfinite(row["value"]):
        note = row.get("note") if row is not None else None
        return f"{head}<br>{missing_note or (note if isinstance(note, str) and note else 'no data')}"
    lines = [head, f"{label}: {format_number(row['value'])}"]
    if "n_train" in row.index and np.isfinite(row["n_train"]) and row["n_train"] > 0:
        lines.append(f"fitted per element on {int(row['n_train'])} training frames; "
                     f"errors on {int(row['n_frames'])} held-out test frames")
    elif "n_frames" in row.index:
        unscored = int(row["n_frames_unscored"]) if "n_frames_unscored" in row.index and np.isfinite(row["n_frames_unscored"]) else 0
        lines.append(f"frames: {int(row['n_frames'])}" + (f" ({unscored} not scored by this model)" if unscored else ""))
    if "temperatures" in row.index and row["temperatures"]:
        lines.append(f"temperatures (K): {row['temperatures']}")
    if "per_model" in row.index and isinstance(row["per_model"], dict) and row["per_model"]:
        lines.append(f"mean of {len(row['per_model'])} models, spread {format_number(row.get('spread'))}:")
        lines.extend(f"  {m}: {format_number(v)}" for m, v in row["per_model"].items())
    return "<br>".join(lines)


def _color_range(frames: Sequence[pd.DataFrame], *, log: bool, cmin: float | None, cmax: float | None) -> tuple[float, float]:
    vals = np.concatenate([f["value"].to_numpy() for f in frames]) if frames else np.array([])
    vals = vals[np.isfinite(vals)]
    if log:
        vals = vals[vals > 0]
    lo = cmin if cmin is not None else (float(vals.min()) if len(vals) else 0.0)
    hi = cmax if cmax is not None else (float(vals.max()) if len(vals) else 1.0)
    if log:
        if lo <= 0 or hi <= 0:
            raise ValueError(f"a log colour scale needs positive limits, got {lo=}, {hi=}")
        lo, hi = math.log10(lo), math.log10(hi)
    if hi <= lo:  # one value (or equal limits): centre it, so the scale includes it
        half = abs(lo) * 0.05 or 0.5
        lo, hi = lo - half, hi + half
    return lo, hi


def tile_number(value: float) -> str:
    """The tile text of ``value``: :func:`components.numbers.format_number`, as in the hover (1065 -> '1065')."""
    return format_number(value)


def _log_colorbar(lo: float, hi: float) -> dict[str, Any]:
    """Tick values (log10 space) and texts (real values) for a log colour bar."""
    ticks = []
    for decade in range(math.floor(lo), math.ceil(hi) + 1):
        for m in (1, 2, 5):
            t = decade + math.log10(m)
            if lo - 1e-9 <= t <= hi + 1e-9:
                ticks.append(t)
    if len(ticks) < 2:
        ticks = list(np.linspace(lo, hi, 4))
    return {"tickvals": ticks, "ticktext": [format_number(10**t) for t in ticks]}


def _tile_traces(
    frames: Sequence[pd.DataFrame],
    model_names: Sequence[str | None],
    *,
    label: str,
    log: bool,
    zrange: tuple[float, float],
    coloraxis: str | None,
    show_values: bool = True,
    diverging: bool = False,
    missing_notes: Mapping[str, str] | None = None,
) -> list[go.BaseTraceType]:
    """Heatmap traces (data tiles, grey tiles) and a text trace for one periodic table."""
    n = len(frames)
    k = 1 if n == 1 else 2
    splits = [[(0, 0), (1, 0), (0, 1), (1, 1)]] if n == 1 else _SPLITS[n]
    symbols = _symbols_to_draw(frames)
    positions = {s: ptable_position(s) for s in symbols}
    n_rows = max(r for r, _ in positions.values())
    shape = (n_rows * k, 18 * k)
    z = np.full(shape, np.nan)
    z_missing = np.full(shape, np.nan)
    custom = np.full(shape + (2,), "", dtype=object)
    custom_missing = np.full(shape + (2,), "", dtype=object)
    text_x, text_y, text, text_color = [], [], [], []
    lo, hi = zrange
    for symbol, (row, group) in positions.items():
        tile_has_data = False
        tile_value = math.nan
        for m, (frame, model) in enumerate(zip(frames, model_names)):
            rec = frame.loc[symbol] if symbol in frame.index else None
            value = float(rec["value"]) if rec is not None else math.nan
            if log and value <= 0:
                value = math.nan
            hover = _hover(symbol, model, rec, label, (missing_notes or {}).get(symbol))
            for dx, dy in splits[m]:
                cell = ((row - 1) * k + (dy if k == 2 else 0), (group - 1) * k + (dx if k == 2 else 0))
                if np.isfinite(value):
                    z[cell] = math.log10(value) if log else value
                    custom[cell] = (hover, symbol)
                else:
                    z_missing[cell] = 0.0
                    custom_missing[cell] = (hover, symbol)
                if k == 1:
                    break
            if np.isfinite(value):
                tile_has_data = True
                tile_value = value if m == 0 else tile_value
        text_x.append(group)
        text_y.append(row)
        text.append(f"<b>{symbol}</b><br>{tile_number(tile_value)}" if tile_has_data and n == 1 and show_values else f"<b>{symbol}</b>")
        if not tile_has_data:
            text_color.append(MISSING_TEXT_COLOR)
        elif n > 1:
            text_color.append("#ffffff")
        else:  # readable on the tile: white on dark colours, black on light ones
            norm = ((math.log10(tile_value) if log else tile_value) - lo) / (hi - lo)
            dark = abs(norm - 0.5) > 0.3 if diverging else norm < 0.55
            text_color.append("#ffffff" if dark else "#000000")
    centers_x = [(c + 0.5) / k + 0.5 for c in range(18 * k)]
    centers_y = [(r + 0.5) / k + 0.5 for r in range(n_rows * k)]
    gap = 2 if k == 1 else 0  # split tiles get white outlines instead
    colorbar = {"title": {"text": label, "side": "right"}, **ERROR_AXIS}
    if log:
        colorbar.update(_log_colorbar(lo, hi))
    data = go.Heatmap(
        x=centers_x,
        y=centers_y,
        z=z,
        customdata=custom,
        hovertemplate="%{customdata[0]}<extra></extra>",
        hoverongaps=False,
        xgap=gap,
        ygap=gap,
        colorscale=HEATMAP_COLORSCALE,
        zmin=lo,
        zmax=hi,
        colorbar=colorbar,
        name="values",
    )
    if coloraxis:
        data.update(coloraxis=coloraxis, colorscale=None, zmin=None, zmax=None, colorbar=None)
    missing = go.Heatmap(
        x=centers_x,
        y=centers_y,
        z=z_missing,
        customdata=custom_missing,
        hovertemplate="%{customdata[0]}<extra></extra>",
        hoverongaps=False,
        xgap=gap,
        ygap=gap,
        colorscale=[[0.0, MISSING_COLOR], [1.0, MISSING_COLOR]],
        showscale=False,
        name="no data",
    )
    labels = go.Scatter(
        x=text_x,
        y=text_y,
        text=text,
        mode="text",
        textfont={"color": text_color, "size": 11 if n == 1 else 12},
        hoverinfo="skip",
        showlegend=False,
        name="symbols",
    )
    return [missing, data, labels]


def _style_axes(fig: go.Figure, n_rows: int, **axis: Any) -> None:
    fig.update_xaxes(range=[0.5, 18.5], visible=False, constrain="domain", **axis)
    fig.update_yaxes(range=[n_rows + 0.5, 0.5], visible=False, scaleanchor="x", scaleratio=1, **axis)


def _n_rows(frames: Sequence[pd.DataFrame]) -> int:
    return max(ptable_position(s)[0] for s in _symbols_to_draw(frames))


def ptable_heatmap(
    values: pd.DataFrame | pd.Series | Mapping[str, float] | Mapping[str, pd.DataFrame],
    *,
    label: str,
    log: bool = False,
    cmin: float | None = None,
    cmax: float | None = None,
    title: str | None = None,
    show_values: bool = True,
    missing_notes: Mapping[str, str] | None = None,
) -> go.Figure:
    """Periodic-table heat map of one value per element, or split tiles for up to four models.

    Args:
        values: one model's values (DataFrame indexed by symbol with a ``value`` column and
            optional ``n_frames`` and ``temperatures`` columns, a Series, or a dict symbol ->
            value), or a dict model name -> such a DataFrame for split tiles (2-4 models).
        label: colour-bar title with units, e.g. 'Force RMSE (meV/Å)'.
        log: logarithmic colour scale (values <= 0 are shown as missing).
        cmin, cmax: fixed colour-bar limits in the values' units (e.g. a fixed maximum so that
            maps of different models compare); default: the data range.
        title: figure title.
        show_values: print the value under each symbol (single model only).
        missing_notes: symbol -> what the hover of a grey tile says instead of 'no data'
            (e.g. 'not labelled yet' while a reference set is being built).

    Returns:
        The figure; an empty figure with a message when no element has a value.
    """
    if isinstance(values, Mapping) and values and all(isinstance(v, (pd.DataFrame, pd.Series)) for v in values.values()):
        model_names: list[str | None] = list(values)
        frames = [_as_frame(v) for v in values.values()]
        if len(frames) > MAX_SPLIT_MODELS:
            raise ValueError(f"split tiles show at most {MAX_SPLIT_MODELS} models, got {len(frames)}")
        if len(frames) == 1:
            model_names = [model_names[0]]
    else:
        frames = [_as_frame(values)]
        model_names = [None]
    if not any(np.isfinite(f["value"]).any() for f in frames):
        return empty_figure("No per-element values to show for this selection.", title=title)
    zrange = _color_range(frames, log=log, cmin=cmin, cmax=cmax)
    fig = go.Figure(_tile_traces(frames, model_names, label=label, log=log, zrange=zrange, coloraxis=None, show_values=show_values,
                                 missing_notes=missing_notes))
    n_rows = _n_rows(frames)
    _style_axes(fig, n_rows)
    apply_theme(fig)
    fig.update_layout(title=title, height=120 + 46 * n_rows, margin={"l": 10, "r": 10, "t": 60 if title else 20, "b": 10})
    if len(frames) > 1:
        legend = ", ".join(f"{where}: {name}" for where, name in zip(_SPLIT_NAMES[len(frames)], model_names))
        fig.add_annotation(text=f"Tiles split by model. {legend}", x=0.0, y=1.0, xref="paper", yref="paper",
                           xanchor="left", yanchor="bottom", showarrow=False, font={"size": 12})
        # white outlines separate whole tiles from sub-tiles (set at once: add_shape is slow)
        outline = {"type": "rect", "line": {"color": "white", "width": 3}, "fillcolor": "rgba(0,0,0,0)", "opacity": 1.0, "layer": "above"}
        fig.update_layout(shapes=[
            {**outline, "x0": g - 0.5, "x1": g + 0.5, "y0": r - 0.5, "y1": r + 0.5}
            for r, g in (ptable_position(s) for s in _symbols_to_draw(frames))
        ])
    fig.update_layout(meta={"kind": "ptable_heatmap", "models": [m for m in model_names if m], "log": log})
    return fig


def ptable_heatmap_grid(
    values_by_model: Mapping[str, pd.DataFrame | pd.Series],
    *,
    label: str,
    log: bool = False,
    cmin: float | None = None,
    cmax: float | None = None,
    title: str | None = None,
    cols: int = 2,
    missing_notes: Mapping[str, str] | None = None,
) -> go.Figure:
    """One periodic table per model on a grid (2x2 for four models, as in Supplementary Figure 1).

    All tables share one colour axis, so equal colours mean equal errors across models.

    Args:
        values_by_model: model name -> per-element values (see :func:`ptable_heatmap`).
        label: colour-bar title with units.
        log, cmin, cmax, title, missing_notes: as in :func:`ptable_heatmap`.
        cols: tables per row.
    """
    if cols < 1:
        raise ValueError(f"{cols=} must be at least 1")
    names = list(values_by_model)
    frames = [_as_frame(v) for v in values_by_model.values()]
    if not frames or not any(np.isfinite(f["value"]).any() for f in frames):
        return empty_figure("No per-element values to show for this selection.", title=title)
    n_plot_rows = math.ceil(len(frames) / cols)
    fig = make_subplots(rows=n_plot_rows, cols=cols, subplot_titles=names, horizontal_spacing=0.02, vertical_spacing=0.06)
    zrange = _color_range(frames, log=log, cmin=cmin, cmax=cmax)
    n_rows = _n_rows(frames)
    for i, frame in enumerate(frames):
        # values in the tiles where a tile holds four digits (two tables a row at screen width do; export presets re-check)
        for trace in _tile_traces([frame], [names[i]], label=label, log=log, zrange=zrange, coloraxis="coloraxis", show_values=cols <= 2,
                                  missing_notes=missing_notes):
            fig.add_trace(trace, row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(range=[0.5, 18.5], visible=False, constrain="domain")
    fig.update_yaxes(range=[n_rows + 0.5, 0.5], visible=False)
    for i in range(len(frames)):
        suffix = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{suffix}"].update(scaleanchor=f"x{suffix}", scaleratio=1)
    colorbar: dict[str, Any] = {"title": {"text": label, "side": "right"}, **ERROR_AXIS}
    if log:
        colorbar.update(_log_colorbar(*zrange))
    apply_theme(fig)
    fig.update_layout(
        coloraxis={"colorscale": HEATMAP_COLORSCALE, "cmin": zrange[0], "cmax": zrange[1], "colorbar": colorbar},
        title=title,
        height=80 + n_plot_rows * (30 + 36 * n_rows),
        margin={"l": 10, "r": 10, "t": 70 if title else 40, "b": 10},
        meta={"kind": "ptable_heatmap_grid", "models": names, "log": log},
    )
    return fig


DIFF_COLORSCALE = "RdBu_r"  # diverging, white at zero; red-blue stays distinguishable for common colour-vision deficiencies


def ptable_comparison(
    a: pd.DataFrame | pd.Series,
    b: pd.DataFrame | pd.Series,
    difference: pd.DataFrame | pd.Series,
    *,
    names: tuple[str, str],
    label: str,
    log: bool = False,
    cmax: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Two periodic tables side by side (shared colour bar) and their difference B - A below.

    Args:
        a, b: per-element values of the two selections (e.g. 300 K and 1.2 Tc, or two data sets).
        difference: per-element B - A (see :func:`analysis.views.difference`), drawn on a
            diverging colour scale symmetric about zero.
        names: titles of A and B.
        label: the metric with units.
        log, cmax, title: as in :func:`ptable_heatmap` (the difference is always linear).
    """
    frames = [_as_frame(a), _as_frame(b)]
    diff = _as_frame(difference)
    if not any(np.isfinite(f["value"]).any() for f in frames):
        return empty_figure("No per-element values to show for this comparison.", title=title)
    fig = make_subplots(rows=2, cols=2, specs=[[{}, {}], [{"colspan": 2}, None]], row_heights=[0.38, 0.62],
                        subplot_titles=[names[0], names[1], f"Difference: {names[1]} − {names[0]}"],
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    zrange = _color_range(frames, log=log, cmin=None, cmax=cmax)
    for i, frame in enumerate(frames):
        for trace in _tile_traces([frame], [names[i]], label=label, log=log, zrange=zrange, coloraxis="coloraxis", show_values=False):
            fig.add_trace(trace, row=1, col=i + 1)
    finite = diff["value"][np.isfinite(diff["value"])]
    span = float(finite.abs().max()) if len(finite) and finite.abs().max() > 0 else 1.0
    for trace in _tile_traces([diff], ["difference"], label=f"Δ {label}", log=False, zrange=(-span, span), coloraxis="coloraxis2",
                              show_values=True, diverging=True):
        fig.add_trace(trace, row=2, col=1)
    n_rows = _n_rows(frames + [diff])
    fig.update_xaxes(range=[0.5, 18.5], visible=False, constrain="domain")
    fig.update_yaxes(range=[n_rows + 0.5, 0.5], visible=False)
    for suffix in ("", "2", "3"):
        fig.layout[f"yaxis{suffix}"].update(scaleanchor=f"x{suffix}", scaleratio=1)
    colorbar: dict[str, Any] = {"title": {"text": label, "side": "right"}, "len": 0.38, "y": 0.81, **ERROR_AXIS}
    if log:
        colorbar.update(_log_colorbar(*zrange))
    apply_theme(fig)
    fig.update_layout(
        coloraxis={"colorscale": HEATMAP_COLORSCALE, "cmin": zrange[0], "cmax": zrange[1], "colorbar": colorbar},
        coloraxis2={"colorscale": DIFF_COLORSCALE, "cmin": -span, "cmax": span,
                    "colorbar": {"title": {"text": f"Δ {label}", "side": "right"}, "len": 0.55, "y": 0.3, **ERROR_AXIS}},
        title=title, height=60 + 2.6 * (30 + 36 * n_rows), margin={"l": 10, "r": 10, "t": 70 if title else 40, "b": 10},
        meta={"kind": "ptable_comparison", "names": list(names), "log": log},
    )
    return fig
