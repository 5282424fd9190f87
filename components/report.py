"""A self-contained HTML report: the artefact one e-mails to a collaborator.

``python -m analysis report --out report.html [--dataset NAME]`` (and the button on the map page)
writes one HTML file holding plotly.js inline and every figure as data, so it opens offline with
no server: the periodic-table maps of every model, the distributions with mean and standard
deviation, a section per element with its error table, parity plots and eigenvalue-sum curves,
and the data provenance and settings.

This module lives in ``components/`` because it draws figures (``analysis`` never imports
Plotly); the command line reaches it through ``analysis.cli``'s lazy command table.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from analysis import views
from analysis.core import elements as el_table
from analysis.metrics.tables import POOLED
from components.distributions import error_histogram, model_scatter
from components.numbers import format_number
from components.ptable import ptable_heatmap_grid

REPORT_METRICS: tuple[str, ...] = ("energy_rmse", "force_rmse")
_CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{border-bottom:3px solid #0072B2}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:13px}
nav a{margin-right:.6em}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:12px}
"""


def _figure_div(fig: go.Figure, div_id: str) -> str:
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _table_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, formatters={c: format_number for c in frame.columns if pd.api.types.is_float_dtype(frame[c])},
                         border=0, escape=True, na_rep="n/a")


def _parity_section(body: list[str], add: Callable[[go.Figure], None], name: str, max_points: int) -> None:
    """Energy and force parity of every element with predictions, six elements a figure."""
    from components.curves import six_element_groups
    from components.parity import parity_small_multiples

    elements = [e for e in views.elements_with_data(name) if len(views.element_table(name, e))]
    body.append("<h2 id='parity'>Parity, element by element</h2>")
    if not elements or not views.models(name):
        body.append("<p>No model predictions to compare with the reference yet.</p>")
        return
    body.append("<p class='note'>Predicted against reference per-atom energies (eV/atom, after the per-element shift for "
                f"universal models) and force components (eV/Å); the dotted line is y = x; at most {max_points} points a panel "
                "(a uniform subsample with a fixed seed, split evenly over the models). Each element's table above gives the errors "
                "over every frame.</p>")
    for i, group in enumerate(six_element_groups(elements)):
        series = {e: {q: views.parity_data(name, e, quantity=q, max_points=max_points) for q in ("energy", "force")} for e in group}
        add(parity_small_multiples(series, group, title=f"Parity {i + 1}: {', '.join(group)}"))


def _curves_section(body: list[str], add: Callable[[go.Figure], None]) -> None:
    """The eigenvalue-sum curves of every element as small multiples, six elements a figure (SI Figs S3-S18).

    One figure per six elements instead of two full-width plots per element keeps the report
    small and quick to draw (43 elements: 8 figures, not 86).
    """
    from components.curves import CAPTION, curves_from_electronic, curves_small_multiples, six_element_groups

    elements = views.elements_with_curves()
    body.append("<h2 id='curves'>Eigenvalue-sum curves</h2>")
    if not elements:
        body.append("<p>No element has eigenvalue-sum curves yet.</p>")
        return
    body.append(f"<p class='note'>{html.escape(CAPTION)} Computed at the frames' reference state.</p>")
    for i, group in enumerate(six_element_groups(elements)):
        panels = {e: curves_from_electronic(views.load_curves(e)) for e in group}
        add(curves_small_multiples(panels, group, title=f"Figure {i + 1}: {', '.join(group)}"))


#: the correlation table's columns in the report (adjusted p-values beside the raw rank statistics)
REPORT_CORRELATION_COLUMNS: dict[str, str] = {
    "descriptor": "descriptor", "model": "model", "n": "elements", "spearman_r": "Spearman ρ",
    "spearman_p_bh": "p (BH)", "spearman_p_holm": "p (Holm)", "partial_spearman_r": "partial ρ (T fixed)",
    "partial_spearman_ci_low": "partial ρ CI low", "partial_spearman_ci_high": "partial ρ CI high",
    "partial_spearman_p_bh": "partial p (BH)", "partial_spearman_p_holm": "partial p (Holm)",
}


