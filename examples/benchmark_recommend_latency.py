"""How much opening the shipped knowledge base and recommending costs, next to one fit.

    python examples/benchmark_recommend_latency.py [--repeats 5]

Prints the median seconds of: loading the shipped knowledge base, fitting the
nearest-tasks learner on it, answering one recommendation (meta-features included),
and, for scale, one fit of scikit-learn's HistGradientBoosting defaults on the same data;
then the ratio of the whole recommendation path to that one fit. Ratios measured in one
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
from autometa.knowledge import CACHE_DIR_ENV, KnowledgeBase
from autometa.plugins import build_plugin_manager


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
    learner_cls = build_plugin_manager().meta_learners()["nearest_tasks"]
    counts = knowledge.counts()
    with tempfile.TemporaryDirectory() as empty_cache:
        os.environ[CACHE_DIR_ENV] = empty_cache  # a fresh install: parse and write the cache
        started = time.perf_counter()
        KnowledgeBase.default()
        first_load = time.perf_counter() - started
        del os.environ[CACHE_DIR_ENV]
    load = median_seconds(KnowledgeBase.default, args.repeats)
    learn = median_seconds(lambda: learner_cls().fit(knowledge), args.repeats)
    answer = median_seconds(lambda: autometa.recommend(X, y, k=10), args.repeats)
    one_fit = median_seconds(
        lambda: HistGradientBoostingClassifier(random_state=0).fit(X, y), args.repeats
    )
    print(f"shipped knowledge base: {counts}")
    print(f"first load            {first_load:8.3f} s  (parse the shipped files, write the cache)")
    print(f"load                  {load:8.3f} s  (from the cache)")
    print(f"fit nearest_tasks     {learn:8.3f} s")
    print(f"recommend (end to end){answer:8.3f} s  (load + meta-features + learner + k=10)")
    print(f"one HGB default fit   {one_fit:8.3f} s  ({len(X)} rows)")
    print(f"recommend / one fit   {answer / one_fit:8.2f}x")


if __name__ == "__main__":
    main()
