"""Which earlier tasks does the new one resemble, judged by how its first trials scored.

Meta-features say little about which earlier tasks a new one will behave like; the
scores of its first trials say more. For every configuration already evaluated on the new
task, the knowledge base (dense: every pool configuration on every earlier task) holds its
score on each earlier task, so each earlier task can be weighed by how well its stored
scores agree with the observed ones. :func:`observation_weights` does that with two
likelihood terms, neither tied to the units of the scores:

- **order**: for every pair of observed configurations, the probability that the earlier
  task ranks them as the new task did, ``sigmoid(difference of normalized scores /
  tau)`` mixed with ``eps`` of noise (a Bradley-Terry model with label noise; RGPE
  weighs its base models by the same kind of pairwise ranking agreement);
- **level**: for each observed configuration, how far the observed score lies from the
  earlier task's stored score, in units of that configuration's spread over the earlier
  tasks (a Gaussian of width ``sigma`` in those units), so a configuration that scored
  high here points to the tasks where it scored high too. This term needs comparable raw
  scores (one scoring) and is skipped when ``raw`` is None.

Missing cells (NaN) and failed observations contribute nothing; observations of
configurations outside the pool are the caller's to drop (they have no stored scores).
With no usable observation the weights are the prior. The greedy portfolio with these
weights (:func:`~autometa.contract.greedy_cover`) is the adaptive portfolio: with equal
weights it is today's static one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_TAU = 0.05
"""Scale of normalized-score differences in the order term (the pool's scores per task
span [0, 1])."""
DEFAULT_EPS = 0.05
"""Chance that an observed order is noise (two configurations within noise of each other)."""
DEFAULT_SIGMA = 0.5
"""Width of the level term, in units of a configuration's spread over the earlier tasks."""


def observation_weights(
    normalized: np.ndarray,
    raw: np.ndarray | None,
    columns: Sequence[int],
    scores: Sequence[float],
    prior: np.ndarray | None = None,
    *,
    tau: float = DEFAULT_TAU,
    eps: float = DEFAULT_EPS,
    sigma: float = DEFAULT_SIGMA,
) -> np.ndarray:
    """Weights of the earlier tasks (summing to 1) given the new task's observations.

    :param normalized: earlier tasks x pool configurations, each row scaled to [0, 1]
        (1 = that task's best); NaN where unknown.
    :param raw: the same cells in the scoring's own units (greater is better), for the
        level term; None skips that term.
    :param columns: pool columns evaluated on the new task, in the order they were.
    :param scores: their observed scores (greater is better; NaN = failed).
    :param prior: weights before any observation (e.g. by meta-feature nearness);
        uniform when None.
    """
    if len(columns) != len(scores):
        raise ValueError(f"{len(columns)} columns but {len(scores)} scores were given.")
    if not (tau > 0 and 0 <= eps < 0.5 and sigma > 0):
        raise ValueError(f"need tau > 0, 0 <= eps < 0.5, sigma > 0; got {tau}, {eps}, {sigma}.")
    n_tasks = normalized.shape[0]
    log_weight = np.log(
        np.full(n_tasks, 1.0 / max(n_tasks, 1)) if prior is None else np.maximum(prior, 1e-300)
    )
    observed = [(int(c), float(s)) for c, s in zip(columns, scores, strict=True) if np.isfinite(s)]
    log_weight += _order_log_likelihood(normalized, observed, tau, eps)
    if raw is not None:
        log_weight += _level_log_likelihood(raw, observed, sigma)
    log_weight -= log_weight.max(initial=0.0)
    weights = np.exp(log_weight)
    total = weights.sum()
    return weights / total if total > 0 else np.full(n_tasks, 1.0 / max(n_tasks, 1))


def _order_log_likelihood(
    normalized: np.ndarray, observed: Sequence[tuple[int, float]], tau: float, eps: float
) -> np.ndarray:
    """Sum over observed pairs of log P(earlier task orders the pair as observed).

    One numpy step per observation (its pairs with every later one), so a search that
    asks after each of its trials stays cheap: ~100 observations of a 263 x 400 table
    take milliseconds.
    """
    total = np.zeros(normalized.shape[0])
    if len(observed) < 2:
        return total
    columns = np.array([column for column, _ in observed], dtype=int)
    scores = np.array([score for _, score in observed], dtype=float)
    cells = normalized[:, columns]
    for i in range(len(observed) - 1):
        later = slice(i + 1, None)
        # +1 where observation i scored higher, -1 lower, 0 for a tie; a repeat says
        # nothing about the order either
        sign = np.sign(scores[i] - scores[later])
        sign[columns[later] == columns[i]] = 0.0
        used = sign != 0
        if not used.any():
            continue
        difference = (cells[:, [i]] - cells[:, later][:, used]) * sign[used]
        agree = 1.0 / (1.0 + np.exp(-np.nan_to_num(difference, nan=0.0) / tau))
        total += np.log(eps + (1.0 - 2.0 * eps) * agree).sum(axis=1)
    return total


def _level_log_likelihood(
    raw: np.ndarray, observed: Sequence[tuple[int, float]], sigma: float
) -> np.ndarray:
    """Sum over observations of the Gaussian log density of the scaled score distance.

    The distance between the observed score and an earlier task's stored one is measured
    in units of the configuration's spread over the earlier tasks (the median absolute
    deviation, scaled to a standard deviation), so one width fits every configuration
    and every scoring.
    """
    total = np.zeros(raw.shape[0])
    for column, score in observed:
        stored = raw[:, column]
        known = np.isfinite(stored)
        if known.sum() < 2:
            continue
        spread = _spread(stored[known])
        distance = np.where(known, (score - np.where(known, stored, 0.0)) / spread, 0.0)
        total -= distance**2 / (2.0 * sigma**2)
    return total


def _spread(values: np.ndarray) -> float:
    """A robust standard deviation (1.4826 x MAD), falling back to the standard deviation
    and then to 1 when the values barely vary."""
    mad = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    if mad > 1e-12:
        return mad
    std = float(values.std())
    return std if std > 1e-12 else 1.0
