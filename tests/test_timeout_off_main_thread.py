"""A fit's timeout holds wherever fit is called from (issue 18, point 3).

Off the main thread no SIGALRM handler can run, so the trial time limit there is raised in
the fitting thread by a timer thread; and it is a BaseException, so an estimator catching
``Exception`` around each step of its loop cannot swallow it. The slow estimators are real
Python loops sleeping in short naps, for a minute unless something stops them.
"""

from __future__ import annotations

import signal
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import optuna
import pytest
from estimators import PredictsWithItsModel
from optuna.distributions import CategoricalDistribution
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.naive_bayes import GaussianNB

import autometa
from autometa import BudgetTooSmallError, hookimpl
from autometa.contract import Algorithm, Config, Evidence, MetaLearner, Recommendation, Strategy
from autometa.knowledge import KnowledgeBase
from autometa.search._limits import TrialTimeLimitExceeded, time_limit

TIMEOUT = 4.0
SLOW_S = 60.0
"""How long a slow configuration's fit would take: far past TIMEOUT on any machine."""

BOUND = TIMEOUT + 10.0
"""Generous: the refit, bookkeeping and a busy machine, nowhere near SLOW_S."""


class NappingClassifier(ClassifierMixin, BaseEstimator):
    """Sleeps ``seconds`` in fit in 10 ms naps, then predicts the majority class.

    With ``swallow``, each nap is wrapped in ``try/except Exception: pass``, as estimator
    code that retries a step whatever goes wrong.
    """

    def __init__(self, seconds: float = SLOW_S, swallow: bool = False) -> None:
        self.seconds = seconds
        self.swallow = swallow

    def fit(self, X: Any, y: Any) -> NappingClassifier:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            if self.swallow:
                try:  # noqa: SIM105 - written out: this is the code the limit must get through
                    time.sleep(0.01)
                except Exception:
                    pass
            else:
                time.sleep(0.01)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[np.argmax(self.prior_)])

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile(self.prior_, (len(X), 1))


class SlowToRefit(PredictsWithItsModel, ClassifierMixin, BaseEstimator):
    """A naive Bayes model (``good``) or the majority class, fast on a fold; with ``good``,
    its fit on all of iris's rows (the refit) naps for SLOW_S first."""

    def __init__(self, good: bool = True) -> None:
        self.good = good

    def fit(self, X: Any, y: Any) -> SlowToRefit:
        naps = SLOW_S if self.good and len(X) >= IRIS_ROWS else (0.05 if self.good else 0.01)
        NappingClassifier(naps).fit(X, y)
        if self.good:
            self.model_ = GaussianNB().fit(X, y)
        else:
            self.model_ = NappingClassifier(0.0).fit(X, y)
        self.classes_ = self.model_.classes_
        return self


IRIS_ROWS = 150
FAST, SLOW = Config("napping", {"seconds": 0.02}), Config("napping", {"seconds": SLOW_S})
GOOD, POOR = Config("refitting", {"good": True}), Config("refitting", {"good": False})

REFIT_NAP_S = TIMEOUT + 2.0
"""How long a :class:`SlowOnAllRows` fit on all rows takes: past any time a fit with
``timeout=TIMEOUT`` has left for its refits."""


class SlowOnAllRows(PredictsWithItsModel, ClassifierMixin, BaseEstimator):
    """Naive Bayes, fast on a fold, napping :data:`REFIT_NAP_S` first on all of iris's rows."""

    def __init__(self, var_smoothing: float = 1e-9) -> None:
        self.var_smoothing = var_smoothing

    def fit(self, X: Any, y: Any) -> SlowOnAllRows:
        NappingClassifier(REFIT_NAP_S if len(X) >= IRIS_ROWS else 0.01).fit(X, y)
        self.model_ = GaussianNB(var_smoothing=self.var_smoothing).fit(X, y)
        self.classes_ = self.model_.classes_
        return self


SHARP, SMOOTH = (
    Config("slow_refits", {"var_smoothing": 1e-9}),
    Config("slow_refits", {"var_smoothing": 1e-2}),
)

