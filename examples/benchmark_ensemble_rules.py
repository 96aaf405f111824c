"""Ensemble selection rules compared offline, on what real timed searches left behind.

Every idea for choosing an ensemble's members differently otherwise costs a benchmark
run of its own (half an hour at 30 s per task-seed). This one separates the search from
the choice, as replay does for search policies. ``run`` fits once per task-seed of
peerbench's splits (``--budget`` seconds, one core), keeps the inputs of the fit's
ensemble step (the kept trials' out-of-fold predictions and scores, by wrapping
autometa's internal ``ensemble_or_refit``: a research hook, not an API), refits *every*
kept trial on all rows and stores its predictions of the held-out split: one ``.npz``
per task-seed. ``report`` then applies each rule to those files in seconds and scores
its ensemble on the held-out split against the search's best alone (what
``ensemble=False`` returns), with the harness's metrics and issue 16's criteria:

- ``main``: autometa's own selection (:func:`autometa.search._ensemble.select_ensemble`),
  what a fit returns when no member is dropped for time;
- ``gate``: ``main``'s selection only when a nested 5-fold cross-validation over the
  validation rows says greedy selection predicts the left-out rows better than taking
  the best candidate of the other rows; otherwise the search's best alone;
- ``geo`` (classification): greedy selection over log-probabilities, so the ensemble is
  the normalised geometric mean of its members' probabilities (for a binary task, the
  mean of their logits) rather than their arithmetic mean;
- ``prior``: greedy selection with one more candidate, the prior (the training rows'
  mean target, or class frequencies), so an ensemble can shrink towards it where the
  trials predict little.

A binary ensemble selected by a ranking scorer is calibrated on its out-of-fold
predictions, as a fit calibrates it. Two shards, each on one core::

    for s in 0 1; do
        OMP_NUM_THREADS=1 taskset -c $s python examples/benchmark_ensemble_rules.py run \\
            DATA_DIR --peerbench ../shared/peerbench --budget 30 --seeds 0 1 \\
            --out results/rules30 --shard $s/2 &
    done; wait
    python examples/benchmark_ensemble_rules.py report results/rules30 --peerbench \\
        ../shared/peerbench

``report --bootstrap N`` also tells which of ``main``'s differences from the single best
stand out of the noise of the held-out split: their standard error over ``N`` paired
bootstrap resamples of its rows, which on a split of a few dozen rows is larger than
issue 16's tolerance.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from benchmark_ensemble_timed import run, run_and_report
from benchmark_ensemble_variants import (
    Weights,
    fit_keeping_inputs,
    greedy,
    harness_metrics,
    platt_calibrated,
    refitted,
)
from benchmark_peerbench_ensembles import TOLERANCE
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold

from autometa.contract import Config, Evaluation
from autometa.search._calibration import ranks_only
from autometa.search._ensemble import (
    KeptTrial,
    _safe_score,
    keep_rank,
    select_ensemble,
    weighted_predictions,
)
from autometa.search._out_of_fold import predict_for_ensemble

NESTED_FOLDS = 5
"""Folds of the validation rows for ``gate``'s nested check."""
PRIOR = -1
"""The trial number ``prior`` gives the prior among the candidates."""
LOG_FLOOR = 1e-6
"""Probabilities are floored here before ``geo`` takes their logarithm."""


def measure(
    path: Path, kind: str, seed: int, args: argparse.Namespace, harness: Any
) -> dict[str, Any]:
    """One timed fit; its ensemble inputs and every kept trial's held-out predictions
    saved beside the JSON record as ``NAME-sSEED.npz``."""
    X, X_test, y, y_test, kind, classes, _ = harness.load_data(str(path), "target", kind, seed)
    started = time.monotonic()
    result, kept = fit_keeping_inputs(X, y, kind, seed, {"timeout": args.budget})
    fit_seconds = time.monotonic() - started
    task, algorithms, store = kept["task"], kept["algorithms"], kept["store"]
    candidates = sorted(store.kept.values(), key=lambda c: c.number)
    X_held_out = result.schema_.transform(X_test)
    held_out = []
    for candidate in candidates:
        estimator = refitted(algorithms, task, candidate.evaluation.config)
        held_out.append(predict_for_ensemble(estimator, X_held_out, task.classes))
    name = path.name.split(".")[0]
    np.savez_compressed(
        args.out / f"{name}-s{seed}.npz",
        oof=np.stack([c.predictions for c in candidates]),
        held_out=np.stack(held_out).astype(np.float32),
        numbers=np.array([c.number for c in candidates]),
        scores=np.array([c.evaluation.score for c in candidates]),
        fit_times=np.array([c.evaluation.fit_time for c in candidates]),
        y_valid=task.y[store.rows],
        y_test=np.asarray(y_test),
        classes=np.array([]) if task.classes is None else np.asarray(task.classes),
        harness_classes=0 if classes is None else len(classes),
        kind=kind,
        scoring=task.scoring,
        size=kept["size"],
    )
    return {
        "dataset": name,
        "task": kind,
        "seed": seed,
        "trials": len(result.evaluations_),
        "kept": len(candidates),
        "validation_rows": len(store.rows),
        "fit_seconds": fit_seconds,
    }


