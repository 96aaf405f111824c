"""Choosing the meta-learner per task from data, and judging that choice like a learner.

A learned strategy selector (after auto-sklearn 2, Feurer et al., JMLR 2022) learns which
meta-learner recommends best on which tasks, from how each one did when the task was
held out of the knowledge base (leave-one-task-out, :mod:`autometa.knowledge._loto`):

- :class:`SelectorData` is that training data: per task, each learner's regret curve,
  plus a fingerprint of each task's content so stored data can be matched to (and
  partly reused for) a knowledge base. Plain JSON, never pickle.
- :class:`PairwiseSelector` is auto-sklearn 2's model: for each pair of learners a
  random forest over the task's meta-features predicts which of the two has the lower
  regret (weighted by how much lower, so ties teach nothing); the learner with the most
  pairwise wins is chosen. One addition: its forests' out-of-bag votes are compared
  with always choosing the single best learner, and when they do not beat it the
  selector always chooses that learner.
- :func:`evaluate_selectors` measures a selector by leave-one-task-out over the same
  tasks, and adds it (and the oracle that picks each task's best learner) to a
  :class:`~autometa.knowledge._loto.LotoReport`, so ``autometa kb evaluate --selector`` shows it
  next to the learners.

The quantity a selector minimises is a task's *target*: the mean of a learner's regret
at every reported k up to :data:`TARGET_MAX_K`. The warm starts enqueued by default are
that many, and the mean over k rewards a learner whose first recommendations are
already good (short budgets run only those) rather than one that gets there at the
tenth; a single k is also noisier (many learners tie at regret@10).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Protocol

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from autometa.contract._types import TASK_KINDS
from autometa.knowledge._base import KnowledgeBase, TaskRecord
from autometa.knowledge._loto import SBS, LotoReport, _same_task, _summarise

SELECTOR = "learned_selector"
"""Row name of the learned selector in an evaluation report."""
ORACLE = "oracle_selector"
"""Row name of the oracle that picks each task's best learner (an upper bound)."""
TARGET_MAX_K = 10
"""Targets average the regret at every k up to this (the default number of warm starts)."""
DATA_FORMAT = "autometa-selector-data"
DATA_VERSION = 1
_TIE = 1e-12
"""Regret differences at most this are ties: they carry no weight in a pairwise forest."""


