"""Durable fits: a study in a storage survives a killed process and is resumed, not redone."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import optuna
import pytest
from estimators import SleepyClassifier
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from sklearn.datasets import load_breast_cancer

import autometa
from autometa import hookimpl
from autometa.contract import (
    ALGORITHM_PARAM,
    Algorithm,
    Config,
    Evidence,
    MetaLearner,
    Recommendation,
    Strategy,
)
from autometa.knowledge import KnowledgeBase
from autometa.search._leases import LEASE_ATTR, RETRY_ATTR
from autometa.search._space import enqueue
from autometa.search._studies import counts_as_done

# -- a slow, deterministic search: the child process imports these too -------------------
SLEEPY = Algorithm(
    "sleepy",
    ("binary", "multiclass"),
    lambda params, task: SleepyClassifier(seconds=params["seconds"]),
    lambda task: {"seconds": FloatDistribution(0.15, 0.3)},
    {"seconds": 0.2},
)
WARM_STARTS = (Config("sleepy", {"seconds": 0.2}), Config("sleepy", {"seconds": 0.22}))


class TwoWarmStarts(MetaLearner):
    """Recommends the two :data:`WARM_STARTS`, whatever the task."""

    name = "two_warm_starts"

    def fit(self, knowledge: KnowledgeBase) -> TwoWarmStarts:
        return self

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
        return [Recommendation(c, 0.5, Evidence(self.name)) for c in WARM_STARTS[:k]]


PLUGIN = types.SimpleNamespace(
    autometa_plugin_name="durable_test",
    autometa_algorithms=hookimpl(lambda task: [SLEEPY]),
    autometa_meta_learners=hookimpl(lambda: [TwoWarmStarts]),
)


def data() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:200], y.iloc[:200]


def fit_params(storage: Any, study_name: str, n_trials: int, knowledge: str) -> dict[str, Any]:
    """The same fit in the child process and in the test (a resume needs the same space)."""
    return {
        "storage": storage,
        "study_name": study_name,
        "n_trials": n_trials,
        "random_state": 0,
        "plugins": [PLUGIN],
        "algorithms": ["sleepy"],
        "strategy": Strategy("two_warm_starts", 2, "random", "cv", 2),
        "knowledge": knowledge,
    }


CHILD = """
import sys
import autometa
from test_durable import data, fit_params
X, y = data()
autometa.fit(X, y, **fit_params(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"""


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if counts_as_done(t)]


def wait_until_mid_trial(url: str, name: str, n: int, child: subprocess.Popen[bytes]) -> None:
    """Poll the storage, as another process would, until ``n`` trials are complete and
    the child is evaluating the next one (it holds a leased running trial whose algorithm
    is chosen: a trial killed before that has no configuration to retry)."""
    deadline = time.monotonic() + 60
    storage = None
    while time.monotonic() < deadline:
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        try:
            storage = storage or optuna.storages.RDBStorage(url)
            trials = optuna.load_study(study_name=name, storage=storage).trials
        except Exception:  # the child has not created the file or the study yet
            trials = []
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if len(complete) >= n and any(
            LEASE_ATTR in t.user_attrs and ALGORITHM_PARAM in t.params for t in running
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"the child did not complete {n} trials within 60 s")


def test_a_killed_fit_resumes_without_redoing_trials(tmp_path: Path) -> None:
    X, y = data()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    knowledge = str(tmp_path / "kb.db")
    n_trials = 9
    tests = str(Path(__file__).parent)  # the child imports this module and estimators.py
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, "killed", str(n_trials), knowledge],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_mid_trial(url, "killed", 3, child)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()  # reaped: its process id is no longer alive
    before = optuna.load_study(study_name="killed", storage=url).trials
    done_before = {t.number: t.params for t in before if t.state == TrialState.COMPLETE}
    running_before = [t.number for t in before if t.state == TrialState.RUNNING]
    assert 3 <= len(done_before) < n_trials
    assert running_before, "the kill interrupted a trial"

    model = autometa.fit(X, y, **fit_params(url, "killed", n_trials, knowledge))

    trials = optuna.load_study(study_name="killed", storage=url).trials
    by_number = {t.number: t for t in trials}
    assert len(counted(model.study_)) == n_trials  # n_trials is the study's total
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.FAIL}
    for number, params in done_before.items():  # earlier trials kept, unchanged ...
        assert by_number[number].state == TrialState.COMPLETE
        assert by_number[number].params == params
    evaluated = [tuple(sorted(t.params.items())) for t in counted(model.study_)]
    assert len(set(evaluated)) == len(evaluated), "... and none was evaluated again"
    new = [t.number for t in counted(model.study_) if t.number not in done_before]
    assert min(new) > max(t.number for t in before)  # the resumed fit's trials are new ones
    for number in running_before:  # the trial the kill interrupted: failed, then retried
        assert by_number[number].state == TrialState.FAIL
        assert "status" not in by_number[number].user_attrs
        retries = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == number]
        assert len(retries) == 1
        # The retry repeats every parameter the interrupted trial had been given; a kill that
        # landed while it was still being sampled (algorithm chosen, the rest not yet) leaves
        # the rest to the sampler.
        assert retries[0].params.items() >= by_number[number].params.items()
        assert retries[0].state == TrialState.COMPLETE
    ranks = [
        t.user_attrs["warm_start_rank"]
        for t in counted(model.study_)
        if "warm_start_rank" in t.user_attrs
    ]
    assert sorted(ranks) == [0, 1], "warm starts were enqueued once"
    assert [e.config for e in model.evaluations_[:2]] == list(WARM_STARTS)
    assert len(model.evaluations_) == n_trials  # earlier processes' evaluations included
    assert model.best_score_ == max(t.value for t in trials if t.value is not None)
    assert model.predict(X).shape == (len(X),)
    with KnowledgeBase.open(knowledge, read_only=True) as kb:
        assert len(kb.evaluations(model.task_id_)) == n_trials
    attrs = model.study_.user_attrs
    assert attrs["autometa_task"] == model.task_id_
    assert attrs["autometa_recommendations"][0]["config"] == {
        "algorithm": "sleepy",
        "params": {"seconds": 0.2},
    }


def test_a_journal_study_counts_n_trials_for_the_whole_study(tmp_path: Path) -> None:
    X, y = data()
    path = str(tmp_path / "journal.log")
    storage = optuna.storages.JournalStorage(JournalFileBackend(path))
    knowledge = str(tmp_path / "kb.db")
    first = autometa.fit(X, y, **fit_params(storage, "journal", 3, knowledge))
    assert len(first.evaluations_) == 3
    first_params = [t.params for t in first.study_.trials]
    reopened = optuna.storages.JournalStorage(JournalFileBackend(path))  # as a new process
    second = autometa.fit(X, y, **fit_params(reopened, "journal", 5, knowledge))
    trials = second.study_.trials
    assert len(trials) == 5  # two more, not five more
    assert [t.params for t in trials[:3]] == first_params
    assert sum("warm_start_rank" in t.user_attrs for t in trials) == 2
    assert len(second.evaluations_) == 5
    assert all(LEASE_ATTR in t.user_attrs for t in trials)
    third = autometa.fit(X, y, **fit_params(reopened, "journal", 5, knowledge))
    assert len(third.study_.trials) == 5  # nothing left to run: only the refit
    assert third.best_config_ == second.best_config_


def test_a_pickled_model_does_not_need_its_storage(tmp_path: Path) -> None:
    X, y = data()
    path = tmp_path / "study.db"
    model = autometa.fit(
        X,
        y,
        n_trials=2,
        storage=f"sqlite:///{path}",
        study_name="pickled",
        algorithms=["naive_bayes"],
        knowledge=str(tmp_path / "kb.db"),
    )
    pickled = pickle.dumps(model)
    params = [t.params for t in model.study_.trials]
    path.unlink()
    loaded = pickle.loads(pickled)  # e.g. on another machine
    assert not path.exists(), "loading did not reconnect to (and recreate) the database"
    assert [t.params for t in loaded.study_.trials] == params
    assert loaded.study_.user_attrs["autometa_task"] == model.task_id_
    assert loaded.predict(X).shape == (len(X),)


def test_only_trials_of_dead_processes_are_reclaimed(tmp_path: Path) -> None:
    X, y = data()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    first = autometa.fit(X, y, **fit_params(url, "leases", 2, str(tmp_path / "kb.db")))
    study = first.study_
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = study.trials[0].user_attrs[LEASE_ATTR]["host"]
    abandoned, alive = study.ask(), study.ask()
    for trial in (abandoned, alive):
        trial.suggest_categorical("algorithm", ["sleepy"])
        trial.suggest_float("sleepy__seconds", 0.15, 0.3)
    abandoned.set_user_attr(
        LEASE_ATTR, {"host": host, "pid": int(dead.stdout), "beat": time.time()}
    )
    alive.set_user_attr(LEASE_ATTR, {"host": "elsewhere/", "pid": 1, "beat": time.time()})

    # n_trials=4: the 2 done, the live process's running trial (it counts towards the
    # study's total) and the retry of the abandoned one.
    second = autometa.fit(X, y, **fit_params(url, "leases", 4, str(tmp_path / "kb.db")))

    trials = {t.number: t for t in second.study_.trials}
    assert trials[abandoned.number].state == TrialState.FAIL
    retry = [t for t in trials.values() if t.user_attrs.get(RETRY_ATTR) == abandoned.number]
    assert len(retry) == 1
    assert retry[0].params == trials[abandoned.number].params
    assert retry[0].state == TrialState.COMPLETE
    assert trials[alive.number].state == TrialState.RUNNING  # another live process's
    assert len(counted(second.study_)) == 3


def test_warm_starts_are_not_enqueued_twice_whatever_their_state() -> None:
    study = optuna.create_study(direction="maximize")
    recs = [Recommendation(c, 0.5, Evidence("test")) for c in WARM_STARTS]
    enqueue(study, recs)  # both waiting
    running = study.ask()  # pops the first: running
    running.suggest_categorical("algorithm", ["sleepy"])
    running.suggest_float("sleepy__seconds", 0.15, 0.3)
    enqueue(study, recs)
    assert len(study.trials) == 2
    study.tell(running, 0.5)  # complete
    enqueue(study, [*recs, Recommendation(Config("sleepy", {"seconds": 0.3}), 0.5, Evidence("t"))])
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.WAITING,
        TrialState.WAITING,
    ]


class Interrupted(SleepyClassifier):
    """Ctrl-C arriving while a trial is being evaluated."""

    def fit(self, X: Any, y: Any) -> Interrupted:
        raise KeyboardInterrupt


def test_ctrl_c_leaves_no_running_trial_and_retries_once(tmp_path: Path) -> None:
    X, y = data()
    interrupted = Algorithm(
        "sleepy",  # same space as SLEEPY: the interrupted trial is retried by a resume
        ("binary",),
        lambda params, task: Interrupted(seconds=params["seconds"]),
        SLEEPY.search_space,
    )
    params = fit_params(f"sqlite:///{tmp_path / 'study.db'}", "ctrl_c", 3, str(tmp_path / "kb"))
    params["strategy"] = Strategy("two_warm_starts", 1, "random", "cv", 2)  # one warm start
    params["plugins"] = [
        types.SimpleNamespace(
            autometa_plugin_name="interrupting",
            autometa_algorithms=hookimpl(lambda task: [interrupted]),
            autometa_meta_learners=hookimpl(lambda: [TwoWarmStarts]),
        )
    ]
    with pytest.raises(KeyboardInterrupt):
        autometa.fit(X, y, **params)
    study = optuna.load_study(study_name="ctrl_c", storage=params["storage"])
    first, *rest = study.trials
    assert first.state == TrialState.FAIL
    assert "status" not in first.user_attrs  # not evaluated: does not count as done
    retry = [t for t in rest if t.user_attrs.get(RETRY_ATTR) == 0]
    assert len(retry) == 1
    assert retry[0].state == TrialState.WAITING
    assert retry[0].user_attrs["warm_start_rank"] == 0
    assert TrialState.RUNNING not in {t.state for t in study.trials}
    with pytest.raises(KeyboardInterrupt):  # the retry is interrupted too: given up
        autometa.fit(X, y, **params)
    again = optuna.load_study(study_name="ctrl_c", storage=params["storage"]).trials
    assert retry[0].number in {t.number for t in again if t.state == TrialState.FAIL}
    assert not [t for t in again if t.user_attrs.get(RETRY_ATTR) == retry[0].number]


# -- studies autometa must not resume ----------------------------------------------------
def _minimising(study_name: str, storage: str) -> None:
    optuna.create_study(study_name=study_name, storage=storage, direction="minimize")


def _foreign_params(study_name: str, storage: str) -> None:
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)


def _other_task(study_name: str, storage: str) -> None:
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    study.set_user_attr("autometa_task", "task-0123456789ab")


def _other_algorithms(study_name: str, storage: str) -> None:
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    params = {"algorithm": "sleepy", "sleepy__seconds": 0.2}
    distributions = {
        "algorithm": CategoricalDistribution(["linear", "sleepy"]),
        "sleepy__seconds": FloatDistribution(0.15, 0.3),
    }
    study.add_trial(optuna.create_trial(params=params, distributions=distributions, value=0.5))


@pytest.mark.parametrize(
    ("make_study", "match"),
    [
        (_minimising, "has direction minimize, but autometa maximises"),
        (_foreign_params, "has parameter 'x', which is not one of autometa's"),
        (_other_task, "was made for other data"),
        (_other_algorithms, r"chose 'algorithm' among \['linear', 'sleepy'\], this fit among"),
    ],
)
def test_a_study_that_cannot_be_resumed_is_refused_before_writing(
    tmp_path: Path, make_study: Any, match: str
) -> None:
    X, y = data()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    make_study("theirs", url)
    before = optuna.load_study(study_name="theirs", storage=url)
    snapshot = (before.user_attrs, [(t.number, t.state, t.params) for t in before.trials])
    with pytest.raises(ValueError, match=match) as error:
        autometa.fit(X, y, **fit_params(url, "theirs", 2, str(tmp_path / "kb.db")))
    assert "Study 'theirs'" in str(error.value)
    assert "another study_name" in str(error.value)
    after = optuna.load_study(study_name="theirs", storage=url)
    assert (after.user_attrs, [(t.number, t.state, t.params) for t in after.trials]) == snapshot


@pytest.mark.parametrize(
    ("storage", "shown"),
    [
        ("postgresql://me:secret@127.0.0.1:1/x", "postgresql://me:***@127.0.0.1:1/x"),
        ("sqlite:///{tmp}/missing/study.db", "does not exist"),
        ("not a url", "is not a database URL"),
    ],
)
def test_an_unreachable_storage_fails_fast_and_names_it(
    tmp_path: Path, storage: str, shown: str
) -> None:
    X, y = data()
    storage = storage.format(tmp=tmp_path)
    started = time.monotonic()
    with pytest.raises(ValueError, match="storage") as error:
        autometa.fit(X, y, n_trials=1, storage=storage, study_name="s")
    assert time.monotonic() - started < 5
    assert shown in str(error.value)
    assert "secret" not in str(error.value)
    assert not (tmp_path / "missing").exists()
