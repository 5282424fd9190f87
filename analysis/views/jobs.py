"""Loaders of the jobs page (``/jobs``): what the stored predictions on a data set cover."""
from __future__ import annotations

import pandas as pd

from analysis.views.common import (
    _scored_frames,
    refused_frames,
    stale_predictions,
    unseen_frames,
)


def prediction_coverage(name: str) -> pd.DataFrame:
    """What each model's stored predictions on ``name`` cover, one row per model (stale ones too).

    Columns: model, scored (frames in its errors), refused (frames it raised on, stored as NaN),
    not_seen (frames added or changed since it ran), status ('current', or why it is left out).
    """
    scored = _scored_frames(name)
    refused = {m: int(info["count"]) for m, info in refused_frames(name).items()}
    unseen = unseen_frames(name)
    rows = [{"model": str(m), "scored": int(scored[m]), "refused": refused.get(str(m), 0), "not_seen": unseen.get(str(m), 0),
             "status": "current"} for m in scored.index]
    rows += [{"model": m, "scored": 0, "refused": 0, "not_seen": 0, "status": f"left out: {why}"}
             for m, why in stale_predictions(name).items()]
    return pd.DataFrame(rows, columns=["model", "scored", "refused", "not_seen", "status"]).sort_values("model", ignore_index=True)
