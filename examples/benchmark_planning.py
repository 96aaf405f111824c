"""How long planning takes: ``autometa.recommend`` and the plan of a fit, step by step.

Planning is everything before the search (validation, meta-features, knowledge base,
strategy, recommendations; ``autometa.search._planning.make_plan``). It is overhead on
every fit and the whole cost of ``autometa.recommend``, so it should stay small next to
one model fit. This script times it on synthetic tables (``make_classification`` or
``make_regression``) in three situations, each in its own Python process:

- ``fresh``: the first call on a fresh machine: an empty cache folder
  (``AUTOMETA_CACHE_DIR``), so the shipped knowledge base and everything derived from
  it is built during the call;
- ``new process``: the first call of a new process whose cache folder is filled;
- ``later``: further calls in the same process (``--repeat``).

For each it prints the wall time of ``recommend`` and of ``make_plan`` (importing
autometa is timed apart), the plan's per-step timings (``Plan.timings``; from an
autometa without them, the same steps timed one by one), and, for scale, one
``HistGradientBoosting`` fit on the same table. Run::

    python examples/benchmark_planning.py                       # 10,000 x 50 and 100,000 x 100
    python examples/benchmark_planning.py --sizes 10000x50 --kind regression --repeat 5
    python examples/benchmark_planning.py --statistics-effect ../shared/corpus
    python examples/benchmark_planning.py --sizes 10000x50 --timeout 30   # a timed fit's plan
    python examples/benchmark_planning.py --sizes 10000x50 --user-fits 20  # with your own base

By default the user's own knowledge base is turned off (``AUTOMETA_USER_KNOWLEDGE=off``),
so the shipped base alone is timed; ``--user-fits N`` first makes a user base in a
temporary folder with N real fits (small synthetic tables, a few trials each) and times
planning with it laid over the shipped base, as every default fit plans.

Numbers are wall times on this machine; compare them within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np


def make_table(rows: int, columns: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic table of the given size (seeded)."""
    from sklearn.datasets import make_classification, make_regression

    if kind == "classification":
        return make_classification(
            n_samples=rows, n_features=columns, n_informative=min(10, columns), random_state=0
        )
    return make_regression(
        n_samples=rows, n_features=columns, n_informative=min(10, columns), random_state=0
    )


def _breakdown(plan: Any, X: Any, y: Any) -> dict[str, float]:
    """The plan's own step timings; from an autometa without them, the same steps timed
    here one by one (as make_plan runs them), so versions can be compared."""
    timings = getattr(plan, "timings", None)
    if timings is None:
        timings = _steps_by_hand(X, y)
    return {name: round(float(s), 4) for name, s in timings.items()}


def _steps_by_hand(X: Any, y: Any) -> dict[str, float]:
    from dataclasses import replace

    from autometa._plugins import build_plugin_manager
    from autometa.contract._task import Task
    from autometa.search._metafeatures import compute_meta_features
    from autometa.search._planning import open_knowledge, recommend_for

    times: dict[str, float] = {}
    start = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal start
        now = time.perf_counter()
        times[step] = now - start
        start = now

    manager = build_plugin_manager()
    lap("plugins")
    task = Task.from_data(X, y)
    lap("validation")
    algorithms = manager.algorithms(task)
    lap("algorithms")
    meta = compute_meta_features(task, extra_groups=manager.meta_feature_groups(task))
    lap("meta_features")
    base = open_knowledge(None)
    lap("knowledge")
    learners = manager.meta_learners()
    selected = manager.select_strategy(task, meta.values, base, sorted(learners))
    if selected is None:
        raise RuntimeError("no strategy selector answered: install the first-party plugins")
    strategy = selected[0]
    strategy = replace(strategy, n_warm_starts=10)
    task = task.with_validation(strategy.validation, strategy.n_splits, strategy.n_repeats)
    lap("strategy")
    recommend_for(task, meta.values, algorithms, base, strategy, learners)
    lap("recommendations")
    return times


