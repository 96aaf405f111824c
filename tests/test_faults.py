"""Faults inside trials: a configuration that raises, kills its worker, hangs in native
code or allocates far too much memory costs its own trial, never the fit.

The misbehaving estimators are real (tests/estimators.py): ``os._exit``, a pthread mutex
locked twice through ctypes, 32 MB chunks written until a memory limit stops them.
"""

from __future__ import annotations

import resource
import sys
import time
import types
from pathlib import Path
from typing import Any

import optuna
import pytest
from estimators import (
    DeadlockedClassifier,
    ExitingClassifier,
    FailingClassifier,
    MemoryHogClassifier,
)
from optuna.distributions import FloatDistribution
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import autometa
from autometa import hookimpl
from autometa.contract import (
    Algorithm,
    Config,
    Evaluation,
    Evidence,
    MetaLearner,
    Recommendation,
    Strategy,
    Task,
)
from autometa.knowledge import KnowledgeBase
from autometa.search._budget import Budget
from autometa.search._evaluation import TIME_USED_BEFORE_START, run_trial
from autometa.search._limits import memory_cap, resolve_memory_limit
from autometa.search._loop import run_search
from autometa.search._watchdog import HARD_TIMEOUT_GRACE_S

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="memory limits and the deadlock are Linux's"
)

HOG_MB = 2048
"""What the memory hog asks for: far above LIMIT_MB, and harmless if a defect let it."""

LIMIT_MB = 256

OVERRUN_S = HARD_TIMEOUT_GRACE_S + 3.0
"""How far past its timeout a fit may end: the grace before a hung worker is stopped, plus
the one-second minimum refit and bookkeeping on a busy two-core machine."""


def logistic(params: Any, task: Task) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=500))


def _fixed(name: str, factory: Any) -> Algorithm:
    """An algorithm with a single point: no hyperparameters."""
    return Algorithm(
        name, ("binary", "multiclass"), lambda params, task: factory(), lambda task: {}, {}
    )


ALGORITHMS = {
    "logistic": Algorithm(
        "logistic",
        ("binary", "multiclass"),
        logistic,
        lambda task: {"C": FloatDistribution(1e-2, 1e2, log=True)},
        {"C": 1.0},
    ),
    "exiting": _fixed("exiting", lambda: ExitingClassifier(exit_code=3)),
    "sys_exit": _fixed("sys_exit", lambda: ExitingClassifier(exit_code=4, hard=False)),
    "deadlocked": _fixed("deadlocked", DeadlockedClassifier),
    "hog": _fixed("hog", lambda: MemoryHogClassifier(megabytes=HOG_MB)),
    "failing": _fixed("failing", FailingClassifier),
}


def good(c: float) -> Config:
    return Config("logistic", {"C": c})


def bad(name: str) -> Config:
    return Config(name, {})


@pytest.fixture(scope="module")
def task() -> Task:
    X, y = load_breast_cancer(return_X_y=True)
    return Task.from_data(X[:300], y[:300], cv=3, random_state=0)


def search(
    task: Task,
    configs: list[Config],
    *,
    n_jobs: int,
    seconds: float | None = None,
    memory_limit_mb: float | None = None,
) -> tuple[list[Evaluation], optuna.Study]:
    """Run the search on exactly ``configs``, asked in this order."""
    study = optuna.create_study(direction="maximize")
    for config in configs:
        study.enqueue_trial(config.to_trial_params())
    algorithms = {name: ALGORITHMS[name] for name in {"logistic", *(c.algorithm for c in configs)}}
    deadline = None if seconds is None else time.monotonic() + seconds
    outcome = run_search(
        task,
        algorithms,
        study,
        Budget(len(configs), deadline),
        n_jobs=n_jobs,
        memory_limit_mb=memory_limit_mb,
    )
    assert [e.config for e in outcome.evaluations] == configs
    return outcome.evaluations, study


