"""How a fit spends a minute on a large table: trials finished, wall time, planning share.

Issue 14's yardstick: a 200,000 x 50 ``make_classification`` table fitted with
``timeout=60, n_jobs=2`` should finish at least 10 trials and return within 63 s.
This is a benchmark, not a test: run it on an otherwise idle machine::

    python examples/benchmark_large_fit.py                      # 200,000 x 50, 60 s
    python examples/benchmark_large_fit.py --rows 50000 --timeout 30 --n-jobs 1

It prints one line per run: rows, columns, timeout, wall time, trials by status, the
planning seconds, the strategy's learner and validation, and the winner.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter

from sklearn.datasets import make_classification

import autometa

# Runs are compared: none may learn from an earlier run's fits through the user's own
# knowledge base (the default layer over the shipped one).
os.environ.setdefault("AUTOMETA_USER_KNOWLEDGE", "off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()

    X, y = make_classification(
        n_samples=args.rows,
        n_features=args.columns,
        n_informative=args.columns // 3,
        random_state=args.random_state,
    )
    started = time.monotonic()
    model = autometa.fit(
        X, y, timeout=args.timeout, n_jobs=args.n_jobs, random_state=args.random_state
    )
    wall = time.monotonic() - started
    statuses = Counter(e.status for e in model.evaluations_)
    planning = sum(getattr(model, "planning_timings_", {}).values())
    print(
        f"rows={args.rows} columns={args.columns} timeout={args.timeout:g}s "
        f"n_jobs={args.n_jobs}: wall {wall:.1f}s, trials {dict(statuses)}, "
        f"planning {planning:.2f}s ({planning / args.timeout:.1%} of the budget), "
        f"learner {model.strategy_.meta_learner}, validation {model.strategy_.validation}, "
        f"winner {model.best_config_.algorithm} {model.scoring_}={model.best_score_:.4f}"
    )


if __name__ == "__main__":
    main()
