"""The findings view on the embedded data: the computed statements reproduce issue 27's table."""
from __future__ import annotations

from analysis import views


def test_findings_on_the_embedded_set_give_the_trend_in_absolute_errors_only() -> None:
    """On the embedded set (43 elements, one temperature each) the computed statements are the table of issue 27:
    early transition metals 4-8x harder in absolute force RMSE, not in relative."""
    found = views.paper_findings("metal43-gpaw")
    assert all(4.0 < t.ratio < 8.0 and t.p_mannwhitney < 1e-3 for t in found.trend_absolute)
    assert all(t.p_mannwhitney > 0.05 for t in found.trend_relative)
    assert any("one temperature" in n for n in found.limits.notes)




def test_the_element_table_has_no_pooled_row_that_repeats_a_single_temperature() -> None:
    table = views.element_table("metal43-gpaw", "Hg")  # Hg lists one temperature only
    assert len(table) and "all" not in set(table["temperature"])
    two = views.element_table("metal43-gpaw-train", "Cu")  # 300 K and 1630 K: the pooled row stays
    assert {"300", "1630", "all"} <= set(two["temperature"])


def test_the_distributions_page_opens_on_the_descriptor_the_findings_rank_first() -> None:
    top = views.top_descriptor("metal43-gpaw")
    strength = views.paper_findings("metal43-gpaw").electronic
    medians = strength.assign(a=strength["partial_spearman_r"].abs()).groupby("descriptor")["a"].median()
    assert top == medians.idxmax()


def test_the_shipped_smearing_experiment_is_read_with_its_statement() -> None:
    result = views.smearing_experiment()
    assert result is not None and "Al" in result["ready"]
    al = [s for s in result["summary"] if s["element"] == "Al" and s["model"] == "mace-fitted"][0]
    assert al["n_seeds"] == 3 and al["ratio_low"] <= al["ratio"] <= al["ratio_high"]
    assert "Al" in result["statement"] and "Waiting" in result["statement"]  # Cu, Cr, Hf not labelled at 0.4 eV yet
