"""The meta-learner interface: learn from a knowledge base, recommend for a new task.

Meta-learners follow scikit-learn's estimator conventions: hyperparameters are the
``__init__`` arguments (so ``get_params``/``clone`` work), and everything learned in
:meth:`MetaLearner.fit` is stored in attributes ending with ``_``. :func:`greedy_cover`
is the portfolio step several learners share.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

if TYPE_CHECKING:
    from autometa.contract._knowledge import KnowledgeView
    from autometa.contract._types import (
        Algorithm,
        Config,
        Evaluation,
        Proposal,
        Recommendation,
        TaskKind,
    )


@dataclass(frozen=True)
class SearchBudget:
    """What the search a learner recommends for may spend, passed as ``budget=``.

    ``seconds`` is the fit's timeout (None: no time limit); every trial fits
    ``n_splits`` models (1 for a holdout split) on a table of ``n_rows`` rows (None: the
    meta-feature NumberOfInstances).
    """

    seconds: float | None = None
    n_splits: int = 5
    n_rows: int | None = None

    def __post_init__(self) -> None:
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"budget seconds must be > 0 or None, got {self.seconds}.")
        if self.n_splits < 1:
            raise ValueError(f"n_splits must be >= 1 (1 = holdout), got {self.n_splits}.")
        if self.n_rows is not None and self.n_rows < 1:
            raise ValueError(f"n_rows must be >= 1 or None, got {self.n_rows}.")


class MetaLearner(BaseEstimator, ABC):  # type: ignore[misc]  # sklearn is untyped
    """Base class of every meta-learner and multi-task model.

    Subclasses set the class attribute ``name`` (unique among registered learners) and
    implement :meth:`fit` and :meth:`recommend`.

    A learner that orders its recommendations for the time a search has (cheap strong
    configurations first under a short budget) declares one more keyword on
    :meth:`recommend`, ``budget: SearchBudget | None = None``; the planner passes it to
    learners whose ``recommend`` accepts it, so a learner written without it keeps
    working unchanged.

    A learner that adapts to the new task's own results overrides :meth:`propose` too
    (:func:`adapts` tells); the others keep the base's, which proposes nothing, and
    their recommendations are enqueued as before.
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def fit(self, knowledge: KnowledgeView) -> MetaLearner:
        """Learn from every task and evaluation in ``knowledge``; return ``self``.

        Must accept an empty knowledge base (then :meth:`recommend` falls back to
        defaults) and must not modify ``knowledge``.
        """

    @abstractmethod
    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
    ) -> list[Recommendation]:
        """Return up to ``k`` distinct recommendations for a new task, best first.

        :param meta_features: the new task's meta-features (NaN where undefined).
        :param kind: the new task's kind; only configurations valid for it may be returned.
        :param algorithms: the algorithms available in this fit; recommend only these.
        :param k: the most recommendations to return.
        """

    def propose(
        self,
        meta_features: Mapping[str, float],
        observed: Sequence[Evaluation],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        pending: Sequence[Config] = (),
        scoring: str | None = None,
        budget: SearchBudget | None = None,
    ) -> Proposal | None:
        """The next configuration to evaluate on the new task, given its trials so far.

        **Why**: after a few trials the search knows more about the new task than its
        meta-features say (how each configuration tried scored on it); a learner that
        reads those scores can revise its recommendations while the search runs.

        **Called** by the search before it asks the study for a trial, once no enqueued
        warm start is waiting, after every trial until it hands over to the sampler; with
        ``n_jobs > 1`` under the search's lock, with what is known then. Keep it cheap
        (a few milliseconds: it runs once per trial). Return None when there is nothing
        worth proposing: the sampler then takes over for good, as it does when the
        proposal's ``gain`` is below :attr:`Strategy.handover_gain`.

        **The caller guarantees**: :meth:`fit` was called; ``observed`` holds every
        evaluation of this task told so far, oldest first, failed, capped and pruned ones
        included (their ``score`` is NaN), configurations outside the learner's own pool
        (the sampler's) and repeats included; ``pending`` are configurations being
        evaluated now; ``scoring`` is the task's scoring (None: unknown, take it as the
        knowledge base's); ``budget`` as in :meth:`recommend`. A proposal outside this
        task's search space is skipped (passed back in ``pending`` on the next call).

        **The learner guarantees**: the proposed configuration is valid for ``kind``, of
        one of ``algorithms``, and neither in ``observed`` nor in ``pending``.

        The base class does not adapt: it returns None (and :func:`adapts` is False).
        """
        return None


