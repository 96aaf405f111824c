"""What a stored study holds: checking it before a fit resumes it, and reading it back.

A trial *counts as done* when it is ``COMPLETE`` or ``PRUNED`` (the study's pruner
stopped it after some folds or fidelities), or ``FAIL`` with an evaluation status
(``failed`` or ``capped``: the configuration was evaluated and did not work). A trial
failed because its process died carries no such status: it does not count, and its
configuration is enqueued again (see :mod:`autometa.search._leases`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from autometa.contract._task import Task
from autometa.contract._types import (
    ALGORITHM_PARAM,
    Algorithm,
    Config,
    Evaluation,
    EvaluationStatus,
)
from autometa.search._space import joint_space
from autometa.search._storage import storage_label

TASK_ATTR = "autometa_task"
SCORING_ATTR = "autometa_scoring"
EVALUATED = ("failed", "capped", "pruned")
"""Statuses of a trial whose configuration was evaluated without a score: a trial still
running with one (its process died while telling it) or failed with one counts as done."""


def check_study(
    storage: BaseStorage | None,
    study_name: str | None,
    *,
    task: Task,
    algorithms: Mapping[str, Algorithm],
) -> int:
    """Refuse, writing nothing, an existing study this fit cannot resume.

    A study resumes when it maximises one objective, was made for the same data and
    scoring (user attributes ``autometa_task`` and ``autometa_scoring``, when present), and
    all its trials' parameters belong to this fit's space with the same distributions.
    A missing study is fine: the fit creates it. Returns how many trials the study
    already holds (0 for a new one).
    """
    if storage is None or study_name is None:
        return 0
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return 0
    where = f"Study {study_name!r} in {storage_label(storage)}"
    fix = (
        f"Pass another study_name, or delete it with optuna.delete_study(study_name="
        f"{study_name!r}, storage=...)."
    )
    if study.directions != [StudyDirection.MAXIMIZE]:
        shown = ", ".join(d.name.lower() for d in study.directions)
        raise ValueError(
            f"{where} has direction {shown}, but autometa maximises one score (scikit-learn's "
            f"greater-is-better convention, scoring={task.scoring!r}). {fix}"
        )
    attrs = study.user_attrs
    if attrs.get(TASK_ATTR, task.task_id) != task.task_id:
        raise ValueError(
            f"{where} was made for other data ({TASK_ATTR}={attrs[TASK_ATTR]!r}, this data is "
            f"{task.task_id!r}); a study resumes only on the same X and y. {fix}"
        )
    if attrs.get(SCORING_ATTR, task.scoring) != task.scoring:
        raise ValueError(
            f"{where} was scored with {attrs[SCORING_ATTR]!r}, this fit uses "
            f"scoring={task.scoring!r}; the scores would not compare. Pass "
            f"scoring={attrs[SCORING_ATTR]!r} to resume it. {fix}"
        )
    space = joint_space(algorithms, task)
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        problem = _outside(trial, space)
        if problem:
            raise ValueError(
                f"{where} does not match this fit's search space: trial {trial.number} "
                f"{problem}. Resume it with the same data, algorithms=, plugins= and "
                f"blocked= as the fit that made it. {fix}"
            )
    return len(trials)


def _outside(trial: FrozenTrial, space: Mapping[str, BaseDistribution]) -> str | None:
    """Why ``trial`` is not a point of ``space``, or None when it is."""
    distributions = dict(trial.distributions)
    fixed = trial.system_attrs.get("fixed_params") if trial.state == TrialState.WAITING else None
    names = list(distributions) + [n for n in (fixed or {}) if n not in distributions]
    for name in names:
        expected = space.get(name)
        if expected is None:
            return f"has parameter {name!r}, which is not one of autometa's"
        old = distributions.get(name)
        if old is not None and not _compatible(old, expected):
            if isinstance(old, CategoricalDistribution) and isinstance(
                expected, CategoricalDistribution
            ):
                choices = (list(old.choices), list(expected.choices))
                return f"chose {name!r} among {choices[0]}, this fit among {choices[1]}"
            return f"samples {name!r} from {old}, this fit from {expected}"
    return None


def _compatible(old: BaseDistribution, new: BaseDistribution) -> bool:
    """Whether Optuna accepts both distributions for one parameter name in one study."""
    if type(old) is not type(new):
        return False
    if isinstance(old, (FloatDistribution, IntDistribution)) and isinstance(
        new, (FloatDistribution, IntDistribution)
    ):
        return old.log == new.log
    if isinstance(old, CategoricalDistribution) and isinstance(new, CategoricalDistribution):
        return old.choices == new.choices
    return True


# -- what earlier processes did ----------------------------------------------------------
def counts_as_done(trial: FrozenTrial) -> bool:
    """Whether the trial's configuration was evaluated (see the module docstring)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("status") in EVALUATED


def study_evaluations(study: optuna.Study, task: Task) -> list[Evaluation]:
    """The evaluations of the study's trials that count as done, in trial order.

    Rebuilt from each trial's parameters, value and the user attributes the search
    writes (``fit_time``, ``status``, ``error``); a trial without ``fit_time`` (e.g. one
    a user's own objective told) gets 0. A pruned trial is ``pruned`` with a NaN score
    (Optuna keeps its last intermediate value as its value: a partial score).
    """
    return [evaluation for _, evaluation in trial_evaluations(study, task)]


def trial_evaluations(study: optuna.Study, task: Task) -> list[tuple[FrozenTrial, Evaluation]]:
    """:func:`study_evaluations`, each with the trial it was read from."""
    evaluations = []
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    for trial in study.get_trials(deepcopy=False, states=states):
        if not counts_as_done(trial) or ALGORITHM_PARAM not in trial.params:
            continue
        config = Config.from_trial_params(trial.params)
        attrs = trial.user_attrs
        ok = trial.state == TrialState.COMPLETE
        evaluation = Evaluation(
            task.task_id,
            config,
            float(trial.value) if ok and trial.value is not None else math.nan,
            float(attrs.get("fit_time", 0.0)),
            _status(trial),
            None if ok else attrs.get("error", "pruned"),
        )
        evaluations.append((trial, evaluation))
    return evaluations


def _status(trial: FrozenTrial) -> EvaluationStatus:
    """The evaluation status of a trial that counts as done."""
    if trial.state == TrialState.COMPLETE:
        return "ok"
    if trial.state == TrialState.PRUNED:
        return "pruned"
    status: EvaluationStatus = trial.user_attrs["status"]
    return status


def trials_taken(study: optuna.Study) -> int:
    """Trials that count as done or are running (in any process): the study's fill level.

    Waiting trials (enqueued, not yet asked) and trials failed because their process
    died (enqueued again) do not count.
    """
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=states)
        if t.state == TrialState.RUNNING or counts_as_done(t)
    )


def in_memory_copy(study: optuna.Study) -> optuna.Study:
    """The study's trials and user attributes in a new in-memory study.

    A fitted model keeps its study; pickled with a study in a database it would
    reconnect to that database when loaded (and SQLite would create an empty file
    wherever it is loaded), so it is pickled with this detached copy instead.
    """
    copy = optuna.create_study(
        study_name=study.study_name, directions=study.directions, sampler=study.sampler
    )
    for key, value in study.user_attrs.items():
        copy.set_user_attr(key, value)
    copy.add_trials(study.get_trials(deepcopy=False))
    return copy


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines during a fit, then restore the caller's level."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(previous, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
