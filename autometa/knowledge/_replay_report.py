"""Replay's report: every policy's mean regrets, and each held-out task's curves.

:func:`autometa.knowledge.replay` fills it; ``table()`` is what ``autometa kb replay``
prints and ``to_json()`` what ``--json`` writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field


@dataclass
class PolicyResult:
    """One policy's mean regrets over the held-out tasks."""

    policy: str
    n_tasks: int
    regret_at_seconds: dict[float, float]
    regret_at_trials: dict[int, float]
    trials_at_seconds: dict[float, float] = field(default_factory=dict)


@dataclass
class ReplayReport:
    """Every policy's results, plus per-task regrets (for plots and a strategy selector)."""

    results: dict[str, PolicyResult]
    per_task: dict[str, dict[str, dict[str, list[float]]]]
    seconds: tuple[float, ...]
    trials: tuple[int, ...]
    settings: dict[str, object]

    def table(self) -> str:
        """Plain text: mean normalized regret at each budget in seconds and in trials."""
        time_cols = [f"@{s:g}s" for s in self.seconds]
        trial_cols = [f"@{k} tr" for k in self.trials]
        width = max([len("policy"), *map(len, self.results)])
        header = (
            f"{'policy':<{width}} {'tasks':>5} "
            + " ".join(f"{c:>7}" for c in time_cols)
            + " | "
            + " ".join(f"{c:>7}" for c in trial_cols)
            + f" | {'trials@' + f'{self.seconds[-1]:g}s':>12}"
        )
        rows = [header, "-" * len(header)]
        for name, result in self.results.items():
            rows.append(
                f"{name:<{width}} {result.n_tasks:>5} "
                + " ".join(f"{result.regret_at_seconds[s]:>7.4f}" for s in self.seconds)
                + " | "
                + " ".join(f"{result.regret_at_trials[k]:>7.4f}" for k in self.trials)
                + f" | {result.trials_at_seconds.get(self.seconds[-1], math.nan):>12.1f}"
            )
        return "\n".join(rows)

    def to_json(self) -> str:
        return json.dumps(
            {
                "settings": self.settings,
                "seconds": list(self.seconds),
                "trials": list(self.trials),
                "results": {
                    name: {
                        "n_tasks": r.n_tasks,
                        "regret_at_seconds": {f"{s:g}": v for s, v in r.regret_at_seconds.items()},
                        "regret_at_trials": {str(k): v for k, v in r.regret_at_trials.items()},
                        "trials_at_seconds": {f"{s:g}": v for s, v in r.trials_at_seconds.items()},
                    }
                    for name, r in self.results.items()
                },
                "per_task": self.per_task,
            },
            indent=2,
            sort_keys=True,
        )
