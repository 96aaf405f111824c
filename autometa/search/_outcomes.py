"""What the study is told of one evaluated trial, and whether another process told it.

The search (:mod:`autometa.search._loop`) runs trials; here each outcome becomes the
trial's intermediate values, user attributes and final state: ``COMPLETE`` with its
score, ``PRUNED`` (stopped by the pruner), or ``FAIL`` with its status and reason.
"""

from __future__ import annotations

import logging
import math

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from autometa.contract._types import Evaluation
from autometa.search._evaluation import CVOutcome

logger = logging.getLogger("autometa.search._loop")  # where these lines were logged before


def told_elsewhere(study: optuna.Study, number: int) -> bool:
    """Whether trial ``number``, which this process runs, is finished in the storage.

    Asked when writing to the trial raised: then another process finished it (see
    :func:`autometa.search._leases.reclaim_abandoned`). Optuna reports that differently
    across versions and storages (``UpdateFinishedTrialError``, ``ValueError`` from
    ``tell``), hence the storage is asked rather than the exception.
    """
    try:
        trials = study.get_trials(deepcopy=False)
    except Exception:  # the storage is down: the original error says more
        return False
    return any(t.number == number and t.state.is_finished() for t in trials)


def tell_outcome(
    study: optuna.Study, trial: Trial, evaluation: Evaluation, result: CVOutcome
) -> FrozenTrial:
    """Tell ``study`` how ``trial`` went (``evaluation``, from the worker's ``result``).

    Raises what the storage raises; :func:`told_elsewhere` then says whether another
    process finished the trial meanwhile.
    """
    # Each step's score is the trial's intermediate value, as an objective reporting per
    # fold would leave it (optuna-dashboard draws them; pruners read them).
    for step, score in enumerate(result.step_scores):
        if math.isfinite(score):
            trial.report(score, step)
    # ``status`` goes last: a failed trial carrying it was evaluated (see _studies).
    trial.set_user_attr("fit_time", round(evaluation.fit_time, 4))
    if result.fold_scores:
        trial.set_user_attr("fold_scores", [round(s, 6) for s in result.fold_scores])
    if not evaluation.ok:
        trial.set_user_attr("error", evaluation.error)
    trial.set_user_attr("status", evaluation.status)
    if evaluation.ok:
        return study.tell(trial, evaluation.score)
    if evaluation.status == "pruned":
        logger.debug("trial %d %s", trial.number, evaluation.error)
        return study.tell(trial, state=TrialState.PRUNED)
    logger.info("trial %d %s: %s", trial.number, evaluation.status, evaluation.error)
    return study.tell(trial, state=TrialState.FAIL)
