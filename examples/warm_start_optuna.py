"""Warm-start your own Optuna studies: from autometa's knowledge, and from your earlier studies.

    python examples/warm_start_optuna.py

1. ``autometa.warm_start`` enqueues autometa's recommendations for a dataset into a
   study you own; ``autometa.SearchSpace.suggest`` samples the same space in your
   objective and builds the estimator. The loop, and the study, stay yours.
2. ``autometa.transfer`` works for any objective, not only scikit-learn: describe each
   study's task with a few numbers (``autometa.describe_study``) and a new study starts
   from the best trials of the most similar earlier ones in your storage.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import optuna
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import cross_val_score

import autometa


def tune_a_classifier() -> None:
    """Part 1: autometa's recommendations in a study and an objective you wrote."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    space = autometa.SearchSpace(X, y, random_state=0)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    recommendations = autometa.warm_start(study, X, y, n=4, random_state=0)

    def objective(trial: optuna.Trial) -> float:
        _config, estimator = space.suggest(trial)  # the enqueued warm starts first
        return float(cross_val_score(estimator, X, y, cv=3, scoring=space.scoring).mean())

    study.optimize(objective, n_trials=len(recommendations) + 2)
    print(f"1. {len(recommendations)} warm starts, then TPE; {space.scoring} per trial:")
    for trial in study.trials:
        origin = "warm start" if "warm_start_rank" in trial.user_attrs else "TPE"
        print(f"   {trial.value:.4f}  {origin:10}  {trial.params['algorithm']}")
    model = space.estimator(study.best_params).fit(X, y)
    print(f"   best: {study.best_params['algorithm']}, refitted: {type(model).__name__}\n")


# -- part 2: any objective --------------------------------------------------------------
DISTRIBUTIONS = {
    "cache_mb": optuna.distributions.FloatDistribution(1.0, 1024.0, log=True),
    "workers": optuna.distributions.IntDistribution(1, 64),
}


def serving_cost(trial: optuna.Trial, load: float) -> float:
    """A toy cost of serving traffic: its best cache and worker count grow with ``load``.

    It stands for anything you tune on many similar tasks (a simulation, a pipeline, a
    model of another library): the same parameters, an optimum that moves with the task.
    """
    cache = trial.suggest_float("cache_mb", 1.0, 1024.0, log=True)
    workers = trial.suggest_int("workers", 1, 64)
    best_cache, best_workers = 16.0 * 2 ** (6 * load), 4 + 40 * load
    return (2.0 * (cache / best_cache - 1.0)) ** 2 + ((workers - best_workers) / 8) ** 2


def transfer_between_own_studies(storage: str) -> None:
    """Part 2: a study of load 0.5 starts from an earlier study of load 0.45."""
    earlier = optuna.create_study(
        storage=storage, study_name="load-0.45", sampler=optuna.samplers.TPESampler(seed=1)
    )
    autometa.describe_study(earlier, {"load": 0.45})
    earlier.optimize(lambda trial: serving_cost(trial, 0.45), n_trials=30)

    new = optuna.create_study(
        storage=storage, study_name="load-0.5", sampler=optuna.samplers.TPESampler(seed=0)
    )
    autometa.describe_study(new, {"load": 0.5})  # so later studies can learn from it
    enqueued = autometa.transfer(new, storage=storage, n=5, distributions=DISTRIBUTIONS)
    new.optimize(lambda trial: serving_cost(trial, 0.5), n_trials=15)

    cold = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    cold.optimize(lambda trial: serving_cost(trial, 0.5), n_trials=15)
    print(f"2. transferred {len(enqueued)} trials from the nearest earlier study, first:")
    print(f"   {enqueued[0]}")
    print(f"   best after 15 trials: transferred {new.best_value:.3f}, cold {cold.best_value:.3f}")


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tune_a_classifier()
    with tempfile.TemporaryDirectory() as folder:
        transfer_between_own_studies(f"sqlite:///{Path(folder) / 'studies.db'}")


if __name__ == "__main__":
    main()
