"""CMA-ES on one algorithm, warm-started from the nearest earlier tasks' evaluations.

Optuna's ``CmaEsSampler(source_trials=...)`` implements warm-starting CMA-ES (Nomura
et al., 2021): the first search distribution is estimated from the best 10% of source
trials of similar tasks, instead of a wide Gaussian at the centre of the space. CMA-ES
searches a fixed, numeric space, while autometa's space is conditional on ``algorithm``;
so this strategy searches **one** algorithm:

1. The earlier tasks of the same kind nearest to the new one in meta-features (scaled to
   [0, 1] over the earlier tasks and the new one, mean absolute difference over the
   meta-features both define) are found.
2. Among the algorithms with at least two numeric hyperparameters in this task's space
   (CMA-ES needs two dimensions), the one whose best configuration scores highest on
   those tasks on average (each task's scores min-max scaled) is chosen.
3. Those tasks' evaluations of that algorithm become source trials: its numeric
   parameters (as ``<algorithm>__<param>`` in this task's distributions; an evaluation
   with a value outside them is skipped, with a debug log) and, as value, the score's
   rank within its task scaled to [0, 1], because raw scores of different tasks are not
   comparable and warm-starting only ranks them.

:class:`WarmStartedCmaEs` then answers ``algorithm`` with the chosen algorithm, lets
CMA-ES sample its numeric parameters and the inner sampler (TPE) its categorical ones.
Enqueued warm starts of other algorithms still run (their parameters are fixed); CMA-ES
ignores them. Restricting the *sampler* rather than the study's space keeps the fit's
space, its checks of resumed studies and its warm starts unchanged.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, CmaEsSampler
from optuna.trial import FrozenTrial, TrialState, create_trial
from scipy.stats import rankdata

from autometa.contract import (
    ALGORITHM_PARAM,
    PARAM_SEPARATOR,
    MetaFeatureSpace,
    SamplerContext,
    Spaces,
    builtin_sampler,
    spaces_of,
)
from autometa_multitask.rgpe import contains

if TYPE_CHECKING:
    from autometa.contract import ScoreTableView, TaskRecordView

logger = logging.getLogger(__name__)

N_NEAREST_TASKS = 5
"""Earlier tasks whose evaluations become source trials."""
MIN_SOURCE_TRIALS = 10
"""Warm-starting estimates its first distribution from the best 10% of the source trials
(``cmaes.get_warm_start_mgd``, gamma 0.1), so it needs at least ten; with fewer, CMA-ES
starts at the best source configuration instead."""
MIN_DIMENSIONS = 2
"""CMA-ES in Optuna needs at least two numeric parameters."""


def numeric_space(
    space: Mapping[str, BaseDistribution], algorithm: str
) -> dict[str, BaseDistribution]:
    """The numeric, non-constant parameters of one algorithm, named as trial parameters."""
    return {
        f"{algorithm}{PARAM_SEPARATOR}{param}": distribution
        for param, distribution in sorted(space.items())
        if isinstance(distribution, (FloatDistribution, IntDistribution))
        and not distribution.single()
    }


def nearest_tasks(
    records: Sequence[TaskRecordView], meta_features: Mapping[str, float], k: int
) -> list[tuple[str, float]]:
    """``(task_id, distance)`` of the ``k`` records nearest to ``meta_features``.

    Each meta-feature is scaled to [0, 1] over the records and the new task together; the
    distance is the mean absolute difference over the meta-features both define (the
    contract's :class:`autometa.contract.MetaFeatureSpace`, scaled over ``records`` only
    and over the meta-features the new task defines).
    """
    names = sorted({name for r in records for name in r.meta_features} & set(meta_features))
    if not records or not names:
        return []
    space = MetaFeatureSpace.from_records(records, feature_names=names)
    return space.distances(meta_features)[:k]


@dataclass(frozen=True)
class WarmStartPlan:
    """What :func:`plan_warm_start` decided: the algorithm and the source trials."""

    algorithm: str | None
    """None when no algorithm of this space has two numeric parameters."""
    source_trials: tuple[FrozenTrial, ...]
    tasks: tuple[tuple[str, float], ...]
    """The nearest tasks used, with their distances."""
    reason: str


def plan_warm_start(
    spaces: Spaces,
    table: ScoreTableView | None,
    records: Sequence[TaskRecordView],
    meta_features: Mapping[str, float],
    *,
    n_tasks: int = N_NEAREST_TASKS,
) -> WarmStartPlan:
    """Choose the algorithm and build its source trials (steps 1-3 of the module)."""
    eligible = sorted(
        name for name, space in spaces.items() if len(numeric_space(space, name)) >= MIN_DIMENSIONS
    )
    if not eligible:
        return WarmStartPlan(
            None,
            (),
            (),
            f"no algorithm of {sorted(spaces)} has {MIN_DIMENSIONS} numeric parameters",
        )
    rows = {} if table is None else {task_id: i for i, task_id in enumerate(table.task_ids)}
    near = nearest_tasks([r for r in records if r.task_id in rows], meta_features, n_tasks)
    if table is None or not near:
        return WarmStartPlan(eligible[0], (), (), "no earlier task to learn from")
    normalized = table.normalized()
    merit = {}
    for name in eligible:
        columns = [j for j, c in enumerate(table.configs) if c.algorithm == name]
        rows_of = [normalized[rows[t], columns] for t, _ in near]
        best = [row[np.isfinite(row)].max() for row in rows_of if np.isfinite(row).any()]
        if best:
            merit[name] = float(np.mean(best))
    if not merit:
        return WarmStartPlan(eligible[0], (), tuple(near), "the nearest tasks tried none of them")
    algorithm = max(sorted(merit), key=lambda name: merit[name])
    space = numeric_space(spaces[algorithm], algorithm)
    sources = []
    for task_id, _ in near:
        scores = table.scores[rows[task_id]]
        finite = np.isfinite(scores)
        ranks = np.full(len(scores), np.nan)
        if finite.sum() >= 2:
            ranks[finite] = (rankdata(scores[finite]) - 1) / (finite.sum() - 1)
        for j, config in enumerate(table.configs):
            if config.algorithm != algorithm or not np.isfinite(ranks[j]):
                continue
            params = config.to_trial_params()
            values = {name: params.get(name) for name in space}
            outside = [n for n, d in space.items() if not contains(d, values[n])]
            if outside:
                logger.debug(
                    "source %s of task %s skipped: %s outside this task's space",
                    config, task_id, outside,
                )  # fmt: skip
                continue
            sources.append(
                create_trial(
                    params=values,
                    distributions=dict(space),
                    value=float(ranks[j]),
                    state=TrialState.COMPLETE,
                )
            )
    return WarmStartPlan(
        algorithm,
        tuple(sources),
        tuple(near),
        f"{algorithm}: best mean scaled score {merit[algorithm]:.3f} on the {len(near)} "
        f"nearest tasks; {len(sources)} source trials",
    )


class WarmStartedCmaEs(BaseSampler):
    """CMA-ES over one algorithm's numeric parameters, from source trials.

    :param algorithm: the algorithm every non-enqueued trial uses.
    :param space: that algorithm's space in this task (``{param: distribution}``).
    :param source_trials: ``FrozenTrial`` objects over the numeric parameters (names
        ``<algorithm>__<param>``, values greater is better); fewer than
        :data:`MIN_SOURCE_TRIALS` start CMA-ES at the best of them instead.
    :param inner: samples categorical parameters (and anything before CMA-ES starts).
    """

    def __init__(
        self,
        algorithm: str,
        space: Mapping[str, BaseDistribution],
        source_trials: Sequence[FrozenTrial] = (),
        *,
        random_state: int | None = None,
        inner: BaseSampler | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.search_space = numeric_space(space, algorithm)
        if len(self.search_space) < MIN_DIMENSIONS:
            raise ValueError(
                f"CMA-ES needs at least {MIN_DIMENSIONS} numeric parameters; {algorithm!r} has "
                f"{sorted(self.search_space)}. Choose another algorithm or sampler='tpe'."
            )
        self.source_trials = list(source_trials)
        self.inner = inner if inner is not None else optuna.samplers.TPESampler(seed=random_state)
        # Source values are greater-is-better, as in autometa's studies (direction
        # maximize); in a study that minimises, CMA-ES would start from the worst sources.
        sources: list[FrozenTrial] | None = None
        if len(self.source_trials) >= MIN_SOURCE_TRIALS:
            sources = self.source_trials
        elif self.source_trials:
            # The best one, repeated: WS-CMA-ES then starts at it with its prior spread
            # (alpha 0.1 of the unit range); Optuna deprecates x0, which did the same.
            best = max(self.source_trials, key=lambda t: float(t.value or 0.0))
            sources = [best] * MIN_SOURCE_TRIALS
        self.warm_started = len(self.source_trials) >= MIN_SOURCE_TRIALS
        """Whether CMA-ES starts from a distribution estimated on several source trials."""
        with warnings.catch_warnings():
            # source_trials is marked experimental; nothing a user could act on.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.cma = CmaEsSampler(
                seed=random_state,
                independent_sampler=self.inner,
                warn_independent_sampling=False,
                n_startup_trials=0,
                source_trials=sources,
            )

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        fixed = trial.system_attrs.get("fixed_params") or {}
        if fixed.get(ALGORITHM_PARAM, self.algorithm) != self.algorithm:
            return {}  # an enqueued trial of another algorithm: not a CMA-ES sample
        if all(name in fixed for name in self.search_space):
            return {}
        return dict(self.search_space)

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        return dict(self.cma.sample_relative(study, trial, search_space))

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if param_name == ALGORITHM_PARAM and contains(param_distribution, self.algorithm):
            return self.algorithm
        return self.cma.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.cma.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.cma.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.cma.reseed_rng()


def make_cmaes_warm(context: SamplerContext, random_state: int | None, n_jobs: int) -> BaseSampler:
    """The ``"cmaes_warm"`` sampler of a fit (see the module).

    When no algorithm of the space has two numeric parameters, CMA-ES cannot run: the
    fit searches with TPE instead, and a warning says why.
    """
    if importlib.util.find_spec("cmaes") is None:
        raise ImportError(
            "sampler 'cmaes_warm' runs Optuna's CmaEsSampler, which needs the 'cmaes' "
            "package: pip install cmaes (or choose sampler='tpe')."
        )
    spaces = spaces_of(context.algorithms, context.task)
    plan = plan_warm_start(
        spaces,
        context.knowledge.score_table(context.task.kind, algorithms=list(context.algorithms)),
        context.knowledge.tasks(kind=context.task.kind),
        context.meta_features,
    )
    inner = builtin_sampler("tpe", random_state, n_jobs)
    if plan.algorithm is None:
        warnings.warn(
            f"cmaes_warm: {plan.reason}, and CMA-ES needs {MIN_DIMENSIONS}; searching with "
            "TPE instead. Allow such an algorithm (e.g. hist_gradient_boosting, svm) or "
            "choose sampler='tpe'.",
            UserWarning,
            stacklevel=2,
        )
        return inner
    logger.info("cmaes_warm: %s", plan.reason)
    return WarmStartedCmaEs(
        plan.algorithm,
        spaces[plan.algorithm],
        plan.source_trials,
        random_state=random_state,
        inner=inner,
    )
