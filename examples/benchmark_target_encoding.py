"""Ordinal codes against target encoding for categorical columns of many levels.

    python examples/benchmark_target_encoding.py [--folds 5] [--seeds 0 1 2] [--rows 2000] \\
        [--algorithms linear knn svm naive_bayes random_forest extra_trees] \\
        [--corpus ../shared/corpus [--tasks titanic tv16 ...] [--max-rows 2000]] \\
        [--out results.json]

The shipped catalogue one-hot encodes a categorical column of at most 20 levels
(``autometa.contract.MAX_ONE_HOT_LEVELS``). A column of more levels used to become
ordinal codes everywhere; the pipelines that standardise their features (linear, sgd,
svm, knn, mlp, naive_bayes) now target-encode it instead, and the forests
(random_forest, extra_trees) keep ordinal codes. This script measures that choice: for
each dataset and algorithm it cross-validates the algorithm's default configuration
twice, on the same splits, once with ordinal codes and once with target encoding of the
columns of many levels (``make_preprocessor(task, scale=..., many_levels="ordinal" |
"target")``; everything else in the pipelines is the same), and prints the mean score
both ways, their difference and on how many folds target encoding won. Then, per
algorithm over every dataset and seed, it prints the mean and median difference and
how often target encoding won: read the median and the count, since a few tables whose
scores span a wide range (an R² far below 0, a k-NN's log loss) dominate the mean. Each
seed draws other splits, encoder folds and subsamples.

Datasets, all built from a clone of the project (no download):

- ``synthetic_binary``, ``synthetic_regression``, ``synthetic_multiclass``: ``--rows``
  rows with a 100-level column whose level carries the target effect (5% missing),
  a 5-level column with a weak effect, one informative and one noise number;
- ``diabetes_binned`` (regression) and ``breast_cancer_binned`` (binary): scikit-learn's
  bundled tables with their most informative numbers cut into 40 quantile bins under
  shuffled labels: the level carries the signal, its code's order does not.

With ``--corpus`` (a folder of ``data/*.csv.gz`` with a ``target`` column and a
``manifest.json``, as docs/corpus.md describes), the corpus tables with a categorical
column of more than 20 levels are measured too, each capped at ``--max-rows`` rows as
the shipped knowledge base's build caps them (a stratified, seeded subsample).

Everything runs in this process (``n_jobs=1``), so it can share a machine with other
work; the default run takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import cross_val_score

from autometa._build import evaluation_task
from autometa.contract import Algorithm, Task, TaskKind
from autometa.knowledge._protocol import BuildProtocol, read_corpus
from autometa_sklearn.catalogue import algorithms_for
from autometa_sklearn.preprocessing import ManyLevels, make_preprocessor

SCALED = ("linear", "sgd", "svm", "knn", "mlp", "naive_bayes")
"""Algorithms whose pipelines standardise features (``make_preprocessor(scale=True)``)."""
TREES = ("random_forest", "extra_trees")
"""Algorithms whose pipelines do not (``scale=False``)."""
DEFAULT_ALGORITHMS = ("linear", "knn", "svm", "naive_bayes", "random_forest", "extra_trees")
ENCODINGS: tuple[ManyLevels, ...] = ("ordinal", "target")
SYNTHETIC_LEVELS = 100
BINNED_LEVELS = 40


@dataclass(frozen=True)
class Dataset:
    """A named table with its target and task kind."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    kind: TaskKind


@dataclass(frozen=True)
class Result:
    """One algorithm on one dataset: the mean CV score both ways and the fold wins."""

    source: str
    """``builtin`` (synthetic and bundled tables) or ``corpus``."""
    dataset: str
    algorithm: str
    scoring: str
    ordinal: float
    target: float
    target_wins: int
    folds: int
    seconds: float

    @property
    def gain(self) -> float:
        return self.target - self.ordinal


