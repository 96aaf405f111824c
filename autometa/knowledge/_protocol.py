"""The build protocol of a knowledge base, and the corpus it reads.

What every cell of a dense knowledge base was measured under (folds, row cap, time cap,
pool) and the datasets it comes from: data that leave-one-task-out evaluation, replay
and the cost model read too. Running the build (:mod:`autometa._build`) sits above the
search, whose trial code it uses; this module needs nothing of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from autometa._plugins import Plugins
from autometa.contract._pool import make_pool
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, TaskKind
from autometa.knowledge._corpus import dataset_name

logger = logging.getLogger(__name__)

BUILD_METADATA_KEY = "build"
SKIPPED_METADATA_KEY = "build_skipped"
DEFAULT_BUILD_PLUGINS = ("sklearn",)
"""Installed plugins whose algorithms make up the pool of the shipped knowledge base."""


@dataclass(frozen=True)
class BuildProtocol:
    """How every cell of the knowledge base is evaluated; recorded in its metadata."""

    n_splits: int = 3
    max_rows: int = 2000
    time_limit_s: float = 20.0
    pool_size: int = 300
    random_state: int = 0

    def __post_init__(self) -> None:
        if self.n_splits < 2 or self.max_rows < 20 or self.time_limit_s <= 0:
            raise ValueError(f"Invalid build protocol: {self}")
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be positive, got {self.pool_size}")


@dataclass(frozen=True)
class CorpusEntry:
    """One dataset file of the corpus and the kind its manifest gives (if any)."""

    name: str
    path: Path
    kind: TaskKind | None


def family(kind: TaskKind) -> str:
    """Binary and multiclass tasks share one classification pool."""
    return "regression" if kind == "regression" else "classification"


def read_corpus(corpus_dir: str | Path, names: Iterable[str] | None = None) -> list[CorpusEntry]:
    """The datasets of a corpus folder: ``data/*.csv.gz`` (or the folder itself) + manifest."""
    root = Path(corpus_dir)
    if not root.is_dir():
        raise ValueError(f"Corpus folder {root} does not exist.")
    data_dir = root / "data" if (root / "data").is_dir() else root
    kinds: dict[str, TaskKind] = {}
    manifest = root / "manifest.json"
    if manifest.is_file():
        kinds = {entry["name"]: entry["task"] for entry in json.loads(manifest.read_text())}
    files = sorted(
        p for p in data_dir.iterdir() if p.name.endswith((".csv", ".csv.gz", ".parquet"))
    )
    entries = [CorpusEntry(dataset_name(p), p, kinds.get(dataset_name(p))) for p in files]
    if names is not None:
        wanted = set(names)
        unknown = wanted - {e.name for e in entries}
        if unknown:
            raise ValueError(f"Datasets not in {data_dir}: {sorted(unknown)}")
        entries = [e for e in entries if e.name in wanted]
    if not entries:
        raise ValueError(f"No CSV or Parquet files in {data_dir}.")
    return entries


def manifest_hash(corpus_dir: str | Path) -> str | None:
    manifest = Path(corpus_dir) / "manifest.json"
    if not manifest.is_file():
        return None
    return hashlib.sha256(manifest.read_bytes()).hexdigest()


def reference_task(kind: TaskKind, protocol: BuildProtocol) -> Task:
    """A synthetic task of the capped size: the spaces the pool is drawn from."""
    rng = np.random.default_rng(protocol.random_state)
    n = protocol.max_rows
    X = rng.normal(size=(n, 2))
    y: np.ndarray = np.arange(n) % 2 if kind != "regression" else rng.normal(size=n)
    return Task.from_data(X, y, kind=kind, cv=protocol.n_splits, random_state=protocol.random_state)


def build_pools(
    plugins: Plugins, protocol: BuildProtocol
) -> dict[str, tuple[dict[str, Algorithm], list[Config]]]:
    """The algorithms and the pool of each family (classification, regression)."""
    pools = {}
    kinds: tuple[TaskKind, ...] = ("binary", "regression")
    for kind in kinds:
        task = reference_task(kind, protocol)
        algorithms = plugins.algorithms(task)
        pools[family(kind)] = (
            algorithms,
            make_pool(algorithms, task, protocol.pool_size, protocol.random_state),
        )
    return pools


def subsample(
    X: pd.DataFrame, y: pd.Series, kind: TaskKind, max_rows: int, random_state: int
) -> tuple[pd.DataFrame, pd.Series, bool]:
    """At most ``max_rows`` rows, stratified for classification, every class kept twice."""
    if len(X) <= max_rows:
        return X, y, False
    stratify = y if kind != "regression" and y.value_counts().min() >= 2 else None
    index = np.arange(len(X))
    chosen, _ = train_test_split(
        index, train_size=max_rows, stratify=stratify, random_state=random_state
    )
    if kind != "regression":  # a rare class must keep two rows to stay cross-validatable
        labels = y.to_numpy()
        for label in pd.unique(labels):
            rows = np.flatnonzero(labels == label)
            kept = np.intersect1d(rows, chosen)
            if len(kept) < 2:
                extra = np.setdiff1d(rows, kept)[: 2 - len(kept)]
                chosen = np.concatenate([chosen, extra])
    chosen = np.sort(chosen)
    return X.iloc[chosen].reset_index(drop=True), y.iloc[chosen].reset_index(drop=True), True
