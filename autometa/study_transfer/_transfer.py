"""Enqueueing the best trials of the nearest earlier studies into a new study."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
)
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from autometa.study_transfer._ranking import RankedStudy, rank_studies, similarity_weight
from autometa.study_transfer._space import (
    _best_trials,
    _check_single_objective,
    _existing_params,
    _incompatibility,
    _key,
    _new_space,
    _target_descriptors,
    _warn_other_directions,
)
from autometa.study_transfer._warnings import _warn

TRANSFER_ATTR = "autometa_transfer"
"""User attribute of an enqueued trial: where it came from (source study, trial number,
value and distance)."""


@dataclass(frozen=True)
class TransferredTrial:
    """One trial :func:`transfer` enqueued, and where it came from."""

    params: dict[str, Any]
    source_study: str
    source_trial: int
    source_value: float
    distance: float

    def __str__(self) -> str:
        return (
            f"{self.params} from {self.source_study!r} trial {self.source_trial} "
            f"(value {self.source_value:.6g}, distance {self.distance:.3g})"
        )


def transfer(
    study: optuna.Study,
    descriptors: Mapping[str, float] | None = None,
    *,
    storage: str | BaseStorage | None = None,
    sources: Iterable[optuna.Study] | None = None,
    n: int = 10,
    n_studies: int = 3,
    distributions: Mapping[str, BaseDistribution] | None = None,
) -> list[TransferredTrial]:
    """Enqueue into ``study`` the best trials of the earlier studies nearest its task.

    Parameters
    ----------
    study:
        The new study (single objective). It receives the enqueued trials, nothing else.
    descriptors:
        The new task's descriptors; None reads the ones :func:`describe_study` stored
        on ``study``.
    storage, sources:
        Where the earlier studies are: every study of a storage (an SQLAlchemy URL or an
        Optuna storage object) except ``study``'s name, or the given studies. Read only.
    n:
        How many trials to enqueue at most.
    n_studies:
        How many of the nearest studies to draw from. Each gives its trials best first
        (by its own direction; a study optimised the other way than ``study`` is named
        in a warning, since its values may not mean the same thing), and the studies
        take turns in proportion to :func:`similarity_weight`: the nearest study gives
        the first trial and most of the rest, farther ones add variety. (auto-sklearn
        takes one best configuration per near task; on tasks whose optimum drifts with
        the descriptors, weighting by nearness reached a target value sooner.)
    distributions:
        ``{parameter name: distribution}`` of the new search space, as your objective
        samples it. Each trial is checked against it (names in the space, same kind of
        distribution, values inside ranges, step grids and choices) and skipped, with one
        :class:`TransferWarning` naming the parameter and why, when it does not fit.
        None takes the distributions of ``study``'s own trials, if it has any, else no
        check is made. Given while ``study`` already has trials of another space, it is
        refused (ValueError) before anything is enqueued.

    Duplicates among the sources count once, and of the ``n`` trials chosen those
    already in ``study`` (same parameters, any state) are not enqueued again: a second
    identical call enqueues nothing. Each enqueued trial carries the user attribute
    :data:`TRANSFER_ATTR`: source study, trial number, value and distance. Returns what
    was enqueued, in order.
    """
    if not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if not isinstance(n_studies, numbers.Integral) or n_studies < 1:
        raise ValueError(f"n_studies must be a positive integer, got {n_studies!r}.")
    _check_single_objective(study)
    space = _new_space(study, distributions)
    ranked = rank_studies(
        _target_descriptors(study, descriptors),
        storage=storage,
        sources=sources,
        exclude=study.study_name,
    )[:n_studies]
    _warn_other_directions(study, ranked)
    seen: set[str] = set()
    queues = [_Queue(r, iter(_best_trials(r.study))) for r in ranked]
    chosen: list[TransferredTrial] = []
    problems: list[str] = []
    while queues and len(chosen) < n:
        # Stride scheduling: the study with the fewest picks per unit of weight picks
        # next, so picks follow the weights and the nearest study picks first.
        queue = min(queues, key=lambda q: (q.taken + 1) / similarity_weight(q.source))
        picked = _next_fitting(queue, space, seen, problems)
        if picked is None:
            queues.remove(queue)
        else:
            chosen.append(picked)
            queue.taken += 1
    _warn("Skipped trials that do not fit the new search space", problems)
    existing = {_key(p) for p in _existing_params(study)}
    enqueued = [item for item in chosen if _key(item.params) not in existing]
    for item in enqueued:
        study.enqueue_trial(
            dict(item.params),
            user_attrs={
                TRANSFER_ATTR: {
                    "source_study": item.source_study,
                    "source_trial": item.source_trial,
                    "source_value": item.source_value,
                    "distance": item.distance,
                }
            },
            skip_if_exists=True,
        )
    return enqueued


@dataclass
class _Queue:
    """A source study's trials, best first, and how many were picked from it."""

    source: RankedStudy
    trials: Iterator[FrozenTrial]
    taken: int = 0


def _next_fitting(
    queue: _Queue,
    space: Mapping[str, BaseDistribution] | None,
    seen: set[str],
    problems: list[str],
) -> TransferredTrial | None:
    """The source's next trial that fits ``space`` and is new; None when it has no more."""
    ranked = queue.source
    for trial in queue.trials:
        why = (
            None
            if space is None
            else _incompatibility(trial.params, trial.distributions, space, exact=False)
        )
        if why is not None:
            problems.append(f"study {ranked.name!r} trial {trial.number}: {why}")
            continue
        key = _key(trial.params)
        if key in seen:
            continue
        seen.add(key)
        return TransferredTrial(
            dict(trial.params),
            ranked.name,
            trial.number,
            float(trial.value or 0.0),
            ranked.distance,
        )
    return None
