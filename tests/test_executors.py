"""The trial executors and the durable study, each used directly with real components.

The search loop only sees :class:`TrialExecutor`; these tests hold every executor to the
same contract: same outcomes for the same calls, known outcomes passed through, a lost
worker reported as :class:`TrialsLost` carrying why.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from estimators import ExitingClassifier
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from autometa.contract import Algorithm, Config, Evaluation, Evidence, Recommendation, Task
from autometa.search._durable import NOT_REACHED, WORKERS_ATTR, DurableStudy
from autometa.search._evaluation import CVOutcome
from autometa.search._executors import (
    InProcessExecutor,
    JoblibExecutor,
    TrialCall,
    TrialData,
    TrialsLost,
    make_executor,
)
from autometa.search._space import joint_space, suggest_config


def _data() -> TrialData:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[:200], np.asarray(y.iloc[:200])
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    return TrialData(pd.DataFrame(X), y, splits, "accuracy", None, np.unique(y))


def _calls() -> list[TrialCall]:
    known = CVOutcome(math.nan, 0.0, "failed", "made no estimator")
    return [
        TrialCall(0, None, LogisticRegression(max_iter=50)),
        TrialCall(1, known=known),
        TrialCall(2, None, LogisticRegression(C=0.1, max_iter=50), keep_predictions=True),
    ]


def test_make_executor_runs_one_job_in_process_and_more_in_workers() -> None:
    assert type(make_executor(1, _data())) is InProcessExecutor
    assert type(make_executor(2, _data())) is JoblibExecutor


def test_every_executor_returns_the_same_outcomes_for_the_same_calls() -> None:
    data = _data()
    results = []
    for executor in (InProcessExecutor(data), JoblibExecutor(data, 2)):
        with executor:
            results.append(dict(executor.results(iter(_calls()), math.inf)))
            assert executor.take_stopped() == []
    in_process, workers = results
    assert sorted(in_process) == sorted(workers) == [0, 1, 2]
    assert in_process[1].error == workers[1].error == "made no estimator"
    for number in (0, 2):
        assert in_process[number].status == workers[number].status == "ok"
        assert in_process[number].score == pytest.approx(workers[number].score)
    predictions = [r[2].predictions for r in results]
    assert all(p is not None and p.shape == (200, 2) for p in predictions)
    assert in_process[0].predictions is None  # not asked for


@pytest.mark.skipif(sys.platform == "win32", reason="loky exit codes differ")
def test_a_worker_that_dies_ends_the_stream_with_trials_lost_and_its_exit_code() -> None:
    data = _data()
    with JoblibExecutor(data, 2) as executor, pytest.raises(TrialsLost) as lost:
        list(executor.results(iter([TrialCall(0, None, ExitingClassifier(exit_code=3))]), 60.0))
    assert lost.value.outcome.status == "failed"
    assert "exit code 3" in (lost.value.outcome.error or "")


def _recommendations() -> list[Recommendation]:
    return [Recommendation(Config("logistic", {"C": c}), 0.5, Evidence("test")) for c in (0.1, 1.0)]


def test_an_in_memory_study_is_the_trivial_durable_study() -> None:
    task, algorithms = _task_and_algorithms()
    study = DurableStudy.open(None, None)
    assert not study.durable
    earlier = study.resume(task, algorithms, sampler=_sampler, random_state=0, user_attrs={"a": 1})
    assert earlier == []
    assert study.lease(5) is None
    assert study.study.user_attrs == {"a": 1}
    own = [Evaluation(task.task_id, Config("logistic", {"C": 1.0}), 0.9, 0.1)]
    assert study.read_back(task, own) == (own, [])
    # warm starts a search ended before reaching are not left WAITING in memory
    study.enqueue_once(_recommendations())
    assert study.close_unreached() == 2
    trials = study.study.trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert {t.user_attrs["status"] for t in trials} == {NOT_REACHED}


def test_a_durable_study_is_joined_reseeded_and_read_back(tmp_path: Path) -> None:
    task, algorithms = _task_and_algorithms()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    seeds: list[int | None] = []

    def sampler(seed: int | None) -> optuna.samplers.BaseSampler:
        seeds.append(seed)
        return _sampler(seed)

    first = DurableStudy.open(url, "shared")
    assert first.durable
    assert first.resume(task, algorithms, sampler=sampler, random_state=7, user_attrs={}) == []
    assert first.lease(4) is not None
    first.enqueue_once(_recommendations())
    first.enqueue_once(_recommendations())  # once only: the same warm starts are skipped
    assert len(first.study.get_trials(states=(TrialState.WAITING,))) == 2
    assert first.close_unreached() == 0  # shared: another process may still ask them
    assert len(first.study.get_trials(states=(TrialState.WAITING,))) == 2
    trial = first.study.ask()
    assert suggest_config(trial, algorithms, task) == _recommendations()[0].config
    first.study.tell(trial, 0.75)

    second = DurableStudy.open(url, "shared")
    earlier = second.resume(task, algorithms, sampler=sampler, random_state=7, user_attrs={})
    assert [e.score for e in earlier] == [0.75]
    assert second.study.user_attrs[WORKERS_ATTR] == 2
    assert seeds[0] == 7
    assert seeds[-1] != 7
    evaluations, done = second.read_back(task, [])
    assert [e.score for e in evaluations] == [0.75]
    assert [(t.number, e) for t, e in done] == [(trial.number, evaluations[0])]


def _sampler(seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def _task_and_algorithms() -> tuple[Task, dict[str, Algorithm]]:
    """A real task and a one-algorithm space whose points ``_recommendations`` are."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    task = Task.from_data(X.iloc[:60], y.iloc[:60], random_state=0)
    algorithm = Algorithm(
        name="logistic",
        kinds=("binary", "multiclass"),
        make_estimator=lambda params, task: LogisticRegression(max_iter=50, **params),
        search_space=lambda task: {"C": FloatDistribution(0.01, 10.0, log=True)},
    )
    algorithms = {"logistic": algorithm}
    assert "logistic__C" in joint_space(algorithms, task)
    return task, algorithms