def child(
    rows: int,
    columns: int,
    kind: str,
    repeat: int,
    k: int,
    reference: bool,
    timeout: float | None = None,
) -> None:
    """Run inside a fresh process: time the calls and print one JSON line."""
    started = time.perf_counter()
    import autometa
    from autometa.search._planning import make_plan

    recommend = autometa.recommend  # imports the API module: import time, not planning
    import_seconds = time.perf_counter() - started
    X, y = make_table(rows, columns, kind)
    calls = []
    for _ in range(repeat):
        start = time.perf_counter()
        recs = recommend(X, y, k=k)
        recommend_seconds = time.perf_counter() - start
        start = time.perf_counter()
        plan = make_plan(X, y, warm_start=10, timeout=timeout)
        plan_seconds = time.perf_counter() - start
        calls.append(
            {
                "recommend_s": round(recommend_seconds, 4),
                "make_plan_s": round(plan_seconds, 4),
                "plan_steps": _breakdown(plan, X, y),
                "recommendations": [r.config.key for r in recs],
                "strategy": f"{plan.strategy.meta_learner} ({plan.strategy_source})",
            }
        )
    fit_seconds = None
    if reference:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        model = (
            HistGradientBoostingClassifier(random_state=0)
            if kind == "classification"
            else HistGradientBoostingRegressor(random_state=0)
        )
        start = time.perf_counter()
        model.fit(X, y)
        fit_seconds = round(time.perf_counter() - start, 4)
    print(
        json.dumps({"import_s": round(import_seconds, 4), "calls": calls, "hgb_fit_s": fit_seconds})
    )


def statistics_effect(corpus: str) -> None:
    """How far the bounded skewness/kurtosis (``MAX_STATISTICS_ROWS``) are from the
    all-rows values the shipped base stores, on its tasks with more rows."""
    import math
    from pathlib import Path

    from autometa.contract._task import Task
    from autometa.knowledge import KnowledgeBase
    from autometa.knowledge._corpus import read_table
    from autometa.search import _metafeature_data as mf
    from autometa.search import _metafeature_groups as groups
    from autometa.search._metafeatures import DEFAULT_SEED

    root = Path(corpus)
    manifest = json.loads((root / "manifest.json").read_text())
    stored = {r.task_id: r for r in KnowledgeBase.default().tasks()}
    every: list[float] = []
    for entry in manifest:
        name = entry["name"]
        if entry["n_rows"] <= mf.MAX_STATISTICS_ROWS or name not in stored:
            continue
        X, y = read_table(next((root / "data").glob(name + ".*")), "target")
        data = mf._TaskData(Task.from_data(X, y, kind=stored[name].kind), DEFAULT_SEED)
        bounded = groups._statistical(data)
        data.__dict__["statistics_sample"] = data.numeric  # every row, as the shipped base
        full = groups._statistical(data)
        same = all(
            full[k] == stored[name].meta_features[k]
            or (math.isnan(full[k]) and math.isnan(stored[name].meta_features[k]))
            for k in full
        )
        diffs = {
            k: abs(bounded[k] - full[k]) / max(abs(full[k]), 1e-12)
            for k in full
            if math.isfinite(full[k]) and math.isfinite(bounded[k])
        }
        every.extend(diffs.values())
        worst = max(diffs, key=diffs.__getitem__)
        print(
            f"{name:<28} {entry['n_rows']:>6} rows  all rows == stored: {same}  relative "
            f"difference median {np.median(list(diffs.values())):.3f}, max "
            f"{diffs[worst]:.3f} ({worst})"
        )
    print(
        f"{len(every)} values: median {np.median(every):.3f}, 90th percentile "
        f"{np.percentile(every, 90):.3f}, max {max(every):.3f}"
    )