def prior_of(
    y: np.ndarray, classes: np.ndarray | None, scoring: str, n_test: int
) -> tuple[KeptTrial, np.ndarray]:
    """The prior as a candidate: the mean target (a regression) or the class frequencies,
    predicted out of fold over :data:`NESTED_FOLDS` folds of the validation rows ``y``;
    and its held-out prediction, their mean over the validation rows (every row under
    k-fold CV; the file keeps no other)."""
    if classes is None:
        targets = y.astype(float).reshape(-1, 1)
    else:
        targets = (y.reshape(-1, 1) == classes.reshape(1, -1)).astype(float)
    out_of_fold = np.zeros_like(targets)
    for train, test in KFold(NESTED_FOLDS, shuffle=True, random_state=0).split(targets):
        out_of_fold[test] = targets[train].mean(axis=0)
    held_out = np.tile(targets.mean(axis=0), (n_test, 1))
    if classes is None:
        out_of_fold, held_out = out_of_fold.ravel(), held_out.ravel()
    score = _safe_score(scoring, out_of_fold, y, classes)
    prior = KeptTrial(PRIOR, Evaluation("prior", Config("prior"), score, 0.0), out_of_fold)
    return prior, held_out.astype(np.float32)


@dataclass
class Captured:
    """One task-seed's ``.npz``: the ensemble step's inputs and the held-out answers."""

    name: str
    kind: str
    scoring: str
    classes: np.ndarray | None
    candidates: list[KeptTrial]
    held_out: dict[int, np.ndarray]
    """Trial number -> its refit's predictions of the held-out split."""
    y: np.ndarray
    y_test: np.ndarray
    harness_classes: int
    size: int
    prior: KeptTrial
    """The prior as one more candidate (:func:`prior_of`); ``held_out`` holds its answers."""

    @classmethod
    def load(cls, path: Path) -> Captured:
        data = np.load(path, allow_pickle=False)
        numbers = [int(n) for n in data["numbers"]]
        candidates = [
            # The configuration itself is not needed to select: its trial number stands in.
            KeptTrial(
                number,
                Evaluation(path.stem, Config(f"trial {number}"), float(score), float(seconds)),
                predictions,
            )
            for number, score, seconds, predictions in zip(
                numbers, data["scores"], data["fit_times"], data["oof"], strict=True
            )
        ]
        classes = None if data["classes"].size == 0 else data["classes"]
        scoring = str(data["scoring"])
        prior, prior_held_out = prior_of(data["y_valid"], classes, scoring, len(data["y_test"]))
        return cls(
            name=path.stem,
            kind=str(data["kind"]),
            scoring=scoring,
            classes=classes,
            candidates=candidates,
            held_out={**dict(zip(numbers, data["held_out"], strict=True)), PRIOR: prior_held_out},
            y=data["y_valid"],
            y_test=data["y_test"],
            harness_classes=int(data["harness_classes"]),
            size=int(data["size"]),
            prior=prior,
        )

    @property
    def best_single(self) -> int:
        """The search's best trial, which a fit without an ensemble refits."""
        return max(self.candidates, key=lambda c: keep_rank(c.number, c.evaluation)).number

    def score(self, predictions: np.ndarray, rows: np.ndarray) -> float:
        return _safe_score(self.scoring, predictions[rows], self.y[rows], self.classes)


def rows_of(candidates: list[KeptTrial], rows: np.ndarray) -> list[KeptTrial]:
    return [KeptTrial(c.number, c.evaluation, c.predictions[rows]) for c in candidates]


