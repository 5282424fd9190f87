"""Export presets: a figure laid out for a single column, a double column or a 16:9 slide.

Each preset fixes the printed width and a minimum font size in points *at the printed size*
(96 px per inch, so 1 pt = 4/3 px): 7 pt in a single column (8.5 cm), 8 pt in a double column
(17.8 cm), 18 pt on a slide (33.9 cm, 1280 x 720 px). Rules applied to every figure type, so that
titles, legends and axis titles never overlap:

* the title is wrapped to the width (``<br>``) and the top margin grows with its lines;
* the legend goes below the plot, horizontal, centred, and the bottom margin grows with the rows it
  needs; for periodic-table maps the colour bar goes below too (horizontal), so the table keeps the
  whole width;
* every font (ticks, axis titles, legend, subplot titles, tile values) is at least the preset's
  minimum; tile values are kept only where a tile is wide enough to hold them;
* the height keeps the figure's own aspect (a periodic table stays a table, small multiples keep
  their rows) within the preset's bounds.

:func:`apply_preset` returns a new figure; :func:`check_layout` says which rule a laid-out figure
breaks (the tests render every figure type at every preset with kaleido and call it).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

PX_PER_PT = 96 / 72


@dataclass(frozen=True)
class Preset:
    """A target: printed width (cm), width and default height in px at 96 dpi, minimum font (pt), bounds on the height."""

    name: str
    label: str
    width_cm: float
    width_px: int
    height_px: int
    min_font_pt: float
    max_height_px: int

    @property
    def min_font_px(self) -> float:
        return self.min_font_pt * PX_PER_PT


PRESETS: dict[str, Preset] = {
    "single": Preset("single", "single column (8.5 cm)", 8.5, 321, 280, 7.0, 700),
    "double": Preset("double", "double column (17.8 cm)", 17.8, 673, 440, 8.0, 1100),
    "slide": Preset("slide", "16:9 slide", 33.9, 1280, 720, 18.0, 720),
}


def _wrap(text: str, chars: int) -> tuple[str, int]:
    """``text`` wrapped at spaces to lines of at most ``chars`` characters; (text, number of lines)."""
    words, lines, line = text.replace("<br>", " ").split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return "<br>".join(lines), max(1, len(lines))


#: what Plotly adds to a legend entry's text width: the symbol and the gaps around it (px)
LEGEND_SYMBOL_PX = 60


def _legend_entry_px(names: list[str], font_px: float) -> float:
    """Text width given to every legend entry (Plotly's ``entrywidth``): the longest name at 0.62 em a character."""
    return 0.62 * font_px * max(len(n) for n in names) + 4


def _legend_rows(names: list[str], width_px: float, font_px: float) -> int:
    """Rows a horizontal legend of equal-width entries (:func:`_legend_entry_px` plus the symbol) needs."""
    if not names:
        return 0
    per_row = max(1, int(width_px // (_legend_entry_px(names, font_px) + LEGEND_SYMBOL_PX)))
    return -(-len(names) // per_row)


def apply_preset(figure: go.Figure | Mapping[str, Any], preset: str, *, font_pt: float | None = None) -> go.Figure:
    """A copy of ``figure`` laid out for ``preset`` (see the module's rules).

    Args:
        figure: the figure (a go.Figure or the dict a dcc.Graph holds).
        preset: a key of :data:`PRESETS`.
        font_pt: base font in pt at the printed size (at least the preset's minimum; default: the minimum
            plus 1 pt for print, the minimum on a slide).
    """
    if preset not in PRESETS:
        raise ValueError(f"{preset=} must be one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    base_pt = max(p.min_font_pt, font_pt if font_pt is not None else p.min_font_pt + (0 if preset == "slide" else 1))
    font = base_pt * PX_PER_PT
    fig = go.Figure(copy.deepcopy(figure.to_dict() if isinstance(figure, go.Figure) else dict(figure)))
    kind = (fig.layout.meta or {}).get("kind", "") if isinstance(fig.layout.meta, dict) else ""
    width = p.width_px
    own_w, own_h = fig.layout.width or 1100, fig.layout.height or 450
    height = int(min(p.max_height_px, max(p.height_px if preset == "slide" else 0.55 * width, width * own_h / own_w)))
    if preset == "slide":
        height = p.height_px
    title_text = fig.layout.title.text if fig.layout.title and fig.layout.title.text else ""
    title_font = font * 1.15
    wrapped, title_lines = _wrap(title_text, max(12, int((width - 20) / (0.55 * title_font)))) if title_text else ("", 0)
    names = [t.name for t in fig.data if t.name and t.showlegend is not False and (fig.layout.showlegend is not False)]
    legend_names = list(dict.fromkeys(names)) if len(names) > 1 or kind in ("eigenvalue_sum_curve",) else []
    rows = _legend_rows(legend_names, width - 20, font)
    heatmap = kind.startswith("ptable")
    top = 10 + int(title_lines * title_font * 1.3) + (int(10 + 0.3 * title_font) if title_lines else 0)
    axis_block = int(font * 3.2)  # tick labels and the x-axis title
    row_px = font * 1.9  # a legend row: the text and the symbol, as Plotly spaces them
    bottom = 10 + axis_block + int(rows * row_px) + (int(font * 3) if heatmap else 0)
    fig.update_layout(
        width=width, height=max(height, top + bottom + 120),
        font={"size": font}, title={"text": wrapped, "font": {"size": title_font}, "x": 0.01, "xanchor": "left",
                                    "y": 1.0 - (8 + 0.3 * title_font) / max(height, top + bottom + 120),
                                    "yanchor": "top", "yref": "container",
                                    "subtitle": {"font": {"size": font}}},
        hoverlabel={"font": {"size": font}},
        margin={"l": int(font * 4.2), "r": 10, "t": top, "b": bottom, "autoexpand": False},
    )
    if legend_names:
        fig.update_layout(showlegend=True, legend={"orientation": "h", "x": 0.5, "xanchor": "center", "y": 0, "yanchor": "top",
                                                   "yref": "container", "font": {"size": font},
                                                   "entrywidthmode": "pixels", "entrywidth": _legend_entry_px(legend_names, font),
                                                   "title": {"text": None}})
        fig.update_layout(legend_y=(rows * row_px + 6) / fig.layout.height)
    else:
        fig.update_layout(showlegend=False) if kind.startswith("ptable") else None
    fig.update_xaxes(tickfont={"size": font}, title_font={"size": font}, automargin=False)
    fig.update_yaxes(tickfont={"size": font}, title_font={"size": font}, automargin=False)
    fig.update_annotations(font_size=max(font, min(font * 1.1, 14 * PX_PER_PT)))
    if heatmap and preset in ("single", "double") and kind in ("ptable_comparison", "ptable_heatmap_grid"):
        # side by side, a tile (1/18 of half the width) must hold a bold two-letter symbol (about 1.9 em)
        if width / 18 / 2 < 1.9 * font:
            _stack_tables(fig, width, font, top, bottom)
    if heatmap:
        _heatmap_rules(fig, width, font)
    if kind.endswith("small_multiples"):
        _regrid(fig, preset, font, top + int(1.6 * font), bottom)
        fig.update_layout(margin_t=top + int(1.6 * font))
    if legend_names:  # the height may have changed: the legend keeps its strip at the bottom
        fig.update_layout(legend_y=(rows * row_px + 6) / fig.layout.height)
    fig.update_layout(meta={**(fig.layout.meta or {}), "preset": preset, "min_font_px": p.min_font_px})
    return fig


#: elements side by side in a small-multiples export (each element has its two panels)
ELEMENTS_PER_ROW = {"single": 1, "double": 2, "slide": 3}
PANEL_PX = {"single": 120, "double": 150, "slide": 150}


def _regrid(fig: go.Figure, preset: str, font: float, top: int, bottom: int) -> None:
    """Lay the panels of a small-multiples figure out again for the preset's width: one element a
    row in a single column, two in a double column, three on a slide; panel titles above their panel,
    x-axis titles on the bottom row only, y-axis titles in the first column only."""
    layout = fig.layout.to_plotly_json()
    n_panels = max(int(k[5:] or 1) for k in layout if k.startswith("xaxis") and (k[5:] or "1").isdigit())
    per_element = 2
    cols = per_element * ELEMENTS_PER_ROW[preset]
    titles = [a for a in fig.layout.annotations if a.xref == "paper" and a.yref == "paper"][:n_panels]
    texts = [a.text for a in titles] + [""] * (n_panels - len(titles))
    used = [k for k in range(n_panels) if texts[k]]
    rows = -(-len(used) // cols)
    gap_px = 3.2 * font  # the tick labels of one row and the panel titles of the next
    plot_px = rows * PANEL_PX[preset] + (rows - 1) * gap_px
    h_gap, v_gap = 0.09 if cols <= 2 else 0.05, gap_px / plot_px
    width = (1 - h_gap * (cols - 1)) / cols
    height = (1 - v_gap * (rows - 1)) / rows
    x_titles = {}
    for k in range(n_panels):
        axis = fig.layout[f"xaxis{k + 1 if k else ''}"]
        if axis.title and axis.title.text:
            x_titles[k % per_element] = axis.title.text
    for slot, k in enumerate(used):
        r, c = divmod(slot, cols)
        x0 = c * (width + h_gap)
        y1 = 1 - r * (height + v_gap)
        suffix = k + 1 if k else ""
        fig.layout[f"xaxis{suffix}"].domain = [x0, x0 + width]
        fig.layout[f"yaxis{suffix}"].domain = [max(0.0, y1 - height), y1]
        fig.layout[f"xaxis{suffix}"].title = {"text": x_titles.get(k % per_element) if r == rows - 1 else None, "font": {"size": font}}
        fig.layout[f"yaxis{suffix}"].title = {"text": fig.layout[f"yaxis{suffix}"].title.text if c == 0 else None, "font": {"size": font}}
        if k < len(titles):
            titles[k].update(x=x0 + width / 2, y=y1, xanchor="center", yanchor="bottom", font={"size": font})
    for k in range(n_panels):
        if k not in used:  # trailing blank panels of the screen layout
            suffix = k + 1 if k else ""
            fig.layout[f"xaxis{suffix}"].visible = False
            fig.layout[f"yaxis{suffix}"].visible = False
    fig.update_layout(height=int(top + bottom + plot_px + 1.6 * font))  # the first row's panel titles sit above the plot area


def _stack_tables(fig: go.Figure, width: int, font: float, top: int, bottom: int) -> None:
    """Several periodic tables side by side (a comparison, a grid of models) one under the other at
    full width: in a single column side by side their tiles could not hold a symbol."""
    layout = fig.layout.to_plotly_json()
    panels = []
    for key in layout:
        if key.startswith("xaxis") and (key[5:] or "1").isdigit():
            suffix = key[5:]
            x_dom = (layout[key].get("domain") or [0, 1])
            y_dom = (layout.get(f"yaxis{suffix}", {}).get("domain") or [0, 1])
            panels.append((-y_dom[1], x_dom[0], suffix, x_dom, y_dom))
    panels.sort()
    titles = [(a, a.x, a.y) for a in fig.layout.annotations if a.xref == "paper" and a.yref == "paper"]
    n = len(panels)
    y_range = layout.get(f"yaxis{panels[0][2]}", {}).get("range") or [-0.5, 6.5]
    table_px = (width - 20) * (abs(y_range[1] - y_range[0]) / 18)  # the table's own aspect: its rows over 18 groups
    gap_px = 2.4 * font
    plot_px = n * table_px + (n - 1) * gap_px
    moved: set[int] = set()
    for i, (_, _, suffix, x_dom, y_dom) in enumerate(panels):
        y1 = 1 - i * (table_px + gap_px) / plot_px
        y0 = y1 - table_px / plot_px
        for k, (a, x, y) in enumerate(titles):  # the panel's title (found where it was): centred just above it
            if k not in moved and x_dom[0] - 1e-6 <= x <= x_dom[1] + 1e-6 and y_dom[1] - 1e-6 <= y <= y_dom[1] + 0.12:
                a.update(x=0.5, y=y1, xanchor="center", yanchor="bottom")
                moved.add(k)
        fig.layout[f"xaxis{suffix}"].domain = [0, 1]
        fig.layout[f"yaxis{suffix}"].domain = [max(0.0, y0), y1]
    fig.update_layout(height=int(top + bottom + plot_px + 2 * font), margin_t=top + int(1.6 * font))


def _heatmap_rules(fig: go.Figure, width: int, font: float) -> None:
    """Colour bars below and horizontal; tile values only where a tile (1/18 of a panel's width) holds four digits."""
    axes = [k for k in fig.layout.to_plotly_json() if k.startswith("coloraxis")]
    scaled = [t for t in fig.data if t.type == "heatmap" and t.showscale is not False and not t.coloraxis]
    holders = len(axes) + len(scaled)
    for i, holder in enumerate([*(fig.layout[k] for k in axes), *scaled]):
        holder.colorbar = {"orientation": "h", "x": (i + 0.5) / holders, "xanchor": "center", "y": -0.02, "yanchor": "top",
                           "thickness": max(8, int(font * 0.9)), "len": 0.9 / holders, "tickfont": {"size": font},
                           "title": {"text": (holder.colorbar.title.text if holder.colorbar and holder.colorbar.title else None),
                                     "font": {"size": font}, "side": "top"}}
    layout = fig.layout.to_plotly_json()
    domains = [(layout[k].get("domain") or [0, 1]) for k in layout if k.startswith("xaxis")] or [[0, 1]]
    tile_px = min(d[1] - d[0] for d in domains) * (width - 30) / 18  # the narrowest table's tiles
    for trace in fig.data:
        if getattr(trace, "mode", None) == "text":
            size = getattr(trace.textfont, "size", None) or font
            # element symbols must stay; values (a second line) go when four digits do not fit
            fits = tile_px >= 4 * 0.6 * font
            trace.textfont = {"size": max(font, min(size, tile_px / 2.2))} if fits else {"size": font}
            if not fits and isinstance(trace.text, (list, tuple)):
                trace.text = [str(t).split("<br>")[0] for t in trace.text]


def check_layout(fig: go.Figure | Mapping[str, Any], preset: str) -> list[str]:
    """What a figure laid out by :func:`apply_preset` (ideally kaleido's full figure) breaks: font
    sizes below the minimum, a legend not below the plot, a title wider than the figure. Empty when sound."""
    p = PRESETS[preset]
    layout = (fig.layout.to_plotly_json() if isinstance(fig, go.Figure) else dict(fig.get("layout", {})))
    problems = []

    def sizes(obj: Any, path: str = "") -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key == "size" and path.endswith("font") and isinstance(value, (int, float)) and value < p.min_font_px - 1e-6:
                    problems.append(f"{path}.size {value:.1f} px < {p.min_font_px:.1f} px ({p.min_font_pt:g} pt)")
                sizes(value, f"{path}.{key}" if path else key)
        elif isinstance(obj, list):
            for i, value in enumerate(obj):
                sizes(value, f"{path}[{i}]")

    sizes({k: v for k, v in layout.items() if k not in ("template",)})
    legend = layout.get("legend") or {}
    if layout.get("showlegend") and legend and not (legend.get("yref") == "container" or (legend.get("y") or 1) <= 0):
        problems.append("legend is not below the plot")
    title = ((layout.get("title") or {}).get("text") or "")
    title_px = (layout.get("title") or {}).get("font", {}).get("size") or 12
    longest = max((len(line) for line in title.split("<br>")), default=0)
    if longest * 0.55 * title_px > layout.get("width", p.width_px):
        problems.append(f"title line of {longest} characters is wider than the figure")
    if not math.isclose(layout.get("width", 0), p.width_px):
        problems.append(f"width {layout.get('width')} px, not {p.width_px} px")
    return problems
