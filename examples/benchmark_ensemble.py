"""Ensemble or single refit: held-out score, fit and prediction time, model size.

On a few datasets scikit-learn ships, each split once per seed into a training part and
a held-out test part, the same search is run twice (``n_trials`` trials, ``n_jobs=1``,
the same ``random_state``): once with ``ensemble=True`` (the default), once with
``ensemble=False`` (the single best configuration refitted). With a fixed number of
trials and one job the two searches try the same configurations and get the same
scores, so the difference is the ensemble alone. Times are compared as ratios within
this run, not against a fixed number. The table is in Markdown::

    .venv/bin/python examples/benchmark_ensemble.py            # 30 trials, seeds 0 and 1
    .venv/bin/python examples/benchmark_ensemble.py --n-trials 10 --seeds 0

``OMP_NUM_THREADS=1`` in front keeps OpenMP models (histogram gradient boosting) on one
core, as ``n_jobs=1`` does for the search. "ensemble s" is the time the ensemble step
(selection and the members' refits) took inside the ensemble fit (``ensemble_.seconds``).

The score is the fit's own scoring (ROC AUC for binary, log loss for multiclass, R² for
regression; greater is better, so log loss is negated), on the held-out part.
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.metrics import get_scorer
from sklearn.model_selection import train_test_split

import autometa

# Runs are compared: none may learn from an earlier run's fits through the user's own
# knowledge base (the default layer over the shipped one).
os.environ.setdefault("AUTOMETA_USER_KNOWLEDGE", "off")


def _digits() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_digits(return_X_y=True, as_frame=True)
    keep = np.random.default_rng(0).choice(len(y), size=600, replace=False)
    return X.iloc[keep].reset_index(drop=True), y.iloc[keep].reset_index(drop=True)


def _bundled(loader: Callable[..., Any]) -> Callable[[], tuple[pd.DataFrame, pd.Series]]:
    def load() -> tuple[pd.DataFrame, pd.Series]:
        X, y = loader(return_X_y=True, as_frame=True)
        return X, y

    return load


DATASETS: dict[str, Callable[[], tuple[pd.DataFrame, pd.Series]]] = {
    "breast_cancer": _bundled(load_breast_cancer),
    "wine": _bundled(load_wine),
    "digits_600": _digits,
    "diabetes": _bundled(load_diabetes),
}


def run_one(
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    *,
    ensemble: bool,
    seed: int,
    n_trials: int,
) -> dict[str, Any]:
    """Fit once; return the held-out score, fit and prediction seconds and sizes."""
    started = time.perf_counter()
    model = autometa.fit(
        X_train, y_train, n_trials=n_trials, random_state=seed, n_jobs=1, ensemble=ensemble
    )
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    repeats = 5
    for _ in range(repeats):
        model.predict_proba(X_test) if hasattr(model, "predict_proba") else model.predict(X_test)
    predict_s = (time.perf_counter() - started) / repeats
    summary = model.ensemble_
    return {
        "scoring": model.scoring_,
        "test_score": float(get_scorer(model.scoring_)(model, X_test, y_test)),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "model_kb": len(pickle.dumps(model.model_)) / 1024,
        "pickle_kb": len(pickle.dumps(model)) / 1024,
        "members": len(summary.members) if summary is not None else 1,
        "ensemble_s": summary.seconds if summary is not None else 0.0,
        "valid_ens": summary.score if summary is not None and summary.members else np.nan,
        "valid_single": summary.best_single_score if summary is not None else np.nan,
    }


def markdown(table: pd.DataFrame) -> str:
    """The table in Markdown (numbers to 4 significant digits), without extra packages."""

    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        X, y = DATASETS[name]()
        classification = name != "diabetes"
        for seed in args.seeds:
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=0.25, random_state=seed, stratify=y if classification else None
            )
            single = run_one(
                X_train, y_train, X_test, y_test, ensemble=False, seed=seed, n_trials=args.n_trials
            )
            ens = run_one(
                X_train, y_train, X_test, y_test, ensemble=True, seed=seed, n_trials=args.n_trials
            )
            rows.append(
                {
                    "dataset": name,
                    "seed": seed,
                    "scoring": ens["scoring"],
                    "test single": single["test_score"],
                    "test ensemble": ens["test_score"],
                    "gain": ens["test_score"] - single["test_score"],
                    "members": ens["members"],
                    "valid single/ens": f"{ens['valid_single']:.4f}/{ens['valid_ens']:.4f}",
                    "fit s single": single["fit_s"],
                    "fit ratio": ens["fit_s"] / single["fit_s"],
                    "ensemble s": ens["ensemble_s"],
                    "predict ratio": ens["predict_s"] / single["predict_s"],
                    "model KB single": single["model_kb"],
                    "model KB ens": ens["model_kb"],
                    "pickle KB single": single["pickle_kb"],
                    "pickle KB ens": ens["pickle_kb"],
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print()
    print(markdown(table))
    wins = int((table["gain"] > 0).sum())
    ties = int((table["gain"] == 0).sum())
    print(
        f"\nensemble better on {wins}, equal on {ties}, worse on {len(table) - wins - ties} of "
        f"{len(table)} runs; median gain {table['gain'].median():.4g}; median fit-time ratio "
        f"{table['fit ratio'].median():.3g}, prediction-time ratio "
        f"{table['predict ratio'].median():.3g}"
    )


if __name__ == "__main__":
    main()