# -- in-process (n_jobs=1): everything but a dying or hung process is contained ----------
def test_sequential_memory_hog_is_capped_and_the_limit_is_lifted_again(task: Task) -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    evaluations, study = search(
        task, [bad("hog"), good(1.0)], n_jobs=1, seconds=60, memory_limit_mb=LIMIT_MB
    )
    assert resource.getrlimit(resource.RLIMIT_AS) == before, "the caller was left limited"
    hog, fine = evaluations
    assert hog.status == "capped"
    assert hog.error is not None
    assert hog.error.startswith(f"exceeded the memory limit of {LIMIT_MB} MB (")
    assert "MemoryError" in hog.error
    assert fine.ok
    assert study.trials[0].user_attrs["error"] == hog.error


def test_a_trial_whose_deadline_passed_before_its_worker_started_is_capped_unrun(
    task: Task,
) -> None:
    estimator = make_pipeline(StandardScaler(), LogisticRegression())
    splits = list(task.cv.split(task.X, task.y))
    index, outcome = run_trial(7, time.time() - 1.0, estimator, task.X, task.y, splits, "roc_auc")
    assert index == 7
    assert (outcome.status, outcome.error, outcome.fit_time) == (
        "capped",
        TIME_USED_BEFORE_START,
        0.0,
    )
    assert not hasattr(estimator[-1], "coef_")  # nothing was fitted
    index, outcome = run_trial(8, time.time() + 60, estimator, task.X, task.y, splits, "roc_auc")
    assert outcome.status == "ok"


def test_memory_cap_stops_an_allocation_and_never_loosens_a_tighter_limit() -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(MemoryError), memory_cap(LIMIT_MB):
        MemoryHogClassifier(megabytes=HOG_MB).fit([[0]], [0])
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert MemoryHogClassifier(megabytes=64).fit([[0]], [0]).held_mb_ == 64  # lifted
    with memory_cap(LIMIT_MB):
        tight = resource.getrlimit(resource.RLIMIT_AS)
        with memory_cap(100 * LIMIT_MB):  # a nested, looser cap keeps the tighter one
            assert resource.getrlimit(resource.RLIMIT_AS) == tight
        assert resource.getrlimit(resource.RLIMIT_AS) == tight
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_sys_exit_in_an_estimator_fails_its_trial_not_the_caller(task: Task) -> None:
    evaluations, _ = search(task, [bad("sys_exit"), bad("failing"), good(1.0)], n_jobs=1)
    exiting, failing, fine = evaluations
    assert (exiting.status, exiting.error) == (
        "failed",
        "SystemExit: the estimator called sys.exit(4)",
    )
    assert failing.status == "failed"
    assert failing.error is not None
    assert failing.error.startswith("ArithmeticError: this configuration always fails")
    assert fine.ok


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-5, "at least 16"),
        (float("nan"), "at least 16"),
        ("lots", "'auto' or None"),
        (True, "at least 16"),
        ([512], "at least 16"),
    ],
)
def test_bad_memory_limit_is_refused_before_anything_is_stored(
    tmp_path: Path, value: Any, message: str
) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    storage = tmp_path / "study.db"
    with pytest.raises(ValueError, match=message) as info:
        autometa.fit(
            X, y, n_trials=2, memory_limit=value, storage=f"sqlite:///{storage}", study_name="s"
        )
    assert "memory_limit" in str(info.value)
    assert not storage.exists(), "the storage was touched before the bad value was refused"


def test_auto_memory_limit_shares_the_machine_between_workers() -> None:
    two, four = resolve_memory_limit("auto", 2), resolve_memory_limit("auto", 4)
    assert two is not None
    assert four is not None
    assert 0.99 * two < 2 * four < 1.01 * two
    # One job runs trials in the caller's process: "auto" leaves it unlimited there.
    assert resolve_memory_limit("auto", 1) is None
    assert resolve_memory_limit(None, 4) is None
    assert resolve_memory_limit(300, 4) == 300.0