def run_child(
    rows: int,
    columns: int,
    kind: str,
    repeat: int,
    k: int,
    cache_dir: str,
    reference: bool,
    timeout: float | None = None,
    user: str = "off",
) -> dict[str, Any]:
    """Time planning in a new process with this cache folder and user knowledge base."""
    command = (
        [
            sys.executable,
            __file__,
            "--child",
            f"{rows}x{columns}",
            "--kind",
            kind,
            "--repeat",
            str(repeat),
            "-k",
            str(k),
        ]
        + (["--reference"] if reference else [])
        + ([] if timeout is None else ["--timeout", str(timeout)])
    )
    env = {**os.environ, "AUTOMETA_CACHE_DIR": cache_dir, "AUTOMETA_USER_KNOWLEDGE": user}
    env.pop("AUTOMETA_KNOWLEDGE", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def make_user_knowledge(path: str, n_fits: int) -> None:
    """A user knowledge base at ``path`` holding ``n_fits`` real default fits (each of a
    different small synthetic table, 5 trials), as a user's own base grows."""
    from sklearn.datasets import make_classification, make_regression

    import autometa

    os.environ["AUTOMETA_USER_KNOWLEDGE"] = path
    for i in range(n_fits):
        rows = 200 + 40 * i
        if i % 2:
            X, y = make_regression(n_samples=rows, n_features=5 + i % 7, random_state=i)
        else:
            X, y = make_classification(n_samples=rows, n_features=5 + i % 7, random_state=i)
        autometa.fit(X, y, n_trials=5, random_state=i, ensemble=False)


def _size(text: str) -> tuple[int, int]:
    rows, _, columns = text.partition("x")
    return int(rows), int(columns)


def _show(label: str, call: dict[str, Any]) -> None:
    steps = ", ".join(f"{name} {s:.3f}" for name, s in call["plan_steps"].items())
    print(
        f"  {label:<22} recommend {call['recommend_s']:7.3f} s   make_plan "
        f"{call['make_plan_s']:7.3f} s" + (f"   [{steps}]" if steps else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["10000x50", "100000x100"])
    parser.add_argument(
        "--kind", choices=["classification", "regression"], default="classification"
    )
    parser.add_argument("--repeat", type=int, default=3, help="calls per process")
    parser.add_argument("-k", type=int, default=10, help="recommendations asked for")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="plan as for a fit with this timeout (the selector then picks the cost-aware "
        "portfolio, which fits a cost model); recommend is timed without one",
    )
    parser.add_argument(
        "--statistics-effect",
        metavar="CORPUS",
        help="instead: compare bounded and all-rows skewness/kurtosis on a corpus folder",
    )
    parser.add_argument(
        "--user-fits",
        type=int,
        default=0,
        help="plan with a user knowledge base of this many earlier fits over the shipped "
        "one (default 0: the user's base turned off)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.statistics_effect:
        statistics_effect(args.statistics_effect)
        return
    if args.child:
        rows, columns = _size(args.child)
        child(rows, columns, args.kind, args.repeat, args.k, args.reference, args.timeout)
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="autometa-bench-user-") as folder:
        user = "off"
        if args.user_fits:
            user = os.path.join(folder, "knowledge.db")
            start = time.perf_counter()
            make_user_knowledge(user, args.user_fits)
            print(
                f"user knowledge base: {args.user_fits} fits in {time.perf_counter() - start:.0f} s"
            )
        for size in args.sizes:
            results[size] = time_size(size, args, user)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)


def time_size(size: str, args: argparse.Namespace, user: str) -> dict[str, Any]:
    """Time planning on one table size: a fresh cache, then a new process; print it."""
    rows, columns = _size(size)
    with tempfile.TemporaryDirectory(prefix="autometa-bench-cache-") as cache:
        fresh = run_child(
            rows, columns, args.kind, args.repeat, args.k, cache, False, args.timeout, user
        )
        warm = run_child(
            rows, columns, args.kind, 1, args.k, cache, rows <= 20_000, args.timeout, user
        )
    same = fresh["calls"][0]["recommendations"] == warm["calls"][0]["recommendations"]
    print(
        f"{size} {args.kind} (strategy: {fresh['calls'][0]['strategy']}; importing "
        f"autometa: {fresh['import_s']:.2f} s, not counted)"
    )
    _show("first call, fresh", fresh["calls"][0])
    _show("first call, new process", warm["calls"][0])
    for i, call in enumerate(fresh["calls"][1:], start=2):
        _show(f"call {i}, same process", call)
    if warm["hgb_fit_s"] is not None:
        print(f"  one HistGradientBoosting fit: {warm['hgb_fit_s']:.3f} s")
    print(f"  same recommendations across processes: {same}")
    return {"fresh_process_empty_cache": fresh, "new_process_filled_cache": warm}


if __name__ == "__main__":
    main()
