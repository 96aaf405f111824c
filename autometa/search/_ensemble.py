"""Ensemble selection over the out-of-fold predictions the search's trials left behind.

Caruana et al.'s greedy forward selection with replacement, as auto-sklearn does it:
start from nothing, add at each round the trial whose predictions, averaged with those
already chosen, score best on the validation rows with the fit's own scoring; a trial
chosen twice weighs twice. The predictions are scored by the scikit-learn scorer the fit
uses, through a tiny estimator that answers with them (:class:`PrecomputedClassifier`,
:class:`PrecomputedRegressor`), so any scorer name works, not just a few hand-written
metrics.

Only the best trials' predictions are kept (:class:`PredictionStore`), in float32 and
within a memory bound, so a long search on a large table does not hold every trial's.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from autometa.contract._task_checks import scorer_for
from autometa.contract._types import Evaluation
from autometa.search._fast_scores import fast_score

MAX_KEPT_TRIALS = 50
"""At most this many trials' predictions are kept, whatever the memory bound allows."""

DEFAULT_ENSEMBLE_SIZE = 20
"""Greedy rounds by default: the most members an ensemble can have."""

DEFAULT_ENSEMBLE_MEMORY_MB = 256.0
"""Default bound on the memory the kept predictions take, in megabytes."""

_TIE = 1e-12
"""Scores closer than this (relative) are tied: the smaller, cheaper ensemble wins."""


# -- keeping predictions -----------------------------------------------------------------
@dataclass
class KeptTrial:
    """One trial whose out-of-fold predictions are kept for ensemble selection."""

    number: int
    evaluation: Evaluation
    predictions: np.ndarray


