"""Which trials of a source study fit the new study's search space, best first."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from autometa.study_transfer._descriptors import study_descriptors
from autometa.study_transfer._ranking import RankedStudy
from autometa.study_transfer._warnings import _warn


def _best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials with a finite value, best first by the study's own direction."""
    sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    return sorted(trials, key=lambda t: (sign * float(t.value or 0.0), t.number))


def _incompatibility(
    params: Mapping[str, Any],
    sampled_from: Mapping[str, BaseDistribution],
    space: Mapping[str, BaseDistribution],
    *,
    exact: bool,
) -> str | None:
    """Why ``params`` (sampled from ``sampled_from``) is not a point of ``space``, or None.

    A parameter must be in the new space, sampled from the same kind of distribution
    (Optuna refuses two kinds for one name in one study) and hold a value the new
    distribution contains (an enqueued value outside it would be evaluated anyway, with
    only a warning from Optuna). With ``exact`` the trial must also set every parameter
    of the space (CMA-ES needs whole points).
    """
    for name, value in params.items():
        new = space.get(name)
        if new is None:
            return f"parameter {name!r} is not in the new search space ({sorted(space)})"
        old = sampled_from.get(name)
        if old is not None and type(old) is not type(new):
            return (
                f"parameter {name!r} was sampled from {old}, the new space samples it from "
                f"{new}: incompatible types"
            )
        if not _contains(new, value):
            return f"parameter {name!r} = {value!r} is outside the new space's {new}"
    if exact:
        missing = sorted(set(space) - set(params))
        if missing:
            return f"lacks parameter(s) {missing} of the new space"
    return None


def _contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is a point of ``distribution`` (range, step grid or choices)."""
    if isinstance(distribution, CategoricalDistribution):
        return any(
            c == value and isinstance(c, bool) == isinstance(value, bool)
            for c in distribution.choices
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    number = float(value)
    if isinstance(distribution, IntDistribution):
        if not number.is_integer() or not distribution.low <= number <= distribution.high:
            return False
        return (int(number) - distribution.low) % distribution.step == 0
    if isinstance(distribution, FloatDistribution):
        if not (math.isfinite(number) and distribution.low <= number <= distribution.high):
            return False
        if distribution.step is None:
            return True
        steps = (number - distribution.low) / distribution.step
        return abs(steps - round(steps)) <= 1e-8 * max(1.0, abs(steps))
    return False


def _check_single_objective(study: optuna.Study) -> None:
    if len(study.directions) != 1:
        raise ValueError(
            f"Study {study.study_name!r} has {len(study.directions)} objectives; transfer "
            "enqueues the best trials of single-objective studies into a single-objective one."
        )


def _target_descriptors(
    study: optuna.Study, descriptors: Mapping[str, float] | None
) -> Mapping[str, float]:
    if descriptors is not None:
        return descriptors
    stored = study_descriptors(study)
    if not stored:
        raise ValueError(
            f"Study {study.study_name!r} has no descriptors: pass descriptors={{...}} or call "
            "autometa.describe_study(study, {...}) first."
        )
    return stored


def _new_space(
    study: optuna.Study, distributions: Mapping[str, BaseDistribution] | None
) -> dict[str, BaseDistribution] | None:
    """The search space trials are checked against; refuses one the study contradicts."""
    earlier: dict[str, BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        earlier.update(trial.distributions)
    if distributions is None:
        return earlier or None
    space = dict(distributions)
    for name, distribution in space.items():
        if not isinstance(distribution, BaseDistribution):
            raise TypeError(
                f"distributions[{name!r}] is {distribution!r}; give optuna.distributions "
                "objects such as FloatDistribution(0.0, 1.0)."
            )
    for name, old in earlier.items():
        new = space.get(name)
        problem = None
        if new is None:
            problem = f"its trials sample {name!r}, which distributions= lacks"
        else:
            try:
                optuna.distributions.check_distribution_compatibility(old, new)
            except ValueError:
                problem = f"its trials sample {name!r} from {old}, distributions= from {new}"
        if problem:
            raise ValueError(
                f"Study {study.study_name!r} already has trials of another search space: "
                f"{problem}. Pass the distributions your objective samples, or transfer "
                "into a new study (another study_name)."
            )
    return space


def _warn_other_directions(study: optuna.Study, ranked: Sequence[RankedStudy]) -> None:
    other = [r.name for r in ranked if r.study.direction != study.direction]
    if other:
        _warn(
            f"The new study {study.direction.name.lower()}s; these sources are optimised the "
            "other way, so their best trials are taken by their own direction",
            [f"study {name!r}" for name in other],
        )


def _existing_params(study: optuna.Study) -> Iterator[Mapping[str, Any]]:
    """Parameters of every trial of ``study``: set ones, or the fixed ones of a waiting one."""
    for trial in study.get_trials(deepcopy=False):
        fixed = trial.system_attrs.get("fixed_params")
        yield (
            fixed
            if trial.state == TrialState.WAITING and isinstance(fixed, Mapping)
            else (trial.params)
        )


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, default=repr)
