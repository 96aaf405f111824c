"""Search-level benchmark: autometa's warm-started search against cold Optuna TPE.

    python examples/benchmark_warm_start.py --corpus ../shared/corpus \\
        [--tasks abalone credit-g ...] [--seeds 0 1 2] [--n-trials 50] [--n-jobs 2] \\
        [--out results.json]

For each corpus task, the task is first removed from the shipped knowledge base (with
any duplicate: same kind and meta-features), so the meta-learners have never seen it.
Then, for each seed, two searches run with the same budget of ``--n-trials`` trials, the
same search space, the same validation (the strategy selector's protocol for the task)
and the same seed:

- ``warm``: ``autometa.fit`` as a user calls it (strategy, warm starts, sampler);
- ``cold``: the same call with ``warm_start=0`` and ``sampler="tpe"``: Optuna's TPE
  from scratch.

The best-so-far validation score after each trial is turned into a normalized regret
per task: 0 is the best score any run found on the task, 1 the worst ok score any run
saw (HPO-B's convention, with the runs themselves as the reference). The table gives the
mean over tasks and seeds after 1, 5, 10, 25 and 50 trials, and the script says whether
warm after 10 trials is at least as good as cold after 50.

Datasets larger than ``--max-rows`` are subsampled (stratified for classification,
seeded) so the benchmark fits in an hour on two cores; the shipped knowledge base was
built with the same cap. Without ``--tasks``, a fixed, spread-out selection of the
corpus is used: every ``len(tasks) // --n-tasks``-th of the shipped knowledge base's
tasks in name order. ``--n-jobs`` runs tasks in parallel (each search itself uses one
core, as in the shipped base's build).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.model_selection import train_test_split

import autometa
from autometa.datasets import read_table
from autometa.knowledge import KnowledgeBase
from autometa.types import Evaluation, Strategy

CHECKPOINTS = (1, 5, 10, 25, 50)
ARMS = ("warm", "cold")


def held_out_knowledge(task_name: str, folder: Path) -> KnowledgeBase:
    """The shipped knowledge base without ``task_name`` or its duplicates, read-only.

    Read-only, so the benchmark's own fits only learn from it: a fit given a writable
    knowledge base adds its evaluations, which would leak the task into the next seed.
    """
    shipped = KnowledgeBase.default()
    records = shipped.tasks()
    held = [r for r in records if r.name == task_name]
    if not held:
        raise SystemExit(f"{task_name!r} is not in the shipped knowledge base.")
    signature = {(r.kind, json.dumps(r.meta_features, sort_keys=True)) for r in held}
    keep = [
        r.task_id
        for r in records
        if (r.kind, json.dumps(r.meta_features, sort_keys=True)) not in signature
    ]
    path = folder / f"without-{task_name}.db"
    with KnowledgeBase.open(path) as copy:
        shipped.copy_into(copy, task_ids=keep)
    return KnowledgeBase.open(path, read_only=True, create=False)


def load(corpus: Path, entry: dict[str, Any], max_rows: int, seed: int) -> tuple[Any, Any]:
    X, y = read_table(corpus / "data" / f"{entry['name']}.csv.gz", "target")
    if len(X) > max_rows:
        stratify = y if entry["task"] != "regression" else None
        X, _, y, _ = train_test_split(
            X, y, train_size=max_rows, random_state=seed, stratify=stratify
        )
    return X.reset_index(drop=True), y.reset_index(drop=True)


def best_so_far(evaluations: Sequence[Evaluation]) -> list[float]:
    """Best ok score after each trial (NaN until the first ok one)."""
    curve, best = [], -math.inf
    for evaluation in evaluations:
        if evaluation.ok:
            best = max(best, evaluation.score)
        curve.append(best if math.isfinite(best) else math.nan)
    return curve


def run_arm(
    X: Any,
    y: Any,
    kind: str,
    knowledge: KnowledgeBase,
    seed: int,
    n_trials: int,
    strategy: Strategy | None = None,
) -> dict[str, Any]:
    """One search; ``strategy=None`` lets autometa choose, as a user's fit does."""
    started = time.perf_counter()
    model = autometa.fit(
        X,
        y,
        kind=kind,  # type: ignore[arg-type]
        n_trials=n_trials,
        random_state=seed,
        knowledge=knowledge,
        strategy=strategy,
    )
    return {
        "curve": best_so_far(model.evaluations_),
        "scores": [e.score if e.ok else None for e in model.evaluations_],
        "seconds": time.perf_counter() - started,
        "strategy": model.strategy_,
    }


