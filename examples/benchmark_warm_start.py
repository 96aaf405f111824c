"""Search-level benchmark: autometa's warm-started search against cold Optuna TPE.

    python examples/benchmark_warm_start.py --corpus ../shared/corpus \\
        [--tasks abalone credit-g ...] [--seeds 0 1 2] [--n-trials 50] [--n-jobs 2] \\
        [--samplers rgpe cmaes_warm] [--out results.json]

For each corpus task, the task is first removed from the shipped knowledge base (with
any duplicate: same kind and meta-features), so the meta-learners have never seen it.
Then, for each seed, two searches run with the same budget of ``--n-trials`` trials, the
same search space, the same validation (the strategy selector's protocol for the task)
and the same seed:

- ``warm``: ``autometa.fit`` as a user calls it (strategy, warm starts, sampler);
- ``cold``: the same call with ``warm_start=0`` and ``sampler="tpe"``: Optuna's TPE
  from scratch;
- ``warm+NAME`` for each ``--samplers NAME``: the ``warm`` strategy (same meta-learner,
  same warm starts, same validation) with the sampler that takes over after the warm
  starts replaced, to compare samplers at search level (``rgpe``, ``cmaes_warm``, ...);
- ``adaptive`` with ``--adaptive``: the ``warm`` strategy with the ``adaptive_portfolio``
  learner, asked again before each trial until it hands over to the sampler.

Each task's rows are split 75/25: the searches see only the first part. After each
trial the incumbent (the best configuration so far by validation score) is judged twice,
each turned into a normalized regret per task (0 the best value any run's incumbent
reached, 1 the worst; HPO-B's convention with the runs themselves as the reference):

- validation regret: the incumbent's cross-validation score, what the search maximises;
- test regret: the incumbent refitted on the training part and scored on the test part.
  The maximum of many noisy validation scores is biased upwards (more trials, more
  lucky draws), so only this one says whether more trials found a better model.

The tables give the mean over tasks and seeds after 1, 5, 10, 25 and 50 trials, and the
script says whether warm after 10 trials is at least as good as cold after 50.

Datasets larger than ``--max-rows`` are subsampled (stratified for classification,
seeded) so the benchmark fits in an hour on two cores; the shipped knowledge base was
built with the same cap. Without ``--tasks``, a fixed, spread-out selection of the
corpus is used: every ``len(tasks) // --n-tasks``-th of the shipped knowledge base's
tasks in name order. ``--n-jobs`` runs tasks in parallel (each search itself uses one
core, as in the shipped base's build).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.metrics import get_scorer
from sklearn.model_selection import train_test_split

import autometa
from autometa._plugins import build_plugin_manager
from autometa.contract import BUILTIN_SAMPLERS, Evaluation, Strategy
from autometa.knowledge import KnowledgeBase
from autometa.knowledge._corpus import read_table

CHECKPOINTS = (1, 5, 10, 25, 50)
MEASURES = {
    "curve": "validation regret after",
    "test_curve": "test regret after",
}
"""The incumbent's cross-validation score (what the search maximised) and its test score."""
TEST_SHARE = 0.25
MIN_CLASS_ROWS = 4
"""Rows of rarer classes are dropped. A stratified split gives a class at least
``floor(rows * TEST_SHARE)`` test rows, so from 4 rows on it has one test row (without
it, log loss cannot be computed) and two or more training rows (for the search's CV)."""


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


@dataclass(frozen=True)
class Split:
    """A task's rows: searched on ``train``, incumbents judged on ``test``."""

    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any


def load(corpus: Path, entry: dict[str, Any], max_rows: int, seed: int) -> Split:
    """At most ``max_rows`` rows (seeded, stratified for classification), of which
    classes of fewer than :data:`MIN_CLASS_ROWS` rows are dropped, split 75/25."""
    X, y = read_table(corpus / "data" / f"{entry['name']}.csv.gz", "target")
    classify = entry["task"] != "regression"
    if len(X) > max_rows:
        X, _, y, _ = train_test_split(
            X, y, train_size=max_rows, random_state=seed, stratify=y if classify else None
        )
    if classify:  # a class must keep two training rows (CV) and reach the test part
        common = (y.map(y.value_counts()) >= MIN_CLASS_ROWS).to_numpy()
        X, y = X[common], y[common]
    parts = train_test_split(
        X, y, test_size=TEST_SHARE, random_state=seed, stratify=y if classify else None
    )
    X_train, X_test, y_train, y_test = (part.reset_index(drop=True) for part in parts)
    return Split(X_train, X_test, y_train, y_test)