def nested_folds(captured: Captured) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds of the validation rows, stratified when every class has enough rows."""
    rows = np.zeros(len(captured.y))
    if captured.classes is not None and np.unique(captured.y, return_counts=True)[1].min() >= (
        NESTED_FOLDS
    ):
        stratified = StratifiedKFold(NESTED_FOLDS, shuffle=True, random_state=0)
        return list(stratified.split(rows, captured.y))
    return list(KFold(NESTED_FOLDS, shuffle=True, random_state=0).split(rows))


def greedy_beats_best_candidate(captured: Captured) -> bool:
    """Whether greedy selection on four fifths of the validation rows predicts the last
    fifth better than the best candidate of those rows does, pooled over the folds."""
    by_number = {c.number: c for c in captured.candidates}
    shape = captured.candidates[0].predictions.shape
    by_greedy, by_best = np.zeros(shape), np.zeros(shape)
    for train, test in nested_folds(captured):
        inner = rows_of(captured.candidates, train)
        y = captured.y[train]
        best = max(
            inner, key=lambda c: _safe_score(captured.scoring, c.predictions, y, captured.classes)
        )
        selection = select_ensemble(inner, y, captured.scoring, captured.classes, captured.size)
        weights = (
            {best.number: 1.0}
            if selection is None or len(selection.weights) == 1
            else selection.weights
        )
        by_greedy[test] = weighted_predictions(rows_of(captured.candidates, test), weights)
        by_best[test] = by_number[best.number].predictions[test]
    everything = np.arange(len(captured.y))
    return captured.score(by_greedy, everything) > captured.score(by_best, everything)


def geometric(log_probabilities: np.ndarray) -> np.ndarray:
    """Probabilities from averaged log-probabilities (a row-wise softmax)."""
    shifted = np.exp(log_probabilities - log_probabilities.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True))


def to_log(predictions: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(predictions, dtype=float), LOG_FLOOR, None))


Pool = Callable[[np.ndarray], np.ndarray] | None
"""How a weighted sum of predictions (or of log-probabilities) becomes predictions."""


def rules(captured: Captured) -> dict[str, tuple[Weights, Pool]]:
    """Each rule's weights, and how it pools its members (None: their weighted mean)."""
    single = {captured.best_single: 1.0}
    selection = select_ensemble(
        captured.candidates, captured.y, captured.scoring, captured.classes, captured.size
    )
    main = single if selection is None else selection.weights
    chosen: dict[str, tuple[Weights, Pool]] = {
        "single": (single, None),
        "main": (main, None),
        "gate": (main if greedy_beats_best_candidate(captured) else single, None),
    }
    with_the_prior = select_ensemble(
        [*captured.candidates, captured.prior],
        captured.y,
        captured.scoring,
        captured.classes,
        captured.size,
    )
    chosen["prior"] = (main if with_the_prior is None else with_the_prior.weights, None)
    if captured.classes is not None:
        logs = [
            KeptTrial(c.number, c.evaluation, to_log(c.predictions)) for c in captured.candidates
        ]
        weights = greedy(
            logs, captured.y, captured.scoring, captured.classes, captured.size, pool=geometric
        )
        chosen["geo"] = (single if len(weights) == 1 else weights, geometric)
    return chosen


def combined(weights: Weights, pool: Pool, predictions: dict[int, np.ndarray]) -> np.ndarray:
    """``weights``' ensemble of ``predictions`` (trial number -> predictions), pooled by
    ``pool`` (None: their weighted mean)."""
    if pool is None:
        return np.sum([w * predictions[n].astype(float) for n, w in weights.items()], axis=0)
    return pool(np.sum([w * to_log(predictions[n]) for n, w in weights.items()], axis=0))


def held_out_metrics(
    captured: Captured, weights: Weights, pool: Pool, harness: Any, calibrated: bool
) -> dict[str, float]:
    """The harness's metrics of ``weights``' ensemble on the held-out split."""
    average = combined(weights, pool, captured.held_out)
    if calibrated:
        candidates = [*captured.candidates, captured.prior]
        validation = combined(weights, pool, {c.number: c.predictions for c in candidates})
        assert captured.classes is not None
        average = platt_calibrated(average, validation, captured.y, captured.classes)
    return harness_metrics(
        harness, captured.y_test, average, captured.classes, captured.harness_classes
    )


def bootstrap_difference(
    captured: Captured, weights: Weights, metric: str, resamples: int, seed: int = 0
) -> tuple[float, float]:
    """The held-out difference of ``weights``' ensemble from the single best (ROC AUC or
    R²) and its paired-bootstrap standard error, the noise of a test split this size
    (NaN, NaN when the score is undefined on the split).

    Platt calibration is monotone, so the uncalibrated average has the same ROC AUC."""
    ensemble = combined(weights, None, captured.held_out)
    single = captured.held_out[captured.best_single]
    y = captured.y_test

    def difference(rows: np.ndarray) -> float:
        if metric == "r2":
            return float(r2_score(y[rows], ensemble[rows]) - r2_score(y[rows], single[rows]))
        assert captured.classes is not None
        scores = []
        for predictions in (ensemble[rows], single[rows]):
            if len(captured.classes) == 2:
                positive = predictions[:, 1] if predictions.ndim == 2 else predictions
                scores.append(roc_auc_score(y[rows] == captured.classes[1], positive))
            else:
                normalized = predictions / predictions.sum(axis=1, keepdims=True)
                scores.append(
                    roc_auc_score(y[rows], normalized, multi_class="ovr", labels=captured.classes)
                )
        return float(scores[0] - scores[1])

    everything = np.arange(len(y))
    try:
        observed = difference(everything)
    except ValueError:  # undefined on this split: it misses a class
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        with contextlib.suppress(ValueError):  # a resample that misses a class
            differences.append(difference(rng.choice(everything, len(everything))))
    return observed, float(np.std(differences)) if len(differences) > 1 else math.nan


