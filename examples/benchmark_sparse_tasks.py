"""Do a user's own fits (tasks holding only what a fit tried) bias the greedy portfolio?

By default every fit adds its task to the user's knowledge base, laid over the shipped
one (README, "Every fit teaches the next"). Such a task holds only the configurations its
fit tried: the portfolio's first warm starts, mostly. Counting every configuration it did
not try as the worst would favour what was tried, the earlier recommendations, more with
every fit. This replay measures it on the shipped base, leave one task out: the greedy
portfolio is built on the other tasks alone, and again with ``--sparse`` sparse copies of
other tasks added (each holding only the first 10 configurations of the portfolio, as a
default fit's warm starts), once with a missing cell as the worst and every task
weighing the same, and once as autometa's portfolios do it: a missing cell of a sparse
task is unknown (:func:`autometa.contract.portfolio_regret`) and a sparse task weighs its
share of the cells (:func:`autometa.contract.evidence_weights`). It prints the mean
normalized regret of the held-out task after 5 and 10 picks.

    python examples/benchmark_sparse_tasks.py --sparse 20
    python examples/benchmark_sparse_tasks.py --sparse 100 --seed 1

The sparse copies repeat tasks the base already has, so they can add nothing: the
portfolio built with them should be as good as without.
"""

from __future__ import annotations

import argparse

import numpy as np

from autometa.contract import evidence_weights, greedy_cover, portfolio_regret
from autometa.knowledge import KnowledgeBase

WARM_STARTS = 10


def as_worst(normalized: np.ndarray) -> np.ndarray:
    """Regret with every missing cell the worst (the rule before sparse tasks existed)."""
    return 1.0 - np.nan_to_num(normalized, nan=0.0)


def held_out_regret(normalized: np.ndarray, task: int, columns: list[int], k: int) -> float:
    row = np.nan_to_num(normalized[task], nan=0.0)
    return float(1.0 - row[columns[:k]].max())


def replay(kind: str, n_sparse: int, rng: np.random.Generator) -> dict[str, list[float]]:
    """Regret at 5 and 10 picks of each held-out task, for the three portfolios."""
    table = KnowledgeBase.default().score_table(kind)  # type: ignore[arg-type]
    normalized = table.normalized()
    results: dict[str, list[float]] = {}
    for task in range(len(table.task_ids)):
        rest = np.delete(normalized, task, axis=0)
        base = [c for c, _ in greedy_cover(portfolio_regret(rest), WARM_STARTS)]
        # Sparse copies of other tasks: only the warm starts tried, normalized among them.
        picks = rng.choice(len(rest), size=min(n_sparse, len(rest)), replace=False)
        raw = np.delete(table.scores, task, axis=0)[np.ix_(picks, np.asarray(base))]
        low, high = np.nanmin(raw, axis=1, keepdims=True), np.nanmax(raw, axis=1, keepdims=True)
        sparse = np.full((len(picks), rest.shape[1]), np.nan)
        span = np.where(high > low, high - low, 1.0)
        sparse[:, base] = np.where(high > low, (raw - low) / span, 1.0)
        grown = np.vstack([rest, sparse])
        portfolios = {
            "without them": base,
            "missing = worst": [c for c, _ in greedy_cover(as_worst(grown), WARM_STARTS)],
            "autometa": [
                c
                for c, _ in greedy_cover(
                    portfolio_regret(grown), WARM_STARTS, weights=_weights(grown)
                )
            ],
        }
        for name, columns in portfolios.items():
            for k in (5, 10):
                results.setdefault(f"{name} @{k}", []).append(
                    held_out_regret(normalized, task, columns, k)
                )
    return results


def _weights(normalized: np.ndarray) -> np.ndarray:
    evidence = evidence_weights(normalized)
    return np.asarray(evidence / evidence.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparse", type=int, default=20, help="sparse tasks added")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.sparse} sparse tasks added; mean normalized regret of the held-out task")
    for kind in ("binary", "multiclass", "regression"):
        results = replay(kind, args.sparse, rng)
        cells = ", ".join(f"{name} {np.mean(v):.4f}" for name, v in results.items())
        print(f"{kind}: {cells}")


if __name__ == "__main__":
    main()
