"""Transfer between a user's own Optuna studies, for any objective.

A user who tunes the same objective on many tasks (datasets, simulation settings,
customers) has, in their Optuna storage, the answer to "what worked on a task like this
one". This module reads it back, without assuming anything about the objective:

- :func:`describe_study` stores a task's *descriptors* (numbers that describe the task:
  a size, a rate, a temperature, or autometa's meta-features of ``X, y``) on a study as
  the user attribute :data:`DESCRIPTORS_ATTR`, so later studies can find it.
- :func:`rank_studies` lists the described studies of a storage, nearest task first.
- :func:`transfer` enqueues the best trials of the nearest studies into a new study,
  after checking each against the new search space; any sampler then continues.
- :func:`cma_source_trials` returns the nearest study's trials in the form
  ``optuna.samplers.CmaEsSampler(source_trials=...)`` (warm-starting CMA-ES) needs.

Earlier studies are only read (``optuna.get_all_study_summaries``, ``load_study``,
``get_trials``): nothing is ever written to them. The new study receives the enqueued
trials and nothing else. Problems with the sources (a study without descriptors, a trial
whose parameter is not in the new space) are skipped with one :class:`TransferWarning`
that names them and says why; problems with the call itself raise ``ValueError``.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from autometa.search._storage import open_storage

DESCRIPTORS_ATTR = "autometa_descriptors"
"""Study user attribute holding ``{descriptor name: number or null}`` of the study's task."""

FIT_META_FEATURES_ATTR = "autometa_meta_features"
"""Study user attribute where ``autometa.fit(storage=...)`` keeps the task's meta-features;
such studies are sources too (explicit descriptors win on a shared name)."""

TRANSFER_ATTR = "autometa_transfer"
"""User attribute of an enqueued trial: where it came from (source study, trial number,
value and distance)."""

MIN_CMA_SOURCE_TRIALS = 10
"""Warm-starting CMA-ES estimates its first distribution from the best 10% of the source
trials (``cmaes.get_warm_start_mgd``, gamma 0.1), so it needs at least ten."""

_MAX_LISTED = 8
"""Problems listed one by one in a warning; the rest are counted."""


class TransferWarning(UserWarning):
    """A source study or trial was skipped; the message names it and says why."""


@dataclass(frozen=True)
class RankedStudy:
    """An earlier study and how near its task is to the new one.

    ``distance`` is the mean absolute difference of the standardized descriptors the two
    tasks share (0 = same task); ``shared`` names those descriptors. Descriptors are
    standardized over the studies ranked together, so distances compare within one
    ranking only (a lone study at any other value of a lone descriptor is at 2).
    """

    study: optuna.Study = field(repr=False, compare=False)
    name: str
    distance: float
    shared: tuple[str, ...]


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


# -- describing a study ------------------------------------------------------------------
def describe_study(
    study: optuna.Study,
    descriptors: Mapping[str, float] | None = None,
    *,
    X: Any = None,
    y: Any = None,
    plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
) -> dict[str, float | None]:
    """Store what the study's task is like, so later studies can transfer from it.

    ``descriptors`` are numbers that set the task apart from the others you tune
    (``{"n_rows": 5e4, "noise": 0.1}``); with ``X`` and ``y`` autometa's meta-features
    of the data are computed and stored too (a given descriptor wins on a shared name).
    Non-finite values are stored as null (they count as missing when ranking). The
    result replaces the study's user attribute :data:`DESCRIPTORS_ATTR` and is returned.
    Describe every study of a family with the same names: only shared names compare.
    """
    if (X is None) != (y is None):
        raise ValueError("Pass both X and y to describe a study by its data's meta-features.")
    values: dict[str, float | None] = {}
    if X is not None:
        values.update(_meta_features(X, y, plugins, blocked))
    values.update(_checked_descriptors(descriptors or {}))
    if not values:
        raise ValueError(
            "Nothing to describe the study with: pass descriptors={'name': number, ...} "
            "and/or X and y."
        )
    study.set_user_attr(DESCRIPTORS_ATTR, values)
    return values


