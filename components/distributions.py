"""Distributions of per-element errors across models (Supplementary Figure 2 c,d) and model-vs-model scatter."""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.stats import spearmanr

from components.numbers import ERROR_AXIS, format_number
from components.theme import apply_theme, color, empty_figure

#: scatter points get element labels up to this many elements (more overlap; hover still names them)
LABEL_LIMIT = 25


def _finite(series: pd.Series) -> pd.Series:
    return series[np.isfinite(series.to_numpy(dtype=np.float64))]


def error_histogram(
    errors: pd.DataFrame,
    *,
    label: str,
    mode: Literal["overlay", "side"] = "overlay",
    bins: int = 20,
    log_x: bool = False,
    title: str | None = None,
) -> go.Figure:
    """Histograms of per-element errors, one per model, with mean and standard deviation marked.

    Args:
        errors: element x model matrix (rows: elements, columns: models), as from
            :func:`analysis.views.per_element_errors`.
        label: x-axis label with units, e.g. 'Force RMSE (meV/Å)'.
        mode: 'overlay' (one axis, translucent bars) or 'side' (one panel per model, shared x).
        bins: number of bins over the common range.
        log_x: bin log10 of the errors (errors across the periodic table span decades); the
            axis is labelled in the errors' own units, and the mean ± std (always of the errors
            themselves) is drawn at its place on that axis (the band's lower end is clipped to
            the smallest error when mean - std <= 0).
        title: figure title.

    Returns:
        The figure; the mean and sample standard deviation (ddof=1) of each model appear as a
        dashed line, a shaded mean ± std band, and in the legend/panel title.
    """
    if mode not in ("overlay", "side"):
        raise ValueError(f"{mode=} must be 'overlay' or 'side'")
    if bins < 1:
        raise ValueError(f"{bins=} must be positive")
    columns = [c for c in errors.columns if len(_finite(errors[c]))]
    if errors.empty or not columns:
        return empty_figure("No per-element errors to show for this selection.", title=title)
    if log_x:
        columns = [c for c in columns if (_finite(errors[c]) > 0).any()]
        if not columns:
            return empty_figure("No positive errors to show on a log axis.", title=title)
    all_vals = np.concatenate([_finite(errors[c]).to_numpy() for c in columns])
    if log_x:
        all_vals = all_vals[all_vals > 0]
    floor = float(all_vals.min())
    tx = (lambda v: np.log10(np.maximum(v, floor))) if log_x else (lambda v: np.asarray(v, dtype=np.float64))  # noqa: E731
    lo, hi = float(tx(all_vals).min()), float(tx(all_vals).max())
    size = (hi - lo) / bins if hi > lo else 1.0
    stats = {c: (float(_finite(errors[c]).mean()), float(_finite(errors[c]).std(ddof=1)) if len(_finite(errors[c])) > 1 else 0.0) for c in columns}
    if mode == "side":
        fig = make_subplots(rows=len(columns), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                            subplot_titles=[f"{c}: mean {format_number(stats[c][0])} ± {format_number(stats[c][1])}" for c in columns])
    else:
        fig = go.Figure()
    for i, c in enumerate(columns):
        mean, std = stats[c]
        where = {"row": i + 1, "col": 1} if mode == "side" else {}
        values = _finite(errors[c])
        overlay = mode == "overlay"
        fig.add_trace(
            go.Histogram(
                x=tx(values.to_numpy()),
                xbins={"start": lo, "end": hi + size, "size": size},
                name=f"{c} (mean {format_number(mean)} ± {format_number(std)})",
                legendgroup=c,
                # overlaid: a faint fill under a solid outline, so overlapping bars keep their model's colour
                marker={"color": _rgba(color(i), 0.15 if overlay else 0.85), "line": {"color": color(i), "width": 2 if overlay else 0.5}},
                hoverinfo="skip",
            ),
            **where,
        )
        fig.add_trace(_bin_hover(values, tx, lo, size, bins, c, color(i), log_x), **where)
        band = tx(np.array([mean - std, mean + std]))
        fig.add_vrect(x0=float(band[0]), x1=float(band[1]), fillcolor=color(i), opacity=0.07 if mode == "overlay" else 0.12,
                      line_width=0, **where)
        fig.add_vline(x=float(tx(np.array([mean]))[0]), line={"color": color(i), "dash": "dash", "width": 2}, **where)
    apply_theme(fig)
    fig.update_layout(barmode="overlay", title=title, legend={"orientation": "h", "y": -0.2},
                      height=max(380, 220 * len(columns)) if mode == "side" else 420,
                      meta={"kind": "error_histogram", "stats": {c: {"mean": m, "std": s} for c, (m, s) in stats.items()}})
    fig.update_xaxes(title_text=label + (" (log scale)" if log_x else ""), row=len(columns) if mode == "side" else None,
                     col=1 if mode == "side" else None)
    if log_x:
        ticks = [d + np.log10(m) for d in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) for m in (1, 2, 5) if lo - 0.3 <= d + np.log10(m) <= hi + 0.3]
        fig.update_xaxes(tickvals=ticks, ticktext=[format_number(10 ** t) for t in ticks])
    else:
        fig.update_xaxes(**ERROR_AXIS)
    fig.update_yaxes(title_text="elements (count)")
    fig.update_layout(meta={**fig.layout.meta, "log_x": log_x})
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def _bin_hover(values: pd.Series, tx: Any, lo: float, size: float, bins: int, model: str, colour: str, log_x: bool) -> go.Bar:
    """Invisible bars over a histogram's bins whose hover lists the elements in each bin."""
    index = np.clip(np.floor((tx(values.to_numpy()) - lo) / size).astype(int), 0, bins)
    members: dict[int, list[str]] = {}
    for k, element in zip(index, values.index):
        members.setdefault(int(k), []).append(str(element))
    ks = sorted(members)
    left = [lo + k * size for k in ks]
    ranges = [f"{format_number(10 ** a if log_x else a)}–{format_number(10 ** (a + size) if log_x else a + size)}" for a in left]
    return go.Bar(x=[a + size / 2 for a in left], y=[len(members[k]) for k in ks], width=size, name=model, legendgroup=model,
                  showlegend=False, marker={"color": colour, "opacity": 0.0}, customdata=list(zip(ranges, [", ".join(members[k]) for k in ks])),
                  hovertemplate="%{customdata[0]}: %{y} element(s)<br>%{customdata[1]}<extra>" + model + "</extra>")


