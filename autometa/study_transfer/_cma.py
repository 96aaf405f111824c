"""Source trials that warm-start Optuna's CMA-ES from the nearest earlier study."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Mapping

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
)
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from autometa.study_transfer._ranking import rank_studies
from autometa.study_transfer._space import (
    _best_trials,
    _check_single_objective,
    _incompatibility,
    _new_space,
    _target_descriptors,
    _warn_other_directions,
)
from autometa.study_transfer._transfer import TRANSFER_ATTR
from autometa.study_transfer._warnings import TransferWarning, _outside_stacklevel, _warn

MIN_CMA_SOURCE_TRIALS = 10
"""Warm-starting CMA-ES estimates its first distribution from the best 10% of the source
trials (``cmaes.get_warm_start_mgd``, gamma 0.1), so it needs at least ten."""


def cma_source_trials(
    study: optuna.Study,
    descriptors: Mapping[str, float] | None = None,
    *,
    distributions: Mapping[str, BaseDistribution],
    storage: str | BaseStorage | None = None,
    sources: Iterable[optuna.Study] | None = None,
    n_studies: int = 1,
) -> list[FrozenTrial] | None:
    """Trials of the nearest earlier studies for ``CmaEsSampler(source_trials=...)``.

    Warm-starting CMA-ES (Nomura et al., AAAI 2021; Optuna's ``source_trials``) starts
    the search from a Gaussian fitted to the best 10% of a similar task's trials; Optuna
    uses a source trial only when its parameters are exactly the sampler's search space.
    So this returns the complete trials of the ``n_studies`` nearest studies (default
    one: the method assumes one source task) that set every parameter of
    ``distributions`` with a value inside it, rebuilt on the new distributions, values
    negated for sources optimised the other way than ``study``. Use it as::

        source = autometa.cma_source_trials(study, {"t": 0.5}, storage=url,
                                            distributions=space)
        study.sampler = optuna.samplers.CmaEsSampler(source_trials=source, seed=0)

    Returns None, with a :class:`TransferWarning` saying why, when CMA-ES cannot be warm
    started: the space has a categorical parameter (CMA-ES samples floats and integers
    only; use :func:`transfer` with any sampler instead), or fewer than
    :data:`MIN_CMA_SOURCE_TRIALS` trials fit. ``CmaEsSampler(source_trials=None)`` is
    then a cold CMA-ES. The earlier studies are only read.
    """
    _check_single_objective(study)
    if not isinstance(n_studies, numbers.Integral) or n_studies < 1:
        raise ValueError(f"n_studies must be a positive integer, got {n_studies!r}.")
    space = _new_space(study, distributions)
    assert space is not None
    sampled = {name: d for name, d in space.items() if not d.single()}
    categorical = sorted(n for n, d in sampled.items() if isinstance(d, CategoricalDistribution))
    if categorical or not sampled:
        reason = (
            f"parameter(s) {categorical} are categorical and CMA-ES samples only floats "
            "and integers"
            if categorical
            else "the space has no parameter to sample"
        )
        _warn_fallback(f"{reason}; use autometa.transfer() to enqueue trials instead")
        return None
    ranked = rank_studies(
        _target_descriptors(study, descriptors),
        storage=storage,
        sources=sources,
        exclude=study.study_name,
    )[:n_studies]
    _warn_other_directions(study, ranked)
    chosen: list[FrozenTrial] = []
    problems: list[str] = []
    for source in ranked:
        sign = 1.0 if source.study.direction == study.direction else -1.0
        for trial in _best_trials(source.study):
            params = {k: v for k, v in trial.params.items() if k in sampled or k not in space}
            why = _incompatibility(params, trial.distributions, sampled, exact=True)
            if why is not None:
                problems.append(f"study {source.name!r} trial {trial.number}: {why}")
                continue
            chosen.append(
                optuna.trial.create_trial(
                    params=params,
                    distributions=sampled,
                    value=sign * float(trial.value or 0.0),
                    user_attrs={TRANSFER_ATTR: {"source_study": source.name}},
                )
            )
    _warn("Skipped trials that do not fit the new search space", problems)
    if len(chosen) < MIN_CMA_SOURCE_TRIALS:
        names = [r.name for r in ranked]
        _warn_fallback(
            f"{len(chosen)} trials of {names} fit the new space; warm-starting CMA-ES needs "
            f"at least {MIN_CMA_SOURCE_TRIALS} (it fits its start to the best 10%)"
        )
        return None
    return chosen


def _warn_fallback(reason: str) -> None:
    warnings.warn(
        f"CMA-ES cannot be warm started: {reason}. CmaEsSampler(source_trials=None) starts cold.",
        TransferWarning,
        stacklevel=_outside_stacklevel(),
    )
