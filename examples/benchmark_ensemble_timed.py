"""Ensembles against the single best of the same timed search, on peerbench's splits.

Issue 16 compares autometa with and without ensembles as two systems, and two timed
searches are never the same search: with a 120 s budget many task-seeds differ by what
each search happened to reach, not by the ensemble. This benchmark isolates the
ensemble. Per task-seed, one timed fit (ensembles on, the default) runs in a durable
SQLite study; then the same study is fitted again with ``ensemble=False`` and no trial
left to run, which refits the study's best configuration on all rows: what a fit
without ensembles returns after the same search. Both models are scored on the held-out
split of ``../shared/peerbench`` (its own ``load_data``, so the split is the harness's).

``run`` writes one JSON file per task-seed (skipped when it exists, so a run resumes);
``report`` prints issue 16's criteria on them: the share of classification task-seeds
whose held-out log loss is lower with the ensemble, the task-seeds worse by more than
0.005 ROC AUC or 0.01 R², and the ensemble's prediction time and size against the
single model's. Two shards, each on one core::

    for s in 0 1; do
        OMP_NUM_THREADS=1 taskset -c $s python examples/benchmark_ensemble_timed.py run \\
            DATA_DIR --peerbench ../shared/peerbench --budget 120 --seeds 0 1 \\
            --out results/ens120 --shard $s/2 &
    done; wait
    python examples/benchmark_ensemble_timed.py report results/ens120

``DATA_DIR`` holds ``NAME.csv.gz`` files with a ``target`` column and the task kinds in
``DATA_DIR/../manifest.json`` (peerbench's layout). ``AUTOMETA_KNOWLEDGE`` picks the
knowledge base (e.g. one that holds the benchmark's tasks out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmark_peerbench_ensembles import TOLERANCE, Pair, print_criteria
from benchmark_peerbench_heldout import PRIMARY, normalized_scores

import autometa

# The fits are compared: none may learn from another through the user's own knowledge base.
os.environ.setdefault("AUTOMETA_USER_KNOWLEDGE", "off")

SCORING = {"binary": "roc_auc", "multiclass": "neg_log_loss", "regression": "r2"}
"""The fit's scoring per kind, as peerbench gives autometa."""


def timed_predictions(model: Any, X: Any) -> float:
    started = time.perf_counter()
    model.predict(X)
    return time.perf_counter() - started


def run_one(
    path: Path, kind: str, seed: int, args: argparse.Namespace, harness: Any
) -> dict[str, Any]:
    """The ensemble fit and the single refit of its study, scored on the held-out split
    with the harness's own metrics (``harness`` is peerbench's ``run_peer`` module)."""
    X, X_test, y, y_test, kind, classes, _ = harness.load_data(str(path), "target", kind, seed)

    def held_out_metrics(model: Any) -> dict[str, float]:
        if kind == "regression":
            return dict(harness.reg_metrics(y_test, model.predict(X_test)))
        return dict(harness.clf_metrics(y_test, harness.full_proba(model, X_test, len(classes))))

    common: dict[str, Any] = dict(kind=kind, random_state=seed, n_jobs=1, scoring=SCORING[kind])
    with tempfile.TemporaryDirectory() as folder:
        study: dict[str, Any] = dict(
            storage=f"sqlite:///{folder}/study.db", study_name="timed", artifact_store=None
        )
        started = time.monotonic()
        with_ensemble = autometa.fit(X, y, timeout=args.budget, **common, **study)
        elapsed = time.monotonic() - started
        # No trial left to run (n_trials=1 <= the study's): the best configuration refitted.
        single = autometa.fit(X, y, n_trials=1, ensemble=False, **common, **study)
    summary = with_ensemble.ensemble_
    result: dict[str, Any] = {
        "dataset": path.name.split(".")[0],
        "task": kind,
        "seed": seed,
        "budget": args.budget,
        "elapsed": elapsed,
        "trials": len(with_ensemble.evaluations_),
        "members": 0 if summary is None else len(summary.members),
    }
    for name, model in (("with", with_ensemble), ("without", single)):
        result[name] = {
            "metrics": held_out_metrics(model),
            "predict_seconds": timed_predictions(model, X_test),
            "pickled_mb": len(pickle.dumps(model)) / 2**20,
        }
    return result


Measure = Callable[[Path, str, int, argparse.Namespace, Any], dict[str, Any]]
"""One task-seed's measurement: (data file, kind, seed, the run's arguments, peerbench's
``run_peer`` module) -> the JSON record to write."""