def model_scatter(
    errors: pd.DataFrame,
    x_model: str,
    y_model: str,
    *,
    label: str,
    log: bool = True,
    title: str | None = None,
    labels: bool | None = None,
) -> go.Figure:
    """Per-element errors of one model against another, with Spearman's rank correlation.

    Args:
        errors: element x model matrix (see :func:`error_histogram`).
        x_model, y_model: the two columns to compare.
        label: the metric with units, used on both axes.
        log: logarithmic axes (errors span decades across the periodic table).
        title: figure title (default: the rank correlation).
        labels: element symbols beside the points (default: when at most :data:`LABEL_LIMIT` elements).

    Returns:
        The figure, with ``layout.meta['spearman_rho']`` and ``['p_value']`` (None with fewer
        than three elements in common).
    """
    for m in (x_model, y_model):
        if m not in errors.columns:
            raise ValueError(f"model {m!r} not in the table (models: {', '.join(map(str, errors.columns))})")
    pair = errors[[x_model, y_model]].replace([np.inf, -np.inf], np.nan).dropna() if x_model != y_model else errors[[x_model]].dropna()
    if pair.empty:
        return empty_figure(f"No elements with errors of both {x_model} and {y_model}.", title=title)
    x = pair[x_model].to_numpy(dtype=np.float64) if x_model != y_model else pair[x_model].to_numpy(dtype=np.float64)
    y = pair[y_model].to_numpy(dtype=np.float64) if x_model != y_model else x
    if len(pair) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        res = spearmanr(x, y)
        rho, p = float(res.statistic), float(res.pvalue)
        rho_text = f"Spearman ρ = {rho:.2f} (p = {p:.2g}, {len(pair)} elements)"
    else:
        rho, p = None, None
        rho_text = f"Spearman ρ undefined ({len(pair)} elements)"
    fig = go.Figure(
        go.Scatter(
            x=x, y=y, mode="markers+text" if (labels if labels is not None else len(pair) <= LABEL_LIMIT) else "markers",
            text=pair.index.to_numpy(), textposition="top center", textfont={"size": 10},
            marker={"color": color(0), "size": 9}, name="elements",
            customdata=[[format_number(a), format_number(b)] for a, b in zip(x, y)],
            hovertemplate="%{text}<br>" + x_model + ": %{customdata[0]}<br>" + y_model + ": %{customdata[1]}<extra></extra>",
        )
    )
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": "#888888", "dash": "dot"}, name="y = x", hoverinfo="skip"))
    apply_theme(fig)
    axis_type = "log" if log and lo > 0 else "linear"
    minor = {"dtick": "D2"} if axis_type == "log" else {}  # 2 and 5 between decades, not every digit
    fig.update_xaxes(title_text=f"{x_model}: {label}", type=axis_type, **minor, **ERROR_AXIS)
    fig.update_yaxes(title_text=f"{y_model}: {label}", type=axis_type, **minor, **ERROR_AXIS)
    fig.update_layout(title=title or rho_text, height=460, showlegend=False,
                      meta={"kind": "model_scatter", "spearman_rho": rho, "p_value": p, "n": len(pair)})
    return fig


