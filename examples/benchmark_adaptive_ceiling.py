"""How far can weighting earlier tasks take a portfolio? A reference point, by replay.

The adaptive portfolio weighs earlier tasks by how well their stored scores agree with the
scores the new task showed so far, then picks what most lowers the weighted expected
best-so-far regret. The most a weighting could know is the new task's whole score row.
This replays, leaving one task out on the shipped base, policies that cheat in exactly
that way: each weighs equally the ``k`` earlier tasks whose normalized regret rows are
nearest (mean absolute difference) to the held-out task's own row, read from the
knowledge base, and runs the same weighted greedy cover. They show how far weights alone
can go when the new task is known perfectly: not a strict bound (weights that change
with each observation can beat fixed ones), but a measure of how much of the regret left
is in the weights and how much in the knowledge base itself.

    python examples/benchmark_adaptive_ceiling.py
    python examples/benchmark_adaptive_ceiling.py --neighbours 1,3,10,30 --kinds binary
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numpy as np

from autometa.contract import TASK_KINDS, Config, greedy_cover
from autometa.knowledge import (
    AdaptivePortfolioPolicy,
    GreedyPortfolioPolicy,
    HeldOutTask,
    History,
    KnowledgeBase,
    replay,
)

TRIALS = (1, 2, 3, 5, 10, 25, 50)


@dataclass
class NearestByTruth:
    """Equal weights on the ``k`` earlier tasks whose regret rows are nearest the held-out
    task's true row (which no real search knows), then the weighted greedy cover."""

    knowledge: KnowledgeBase
    k: int
    truths: dict[str, dict[Config, float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"truth_nearest_{self.k}"

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        truth = self._true_regret(task, history)
        distance = np.abs(history.regret - truth).mean(axis=1)
        weights = np.zeros(len(distance))
        weights[np.argsort(distance, kind="stable")[: self.k]] = 1.0 / min(self.k, len(distance))
        n_configs = history.regret.shape[1]
        return np.array([c for c, _ in greedy_cover(history.regret, n_configs, weights=weights)])

    def _true_regret(self, task: HeldOutTask, history: History) -> np.ndarray:
        """The held-out task's normalized regret on ``history.configs`` (unknown = 1, as
        replay counts it)."""
        if task.task_id not in self.truths:  # the first task of its kind: read its table
            table = self.knowledge.score_table(task.kind)
            regret = 1.0 - np.asarray(table.normalized(), dtype=float)
            for row, task_id in enumerate(table.task_ids):
                known = np.isfinite(regret[row])
                self.truths[task_id] = {
                    config: float(value)
                    for config, value, ok in zip(table.configs, regret[row], known, strict=True)
                    if ok
                }
        truth = self.truths[task.task_id]
        return np.array([truth.get(config, 1.0) for config in history.configs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neighbours", default="1,3,10,30")
    parser.add_argument("--kinds", default=None, help="comma-separated kinds (default: all)")
    args = parser.parse_args()
    knowledge = KnowledgeBase.default()
    kinds = None if args.kinds is None else [k for k in args.kinds.split(",") if k in TASK_KINDS]
    policies = [
        GreedyPortfolioPolicy(),
        AdaptivePortfolioPolicy(),
        *(NearestByTruth(knowledge, int(k)) for k in args.neighbours.split(",")),
    ]
    report = replay(knowledge, policies, trials=TRIALS, kinds=kinds)
    print("policy".ljust(22) + "".join(f"{'@' + str(k) + ' tr':>9}" for k in TRIALS))
    for policy in policies:
        result = report.results[policy.name]
        row = "".join(f"{result.regret_at_trials[k]:9.4f}" for k in TRIALS)
        print(policy.name.ljust(22) + row)


if __name__ == "__main__":
    main()
