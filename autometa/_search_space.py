"""``SearchSpace``: autometa's conditional space for one dataset, in the user's own Optuna loop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from optuna.trial import BaseTrial
from sklearn.pipeline import Pipeline

from autometa._api import ApplySchema
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, TaskKind
from autometa.search._planning import plan_space
from autometa.search._space import suggest_config


class SearchSpace:
    """autometa's search space for one dataset, to sample in your own Optuna objective.

    It holds the validated task and the algorithms the plugins offer for it, built once;
    :meth:`suggest` samples a configuration from the conditional space (parameter
    ``algorithm``, then ``<algorithm>__<param>``: the names :func:`warm_start` enqueues)
    and returns it with its unfitted estimator, so the optimisation loop stays yours::

        space = autometa.SearchSpace(X, y)
        autometa.warm_start(study, X, y, n=10)

        def objective(trial):
            config, estimator = space.suggest(trial)
            return cross_val_score(estimator, X, y, cv=5, scoring=space.scoring).mean()

        study.optimize(objective, n_trials=50)
        model = space.estimator(study.best_params).fit(X, y)

    The estimator is a scikit-learn ``Pipeline``: a ``schema`` step (:class:`ApplySchema`)
    that brings raw data (a DataFrame with the training columns, or an array of the same
    width) into the types the task was validated with, then the algorithm's own
    pipeline. It clones and pickles like any estimator.

    Parameters
    ----------
    X, y:
        The training data, as for :func:`fit`.
    kind, scoring, random_state:
        As for :func:`fit`; ``scoring`` only sets :attr:`scoring` (the default for the
        kind when None), ``random_state`` seeds the estimators.
    algorithms, plugins, blocked:
        Restrict or extend the algorithms, as for :func:`fit`.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        *,
        kind: TaskKind | None = None,
        scoring: str | None = None,
        random_state: int | None = None,
        algorithms: Iterable[str] | None = None,
        plugins: Iterable[object] = (),
        blocked: Iterable[str] = (),
    ) -> None:
        space = plan_space(
            X,
            y,
            kind=kind,
            scoring=scoring,
            random_state=random_state,
            plugins=plugins,
            blocked=blocked,
            algorithms=algorithms,
        )
        self.task: Task = space.task
        self.algorithms: dict[str, Algorithm] = space.algorithms

    @property
    def scoring(self) -> str:
        """The scikit-learn scorer name autometa uses for this task."""
        return self.task.scoring

    def suggest(self, trial: BaseTrial) -> tuple[Config, Pipeline]:
        """Sample a configuration with ``trial``; return it and its unfitted estimator."""
        config = suggest_config(trial, self.algorithms, self.task)
        return config, self.estimator(config)

    def estimator(self, config: Config | Mapping[str, Any]) -> Pipeline:
        """The unfitted estimator of a :class:`Config` or of trial parameters.

        Trial parameters are e.g. ``study.best_params`` or ``trial.params``.
        """
        if not isinstance(config, Config):
            config = Config.from_trial_params(config)
        algorithm = self.algorithms.get(config.algorithm)
        if algorithm is None:
            raise ValueError(
                f"Algorithm {config.algorithm!r} is not in this space; it has "
                f"{sorted(self.algorithms)}."
            )
        model = algorithm.make_estimator(config.params, self.task)
        return Pipeline([("schema", ApplySchema(self.task.schema)), ("model", model)])

    def __repr__(self) -> str:
        return (
            f"SearchSpace({self.task.kind}, {self.task.n_rows} rows, "
            f"algorithms={sorted(self.algorithms)})"
        )