def _correlation_section(name: str) -> list[str]:
    """The descriptors-vs-errors statistics (force RMSE): coverage, caveats, and the adjusted p-values."""
    from components.distributions import descriptor_name

    out = ["<h2 id='descriptors'>Electronic descriptors and the errors</h2>"]
    if views.descriptor_table().empty:
        return out + ["<p>No element has eigenvalue-sum curves at the frames' reference state yet.</p>"]
    done, off = views.descriptor_coverage()
    out.append(f"<p class='note'>Descriptors of {len(done)} elements computed at the frames' reference state"
               + (f"; {len(off)} ({html.escape(', '.join(off))}) await their recomputation and are left out." if off else ".")
               + "</p>")
    out.extend(f"<p class='note caveat'>{html.escape(c)}</p>" for c in views.correlation_caveats(name))
    corr = views.correlation_table(name, metric="force_rmse")
    if corr.empty:
        return out + ["<p>No model predictions to correlate with yet.</p>"]
    cols = [c for c in REPORT_CORRELATION_COLUMNS if c in corr.columns]
    table = corr[cols].assign(descriptor=lambda f: f["descriptor"].map(descriptor_name)).rename(columns=REPORT_CORRELATION_COLUMNS)
    out.append("<p>Force RMSE per element against each descriptor: Spearman's ρ, the partial ρ with the sampling "
               "temperature held fixed (95 % bootstrap interval), and p-values adjusted across every row "
               "(BH: false discovery rate; Holm: family-wise error).</p>")
    return out + [_table_html(table)]


def _fitted_section(name: str, add: Callable[[go.Figure], None]) -> list[str]:
    """Models fitted per element against the universal ones (same held-out frames), when there are any."""
    from components.fitting import fitted_vs_universal_figure

    table = views.fitted_vs_universal(name, "force_rmse")
    if table.empty:
        return []
    out = ["<h2 id='fitted'>Fitted per element against universal</h2>",
           "<p>Spearman's ρ over elements between each fitted model's force RMSE and each universal model's, both on the "
           "fitted model's held-out test frames (p undefined below 4 elements).</p>", _table_html(table)]
    best = table.sort_values(["n_elements", "fitted", "universal"], ascending=[False, True, True]).iloc[0]
    pairs = views.paired_errors(name, best["fitted"], best["universal"], "force_rmse")
    add(fitted_vs_universal_figure(pairs, fitted=views.model_label(name, best["fitted"]), universal=best["universal"],
                                   metric_label=views.metric_label("force_rmse"), rho=float(best["spearman"])))
    return out


def report_notes(name: str) -> list[str]:
    """The caveats the dashboard shows beside this data set's numbers, for the report's readers too."""
    return [caveat.text for caveat in views.caveats(name)]