ALGORITHMS = [
    Algorithm(
        "napping",
        ("binary", "multiclass"),
        lambda params, task: NappingClassifier(params["seconds"]),
        lambda task: {"seconds": CategoricalDistribution([0.02, SLOW_S])},
        {"seconds": 0.02},
    ),
    Algorithm(
        "refitting",
        ("binary", "multiclass"),
        lambda params, task: SlowToRefit(params["good"]),
        lambda task: {"good": CategoricalDistribution([True, False])},
        {"good": True},
    ),
    Algorithm(
        "slow_refits",
        ("binary", "multiclass"),
        lambda params, task: SlowOnAllRows(params["var_smoothing"]),
        lambda task: {"var_smoothing": CategoricalDistribution([1e-9, 1e-2])},
        {"var_smoothing": 1e-9},
    ),
    Algorithm(
        "swallowing",
        ("binary", "multiclass"),
        lambda params, task: NappingClassifier(SLOW_S, swallow=True),
        lambda task: {},
        {},
    ),
]


class InOrder(MetaLearner):
    """Recommends FAST then SLOW, or POOR then GOOD: the fit's algorithm's two, in order.

    The fast one first, so that the slow one cannot leave it no time."""

    name = "in_order"

    def fit(self, knowledge: KnowledgeBase) -> InOrder:
        return self

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
        names = {a.name for a in algorithms}
        configs = [c for c in (FAST, SLOW, POOR, GOOD, SHARP, SMOOTH) if c.algorithm in names]
        return [Recommendation(c, 0.5, Evidence(self.name)) for c in configs[:k]]


PLUGIN = types.SimpleNamespace(
    autometa_plugin_name="napping",
    autometa_algorithms=hookimpl(lambda task: ALGORITHMS),
    autometa_meta_learners=hookimpl(lambda: [InOrder]),
)


