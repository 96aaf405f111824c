"""The leaderboard: every trial of a fit as one row of a DataFrame.

AutoGluon users call ``predictor.leaderboard()`` and FLAML users read
``automl.config_history`` first after a fit; ``model.leaderboard()`` is autometa's. It
is built from what a fitted model keeps (``evaluations_``, ``recommendations_``,
``ensemble_``), not from the Optuna study, so a model loaded from a ``.skops`` file
(which leaves the study out) has the same leaderboard as the one that was saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from autometa.contract import Config, Evaluation, Recommendation

COLUMNS = (
    "rank",
    "algorithm",
    "params",
    "score",
    "fit_time",
    "status",
    "warm_start_rank",
    "ensemble_weight",
    "trial",
    "error",
)
"""The leaderboard's columns, in order."""


def leaderboard(
    evaluations: Sequence[Evaluation],
    recommendations: Sequence[Recommendation] = (),
    ensemble: Any | None = None,
) -> pd.DataFrame:
    """One row per evaluated configuration, best score first.

    Columns (:data:`COLUMNS`):

    - ``rank``: 1 = best; failed, capped and pruned trials come after every scored one;
    - ``algorithm`` and ``params`` (a dict, as :attr:`Config.params`);
    - ``score``: greater is better in the fit's scoring, NaN when the trial did not finish;
    - ``fit_time`` in seconds and ``status`` (``ok``, ``failed``, ``capped`` or
      ``pruned``);
    - ``warm_start_rank``: the configuration's place among the recommendations the search
      started from (0 = first, as the study's trial attribute of that name), missing when
      the sampler proposed it;
    - ``ensemble_weight``: its weight in the returned ensemble (0.0 when it is not a member
      or the model is a single configuration);
    - ``trial``: the order in which the trials finished, from 0; ``error``: why it failed.
    """
    warm_rank = _first_positions(r.config for r in recommendations)
    weights = _ensemble_weights(ensemble)
    rows = [
        {
            "algorithm": e.config.algorithm,
            "params": dict(e.config.params),
            "score": e.score if e.ok else np.nan,
            "fit_time": e.fit_time,
            "status": e.status,
            "warm_start_rank": warm_rank.get(e.config),
            "ensemble_weight": weights.get(e.config, 0.0),
            "trial": number,
            "error": e.error,
        }
        for number, e in enumerate(evaluations)
    ]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "rank"])
    scored = frame["score"].notna()
    frame = frame.assign(_unscored=~scored).sort_values(
        ["_unscored", "score", "fit_time", "trial"],
        ascending=[True, False, True, True],
        kind="stable",
    )
    frame = frame.drop(columns="_unscored").reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    frame["warm_start_rank"] = frame["warm_start_rank"].astype("Int64")
    return frame


def _first_positions(configs: Any) -> dict[Config, int]:
    """0-based position of each configuration's first appearance."""
    positions: dict[Config, int] = {}
    for position, config in enumerate(configs):
        positions.setdefault(config, position)
    return positions


def _ensemble_weights(ensemble: Any | None) -> dict[Config, float]:
    """Each member configuration's total weight (a configuration may be picked twice)."""
    weights: dict[Config, float] = {}
    for member in getattr(ensemble, "members", ()) if ensemble is not None else ():
        weights[member.config] = weights.get(member.config, 0.0) + float(member.weight)
    return weights
