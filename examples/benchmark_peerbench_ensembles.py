"""Issue 16's criteria on a peerbench results folder: autometa with against without ensembles.

The folder holds ``run_peer.py`` results of two systems on the same tasks, seeds and
budget: ``autometa`` (ensembles on, the default) and ``autometa_noensemble``
(``autometa.fit(..., ensemble=False)``; ``../shared/peerbench``'s harness has no such
system, so a copy with one more entry in ``SYSTEMS`` runs it, see docs/benchmarks.md).
It prints, per task-seed where both ran:

- the share of classification task-seeds whose held-out log loss is lower with ensembles
  (the issue asks for 80%), and the ones that are not, with each ensemble's size;
- the task-seeds worse with ensembles by more than 0.005 ROC AUC or 0.01 R² (none allowed);
- the median prediction time on the test split and the pickled model size, and the most
  a fit ran over its budget, for each system.

Run::

    python examples/benchmark_peerbench_ensembles.py RESULTS_DIR

The mean normalized score and win rates come from the harness's own ``summarize.py`` and
``winrate.py`` on the same folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WITH, WITHOUT = "autometa", "autometa_noensemble"
TOLERANCE = {
    "binary": ("roc_auc", 0.005),
    "multiclass": ("roc_auc", 0.005),
    "regression": ("r2", 0.01),
}
"""How much worse than without ensembles issue 16 allows, per kind."""


@dataclass(frozen=True)
class Pair:
    """One task-seed's held-out metrics with and without ensembles."""

    name: str
    """Which task-seed, as printed."""
    kind: str
    on: dict[str, float]
    off: dict[str, float]
    members: int | str
    """The ensemble's members, or "?" when the run did not record them."""


def print_criteria(pairs: Sequence[Pair]) -> None:
    """Issue 16's criteria on ``pairs``: the classification task-seeds whose held-out log
    loss is lower with ensembles (and those whose is not), and those worse than without
    beyond :data:`TOLERANCE` (an undefined score, NaN, is never beyond it)."""
    classification = [p for p in pairs if p.kind != "regression"]
    lower = sum(p.on["log_loss"] < p.off["log_loss"] for p in classification)
    share = lower / len(classification) if classification else float("nan")
    print(
        f"held-out log loss lower with ensembles: {lower} of {len(classification)} "
        f"classification task-seeds ({share:.0%}; the issue asks for 80%)"
    )
    for p in classification:
        if not p.on["log_loss"] < p.off["log_loss"]:
            print(
                f"  not lower: {p.name} ({p.kind}): {p.on['log_loss']:.4f} with, "
                f"{p.off['log_loss']:.4f} without, {p.members} member(s)"
            )
    beyond = []
    for p in pairs:
        metric, tolerance = TOLERANCE[p.kind]
        difference = p.on[metric] - p.off[metric]
        if difference < -tolerance:
            beyond.append(f"{p.name} ({p.kind}): {metric} {difference:+.4f}")
    print(f"worse with ensembles beyond the tolerance: {len(beyond)}")
    for line in beyond:
        print(f"  {line}")


def load(folder: Path) -> dict[tuple[str, int, str], dict[str, Any]]:
    """Every result of the two systems, by (dataset, seed, system)."""
    runs = {}
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text())
        if result.get("system") in (WITH, WITHOUT):
            runs[(result["dataset"], result["seed"], result["system"])] = result
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run_peer.py results folder")
    runs = load(parser.parse_args().results)
    pairs, failed = [], []
    for dataset, seed in sorted({(dataset, seed) for dataset, seed, _ in runs}):
        on, off = runs.get((dataset, seed, WITH)), runs.get((dataset, seed, WITHOUT))
        if not on or not off or on.get("status") != "ok" or off.get("status") != "ok":
            failed.append((dataset, seed))
            continue
        name, members = f"{dataset} seed {seed}", on.get("ensemble_members", "?")
        pairs.append(Pair(name, on["task"], on["metrics"], off["metrics"], members))
    print_criteria(pairs)
    if failed:
        print(f"not compared (a run failed or is missing): {failed}")
    for system in (WITH, WITHOUT):
        ok = [r for (_, _, s), r in runs.items() if s == system and r.get("status") == "ok"]
        seconds = statistics.median(r["predict_time"] for r in ok)
        sizes = [r.get("model_bytes", 0) / 1e6 for r in ok]
        print(
            f"{system}: prediction time median {seconds:.3f} s, model size median "
            f"{statistics.median(sizes):.2f} MB (largest {max(sizes):.1f} MB), most over "
            f"budget {max(r['budget_overrun'] for r in ok):.1f} s"
        )


if __name__ == "__main__":
    main()
