"""The paper's claims as tests: trend, universality and the data's limits, on tables built to known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.core import elements as el
from analysis.metrics import findings as fd


def _table(factor: dict[str, float], *, models=("a", "b"), temps=(300.0, 1500.0), noise: float = 0.1, seed: int = 0,
           frames: int = 4) -> pd.DataFrame:
    """A metrics table: force RMSE = 100 meV/Å x factor[group] x lognormal noise; spreads 500 meV/Å."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in models:
        for symbol in el.METAL43:
            base = 100.0 * factor.get(fd.group_of(symbol), 1.0) * float(np.exp(rng.normal(0, noise)))
            for t in [*(f"{t:g}" for t in temps), "all"]:
                rows.append({"element": symbol, "model": model, "temperature": t, "n_frames": frames * (len(temps) if t == "all" else 1),
                             "force_rmse_mev_per_a": base, "ref_force_std_mev_per_a": 500.0, "energy_rmse_mev_per_atom": 1.0,
                             "ref_energy_std_mev_per_atom": 10.0})
    return pd.DataFrame(rows)


def test_groups_cover_metal43_once() -> None:
    members = [s for g in fd.GROUPS.values() for s in g]
    assert sorted(members) == sorted(el.METAL43) and len(members) == len(set(members))


def test_a_real_trend_is_found_with_its_ratio_and_a_null_one_is_not() -> None:
    hard = fd.trend_tests(_table({"early TM": 5.0}), "force_rmse_mev_per_a", n_permutations=2000)
    for t in hard:
        assert t.n_hard == 14 and t.n_easy == 10
        assert t.ratio == pytest.approx(5.0, rel=0.15) and t.p_mannwhitney < 1e-4 and t.p_permutation < 1e-2
        assert t.group_medians["early TM"] > 4 * t.group_medians["alkali"]
    null = fd.trend_tests(_table({}, noise=0.3, seed=3), "force_rmse_mev_per_a", n_permutations=2000)
    assert all(t.p_mannwhitney > 0.05 for t in null)
    assert "not significantly higher" in fd.trend_statement(null[0], "force RMSE")
    assert "5." in fd.trend_statement(hard[0], "force RMSE") or "4." in fd.trend_statement(hard[0], "force RMSE")


def test_the_tests_do_not_depend_on_the_unit_and_relative_errors_divide_by_the_spread() -> None:
    table = _table({"early TM": 3.0}, seed=5)
    scaled = table.assign(force_rmse_mev_per_a=table["force_rmse_mev_per_a"] * 1e-3, ref_force_std_mev_per_a=table["ref_force_std_mev_per_a"] * 1e-3)
    a = fd.trend_tests(table, "force_rmse_mev_per_a", n_permutations=500)[0]
    b = fd.trend_tests(scaled, "force_rmse_mev_per_a", n_permutations=500)[0]
    assert a.ratio == pytest.approx(b.ratio) and a.p_mannwhitney == b.p_mannwhitney and a.p_permutation == b.p_permutation
    # spreads that grow with the errors cancel them: the relative trend vanishes
    spread_follows = table.assign(ref_force_std_mev_per_a=table["force_rmse_mev_per_a"] * 4.0)
    rel = fd.trend_tests(spread_follows, "force_rmse_mev_per_a", relative=True, n_permutations=500)[0]
    assert rel.ratio == pytest.approx(1.0) and rel.p_mannwhitney > 0.4


def test_rank_agreement_of_identical_and_of_reversed_rankings() -> None:
    a = _table({"early TM": 4.0}, models=("a",))
    b = a.assign(model="b", force_rmse_mev_per_a=a["force_rmse_mev_per_a"] * 2.0)  # same ranking, other scale
    c = a.assign(model="c", force_rmse_mev_per_a=1e4 / a["force_rmse_mev_per_a"])  # reversed ranking
    table = pd.concat([a, b, c], ignore_index=True)
    agreement = fd.rank_agreement(table, "force_rmse_mev_per_a").set_index(["model_a", "model_b"])
    assert agreement.loc[("a", "b"), "spearman"] == pytest.approx(1.0)
    assert agreement.loc[("a", "c"), "spearman"] == pytest.approx(-1.0)
    assert (agreement["n_elements"] == 43).all()
    assert "-1.00" in fd.universality_statement(agreement.reset_index())


def test_the_limits_say_when_the_data_cannot_answer() -> None:
    one_t = fd.data_limits(_table({}, temps=(300.0,)))
    assert one_t.temperatures_per_element == 1 and any("one temperature" in n for n in one_t.notes)
    assert fd.data_limits(_table({}, temps=(300.0, 900.0))).notes == ()
    thin = fd.data_limits(_table({}, temps=(300.0,), frames=1))
    assert len(thin.thin_elements) == 43
    few = _table({}).query("element in ['Li', 'Na', 'Sc', 'Ti']")
    tests = fd.trend_tests(few, "force_rmse_mev_per_a")
    assert all(np.isnan(t.p_mannwhitney) for t in tests) and "too few elements" in fd.trend_statement(tests[0], "x")
    assert fd.smallest_p(3, 3) == pytest.approx(0.05) and fd.smallest_p(14, 10) < 1e-6
