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


