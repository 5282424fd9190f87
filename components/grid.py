"""Small-multiple grids: a row of panels per group of elements, one legend below them all."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from components.theme import apply_theme


def element_panel_grid(elements: Sequence[str], panel_labels: Sequence[str], elements_per_row: int,
                       *, spacing: float = 0.35) -> tuple[go.Figure, int, int]:
    """A subplot grid with one panel per (element, label), ``elements_per_row`` elements a row.

    Returns:
        The figure, the elements per row and the number of rows; panel (element i, label j) is at
        row ``i // per_row + 1``, column ``(i % per_row) * len(panel_labels) + j + 1``.
    """
    from plotly.subplots import make_subplots

    per_row = max(1, min(elements_per_row, len(elements)))
    n_cols, n_rows = per_row * len(panel_labels), -(-len(elements) // per_row)
    titles = []
    for el in list(elements) + [""] * (n_rows * per_row - len(elements)):
        titles += [f"{el} · {label}" if el else "" for label in panel_labels]
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=titles, horizontal_spacing=spacing / n_cols + 0.02,
                        vertical_spacing=min(0.12, 0.6 / n_rows))
    return fig, per_row, n_rows


def finish_grid(fig: go.Figure, *, title: str | None, n_rows: int, panel_height: int, legend_title: str, meta: dict[str, Any],
                bottom: int = 100, legend_gap_px: int = 75) -> go.Figure:
    """Theme, height from the rows, and the legend centred below the bottom row's axis titles
    (where no panel title can run into it)."""
    apply_theme(fig, font_size=11)
    fig.update_annotations(font_size=11)
    top = 80 if title else 40
    height = top + bottom + panel_height * n_rows
    fig.update_layout(title=title, height=height, showlegend=True,
                      legend={"orientation": "h", "y": -legend_gap_px / (height - top - bottom), "yanchor": "top", "x": 0.5,
                              "xanchor": "center", "title": {"text": legend_title}},
                      margin={"l": 60, "r": 20, "t": top, "b": bottom}, meta=meta)
    return fig