def best_so_far(evaluations: Sequence[Evaluation]) -> tuple[list[float], list[int | None]]:
    """Best ok validation score after each trial (NaN until the first ok one), and the
    index of the trial that holds it (the incumbent)."""
    curve, incumbents, best, holder = [], [], -math.inf, None
    for index, evaluation in enumerate(evaluations):
        if evaluation.ok and evaluation.score > best:
            best, holder = evaluation.score, index
        curve.append(best if math.isfinite(best) else math.nan)
        incumbents.append(holder)
    return curve, incumbents


def run_arm(
    data: Split,
    kind: str,
    knowledge: KnowledgeBase,
    seed: int,
    n_trials: int,
    strategy: Strategy | None = None,
) -> dict[str, Any]:
    """One search on the training part; ``strategy=None`` lets autometa choose, as a
    user's fit does. Each incumbent is then refitted on the training part and scored on
    the test part, which no trial saw."""
    started = time.perf_counter()
    model = autometa.fit(
        data.X_train,
        data.y_train,
        kind=kind,  # type: ignore[arg-type]
        n_trials=n_trials,
        random_state=seed,
        knowledge=knowledge,
        strategy=strategy,
    )
    seconds = time.perf_counter() - started
    curve, incumbents = best_so_far(model.evaluations_)
    space = autometa.SearchSpace(data.X_train, data.y_train, kind=kind, random_state=seed)  # type: ignore[arg-type]
    scorer = get_scorer(space.scoring)
    tested: dict[int, float] = {}
    for index in {i for i in incumbents if i is not None}:
        estimator = space.estimator(model.evaluations_[index].config)
        estimator.fit(data.X_train, data.y_train)
        tested[index] = float(scorer(estimator, data.X_test, data.y_test))
    return {
        "curve": curve,
        "test_curve": [math.nan if i is None else tested[i] for i in incumbents],
        "scores": [e.score if e.ok else None for e in model.evaluations_],
        "seconds": seconds,
        "strategy": model.strategy_,
    }


def cold_twin(strategy: Strategy) -> Strategy:
    """The same validation protocol, no warm start, Optuna's TPE."""
    return Strategy(
        None,
        0,
        "tpe",
        strategy.validation,
        strategy.n_splits,
        strategy.n_repeats,
        reason="benchmark: cold TPE",
    )


def sampler_twin(strategy: Strategy, sampler: str) -> Strategy:
    """The same strategy with ``sampler`` taking over after the warm starts."""
    return dataclasses.replace(
        strategy, sampler=sampler, reason=f"{strategy.reason}; benchmark: sampler {sampler}"
    )


def arm_names(samplers: Sequence[str], adaptive: bool = False) -> list[str]:
    """``warm``, ``cold``, one ``warm+NAME`` arm per extra sampler and ``adaptive``."""
    return ["warm", "cold", *(f"warm+{name}" for name in samplers), *(["adaptive"] * adaptive)]


def normalized_regrets(
    runs: dict[str, list[dict[str, Any]]], n_trials: int, key: str
) -> dict[str, np.ndarray]:
    """Per arm, seeds x trials normalized regret of the incumbents' ``key`` curve.

    0 is the best value any run's incumbent reached, 1 the worst ok value (any trial's
    for validation scores, any incumbent's for test scores); NaN (no ok trial yet) is 1.
    """
    values = [v for arm in runs.values() for run in arm for v in run[key] if not math.isnan(v)]
    if key == "curve":
        values += [
            s for arm in runs.values() for run in arm for s in run["scores"] if s is not None
        ]
    best, worst = max(values), min(values)
    span = best - worst if best > worst else 1.0
    out = {}
    for arm, arm_runs in runs.items():
        curves = []
        for run in arm_runs:
            curve = np.array(run[key] + [run[key][-1]] * (n_trials - len(run[key])))
            curves.append(np.where(np.isnan(curve), 1.0, (best - curve) / span))
        out[arm] = np.array(curves)
    return out


