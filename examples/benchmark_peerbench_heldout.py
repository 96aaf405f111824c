"""Issue 14's held-out peerbench: which corpus tasks it holds out, and its bars on a run.

Two commands:

``tasks MANIFEST``
    The 24 tasks, picked by size alone from the corpus manifest so that anyone can
    pick them again: per kind (binary, multiclass, regression) the tasks sorted by
    (rows, name); among those of 150 to 10,000 rows the 6 at indices
    ``round(linspace(0, n - 1, 6))``, above 10,000 rows the smallest and the largest.
    With ``--exclude`` it prints the ``--exclude`` flags of ``autometa kb export``
    instead, to build the knowledge base that holds them out.

``bars RESULTS_DIR [--system autometa]``
    On a folder of ``run_peer.py`` results, per opponent: the task-seeds where the
    system's primary score is strictly ahead (the issue asks for 70% against ``flaml``
    and ``optuna_tpe``); the task-seeds where it is worse than ``hgb_default`` by more
    than 0.01 ROC AUC or R², or 0.02 log loss (none allowed); and every system's mean
    normalized score, ``(score - worst) / (best - worst)`` over the systems of a
    task-seed (a failed run scores the worst). The primary score is ROC AUC for binary
    tasks, log loss for multiclass ones and R² for regression, as in ``winrate.py``.

Run::

    python examples/benchmark_peerbench_heldout.py tasks ../shared/corpus/manifest.json
    python examples/benchmark_peerbench_heldout.py bars results/b30 --system autometa
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("binary", "multiclass", "regression")
MID_ROWS = (150, 10_000)
N_MID, N_LARGE = 6, 2
# kind: (metric, +1 when higher is better, how much worse than the defaults is allowed)
PRIMARY = {"binary": ("roc_auc", 1, 0.01), "multiclass": ("log_loss", -1, 0.02),
           "regression": ("r2", 1, 0.01)}  # fmt: skip
DEFAULTS, PEERS = "hgb_default", ("flaml", "optuna_tpe")


def spread(entries: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """``k`` entries at evenly spread indices of a sorted list (all of them if fewer)."""
    if len(entries) <= k:
        return entries
    return [entries[i] for i in np.round(np.linspace(0, len(entries) - 1, k)).astype(int)]


def held_out_tasks(manifest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The benchmark's tasks, 8 per kind, by the size rule of this module's docstring."""
    chosen: list[dict[str, Any]] = []
    for kind in KINDS:
        tasks = sorted((e for e in manifest if e["task"] == kind),
                       key=lambda e: (e["n_rows"], e["name"]))  # fmt: skip
        middle = [e for e in tasks if MID_ROWS[0] <= e["n_rows"] <= MID_ROWS[1]]
        large = [e for e in tasks if e["n_rows"] > MID_ROWS[1]]
        chosen += spread(middle, N_MID) + spread(large, N_LARGE)
    return chosen


def primary(result: dict[str, Any]) -> float | None:
    """The result's primary score, oriented so that greater is better (None if failed)."""
    metric, sign, _ = PRIMARY[result["task"]]
    value = result.get("metrics", {}).get(metric)
    return None if result.get("status") != "ok" or value is None else sign * float(value)


def normalized_scores(scores: dict[str, float | None]) -> dict[str, float]:
    """One task-seed's primary scores (greater is better) scaled to 1 for the best system
    and 0 for the worst; all 1 when they tie, and a failed run (None) counts as the worst."""
    known = [s for s in scores.values() if s is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    values = {name: low if score is None else score for name, score in scores.items()}
    return {name: (v - low) / (high - low) if high > low else 1.0 for name, v in values.items()}


def load(folder: Path) -> dict[tuple[str, int], dict[str, dict[str, Any]]]:
    """Every result of the folder, by (dataset, seed), then by system."""
    results: dict[tuple[str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text())
        if "system" in result and "dataset" in result:
            results[(result["dataset"], int(result["seed"]))][result["system"]] = result
    return results


def bars(folder: Path, system: str) -> None:
    """Print the issue's bars for ``system`` on the results in ``folder``."""
    results = load(folder)
    if not results:
        raise SystemExit(f"no run_peer.py results (*.json) in {folder}")
    for opponent in (*PEERS, DEFAULTS):
        ahead = worse = n = 0
        for runs in results.values():
            if system not in runs or opponent not in runs:
                continue
            mine, theirs = primary(runs[system]), primary(runs[opponent])
            n += 1
            ahead += mine is not None and (theirs is None or mine > theirs)
            worse += mine is None or (theirs is not None and mine < theirs)
        if n:
            print(f"{system} vs {opponent:11s}: strictly ahead on {ahead} of {n} "
                  f"task-seeds ({ahead / n:.0%}), behind on {worse}")  # fmt: skip
    print(f"\nworse than {DEFAULTS} beyond 0.01 ROC AUC / R2 or 0.02 log loss:")
    failures = 0
    for (dataset, seed), runs in sorted(results.items()):
        if system not in runs or DEFAULTS not in runs:
            continue
        mine, theirs = primary(runs[system]), primary(runs[DEFAULTS])
        allowed = PRIMARY[runs[system]["task"]][2]
        if theirs is not None and (mine is None or theirs - mine > allowed):
            failures += 1
            gap = "failed" if mine is None else f"{theirs - mine:.4f} worse"
            print(f"  {dataset} seed {seed}: {gap}")
    print(f"  {failures} task-seed(s)")
    normalized: dict[str, list[float]] = defaultdict(list)
    for runs in results.values():
        scores = normalized_scores({name: primary(result) for name, result in runs.items()})
        for name, value in scores.items():
            normalized[name].append(value)
    print("\nmean normalized score (1 = best of the task-seed's systems, 0 = worst):")
    for name, values in sorted(normalized.items(), key=lambda item: -np.mean(item[1])):
        print(f"  {name:24s} {np.mean(values):.3f}  ({len(values)} task-seeds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tasks = commands.add_parser("tasks", help="the held-out tasks of a corpus manifest")
    tasks.add_argument("manifest", type=Path)
    tasks.add_argument("--exclude", action="store_true", help="as kb export flags")
    scored = commands.add_parser("bars", help="the issue's bars on a results folder")
    scored.add_argument("results", type=Path)
    scored.add_argument("--system", default="autometa")
    args = parser.parse_args()
    if args.command == "bars":
        bars(args.results, args.system)
        return
    chosen = held_out_tasks(json.loads(args.manifest.read_text()))
    if args.exclude:
        print(" ".join(f"--exclude {e['name']}" for e in chosen))
        return
    for entry in chosen:
        print(f"{entry['name']:28s} {entry['task']:10s} {entry['n_rows']:7d} rows")


if __name__ == "__main__":
    main()