def _meta_features(
    X: Any, y: Any, plugins: Iterable[object], blocked: Iterable[str]
) -> dict[str, float | None]:
    from autometa._plugins import build_plugin_manager
    from autometa.contract._task import Task
    from autometa.search._metafeatures import compute_meta_features

    manager = build_plugin_manager(plugins, blocked=blocked)
    task = Task.from_data(X, y)
    computed = compute_meta_features(task, extra_groups=manager.meta_feature_groups(task))
    return {name: _finite_or_none(value) for name, value in computed.values.items()}


def _checked_descriptors(descriptors: Mapping[str, Any]) -> dict[str, float | None]:
    """``descriptors`` as JSON-safe floats, or a ValueError naming the bad entry."""
    if not isinstance(descriptors, Mapping):
        raise TypeError(
            f"descriptors must be a mapping of names to numbers, got {type(descriptors).__name__}."
        )
    checked: dict[str, float | None] = {}
    for name, value in descriptors.items():
        if not isinstance(name, str):
            raise ValueError(f"Descriptor names must be strings, got {name!r}.")
        if value is None:
            checked[name] = None
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(
                f"Descriptor {name!r} is {value!r}; descriptors are numbers (use NaN or None "
                "for an unknown value, and encode categories as numbers)."
            )
        else:
            checked[name] = _finite_or_none(value)
    return checked


def study_descriptors(study: optuna.Study | Any) -> dict[str, float]:
    """The descriptors a study carries (NaN where unknown); ``{}`` when it has none.

    Accepts a study or anything with ``user_attrs`` (e.g. a ``StudySummary``). Reads
    :data:`DESCRIPTORS_ATTR`, then fills in the meta-features ``autometa.fit`` stored.
    """
    attrs = study.user_attrs
    merged: dict[str, float] = {}
    for key in (FIT_META_FEATURES_ATTR, DESCRIPTORS_ATTR):
        stored = attrs.get(key)
        if isinstance(stored, Mapping):
            for name, value in stored.items():
                merged[str(name)] = _as_float(value)
    return merged


# -- ranking earlier studies ---------------------------------------------------------------
def rank_studies(
    descriptors: Mapping[str, float],
    *,
    storage: str | BaseStorage | None = None,
    sources: Iterable[optuna.Study] | None = None,
    exclude: str | None = None,
) -> list[RankedStudy]:
    """The described studies of ``storage`` (or ``sources``), nearest task first.

    Distance: each descriptor is standardized (z-score over the new task and every
    candidate that has it), then the distance is the mean absolute difference over the
    descriptors both tasks have (finite in both). Standardizing stops a descriptor with
    large units (rows) from drowning one with small units (a noise rate); z-scores rather
    than auto-sklearn's min-max scaling so one extreme study does not squeeze the rest
    together; the mean rather than the sum so studies that share fewer descriptors are
    not made nearer by it. A descriptor equal on every study does not discriminate and
    counts as 0. Ties go by study name.

    Skipped with one :class:`TransferWarning`: studies without descriptors, sharing no
    finite descriptor with the new task, or with several objectives. ``exclude`` is a
    study name not to consider (the new study itself).
    """
    target = {k: v for k, v in _checked_descriptors(descriptors).items() if v is not None}
    if not target:
        raise ValueError(
            "The new task has no finite descriptor to compare: pass descriptors= with at "
            "least one number, or call autometa.describe_study(study, {...}) on it first."
        )
    problems: list[str] = []
    candidates: list[tuple[optuna.Study, dict[str, float]]] = []
    for study in _candidate_studies(storage, sources, exclude):
        found = study_descriptors(study)
        if len(study.directions) != 1:
            problems.append(
                f"study {study.study_name!r}: {len(study.directions)} objectives; transfer "
                "ranks trials by one value"
            )
        elif not found:
            problems.append(
                f"study {study.study_name!r}: no descriptors; call autometa.describe_study("
                "study, {...}) on it to make it a source"
            )
        elif not any(math.isfinite(found.get(k, math.nan)) for k in target):
            problems.append(
                f"study {study.study_name!r}: shares no finite descriptor with the new task "
                f"(it has {sorted(found)}, the new task {sorted(target)})"
            )
        else:
            candidates.append((study, found))
    _warn("Skipped earlier studies", problems)
    scale = _scales(target, [found for _, found in candidates])
    ranked = []
    for study, found in candidates:
        shared = tuple(sorted(k for k in target if math.isfinite(found.get(k, math.nan))))
        gaps = [abs(target[k] - found[k]) / scale[k] if scale[k] > 0 else 0.0 for k in shared]
        ranked.append(RankedStudy(study, study.study_name, float(np.mean(gaps)), shared))
    return sorted(ranked, key=lambda r: (r.distance, r.name))