def run_task(
    corpus: Path, entry: dict[str, Any], folder: Path, args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    """Every arm on one held-out task, for every seed."""
    warnings.simplefilter("ignore")
    knowledge = held_out_knowledge(entry["name"], folder)
    names = arm_names(args.samplers, args.adaptive)
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in names}
    for seed in args.seeds:
        data = load(corpus, entry, args.max_rows, seed)
        warm = run_arm(data, entry["task"], knowledge, seed, args.n_trials)
        twins = {"cold": cold_twin(warm["strategy"])}
        twins |= {f"warm+{name}": sampler_twin(warm["strategy"], name) for name in args.samplers}
        if args.adaptive:
            twins["adaptive"] = dataclasses.replace(
                warm["strategy"], meta_learner="adaptive_portfolio", reason="benchmark: adaptive"
            )
        seeded = {"warm": warm}
        for arm, strategy in twins.items():
            seeded[arm] = run_arm(data, entry["task"], knowledge, seed, args.n_trials, strategy)
        for arm, run in seeded.items():
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
    parser.add_argument(
        "--samplers",
        nargs="*",
        default=[],
        help="also run the warm strategy with each of these samplers (e.g. rgpe cmaes_warm)",
    )
    parser.add_argument(
        "--adaptive", action="store_true", help="also run the adaptive_portfolio learner"
    )
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
    known = {*BUILTIN_SAMPLERS, *build_plugin_manager().samplers()}
    unknown_samplers = sorted(set(args.samplers) - known)
    if unknown_samplers:
        raise SystemExit(
            f"Unknown sampler(s) {', '.join(unknown_samplers)}; known: {', '.join(sorted(known))}"
        )
    checkpoints = [c for c in CHECKPOINTS if c <= args.n_trials]
    arms = arm_names(args.samplers, args.adaptive)
    per_task: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    raw: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="autometa-benchmark-"))
    # Tasks run in parallel, each in a joblib worker; inside it every arm runs n_jobs=1
    # (loky limits each worker to its share of the cores' threads).
    results = joblib.Parallel(n_jobs=args.n_jobs, return_as="generator")(
        joblib.delayed(run_task)(args.corpus, manifest[name], folder, args) for name in chosen
    )
    for name, runs in zip(chosen, results, strict=True):
        per_task[name] = {key: normalized_regrets(runs, args.n_trials, key) for key in MEASURES}
        raw[name] = runs
        row = "  ".join(
            f"{arm} "
            + "/".join(f"{per_task[name][key][arm][:, c - 1].mean():.3f}" for c in checkpoints)
            for key in MEASURES
            for arm in arms
        )
        print(f"{name:<24} {manifest[name]['task']:<10} {row}", flush=True)
    means: dict[str, dict[str, dict[int, float]]] = {}
    for key, label in MEASURES.items():
        print(f"\n{label:<24}" + "".join(f"{c:>8}" for c in checkpoints))
        means[key] = {}
        for arm in arms:
            stacked = np.concatenate([per_task[n][key][arm] for n in chosen])  # runs x trials
            means[key][arm] = {c: float(stacked[:, c - 1].mean()) for c in checkpoints}
            print(f"{arm:<24}" + "".join(f"{means[key][arm][c]:>8.4f}" for c in checkpoints))
        if 10 in means[key]["warm"] and args.n_trials in means[key]["cold"]:
            warm, cold = means[key]["warm"][10], means[key]["cold"][args.n_trials]
            print(
                f"warm after 10 trials {warm:.4f} vs cold after {args.n_trials} {cold:.4f}: "
                f"{'reached' if warm <= cold else 'NOT reached'}"
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