# -- training data ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SelectorData:
    """Per-task regret curves of meta-learners, measured by leave-one-task-out.

    Parameters
    ----------
    ks:
        The k of each regret in a curve, increasing.
    learners:
        The learners measured; every task has a curve for each.
    regrets:
        ``{task_id: {learner: [regret at each k]}}``, regrets normalised in [0, 1].
    task_fingerprints:
        ``{task_id: KnowledgeBase.task_fingerprints()[task_id]}`` of *every* task of the
        knowledge base measured (also those without enough evaluations to hold out),
        so the data matches a knowledge base exactly when these are equal.
    """

    ks: tuple[int, ...]
    learners: tuple[str, ...]
    regrets: Mapping[str, Mapping[str, Sequence[float]]]
    task_fingerprints: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.ks or list(self.ks) != sorted(set(self.ks)) or self.ks[0] < 1:
            raise ValueError(f"ks must be increasing positive integers, got {self.ks}.")
        if len(set(self.learners)) != len(self.learners):
            raise ValueError(f"learners must be unique, got {self.learners}.")
        for task_id, curves in self.regrets.items():
            missing = [n for n in self.learners if n not in curves]
            if missing:
                raise ValueError(f"task {task_id!r} has no regrets for learners {missing}.")
            for name in self.learners:
                curve = curves[name]
                if len(curve) != len(self.ks) or not all(
                    isinstance(r, (int, float)) and 0.0 <= r <= 1.0 for r in curve
                ):
                    raise ValueError(
                        f"task {task_id!r}, learner {name!r}: expected {len(self.ks)} "
                        f"regrets in [0, 1] (one per k in {list(self.ks)}), got {curve!r}."
                    )

    @classmethod
    def from_report(cls, report: LotoReport, task_fingerprints: Mapping[str, str]) -> SelectorData:
        """The learners' (not the single best's) per-task regrets of a LOTO report."""
        learners = tuple(sorted(n for n in report.results if n not in (SBS, SELECTOR, ORACLE)))
        regrets = {
            task_id: {n: [float(r) for r in curves[n]] for n in learners}
            for task_id, curves in sorted(report.per_task.items())
        }
        return cls(tuple(report.ks), learners, regrets, dict(sorted(task_fingerprints.items())))

    @property
    def task_ids(self) -> list[str]:
        return sorted(self.regrets)

    def target_ks(self) -> list[int]:
        """The ks a target averages over: those up to :data:`TARGET_MAX_K` (else all)."""
        return [k for k in self.ks if k <= TARGET_MAX_K] or list(self.ks)

    def targets(self, task_ids: Sequence[str], learners: Sequence[str]) -> np.ndarray:
        """Tasks x learners array of targets (mean regret over :meth:`target_ks`)."""
        columns = [self.ks.index(k) for k in self.target_ks()]
        return np.array(
            [
                [np.mean([self.regrets[t][n][c] for c in columns]) for n in learners]
                for t in task_ids
            ],
            dtype=float,
        ).reshape(len(task_ids), len(learners))

    def restricted(self, learners: Sequence[str]) -> SelectorData:
        """The same data for only ``learners`` (those it has, in its order)."""
        kept = tuple(n for n in self.learners if n in set(learners))
        regrets = {t: {n: curves[n] for n in kept} for t, curves in self.regrets.items()}
        return SelectorData(self.ks, kept, regrets, self.task_fingerprints)

    # -- plain JSON ---------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "format": DATA_FORMAT,
                "version": DATA_VERSION,
                "ks": list(self.ks),
                "learners": list(self.learners),
                "task_fingerprints": dict(self.task_fingerprints),
                "regrets": {t: dict(c) for t, c in self.regrets.items()},
            },
            indent=1,
            sort_keys=True,
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str, where: str = "selector data") -> SelectorData:
        """Parse :meth:`to_json` output; anything else is a ValueError naming ``where``."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc}).") from None
        if not isinstance(raw, dict) or raw.get("format") != DATA_FORMAT:
            raise ValueError(f"{where}: not {DATA_FORMAT} JSON (no matching 'format' field).")
        if raw.get("version") != DATA_VERSION:
            raise ValueError(
                f"{where}: version {raw.get('version')!r}, this autometa reads version "
                f"{DATA_VERSION}; regenerate it with `autometa kb evaluate "
                "--save-selector-data`."
            )
        try:
            return cls(
                ks=tuple(int(k) for k in raw["ks"]),
                learners=tuple(str(n) for n in raw["learners"]),
                regrets={str(t): dict(c) for t, c in raw["regrets"].items()},
                task_fingerprints={str(t): str(f) for t, f in raw["task_fingerprints"].items()},
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed selector data ({exc}).") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path`` atomically (a temporary file, then a rename)."""
        target = Path(path)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(self.to_json(), encoding="utf-8")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SelectorData:
        return cls.from_json(Path(path).read_text(encoding="utf-8"), str(path))


@dataclass(frozen=True)
class TrainingSet:
    """What a selector learns from: tasks' meta-features and kinds, learners' targets."""

    task_ids: list[str]
    meta_features: list[Mapping[str, float]]
    kinds: list[str]
    targets: np.ndarray
    """Tasks x learners; lower is better."""
    learners: list[str]

    @classmethod
    def build(
        cls,
        data: SelectorData,
        records: Mapping[str, TaskRecord],
        learners: Sequence[str] | None = None,
        task_ids: Sequence[str] | None = None,
    ) -> TrainingSet:
        """The tasks of ``data`` (or ``task_ids``) that ``records`` describes."""
        names = list(data.learners if learners is None else learners)
        ids = [t for t in (data.task_ids if task_ids is None else task_ids) if t in records]
        return cls(
            ids,
            [records[t].meta_features for t in ids],
            [records[t].kind for t in ids],
            data.targets(ids, names),
            names,
        )


# -- the selector -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """The learner a selector chose for a task, its pairwise wins, and why, in words."""

    learner: str
    wins: Mapping[str, float]
    reason: str


class PairModel(Protocol):
    """What a pair's model must offer: a fitted forest, or one rebuilt from stored arrays
    (:class:`autometa_selectors.stored.StoredForest`)."""

    @property
    def classes_(self) -> np.ndarray: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


class Selector(Protocol):
    def choose(self, meta_features: Mapping[str, float], kind: str) -> Choice: ...


LearnSelector = Callable[[TrainingSet], Selector]
"""A selector-learning function: training set in, fitted selector out."""


