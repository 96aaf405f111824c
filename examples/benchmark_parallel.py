"""What parallel trials buy: trials per second with n_jobs=1 and 2, and dask's overhead.

    python examples/benchmark_parallel.py               # the measurement (a few minutes)
    python examples/benchmark_parallel.py --quick       # seconds: only checks that it runs

1. Speed-up: the same fit (scikit-learn's digits, 1,797 rows; random sampler, so both
   settings evaluate the same configurations; no warm start) with ``n_jobs=1`` and
   ``n_jobs=2`` on joblib's default loky backend. Trials per second are counted over
   the search alone (first trial started to last trial finished, from the study), the
   median of ``--repeats`` runs; the ratio is the speed-up.
2. Overhead: a configuration that costs almost nothing (Gaussian naive Bayes on iris,
   milliseconds per fold) with ``n_jobs=2`` on loky and on a dask ``LocalCluster`` (two
   worker processes, one thread each), and ``n_jobs=1`` in-process for reference. The
   overhead per trial is the workers' time not spent in the trial's own cross-validation:
   (search seconds x workers - the trials' CV seconds) / trials.

Numbers depend on the machine and its load: run it on a quiet machine, and compare the
ratios rather than the seconds. Needs the ``dask`` extra for part 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import joblib
from sklearn.datasets import load_digits, load_iris

import autometa
from autometa.contract import Strategy
from autometa.knowledge import KnowledgeBase

SPEEDUP_ALGORITHMS = ["linear", "knn", "naive_bayes", "random_forest", "hist_gradient_boosting"]


@dataclass(frozen=True)
class Run:
    """One fit's search: how many trials, the search's wall seconds, their CV seconds."""

    trials: int
    seconds: float
    cv_seconds: float

    @property
    def per_second(self) -> float:
        return self.trials / self.seconds


def search(X: Any, y: Any, *, n_trials: int, n_jobs: int, algorithms: list[str]) -> Run:
    """Fit once; measure the search from the study's trial timestamps."""
    model = autometa.fit(
        X,
        y,
        n_trials=n_trials,
        n_jobs=n_jobs,
        random_state=0,
        algorithms=algorithms,
        strategy=Strategy(None, 0, "random", "cv", 3),
        knowledge=KnowledgeBase.in_memory(),
    )
    trials = model.study_.trials
    started = min(t.datetime_start for t in trials if t.datetime_start)
    finished = max(t.datetime_complete for t in trials if t.datetime_complete)
    return Run(
        len(trials),
        (finished - started).total_seconds(),
        sum(e.fit_time for e in model.evaluations_),
    )


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.per_second)[len(runs) // 2]


@contextmanager
def dask_cluster() -> Iterator[None]:
    """A two-worker LocalCluster (processes, one thread each) as joblib's backend."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster),
        joblib.parallel_config(backend="dask"),
    ):
        yield


def speedup(n_trials: int, repeats: int) -> None:
    X, y = load_digits(return_X_y=True)
    runs: dict[int, list[Run]] = {1: [], 2: []}
    search(X, y, n_trials=2, n_jobs=2, algorithms=SPEEDUP_ALGORITHMS)  # start loky's workers
    for _ in range(repeats):
        for n_jobs in (1, 2):
            runs[n_jobs].append(
                search(X, y, n_trials=n_trials, n_jobs=n_jobs, algorithms=SPEEDUP_ALGORITHMS)
            )
    one, two = median_run(runs[1]), median_run(runs[2])
    print(f"\n1. Speed-up: digits, {n_trials} trials, median of {repeats} runs")
    print(f"   {'n_jobs':>6}  {'trials/s':>9}  {'search s':>9}")
    for n_jobs, run in ((1, one), (2, two)):
        print(f"   {n_jobs:>6}  {run.per_second:>9.3f}  {run.seconds:>9.2f}")
    print(f"   speed-up n_jobs=2 / n_jobs=1: {two.per_second / one.per_second:.2f}x")


def overhead(n_trials: int, repeats: int) -> None:
    X, y = load_iris(return_X_y=True)
    settings: list[tuple[str, int, AbstractContextManager[Any]]] = [
        ("in-process", 1, nullcontext()),
        ("loky", 2, joblib.parallel_config(backend="loky")),
    ]
    if importlib.util.find_spec("distributed") is not None:
        settings.append(("dask LocalCluster", 2, dask_cluster()))
    else:
        print("(dask is not installed: pip install 'autometa-ml[dask]' to measure it)")
    print(f"\n2. Overhead per trial: naive Bayes on iris, {n_trials} trials, median of {repeats}")
    print(
        f"   {'backend':<18} {'n_jobs':>6}  {'trials/s':>9}  {'ms/trial':>9}  {'overhead ms':>11}"
    )
    for name, n_jobs, backend in settings:
        with backend:
            search(X, y, n_trials=2 * n_jobs, n_jobs=n_jobs, algorithms=["naive_bayes"])  # warm
            run = median_run(
                [
                    search(X, y, n_trials=n_trials, n_jobs=n_jobs, algorithms=["naive_bayes"])
                    for _ in range(repeats)
                ]
            )
        wall_ms = 1000 * run.seconds / run.trials
        overhead_ms = 1000 * (run.seconds * n_jobs - run.cv_seconds) / run.trials
        print(
            f"   {name:<18} {n_jobs:>6}  {run.per_second:>9.2f}  {wall_ms:>9.1f}  "
            f"{overhead_ms:>11.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=40, help="trials per speed-up fit")
    parser.add_argument("--overhead-trials", type=int, default=60, help="trials per overhead fit")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny settings, to check it runs")
    args = parser.parse_args()
    if args.quick:
        args.n_trials, args.overhead_trials, args.repeats = 4, 6, 1
    started = time.perf_counter()
    speedup(args.n_trials, args.repeats)
    overhead(args.overhead_trials, args.repeats)
    print(f"\n(measured in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