def adapts(learner: MetaLearner | type[MetaLearner]) -> bool:
    """Whether a learner (instance or class) overrides :meth:`MetaLearner.propose`."""
    cls = learner if isinstance(learner, type) else type(learner)
    return getattr(cls, "propose", None) is not MetaLearner.propose


SPARSE_ROW_SHARE = 0.5
"""A task evaluated on fewer configurations than this share of the best-covered task's
is sparse (see :func:`portfolio_regret`)."""


def sparse_tasks(normalized: np.ndarray) -> np.ndarray:
    """Which tasks (rows) hold fewer than :data:`SPARSE_ROW_SHARE` of the cells of the
    best-covered one: what a fit tried, not a pool evaluated everywhere."""
    counts = np.isfinite(normalized).sum(axis=1)
    return np.asarray(counts < SPARSE_ROW_SHARE * counts.max(initial=0))


def portfolio_regret(normalized: np.ndarray) -> np.ndarray:
    """Regret (1 - normalized score) of each task and configuration, no cell missing.

    A knowledge base built by evaluating a pool on every task is dense: a configuration
    missing on a task failed there and counts as the worst, regret 1, so that it is not
    favoured for having been evaluated on fewer tasks. A task holding only what a fit
    tried (:func:`sparse_tasks`: the user's own fits, a few configurations each) is
    another matter: counting all it did not try as the worst would favour what was tried,
    the earlier recommendations, more with every fit. There a missing cell is the
    configuration's mean regret over the tasks (dense ones counting their missing cells
    as 1): unknown, not worst. Weigh such tasks by :func:`evidence_weights` too.
    """
    regret = 1.0 - np.asarray(normalized, dtype=float)
    sparse = sparse_tasks(normalized)
    filled = np.where(np.isnan(regret) & ~sparse[:, None], 1.0, regret)
    if sparse.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column no task evaluated
            mean = np.nanmean(filled, axis=0)
        mean = np.where(np.isnan(mean), 1.0, mean)
        filled = np.where(np.isnan(filled), mean[None, :], filled)
    return filled


def evidence_weights(normalized: np.ndarray) -> np.ndarray:
    """How much each task counts in a portfolio: 1 for a dense task, and for a sparse one
    its share of the best-covered task's cells (a fit that tried 10 of 368 pool
    configurations weighs 10/368). Measured by leave-one-task-out replay with sparse copies
    of other tasks added (``examples/benchmark_sparse_tasks.py``; docs/benchmarks.md):
    counting their missing cells as the worst, unweighted, raised the greedy portfolio's
    binary regret after 5 picks from 0.0347 to 0.0386-0.0413; this way it is within the
    replay's noise of the portfolio without them, and lower on regression."""
    counts = np.isfinite(normalized).sum(axis=1).astype(float)
    best = counts.max(initial=0.0)
    sparse = sparse_tasks(normalized)
    return np.where(sparse, counts / max(best, 1.0), 1.0)


def greedy_cover(
    regret: np.ndarray,
    size: int,
    *,
    weights: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    after: Sequence[int] = (),
) -> list[tuple[int, float]]:
    """Columns of ``regret`` picked greedily to minimise the weighted best-so-far regret.

    ``regret`` is earlier tasks x configurations. Each step adds the column that most
    lowers ``sum_t weights[t] * min(regret[t, picked])`` (auto-sklearn 2's portfolio
    building; uniform ``weights`` by default), so the picks cover different tasks
    rather than repeat near-copies. Returns ``(column, weighted best-so-far regret after
    it)`` pairs, at most ``size`` of them and only columns where ``allowed`` is true;
    ties go to the earliest column, so the result is deterministic. ``after`` continues
    an earlier cover: those columns count as picked already.
    """
    n_tasks, n_configs = regret.shape
    weights = np.full(n_tasks, 1.0 / max(n_tasks, 1)) if weights is None else weights
    remaining = np.ones(n_configs, dtype=bool) if allowed is None else allowed.copy()
    remaining[list(after)] = False
    # initial=1.0: with nothing picked, each task's best-so-far regret is the worst, 1.
    best_so_far = regret[:, list(after)].min(axis=1, initial=1.0)
    picked: list[tuple[int, float]] = []
    while len(picked) < size and remaining.any():
        expected = weights @ np.minimum(best_so_far[:, None], regret)
        expected[~remaining] = np.inf
        # argmin returns the first minimum: ties go to the earliest column.
        column = int(np.argmin(expected))
        remaining[column] = False
        best_so_far = np.minimum(best_so_far, regret[:, column])
        picked.append((column, float(expected[column])))
    return picked