class PairwiseSelector:
    """auto-sklearn 2's selector: one random forest per pair of learners, most wins chosen.

    Each forest sees the tasks' meta-features (NaN where undefined; scikit-learn's
    forests route missing values themselves) plus one indicator per task kind, and
    predicts whether the first learner of its pair has the lower target; every task
    is weighted by the absolute difference of the two targets, so a tie teaches nothing.
    Ties in wins go to the lower mean training target, then to the name.

    ``guard=True`` (the default) compares the forests' out-of-bag choices on the
    training tasks with always choosing the single best learner (the lowest mean target;
    of learners within ``guard_margin`` standard errors of it, the first by name); unless
    the forests lower the mean target there by more than ``guard_margin`` standard
    errors of the per-task difference, :meth:`choose` always returns that learner.
    (Without the margin, forests that win out of bag by chance send a few tasks to a
    worse learner.)

    Parameters
    ----------
    n_estimators:
        Trees per forest.
    guard:
        Fall back to the single best learner when the forests do not beat it out of bag.
    guard_margin:
        Standard errors a difference of mean targets must exceed to count (for the
        guard, and for which learner is the single best).
    random_state:
        Seeds every forest: equal inputs give equal choices.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        *,
        guard: bool = True,
        guard_margin: float = 1.0,
        random_state: int = 0,
    ):
        self.n_estimators = n_estimators
        self.guard = guard
        self.guard_margin = guard_margin
        self.random_state = random_state

    def fit(self, training: TrainingSet) -> PairwiseSelector:
        """Learn from ``training``; needs at least one task and one learner."""
        if not training.learners or not training.task_ids:
            raise ValueError(
                "A selector needs at least one training task and one learner; got "
                f"{len(training.task_ids)} tasks and learners {training.learners}."
            )
        self.learners_ = list(training.learners)
        targets = np.asarray(training.targets, dtype=float)
        self.n_tasks_ = len(training.task_ids)
        self.mean_target_ = dict(zip(self.learners_, targets.mean(axis=0).tolist(), strict=True))
        self.order_ = sorted(self.learners_, key=lambda n: (self.mean_target_[n], n))
        index = {n: c for c, n in enumerate(self.learners_)}
        self.single_best_ = self._single_best(targets, index)
        self.feature_names_ = _feature_names(training.meta_features)
        X = _design(training.meta_features, training.kinds, self.feature_names_)
        self.pairs_: dict[tuple[str, str], PairModel | str | None] = {}
        oob_wins = np.zeros((len(X), len(self.learners_)))
        for (i, a), (j, b) in combinations(enumerate(self.learners_), 2):
            model, votes = self._fit_pair(X, targets[:, i] - targets[:, j])
            self.pairs_[(a, b)] = model
            oob_wins[:, i] += votes
            oob_wins[:, j] += 1.0 - votes
        self.fallback_: str | None = None
        self.guard_scores_: dict[str, float] = {}
        if self.guard and len(self.learners_) > 1:
            picked = np.array([targets[r, index[self._winner(w)]] for r, w in enumerate(oob_wins)])
            gain = targets[:, index[self.single_best_]] - picked  # > 0 where the forests helped
            self.guard_scores_ = {
                "pairwise_oob": float(picked.mean()),
                "single_best": self.mean_target_[self.single_best_],
            }
            if not _clearly_positive(gain, self.guard_margin):
                self.fallback_ = self.single_best_
        return self

    def _single_best(self, targets: np.ndarray, index: Mapping[str, int]) -> str:
        """The learner of lowest mean target, unless that lead is within the margin.

        Learners whose mean target is not clearly worse than the lowest (by
        ``guard_margin`` standard errors of the per-task difference) are tied with it,
        and the first of them in name order is taken. A near tie decided by the means
        flips when one task is added or removed, always against that task, which is what
        a leave-one-task-out evaluation of the selector then measures.
        """
        lowest = targets[:, index[self.order_[0]]]
        tied = [
            name
            for name in self.learners_
            if not _clearly_positive(targets[:, index[name]] - lowest, self.guard_margin)
        ]
        return min(tied)

    def _fit_pair(
        self, X: np.ndarray, difference: np.ndarray
    ) -> tuple[RandomForestClassifier | str | None, np.ndarray]:
        """One pair's model (a forest, a learner that always wins, or None: no evidence)
        and, per training task, the out-of-bag vote for the first learner in [0, 1]."""
        weight = np.abs(difference)
        informative = weight > _TIE
        first_wins = difference < 0
        votes = np.full(len(X), 0.5)
        labels = set(first_wins[informative].tolist())
        if not labels:
            return None, votes
        if len(labels) == 1:
            winner = labels.pop()
            votes[:] = 1.0 if winner else 0.0
            return ("first" if winner else "second"), votes
        forest = RandomForestClassifier(
            n_estimators=self.n_estimators,
            oob_score=True,
            random_state=self.random_state,
            n_jobs=1,
        )
        with warnings.catch_warnings():
            # Bootstrap samples are drawn by weight, so a task with a large regret gap may
            # be in every tree: it has no out-of-bag vote, and counts as a coin flip.
            warnings.filterwarnings("ignore", message="Some inputs do not have OOB scores")
            forest.fit(X[informative], first_wins[informative], sample_weight=weight[informative])
        column = list(forest.classes_).index(True)
        in_training = np.flatnonzero(informative)
        with np.errstate(invalid="ignore"):
            oob = np.nan_to_num(forest.oob_decision_function_[:, column], nan=0.5)
        votes[in_training] = _vote(oob)
        outside = np.flatnonzero(~informative)
        if len(outside):  # tasks the forest never saw: its prediction is out of sample
            votes[outside] = _vote(forest.predict_proba(X[outside])[:, column])
        return forest, votes

    def _winner(self, wins: np.ndarray) -> str:
        best = max(wins)
        tied = {n for n, w in zip(self.learners_, wins, strict=True) if w >= best - 1e-9}
        return next(n for n in self.order_ if n in tied)

    def wins(self, meta_features: Mapping[str, float], kind: str) -> dict[str, float]:
        """Pairwise wins of each learner for one task (a tie counts half to each)."""
        x = _design([meta_features], [kind], self.feature_names_)
        wins = dict.fromkeys(self.learners_, 0.0)
        for (a, b), model in self.pairs_.items():
            if model is None:
                vote = 0.5
            elif isinstance(model, str):
                vote = 1.0 if model == "first" else 0.0
            else:
                vote = float(_vote(model.predict_proba(x)[:, list(model.classes_).index(True)])[0])
            wins[a] += vote
            wins[b] += 1.0 - vote
        return wins

    def choose(self, meta_features: Mapping[str, float], kind: str) -> Choice:
        """The learner for a new task, with its pairwise wins and the reason in words."""
        wins = self.wins(meta_features, kind)
        if self.fallback_ is not None:
            scores = self.guard_scores_
            return Choice(
                self.fallback_,
                wins,
                f"{self.fallback_} is the single best learner over {self.n_tasks_} tasks "
                f"(mean regret {self.mean_target_[self.fallback_]:.4f}); the pairwise forests "
                "did not "
                f"beat it out of bag ({scores['pairwise_oob']:.4f})",
            )
        learner = self._winner(np.array([wins[n] for n in self.learners_]))
        others = len(self.learners_) - 1
        return Choice(
            learner,
            wins,
            f"pairwise forests over {self.n_tasks_} tasks' meta-features: {learner} wins "
            f"{wins[learner]:g} of {others} comparisons",
        )


def _clearly_positive(values: np.ndarray, margin: float) -> bool:
    """Whether the mean of ``values`` exceeds ``margin`` standard errors of it."""
    if len(values) < 2:
        return False
    error = float(values.std(ddof=1) / np.sqrt(len(values)))
    return bool(values.mean() > margin * error)


def learn_pairwise(training: TrainingSet) -> Selector:
    """The default selector-learning function: a :class:`PairwiseSelector` with its defaults."""
    return PairwiseSelector().fit(training)


def _vote(probability: np.ndarray) -> np.ndarray:
    """1 where the first learner is predicted better, 0 where worse, 0.5 on a coin flip."""
    return np.where(probability > 0.5, 1.0, np.where(probability < 0.5, 0.0, 0.5))


def _feature_names(meta_features: Sequence[Mapping[str, float]]) -> list[str]:
    """Meta-features with a finite value on at least one training task, sorted."""
    names = {
        name
        for values in meta_features
        for name, value in values.items()
        if isinstance(value, (int, float)) and math.isfinite(value)
    }
    return sorted(names)


def _design(
    meta_features: Sequence[Mapping[str, float]], kinds: Sequence[str], names: Sequence[str]
) -> np.ndarray:
    """Rows of the named meta-features (NaN where missing or infinite) + kind indicators."""
    X = np.array(
        [[values.get(n, np.nan) for n in names] for values in meta_features], dtype=float
    ).reshape(len(meta_features), len(names))
    X[~np.isfinite(X)] = np.nan
    indicators = np.array([[float(kind == k) for k in TASK_KINDS] for kind in kinds]).reshape(
        len(kinds), len(TASK_KINDS)
    )
    return np.hstack([X, indicators])


# -- leave-one-task-out of a selector ---------------------------------------------------------
@dataclass
class SelectorEvaluation:
    """A LOTO report with selector rows added, and what the selector chose per task."""

    report: LotoReport
    choices: dict[str, str]

    def summary(self) -> str:
        counts = Counter(self.choices.values())
        chosen = ", ".join(f"{n} {c}" for n, c in sorted(counts.items()))
        return f"{SELECTOR} chose: {chosen} (over {len(self.choices)} held-out tasks)"


def selector_choices(
    data: SelectorData,
    records: Mapping[str, TaskRecord],
    learn: LearnSelector = learn_pairwise,
    *,
    n_jobs: int = 1,
) -> dict[str, str]:
    """For each task, the learner a selector trained on the *other* tasks chooses.

    The other tasks' training targets come from ``data``, whose regrets were measured by
    learners that were fitted on knowledge bases *including* the held-out task (it only
    left its own row's evaluation). A fully nested run (recompute every other task's
    regrets without the held-out one) costs a leave-one-task-out per task, O(tasks^2)
    learner fits: about three hours for 94 tasks and two cheap learners on two cores,
    so it is not offered. Duplicates of the held-out task (same kind and meta-features)
    are left out of its training set, as :func:`~autometa.knowledge._loto.leave_one_task_out` does.
    """
    task_ids = [t for t in data.task_ids if t in records]
    outcomes = joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(_choose_held_out)(data, records, task_id, task_ids, learn)
        for task_id in task_ids
    )
    return dict(zip(task_ids, outcomes, strict=True))


def _choose_held_out(
    data: SelectorData,
    records: Mapping[str, TaskRecord],
    held_out: str,
    task_ids: Sequence[str],
    learn: LearnSelector,
) -> str:
    record = records[held_out]
    others = [t for t in task_ids if not _same_task(records[t], record)]
    if not others:  # nothing to learn from: the learner first in name order
        return data.learners[0]
    selector = learn(TrainingSet.build(data, records, task_ids=others))
    return selector.choose(record.meta_features, record.kind).learner


def oracle_choices(data: SelectorData) -> dict[str, str]:
    """Per task, the learner with the lowest target (ties: name order): an upper bound."""
    targets = data.targets(data.task_ids, data.learners)
    return {
        t: data.learners[int(np.argmin(row))] for t, row in zip(data.task_ids, targets, strict=True)
    }


def evaluate_selectors(
    report: LotoReport,
    data: SelectorData,
    records: Mapping[str, TaskRecord],
    learn: LearnSelector = learn_pairwise,
    *,
    n_jobs: int = 1,
) -> SelectorEvaluation:
    """``report`` with :data:`SELECTOR` and :data:`ORACLE` rows, judged as learners are.

    Each selector's regret on a held-out task is the regret its chosen learner had
    there; ranks and gap closed are recomputed over all rows.
    """
    if len(data.learners) < 2:
        raise ValueError(
            f"A selector needs at least two learners to choose from; the report has "
            f"{list(data.learners)}. Evaluate more learners (--learners a,b)."
        )
    choices = selector_choices(data, records, learn, n_jobs=n_jobs)
    oracle = oracle_choices(data)
    per_task = {t: dict(rows) for t, rows in report.per_task.items() if t in choices}
    for task_id, rows in per_task.items():
        rows[SELECTOR] = list(data.regrets[task_id][choices[task_id]])
        rows[ORACLE] = list(data.regrets[task_id][oracle[task_id]])
    names = [*report.results, SELECTOR, ORACLE]
    return SelectorEvaluation(_summarise(per_task, names, tuple(report.ks)), choices)


def records_by_id(knowledge: KnowledgeBase) -> dict[str, TaskRecord]:
    """Every task of ``knowledge`` by id (what :class:`TrainingSet` reads features from)."""
    return {record.task_id: record for record in knowledge.tasks()}


def selector_report(
    report: LotoReport,
    knowledge: KnowledgeBase,
    *,
    evaluate: bool = True,
    save_to: str | os.PathLike[str] | None = None,
    n_jobs: int = 1,
) -> tuple[LotoReport, str | None]:
    """What ``autometa kb evaluate --selector / --save-selector-data`` adds to a report.

    Saves the report's per-task regrets with ``knowledge``'s task fingerprints as
    :class:`SelectorData` to ``save_to`` (the shipped file is
    ``autometa_selectors/data/selector_training.json``), and with ``evaluate`` returns the report
    with the selector rows and a one-line summary of the selector's choices.
    """
    data = SelectorData.from_report(report, knowledge.task_fingerprints())
    if save_to is not None:
        data.save(save_to)
    if not evaluate:
        return report, None
    evaluation = evaluate_selectors(report, data, records_by_id(knowledge), n_jobs=n_jobs)
    return evaluation.report, evaluation.summary()
