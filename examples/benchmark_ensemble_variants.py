"""What an ensemble should predict with: refitted members, fold models, other selections.

Issue 16 asks whether the members' fold models should predict directly (averaging the
k fold models, AutoGluon's bagging: no refit) or the members be refitted on all rows
(what autometa does), decided by measurement; and every ensemble's selection could be
made differently. This benchmark answers both on the same search. Per task-seed of
peerbench's splits, one fit runs (``--budget`` seconds, or ``--n-trials``); the inputs of
its ensemble step (the kept trials' out-of-fold predictions, the task, the algorithms)
are kept by wrapping autometa's internal ``ensemble_or_refit``: a research hook, not an
API. Then, on the held-out split, each of these predicts:

- ``single``: the search's best configuration refitted on all rows (``ensemble=False``);
- ``refit``: the fit's own selection, members refitted on all rows (what a fit returns);
- ``folds``: the same members and weights, each member the average of its models of
  every fold of every repeat, fitted as the search fitted them;
- selections other than the fit's, members refitted: ``sorted5`` (greedy rounds started
  from the 5 best trials, Caruana et al. 2004's sorted initialisation), ``rounds50``
  (50 rounds, all kept, as auto-sklearn keeps them), ``top5`` (the 5 best trials, equal
  weights) and, for a binary task scored by ROC AUC, ``logloss`` (selected by log loss).

A binary ensemble selected by a ranking scorer is calibrated on its out-of-fold
predictions as a fit calibrates it. ``report`` prints, per variant, the classification
task-seeds whose held-out log loss is below ``single``'s, the mean relative change of
log loss, the task-seeds worse than ``single`` beyond issue 16's tolerance (ROC AUC,
R²), and what the fold models cost against the refits. Two shards, each on one core::

    for s in 0 1; do
        OMP_NUM_THREADS=1 taskset -c $s python examples/benchmark_ensemble_variants.py run \\
            DATA_DIR --peerbench ../shared/peerbench --budget 120 --seeds 2 3 \\
            --out results/variants --shard $s/2 &
    done; wait
    python examples/benchmark_ensemble_variants.py report results/variants
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from benchmark_ensemble_timed import SCORING, run, run_and_report
from benchmark_peerbench_ensembles import TOLERANCE

import autometa
import autometa._fit_run as fit_run
from autometa.search._calibration import calibrate, fit_platt, ranks_only
from autometa.search._ensemble import (
    KeptTrial,
    PrecomputedClassifier,
    _safe_score,
    select_ensemble,
    weighted_predictions,
)
from autometa.search._out_of_fold import predict_for_ensemble

Weights = dict[int, float]
"""Trial number -> weight."""


def greedy(
    candidates: Sequence[KeptTrial],
    y: np.ndarray,
    scoring: str,
    classes: np.ndarray | None,
    rounds: int,
    start: int = 0,
    keep_all: bool = False,
    pool: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Weights:
    """Greedy selection with replacement started from the ``start`` best candidates;
    the best prefix of the rounds, or all of them with ``keep_all``. ``pool`` maps an
    average of the candidates' predictions to what is scored (default: the average)."""

    def score(average: np.ndarray) -> float:
        return _safe_score(scoring, average if pool is None else pool(average), y, classes)

    ranked = sorted(candidates, key=lambda c: -score(c.predictions))
    picks = [c.number for c in ranked[:start]]
    total = np.zeros(candidates[0].predictions.shape)
    for started_with in ranked[:start]:
        total += started_with.predictions
    history = []
    for _ in range(rounds):
        n = len(picks) + 1
        scored = [(score((total + c.predictions) / n), c) for c in candidates]
        best, chosen = max(scored, key=lambda pair: pair[0])
        picks.append(chosen.number)
        total = total + chosen.predictions
        history.append(best)
    kept = len(picks) if keep_all else start + 1 + int(np.argmax(history))
    weights: Weights = {}
    for number in picks[:kept]:
        weights[number] = weights.get(number, 0.0) + 1.0 / kept
    return weights


