"""Held-out ROC AUC and log loss of binary fits: calibrated ensemble, raw ensemble, single model.

On 8 binary corpus tasks of 300 to 5,000 rows (chosen by size alone, evenly spread over
the sorted sizes), each split 75/25 stratified per seed, one ``autometa.fit`` with the
ensemble (scoring ROC AUC, the binary default) gives:

- ``cal``: the ensemble as fitted, its probabilities Platt-calibrated;
- ``raw``: the same ensemble with the calibration switched off (``calibration=None`` on
  a copy of its ``WeightedEnsemble``), i.e. the ensemble before calibration existed;
- ``single``: ``ensemble=False``'s model, the best configuration refitted alone. It is
  built from the same fit (``SearchSpace.estimator(best_config_)`` fitted on the
  training rows) rather than a second search: the search does not depend on
  ``ensemble`` (tests/test_ensemble.py checks both), and this halves the run time.

It prints one row per task-seed and the counts of task-seeds where the ensemble's log
loss beats the single model's, with and without calibration.

    PYTHONPATH=.:plugins python examples/benchmark_calibration.py --trials 20 --seeds 0 1
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

import autometa
from autometa.knowledge._corpus import read_table
from autometa.search._ensemble_model import WeightedEnsemble

# Runs are compared: none may learn from an earlier run's fits through the user's own
# knowledge base (the default layer over the shipped one).
os.environ.setdefault("AUTOMETA_USER_KNOWLEDGE", "off")

CORPUS = Path("/work/shared/corpus")


def pick_tasks(corpus: Path, n: int, low: int = 300, high: int = 5000) -> list[dict[str, Any]]:
    """``n`` binary tasks of ``low`` to ``high`` rows, evenly spread over the sorted sizes."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    binary = sorted(
        (t for t in manifest if t["task"] == "binary" and low <= t["n_rows"] <= high),
        key=lambda t: (t["n_rows"], t["name"]),
    )
    positions = np.linspace(0, len(binary) - 1, n).round().astype(int)
    return [binary[i] for i in positions]


def uncalibrated(model: Any) -> Any:
    """A copy of a fitted autometa model whose ensemble's calibration is switched off."""
    raw = copy.copy(model)
    if isinstance(model.model_, WeightedEnsemble):
        raw.model_ = copy.copy(model.model_)
        raw.model_.calibration = None
    return raw


def scores(model: Any, X: Any, y: Any) -> tuple[float, float]:
    """Held-out ROC AUC and log loss."""
    proba = model.predict_proba(X)
    positive = np.asarray(y) == model.classes_[1]
    return roc_auc_score(positive, proba[:, 1]), log_loss(positive, proba[:, 1], labels=[0, 1])


def run(task: dict[str, Any], seed: int, trials: int) -> dict[str, Any]:
    X, y = read_table(CORPUS / "data" / f"{task['name']}.csv.gz", "target")
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    started = time.monotonic()
    model = autometa.fit(Xtr, ytr, kind="binary", n_trials=trials, random_state=seed, n_jobs=1)
    seconds = time.monotonic() - started
    space = autometa.SearchSpace(Xtr, ytr, kind="binary", random_state=seed)
    single = space.estimator(model.best_config_).fit(Xtr, ytr)
    summary = model.ensemble_
    row: dict[str, Any] = {
        "task": task["name"],
        "rows": task["n_rows"],
        "seed": seed,
        "members": len(summary.members) if summary else 0,
        "a": summary.calibration[0] if summary and summary.calibration else float("nan"),
        "seconds": seconds,
    }
    for name, fitted in (("cal", model), ("raw", uncalibrated(model)), ("single", single)):
        row[f"auc_{name}"], row[f"ll_{name}"] = scores(fitted, Xte, yte)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--tasks", type=int, default=8)
    args = parser.parse_args()
    header = (
        f"{'task':<30}{'rows':>6}{'seed':>5}{'m':>3}{'a':>6}  "
        f"{'AUC cal':>8}{'AUC 1':>8}  {'LL cal':>7}{'LL raw':>7}{'LL 1':>7}{'s':>6}"
    )
    print(header, flush=True)
    rows = []
    for task in pick_tasks(CORPUS, args.tasks):
        for seed in args.seeds:
            r = run(task, seed, args.trials)
            rows.append(r)
            print(
                f"{r['task']:<30}{r['rows']:>6}{r['seed']:>5}{r['members']:>3}{r['a']:>6.2f}  "
                f"{r['auc_cal']:>8.4f}{r['auc_single']:>8.4f}  {r['ll_cal']:>7.4f}"
                f"{r['ll_raw']:>7.4f}{r['ll_single']:>7.4f}{r['seconds']:>6.0f}",
                flush=True,
            )
    n = len(rows)
    better_cal = sum(r["ll_cal"] < r["ll_single"] for r in rows)
    better_raw = sum(r["ll_raw"] < r["ll_single"] for r in rows)
    worst_auc = min(r["auc_cal"] - r["auc_single"] for r in rows)
    print(
        f"ensemble log loss better than the single model's: calibrated {better_cal}/{n}, "
        f"uncalibrated {better_raw}/{n}; worst ROC AUC difference (ensemble - single) "
        f"{worst_auc:+.4f}"
    )


if __name__ == "__main__":
    main()
