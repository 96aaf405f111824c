"""Optuna's pruners, deciding inside the worker that runs a trial.

A trial is evaluated in steps: one per fold of a k-fold CV, or one per row fidelity of a
holdout (:mod:`autometa.search._fidelities`). After each step the study's pruner may stop
it, as ``trial.report`` and ``trial.should_prune`` do in an objective that Optuna runs.
Here the trial runs in a worker process (or on another machine of a dask cluster) that
cannot reach an in-memory study, so the decision is made on a replica:

- when a trial is handed to a worker, :func:`pruning_snapshot` copies the study's
  finished trials (complete and pruned, each with its value and intermediate values;
  their parameters are left out) and the pruner;
- in the worker, :meth:`PruningSnapshot.judge` rebuilds them as an in-memory study and
  asks it one trial, which reports each step's score and asks the pruner, through
  Optuna's own ``Trial.report`` and ``Trial.should_prune``;
- back in the main process the search reports the same step scores to the real trial
  and tells it ``PRUNED`` when the replica said so (:mod:`autometa.search._loop`).

Pruners that decide from the finished trials' values and intermediate values
(``WilcoxonPruner``, ``MedianPruner``, ``PercentilePruner``, ``ThresholdPruner``,
``PatientPruner`` around one of them) decide as they would on the study itself, from the
trials finished when the trial started. Successive halving and Hyperband keep their
bookkeeping in the trials' system attributes and in the pruner object, which a replica
cannot share; they are refused with that reason
(:func:`autometa.contract._fidelity.check_pruner`).

A pruned trial is no failure: it is recorded as pruned, never chosen as the winner nor
kept as an ensemble member, and it is not added to a knowledge base (its score is partial).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import optuna
from optuna.pruners import BasePruner, NopPruner, PercentilePruner, WilcoxonPruner
from optuna.storages import InMemoryStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState, create_trial

from autometa.contract._fidelity import AUTO_PRUNER, check_pruner

Stepping = Literal["folds", "rows"]
"""What a trial's steps are: the folds of a k-fold CV, or growing row fidelities."""

FIDELITY_KEPT_PERCENT = 100.0 / 3.0
"""At each row fidelity the automatic pruner keeps the trials in the best third of those
completed, as successive halving with a reduction factor of 3 would promote them."""

FIDELITY_STARTUP_TRIALS = 3
"""Completed trials the automatic fidelity pruner waits for before it prunes anything."""

PrunerSpec = BasePruner | str | None
"""What a strategy names: ``"auto"``, ``None`` (no pruning) or an Optuna pruner."""


def resolve_pruner(
    pruner: PrunerSpec, n_steps: int, stepping: Stepping, *, timed: bool = True
) -> BasePruner | None:
    """The pruner a search uses, or None when its trials have one step or pruning is off.

    ``"auto"`` prunes only a search with a timeout (``timed``): pruning saves time, and
    a search bounded by ``n_trials`` alone would spend trials on partial looks instead.
    A pruner given explicitly always prunes.

    ``"auto"`` is Optuna's ``WilcoxonPruner`` for folds (made for paired per-fold scores:
    it stops a trial whose folds so far are significantly worse than the best trial's
    same folds; with its default ``p_threshold=0.1`` that takes at least four folds, so it
    acts on 5-fold CV and not on 3-fold), and for row fidelities a ``PercentilePruner``
    keeping the best third at each fidelity once :data:`FIDELITY_STARTUP_TRIALS` trials
    completed: successive halving's promotion rule, asynchronous (as ASHA).
    """
    check_pruner(pruner)
    if n_steps < 2 or pruner is None or isinstance(pruner, NopPruner):
        return None
    if pruner == AUTO_PRUNER and not timed:
        return None
    if pruner != AUTO_PRUNER:
        assert isinstance(pruner, BasePruner)  # check_pruner let nothing else through
        return pruner
    if stepping == "rows":
        return PercentilePruner(
            FIDELITY_KEPT_PERCENT,
            n_startup_trials=FIDELITY_STARTUP_TRIALS,
            n_warmup_steps=0,
            n_min_trials=FIDELITY_STARTUP_TRIALS,
        )
    with warnings.catch_warnings():
        # Experimental in Optuna since 3.6; its interface is what autometa uses of it.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return WilcoxonPruner()


@dataclass(frozen=True)
class PruningSnapshot:
    """A pruner and the study's finished trials, to decide a trial's steps elsewhere."""

    pruner: BasePruner
    trials: tuple[FrozenTrial, ...]

    def judge(self) -> StepJudge:
        """A replica study holding :attr:`trials`, with one running trial to judge."""
        return StepJudge(self)


class StepJudge:
    """Reports a running trial's step scores to a replica study and asks its pruner."""

    def __init__(self, snapshot: PruningSnapshot) -> None:
        storage = InMemoryStorage()
        name = "autometa-pruning-replica"
        with _silenced(logging.getLogger(InMemoryStorage.__module__)):
            # The storage logs each new study at INFO: once per trial, in every worker.
            storage.create_new_study([StudyDirection.MAXIMIZE], name)
        sampler = optuna.samplers.RandomSampler(seed=0)  # never samples: no parameters
        self._study = optuna.Study(name, storage, sampler=sampler, pruner=snapshot.pruner)
        self._study.add_trials(snapshot.trials)
        self._trial = self._study.ask()

    def should_prune(self, step: int, score: float) -> bool:
        """Report ``score`` (greater is better) as the value of ``step``; prune now?"""
        self._trial.report(score, step)
        return self._trial.should_prune()


@contextmanager
def _silenced(logger: logging.Logger) -> Iterator[None]:
    """``logger`` drops its records inside the block; its earlier state comes back after."""
    before = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = before


def pruning_snapshot(
    trials: Sequence[FrozenTrial], pruner: BasePruner | None
) -> PruningSnapshot | None:
    """The finished trials a worker needs to judge a trial with ``pruner`` (None: no pruner).

    Only what pruners read is copied (state, value, intermediate values), so what is
    shipped to each worker stays small however large the space.
    """
    if pruner is None:
        return None
    kept = []
    for trial in trials:
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        value = trial.value if trial.state == TrialState.COMPLETE else None
        if trial.state == TrialState.COMPLETE and value is None:
            continue
        kept.append(
            create_trial(
                state=trial.state,
                value=value,
                intermediate_values=dict(trial.intermediate_values),
            )
        )
    return PruningSnapshot(pruner, tuple(kept))