def cold_twin(strategy: Strategy) -> Strategy:
    """The same validation protocol, no warm start, Optuna's TPE."""
    return Strategy(
        None, 0, "tpe", strategy.validation, strategy.n_splits, reason="benchmark: cold TPE"
    )


def normalized_regrets(runs: dict[str, list[dict[str, Any]]], n_trials: int) -> dict[str, Any]:
    """Per arm, trials x seeds normalized regret on one task."""
    ok = [s for arm in runs.values() for run in arm for s in run["scores"] if s is not None]
    best, worst = max(ok), min(ok)
    span = best - worst if best > worst else 1.0
    out = {}
    for arm, arm_runs in runs.items():
        curves = []
        for run in arm_runs:
            curve = np.array(run["curve"] + [run["curve"][-1]] * (n_trials - len(run["curve"])))
            curves.append(np.where(np.isnan(curve), 1.0, (best - curve) / span))
        out[arm] = np.array(curves)
    return out


def run_task(
    corpus: Path, entry: dict[str, Any], folder: Path, args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    """Both arms on one held-out task, for every seed."""
    warnings.simplefilter("ignore")
    knowledge = held_out_knowledge(entry["name"], folder)
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    for seed in args.seeds:
        X, y = load(corpus, entry, args.max_rows, seed)
        warm = run_arm(X, y, entry["task"], knowledge, seed, args.n_trials)
        cold = run_arm(
            X, y, entry["task"], knowledge, seed, args.n_trials, cold_twin(warm["strategy"])
        )
        for arm, run in (("warm", warm), ("cold", cold)):
            run["strategy"] = run["strategy"].reason
            runs[arm].append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--n-tasks", type=int, default=6)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--n-trials", type=int, default=50)
    parser.add_argument("--max-rows", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--n-jobs", type=int, default=1, help="tasks run in parallel")
    args = parser.parse_args()
    manifest = {e["name"]: e for e in json.loads((args.corpus / "manifest.json").read_text())}
    shipped = {record.name for record in KnowledgeBase.default().tasks()}
    names = sorted(set(manifest) & shipped)  # a task is held out of the base it is in
    if args.tasks:
        unknown = sorted(set(args.tasks) - set(manifest))
        if unknown:
            raise SystemExit(f"Not in the corpus: {', '.join(unknown)}")
        unseen = sorted(set(args.tasks) - shipped)
        if unseen:
            raise SystemExit(f"Not in the shipped knowledge base: {', '.join(unseen)}")
        chosen = args.tasks
    else:
        chosen = names[:: max(1, len(names) // args.n_tasks)][: args.n_tasks]
    checkpoints = [c for c in CHECKPOINTS if c <= args.n_trials]
    per_task: dict[str, dict[str, np.ndarray]] = {}
    raw: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="autometa-benchmark-"))
    # Tasks run in parallel, each in a joblib worker; inside it both arms run n_jobs=1
    # (loky limits each worker to its share of the cores' threads).
    results = joblib.Parallel(n_jobs=args.n_jobs, return_as="generator")(
        joblib.delayed(run_task)(args.corpus, manifest[name], folder, args) for name in chosen
    )
    for name, runs in zip(chosen, results, strict=True):
        per_task[name] = normalized_regrets(runs, args.n_trials)
        raw[name] = runs
        row = "  ".join(
            f"{arm} " + "/".join(f"{per_task[name][arm][:, c - 1].mean():.3f}" for c in checkpoints)
            for arm in ARMS
        )
        print(f"{name:<28} {manifest[name]['task']:<10} {row}", flush=True)
    print()
    print(f"{'mean regret after':<18}" + "".join(f"{c:>8}" for c in checkpoints))
    means = {}
    for arm in ARMS:
        stacked = np.concatenate([per_task[n][arm] for n in chosen])  # (tasks*seeds) x trials
        means[arm] = {c: float(stacked[:, c - 1].mean()) for c in checkpoints}
        print(f"{arm:<18}" + "".join(f"{means[arm][c]:>8.4f}" for c in checkpoints))
    if 10 in means["warm"] and args.n_trials in means["cold"]:
        verdict = means["warm"][10] <= means["cold"][args.n_trials]
        print(
            f"\nwarm after 10 trials {means['warm'][10]:.4f} vs cold after {args.n_trials} "
            f"{means['cold'][args.n_trials]:.4f}: {'reached' if verdict else 'NOT reached'}"
        )
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "tasks": chosen,
                    "seeds": args.seeds,
                    "n_trials": args.n_trials,
                    "mean_regret": means,
                    "runs": raw,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