@dataclass
class PredictionStore:
    """The out-of-fold predictions of the best trials, within ``memory_limit_mb``.

    ``rows`` are the validation rows every trial's predictions cover (in order). The
    store keeps the ``capacity`` best trials by score (ties: the faster one), where
    ``capacity`` is what the memory bound allows of one trial's float32 predictions,
    at most :data:`MAX_KEPT_TRIALS`; a better trial arriving evicts the worst kept one.
    """

    rows: np.ndarray
    width: int
    """Columns of one trial's predictions: the number of classes, 1 for a regression."""
    memory_limit_mb: float
    max_kept: int = MAX_KEPT_TRIALS
    kept: dict[int, KeptTrial] = field(default_factory=dict)
    offered: int = 0
    """Trials that came with predictions, kept or not."""

    @property
    def bytes_per_trial(self) -> int:
        return int(len(self.rows) * self.width * np.dtype(np.float32).itemsize)

    @property
    def capacity(self) -> int:
        # max(..., 1): no validation rows would divide by zero.
        fits = int(self.memory_limit_mb * 2**20 // max(self.bytes_per_trial, 1))
        return max(min(fits, self.max_kept), 0)

    @property
    def nbytes(self) -> int:
        """Memory the kept predictions take now."""
        return sum(k.predictions.nbytes for k in self.kept.values())

    def would_keep(self, number: int, evaluation: Evaluation) -> bool:
        """Whether trial ``number`` with ``evaluation`` would be kept if offered now."""
        if not evaluation.ok or self.capacity == 0:
            return False
        if len(self.kept) < self.capacity:
            return True
        worst = min(self.kept.values(), key=_rank)
        return keep_rank(number, evaluation) > _rank(worst)

    def add(self, number: int, evaluation: Evaluation, predictions: np.ndarray) -> None:
        """Offer a successful trial's predictions; kept if among the best ``capacity``."""
        self.offered += 1
        if not evaluation.ok or self.capacity == 0:
            return
        expected = (len(self.rows),) if self.width == 1 else (len(self.rows), self.width)
        if predictions.shape != expected:
            return  # e.g. a regression target predicted as columns: not comparable
        self.kept[number] = KeptTrial(number, evaluation, predictions.astype(np.float32))
        # Added first, then the worst evicted: a newcomer that is itself the worst leaves again,
        # with no separate comparison.
        if len(self.kept) > self.capacity:
            worst = min(self.kept.values(), key=_rank)
            del self.kept[worst.number]


def keep_rank(number: int, evaluation: Evaluation) -> tuple[float, float, int]:
    """Which trials the store keeps, greater first: the better score, then the cheaper
    fit, then the earlier trial."""
    return (evaluation.score, -evaluation.fit_time, -number)


def _rank(kept: KeptTrial) -> tuple[float, float, int]:
    return keep_rank(kept.number, kept.evaluation)


# -- scoring predictions ---------------------------------------------------------------------
class PrecomputedClassifier(ClassifierMixin, BaseEstimator):
    """A "fitted" classifier whose answers are given probabilities, for scoring them.

    ``X`` passed to it is a column of row numbers into ``probabilities``; ``predict``
    is the most probable class, as an ensemble's prediction is.
    """

    def __init__(self, probabilities: np.ndarray, classes: np.ndarray) -> None:
        self.probabilities = probabilities
        self.classes = classes
        # classes is the constructor argument (get_params, clone); classes_ is what scorers read off
        # a fitted classifier.
        self.classes_ = classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        # Kept predictions are float32: rows are summed again in float64, so that
        # scorers checking that probabilities sum to one are not misled by rounding.
        proba = np.asarray(self.probabilities[_row_numbers(X)], dtype=float)
        sums = proba.sum(axis=1, keepdims=True)
        # A row of zeros stays zeros rather than becoming NaN.
        return np.divide(proba, sums, out=np.zeros_like(proba), where=sums > 0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


class PrecomputedRegressor(RegressorMixin, BaseEstimator):
    """A "fitted" regressor whose predictions are given values, for scoring them."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.values[_row_numbers(X)], dtype=float)


def _row_numbers(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, dtype=np.intp).reshape(-1)


def score_predictions(
    scoring: str,
    predictions: np.ndarray,
    y: np.ndarray,
    classes: np.ndarray | None,
    sample_weight: np.ndarray | None = None,
) -> float:
    """``scoring`` (any scikit-learn scorer name) of ``predictions`` against ``y``.

    ``predictions`` are class probabilities (columns in ``classes``' order) or, with
    ``classes`` None, regression values; ``sample_weight`` the rows' weights, if any.
    Greater is better, as for every scorer. The common scorings, with or without
    weights, are computed in numpy (:func:`~autometa.search._fast_scores.fast_score`,
    the same numbers a hundred times faster: a weighted fit's selection is not cut
    short by its time reserve); the other scorings, and weights ``fast_score`` declines
    (all zero, or a negative one), by the scikit-learn scorer.
    """
    fast = fast_score(scoring, predictions, y, classes, sample_weight)
    if fast is not None:
        return fast
    # Told every class: the validation rows may lack one (a class seen once is never
    # validated), and log loss needs them all.
    scorer = scorer_for(scoring, classes)
    estimator: BaseEstimator
    if classes is None:
        estimator = PrecomputedRegressor(predictions)
    else:
        estimator = PrecomputedClassifier(predictions, classes)
    # Row numbers stand in for X: the scorer hands them to predict or predict_proba unchanged.
    rows = np.arange(len(y)).reshape(-1, 1)
    if sample_weight is None:
        return float(scorer(estimator, rows, y))
    return float(scorer(estimator, rows, y, sample_weight=sample_weight))


# -- selection -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """The outcome of ensemble selection: each chosen trial's weight, and scores."""

    weights: dict[int, float]
    """Trial number -> weight; the weights sum to 1."""
    score: float
    """Validation score of the selected ensemble."""
    best_single: int
    """Trial number of the search's best candidate (the best trial score, ties to the
    cheaper fit): what a fit without an ensemble would refit."""
    best_single_score: float
    """Its score on the same validation predictions as the ensemble's."""
    rounds: int
    """Greedy rounds run (the selection is the best prefix of them)."""


def select_ensemble(
    candidates: Sequence[KeptTrial],
    y: np.ndarray,
    scoring: str,
    classes: np.ndarray | None,
    size: int,
    deadline: float | None = None,
    sample_weight: np.ndarray | None = None,
) -> Selection | None:
    """Greedy forward selection with replacement over ``candidates``' predictions.

    Each of at most ``size`` rounds adds the candidate that makes the averaged
    predictions score best on ``y``; ties go to a candidate already chosen (no new
    member), then to the cheaper fit. The result is the best-scoring prefix of the
    rounds, the shortest among equals. Rounds stop early at ``deadline``
    (``time.monotonic()``). Candidates whose predictions cannot be scored are left out;
    None if none can. Scores weigh the rows by ``sample_weight`` when given.

    The best single candidate is the search's own best (the best trial score, as a fit
    without an ensemble refits it), and a selection that combines nothing is that
    candidate: a lone member picked by its pooled out-of-fold score is another estimate
    of the same thing (the mean of the fold scores and the score of the pooled folds
    differ on a few hundred rows), not evidence that it beats the search's choice. So
    the result never scores below the search's best, and differs from it only by
    combining members.
    """
    w = sample_weight
    singles = {c.number: _safe_score(scoring, c.predictions, y, classes, w) for c in candidates}
    usable = [c for c in candidates if math.isfinite(singles[c.number])]
    if not usable:
        return None
    total = np.zeros(usable[0].predictions.shape, dtype=float)
    picks: list[int] = []
    history: list[float] = []
    for round_ in range(size):
        # Round one always runs: the best candidate on the pooled predictions starts combining.
        if round_ and deadline is not None and time.monotonic() >= deadline:
            break
        scored = [
            (
                singles[c.number]
                if not picks
                else _safe_score(scoring, (total + c.predictions) / (round_ + 1), y, classes, w),
                c,
            )
            for c in usable
        ]
        top = max(score for score, _ in scored)
        # Relative for large scores, absolute near zero: float noise in the averages must not bring
        # in a new member.
        tied = [c for score, c in scored if score >= top - _TIE * max(1.0, abs(top))]
        # False sorts first: a candidate already chosen wins a tie.
        chosen = min(tied, key=lambda c: (c.number not in picks, c.evaluation.fit_time, c.number))
        picks.append(chosen.number)
        total += chosen.predictions
        history.append(top)
    best_rounds = 1 + int(np.argmax(history))  # the first maximum: fewest rounds
    counts: dict[int, int] = {}
    for number in picks[:best_rounds]:
        counts[number] = counts.get(number, 0) + 1
    single = max(usable, key=lambda c: keep_rank(c.number, c.evaluation))
    selected_score = history[best_rounds - 1]
    if len(counts) == 1:  # nothing combined: the search's best, as without an ensemble
        counts, best_rounds, selected_score = {single.number: 1}, 1, singles[single.number]
    return Selection(
        weights={number: count / best_rounds for number, count in counts.items()},
        score=selected_score,
        best_single=single.number,
        best_single_score=singles[single.number],
        rounds=len(history),
    )


def weighted_predictions(candidates: Sequence[KeptTrial], weights: dict[int, float]) -> np.ndarray:
    """The ensemble's validation predictions for ``weights`` (trial number -> weight)."""
    by_number = {c.number: c for c in candidates}
    first = by_number[next(iter(weights))].predictions
    total = np.zeros(first.shape, dtype=float)
    for number, weight in weights.items():
        total += weight * by_number[number].predictions
    return total


def _safe_score(
    scoring: str,
    predictions: np.ndarray,
    y: np.ndarray,
    classes: np.ndarray | None,
    sample_weight: np.ndarray | None = None,
) -> float:
    """The score, or -inf when the scorer cannot score these predictions.

    Any error counts as "cannot" (a scorer of a third party may need a response the
    precomputed estimators do not give): selection then leaves the candidate out, and
    a fit with no scorable candidate refits its best configuration alone. Warnings of
    the many scorer calls (e.g. an undefined metric on one candidate) are silenced.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = score_predictions(scoring, predictions, y, classes, sample_weight)
    except Exception:
        return -math.inf
    # NaN compares false with everything, so max() would keep or drop it by position; -inf simply
    # loses.
    return score if math.isfinite(score) else -math.inf
