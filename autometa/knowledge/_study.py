"""Importing an earlier Optuna study as a knowledge-base task with its evaluations."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autometa.contract._types import Config, Evaluation, TaskKind
from autometa.knowledge._records import Bundle, TaskRecord

if TYPE_CHECKING:
    from optuna.study import Study


def study_content(
    study: Study,
    meta_features: Mapping[str, float],
    kind: TaskKind,
    scoring: str,
    task_id: str | None = None,
    name: str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Bundle:
    """The task and evaluations ``KnowledgeBase.add_study`` stores.

    The study's trials must use autometa's parameter convention (what
    :meth:`Config.to_trial_params` writes): ``algorithm`` plus ``<algorithm>__<param>``.
    Trials without an ``algorithm`` parameter are skipped with a warning (issued for the
    caller of ``add_study``). Complete trials become ``ok`` evaluations, failed trials
    ``failed`` ones (error from the trial's ``error`` user attribute when present; they
    keep the parameters sampled before the failure); pruned, running and waiting trials
    are ignored. Scores are stored greater-is-better: a study that *minimizes* has its
    values negated (a minimised log loss L is stored as -L, like scikit-learn's ``neg_*``
    scorers). The fit time is the trial's ``fit_time`` user attribute when present, else
    its duration. When two trials share a configuration, the last ok one is kept.
    ``task_id`` defaults to ``optuna:<study name>``, ``name`` to the study name.
    Multi-objective studies are refused.
    """
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    if len(study.directions) != 1:
        raise ValueError(
            f"Study {study.study_name!r} has {len(study.directions)} objectives; a "
            "knowledge-base task has one score. Import single-objective studies."
        )
    sign = -1.0 if study.direction == StudyDirection.MINIMIZE else 1.0
    record = TaskRecord(
        task_id=task_id or f"optuna:{study.study_name}",
        name=name or study.study_name,
        kind=kind,
        scoring=scoring,
        meta_features=dict(meta_features),
        provenance={
            "source": "optuna",
            "study_name": study.study_name,
            "direction": "minimize" if sign < 0 else "maximize",
            **dict(provenance or {}),
        },
    )
    kept: dict[str, Evaluation] = {}
    skipped: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        if "algorithm" not in trial.params:
            skipped.append(trial.number)
            continue
        config = Config.from_trial_params(trial.params)
        ok = trial.state == TrialState.COMPLETE and trial.value is not None
        error = trial.user_attrs.get("error")
        fit_time = trial.user_attrs.get("fit_time")
        if not isinstance(fit_time, (int, float)) or isinstance(fit_time, bool):
            fit_time = trial.duration.total_seconds() if trial.duration else math.nan
        evaluation = Evaluation(
            task_id=record.task_id,
            config=config,
            score=sign * float(trial.value) if ok and trial.value is not None else math.nan,
            fit_time=float(fit_time),
            status="ok" if ok else "failed",
            error=None
            if ok
            else (str(error) if error else "failed in Optuna (no reason recorded)"),
        )
        previous = kept.get(config.key)
        if previous is None or evaluation.status == "ok" or previous.status != "ok":
            kept[config.key] = evaluation
    if skipped:
        warnings.warn(
            f"add_study skipped {len(skipped)} trial(s) of study {study.study_name!r} "
            f"(numbers {skipped[:10]}{'...' if len(skipped) > 10 else ''}): they have no "
            "'algorithm' parameter, so they are not autometa configurations. Trial "
            "parameters must be named 'algorithm' and '<algorithm>__<param>', as "
            "Config.to_trial_params() writes them.",
            UserWarning,
            stacklevel=3,
        )
    bundle = Bundle(tasks={record.task_id: record})
    for evaluation in kept.values():
        bundle.configs[evaluation.config.key] = evaluation.config
        bundle.evaluations.append(evaluation)
    return bundle
