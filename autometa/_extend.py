"""Extend a built knowledge base with newly installed algorithms: ``kb build --extend``.

A base built by :func:`autometa._build.build_knowledge_base` holds one pool measured on
every task. A plugin installed later adds algorithms the base has never seen, so the
meta-learners cannot recommend them. Rebuilding every cell to include them costs CPU-hours;
extending evaluates only the new cells: each new algorithm gets its own small pool (its
default plus a space-filling sample, drawn as the base's pool was), measured on every
task of the base under the base's own protocol.

Each extended algorithm records its provenance under the metadata key
``extension:<algorithm>`` (the plugin, its distribution and version, the pool's size and
hash), so a base says which plugin produced which cells. With ``shards_dir``, the new cells
of each finished task go to ``<shards_dir>/<algorithm>/<task>.jsonl``, beside the base's
own shards and never touching them; a rerun imports them first and carries on, as a
build does.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
from tqdm.auto import tqdm

from autometa._build import evaluate_cells, evaluation_task, has_task, import_base_shards
from autometa._plugins import Plugins, build_plugin_manager
from autometa.contract._pool import make_pool
from autometa.contract._types import Algorithm, Config
from autometa.knowledge._base import KnowledgeBase
from autometa.knowledge._jsonl_files import write_file
from autometa.knowledge._protocol import (
    BUILD_METADATA_KEY,
    BuildProtocol,
    family,
    read_corpus,
    reference_task,
)
from autometa.knowledge._records import Bundle
from autometa.knowledge._schema import autometa_version

logger = logging.getLogger(__name__)

EXTENSION_METADATA_PREFIX = "extension:"
"""Metadata key prefix of an extended algorithm's provenance."""

DEFAULT_CONFIGS_PER_ALGORITHM = 34
"""Pool size of an extended algorithm: about what each algorithm has in the shipped pool
(300 configurations over 8 or 9 algorithms)."""

FAMILIES = ("classification", "regression")


@dataclass(frozen=True)
class _Extension:
    """One algorithm being added: what the base records of it, and its pool per family."""

    provenance: dict[str, Any]
    algorithms: dict[str, Algorithm]  # by family: an algorithm may differ per family
    pools: dict[str, list[Config]]


def extended_algorithms(knowledge: KnowledgeBase) -> dict[str, dict[str, Any]]:
    """The provenance of every algorithm added to ``knowledge`` by an extension."""
    return {
        key[len(EXTENSION_METADATA_PREFIX) :]: value
        for key, value in knowledge.metadata().items()
        if key.startswith(EXTENSION_METADATA_PREFIX)
    }


def extend_knowledge_base(
    corpus_dir: str | Path,
    out: str | Path,
    *,
    algorithms: Sequence[str] | None = None,
    configs_per_algorithm: int = DEFAULT_CONFIGS_PER_ALGORITHM,
    protocol: BuildProtocol | None = None,
    datasets: Iterable[str] | None = None,
    shards_dir: str | Path | None = None,
    n_jobs: int = -1,
    progress: bool = True,
    plugins: Sequence[object] = (),
) -> KnowledgeBase:
    """Evaluate the installed algorithms the base at ``out`` lacks on its tasks.

    :param corpus_dir: the corpus the base was built from (its tasks' data).
    :param algorithms: the algorithms to add (by default every installed one the base has
        no pool for); naming one the base already holds, or one no plugin offers, fails.
    :param configs_per_algorithm: each new algorithm's pool size (default included).
    :param protocol: if given, it must equal the protocol the base was built with: cells
        measured otherwise would not be comparable, so a different one is refused.
    :param shards_dir: the base's shard folder: base shards are imported first, and each
        algorithm's new cells are exported per task to its own subfolder.

    Rerunning with the same arguments resumes; a different pool for an algorithm already
    being added (another ``configs_per_algorithm``) is refused.
    """
    if configs_per_algorithm < 1:
        raise ValueError(f"configs_per_algorithm must be positive, got {configs_per_algorithm}.")
    knowledge = KnowledgeBase.open(out)
    if shards_dir is not None:
        import_base_shards(knowledge, Path(shards_dir))
    stored = _stored_protocol(knowledge)
    if protocol is not None and asdict(protocol) != asdict(stored):
        raise ValueError(
            f"{knowledge!r} was built with {stored}, not {protocol}; cells measured under "
            "another protocol would not be comparable with the base's. Leave the protocol "
            "options out to use the base's own."
        )
    manager = build_plugin_manager(plugins)
    pools = _extension_pools(knowledge, manager, stored, algorithms, configs_per_algorithm)
    if shards_dir is not None:
        _import_extension_shards(knowledge, Path(shards_dir), pools)
    for name, extension in pools.items():
        knowledge.set_metadata(EXTENSION_METADATA_PREFIX + name, extension.provenance)
    tasks = {record.task_id: record for record in knowledge.tasks()}
    entries = [e for e in read_corpus(corpus_dir, datasets) if e.name in tasks]
    if not entries:
        raise ValueError(
            f"None of {knowledge!r}'s tasks is a dataset of {corpus_dir}; extend a base "
            "from the corpus it was built from."
        )
    total = sum(len(x.pools[family(tasks[e.name].kind)]) for x in pools.values() for e in entries)
    done = sum(
        len({c.key for c in x.pools[family(tasks[e.name].kind)]} & set(knowledge.evaluated(e.name)))
        for x in pools.values()
        for e in entries
    )
    bar = tqdm(total=total, initial=done, disable=not progress, unit="eval", mininterval=2.0)
    with joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered") as parallel:
        for entry in entries:
            bar.set_description(entry.name[:24])
            kind_family = family(tasks[entry.name].kind)
            finished = knowledge.evaluated(entry.name)
            todo = {
                name: [c for c in x.pools[kind_family] if c.key not in finished]
                for name, x in pools.items()
            }
            if any(todo.values()):
                task = evaluation_task(entry, stored)[1]
                for name, x in pools.items():
                    if todo[name]:
                        one = {name: x.algorithms[kind_family]}
                        evaluate_cells(parallel, knowledge, task, one, todo[name], stored, bar)
            if shards_dir is not None:
                for name, x in pools.items():
                    shard = Path(shards_dir) / name / f"{entry.name}.jsonl"
                    if todo[name] or not shard.exists():
                        _write_extension_shard(knowledge, shard, entry.name, name, x, kind_family)
    bar.close()
    return knowledge


