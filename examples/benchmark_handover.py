"""When should the adaptive portfolio hand the search over to the sampler?

A fit with ``Strategy(meta_learner="adaptive_portfolio")`` asks the learner before every
trial for its next configuration and the gain it predicts (the drop in the weighted
expected best-so-far normalized regret); it hands over to the sampler, for good, the
first time that gain is below ``Strategy.handover_gain``. This replays the same rule
leaving one task out on the shipped base, with a seeded random order over the pool
configurations not tried yet standing in for the sampler after the hand-over (replay
knows only the pool's stored scores, not what TPE would find outside it), and prints
for each threshold the mean normalized regret after 1 to 50 trials and when it handed
over.

    python examples/benchmark_handover.py
    python examples/benchmark_handover.py --thresholds 0,0.001,0.002 --kinds binary
"""

from __future__ import annotations

import argparse
import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from autometa.contract import TASK_KINDS, greedy_cover, observation_weights
from autometa.knowledge import HeldOutTask, History, KnowledgeBase, replay

TRIALS = (1, 2, 3, 5, 10, 25, 50)


@dataclass
class HandOverPolicy:
    """The adaptive portfolio until its predicted gain falls below ``threshold``, then a
    random order (the sampler's stand-in); records when each task handed over."""

    threshold: float
    random_state: int = 0
    handed_over: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "adaptive" if self.threshold == 0 else f"handover@{self.threshold:g}"

    def start(self, task: HeldOutTask, history: History) -> _Search:
        seed = [self.random_state, zlib.crc32(task.task_id.encode())]
        return _Search(self, history, np.random.default_rng(seed))


@dataclass
class _Search:
    policy: HandOverPolicy
    history: History
    rng: np.random.Generator
    columns: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    random: bool = False

    def ask(self) -> int:
        regret = self.history.regret
        if not self.random and len(self.columns) >= TRIALS[-1]:
            self.random = True  # past the last count reported: the order no longer matters
        if not self.random:
            weights = observation_weights(
                1.0 - regret, self.history.scores, self.columns, self.scores
            )
            done = [c for c, s in zip(self.columns, self.scores, strict=True) if math.isfinite(s)]
            before = float(weights @ regret[:, done].min(axis=1, initial=1.0))
            ((column, expected),) = greedy_cover(regret, 1, weights=weights, after=self.columns)
            if not self.columns or before - expected >= self.policy.threshold:
                return column
            self.random = True
            self.policy.handed_over.append(len(self.columns))
        free = np.setdiff1d(np.arange(regret.shape[1]), self.columns)
        return int(self.rng.choice(free))

    def tell(self, column: int, score: float, seconds: float) -> None:
        self.columns.append(column)
        self.scores.append(score)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thresholds", default="0,0.0005,0.001,0.002,0.005")
    parser.add_argument("--kinds", default=None, help="comma-separated kinds (default: all)")
    args = parser.parse_args()
    policies = [HandOverPolicy(float(t)) for t in args.thresholds.split(",")]
    kinds = None if args.kinds is None else [k for k in args.kinds.split(",") if k in TASK_KINDS]
    report = replay(KnowledgeBase.default(), policies, trials=TRIALS, kinds=kinds)
    header = "".join(f"{'@' + str(k):>8}" for k in TRIALS)
    print("policy".ljust(18) + header + "  handed over after (median trials, tasks)")
    for policy in policies:
        result = report.results[policy.name]
        row = "".join(f"{result.regret_at_trials[k]:8.4f}" for k in TRIALS)
        n_tasks = result.n_tasks
        over = policy.handed_over
        when = f"{np.median(over):.0f}, {len(over)}/{n_tasks}" if over else "never"
        print(policy.name.ljust(18) + row + f"  {when}")


if __name__ == "__main__":
    main()