# -- data ---------------------------------------------------------------------------------
def synthetic(kind: TaskKind, rows: int, seed: int) -> Dataset:
    """``rows`` rows whose 100-level ``city`` carries the target effect (5% missing)."""
    rng = np.random.default_rng(seed)
    cities = np.array([f"city_{i:03d}" for i in range(SYNTHETIC_LEVELS)], dtype=object)
    city = rng.integers(0, SYNTHETIC_LEVELS, rows)
    colour = rng.integers(0, 5, rows)
    x_signal, x_noise = rng.normal(size=rows), rng.normal(size=rows)
    effect = rng.normal(size=SYNTHETIC_LEVELS)
    signal = 1.5 * effect[city] + 0.3 * (colour - 2) + 0.7 * x_signal
    if kind == "regression":
        y: np.ndarray = signal + rng.normal(size=rows)
    elif kind == "binary":
        y = (rng.random(rows) < 1 / (1 + np.exp(-signal))).astype(int)
    else:  # each city prefers one of three classes
        preferred = rng.integers(0, 3, SYNTHETIC_LEVELS)[city]
        logits = rng.normal(size=(rows, 3)) + 0.7 * x_signal[:, None] * [1, 0, -1]
        logits[np.arange(rows), preferred] += 2.0
        y = logits.argmax(axis=1)
    X = pd.DataFrame(
        {
            "city": pd.Series(cities[city], dtype=object),
            "colour": np.array(list("abcde"), dtype=object)[colour],
            "x_signal": x_signal,
            "x_noise": x_noise,
        }
    )
    X.loc[rng.random(rows) < 0.05, "city"] = None
    return Dataset(f"synthetic_{kind}", X, y, kind)


def binned(frame: pd.DataFrame, columns: Sequence[str], seed: int) -> pd.DataFrame:
    """``frame`` with each of ``columns`` cut into :data:`BINNED_LEVELS` quantile bins
    named in a shuffled order (the level informs; the order of its code does not)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for column in columns:
        bins = pd.qcut(frame[column], BINNED_LEVELS, labels=False, duplicates="drop")
        names = rng.permutation(BINNED_LEVELS)
        out[column] = [f"{column}_{names[b]:02d}" for b in bins]
    return out


def bundled(seed: int) -> list[Dataset]:
    """scikit-learn's diabetes and breast cancer tables with their strongest numbers binned."""
    diabetes = load_diabetes(as_frame=True)
    cancer = load_breast_cancer(as_frame=True)
    return [
        Dataset(
            "diabetes_binned",
            binned(diabetes.data, ["bmi", "s5"], seed),
            diabetes.target.to_numpy(dtype=float),
            "regression",
        ),
        Dataset(
            "breast_cancer_binned",
            binned(cancer.data, ["worst radius", "worst concave points"], seed),
            cancer.target.to_numpy(),
            "binary",
        ),
    ]


def builtin_datasets(rows: int, seed: int) -> list[Dataset]:
    kinds: tuple[TaskKind, ...] = ("binary", "regression", "multiclass")
    return [synthetic(kind, rows, seed) for kind in kinds] + bundled(seed)


def corpus_tasks(
    corpus: Path, names: Sequence[str] | None, folds: int, max_rows: int, seed: int
) -> Iterator[Task]:
    """The corpus tables with a categorical column of many levels, as the knowledge
    base's build would evaluate them (at most ``max_rows`` rows)."""
    protocol = BuildProtocol(n_splits=folds, max_rows=max_rows, random_state=seed)
    for entry in read_corpus(corpus, names):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # column roles, lonely classes: said elsewhere
            _, task, _ = evaluation_task(entry, protocol)
        if task.schema.roles.many_levels:
            yield task


# -- measurement --------------------------------------------------------------------------
def with_encoding(algorithm: Algorithm, task: Task, encoding: ManyLevels) -> Any:
    """The algorithm's default pipeline with the columns of many levels encoded so."""
    pipeline = algorithm.make_estimator(algorithm.default_params, task)
    scale = algorithm.name in SCALED
    return pipeline.set_params(
        preprocess=make_preprocessor(task, scale=scale, many_levels=encoding)
    )


