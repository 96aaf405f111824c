"""The learned part of the shipped strategy selector: which meta-learner, per task.

A :class:`~autometa_selectors.selection.PairwiseSelector` (auto-sklearn 2's pairwise random
forests over meta-features) is trained on how each registered meta-learner did on every
task of the knowledge base in use, measured by leave-one-task-out, and chooses the
learner for the new task. Its training data (:class:`~autometa_selectors.selection.SelectorData`,
plain JSON) must describe *that* knowledge base; it is found, first that fits:

1. **shipped**: ``autometa_selectors/data/selector_training.json``, written by ``autometa kb
   evaluate --save-selector-data`` on the shipped knowledge base. Used when its task
   fingerprints equal the knowledge base's and it covers two or more offered learners.
   The shipped base itself is never measured at fit time (that would cost every user
   minutes): when the file is stale, the selector learns from the tasks it still
   describes, and abstains without it.
2. **cached / computed**: a file in autometa's cache folder (``AUTOMETA_CACHE_DIR``,
   else ``$XDG_CACHE_HOME/autometa`` or ``~/.cache/autometa``) named after the knowledge
   base's fingerprint and the learners' names. On a miss, rows are reused from any
   stored file for tasks whose own content (task fingerprint) is unchanged; only the
   new or changed tasks are held out by leave-one-task-out now (logged, then cached).
   A knowledge base that grows by one task per fit so costs one held-out task per fit,
   not a full run. (A reused row was measured against the base as it was then.)

With fewer than :data:`MIN_TRAINING_TASKS` tasks, no task of the new task's kind, or
fewer than two learners to choose from, it returns None and the rule-based selector
answers.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autometa.knowledge._base import (
    DEFAULT_CACHE_PREFIX,
    DEFAULT_LOCATION,
    KnowledgeBase,
    default_cache_dir,
)
from autometa.knowledge._loto import DEFAULT_KS, leave_one_task_out
from autometa_selectors.selection import Choice, PairwiseSelector, SelectorData, TrainingSet
from autometa_selectors.stored import (
    load_selector,
    save_selector,
    stored_files,
    stored_path,
    training_key,
)

if TYPE_CHECKING:
    from importlib.abc import Traversable

    from autometa.contract import MetaLearner, TaskKind

logger = logging.getLogger(__name__)

MIN_TRAINING_TASKS = 20
"""Fewer held-out tasks than this and the selector does not learn: each pairwise forest
would see a handful of informative tasks, and its out-of-bag check would be noise."""
SHIPPED_DATA = "selector_training.json"
MAX_MEASURED_IN_FIT = 25
"""Most tasks a fit measures by leave-one-task-out for the selector (a few seconds each);
a base with more unmeasured tasks uses the rows it has, so no fit stalls for minutes."""
CACHE_PREFIX = "selector-"
MAX_CACHE_FILES = 8
"""Newest cached training-data files kept (one per knowledge-base content and learners)."""
SELECTOR_SEED = 0
"""The forests' seed: a task gets the same learner whatever the fit's random_state."""


SHIPPED_SELECTOR = "selector_forests.npz"
"""The selector fitted on the shipped data for the first-party learners (as data)."""


def shipped_selector() -> Traversable:
    """Where the selector fitted on the shipped training data lives in the package.

    It saves the first fit on a fresh machine (about a second); it is used only when its
    key (training set, parameters, scikit-learn version) is the fit's. Rewrite it with
    :func:`write_shipped_selector` after the shipped base or training data change.
    """
    return resources.files("autometa_selectors").joinpath("data").joinpath(SHIPPED_SELECTOR)


def write_shipped_selector(path: Path | None = None) -> Path:
    """Fit the selector a default fit on the shipped base uses and store it at ``path``
    (default: the package's ``data/selector_forests.npz``)."""
    from autometa._plugins import build_plugin_manager

    knowledge = KnowledgeBase.default()
    offered = sorted(build_plugin_manager().meta_learners())
    found = training_data(knowledge, offered)
    if found is None:
        raise ValueError("the shipped base has no selector training data to fit on")
    records = {record.task_id: record for record in knowledge.tasks()}
    training = TrainingSet.build(found[0], records)
    selector = PairwiseSelector(random_state=SELECTOR_SEED).fit(training)
    target = Path(str(shipped_selector())) if path is None else path
    save_selector(selector, target, training_key(training, selector))
    return target


def shipped_data() -> Traversable:
    """Where the shipped knowledge base's selector training data lives in the package."""
    return resources.files("autometa_selectors").joinpath("data").joinpath(SHIPPED_DATA)


def choose_learner(
    kind: TaskKind,
    meta_features: Mapping[str, float],
    knowledge: KnowledgeBase,
    meta_learners: Sequence[str],
    *,
    shipped: Traversable | None = None,
    cache_dir: Path | None = None,
    learners: Mapping[str, type[MetaLearner]] | None = None,
) -> Choice | None:
    """The learner the pairwise selector chooses for a new task, or None to abstain.

    :param meta_learners: the names offered in this fit; only these may be chosen.
    :param shipped: the shipped training data (default :func:`shipped_data`).
    :param cache_dir: where computed training data is cached (default autometa's).
    :param learners: classes to run leave-one-task-out with when data must be computed
        (default: the installed plugins' learners); offered names without a class are
        skipped.
    """
    offered = sorted(set(meta_learners))
    if len(offered) < 2 or not knowledge.tasks(kind=kind):
        return None
    found = training_data(
        knowledge, offered, shipped=shipped, cache_dir=cache_dir, learners=learners
    )
    if found is None:
        return None
    data, source = found
    records = {record.task_id: record for record in knowledge.tasks()}
    training = TrainingSet.build(data, records)  # data.learners: offered ones only
    selector = fitted_selector(training, default_cache_dir() if cache_dir is None else cache_dir)
    choice = selector.choose(meta_features, kind)
    return Choice(choice.learner, choice.wins, f"{choice.reason} ({source})")


def fitted_selector(training: TrainingSet, cache_dir: Path) -> PairwiseSelector:
    """The selector fitted on ``training``: fitted once per training set and kept (in this
    process, and in ``cache_dir`` for the next; :mod:`autometa_selectors.stored`)."""
    selector = PairwiseSelector(random_state=SELECTOR_SEED)
    return _fitted(_Fit(training_key(training, selector), cache_dir, training))


@dataclass(frozen=True)
class _Fit:
    """What to fit, keyed by the hash of the training set (the set itself is not part of
    the key: equal hashes mean equal sets)."""

    key: str
    cache_dir: Path
    training: TrainingSet = field(compare=False, hash=False, repr=False)


@functools.lru_cache(maxsize=8)
def _fitted(fit: _Fit) -> PairwiseSelector:
    """The stored selector of ``fit.key`` (cached, or shipped with the package) if its
    file loads, else a fit (then cached)."""
    path = stored_path(fit.cache_dir, fit.key)
    if path.is_file():
        try:
            return load_selector(path, fit.key)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.info("strategy selector: refitting, %s is unusable: %s", path, exc)
    shipped = shipped_selector()
    if shipped.is_file():
        try:
            return load_selector(Path(str(shipped)), fit.key)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Another training set (a user's base, other learners) or scikit-learn version.
            logger.debug("strategy selector: not the shipped fit: %s", exc)
    selector = PairwiseSelector(random_state=SELECTOR_SEED).fit(fit.training)
    save_selector(selector, path, fit.key)
    for stale in stored_files(fit.cache_dir)[MAX_CACHE_FILES:]:
        if stale != path:
            stale.unlink(missing_ok=True)
    return selector


def training_data(
    knowledge: KnowledgeBase,
    offered: Sequence[str],
    *,
    shipped: Traversable | None = None,
    cache_dir: Path | None = None,
    learners: Mapping[str, type[MetaLearner]] | None = None,
) -> tuple[SelectorData, str] | None:
    """Training data that describes ``knowledge`` for the ``offered`` learners, and its
    source in words; None when the base is too small or too few learners can be measured.

    A layered base (by default the user's own fits over the shipped base) is described by
    its lowest layer: a fit stores the few configurations it tried, too few for
    leave-one-task-out to measure a learner on, and measuring each new fit would cost
    every later fit that time.
    """
    knowledge = knowledge.layers[0]
    if knowledge.counts()["tasks"] < MIN_TRAINING_TASKS:
        logger.info(
            "strategy selector: %s has fewer than %d tasks; not learning from it",
            knowledge.location,
            MIN_TRAINING_TASKS,
        )
        return None
    shipped = shipped_data() if shipped is None else shipped
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    if is_shipped_base(knowledge) and not shipped.is_file():
        logger.info("strategy selector: no %s ships with this autometa", SHIPPED_DATA)
        return None  # before reading fingerprints: this is every default fit's path
    fingerprints = knowledge.task_fingerprints()
    stored = _stored(shipped, cache_dir)
    if stored and stored[0][1] == "shipped":
        data = stored[0][0]
        covered = [name for name in data.learners if name in set(offered)]
        if data.task_fingerprints == fingerprints and len(covered) >= 2:
            return _enough(data.restricted(covered), "shipped")
        if is_shipped_base(knowledge) and len(covered) >= 2:
            # The package's own base is never measured at fit time: its data is made by
            # `autometa kb evaluate --save-selector-data`; learn from the rows that fit.
            partial, missing = _reuse(fingerprints, covered, [data])
            logger.info(
                "strategy selector: the shipped training data misses %d changed or new "
                "tasks of the shipped knowledge base; regenerate %s",
                len(missing),
                SHIPPED_DATA,
            )
            return _enough(partial, f"shipped, {len(missing)} tasks missing")
    if is_shipped_base(knowledge):
        return None
    if learners is None:
        from autometa._plugins import build_plugin_manager

        learners = build_plugin_manager().meta_learners()
    wanted = sorted(name for name in offered if name in learners)
    if len(wanted) < 2:
        return None
    cache = cache_dir / _cache_name(knowledge.fingerprint(fingerprints), wanted)
    data, missing = _reuse(fingerprints, wanted, [d for d, _ in stored])
    missing = _evaluable(knowledge, missing)
    if len(missing) > MAX_MEASURED_IN_FIT:
        logger.info(
            "strategy selector: %d tasks of %s have no training data; measuring them would "
            "cost a leave-one-task-out run inside this fit, so only the %d reused rows are "
            "used (run `autometa kb evaluate %s --selector --save-selector-data FILE` to "
            "measure them once)",
            len(missing),
            knowledge.location,
            len(data.regrets),
            knowledge.location,
        )
        return _enough(data, "reused rows only")
    if missing:
        data = _measure(knowledge, data, {name: learners[name] for name in wanted}, missing)
    if missing or not cache.is_file():
        _store(data, cache)
    return _enough(data, f"{'computed now and ' if missing else ''}cached in {cache}")


def _measure(
    knowledge: KnowledgeBase,
    data: SelectorData,
    learners: Mapping[str, type[MetaLearner]],
    task_ids: Sequence[str],
) -> SelectorData:
    """``data`` completed by a leave-one-task-out of ``learners`` on ``task_ids``."""
    logger.warning(
        "strategy selector: measuring meta-learners %s by leave-one-task-out on %d new or "
        "changed tasks of %s (%d reused); done once, then cached",
        ", ".join(sorted(learners)),
        len(task_ids),
        knowledge.location,
        len(data.regrets),
    )
    report = leave_one_task_out(knowledge, learners, ks=data.ks, task_ids=task_ids)
    fresh = SelectorData.from_report(report, data.task_fingerprints)
    regrets = {**data.regrets, **fresh.regrets}
    return SelectorData(fresh.ks, fresh.learners, regrets, data.task_fingerprints)


def is_shipped_base(knowledge: KnowledgeBase) -> bool:
    """Whether ``knowledge`` is :meth:`KnowledgeBase.default` (parsed, or its cache file)."""
    if knowledge.location == DEFAULT_LOCATION:
        return True
    path = Path(knowledge.location)
    return path.name.startswith(DEFAULT_CACHE_PREFIX) and path.parent == default_cache_dir()


def _enough(data: SelectorData, source: str) -> tuple[SelectorData, str] | None:
    if len(data.regrets) < MIN_TRAINING_TASKS:
        logger.info(
            "strategy selector: %d tasks with evaluations, fewer than %d; not learning",
            len(data.regrets),
            MIN_TRAINING_TASKS,
        )
        return None
    return data, (
        f"trained on {len(data.learners)} learners' leave-one-task-out regrets on "
        f"{len(data.regrets)} tasks, {source}"
    )


def _reuse(
    fingerprints: Mapping[str, str], wanted: Sequence[str], stored: Sequence[SelectorData]
) -> tuple[SelectorData, list[str]]:
    """Rows of ``stored`` data for unchanged tasks, and the tasks no stored data settles.

    A task is settled by a file that saw it with the same fingerprint: by its row (if the
    row has every wanted learner), or by its absence from the rows (it had too few
    evaluations to hold out, which depends only on its own content).
    """
    regrets: dict[str, dict[str, list[float]]] = {}
    settled: set[str] = set()
    ks: tuple[int, ...] | None = None
    for data in stored:
        if ks is not None and data.ks != ks:
            continue
        for task_id, fingerprint in fingerprints.items():
            if task_id in settled or data.task_fingerprints.get(task_id) != fingerprint:
                continue
            if task_id not in data.regrets:
                settled.add(task_id)
            elif set(wanted) <= set(data.regrets[task_id]):
                regrets[task_id] = {name: list(data.regrets[task_id][name]) for name in wanted}
                settled.add(task_id)
                ks = data.ks
    missing = sorted(set(fingerprints) - settled)
    return SelectorData(ks or DEFAULT_KS, tuple(wanted), regrets, dict(fingerprints)), missing


def _evaluable(knowledge: KnowledgeBase, task_ids: Sequence[str]) -> list[str]:
    """The ``task_ids`` leave-one-task-out can hold out: two or more ok scores."""
    if not task_ids:
        return []
    wanted = set(task_ids)
    out = []
    for kind in sorted({r.kind for r in knowledge.tasks() if r.task_id in wanted}):
        table = knowledge.score_table(kind)
        for row, task_id in enumerate(table.task_ids):
            if task_id in wanted and np.isfinite(table.scores[row]).sum() >= 2:
                out.append(task_id)
    return sorted(out)


def _stored(shipped: Traversable, cache_dir: Path) -> list[tuple[SelectorData, str]]:
    """The shipped data (first, if present) and cached files (newest first) that parse."""
    found = []
    if shipped.is_file():
        try:
            found.append(
                (SelectorData.from_json(shipped.read_text("utf-8"), str(shipped)), "shipped")
            )
        except ValueError as exc:
            logger.warning("strategy selector: ignoring the shipped training data: %s", exc)
    for path in _cache_files(cache_dir):
        try:
            found.append((SelectorData.load(path), "cached"))
        except (OSError, ValueError) as exc:
            logger.info("strategy selector: ignoring cache file %s: %s", path, exc)
    return found


def _cache_files(cache_dir: Path) -> list[Path]:
    if not cache_dir.is_dir():
        return []
    files = [p for p in cache_dir.glob(f"{CACHE_PREFIX}*.json") if p.is_file()]
    return sorted(files, key=lambda p: (-p.stat().st_mtime, p.name))


def _cache_name(fingerprint: str, learners: Sequence[str]) -> str:
    names = hashlib.sha256("\n".join(sorted(learners)).encode()).hexdigest()
    return f"{CACHE_PREFIX}{fingerprint[:20]}-{names[:8]}.json"


def _store(data: SelectorData, cache: Path) -> None:
    """Best effort: write the cache file, then keep only the newest few."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        data.save(cache)
        for stale in _cache_files(cache.parent)[MAX_CACHE_FILES:]:
            if stale != cache:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        logger.info("strategy selector: not caching training data at %s: %s", cache, exc)


def cache_files(cache_dir: Path | None = None) -> list[Path]:
    """The cached training-data files, newest first (for inspection and tests)."""
    return _cache_files(default_cache_dir() if cache_dir is None else cache_dir)
