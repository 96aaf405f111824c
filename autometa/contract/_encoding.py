"""Configurations as fixed-length float vectors, for surrogate models over the joint space.

A surrogate (a Gaussian process, a forest, a network) wants every configuration as a row
of numbers of the same length, whatever its algorithm. :class:`ConfigEncoder` makes that
row for the joint conditional space of several algorithms:

- one column per algorithm, one-hot (``algorithm=<name>``);
- for each algorithm's numeric parameter (Optuna ``FloatDistribution`` or
  ``IntDistribution``) one column ``<algorithm>__<param>`` holding the value scaled to
  [0, 1] within the parameter's range, on a log scale for ``log=True`` distributions;
- for each categorical parameter one column per choice, ``<algorithm>__<param>=<choice>``,
  one-hot;
- the columns of the algorithms a configuration does not use (its inactive parameters)
  hold :data:`INACTIVE`, a value outside [0, 1], so a model can tell "not used" from
  "smallest value".

Columns are sorted (algorithms by name, then parameters by name, choices in the order of
the distribution), so two encoders built from the same spaces give the same columns.

**Which ranges.** A search space may depend on the task (the shipped ``knn`` allows at
most fold-size - 1 neighbours), so the space of the new task and the spaces the knowledge
base's configurations were drawn from differ. :meth:`ConfigEncoder.from_spaces` starts
from the new task's space (it defines which algorithms and parameters exist, and every
point a sampler may propose lies in it) and, given the configurations a model is trained
on, widens each numeric range to cover their values and appends categorical choices
seen only there. The knowledge base's configurations then keep their own position (a
``knn`` with 80 neighbours stays distinct from one with 30 even if this task allows 30
at most), and the new task's points map inside [0, 1] too. An encoder built from the
space alone clips whatever lies outside, so points of two tasks could collide.

**Nothing is dropped silently.** A value outside its column's range is clipped to
[0, 1]; a categorical value that is not a choice, an active parameter the configuration
lacks, or a parameter the algorithm does not have is left out of the row; each such fact
is returned as an :class:`EncodingIssue` with the row (and logged at debug level), so a
caller can count, report or skip such rows. A configuration of an algorithm the encoder
does not know cannot be encoded at all: that is a ``ValueError`` (filter with
:meth:`ConfigEncoder.covers` first).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from autometa.contract._types import ALGORITHM_PARAM, PARAM_SEPARATOR, Config

if TYPE_CHECKING:
    from autometa.contract._task import Task
    from autometa.contract._types import Algorithm

logger = logging.getLogger(__name__)

INACTIVE = -1.0
"""Value of the columns of a parameter the configuration does not use (another
algorithm's parameter), or lacks; outside [0, 1] so that it never means a real value."""

SINGLE_VALUE = 0.5
"""Scaled value of a numeric parameter whose range holds one value (low == high)."""

_TOLERANCE = 1e-9
"""Scaled values this close outside [0, 1] are rounding, not out of range."""

Problem = Literal["clipped", "invalid", "missing", "unexpected"]
Spaces = Mapping[str, Mapping[str, BaseDistribution]]


@dataclass(frozen=True)
class EncodingIssue:
    """Something about one configuration that the encoded row does not show exactly.

    ``problem`` is ``"clipped"`` (a numeric value outside its range, encoded as the
    nearest end), ``"invalid"`` (a categorical value that is not a choice, or a
    non-number for a numeric parameter; the parameter's columns hold :data:`INACTIVE`),
    ``"missing"`` (an active parameter the configuration does not set; columns hold
    :data:`INACTIVE`) or ``"unexpected"`` (a parameter the algorithm's space does not
    have; ignored).
    """

    param: str
    """The trial parameter name, ``<algorithm>__<param>``."""
    value: Any
    problem: Problem

    def describe(self) -> str:
        return f"{self.param}={self.value!r}: {self.problem}"


@dataclass(frozen=True)
class _Numeric:
    low: float
    high: float
    log: bool

    def scale(self, value: float) -> float:
        """``value`` mapped to [0, 1] (unclipped); the caller checks the range."""
        if self.high <= self.low:
            # The middle, not 0: a range of one value has no smallest end to mean.
            return SINGLE_VALUE
        if self.log:
            if value <= 0:
                # No logarithm: -inf, which the caller reports as clipped and encodes as 0.
                return -math.inf
            low, high, value = math.log(self.low), math.log(self.high), math.log(value)
        else:
            low, high = self.low, self.high
        return (value - low) / (high - low)


@dataclass(frozen=True)
class _Categorical:
    choices: tuple[Any, ...]

    def index(self, value: Any) -> int | None:
        """Position of ``value`` among the choices (1 matches 1.0, never True), or None."""
        key = _choice_key(value)
        for position, choice in enumerate(self.choices):
            if _choice_key(choice) == key:
                return position
        return None


_Parameter = _Numeric | _Categorical


def _choice_key(value: Any) -> tuple[str, Any]:
    """A key under which equal JSON values match: 1 and 1.0 do, True and 1 do not."""
    # bool first: True is an int too, and must not match 1.
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return ("number", float(value))
    if value is None:
        return ("null", None)
    return (type(value).__name__, value)


def is_number(value: Any) -> bool:
    """A finite int or float (numpy's too), not a bool: a value a numeric column can hold."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(float(value))
    )


def _parameter(distribution: BaseDistribution, where: str) -> _Parameter:
    if isinstance(distribution, (FloatDistribution, IntDistribution)):
        return _Numeric(float(distribution.low), float(distribution.high), distribution.log)
    if isinstance(distribution, CategoricalDistribution):
        return _Categorical(tuple(distribution.choices))
    raise TypeError(
        f"{where}: cannot encode a {type(distribution).__name__}; spaces are made of "
        "FloatDistribution, IntDistribution and CategoricalDistribution."
    )


def _widened(parameter: _Parameter, values: Sequence[Any]) -> _Parameter:
    """``parameter`` with its range (or choices) extended to cover ``values``."""
    if isinstance(parameter, _Numeric):
        numbers = [float(v) for v in values if is_number(v) and (not parameter.log or v > 0)]
        if not numbers:
            return parameter
        return _Numeric(min(parameter.low, *numbers), max(parameter.high, *numbers), parameter.log)
    known = {_choice_key(c) for c in parameter.choices}
    extra: dict[tuple[str, Any], Any] = {}
    for value in values:
        key = _choice_key(value)
        if key not in known:
            extra.setdefault(key, value)
    # After the space's own choices, in repr order: the columns do not depend on the order the
    # configurations came in, and reprs compare where values of mixed types would not.
    ordered = [extra[key] for key in sorted(extra, key=repr)]
    return _Categorical((*parameter.choices, *ordered))


@dataclass(frozen=True)
class EncodedConfigs:
    """Rows of :meth:`ConfigEncoder.transform`, with what each row does not show exactly."""

    X: np.ndarray
    """Shape ``(n_configs, n_columns)``, float."""
    issues: tuple[tuple[EncodingIssue, ...], ...]
    """One tuple per row; empty when the row is exact."""

    @property
    def exact(self) -> np.ndarray:
        """Boolean mask of the rows without any issue."""
        return np.array([not found for found in self.issues], dtype=bool)


class ConfigEncoder:
    """Encode :class:`~autometa.contract.Config` objects of some algorithms as float vectors.

    Parameters
    ----------
    spaces:
        ``{algorithm name: {param: Optuna distribution}}``, e.g.
        ``{name: algorithm.search_space(task) for name, algorithm in algorithms.items()}``.
    inactive:
        The value of the columns a configuration does not use (default :data:`INACTIVE`).

    Build one with :meth:`from_spaces` to widen the ranges to the configurations a model
    is trained on (see the module's documentation for why).
    """

    def __init__(self, spaces: Spaces, *, inactive: float = INACTIVE) -> None:
        if not spaces:
            raise ValueError("ConfigEncoder needs the space of at least one algorithm.")
        self.inactive = float(inactive)
        self._parameters: dict[str, dict[str, _Parameter]] = {
            name: {
                param: _parameter(distribution, f"{name}{PARAM_SEPARATOR}{param}")
                for param, distribution in sorted(spaces[name].items())
            }
            for name in sorted(spaces)
        }
        self._build_columns()

    @classmethod
    def from_spaces(
        cls, spaces: Spaces, configs: Iterable[Config] = (), *, inactive: float = INACTIVE
    ) -> ConfigEncoder:
        """An encoder over ``spaces`` whose ranges and choices also cover ``configs``.

        Only the configurations' values of parameters the spaces have are used; a numeric
        value that a log scale cannot hold (zero or negative) does not widen it and is
        clipped when encoded.
        """
        encoder = cls(spaces, inactive=inactive)
        seen: dict[str, dict[str, list[Any]]] = {}
        for config in configs:
            params = encoder._parameters.get(config.algorithm)
            if params is None:
                continue
            for param, value in config.params.items():
                if param in params:
                    seen.setdefault(config.algorithm, {}).setdefault(param, []).append(value)
        for name, values in seen.items():
            for param, found in values.items():
                encoder._parameters[name][param] = _widened(encoder._parameters[name][param], found)
        encoder._build_columns()
        return encoder

    def _build_columns(self) -> None:
        columns = [f"{ALGORITHM_PARAM}={name}" for name in self._parameters]
        self._slices: dict[str, dict[str, slice]] = {}
        for name, params in self._parameters.items():
            self._slices[name] = {}
            for param, parameter in params.items():
                prefix = f"{name}{PARAM_SEPARATOR}{param}"
                start = len(columns)
                if isinstance(parameter, _Numeric):
                    columns.append(prefix)
                else:
                    columns.extend(f"{prefix}={choice!r}" for choice in parameter.choices)
                self._slices[name][param] = slice(start, len(columns))
        self.columns: tuple[str, ...] = tuple(columns)
        """Column names: ``algorithm=<name>``, ``<algo>__<param>``, ``<algo>__<param>=<choice>``."""
        self.algorithms: tuple[str, ...] = tuple(self._parameters)
        """The algorithms this encoder knows, sorted."""

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return f"ConfigEncoder({len(self.algorithms)} algorithms, {len(self.columns)} columns)"

    def covers(self, config: Config) -> bool:
        """Whether the configuration's algorithm is one this encoder knows."""
        return config.algorithm in self._parameters

    def range_of(self, algorithm: str, param: str) -> tuple[float, float, bool] | None:
        """``(low, high, log)`` a numeric column scales with; None for a categorical one."""
        parameter = self._parameters[algorithm][param]
        if isinstance(parameter, _Numeric):
            return parameter.low, parameter.high, parameter.log
        return None

    def encode(self, config: Config) -> tuple[np.ndarray, tuple[EncodingIssue, ...]]:
        """One configuration as a vector of :attr:`n_columns` floats, with its issues."""
        row = np.full(len(self.columns), self.inactive)
        issues = self._fill(row, config)
        if issues:
            logger.debug("encoding %s: %s", config, "; ".join(issue.describe() for issue in issues))
        return row, issues

    def transform(self, configs: Iterable[Config]) -> EncodedConfigs:
        """Many configurations as a matrix, one row each, with each row's issues."""
        configs = list(configs)
        X = np.full((len(configs), len(self.columns)), self.inactive)
        # X[i] is a view: _fill writes each row in place.
        issues = tuple(self._fill(X[i], config) for i, config in enumerate(configs))
        n_rows = sum(1 for found in issues if found)
        if n_rows:
            logger.debug("%d of %d configurations encoded with issues", n_rows, len(configs))
        return EncodedConfigs(X, issues)

    def _fill(self, row: np.ndarray, config: Config) -> tuple[EncodingIssue, ...]:
        params = self._parameters.get(config.algorithm)
        if params is None:
            raise ValueError(
                f"Cannot encode a configuration of {config.algorithm!r}: this encoder knows "
                f"{list(self.algorithms)}. Build the encoder over that algorithm's space too, "
                "or skip such configurations (ConfigEncoder.covers)."
            )
        row[self.algorithms.index(config.algorithm)] = 1.0
        # The row starts out inactive everywhere, but the algorithm columns are one-hot: the other
        # algorithms' are 0.
        for other in self.algorithms:
            if other != config.algorithm:
                row[self.algorithms.index(other)] = 0.0
        issues: list[EncodingIssue] = []
        slices = self._slices[config.algorithm]
        for param, parameter in params.items():
            name = f"{config.algorithm}{PARAM_SEPARATOR}{param}"
            if param not in config.params:
                issues.append(EncodingIssue(name, None, "missing"))
                continue
            value = config.params[param]
            where = slices[param]
            if isinstance(parameter, _Numeric):
                if not is_number(value):
                    issues.append(EncodingIssue(name, value, "invalid"))
                    continue
                scaled = parameter.scale(float(value))
                if scaled < -_TOLERANCE or scaled > 1 + _TOLERANCE:
                    issues.append(EncodingIssue(name, value, "clipped"))
                row[where.start] = min(max(scaled, 0.0), 1.0)
            else:
                position = parameter.index(value)
                if position is None:
                    issues.append(EncodingIssue(name, value, "invalid"))
                    continue
                # An active parameter's choice columns are 0/1; they stay inactive only for an
                # invalid value (above).
                row[where] = 0.0
                row[where.start + position] = 1.0
        for param in sorted(set(config.params) - set(params)):
            name = f"{config.algorithm}{PARAM_SEPARATOR}{param}"
            issues.append(EncodingIssue(name, config.params[param], "unexpected"))
        return tuple(issues)


def spaces_of(
    algorithms: Mapping[str, Algorithm], task: Task
) -> dict[str, dict[str, BaseDistribution]]:
    """``{name: algorithm.search_space(task)}``: the spaces an encoder is built from."""
    return {name: dict(algorithm.search_space(task)) for name, algorithm in algorithms.items()}
