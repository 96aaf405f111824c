"""Where an algorithm without cells in the knowledge base should start: replay says.

An algorithm a plugin adds after the base was built has no scores in it, so no
meta-learner recommends it; a fit therefore inserts its default configuration among the
learned warm starts (``autometa.search._unseen``, after the first ``UNSEEN_POSITION``
learned picks). This script measures that position without fitting a model: each of
the shipped base's algorithms in turn is treated as unseen (the policies learn from the
other algorithms' cells only), and its default is inserted after 0, 1, 3 or 5 learned
picks, or never (its cells all come after the learned order). Leave one task out, as in
``autometa kb replay`` (docs/replay.md). Run::

    python examples/benchmark_unseen_algorithms.py                   # stored times
    python examples/benchmark_unseen_algorithms.py --rows full --n-splits 5
    python examples/benchmark_unseen_algorithms.py --per-algorithm

It prints the mean regret (normalized, 0 = the task's best configuration) at simulated
seconds and trials, averaged over the held-out algorithms, for today's greedy portfolio,
nearest tasks and the cost-aware policy. Single core, about a minute.
"""

from __future__ import annotations

import argparse
import time

from autometa.knowledge import (
    CostAwarePolicy,
    GreedyPortfolioPolicy,
    KnowledgeBase,
    NearestTasksPolicy,
)
from autometa.knowledge._replay_unseen import DEFAULT_POSITIONS, format_unseen, replay_unseen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", default=None, help="a base (default: the shipped one)")
    parser.add_argument("--rows", default=None, help="rows to scale times to, or 'full'")
    parser.add_argument("--n-splits", type=int, default=None)
    parser.add_argument("--algorithms", nargs="*", default=None, help="hold out only these")
    parser.add_argument("--per-algorithm", action="store_true", help="regret @k by algorithm")
    args = parser.parse_args()

    base = KnowledgeBase.default() if args.knowledge is None else KnowledgeBase.open(args.knowledge)
    rows = args.rows if args.rows in (None, "full") else float(args.rows)
    start = time.perf_counter()
    table, by_algorithm = replay_unseen(
        base,
        [GreedyPortfolioPolicy(), NearestTasksPolicy(), CostAwarePolicy()],
        algorithms=args.algorithms,
        positions=DEFAULT_POSITIONS,
        n_rows=rows,
        n_splits=args.n_splits,
    )
    print(format_unseen(table))
    if args.per_algorithm:
        print()
        for algorithm, results in by_algorithm.items():
            for name, at_k in results.items():
                cells = "  ".join(f"{k} {v:.4f}" for k, v in at_k.items())
                print(f"{algorithm:<24} {name:<24} {cells}")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
