"""Print the correlation of three descriptors with force RMSE on the default set (docs/descriptors.md): python scripts/correlations.py"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.views.distributions import correlation_table, descriptor_coverage

done, off = descriptor_coverage()
print(len(done), "at reference state; off:", off)
for rel in (False, True):
    t = correlation_table("metal43-gpaw", relative=rel, n_boot=300)
    t = t[t.descriptor.isin(["disp_stiffness_ev_per_a2", "method_spread_mev", "dos_ef_tetra_per_atom"])]
    print("relative" if rel else "absolute")
    for _, r in t.sort_values(["descriptor", "model"]).iterrows():
        print(f"{r.descriptor:26s} {r.model:18s} n={r.n} rho={r.spearman_r:.2f} partial={r.partial_spearman_r:.2f} p={r.partial_spearman_p:.3g} bh={r.partial_spearman_p_bh:.3g}")
