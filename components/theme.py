"""The dashboard's visual theme: colour-blind-safe colours, fonts, export settings.

Traces use the Okabe-Ito palette (Okabe & Ito 2008), which stays distinguishable under the
common colour-vision deficiencies; heat maps use viridis (perceptually uniform, readable in
grey scale). Every figure builder calls :func:`apply_theme` so the look is set in one place.
"""
from __future__ import annotations

from typing import Any, Literal

import plotly.graph_objects as go

#: Okabe-Ito colours, ordered so that the first few are the most distinct from each other
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
HEATMAP_COLORSCALE = "Viridis"
MISSING_COLOR = "#d9d9d9"  # grey tiles: elements without data
MISSING_TEXT_COLOR = "#7f7f7f"
FONT_FAMILY = "Arial, Helvetica, sans-serif"
FONT_SIZE = 13
PRESENTATION_FONT_SIZE = 20

#: publication widths in px at 96 dpi (single column 8.5 cm, double column 17.8 cm)
EXPORT_SIZES: dict[str, tuple[int, int]] = {
    "single": (321, 260),
    "double": (673, 420),
    "screen": (1100, 650),
}
ExportFormat = Literal["png", "svg", "jpeg", "webp"]


def color(index: int) -> str:
    """The ``index``-th trace colour (cycling through Okabe-Ito)."""
    return OKABE_ITO[index % len(OKABE_ITO)]


def apply_theme(fig: go.Figure, *, font_size: int = FONT_SIZE, presentation: bool = False) -> go.Figure:
    """Set the common layout (white background, fonts, colourway) on ``fig`` in place and return it."""
    size = PRESENTATION_FONT_SIZE if presentation else font_size
    fig.update_layout(
        template="simple_white",
        colorway=list(OKABE_ITO),
        font={"family": FONT_FAMILY, "size": size, "color": "#000000" if presentation else "#222222"},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        hoverlabel={"font": {"family": FONT_FAMILY}},
        legend={"bgcolor": "rgba(255,255,255,0.7)"},
    )
    return fig


def empty_figure(message: str, *, title: str | None = None) -> go.Figure:
    """A blank figure that shows ``message`` in its centre (used when data is missing)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 15, "color": "#555555"}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    apply_theme(fig)
    if title:
        fig.update_layout(title=title)
    fig.update_layout(meta={"empty": True, "message": message})
    return fig


def graph_config(filename: str, *, fmt: str = "png", size: str = "double", scale: float = 3.0) -> dict[str, Any]:
    """``dcc.Graph`` config whose camera button exports ``filename`` in ``fmt`` at a publication size.

    Args:
        filename: file name without extension (the page puts the current selection in it).
        fmt: 'png', 'svg', 'jpeg' or 'webp' (Plotly's client-side export; PDF goes through the
            server-side kaleido export).
        size: a key of :data:`EXPORT_SIZES`.
        scale: resolution multiplier for raster formats.
    """
    if size not in EXPORT_SIZES:
        raise ValueError(f"{size=} must be one of {', '.join(EXPORT_SIZES)}")
    width, height = EXPORT_SIZES[size]
    return {
        "displaylogo": False,
        "toImageButtonOptions": {
            "format": fmt,
            "filename": safe_filename(filename),
            "width": width,
            "height": height,
            "scale": scale,
        },
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def safe_filename(text: str) -> str:
    """A file-name-safe version of ``text`` (letters, digits, '-', '_', '.')."""
    out = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
    return out.strip("_.")[:150] or "figure"


def is_presentation(flag: str | bool | None) -> bool:
    """Whether a URL flag (``?present=1``) asks for presentation mode."""
    if isinstance(flag, bool):
        return flag
    return str(flag or "").lower() in ("1", "true", "yes", "on")


def presentation_style(fig: go.Figure, present: bool) -> go.Figure:
    """``fig`` in presentation style (large black type, thicker lines) when ``present``, else unchanged."""
    if not present:
        return fig
    from components.presets import apply_preset

    # the slide preset's layout rules (18 pt, legend and colour bar in their own strip below, wrapped
    # title, tile fonts scaled), at the browser's width; a copy: the figure given may be shared
    fig = apply_preset(fig, "slide")
    fig.update_layout(width=None, autosize=True, font={"color": "#000000"})
    fig.update_traces(selector={"type": "scatter", "mode": "lines+markers"}, line_width=4, marker_size=10)
    return fig
