"""Errors against temperature: small multiples and one element's panel."""
from __future__ import annotations

import pandas as pd

from components.temperature import element_temperature_figure, temperature_grid


def _table() -> pd.DataFrame:
    rows = []
    for element, temps in (("Cu", (300.0, 1630.0)), ("Na", (300.0, 444.0)), ("Hg", (300.0,))):
        for model, scale in (("a", 1.0), ("b", 2.0)):
            for t in temps:
                rows.append({"element": element, "model": model, "temperature": f"{t:g}", "n_frames": 4, "force_rmse_mev_per_a": scale * t / 10})
            rows.append({"element": element, "model": model, "temperature": "all", "n_frames": 8, "force_rmse_mev_per_a": 1e6})
    return pd.DataFrame(rows)


def test_grid_has_a_panel_per_element_a_line_per_model_and_no_pooled_rows() -> None:
    fig = temperature_grid(_table(), "force_rmse_mev_per_a", "Force RMSE (meV/Å)")
    assert fig.layout.meta["elements"] == ["Cu", "Hg", "Na"] and fig.layout.meta["models"] == ["a", "b"]
    assert len(fig.data) == 6 and sum(bool(t.showlegend) for t in fig.data) == 2
    assert max(max(t.y) for t in fig.data) < 1e6  # the pooled 'all' rows are not temperatures
    assert "2 of 3 elements at more than one temperature" in fig.layout.title.text


def test_element_panel_names_its_temperatures_and_says_when_there_is_one() -> None:
    cu = element_temperature_figure(_table(), "Cu", "force_rmse_mev_per_a", "Force RMSE (meV/Å)")
    assert cu.layout.meta["temperatures"] == [300.0, 1630.0] and [list(t.x) for t in cu.data] == [[300.0, 1630.0]] * 2
    assert "one temperature only" in element_temperature_figure(_table(), "Hg", "force_rmse_mev_per_a", "F").layout.title.text
    empty = element_temperature_figure(_table(), "W", "force_rmse_mev_per_a", "F")
    assert not empty.data and "No errors per temperature" in empty.layout.annotations[0].text


def test_one_caveat_strip_leads_with_the_most_serious_and_lists_them_all() -> None:
    from components.layout import caveat_strip

    assert caveat_strip([]) is None
    strip = caveat_strip([("info", "a refused frame"), ("warning", "stale predictions"), ("info", "a close contact")], id="x")
    assert "alert-warning" in strip.className and strip.children[0].children == "stale predictions (and 2 more caveats)"
    assert [li.children for li in strip.children[1].children] == ["stale predictions", "a refused frame", "a close contact"]


def test_the_smearing_figure_draws_each_element_and_model_across_the_widths() -> None:
    from components.findings import smearing_figure

    rows = [{"element": "Al", "model": "mace-fitted", "sigma_ev": s, "seed": seed, "relative": r, "relative_low": r * 0.9, "relative_high": r * 1.1}
            for s, r in ((0.1, 0.04), (0.4, 0.03)) for seed in (0, 1)]
    rows += [{"element": "Al", "model": "chgnet-0.3.0", "sigma_ev": s, "seed": -1, "relative": 0.33, "relative_low": 0.3, "relative_high": 0.4}
             for s in (0.1, 0.4)]
    fig = smearing_figure(rows)
    assert [t.name for t in fig.data] == ["Al · chgnet-0.3.0", "Al · mace-fitted"]
    mace = fig.data[1]
    assert list(mace.x) == [0.1, 0.4] and list(mace.y) == [0.04, 0.03] and mace.line.dash == "solid" and fig.data[0].line.dash == "dot"
    assert not smearing_figure([]).data
