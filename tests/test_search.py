"""The search loop: conditional space, warm starts, failures, time limits, parallelism."""

from __future__ import annotations

import time
from typing import Any

import optuna
import pytest
from estimators import FailingClassifier, SleepyClassifier
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from autometa.contract import Algorithm, Config, Evaluation, Task
from autometa.search._budget import Budget, estimated_refit_seconds, trial_seconds
from autometa.search._loop import run_search
from autometa.search._space import config_in_space, make_sampler


def logistic(params: Any, task: Task) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=500))


ALGORITHMS = {
    "logistic": Algorithm(
        "logistic",
        ("binary", "multiclass"),
        logistic,
        lambda task: {"C": FloatDistribution(1e-3, 1e3, log=True)},
        {"C": 1.0},
    ),
    "failing": Algorithm(
        "failing",
        ("binary", "multiclass"),
        lambda params, task: FailingClassifier(fail=params["fail"]),
        lambda task: {"fail": CategoricalDistribution([True])},
        {"fail": True},
    ),
    "sleepy": Algorithm(
        "sleepy",
        ("binary", "multiclass"),
        lambda params, task: SleepyClassifier(seconds=params["seconds"]),
        lambda task: {"seconds": IntDistribution(30, 60)},
        {"seconds": 30},
    ),
    "nap": Algorithm(
        "nap",
        ("binary", "multiclass"),
        lambda params, task: SleepyClassifier(seconds=params["seconds"]),
        lambda task: {"seconds": FloatDistribution(0.0, 5.0)},
        {"seconds": 0.0},
    ),
}


@pytest.fixture(scope="module")
def task() -> Task:
    X, y = load_breast_cancer(return_X_y=True)
    return Task.from_data(X[:300], y[:300], cv=3, random_state=0)


def study(seed: int = 0) -> optuna.Study:
    return optuna.create_study(direction="maximize", sampler=make_sampler("tpe", seed))


def test_conditional_space_and_reproducible_with_a_seed(task: Task) -> None:
    algorithms = {"logistic": ALGORITHMS["logistic"]}
    runs = [
        run_search(task, algorithms, study(7), Budget(n_trials=6, deadline=None)) for _ in range(2)
    ]
    assert [e.config for e in runs[0].evaluations] == [e.config for e in runs[1].evaluations]
    assert all(e.ok and 0.9 < e.score <= 1.0 for e in runs[0].evaluations)
    params = runs[0].evaluations[0].config.to_trial_params()
    assert set(params) == {"algorithm", "logistic__C"}


def test_failing_configs_become_failed_trials_and_search_goes_on(task: Task) -> None:
    algorithms = {k: ALGORITHMS[k] for k in ("logistic", "failing")}
    s = study(1)
    s.enqueue_trial(Config("failing", {"fail": True}).to_trial_params())
    outcome = run_search(task, algorithms, s, Budget(n_trials=8, deadline=None))
    failed = [e for e in outcome.evaluations if e.status == "failed"]
    assert failed
    assert "ArithmeticError: this configuration always fails" in (failed[0].error or "")
    assert outcome.best() is not None
    assert outcome.best().config.algorithm == "logistic"
    states = {t.state for t in s.trials}
    assert optuna.trial.TrialState.FAIL in states
    assert optuna.trial.TrialState.COMPLETE in states
    assert s.trials[0].user_attrs["error"].startswith("ArithmeticError")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_deadline_caps_slow_trials(task: Task, n_jobs: int) -> None:
    algorithms = {"sleepy": ALGORITHMS["sleepy"]}
    started = time.monotonic()
    outcome = run_search(
        task, algorithms, study(), Budget(n_trials=None, deadline=started + 3.0), n_jobs=n_jobs
    )
    elapsed = time.monotonic() - started
    assert outcome.evaluations, "at least one trial was started"
    assert all(e.status == "capped" for e in outcome.evaluations)
    assert elapsed < 3.0 + 2.5, f"search overran its deadline by {elapsed - 3.0:.1f}s"


def test_parallel_search_runs_exactly_n_trials(task: Task) -> None:
    algorithms = {"logistic": ALGORITHMS["logistic"]}
    s = study()
    outcome = run_search(task, algorithms, s, Budget(n_trials=5, deadline=None), n_jobs=2)
    assert len(outcome.evaluations) == 5 == len(s.trials)
    assert all(e.ok for e in outcome.evaluations)
    assert sorted(outcome.trial_numbers) == [0, 1, 2, 3, 4]


def test_a_slow_trial_holds_up_only_its_own_worker(task: Task) -> None:
    s = study()
    for seconds in (2.0, 0.0, 0.0, 0.0, 0.0):  # 3 folds: the first trial naps 6 s
        s.enqueue_trial(Config("nap", {"seconds": seconds}).to_trial_params())
    outcome = run_search(
        task, {"nap": ALGORITHMS["nap"]}, s, Budget(n_trials=5, deadline=None), n_jobs=2
    )
    assert all(e.ok for e in outcome.evaluations)
    # In rounds of two, trial 1 would wait for trial 0. Asked as workers free up, the
    # four quick trials run one after another beside the slow one, which ends last.
    assert outcome.trial_numbers[-1] == 0, outcome.trial_numbers


def test_config_in_space(task: Task) -> None:
    assert config_in_space(Config("logistic", {"C": 1.0}), ALGORITHMS, task)
    assert not config_in_space(Config("logistic", {"C": 1e6}), ALGORITHMS, task)
    assert not config_in_space(Config("logistic", {"C": 1.0, "extra": 1}), ALGORITHMS, task)
    assert not config_in_space(Config("missing", {}), ALGORITHMS, task)


def test_unknown_sampler_is_named() -> None:
    with pytest.raises(ValueError, match="Unknown sampler 'bayes'"):
        make_sampler("bayes", 0)


def test_a_trial_may_run_only_as_long_as_leaves_time_for_its_own_refit() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    folds = Task.from_data(X, y, random_state=0)  # 5-fold CV, the strategy's to change
    holdout = folds.with_validation("holdout")
    budget = Budget(n_trials=None, deadline=time.monotonic() + 60.0, timeout=60.0)
    # A 75/25 holdout refits on 4/3 of the rows a trial fits: a third of the time left.
    assert trial_seconds(budget, holdout, [], 1) == pytest.approx(59.5 / 3, rel=0.01)
    # 5-fold CV: one fold's time, scaled to all rows, is a quarter of a trial's.
    assert trial_seconds(budget, folds, [], 1) == pytest.approx(59.5 / 1.375, rel=0.01)
    # A best configuration whose refit needs more than the bound leaves keeps its time.
    slow = Evaluation(folds.task_id, Config("logistic", {"C": 1.0}), 0.9, 150.0)
    kept = 1.5 * estimated_refit_seconds(slow, folds) + 0.5
    assert trial_seconds(budget, folds, [slow], 1) == pytest.approx(60.0 - kept, abs=0.1)