# -- the whole fit, trials in worker processes (n_jobs=2) ---------------------------------
class InOrder(MetaLearner):
    """Recommends :data:`ORDER`, whatever the task: the faults are asked in a known order."""

    name = "in_order"

    def fit(self, knowledge: KnowledgeBase) -> InOrder:
        return self

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
        return [Recommendation(c, 0.5, Evidence(self.name)) for c in ORDER[:k]]


ORDER: list[Config] = []
"""Set by each end-to-end test before it fits (the learner is a class, not an instance)."""

PLUGIN = types.SimpleNamespace(
    autometa_plugin_name="faults_test",
    autometa_algorithms=hookimpl(lambda task: list(ALGORITHMS.values())),
    autometa_meta_learners=hookimpl(lambda: [InOrder]),
)


def fit_in_order(
    configs: list[Config], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **params: Any
) -> tuple[Any, float]:
    monkeypatch.setattr(sys.modules[__name__], "ORDER", configs)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    started = time.monotonic()
    model = autometa.fit(
        X.iloc[:300],
        y.iloc[:300],
        n_jobs=2,
        random_state=0,
        plugins=[PLUGIN],
        algorithms=sorted({c.algorithm for c in configs}),
        strategy=Strategy("in_order", len(configs), "random", "cv", 3),
        knowledge=str(tmp_path / "kb.db"),
        **params,
    )
    return model, time.monotonic() - started


@pytest.mark.slow
def test_fit_survives_a_dying_worker_a_raising_trial_and_a_memory_hog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two workers: the exiting trial takes the good one beside it down (both are retried
    # alone), then the hog and the raising one, then two good ones
    order = [bad("exiting"), good(1.0), bad("hog"), bad("failing"), good(0.1), good(3.0)]
    model, _ = fit_in_order(
        order, tmp_path, monkeypatch, n_trials=len(order), memory_limit=LIMIT_MB
    )
    outcome = {e.config: (e.status, e.error or "") for e in model.evaluations_}
    assert outcome[bad("exiting")] == ("failed", "worker process died (exit code 3)")
    assert outcome[bad("hog")][0] == "capped"
    assert outcome[bad("hog")][1].startswith(f"exceeded the memory limit of {LIMIT_MB} MB")
    assert outcome[bad("failing")][0] == "failed"
    assert outcome[bad("failing")][1].startswith("ArithmeticError")
    assert all(outcome[good(c)] == ("ok", "") for c in (1.0, 0.1, 3.0))
    assert model.best_config_.algorithm == "logistic"
    assert model.score(*load_breast_cancer(return_X_y=True)) > 0.9
    with KnowledgeBase.open(tmp_path / "kb.db", read_only=True) as kb:
        stored = {e.config: e.status for e in kb.evaluations(model.task_id_)}
    assert stored == {config: status for config, (status, _) in outcome.items()}


@pytest.mark.slow
def test_fit_with_a_hung_trial_ends_within_its_timeout_plus_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeout = 15.0
    model, elapsed = fit_in_order(
        [good(1.0), bad("deadlocked")], tmp_path, monkeypatch, timeout=timeout
    )
    assert elapsed < timeout + OVERRUN_S, f"{elapsed:.1f}s for timeout={timeout:.0f}s"
    # The other worker goes on meanwhile, and may draw the deadlock again.
    hung = [e for e in model.evaluations_ if e.config == bad("deadlocked")]
    assert hung
    assert all(e.status == "capped" for e in hung), hung
    # The watchdog stops it (joblib's own timeout, the cluster's guard, comes later).
    assert "was stopped" in (hung[0].error or ""), hung
    # A redraw hung in the other worker dies with the pool the stop broke; it is run again
    # alone, and stopped again, unless too little time is left to (a trial may run only
    # a part of the time left, so redraws happen early and often), or its time ran out while
    # the new pool's worker started (on a busy machine).
    stopped_or_late = ("was stopped", "no time left to retry", TIME_USED_BEFORE_START)
    assert all(any(m in (e.error or "") for m in stopped_or_late) for e in hung[1:]), hung
    assert model.best_config_.algorithm == "logistic"
    assert model.predict(load_breast_cancer(return_X_y=True)[0][:5]).shape == (5,)