def compare(task: Task, algorithm: Algorithm, source: str) -> Result:
    """Cross-validate ``algorithm`` both ways on the same splits of ``task``."""
    splits = list(task.cv.split(task.X, task.y))
    started = time.perf_counter()
    scores = {}
    for encoding in ENCODINGS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings are the same both ways
            scores[encoding] = cross_val_score(
                with_encoding(algorithm, task, encoding),
                task.X,
                task.y,
                cv=splits,
                scoring=task.scoring,
                n_jobs=1,
                error_score="raise",
            )
    return Result(
        source=source,
        dataset=task.name,
        algorithm=algorithm.name,
        scoring=task.scoring,
        ordinal=float(np.mean(scores["ordinal"])),
        target=float(np.mean(scores["target"])),
        target_wins=int(np.sum(scores["target"] > scores["ordinal"])),
        folds=len(splits),
        seconds=time.perf_counter() - started,
    )


def measure(task: Task, wanted: Sequence[str], source: str) -> list[Result]:
    offered = {a.name: a for a in algorithms_for(task)}
    results = [compare(task, offered[name], source) for name in wanted if name in offered]
    for result in results:
        print(format_result(result), flush=True)
    return results


def format_result(r: Result) -> str:
    return (
        f"  {r.dataset:<34} {r.algorithm:<14} {r.scoring:<18} ordinal {r.ordinal:8.4f}  "
        f"target {r.target:8.4f}  gain {r.gain:+8.4f}  target better on "
        f"{r.target_wins}/{r.folds} folds  ({r.seconds:.1f}s)"
    )


def summary(results: Sequence[Result], algorithms: Sequence[str], source: str) -> list[str]:
    """Per algorithm: mean and median gain over runs (dataset and seed) and how many
    target encoding won."""
    lines = [f"Per algorithm, {source} datasets and seeds (gain: target minus ordinal):"]
    for name in algorithms:
        mine = [r for r in results if r.algorithm == name and r.source == source]
        if not mine:
            continue
        gains = [r.gain for r in mine]
        won = sum(gain > 0 for gain in gains)
        lines.append(
            f"  {name:<14} mean gain {np.mean(gains):+.4f}  median {np.median(gains):+.4f}  "
            f"target better on {won}/{len(mine)} runs"
        )
    return lines


def run_seed(args: argparse.Namespace, seed: int) -> list[Result]:
    """Every built-in dataset and corpus table, measured with ``seed``."""
    results: list[Result] = []
    if not args.no_builtin:
        print(f"Built-in datasets ({args.folds}-fold CV, seed {seed}):")
        for data in builtin_datasets(args.rows, seed):
            task = Task.from_data(
                data.X, data.y, kind=data.kind, cv=args.folds, random_state=seed, name=data.name
            )
            results += measure(task, args.algorithms, "builtin")
    if args.corpus is not None:
        cap = f"at most {args.max_rows} rows, seed {seed}"
        print(f"Corpus tables with a column of many levels ({cap}):")
        for task in corpus_tasks(args.corpus, args.tasks, args.folds, args.max_rows, seed):
            levels = ", ".join(
                f"{c} ({task.X[c].nunique()} levels)" for c in task.schema.roles.many_levels
            )
            print(f" {task.name} ({task.kind}, {task.n_rows} rows): {levels}", flush=True)
            results += measure(task, args.algorithms, "corpus")
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows of the synthetic tables")
    parser.add_argument("--algorithms", nargs="+", default=list(DEFAULT_ALGORITHMS))
    parser.add_argument("--corpus", type=Path, help="also measure this corpus's tables")
    parser.add_argument("--tasks", nargs="+", help="only these corpus tables")
    parser.add_argument("--max-rows", type=int, default=2000, help="cap on corpus table rows")
    parser.add_argument("--no-builtin", action="store_true", help="corpus tables only")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    unknown = set(args.algorithms) - set(SCALED) - set(TREES)
    if unknown:
        parser.error(f"unknown algorithms {sorted(unknown)}; choose from {SCALED + TREES}")

    results: list[Result] = []
    for seed in args.seeds:
        results += run_seed(args, seed)
    for source in dict.fromkeys(r.source for r in results):
        print("\n".join(summary(results, args.algorithms, source)))
    if args.out is not None:
        rows = [{**asdict(r), "gain": r.gain} for r in results]
        args.out.write_text(json.dumps(rows, indent=1))
        print(f"Results written to {args.out}")


if __name__ == "__main__":
    main()
