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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from tqdm.auto import tqdm

from autometa._plugins import build_plugin_manager
from autometa.contract._pool import pool_summary
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, Evaluation
from autometa.knowledge._base import KnowledgeBase, TaskRecord
from autometa.knowledge._corpus import read_table
from autometa.knowledge._protocol import (
    BUILD_METADATA_KEY,
    DEFAULT_BUILD_PLUGINS,
    SKIPPED_METADATA_KEY,
    BuildProtocol,
    CorpusEntry,
    build_pools,
    family,
    manifest_hash,
    read_corpus,
    subsample,
)
from autometa.knowledge._schema import autometa_version
from autometa.search._evaluation import cross_validate_config, describe_error
from autometa.search._metafeatures import compute_meta_features

logger = logging.getLogger(__name__)

WRITE_EVERY = 20
"""Evaluations are committed in transactions of this many, so a kill loses at most these."""


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
        import_base_shards(knowledge, Path(shards_dir))
    _check_compatible(knowledge, provenance)
    knowledge.set_metadata(BUILD_METADATA_KEY, provenance)
    skipped: dict[str, str] = dict(knowledge.metadata().get(SKIPPED_METADATA_KEY, {}))
    total = sum(len(pools[family(e.kind)][1]) if e.kind else protocol.pool_size for e in entries)
    done = sum(len(knowledge.evaluated(e.name)) for e in entries if has_task(knowledge, e.name))
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
            evaluate_cells(parallel, knowledge, task, algorithms, todo, protocol, bar)
            if shards_dir is not None:
                shard = Path(shards_dir) / f"{task.task_id}.jsonl"
                if not shard.exists() or todo:
                    Path(shards_dir).mkdir(parents=True, exist_ok=True)
                    knowledge.export_jsonl(shard, task_ids=[task.task_id])
    bar.close()
    return knowledge


def has_task(knowledge: KnowledgeBase, task_id: str) -> bool:
    try:
        knowledge.task(task_id)
    except KeyError:
        return False
    return True


def _prepare_task(entry: CorpusEntry, protocol: BuildProtocol) -> tuple[Task, TaskRecord]:
    full, task, was_subsampled = evaluation_task(entry, protocol)
    started = time.perf_counter()
    meta = compute_meta_features(full)
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


def evaluation_task(entry: CorpusEntry, protocol: BuildProtocol) -> tuple[Task, Task, bool]:
    """The dataset as a task, the task its cells are evaluated on (at most ``max_rows``
    rows), and whether rows were dropped for it."""
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
    return full, task, was_subsampled


def evaluate_cells(
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


def import_base_shards(knowledge: KnowledgeBase, shards_dir: Path) -> None:
    """Bring in finished tasks exported by an earlier run (e.g. on another machine)."""
    if not shards_dir.is_dir():
        return
    missing = [p for p in sorted(shards_dir.glob("*.jsonl")) if not has_task(knowledge, p.stem)]
    if missing:
        knowledge.import_jsonl(missing)
        logger.info("imported %d task shards from %s", len(missing), shards_dir)