def descriptor_scatter(
    descriptor: pd.Series,
    errors: pd.DataFrame,
    *,
    descriptor_label: str,
    error_label: str,
    log_y: bool = True,
    title: str | None = None,
    labels: bool | None = None,
) -> go.Figure:
    """Per-element errors of each model against an electronic descriptor, with Spearman's rho per model.

    Args:
        descriptor: per-element descriptor values (index: element).
        errors: element x model matrix of one error metric.
        descriptor_label: x-axis label with units.
        error_label: y-axis label with units.
        log_y: logarithmic error axis.
        title: figure title.

    Returns:
        The figure; ``layout.meta['spearman']`` maps model -> rho (None when undefined).
    """
    common = descriptor.dropna().index.intersection(errors.index)
    if errors.empty or not len(common):
        return empty_figure("No elements with both a descriptor value and errors.", title=title)
    fig = go.Figure()
    rhos: dict[str, float | None] = {}
    x_all = descriptor.loc[common].astype(np.float64)
    for i, model in enumerate(errors.columns):
        y = errors.loc[common, model].astype(np.float64)
        ok = np.isfinite(x_all.to_numpy()) & np.isfinite(y.to_numpy())
        x, yv, els = x_all.to_numpy()[ok], y.to_numpy()[ok], common.to_numpy()[ok]
        rho = float(spearmanr(x, yv).statistic) if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(yv) > 0 else None
        rhos[str(model)] = rho
        fig.add_trace(go.Scatter(
            x=x, y=yv, mode="markers+text" if (labels if labels is not None else len(els) <= LABEL_LIMIT) else "markers", text=els,
            textposition="top center", textfont={"size": 10}, marker={"color": color(i), "size": 9},
            name=f"{model} (ρ = {rho:.2f})" if rho is not None else f"{model} (ρ undefined)",
            customdata=[[format_number(a), format_number(b)] for a, b in zip(x, yv)],
            hovertemplate="%{text}<br>%{customdata[0]}, %{customdata[1]}<extra>" + str(model) + "</extra>",
        ))
    apply_theme(fig)
    positive = all(errors.loc[common].to_numpy(dtype=np.float64)[np.isfinite(errors.loc[common].to_numpy(dtype=np.float64))] > 0)
    fig.update_xaxes(title_text=descriptor_label)
    log = log_y and positive
    fig.update_yaxes(title_text=error_label, type="log" if log else "linear", **({"dtick": "D2"} if log else {}), **ERROR_AXIS)
    fig.update_layout(title=title, height=440, legend={"orientation": "h", "y": -0.25},
                      meta={"kind": "descriptor_scatter", "spearman": rhos})
    return fig


#: headers of the correlation table (analysis.electronic.descriptors.correlate's columns)
CORRELATION_HEADERS: dict[str, str] = {
    "descriptor": "Descriptor", "model": "Model", "n": "Elements",
    "pearson_r": "Pearson r", "pearson_p": "Pearson p", "pearson_ci_low": "Pearson r, 95% CI low", "pearson_ci_high": "Pearson r, 95% CI high",
    "spearman_r": "Spearman ρ", "spearman_p": "Spearman p", "spearman_ci_low": "Spearman ρ, 95% CI low", "spearman_ci_high": "Spearman ρ, 95% CI high",
    "pearson_p_holm": "Pearson p (Holm)", "pearson_p_bh": "Pearson p (BH)",
    "spearman_p_holm": "Spearman p (Holm)", "spearman_p_bh": "Spearman p (BH)",
    "partial_spearman_r": "partial ρ (T fixed)", "partial_spearman_p": "partial p",
    "partial_spearman_ci_low": "partial ρ, 95% CI low", "partial_spearman_ci_high": "partial ρ, 95% CI high",
    "partial_spearman_p_holm": "partial p (Holm)", "partial_spearman_p_bh": "partial p (BH)",
}
#: readable names of the descriptors whose column names do not read well word by word
_DESCRIPTOR_NAMES: dict[str, str] = {
    "dos_ef_tetra_per_atom": "DOS at E_F, tetrahedron (states/eV/atom)",
    "dos_ef_gauss_per_atom": "DOS at E_F, Gaussian (states/eV/atom)",
    "dband_dmu_per_atom": "Band-sum response to E_F (electrons/atom)",
    "fermi_shift_roughness_mev": "Fermi-shift roughness (meV/atom)",
    "method_spread_mev": "Smearing-method spread (meV)",
}
_UNIT_SUFFIXES = {"_ev_per_a2": " (eV/Å²)", "_ev_per_a": " (eV/Å)", "_mev": " (meV)", "_ev": " (eV)"}


def descriptor_name(column: str) -> str:
    """A readable name of a descriptor column: 'disp_roughness_mev' -> 'Displacement roughness (meV)'."""
    if column in _DESCRIPTOR_NAMES:
        return _DESCRIPTOR_NAMES[column]
    unit = ""
    for suffix, text in _UNIT_SUFFIXES.items():
        if column.endswith(suffix):
            column, unit = column[: -len(suffix)], text
            break
    words = column.replace("disp_", "displacement_").replace("_", " ").strip()
    return (words[:1].upper() + words[1:] + unit) if words else column
