"""Does an extended algorithm join the meta-learning? Leave-one-task-out on the shipped base.

For every task of the shipped knowledge base, each meta-learner is fitted on the other
tasks and asked for 10 recommendations, twice: once on the base with the extended
algorithms' cells (``--algorithm``, default ``lightgbm``), once on the base without them.
Both are judged on the held-out task's full row (every cell, extended ones included), so
the second shows what the meta-learning loses when it cannot recommend the new
algorithm. Also reported: on the tasks where the extended algorithm holds the task's best
configuration ("where replay says it wins"), the share whose first 10 recommendations
include one of its configurations.

    python examples/benchmark_extension.py [--algorithm lightgbm] [--n-jobs 2]

Needs the algorithm's plugin installed (``pip install "autometa-ml[lightgbm]"``) and its
cells in the shipped base (``autometa kb build --extend``); prints a table.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import joblib
import numpy as np

from autometa._plugins import build_plugin_manager
from autometa.knowledge import KnowledgeBase
from autometa.knowledge._loto import algorithms_by_kind

K = 10


def held_out_results(
    task_ids: Sequence[str], algorithm: str, learners: Sequence[str]
) -> list[dict[str, object]]:
    """For each task: per learner, regret@10 with and without the extension's cells, and
    whether the first 10 (with them) include one of the algorithm's configurations."""
    full = KnowledgeBase.default()
    without = _without(full, algorithm)
    classes = build_plugin_manager().meta_learners()
    algorithms = algorithms_by_kind(full)
    records = {r.task_id: r for r in full.tasks()}
    results = []
    for task_id in task_ids:
        record = records[task_id]
        table = full.score_table(record.kind)
        normalized = table.normalized()[table.task_ids.index(task_id)]
        truth = {c: 1.0 - v for c, v in zip(table.configs, normalized, strict=True) if v == v}
        best = table.configs[int(np.nanargmax(normalized))]
        keep = [t for t in records if t != task_id]
        outcome: dict[str, object] = {"task": task_id, "wins": best.algorithm == algorithm}
        for label, source in (("with", full), ("without", without)):
            training = KnowledgeBase.in_memory()
            source.copy_into(training, task_ids=keep)
            for name in learners:
                recommended = [
                    r.config
                    for r in classes[name]()
                    .fit(training)
                    .recommend(
                        record.meta_features,
                        kind=record.kind,
                        algorithms=algorithms[record.kind],
                        k=K,
                    )
                ]
                outcome[f"{name}:{label}"] = min(
                    (truth.get(c, 1.0) for c in recommended), default=1.0
                )
                if label == "with":
                    outcome[f"{name}:named"] = any(c.algorithm == algorithm for c in recommended)
            training.close()
        results.append(outcome)
    return results


def _without(knowledge: KnowledgeBase, algorithm: str) -> KnowledgeBase:
    """An in-memory copy of ``knowledge`` without ``algorithm``'s cells."""
    copy = KnowledgeBase.in_memory()
    for record in knowledge.tasks():
        copy.add_task(record)
        copy.add_evaluations(
            e for e in knowledge.evaluations(record.task_id) if e.config.algorithm != algorithm
        )
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="lightgbm")
    parser.add_argument("--learners", default="greedy_portfolio,nearest_tasks,zero_shot")
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    knowledge = KnowledgeBase.default()
    task_ids = [r.task_id for r in knowledge.tasks()]
    if not knowledge.configs(args.algorithm):
        raise SystemExit(f"The shipped base has no {args.algorithm} cells; extend it first.")
    learners = args.learners.split(",")
    chunks = np.array_split(np.array(task_ids), max(1, args.n_jobs) * 4)
    parts = joblib.Parallel(n_jobs=args.n_jobs)(
        joblib.delayed(held_out_results)(list(chunk), args.algorithm, learners)
        for chunk in chunks
        if len(chunk)
    )
    results = [r for part in parts for r in part]
    wins = [r for r in results if r["wins"]]
    print(f"{len(results)} tasks; {args.algorithm} holds the best cell on {len(wins)}")
    print(f"| learner | regret@{K} with | without | {args.algorithm} in first {K} where it wins |")
    print("|---|---|---|---|")
    for name in learners:
        with_ = np.mean([r[f"{name}:with"] for r in results])
        without = np.mean([r[f"{name}:without"] for r in results])
        named = np.mean([r[f"{name}:named"] for r in wins]) if wins else float("nan")
        print(f"| {name} | {with_:.4f} | {without:.4f} | {named:.0%} ({len(wins)} tasks) |")


if __name__ == "__main__":
    main()