def _stored_protocol(knowledge: KnowledgeBase) -> BuildProtocol:
    build = knowledge.metadata().get(BUILD_METADATA_KEY)
    if not build or "protocol" not in build:
        raise ValueError(
            f"{knowledge!r} has no build record, so there is no protocol to extend it under; "
            "extend a base made by `autometa kb build` (or build this one first)."
        )
    return BuildProtocol(**build["protocol"])


def _extension_pools(
    knowledge: KnowledgeBase,
    manager: Plugins,
    protocol: BuildProtocol,
    wanted: Sequence[str] | None,
    configs_per_algorithm: int,
) -> dict[str, _Extension]:
    """Each algorithm to add, by name."""
    build = knowledge.metadata()[BUILD_METADATA_KEY]
    in_base = {name for pool in build.get("pools", {}).values() for name in pool["per_algorithm"]}
    extended = extended_algorithms(knowledge)
    offered: dict[str, dict[str, Algorithm]] = {}
    sources: dict[str, Any] = {}
    for kind in ("binary", "regression"):
        task = reference_task(kind, protocol)
        for name, algorithm in manager.algorithms(task).items():
            offered.setdefault(name, {})[family(kind)] = algorithm
        sources.update(manager.algorithm_sources(task))
    if wanted is None:
        names = sorted(set(offered) - in_base)
    else:
        names = sorted(set(wanted))
        if unknown := [n for n in names if n not in offered]:
            raise ValueError(
                f"No installed plugin offers {unknown}; installed algorithms: {sorted(offered)}."
            )
        if held := [n for n in names if n in in_base]:
            raise ValueError(
                f"{held} are in the base's own pool already; extend adds algorithms it lacks."
            )
    pools = {}
    for name in names:
        pool = {
            f: make_pool(
                {name: offered[name][f]},
                reference_task("binary" if f == "classification" else "regression", protocol),
                configs_per_algorithm,
                protocol.random_state,
            )
            if f in offered[name]
            else []
            for f in FAMILIES
        }
        info = sources[name]
        provenance = {
            "plugin": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "autometa_version": autometa_version(),
            "configs_per_algorithm": configs_per_algorithm,
            "pools": {f: _pool_record(pool[f]) for f in FAMILIES},
        }
        earlier = extended.get(name)
        if earlier is not None and earlier["pools"] != provenance["pools"]:
            raise ValueError(
                f"{knowledge!r} is being extended with another pool of {name!r} "
                f"({earlier['configs_per_algorithm']} configurations per family, plugin "
                f"version {earlier['version']}); resume with the same options and plugin "
                "version, or extend a copy of the base."
            )
        pools[name] = _Extension(provenance, offered[name], pool)
    if not pools:
        logger.info("every installed algorithm is in %r already; nothing to extend", knowledge)
    return pools


def _pool_record(pool: Sequence[Config]) -> dict[str, Any]:
    return {
        "size": len(pool),
        "sha256": hashlib.sha256("\n".join(c.key for c in pool).encode()).hexdigest(),
    }


def _write_extension_shard(
    knowledge: KnowledgeBase,
    shard: Path,
    task_id: str,
    name: str,
    extension: _Extension,
    kind_family: str,
) -> None:
    """The task's cells of one extended algorithm, with that algorithm's provenance only:
    the base's shard of the task holds the task itself and stays as it is."""
    pool = extension.pools[kind_family]
    keys = {c.key for c in pool}
    bundle = Bundle(
        metadata={EXTENSION_METADATA_PREFIX + name: extension.provenance},
        configs={c.key: c for c in pool},
        evaluations=[e for e in knowledge.evaluations(task_id) if e.config.key in keys],
    )
    shard.parent.mkdir(parents=True, exist_ok=True)
    write_file(shard, bundle)


def _import_extension_shards(
    knowledge: KnowledgeBase, shards_dir: Path, pools: dict[str, _Extension]
) -> None:
    """Bring in the extension shards an earlier run exported (e.g. on another machine)."""
    for name in pools:
        folder = shards_dir / name
        if not folder.is_dir():
            continue
        missing = [
            p
            for p in sorted(folder.glob("*.jsonl"))
            if has_task(knowledge, p.stem) and not _has_algorithm_cells(knowledge, p.stem, name)
        ]
        if missing:
            knowledge.import_jsonl(missing)
            logger.info("imported %d %s shards from %s", len(missing), name, folder)


def _has_algorithm_cells(knowledge: KnowledgeBase, task_id: str, algorithm: str) -> bool:
    return any(e.config.algorithm == algorithm for e in knowledge.evaluations(task_id))
