"""Does an extended algorithm join the meta-learning? Replay on the shipped base.

Leave one task out on the knowledge base (``autometa.knowledge.replay``, stored scores
and fit times, no model fitted): every policy orders the pool for the held-out task twice,
once with the extended algorithm's cells (``--algorithm``, default ``lightgbm``) and once
from a view of the base without them, as if the algorithm had never been measured. Both
orders are judged on the held-out task's full row, extended cells included, so the
difference is what the meta-learning gains from the extension. Reported per policy:

- mean normalized regret after 1, 5 and 10 trials and after 10 and 30 simulated seconds,
  with and without the algorithm's cells;
- on the tasks where the algorithm holds the task's best cell ("where replay says it
  wins"), the share whose first 10 picks include one of its configurations;
- the share of tasks where having the cells makes the 10-trial regret worse.

    python examples/benchmark_extension.py [--algorithm lightgbm] [--knowledge KB]

``--knowledge`` defaults to the shipped base; the algorithm's cells must be in it
(``autometa kb build --extend``). Seconds. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace

import numpy as np

from autometa.knowledge import KnowledgeBase
from autometa.knowledge._replay import replay
from autometa.knowledge._replay_policies import (
    CostAwarePolicy,
    GreedyPortfolioPolicy,
    GuardedPolicy,
    HeldOutTask,
    History,
    NearestTasksPolicy,
    Policy,
)

TRIALS = (1, 5, 10)
SECONDS = (10.0, 30.0)
FIRST = 10


@dataclass
class WithOrWithout:
    """``policy`` judged with the algorithm's columns, or on a view of the history without
    them (those columns then come last); remembers the algorithms of its first picks."""

    policy: Policy
    algorithm: str
    with_cells: bool
    first_picks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.policy.name}:{'with' if self.with_cells else 'without'}"

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        if self.with_cells:
            order = np.asarray(self.policy.order(task, history), dtype=int)
        else:
            own = np.array([c.algorithm == self.algorithm for c in history.configs])
            keep = np.flatnonzero(~own)
            view = replace(
                history,
                configs=[history.configs[j] for j in keep],
                regret=history.regret[:, keep],
                seconds=history.seconds[:, keep],
                scores=None if history.scores is None else history.scores[:, keep],
            )
            order = np.concatenate([keep[self.policy.order(task, view)], np.flatnonzero(own)])
        self.first_picks[task.task_id] = [history.configs[j].algorithm for j in order[:FIRST]]
        return order


def winners(knowledge: KnowledgeBase, algorithm: str) -> set[str]:
    """Tasks whose best scored cell is one of ``algorithm``'s configurations."""
    won = set()
    for kind in ("binary", "multiclass", "regression"):
        table = knowledge.score_table(kind)
        if not table.task_ids:
            continue
        normalized = np.nan_to_num(table.normalized(), nan=-np.inf)
        for task_id, row in zip(table.task_ids, normalized, strict=True):
            if table.configs[int(np.argmax(row))].algorithm == algorithm:
                won.add(task_id)
    return won


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="lightgbm")
    parser.add_argument("--knowledge", default=None, help="a base file (default: shipped)")
    args = parser.parse_args()
    knowledge = (
        KnowledgeBase.default()
        if args.knowledge is None
        else KnowledgeBase.open(args.knowledge, read_only=True)
    )
    if not knowledge.configs(args.algorithm):
        raise SystemExit(f"{knowledge!r} has no {args.algorithm} cells; extend it first.")
    bases: list[Policy] = [
        GuardedPolicy(GreedyPortfolioPolicy()),
        NearestTasksPolicy(),
        CostAwarePolicy(),
    ]
    policies = [
        WithOrWithout(p, args.algorithm, with_cells) for p in bases for with_cells in (True, False)
    ]
    report = replay(knowledge, policies, trials=TRIALS, seconds=SECONDS)
    won = winners(knowledge, args.algorithm) & set(report.per_task)
    print(f"{len(report.per_task)} tasks; {args.algorithm} holds the best cell on {len(won)}.\n")
    header = " | ".join([*(f"regret@{k}" for k in TRIALS), *(f"regret@{s:.0f}s" for s in SECONDS)])
    print(
        f"| policy | cells | {header} | {args.algorithm} in first {FIRST} where it wins "
        f"| tasks worse with cells@{FIRST} |"
    )
    print("|---|---|" + "---|" * (len(TRIALS) + len(SECONDS)) + "---|---|")
    k_index = TRIALS.index(FIRST)
    for policy in policies:
        result = report.results[policy.name]
        values = [result.regret_at_trials[k] for k in TRIALS] + [
            result.regret_at_seconds[s] for s in SECONDS
        ]
        cells = " | ".join(f"{v:.4f}" for v in values)
        if policy.with_cells:
            named = np.mean([args.algorithm in policy.first_picks[t] for t in won])
            other = f"{policy.policy.name}:without"
            worse = [
                t
                for t in report.per_task
                if report.per_task[t][policy.name]["trials"][k_index]
                > report.per_task[t][other]["trials"][k_index] + 1e-12
            ]
            extra = f"{named:.0%} of {len(won)} | {len(worse)} of {len(report.per_task)}"
        else:
            extra = "- | -"
        label = "with" if policy.with_cells else "without"
        print(f"| {policy.policy.name} | {label} | {cells} | {extra} |")


if __name__ == "__main__":
    main()
