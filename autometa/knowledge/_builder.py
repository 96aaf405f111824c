"""Build a dense knowledge base from a folder of datasets: ``autometa kb build``.

Every dataset gets its meta-features and then every configuration of one shared pool,
evaluated with one protocol (k-fold CV on at most ``max_rows`` rows, a time cap per
evaluation), so the score matrix tasks x configurations is dense and comparable.

The build is resumable: evaluations are written in small transactions as they finish,
and a rerun skips every (task, configuration) cell already stored. With ``shards_dir``,
each finished task is also exported as a JSON Lines file that never changes afterwards,
so a build kept in git grows by whole files; a rerun on a new machine imports the
shards first and carries on from there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from autometa._plugins import Plugins, build_plugin_manager
from autometa.contract._pool import make_pool, pool_summary
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, Evaluation, TaskKind
from autometa.knowledge._base import KnowledgeBase, TaskRecord
from autometa.knowledge._corpus import dataset_name, read_table
from autometa.knowledge._schema import autometa_version
from autometa.search._evaluation import cross_validate_config, describe_error
from autometa.search._metafeatures import compute_meta_features

logger = logging.getLogger(__name__)

BUILD_METADATA_KEY = "build"
SKIPPED_METADATA_KEY = "build_skipped"
DEFAULT_BUILD_PLUGINS = ("sklearn",)
"""Installed plugins whose algorithms make up the pool of the shipped knowledge base."""
WRITE_EVERY = 20
"""Evaluations are committed in transactions of this many, so a kill loses at most these."""


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


def build_knowledge_base(
    corpus_dir: str | Path,
    out: str | Path,
    *,
    protocol: BuildProtocol | None = None,
    datasets: Iterable[str] | None = None,
    shards_dir: str | Path | None = None,
    n_jobs: int = -1,
    progress: bool = True,
    plugins: Sequence[object] = (),
    allowed: Sequence[str] = DEFAULT_BUILD_PLUGINS,
) -> KnowledgeBase:
    """Evaluate the shared pool on every dataset of ``corpus_dir`` into ``out``.

    The pool comes from the installed plugins named in ``allowed`` (by default only the
    first-party catalogue) plus ``plugins`` passed in, so whatever else is installed
    cannot change it. Rerunning with the same arguments resumes; rerunning with a
    different protocol or pool into the same ``out`` is refused (cells would not be
    comparable).
    """
    protocol = protocol or BuildProtocol()
    entries = read_corpus(corpus_dir, datasets)
    manager = build_plugin_manager(plugins, allowed=allowed)
    pools = build_pools(manager, protocol)
    provenance = {
        "autometa_version": autometa_version(),
        "plugins": {i.name: i.version for i in manager.info()},
        "protocol": asdict(protocol),
        "corpus_manifest_sha256": manifest_hash(corpus_dir),
        "pools": {
            name: {
                "size": len(pool),
                "per_algorithm": pool_summary(pool),
                "sha256": hashlib.sha256("\n".join(c.key for c in pool).encode()).hexdigest(),
            }
            for name, (_, pool) in pools.items()
        },
    }
    knowledge = KnowledgeBase.open(out)
    if shards_dir is not None:
        _import_shards(knowledge, Path(shards_dir))
    _check_compatible(knowledge, provenance)
    knowledge.set_metadata(BUILD_METADATA_KEY, provenance)
    skipped: dict[str, str] = dict(knowledge.metadata().get(SKIPPED_METADATA_KEY, {}))
    total = sum(len(pools[family(e.kind)][1]) if e.kind else protocol.pool_size for e in entries)
    done = sum(len(knowledge.evaluated(e.name)) for e in entries if _has_task(knowledge, e.name))
    bar = tqdm(
        total=total,
        initial=done,
        disable=not progress,
        unit="eval",
        mininterval=2.0,
        smoothing=0.05,
    )
    with joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered") as parallel:
        for entry in entries:
            bar.set_description(entry.name[:24])
            try:
                task, record = _prepare_task(entry, protocol)
            except (ValueError, TypeError, OSError) as exc:
                skipped[entry.name] = describe_error(exc)
                logger.warning("skipping %s: %s", entry.name, skipped[entry.name])
                knowledge.set_metadata(SKIPPED_METADATA_KEY, skipped)
                continue
            algorithms, pool = pools[family(task.kind)]
            knowledge.add_task(record, replace_meta_features=False)
            finished = knowledge.evaluated(task.task_id)
            todo = [c for c in pool if c.key not in finished]
            _evaluate_cells(parallel, knowledge, task, algorithms, todo, protocol, bar)
            if shards_dir is not None:
                shard = Path(shards_dir) / f"{task.task_id}.jsonl"
                if not shard.exists() or todo:
                    Path(shards_dir).mkdir(parents=True, exist_ok=True)
                    knowledge.export_jsonl(shard, task_ids=[task.task_id])
    bar.close()
    return knowledge


def _has_task(knowledge: KnowledgeBase, task_id: str) -> bool:
    try:
        knowledge.task(task_id)
    except KeyError:
        return False
    return True


def _prepare_task(entry: CorpusEntry, protocol: BuildProtocol) -> tuple[Task, TaskRecord]:
    X, y = read_table(entry.path, "target")
    full = Task.from_data(
        X,
        y,
        kind=entry.kind,
        cv=protocol.n_splits,
        random_state=protocol.random_state,
        name=entry.name,
        task_id=entry.name,
    )
    started = time.perf_counter()
    meta = compute_meta_features(full)
    X_sub, y_sub, was_subsampled = subsample(
        X, y, full.kind, protocol.max_rows, protocol.random_state
    )
    task = Task.from_data(
        X_sub,
        y_sub,
        kind=full.kind,
        cv=protocol.n_splits,
        random_state=protocol.random_state,
        name=entry.name,
        task_id=entry.name,
    )
    record = TaskRecord(
        task_id=entry.name,
        name=entry.name,
        kind=full.kind,
        scoring=full.scoring,
        meta_features=dict(meta.values),
        provenance={
            "source": str(entry.path.name),
            "n_rows": full.n_rows,
            "n_rows_evaluated": task.n_rows,
            "subsampled": was_subsampled,
            "meta_feature_seconds": round(time.perf_counter() - started, 3),
        },
    )
    return task, record


def _evaluate_cells(
    parallel: joblib.Parallel,
    knowledge: KnowledgeBase,
    task: Task,
    algorithms: dict[str, Algorithm],
    todo: Sequence[Config],
    protocol: BuildProtocol,
    bar: Any,
) -> None:
    if not todo:
        return
    splits = list(task.cv.split(task.X, task.y))
    calls = (
        joblib.delayed(_evaluate_one)(
            config, algorithms[config.algorithm], task, splits, protocol.time_limit_s
        )
        for config in todo
    )
    pending: list[Evaluation] = []
    for evaluation in parallel(calls):
        pending.append(evaluation)
        bar.update(1)
        if len(pending) >= WRITE_EVERY:
            knowledge.add_evaluations(pending)
            pending = []
    if pending:
        knowledge.add_evaluations(pending)


def _evaluate_one(
    config: Config,
    algorithm: Algorithm,
    task: Task,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    time_limit_s: float,
) -> Evaluation:
    """Worker: build and cross-validate one configuration; never raises."""
    try:
        estimator = algorithm.make_estimator(config.params, task)
    except Exception as exc:
        return Evaluation(task.task_id, config, float("nan"), 0.0, "failed", describe_error(exc))
    result = cross_validate_config(estimator, task.X, task.y, splits, task.scoring, time_limit_s)
    # Six significant digits and milliseconds are far below the noise between CV splits;
    # the shorter numbers keep the shipped shards small.
    return Evaluation(
        task.task_id,
        config,
        float(f"{result.score:.6g}"),
        round(result.fit_time, 3),
        result.status,
        result.error,
    )


def _check_compatible(knowledge: KnowledgeBase, provenance: dict[str, Any]) -> None:
    existing = knowledge.metadata().get(BUILD_METADATA_KEY)
    if not existing:
        return
    for key in ("protocol", "pools"):
        if existing.get(key) != provenance[key]:
            raise ValueError(
                f"{knowledge!r} was built with a different {key} "
                f"({json.dumps(existing.get(key), sort_keys=True)[:200]}...); its cells would "
                "not be comparable. Build into a new --out file, or use the same options."
            )


def _import_shards(knowledge: KnowledgeBase, shards_dir: Path) -> None:
    """Bring in finished tasks exported by an earlier run (e.g. on another machine)."""
    if not shards_dir.is_dir():
        return
    missing = [p for p in sorted(shards_dir.glob("*.jsonl")) if not _has_task(knowledge, p.stem)]
    if missing:
        knowledge.import_jsonl(missing)
        logger.info("imported %d task shards from %s", len(missing), shards_dir)
