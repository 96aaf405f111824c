"""Value types that cross the plugin contract.

Every hook takes or returns one of these, so a plugin author needs to read only this
module and :mod:`autometa.contract.hookspecs`. They are plain dataclasses: cheap to build, easy
to compare in tests, and (apart from :class:`Algorithm`, which holds a factory) free of
code, so they can be stored as data in a knowledge base.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from optuna.distributions import BaseDistribution

from autometa.contract._fidelity import AUTO_PRUNER, check_fidelities, check_pruner
from autometa.contract._kinds import TASK_KINDS as TASK_KINDS  # re-exported: most code imports
from autometa.contract._kinds import TaskKind as TaskKind  # the kinds from here

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler
    from sklearn.base import BaseEstimator

    from autometa.contract._task import Task


ALGORITHM_PARAM = "algorithm"
"""Name of the Optuna parameter that chooses the algorithm in the joint search space."""

PARAM_SEPARATOR = "__"
"""Trial parameters are named ``<algorithm>__<param>`` so one conditional space covers all."""


@dataclass(frozen=True)
class Algorithm:
    """A learning algorithm the search may choose, with its hyperparameter space.

    Parameters
    ----------
    name:
        Unique across all plugins; used in trial parameter names, so it must be a
        Python-identifier-like string without ``__``.
    kinds:
        Task kinds the algorithm handles.
    make_estimator:
        ``make_estimator(params, task)`` returns an *unfitted* scikit-learn estimator
        (usually a Pipeline with its own preprocessing) for a dict of hyperparameters
        taken from ``search_space``.
    search_space:
        ``search_space(task)`` returns ``{param: optuna distribution}``. It may depend on
        the task (for example its size). An empty dict means "no hyperparameters".
    default_params:
        The point searched first: the estimator's own defaults expressed in the space's
        parameters. It must lie inside ``search_space(task)`` for every task.
    """

    name: str
    kinds: tuple[TaskKind, ...]
    make_estimator: Callable[[Mapping[str, Any], Task], BaseEstimator]
    search_space: Callable[[Task], dict[str, BaseDistribution]]
    default_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or PARAM_SEPARATOR in self.name or not self.name.isidentifier():
            raise ValueError(
                f"Algorithm name {self.name!r} must be an identifier without '__' "
                "(it prefixes Optuna parameter names)."
            )
        unknown = set(self.kinds) - set(TASK_KINDS)
        if not self.kinds or unknown:
            raise ValueError(
                f"Algorithm {self.name!r} kinds must be a non-empty subset of {TASK_KINDS}; "
                f"got {self.kinds!r}."
            )

    @property
    def default_config(self) -> Config:
        """The estimator's defaults as a :class:`Config`."""
        return Config(self.name, dict(self.default_params))


def _json_safe(value: Any) -> Any:
    """Convert numpy scalars and tuples to plain JSON types; reject anything else."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _json_safe(value.item())
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    raise TypeError(
        f"Configuration values must be JSON-safe (str, int, float, bool, None); "
        f"got {type(value).__name__}: {value!r}."
    )


@dataclass(frozen=True)
class Config:
    """One algorithm with one set of hyperparameters; JSON-safe and hashable by content."""

    algorithm: str
    params: Mapping[str, Any] = field(default_factory=dict)

    key: str = field(init=False, repr=False, compare=False)
    """Canonical JSON text: equal configurations have equal keys (computed once)."""

    def __post_init__(self) -> None:
        params = {k: _json_safe(v) for k, v in sorted(dict(self.params).items())}
        object.__setattr__(self, "params", params)
        object.__setattr__(
            self,
            "key",
            json.dumps(
                {"algorithm": self.algorithm, "params": params}, sort_keys=True, allow_nan=False
            ),
        )

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.key == other.key

    def to_trial_params(self) -> dict[str, Any]:
        """Flatten to the namespaced Optuna parameters (``algorithm``, ``<algo>__<param>``)."""
        flat: dict[str, Any] = {ALGORITHM_PARAM: self.algorithm}
        for name, value in self.params.items():
            flat[f"{self.algorithm}{PARAM_SEPARATOR}{name}"] = value
        return flat

    @classmethod
    def from_trial_params(cls, params: Mapping[str, Any]) -> Config:
        """Inverse of :meth:`to_trial_params`; ignores parameters of other algorithms."""
        try:
            algorithm = params[ALGORITHM_PARAM]
        except KeyError:
            raise ValueError(
                f"Trial parameters have no {ALGORITHM_PARAM!r} entry: {dict(params)!r}"
            ) from None
        prefix = f"{algorithm}{PARAM_SEPARATOR}"
        own = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
        return cls(algorithm, own)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"{self.algorithm}({inner})"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value)


EvaluationStatus = Literal["ok", "failed", "capped", "pruned"]
"""How an evaluation ended (see :class:`Evaluation`)."""


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating one configuration on one task.

    ``score`` follows scikit-learn's convention (greater is better) for the task's
    scoring; it is NaN when the evaluation failed, and ``error`` then says why.
    ``status`` is ``"ok"``, ``"failed"``, ``"capped"`` (stopped by a time limit) or
    ``"pruned"`` (stopped by the study's pruner after some folds or fidelities: not a
    failure, but its score is partial, so it is NaN here).
    """

    task_id: str
    config: Config
    score: float
    fit_time: float
    status: EvaluationStatus = "ok"
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and math.isfinite(self.score)