def run(args: argparse.Namespace, measure: Measure) -> None:
    """``measure`` every task-seed of this shard not measured yet, one JSON file each."""
    sys.path.insert(0, str(args.peerbench))
    import run_peer  # the harness's own split, column handling and metrics

    kinds = {
        e["name"]: e["task"] for e in json.loads((args.data / ".." / "manifest.json").read_text())
    }
    shard, shards = (int(part) for part in args.shard.split("/"))
    files = sorted(args.data.glob("*.csv.gz"))
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for index, path in enumerate(files):
            name = path.name.split(".")[0]
            target = args.out / f"{name}-s{seed}.json"
            if index % shards != shard or target.exists():
                continue
            try:
                result = measure(path, kinds[name], seed, args, run_peer)
            except Exception as exc:  # recorded, and the shard goes on with the next one
                result = {"dataset": name, "seed": seed, "error": f"{type(exc).__name__}: {exc}"}
            target.write_text(json.dumps(result, indent=1))
            print(name, seed, result.get("error", "done"), flush=True)


def run_and_report(
    description: str, run_help: str, report_help: str
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line of the benchmarks that use :func:`run`: the parser, and its two
    commands, ``run`` (whose arguments :func:`run` reads) and ``report RESULTS``, for a
    benchmark to add its own arguments to."""
    parser = argparse.ArgumentParser(description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help=run_help)
    runner.add_argument("data", type=Path, help="folder of NAME.csv.gz (kinds in ../manifest.json)")
    runner.add_argument("--peerbench", type=Path, required=True, help="the harness's folder")
    runner.add_argument("--budget", type=float, default=120.0, help="each fit's timeout, seconds")
    runner.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    runner.add_argument("--out", type=Path, required=True)
    runner.add_argument("--shard", default="0/1", help="i/n: the i-th of n interleaved shards")
    reporter = commands.add_parser("report", help=report_help)
    reporter.add_argument("results", type=Path)
    return parser, runner, reporter


def report(args: argparse.Namespace) -> None:
    results = [json.loads(p.read_text()) for p in sorted(args.results.glob("*.json"))]
    for failed in (r for r in results if "error" in r):
        print(f"  failed: {failed['dataset']} s{failed['seed']}: {failed['error']}")
    results = [r for r in results if "error" not in r]
    if not results:
        raise SystemExit(f"no task-seed of {args.results} has results")
    print_criteria(
        [
            Pair(f"{r['dataset']} seed {r['seed']}", r["task"], *metrics(r), r["members"])
            for r in results
        ]
    )
    outcomes = {"wins": 0, "ties": 0, "losses": 0, "not comparable": 0}
    for r in results:
        metric = TOLERANCE[r["task"]][0]
        on, off = metrics(r)
        difference = on[metric] - off[metric]
        if math.isnan(difference):  # e.g. a multiclass test split missing a class: no ROC AUC
            outcomes["not comparable"] += 1
            continue
        outcomes["wins" if difference > 0 else "ties" if difference == 0 else "losses"] += 1
    print(f"ROC AUC or R² with against without: {outcomes}")
    normalized = {"with": 0.0, "without": 0.0}
    for r in results:
        metric, sign, _ = PRIMARY[r["task"]]
        with_score, without_score = (sign * scored[metric] for scored in metrics(r))
        pair: dict[str, float | None] = {"with": with_score, "without": without_score}
        for name, value in normalized_scores(pair).items():
            normalized[name] += value
    print(
        "mean normalized primary score (ROC AUC, log loss, R²), with / without: "
        f"{normalized['with'] / len(results):.3f} / {normalized['without'] / len(results):.3f}"
    )
    for name in ("with", "without"):
        seconds = statistics.median(r[name]["predict_seconds"] for r in results)
        sizes = [r[name]["pickled_mb"] for r in results]
        print(
            f"{name}: median prediction time on the test split {seconds:.3f} s, median pickled "
            f"size {statistics.median(sizes):.2f} MB (largest {max(sizes):.1f} MB)"
        )
    over = max(r["elapsed"] - r["budget"] for r in results)
    members = statistics.median(r["members"] for r in results)
    print(
        f"{len(results)} task-seeds; most over the budget {over:+.1f} s; median members {members}"
    )


def metrics(result: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """A task-seed's held-out metrics with and without the ensemble."""
    return result["with"]["metrics"], result["without"]["metrics"]


def main() -> None:
    parser, _, _ = run_and_report(
        __doc__.splitlines()[0],
        run_help="fit and score; a JSON file per task-seed",
        report_help="issue 16's criteria on a run's folder",
    )
    args = parser.parse_args()
    run(args, run_one) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