def print_bootstrap(bootstrapped: dict[str, tuple[float, float]], kinds: dict[str, str]) -> None:
    """How many of ``main``'s wins and losses against the single best stand out of the
    held-out split's noise (by more than two standard errors), on how many splits that
    noise is larger than the tolerance, and the z of each loss beyond it."""
    spread = {n: d for n, d in bootstrapped.items() if d[1] > 0}  # NaN and 0 compare False
    z = {n: difference / error for n, (difference, error) in spread.items()}
    noisy = sum(error > TOLERANCE[kinds[n]][1] for n, (_, error) in spread.items())
    print(
        f"paired bootstrap, main against single, {len(spread)} task-seeds where they differ: "
        f"{sum(v > 2 for v in z.values())} wins and {sum(v < -2 for v in z.values())} losses "
        f"beyond 2 standard errors; the standard error exceeds the tolerance on {noisy}"
    )
    for name in sorted(spread):
        if spread[name][0] < -TOLERANCE[kinds[name]][1]:
            print(f"  beyond the tolerance: {name} {spread[name][0]:+.3f}, z {z[name]:+.2f}")


def report(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.peerbench))
    import run_peer  # the harness's own metrics

    paths = sorted(args.results.glob("*.npz"))
    if not paths:
        raise SystemExit(f"{args.results} has no .npz file: run the 'run' command first")
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    kinds: dict[str, str] = {}
    members: dict[str, dict[str, int]] = {}
    bootstrapped: dict[str, tuple[float, float]] = {}
    for path in paths:
        captured = Captured.load(path)
        ranking = ranks_only(captured.scoring, captured.classes) and len(captured.candidates) > 1
        chosen = rules(captured)
        kinds[captured.name] = captured.kind
        members[captured.name] = {name: len(weights) for name, (weights, _) in chosen.items()}
        metrics[captured.name] = {
            name: held_out_metrics(captured, weights, pool, run_peer, ranking and name != "single")
            for name, (weights, pool) in chosen.items()
        }
        if args.bootstrap:
            metric = TOLERANCE[captured.kind][0]
            bootstrapped[captured.name] = bootstrap_difference(
                captured, chosen["main"][0], metric, args.bootstrap
            )
    classification = [name for name in metrics if kinds[name] != "regression"]
    print(f"{len(metrics)} task-seeds, {len(classification)} of them classification")
    print(
        f"{'rule':6} {'log loss lower':>15} {'mean change':>12} {'members':>8} "
        f"{'ROC AUC / R² wins, losses':>26} {'worse beyond tol.':>18}"
    )
    for rule in ("main", "gate", "geo", "prior"):
        scored = [name for name in metrics if rule in metrics[name]]
        lower = sum(
            metrics[n][rule]["log_loss"] < metrics[n]["single"]["log_loss"]
            for n in scored
            if n in classification
        )
        change = statistics.mean(
            metrics[n][rule]["log_loss"] / metrics[n]["single"]["log_loss"] - 1
            for n in scored
            if n in classification
        )
        wins = losses = 0
        worse = []
        for name in scored:
            metric, tolerance = TOLERANCE[kinds[name]]
            difference = metrics[name][rule][metric] - metrics[name]["single"][metric]
            if math.isnan(difference):  # undefined on a test split that misses a class
                continue
            wins, losses = wins + (difference > 0), losses + (difference < 0)
            if difference < -tolerance:
                worse.append(f"{name} {difference:+.3f}")
        n_classification = sum(n in classification for n in scored)
        size = statistics.median(members[n][rule] for n in scored)
        print(
            f"{rule:6} {lower:>9} of {n_classification:<3} {change:>+12.1%} {size:>8g} "
            f"{wins:>19}, {losses:<6} {len(worse):>18}"
        )
        for line in worse:
            print(f"{'':10}{line}")
    if args.bootstrap:
        print_bootstrap(bootstrapped, kinds)


def main() -> None:
    parser, _, reporter = run_and_report(
        __doc__.splitlines()[0],
        run_help="fit, refit every kept trial, save",
        report_help="every rule against the single best",
    )
    reporter.add_argument("--peerbench", type=Path, required=True, help="the harness's folder")
    reporter.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="N paired-bootstrap resamples of each held-out split: which of main's "
        "differences from the single best stand out of the split's noise",
    )
    args = parser.parse_args()
    run(args, measure) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