def selections(
    candidates: Sequence[KeptTrial], y: np.ndarray, scoring: str, classes: np.ndarray | None
) -> dict[str, Weights]:
    """The fit's own selection and the variants, each as weights."""
    own = select_ensemble(candidates, y, scoring, classes, size=20)
    if own is None:
        raise ValueError("no kept trial's predictions could be scored")
    top = sorted(candidates, key=lambda c: (-c.evaluation.score, c.evaluation.fit_time))[:5]
    chosen = {
        "single": {own.best_single: 1.0},
        "refit": own.weights,
        "sorted5": greedy(candidates, y, scoring, classes, 20, start=5),
        "rounds50": greedy(candidates, y, scoring, classes, 50, keep_all=True),
        "top5": {c.number: 1.0 / len(top) for c in top},
    }
    if ranks_only(scoring, classes):
        chosen["logloss"] = greedy(candidates, y, "neg_log_loss", classes, 20)
    return chosen


def refitted(algorithms: Any, task: Any, config: Any, rows: np.ndarray | None = None) -> Any:
    """``config``'s estimator fitted on the task's ``rows`` (all of them by default)."""
    estimator = algorithms[config.algorithm].make_estimator(config.params, task)
    if rows is None:
        return estimator.fit(task.X, task.y)
    return estimator.fit(task.X.iloc[rows], task.y[rows])


def platt_calibrated(
    held_out: np.ndarray, validation: np.ndarray, y_valid: np.ndarray, classes: np.ndarray
) -> np.ndarray:
    """A binary ensemble's ``held_out`` probabilities calibrated as a fit calibrates them:
    Platt scaling fitted on the ensemble's ``validation`` predictions."""
    platt = fit_platt(validation, y_valid == classes[1])
    return held_out if platt.parameters is None else calibrate(held_out, *platt.parameters)


def harness_metrics(
    harness: Any, y_test: Any, predictions: np.ndarray, classes: np.ndarray | None, n_classes: int
) -> dict[str, float]:
    """Peerbench's metrics of held-out ``predictions`` (probabilities in ``classes``' order,
    or regression values), with the harness's own columns, clipping and scaling, read off
    an estimator answering with these probabilities (row numbers stand in for X)."""
    if classes is None:
        return dict(harness.reg_metrics(y_test, predictions))
    answers = PrecomputedClassifier(predictions, classes)
    rows = np.arange(len(predictions)).reshape(-1, 1)
    return dict(harness.clf_metrics(y_test, harness.full_proba(answers, rows, n_classes)))


def fit_keeping_inputs(
    X: Any, y: Any, kind: str, seed: int, budget: Mapping[str, float]
) -> tuple[Any, dict[str, Any]]:
    """``autometa.fit`` as peerbench calls it (one core, the kind's scoring), and the
    inputs of its ensemble step: ``task``, ``algorithms``, ``store`` (the kept trials'
    out-of-fold predictions) and ``size`` (the most greedy rounds)."""
    kept: dict[str, Any] = {}
    ensemble_or_refit = fit_run.ensemble_or_refit

    def keeping_inputs(task: Any, algorithms: Any, evaluations: Any, *rest: Any) -> Any:
        # rest: budget, store, ensemble_size (autometa.search._refit.ensemble_or_refit)
        kept.update(task=task, algorithms=algorithms, store=rest[1], size=rest[2])
        return ensemble_or_refit(task, algorithms, evaluations, *rest)

    fit_run.ensemble_or_refit = keeping_inputs
    try:
        result = autometa.fit(
            X, y, kind=kind, random_state=seed, n_jobs=1, scoring=SCORING[kind], **budget
        )
    finally:
        fit_run.ensemble_or_refit = ensemble_or_refit
    return result, kept