class Trials:
    """An Optuna callback keeping each trial's recorded status and error."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.seen.append((trial.user_attrs["status"], trial.user_attrs.get("error", "")))


def fit(algorithm: str, timeout: float = TIMEOUT, **params: Any) -> Any:
    X, y = load_iris(return_X_y=True)
    return autometa.fit(
        X,
        y,
        timeout=timeout,
        n_jobs=1,
        random_state=0,
        plugins=[PLUGIN],
        algorithms=[algorithm],
        knowledge=KnowledgeBase.in_memory(),
        strategy=(
            Strategy("in_order", 2, "random", "cv", 2)
            if algorithm in ("napping", "refitting", "slow_refits")
            else Strategy(None, 0, "random", "cv", 2)
        ),
        **params,
    )


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    return call(), time.monotonic() - started


def test_a_fit_in_a_thread_stops_its_slow_trial_and_returns_a_model() -> None:
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["model"], done["elapsed"] = timed(lambda: fit("napping", n_trials=2))
        except BaseException as exc:  # shown by the assertion below
            done["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(SLOW_S * 2)
    assert not thread.is_alive()
    assert "error" not in done, done.get("error")
    model, elapsed = done["model"], done["elapsed"]
    assert elapsed < BOUND, f"{elapsed:.1f}s for timeout={TIMEOUT:.0f}s"
    statuses = {e.config: (e.status, e.error or "") for e in model.evaluations_}
    assert statuses[FAST] == ("ok", "")
    assert statuses[SLOW][0] == "capped"
    assert "time limit" in statuses[SLOW][1]
    assert model.best_config_ == FAST
    assert model.predict(load_iris(return_X_y=True)[0][:3]).shape == (3,)


def test_a_fit_in_a_thread_pool_stops_a_loop_that_catches_exception() -> None:
    """Only a slow configuration: as on the main thread, the fit says the time was too short."""
    trials = Trials()
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        future = pool.submit(fit, "swallowing", callbacks=[trials])
        with pytest.raises(BudgetTooSmallError, match="stopped by the time limit"):
            future.result(timeout=SLOW_S * 2)
        elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"{elapsed:.1f}s for timeout={TIMEOUT:.0f}s"
    assert trials.seen
    assert all(status == "capped" and "time limit" in error for status, error in trials.seen), (
        trials.seen
    )


def test_a_loop_that_catches_exception_is_stopped_on_the_main_thread() -> None:
    """The limit is not an Exception; the caller's timer and handler come back after it fired
    (test_reliability checks the same after a fit whose limits never fired)."""
    rang: list[int] = []

    def ring(signum: int, frame: Any) -> None:
        rang.append(signum)

    handler = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    trials = Trials()
    try:
        started = time.monotonic()
        with pytest.raises(BudgetTooSmallError, match="stopped by the time limit"):
            fit("swallowing", callbacks=[trials])
        elapsed = time.monotonic() - started
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert signal.getsignal(signal.SIGALRM) is ring
        assert rang == []
        # what the fit took came off it (within the timers' rounding), no more
        assert 100.0 - elapsed - 1.0 < left < 100.0 - elapsed + 0.5, "the caller's timer is lost"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler)
    assert elapsed < BOUND, f"{elapsed:.1f}s for timeout={TIMEOUT:.0f}s"
    assert trials.seen
    assert all(status == "capped" and "time limit" in error for status, error in trials.seen), (
        trials.seen
    )


@pytest.mark.parametrize("ensemble", [False, True])
def test_a_refit_past_its_limit_falls_back_to_the_next_configuration(
    ensemble: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The best configuration's refit is stopped (in a thread) and the other one refitted:
    the limit, not an Exception, is still caught where a refit or a member is given up."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        # A longer timeout: the good refit must seem affordable, to be tried, on a busy machine.
        future = pool.submit(fit, "refitting", 2 * TIMEOUT, n_trials=2, ensemble=ensemble)
        model = future.result(timeout=SLOW_S * 2)
        elapsed = time.monotonic() - started
    assert elapsed < BOUND + TIMEOUT, f"{elapsed:.1f}s for timeout={2 * TIMEOUT:.0f}s"
    scores = {e.config: e.score for e in model.evaluations_ if e.ok}
    assert scores[GOOD] > scores[POOR]  # the good one was the first to refit ...
    assert "TrialTimeLimitExceeded: time limit of" in caplog.text  # ... ran out of time ...
    assert model.best_config_ == POOR  # ... and was given up for the poor one


def test_the_limit_interrupts_a_thread_and_never_lands_after_its_block() -> None:
    """Many blocks ending around their limit, every tenth far past it; afterwards the
    thread runs past every timer. The overrunning blocks run until interrupted (5 s at
    most), so they are caught however late a busy machine schedules the timer thread."""
    caught: dict[int, str] = {}
    late: list[str] = []
    overrunning = set(range(9, 200, 10))

    def blocks() -> None:
        try:
            for i in range(200):
                try:
                    with time_limit(0.002):
                        run_s = 5.0 if i in overrunning else 0.001 + 0.002 * (i % 2)
                        end = time.perf_counter() + run_s
                        while time.perf_counter() < end:
                            pass
                except TrialTimeLimitExceeded as exc:
                    caught[i] = str(exc)
            time.sleep(0.1)
            for _ in range(100_000):  # bytecode boundaries where a late exception would land
                pass
        except TrialTimeLimitExceeded as exc:
            late.append(str(exc))

    thread = threading.Thread(target=blocks)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert overrunning <= caught.keys(), "a block far past its limit was not interrupted"
    assert all(message.startswith("time limit of") for message in caught.values())
    assert late == [], "a limit landed after its block had ended"


def test_members_whose_refits_all_run_out_of_time_leave_a_last_resort_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every ensemble member's refit outlasts the time left and is stopped: the fallback
    then refits the fastest configuration without a limit instead of failing the fit (a
    peerbench fit on 50,000 rows, on a busy machine, ended in AllTrialsFailedError so:
    members stopped by the limit were skipped as if their refit had raised)."""
    model, elapsed = timed(lambda: fit("slow_refits", n_trials=2, ensemble=True))
    assert "ensemble member dropped" in caplog.text  # the members ran out of time ...
    assert model.best_config_ in (SHARP, SMOOTH)  # ... and the fit still has a model
    assert elapsed >= REFIT_NAP_S  # refitted without a limit
    X, y = load_iris(return_X_y=True)
    assert (model.predict(X) == y).mean() > 0.9