def build_report(dataset: str | None = None, *, max_parity_points: int = 150) -> str:
    """The report's HTML text for ``dataset`` (default: the default data set).

    Raises:
        KeyError: no such data set.
    """
    if dataset is not None:
        from analysis.datasets.store import find_dataset

        find_dataset(dataset)  # KeyError naming what exists
    name = views.resolve_dataset(dataset)
    if name is None:
        raise KeyError(f"no data set named {dataset!r}" if dataset else "no data set is present")
    summary = views.summary(name)
    models = views.models(name)
    body: list[str] = []
    fig_count = 0

    def add(fig: go.Figure) -> None:
        nonlocal fig_count
        fig_count += 1
        body.append(_figure_div(fig, f"fig-{fig_count}"))

    body.append(f"<h1>MLFF Error Atlas report: {html.escape(name)}</h1>")
    body.append(
        f"<p class='note'>Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"{summary.n_frames} reference frames, {len(summary.elements)} elements, models: "
        f"{html.escape(', '.join(models) or 'none yet')}. Energies per atom in meV/atom, forces per Cartesian "
        "component in meV/Å; universal models scored after the per-element constant energy shift (SI section 3).</p>"
    )
    for note in report_notes(name):
        body.append(f"<p class='note caveat'>{html.escape(note)}</p>")
    body.append("<nav>" + " ".join(f"<a href='#el-{e}'>{e}</a>" for e in views.elements_with_data(name)) + "</nav>")
    body.append("<h2 id='maps'>Periodic-table error maps</h2>")
    if not models:
        body.append("<p>No model predictions are stored for this data set yet, so there are no errors to map.</p>")
    for metric in REPORT_METRICS:
        label = views.metric_label(metric)
        values = {m: views.element_values(name, model=m, metric=metric, temperature=POOLED) for m in models}
        if values:
            add(ptable_heatmap_grid(values, label=label, title=f"{label}, all temperatures pooled"))
    body.append("<h2 id='distributions'>Distributions across elements</h2>")
    for metric in REPORT_METRICS:
        label = views.metric_label(metric)
        errors = views.per_element_errors(name, metric=metric)
        if errors.empty:
            continue
        add(error_histogram(errors, label=label, mode="side", title=f"{label}: per-element distribution, mean ± std"))
        if errors.shape[1] >= 2:
            add(model_scatter(errors, errors.columns[0], errors.columns[1], label=label))
        stats = pd.DataFrame({"model": errors.columns, "mean": errors.mean().to_numpy(), "std": errors.std(ddof=1).to_numpy(),
                              "n elements": errors.count().to_numpy()})
        body.append(f"<p>{html.escape(label)} across elements:</p>" + _table_html(stats))
    body.extend(_correlation_section(name))
    fitted = _fitted_section(name, add)
    if fitted:  # the figure was appended before its heading: put the heading and table first
        figure = body.pop()
        body.extend([*fitted, figure])
    body.append("<h2 id='elements'>Elements</h2>")
    for element in views.elements_with_data(name):
        body.append(f"<h3 id='el-{element}'>{element}</h3>")
        if el_table.is_metal43(element):
            row = el_table.row(element)
            temps = ", ".join(f"{t:g} K" for t in row.temperatures)
            body.append(f"<p class='note'>Metal-43: {row.mp_id or 'no mp-id'}, {row.space_group}, AIMD temperatures {temps}, POTCAR {row.potcar}.</p>")
        table = views.element_table(name, element)
        if len(table):
            body.append(_table_html(table))
        rows = views.computed_as(element, views.load_curves(element))
        if rows:
            body.append("<p class='note'>Eigenvalue-sum curves computed on (drawn with the others under "
                        "<a href='#curves'>Eigenvalue-sum curves</a>):</p>"
                        + _table_html(pd.DataFrame(rows, columns=["quantity", "value"])))
    _parity_section(body, add, name, max_parity_points)
    _curves_section(body, add)
    body.append("<h2 id='provenance'>Data provenance and settings</h2>")
    body.append("<pre>" + html.escape(json.dumps(summary.provenance, indent=2, sort_keys=True, default=str)) + "</pre>")
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>MLFF Error Atlas: {html.escape(name)}</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
    )
    return head + "\n".join(body) + f"<!-- figures: {fig_count} --></body></html>"


def write_report(out: Path, dataset: str | None = None) -> Path:
    """Write the report atomically to ``out`` and return the path."""
    from analysis.datasets.store import atomic_write_bytes

    atomic_write_bytes(out, build_report(dataset).encode("utf-8"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(out, 0o666 & ~umask)  # a temporary file is 0600; a report is meant to be shared (0644 under umask 022)
    return out


def main(argv: list[str]) -> int:
    """``python -m analysis report --out report.html [--dataset NAME]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis report", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=Path("report.html"))
    parser.add_argument("--dataset", help="data set (default: the embedded default)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.out, args.dataset)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