@dataclass(frozen=True)
class Evidence:
    """Why a meta-learner recommends a configuration, in terms a person can check."""

    model: str
    """Name of the meta-learner that produced the recommendation."""
    source_tasks: tuple[tuple[str, float], ...] = ()
    """Earlier tasks the configuration comes from, with their distance to the new task."""
    meta_features: tuple[tuple[str, float], ...] = ()
    """Meta-features that made those tasks near: (name, mean absolute scaled difference)."""
    note: str = ""

    def describe(self) -> str:
        parts = [self.model]
        if self.source_tasks:
            tasks = ", ".join(f"{name} (d={dist:.3f})" for name, dist in self.source_tasks)
            parts.append(f"from {tasks}")
        if self.meta_features:
            feats = ", ".join(name for name, _ in self.meta_features)
            parts.append(f"near in {feats}")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


@dataclass(frozen=True)
class Recommendation:
    """A configuration to try, what the model expects of it, and why."""

    config: Config
    predicted_score: float
    """The meta-learner's expectation; scale is the learner's (see ``evidence.note``)."""
    evidence: Evidence


@dataclass(frozen=True)
class Proposal:
    """An adaptive meta-learner's next configuration for the task being searched.

    Returned by :meth:`MetaLearner.propose <autometa.contract.MetaLearner.propose>`.
    ``gain`` is what the learner predicts evaluating it next is worth, in its own
    units (the shipped ``adaptive_portfolio``: the drop in the weighted expected
    best-so-far normalized regret, 0 to 1); the search uses the proposal only while
    ``gain`` is at least :attr:`Strategy.handover_gain`. ``task_weights`` are the earlier
    tasks the observations point to, heaviest first, as ``(task id, weight)`` pairs
    (``explain()`` shows the first three).
    """

    recommendation: Recommendation
    gain: float
    task_weights: tuple[tuple[str, float], ...] = ()


DEFAULT_HANDOVER_GAIN = 0.0002
"""Default :attr:`Strategy.handover_gain`, chosen by replay (docs/replay.md, "Adaptive
portfolio and hand-over by evidence"): with a random order standing in for the sampler,
every threshold tried costs some regret against never handing over; 0.0002 hands over
after a median of 8 trials and still stays below the static portfolio's regret at 5 to
50 trials (0.002 does not at 10), leaving the sampler the rest of the budget to improve
beyond the pool, which replay cannot credit."""


