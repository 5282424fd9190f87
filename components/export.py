"""Figure export for presentations and papers: PNG, SVG or PDF at publication sizes, via kaleido.

The modebar camera of every graph already saves PNG/SVG in the browser with the selection in the
file name (:func:`components.theme.graph_config`); this server-side path adds PDF, the single- and
double-column sizes and a font size, and renders with kaleido (which drives the Debian Chromium).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import plotly.graph_objects as go
import plotly.io as pio
from dash import dcc, html

from components.layout import labelled
from components.theme import EXPORT_SIZES, safe_filename

EXPORT_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
ExportFormat = Literal["png", "svg", "pdf"]
SIZE_LABELS: dict[str, str] = {"single": "single column (8.5 cm)", "double": "double column (17.8 cm)", "slide": "16:9 slide",
                               "screen": "as on screen"}


def export_id(prefix: str, part: str) -> str:
    """Id of an export control: '<page prefix>-export-<part>' (format, size, font, figure, button, download)."""
    return f"{prefix}-export-{part}"


def export_controls(prefix: str, figures: Sequence[tuple[str, str]]) -> html.Details:
    """Export settings and button for a page.

    Args:
        prefix: the page's id prefix ('map', 'dist', 'element').
        figures: (label, graph id) of the page's figures; the first is selected.
    """
    return html.Details(
        [
            html.Summary("Export figure (PNG / SVG / PDF)"),
            html.Div(
                [
                    labelled("Figure", dcc.Dropdown(id=export_id(prefix, "figure"), options=[{"label": lab, "value": gid} for lab, gid in figures],
                                                    value=figures[0][1], clearable=False), width="16rem"),
                    labelled("Format", dcc.RadioItems(id=export_id(prefix, "format"), options=list(EXPORT_FORMATS), value="pdf", inline=True)),
                    labelled("Size", dcc.RadioItems(id=export_id(prefix, "size"), options=[{"label": f" {v}", "value": k} for k, v in SIZE_LABELS.items()],
                                                    value="double", inline=True)),
                    labelled("Font size (pt, at the printed size; at least the size's minimum)",
                             dcc.Input(id=export_id(prefix, "font"), type="number", min=5, max=40, value=8, style={"width": "5rem"})),
                    html.Button("Export", id=export_id(prefix, "button"), className="button"),
                    dcc.Download(id=export_id(prefix, "download")),
                ],
                className="controls",
            ),
        ],
        className="export",
    )


def styled_for_export(figure: go.Figure | Mapping[str, Any], *, size: str, font_size: float) -> go.Figure:
    """A copy of ``figure`` for ``size``: a preset of :mod:`components.presets` (single, double, slide:
    fonts in pt at the printed size, legend and colour bar below, wrapped title), or 'screen' (the
    figure's own layout at 1100 px). The original is untouched."""
    from components.presets import PRESETS, apply_preset

    if not 1 <= font_size <= 100:
        raise ValueError(f"{font_size=} must be between 1 and 100 pt")
    if size in PRESETS:
        return apply_preset(figure, size, font_pt=font_size)
    if size != "screen":
        raise ValueError(f"{size=} must be one of {', '.join([*PRESETS, 'screen'])}")
    fig = go.Figure(copy.deepcopy(figure.to_dict() if isinstance(figure, go.Figure) else dict(figure)))
    width, height = EXPORT_SIZES["screen"]
    fig.update_layout(width=width, height=fig.layout.height or height, font={"size": font_size})
    return fig


def export_figure_bytes(figure: go.Figure | Mapping[str, Any], *, fmt: str, size: str = "double", font_size: float = 8.0,
                        scale: float = 3.0) -> bytes:
    """Render ``figure`` to PNG, SVG or PDF bytes with kaleido.

    Args:
        figure: the figure (as a dcc.Graph holds it: a dict, or a go.Figure).
        fmt: 'png', 'svg' or 'pdf'.
        size: a key of :data:`components.theme.EXPORT_SIZES`.
        font_size: base font size in pt.
        scale: resolution multiplier for PNG (3 gives about 300 dpi at the column widths).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"{fmt=} must be one of {', '.join(EXPORT_FORMATS)}")
    fig = styled_for_export(figure, size=size, font_size=font_size)
    return pio.to_image(fig, format=fmt, scale=scale if fmt == "png" else 1.0)


def export_filename(config: Mapping[str, Any] | None, fallback: str, fmt: str, size: str) -> str:
    """File name for an export: the graph's own (selection-bearing) name, the size and the extension."""
    base = ((config or {}).get("toImageButtonOptions") or {}).get("filename") or fallback
    return f"{safe_filename(base)}_{size}.{fmt}"


def export_download(graph_id: str, graphs: Mapping[str, tuple[Any, Any]], *, fmt: str, size: str, font_size: float | None,
                    fallback: str) -> dict[str, Any]:
    """The ``dcc.Download`` data of one of a page's graphs.

    Args:
        graph_id: the chosen graph.
        graphs: graph id -> (figure, config) as the page holds them.
        fmt, size, font_size: export settings (font default: the theme's).
        fallback: file name base when the graph's config has none.
    """
    if graph_id not in graphs:
        raise ValueError(f"unknown figure {graph_id!r} (choose one of {', '.join(graphs)})")
    figure, config = graphs[graph_id]
    data = export_figure_bytes(figure, fmt=fmt, size=size, font_size=float(font_size or 8.0))
    return dcc.send_bytes(data, export_filename(config, fallback, fmt, size))
