"""A fit on a dask.distributed cluster: the same search under joblib's dask backend.

The cluster is a real ``distributed.LocalCluster`` (worker processes, one thread each);
trials go to it through ``joblib.parallel_config(backend="dask")``, as on a real cluster
with ``Client("tcp://scheduler:8786")``.
"""

from __future__ import annotations

import os
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from estimators import SleepyClassifier
from optuna.distributions import CategoricalDistribution, FloatDistribution
from sklearn.datasets import load_breast_cancer

import autometa
from autometa import hookimpl
from autometa.contract import Algorithm, Config, Evidence, MetaLearner, Recommendation, Strategy
from autometa.knowledge import KnowledgeBase
from autometa.search._watchdog import HARD_TIMEOUT_GRACE_S

distributed = pytest.importorskip("distributed")  # the `dask` extra; part of `test`


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A client of a two-worker LocalCluster: separate processes, one thread each."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def worker_pids(client: Any) -> set[int]:
    client.wait_for_workers(2, timeout=60)  # a worker stopped by a test is restarted
    return set(client.run(os.getpid).values())


class PidClassifier(SleepyClassifier):
    """Sleeps in fit like SleepyClassifier, and leaves a file named after its process."""

    def __init__(self, seconds: float = 0.2, folder: str = "") -> None:
        super().__init__(seconds=seconds)
        self.folder = folder

    def fit(self, X: Any, y: Any) -> PidClassifier:
        (Path(self.folder) / f"{os.getpid()}-{time.time_ns()}").touch()
        return super().fit(X, y)  # type: ignore[return-value]


def pid_plugin(folder: Path) -> types.SimpleNamespace:
    recording = Algorithm(
        "recording",
        ("binary", "multiclass"),
        lambda params, task: PidClassifier(params["seconds"], str(folder)),
        lambda task: {"seconds": FloatDistribution(0.2, 0.4)},
        {"seconds": 0.3},
    )
    return types.SimpleNamespace(
        autometa_plugin_name="dask_pids", autometa_algorithms=hookimpl(lambda task: [recording])
    )


COLD = Strategy(None, 0, "random", "cv", 2)


def test_trials_run_on_the_clusters_workers(client: Any, tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as tasks:
        model = autometa.fit(
            X,
            y,
            n_trials=4,
            n_jobs=2,
            random_state=0,
            plugins=[pid_plugin(tmp_path)],
            algorithms=["recording"],
            strategy=COLD,
            knowledge=KnowledgeBase.in_memory(),
        )
    assert [e.status for e in model.evaluations_] == ["ok"] * 4
    fits = [int(path.name.split("-")[0]) for path in tmp_path.iterdir()]
    on_workers = [pid for pid in fits if pid != os.getpid()]
    assert len(on_workers) == 4 * 2  # every fold of every trial ran on a worker ...
    assert set(on_workers) == worker_pids(client)  # ... and both workers had some
    assert fits.count(os.getpid()) == 1  # only the final refit ran here
    ran = [t for t in tasks.data if "run_trial" in str(t["key"])]  # the scheduler's log
    assert len(ran) >= 2
    assert {t["worker"] for t in ran} == set(client.scheduler_info()["workers"])


# -- a slow trial is capped ----------------------------------------------------------------
SLOW, FAST = Config("sleepy", {"seconds": 60.0}), Config("sleepy", {"seconds": 0.05})


class SlowThenFast(MetaLearner):
    """Recommends a configuration that sleeps a minute per fold, then a fast one."""

    name = "slow_then_fast"

    def fit(self, knowledge: KnowledgeBase) -> SlowThenFast:
        return self

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
        return [Recommendation(c, 0.5, Evidence(self.name)) for c in (SLOW, FAST)[:k]]


SLEEPY_PLUGIN = types.SimpleNamespace(
    autometa_plugin_name="dask_sleepy",
    autometa_algorithms=hookimpl(
        lambda task: [
            Algorithm(
                "sleepy",
                ("binary", "multiclass"),
                lambda params, task: SleepyClassifier(seconds=params["seconds"]),
                lambda task: {"seconds": CategoricalDistribution([0.05, 60.0])},
                {"seconds": 0.05},
            )
        ]
    ),
    autometa_meta_learners=hookimpl(lambda: [SlowThenFast]),
)


def test_the_time_limit_caps_a_slow_trial_on_the_cluster(client: Any) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    worker_pids(client)
    timeout = 10.0
    started = time.monotonic()
    with joblib.parallel_config(backend="dask"):
        model = autometa.fit(
            X,
            y,
            timeout=timeout,
            n_trials=2,
            n_jobs=2,
            random_state=0,
            plugins=[SLEEPY_PLUGIN],
            algorithms=["sleepy"],
            strategy=Strategy("slow_then_fast", 2, "random", "cv", 2),
            knowledge=KnowledgeBase.in_memory(),
        )
    elapsed = time.monotonic() - started
    statuses = {e.config.params["seconds"]: e.status for e in model.evaluations_}
    assert statuses == {60.0: "capped", 0.05: "ok"}
    assert model.best_config_ == FAST
    assert elapsed < timeout + HARD_TIMEOUT_GRACE_S + 5  # nowhere near the minute asked for


# -- the same results as loky --------------------------------------------------------------
def evaluated(backend: str, client: Any) -> list[tuple[str, float, str]]:
    X, y = load_breast_cancer(return_X_y=True)
    worker_pids(client)
    with joblib.parallel_config(backend=backend):
        model = autometa.fit(
            X,
            y,
            n_trials=6,
            n_jobs=2,
            random_state=0,
            algorithms=["linear", "knn", "naive_bayes"],
            strategy=Strategy(None, 0, "tpe", "cv", 3),
            knowledge=KnowledgeBase.in_memory(),
        )
    return [(e.config.key, round(e.score, 12), e.status) for e in model.evaluations_]


@pytest.mark.slow  # two fits, and loky's workers to start
def test_dask_finds_what_loky_finds_for_a_fixed_random_state(client: Any) -> None:
    # Trials finish in an order that depends on timing; with fewer trials than TPE's
    # random start-up, which configurations are asked does not.
    on_dask, on_loky = evaluated("dask", client), evaluated("loky", client)
    assert sorted(on_dask) == sorted(on_loky)
    assert len({key for key, _, _ in on_dask}) > 1
    assert all(np.isfinite(score) for _, score, _ in on_dask)