@dataclass(frozen=True)
class Strategy:
    """How to search one task: chosen by the user or a strategy-selector plugin.

    Parameters
    ----------
    meta_learner:
        Name of a registered meta-learner, or None for a cold search.
    n_warm_starts:
        How many recommendations are enqueued before the sampler takes over.
    sampler:
        A built-in name (``"tpe"``, ``"random"``, ``"cmaes"``, ``"qmc"``), an Optuna
        sampler instance, or a name a plugin offers (hook ``autometa_samplers``). The
        shipped ``multitask`` plugin offers ``"rgpe"``: a ranking-weighted ensemble of
        one surrogate per earlier task plus one of this task's trials, reweighted after
        every trial by how well each ranks this task's results, that proposes each
        configuration once a few trials are done (TPE before); and ``"cmaes_warm"``:
        CMA-ES over the numeric hyperparameters of one algorithm (the one that did best
        on the nearest earlier tasks), warm-started from those tasks' evaluations of it
        (Optuna's ``CmaEsSampler(source_trials=...)``); the warm starts still run first.
    validation:
        ``"cv"`` (k-fold, stratified for classification) or ``"holdout"`` (one split).
    n_splits:
        Folds for ``"cv"``; ignored for ``"holdout"`` (which keeps 25% for validation).
    n_repeats:
        For ``"cv"``: how many times the k folds are drawn, each time shuffled afresh;
        a trial's score is the mean over ``n_splits * n_repeats`` folds and its
        out-of-fold predictions the mean over the repeats. On small tables one k-fold
        split is a noisy estimate, and a search that picks the best of many trials by it
        picks noise; repeats cost proportionally more per trial.
    fidelities:
        For ``"holdout"`` only: fractions of the training rows each trial is fitted on
        (stratified subsamples, smallest first) before all of them, each step scored on
        the validation rows, e.g. ``(1/9, 1/3)``; the pruner may stop a trial after any
        step, so a large table gets many cheap looks and few full fits (successive
        halving over rows). Empty: every trial fits all training rows.
        :func:`~autometa.contract.row_fidelities` gives the default schedule.
    pruner:
        An Optuna pruner deciding after each step of a trial (a fold, or a fidelity)
        whether to stop it; ``"auto"`` is ``WilcoxonPruner`` over folds and successive
        halving's rule (keep the best third, as ``PercentilePruner``) over fidelities,
        for a fit with a timeout (with ``n_trials`` alone, pruned trials would be
        partial looks spent from the count); None never prunes. A pruned trial is
        recorded as ``PRUNED`` in the study.
    reason:
        Why this strategy was chosen, shown to the user.
    handover_gain:
        With an adaptive meta-learner (one that overrides
        :meth:`~autometa.contract.MetaLearner.propose`), the search asks it before every
        trial for the next configuration given the trials told so far, and uses its
        :class:`Proposal` while the predicted ``gain`` is at least this; the first time
        it is lower (or the learner proposes nothing) the sampler takes over for good.
        Only the first recommendation is enqueued up front then (so the first trial
        starts at once); ``n_warm_starts=0`` still means a cold search.
    """

    meta_learner: str | None = "nearest_tasks"
    n_warm_starts: int = 10
    sampler: str | BaseSampler = "tpe"
    validation: Literal["cv", "holdout"] = "cv"
    n_splits: int = 5
    n_repeats: int = 1
    fidelities: tuple[float, ...] = ()
    pruner: str | BasePruner | None = AUTO_PRUNER
    reason: str = ""
    handover_gain: float = DEFAULT_HANDOVER_GAIN

    def __post_init__(self) -> None:
        if self.n_warm_starts < 0:
            raise ValueError(f"n_warm_starts must be >= 0, got {self.n_warm_starts}.")
        if self.validation not in ("cv", "holdout"):
            raise ValueError(f"validation must be 'cv' or 'holdout', got {self.validation!r}.")
        if self.validation == "cv" and self.n_splits < 2:
            raise ValueError(f"n_splits must be >= 2 for cv, got {self.n_splits}.")
        if self.n_repeats < 1 or (self.validation == "holdout" and self.n_repeats != 1):
            raise ValueError(
                f"n_repeats must be >= 1, and 1 for a holdout; got {self.n_repeats} "
                f"with validation={self.validation!r}."
            )
        object.__setattr__(self, "fidelities", check_fidelities(self.fidelities, self.validation))
        check_pruner(self.pruner)
        if not (math.isfinite(self.handover_gain) and self.handover_gain >= 0):
            raise ValueError(f"handover_gain must be a number >= 0, got {self.handover_gain}.")


def resolve_params(
    algorithm: str, params: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """``defaults`` updated by ``params``, for an algorithm's ``make_estimator``: a name
    that is not a hyperparameter of the algorithm fails, listing the accepted ones."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"Algorithm {algorithm!r} has no hyperparameters {unknown}; "
            f"it accepts {sorted(defaults)}."
        )
    return {**defaults, **params}
