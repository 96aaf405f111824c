"""Meta-features: numbers that describe a task so earlier, similar tasks can be found.

A meta-learner compares a new task with the tasks in its knowledge base through these
numbers, so they must be cheap enough to compute before every fit, defined on any valid
:class:`~autometa.contract.Task` (NaN where a quantity is undefined, never an exception or
``inf``), and reproducible: the same data and seed always give the same values.

The built-in features reproduce auto-sklearn 1's meta-features under auto-sklearn's
CamelCase names (Feurer et al., 2015), in groups:

* cheap, always computed: ``general``, ``missing``, ``class`` (classification only;
  absent, not NaN, for regression), ``symbols`` and ``statistical``; all on every row
  except ``statistical`` (skewness and kurtosis), which sees a seeded, stratified
  subsample of at most :data:`MAX_STATISTICS_ROWS` rows, so the cost of planning a
  fit stays bounded on large tables;
* expensive, computed when ``expensive=True``: ``landmarking`` and ``pca``, on a seeded,
  stratified subsample of at most :data:`MAX_SUBSAMPLE_ROWS` rows and about
  :data:`MAX_SUBSAMPLE_CELLS` encoded cells, so their cost does not grow with the data
  (wide tasks get fewer rows, never fewer than :data:`MIN_SUBSAMPLE_ROWS`).

Plugins add their own groups through ``extra_groups`` (the caller wraps the
``autometa_meta_features`` hook); each group is timed, and a feature name produced by
two groups is an error naming both.

How the built-in groups differ from auto-sklearn's is said in
:mod:`autometa.search._metafeature_groups`.
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from autometa.contract._task import Task
from autometa.contract._types import TASK_KINDS, TaskKind
from autometa.search._metafeature_data import (
    MAX_STATISTICS_ROWS,
    MAX_SUBSAMPLE_CELLS,
    MAX_SUBSAMPLE_ROWS,
    MIN_SUBSAMPLE_ROWS,
    _TaskData,
)
from autometa.search._metafeature_groups import (
    _class,
    _general,
    _landmarking,
    _missing,
    _pca,
    _statistical,
    _symbols,
)

__all__ = [
    "CHEAP_GROUPS",
    "DEFAULT_SEED",
    "EXPENSIVE_GROUPS",
    "MAX_STATISTICS_ROWS",
    "MAX_SUBSAMPLE_CELLS",
    "MAX_SUBSAMPLE_ROWS",
    "MIN_SUBSAMPLE_ROWS",
    "MetaFeatures",
    "compute_meta_features",
]
DEFAULT_SEED = 0
"""Seed used when ``random_state`` is None. Meta-features describe the data, so by
default they depend on nothing else: not on the search seed in ``task.random_state``,
and not on the run; a task compared with a knowledge base gets the description its
earlier tasks got."""


# -- result ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaFeatures:
    """Meta-features of one task, grouped and timed.

    Attributes
    ----------
    values:
        ``{feature name: value}``; NaN where a feature is undefined for the task.
    groups:
        ``{group name: feature names}`` in computation order; every name in ``values``
        belongs to exactly one group.
    times:
        ``{group name: seconds}`` the group took to compute.
    """

    values: dict[str, float]
    groups: dict[str, tuple[str, ...]]
    times: dict[str, float]

    def as_dict(self) -> dict[str, float]:
        """A copy of ``values``: the plain mapping meta-learners and storage consume."""
        return dict(self.values)

    @property
    def names(self) -> tuple[str, ...]:
        """All feature names, in group order."""
        return tuple(self.values)

    @property
    def total_time(self) -> float:
        """Seconds spent over all groups."""
        return float(sum(self.times.values()))

    def subset(self, groups: Iterable[str]) -> MetaFeatures:
        """Only the given groups (for example to compare with a knowledge base that
        lacks the expensive ones). An unknown group name raises ``KeyError``."""
        wanted = list(groups)
        unknown = [g for g in wanted if g not in self.groups]
        if unknown:
            raise KeyError(
                f"Unknown meta-feature groups {unknown}; this result has {list(self.groups)}."
            )
        keep = [g for g in self.groups if g in set(wanted)]
        return MetaFeatures(
            values={n: self.values[n] for g in keep for n in self.groups[g]},
            groups={g: self.groups[g] for g in keep},
            times={g: self.times[g] for g in keep},
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numeric warnings that degenerate data (constant or empty columns, tiny
    classes, collinear features) provoke inside numpy, scipy and scikit-learn: the
    meta-features report such cases as NaN instead."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)  # scikit-learn's data warnings
        yield


@contextmanager
def _single_threaded(active: bool) -> Iterator[None]:
    """One BLAS/OpenMP thread for the expensive groups: their matrices are small (the
    subsample), where threads gain little, while oversubscribed BLAS threads (several
    tasks described in parallel, or a busy machine) are many times slower."""
    if not active:
        yield
        return
    with threadpool_limits(limits=1):
        yield


# -- the engine --------------------------------------------------------------------------
class _Group(NamedTuple):
    """A built-in group: its name, the function computing it, whether it is expensive
    and the task kinds it applies to (elsewhere it is absent, not NaN)."""

    name: str
    compute: Callable[[_TaskData], dict[str, float]]
    expensive: bool
    kinds: tuple[TaskKind, ...] = TASK_KINDS


_GROUPS: tuple[_Group, ...] = (
    _Group("general", _general, expensive=False),
    _Group("missing", _missing, expensive=False),
    _Group("class", _class, expensive=False, kinds=("binary", "multiclass")),
    _Group("symbols", _symbols, expensive=False),
    _Group("statistical", _statistical, expensive=False),
    _Group("landmarking", _landmarking, expensive=True),
    _Group("pca", _pca, expensive=True),
)

CHEAP_GROUPS: tuple[str, ...] = tuple(g.name for g in _GROUPS if not g.expensive)
EXPENSIVE_GROUPS: tuple[str, ...] = tuple(g.name for g in _GROUPS if g.expensive)


def compute_meta_features(
    task: Task,
    *,
    expensive: bool = True,
    extra_groups: Mapping[str, Callable[[], Mapping[str, float]]] | None = None,
    random_state: int | None = None,
) -> MetaFeatures:
    """Compute the meta-features of ``task``, group by group, timing each group.

    Parameters
    ----------
    task:
        A validated task.
    expensive:
        Also compute the ``landmarking`` and ``pca`` groups (fitted models on a
        subsample of at most :data:`MAX_SUBSAMPLE_ROWS` rows).
    extra_groups:
        ``{group name: function}`` from plugins; each function is called with no
        arguments and returns ``{feature name: number}``. Values become floats.
    random_state:
        Seed of the subsample and the landmarkers' folds. None means
        :data:`DEFAULT_SEED`, not ``task.random_state``: the same data always gets the
        same meta-features, whatever seed the search uses.

    Raises
    ------
    ValueError
        A feature name (or group name) of ``extra_groups`` is already taken; the
        message names both groups.
    TypeError
        An extra group returns something other than a mapping of names to numbers.
    """
    seed = _seed(random_state)
    data = _TaskData(task, seed)
    values: dict[str, float] = {}
    groups: dict[str, tuple[str, ...]] = {}
    times: dict[str, float] = {}
    owner: dict[str, str] = {}

    def add(group: str, features: Mapping[str, float], seconds: float) -> None:
        for name in features:
            if name in owner:
                raise ValueError(
                    f"Meta-feature {name!r} of group {group!r} is already produced by "
                    f"group {owner[name]!r}; rename one of them (prefix plugin features "
                    "with the plugin's name)."
                )
        for name, value in features.items():
            owner[name] = group
            values[name] = value
        groups[group] = tuple(features)
        times[group] = seconds

    for spec in _GROUPS:
        if (spec.expensive and not expensive) or task.kind not in spec.kinds:
            continue
        start = time.perf_counter()
        with _quiet(), _single_threaded(spec.expensive):
            features = spec.compute(data)
        add(spec.name, features, time.perf_counter() - start)

    for group, compute in (extra_groups or {}).items():
        if group in groups:
            raise ValueError(
                f"Meta-feature group {group!r} is already defined by autometa or another "
                "plugin; give the plugin's group another name."
            )
        start = time.perf_counter()
        raw = compute()
        seconds = time.perf_counter() - start
        add(group, _checked(group, raw), seconds)

    return MetaFeatures(values=values, groups=groups, times=times)


def _seed(random_state: Any) -> int:
    if random_state is None:
        return DEFAULT_SEED
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be an int or None, got {random_state!r}.")
    return int(random_state)


def _checked(group: str, raw: object) -> dict[str, float]:
    """``raw`` as ``{str: float}``, or a TypeError that names the group."""
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"Meta-feature group {group!r} returned {type(raw).__name__}; it must return "
            "a mapping of feature name to number."
        )
    checked: dict[str, float] = {}
    for name, value in raw.items():
        if not isinstance(name, str):
            raise TypeError(f"Meta-feature group {group!r} returned a non-string name {name!r}.")
        if not isinstance(value, (numbers.Real, np.bool_)):
            raise TypeError(
                f"Meta-feature group {group!r} returned {type(value).__name__} "
                f"{value!r} for {name!r}; values must be numbers (NaN where undefined)."
            )
        checked[name] = float(value)
    return checked
