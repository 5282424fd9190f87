"""Small multiples: the eigenvalue-sum curves and the parity plots of many elements in one figure."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from components.curves import curves_small_multiples, six_element_groups
from components.parity import parity_small_multiples


def _panels(elements: list[str]) -> dict:
    x = [0.0, 0.05, 0.1]
    return {e: {"displacement": {m: (x, [0.0, -0.01 * (i + 1), -0.04 * (i + 1)]) for i, m in enumerate(("gaussian", "tetrahedron"))},
                "fermi_shift": {m: ([-0.5, 0, 0.5], [1.0, 2.0, 3.5]) for m in ("gaussian", "tetrahedron")}}
            for e in elements}


def test_curves_small_multiples_one_legend_entry_per_method_and_a_panel_per_element_and_kind() -> None:
    elements = ["Cu", "Ag", "Au", "Ni", "Pd", "Pt"]
    fig = curves_small_multiples(_panels(elements[:5]), elements, title="six")
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend == ["gaussian", "tetrahedron"]
    assert len(fig.data) == 5 * 2 * 2  # Pt has no curves: an empty, labelled panel, no traces
    titles = [a.text for a in fig.layout.annotations]
    assert "Pt · ΔE_band(δ)" in titles and titles.count("no curves") == 2
    assert fig.layout.meta["elements"] == elements and fig.layout.height == 80 + 100 + 3 * 190
    hidden = curves_small_multiples(_panels(["Cu"]), ["Cu"], visible={"gaussian"})
    assert {t.name: t.visible for t in hidden.data} == {"gaussian": True, "tetrahedron": "legendonly"}
    assert fig.layout.legend.y < 0  # below the panels: no subplot title can run into it


def test_six_element_groups_follow_the_order() -> None:
    groups = six_element_groups([str(i) for i in range(14)])
    assert [len(g) for g in groups] == [6, 6, 2] and groups[2] == ["12", "13"]


def test_parity_small_multiples_share_axes_ranges_per_panel_and_one_legend() -> None:
    rng = np.random.default_rng(0)
    def series(model: str, n: int) -> SimpleNamespace:
        ref = rng.normal(size=n)
        return SimpleNamespace(model=model, reference=ref, predicted=ref + rng.normal(0, 0.1, n), n_total=n)
    data = {e: {"energy": [series("a", 4), series("b", 4)], "force": [series("a", 20), series("b", 20)]} for e in ("Cu", "Ag", "Au")}
    fig = parity_small_multiples(data, ["Cu", "Ag", "Au"], title="p")
    assert [t.name for t in fig.data if t.showlegend is not False] == ["a", "b"]
    assert len([t for t in fig.data if t.mode == "markers"]) == 3 * 2 * 2
    x_axis = fig.layout.xaxis
    assert x_axis.range == fig.layout.yaxis.range  # y = x is the diagonal of every panel