def _scales(target: Mapping[str, float], others: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Standard deviation of each target descriptor over the target and the candidates."""
    scale = {}
    for key, value in target.items():
        column = [value] + [o[key] for o in others if math.isfinite(o.get(key, math.nan))]
        scale[key] = float(np.std(column))
    return scale


def _candidate_studies(
    storage: str | BaseStorage | None,
    sources: Iterable[optuna.Study] | None,
    exclude: str | None,
) -> Iterator[optuna.Study]:
    """The earlier studies to consider, loaded read-only."""
    if (storage is None) == (sources is None):
        raise ValueError(
            "Say where the earlier studies are: storage='sqlite:///studies.db' (every study "
            "in it) or sources=[study, ...], not both."
        )
    if sources is not None:
        for study in sources:
            if not isinstance(study, optuna.Study):
                raise TypeError(f"sources must hold optuna.Study objects, got {study!r}.")
            if study.study_name != exclude:
                yield study
        return
    opened = _open_existing(storage)
    for summary in optuna.get_all_study_summaries(opened, include_best_trial=False):
        if summary.study_name != exclude:
            yield optuna.load_study(study_name=summary.study_name, storage=opened)


def _open_existing(storage: str | BaseStorage | None) -> BaseStorage:
    """Open a storage to read; an SQLite file that does not exist is an error, not created."""
    if isinstance(storage, str):
        try:
            url = sqlalchemy.engine.make_url(storage)
        except sqlalchemy.exc.ArgumentError:
            url = None  # open_storage explains
        if (
            url is not None
            and url.get_backend_name() == "sqlite"
            and url.database not in (None, "", ":memory:")
            and not Path(url.database).is_file()
        ):
            raise ValueError(
                f"storage {storage!r} does not exist: there are no earlier studies to "
                "transfer from. Check the path (sqlite:/// + a relative path, sqlite:////"
                " + an absolute one)."
            )
    opened = open_storage(storage)
    assert opened is not None  # storage is not None here
    return opened


# -- trials of a source study ------------------------------------------------------------
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


# -- enqueueing into the new study --------------------------------------------------------
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


def similarity_weight(source: RankedStudy) -> float:
    """A source study's share of the transferred trials, relative to one at distance 0.

    ``exp(-distance)``: a study one standardized unit farther gets about a third of the
    share, so near studies supply most trials and far ones still add a little variety.
    Never 0, so every chosen study can give a trial.
    """
    return max(math.exp(-source.distance), 1e-300)


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


# -- warm-starting CMA-ES ----------------------------------------------------------------
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


# -- small helpers -----------------------------------------------------------------------
def _warn(headline: str, problems: Sequence[str]) -> None:
    """One warning for a list of problems; the first few listed, the rest counted."""
    if not problems:
        return
    shown = "\n  ".join(problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    tail = f"\n  ... and {more} more" if more > 0 else ""
    warnings.warn(
        f"{headline}:\n  {shown}{tail}", TransferWarning, stacklevel=_outside_stacklevel()
    )


def _outside_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this module."""
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None  # the caller of warnings.warn
    level = 1
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
        level += 1
    return level


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    return float(value)


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


__all__ = [
    "DESCRIPTORS_ATTR",
    "TRANSFER_ATTR",
    "RankedStudy",
    "TransferWarning",
    "TransferredTrial",
    "cma_source_trials",
    "describe_study",
    "rank_studies",
    "study_descriptors",
    "transfer",
]
