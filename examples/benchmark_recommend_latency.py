"""How much opening the shipped knowledge base and recommending costs, next to one fit.

    python examples/benchmark_recommend_latency.py [--repeats 5]

Prints the median seconds of: loading the shipped knowledge base, answering one
recommendation end to end as a default fit does (load, meta-features, the selected
learner fitted and asked for 10), the same with each installed learner in turn, and, for
scale, one fit of scikit-learn's HistGradientBoosting defaults on the same data; then
the ratio of the default recommendation path to that one fit. Ratios measured in one
run are what to compare across machines; absolute seconds depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

import autometa
from autometa._plugins import build_plugin_manager
from autometa.contract import Strategy
from autometa.knowledge._base import CACHE_DIR_ENV, KnowledgeBase


def median_seconds(function: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    knowledge = KnowledgeBase.default()
    learners = sorted(build_plugin_manager().meta_learners())
    counts = knowledge.counts()
    with tempfile.TemporaryDirectory() as empty_cache:
        os.environ[CACHE_DIR_ENV] = empty_cache  # a fresh install: parse and write the cache
        started = time.perf_counter()
        KnowledgeBase.default()
        first_load = time.perf_counter() - started
        del os.environ[CACHE_DIR_ENV]
    load = median_seconds(KnowledgeBase.default, args.repeats)
    answer = median_seconds(lambda: autometa.recommend(X, y, k=10), args.repeats)
    chosen = autometa.recommend(X, y, k=1)[0].evidence.model
    per_learner = {}
    for name in learners:
        strategy = Strategy(name, 10, "tpe", "cv", 5)
        per_learner[name] = median_seconds(
            lambda: autometa.recommend(X, y, k=10, strategy=strategy),  # noqa: B023 (called here)
            args.repeats,
        )
    one_fit = median_seconds(
        lambda: HistGradientBoostingClassifier(random_state=0).fit(X, y), args.repeats
    )
    print(f"shipped knowledge base: {counts}")
    print(f"first load            {first_load:8.3f} s  (parse the shipped files, write the cache)")
    print(f"load                  {load:8.3f} s  (from the cache)")
    print(f"recommend (end to end){answer:8.3f} s  (load + meta-features + {chosen} + k=10)")
    for name, seconds in per_learner.items():
        print(f"  with {name:<17}{seconds:8.3f} s")
    print(f"one HGB default fit   {one_fit:8.3f} s  ({len(X)} rows)")
    print(f"recommend / one fit   {answer / one_fit:8.2f}x")


if __name__ == "__main__":
    main()