def measure(
    path: Path, kind: str, seed: int, args: argparse.Namespace, harness: Any
) -> dict[str, Any]:
    """One fit, then every variant's held-out metrics (peerbench's ``run_peer`` metrics)."""
    X, X_test, y, y_test, kind, classes, _ = harness.load_data(str(path), "target", kind, seed)
    budget = {"n_trials": args.n_trials} if args.n_trials else {"timeout": args.budget}
    result, kept = fit_keeping_inputs(X, y, kind, seed, budget)
    task, algorithms, store = kept["task"], kept["algorithms"], kept["store"]
    candidates = sorted(store.kept.values(), key=lambda c: c.number)
    y_valid = task.y[store.rows]
    chosen = selections(candidates, y_valid, task.scoring, task.classes)
    X_held_out = result.schema_.transform(X_test)
    splits = list(task.cv.split(task.X, task.y, task.groups))
    by_number = {c.number: c for c in candidates}
    refits: dict[int, np.ndarray] = {}
    folds: dict[int, np.ndarray] = {}
    seconds: dict[str, dict[int, float]] = {"refit": {}, "folds": {}}

    def fitted_on(number: int, rows: np.ndarray | None) -> Any:
        return refitted(algorithms, task, by_number[number].evaluation.config, rows)

    for number in set().union(*chosen.values()):
        started = time.process_time()
        refits[number] = predict_for_ensemble(fitted_on(number, None), X_held_out, task.classes)
        seconds["refit"][number] = time.process_time() - started
    members = set(chosen["refit"])
    for number in members:
        started = time.process_time()
        folds[number] = np.mean(
            [
                predict_for_ensemble(fitted_on(number, np.asarray(train)), X_held_out, task.classes)
                for train, _ in splits
            ],
            axis=0,
        )
        seconds["folds"][number] = time.process_time() - started
    calibrated = ranks_only(task.scoring, task.classes) and len(candidates) >= 2

    def held_out(weights: Weights, predictions: Mapping[int, np.ndarray], name: str) -> Any:
        average = np.sum([w * predictions[n] for n, w in weights.items()], axis=0)
        if calibrated and name not in ("single", "logloss"):
            validation = weighted_predictions(candidates, weights)
            average = platt_calibrated(average, validation, y_valid, task.classes)
        n_classes = 0 if classes is None else len(classes)  # the harness's classes
        return harness_metrics(harness, y_test, average, task.classes, n_classes)

    metrics = {name: held_out(w, refits, name) for name, w in chosen.items()}
    metrics["folds"] = held_out(chosen["refit"], folds, "folds")
    return {
        "dataset": path.name.split(".")[0],
        "task": kind,
        "seed": seed,
        "trials": len(result.evaluations_),
        "kept": len(candidates),
        "fold_models": len(splits),
        "members": {name: len(w) for name, w in chosen.items()},
        "metrics": metrics,
        # The fit's members: what refitting them cost against fitting their fold models.
        "cpu_seconds": {way: sum(seconds[way][n] for n in members) for way in seconds},
    }


def report(args: argparse.Namespace) -> None:
    results = [json.loads(p.read_text()) for p in sorted(args.results.glob("*.json"))]
    results = [r for r in results if "error" not in r]
    if not results:
        raise SystemExit(f"no task-seed of {args.results} has results")
    classification = [r for r in results if r["task"] != "regression"]
    variants = sorted({name for r in results for name in r["metrics"]} - {"single"})
    print(f"{len(results)} task-seeds, {len(classification)} of them classification")
    print(f"{'variant':10} {'log loss lower':>15} {'mean change':>12} {'worse beyond tol.':>18}")
    for name in variants:
        scored = [r for r in classification if name in r["metrics"]]
        lower = sum(
            r["metrics"][name]["log_loss"] < r["metrics"]["single"]["log_loss"] for r in scored
        )
        change = statistics.mean(
            r["metrics"][name]["log_loss"] / r["metrics"]["single"]["log_loss"] - 1 for r in scored
        )
        worse = []
        for r in results:
            metric, tolerance = TOLERANCE[r["task"]]
            if name in r["metrics"]:
                difference = r["metrics"][name][metric] - r["metrics"]["single"][metric]
                if difference < -tolerance:  # NaN (an undefined score) is never beyond it
                    worse.append(f"{r['dataset']} s{r['seed']} {difference:+.3f}")
        print(f"{name:10} {lower:>9} of {len(scored):<3} {change:>+12.1%} {len(worse):>18}")
        for line in worse:
            print(f"{'':14}{line}")
    refit = sum(r["cpu_seconds"]["refit"] for r in results)
    folds = sum(r["cpu_seconds"]["folds"] for r in results)
    print(
        f"CPU seconds, the fit's members over all task-seeds: refitted on all rows {refit:.0f}, "
        f"their fold models {folds:.0f} ({folds / refit:.1f} times; "
        f"{statistics.median(r['fold_models'] for r in results)} fold models per member, median)"
    )


def main() -> None:
    parser, runner, _ = run_and_report(
        __doc__.splitlines()[0],
        run_help="fit and score; a JSON file per task-seed",
        report_help="the variants against the single best",
    )
    runner.add_argument("--n-trials", type=int, default=0, help="trials instead of --budget")
    args = parser.parse_args()
    run(args, measure) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
