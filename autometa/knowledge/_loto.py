"""Leave-one-task-out evaluation of meta-learners: ``autometa kb evaluate``.

For every task of a knowledge base, each learner is fitted on a copy that lacks the task
(and any duplicate of it), asked for recommendations, and judged on the held-out task's
own row of the dense score table. A learner that adapts (``MetaLearner.propose``) is
asked again after each pick and told the held-out task's stored score of it, as a search
would observe it. The measures are the field's:

- normalized regret of the best of the first k recommendations (HPO-B), where a task's
  scores are scaled between its worst and best pool configuration;
- mean rank of the learners at each k (ties share their rank);
- the fraction of the single-best-to-virtual-best gap closed by the first
  recommendation (ASlib): 1 - regret@1 / regret(SBS), over mean regrets; the single
  best solver is the configuration with the best mean normalized score on the training
  tasks, the virtual best is each task's own best (regret 0).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import joblib
import numpy as np
from scipy.stats import rankdata

from autometa._plugins import build_plugin_manager
from autometa._progress import count_progress
from autometa.contract._metalearner import MetaLearner, adapts
from autometa.contract._types import (
    Algorithm,
    Config,
    Evaluation,
    EvaluationStatus,
    TaskKind,
)
from autometa.knowledge._base import KnowledgeBase, ScoreTable, TaskRecord

logger = logging.getLogger(__name__)

DEFAULT_KS = (1, 3, 5, 10, 25)
TASKS_PER_CHUNK = 10
"""Most held-out tasks a worker evaluates per knowledge-base rebuild (with n_jobs > 1)."""
SBS = "single_best"
"""Name under which the single best configuration is reported next to the learners."""


@dataclass
class LearnerResult:
    """One learner's leave-one-task-out measures (means over the held-out tasks)."""

    learner: str
    n_tasks: int
    regret_at: dict[int, float]
    rank_at: dict[int, float] = field(default_factory=dict)
    gap_closed: float = math.nan


@dataclass
class LotoReport:
    """Per learner results plus every held-out task's regrets, for plots and checks."""

    results: dict[str, LearnerResult]
    per_task: dict[str, dict[str, list[float]]]
    ks: tuple[int, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "ks": list(self.ks),
                "results": {name: asdict(r) for name, r in self.results.items()},
                "per_task": self.per_task,
            },
            indent=2,
            sort_keys=True,
        )

    def table(self) -> str:
        """A plain-text table: regret at each k, mean rank at k=5 (or the largest k), gap."""
        k_rank = 5 if 5 in self.ks else self.ks[-1]
        header = (
            f"{'learner':<20} {'tasks':>5} "
            + " ".join(f"{'regret@' + str(k):>10}" for k in self.ks)
            + f" {'rank@' + str(k_rank):>8} {'gap closed':>10}"
        )
        rows = [header, "-" * len(header)]
        for name, result in sorted(self.results.items(), key=lambda item: item[1].regret_at[1]):
            rows.append(
                f"{name:<20} {result.n_tasks:>5} "
                + " ".join(f"{result.regret_at[k]:>10.4f}" for k in self.ks)
                + f" {result.rank_at.get(k_rank, math.nan):>8.2f} {result.gap_closed:>10.1%}"
            )
        return "\n".join(rows)


def leave_one_task_out(
    knowledge: KnowledgeBase,
    learners: Mapping[str, type[MetaLearner]] | None = None,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    kinds: Iterable[TaskKind] | None = None,
    n_jobs: int = 1,
    progress: bool = False,
    task_ids: Iterable[str] | None = None,
) -> LotoReport:
    """Evaluate ``learners`` (default: every registered one) by leave-one-task-out.

    ``task_ids`` holds out only those tasks (every other task still trains the learners),
    e.g. to update stored per-task regrets for the tasks that changed.

    ``progress=True`` shows a bar over the held-out tasks with the time left on standard
    error (the command line turns it on at a terminal); start and end are logged at INFO.
    """
    if learners is None:
        learners = build_plugin_manager().meta_learners()
    ks = tuple(sorted(set(ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}.")
    wanted = set(kinds) if kinds is not None else None
    only = set(task_ids) if task_ids is not None else None
    records = [
        r
        for r in knowledge.tasks()
        if (wanted is None or r.kind in wanted) and (only is None or r.task_id in only)
    ]
    tables = {kind: knowledge.score_table(kind) for kind in sorted({r.kind for r in records})}
    # A task with fewer than two scores cannot be held out: see _row.
    held_out = [r for r in records if _row(tables[r.kind], r.task_id) is not None]
    if not held_out:
        raise ValueError(f"{knowledge!r} has no task with evaluations to hold out.")
    workers = max(1, joblib.effective_n_jobs(n_jobs))
    started = time.monotonic()
    logger.info(
        "leave-one-task-out started: %d tasks, learners %s, n_jobs=%d",
        len(held_out),
        sorted(learners),
        workers,
    )
    per_task: dict[str, dict[str, list[float]]] = {}
    with (
        tempfile.TemporaryDirectory() as folder,
        count_progress(progress, len(held_out), desc="kb evaluate", unit="task") as advance,
    ):
        # Workers rebuild the base from its plain-text export: a KnowledgeBase holds
        # database connections and does not travel between processes.
        export = Path(folder) / "knowledge.jsonl"
        knowledge.export_jsonl(export)
        if workers == 1:  # in-process: the bar moves after every task
            for task_id, scores in _held_out_scores(export, held_out, dict(learners), ks):
                per_task[task_id] = scores
                advance(1)
        else:
            # Unordered: the bar moves as soon as any chunk finishes; results are keyed by task.
            outcomes = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                joblib.delayed(_evaluate_chunk)(export, chunk, dict(learners), ks)
                for chunk in _chunks(held_out, workers)
            )
            for outcome in outcomes:
                per_task.update(outcome)
                advance(len(outcome))
    logger.info(
        "leave-one-task-out finished: %d tasks in %.1fs", len(per_task), time.monotonic() - started
    )
    return _summarise(per_task, [*learners, SBS], ks)


def _chunks(records: Sequence[TaskRecord], workers: int) -> list[list[TaskRecord]]:
    """Interleaved chunks of at most :data:`TASKS_PER_CHUNK` tasks, at least one per worker.

    Each chunk costs one rebuild of the knowledge base in its worker, so chunks are not
    single tasks; small enough chunks still let a progress bar move and the workers
    share out the slow tasks.
    """
    count = min(len(records), max(workers, math.ceil(len(records) / TASKS_PER_CHUNK)))
    return [list(records[i::count]) for i in range(count)]


def _evaluate_chunk(
    export: Path,
    chunk: Sequence[TaskRecord],
    learners: Mapping[str, type[MetaLearner]],
    ks: tuple[int, ...],
) -> dict[str, dict[str, list[float]]]:
    """Worker: the regrets of every learner on each task of ``chunk``, by task id."""
    return dict(_held_out_scores(export, chunk, learners, ks))


def _held_out_scores(
    export: Path,
    chunk: Sequence[TaskRecord],
    learners: Mapping[str, type[MetaLearner]],
    ks: tuple[int, ...],
) -> Iterator[tuple[str, dict[str, list[float]]]]:
    """Rebuild the knowledge base, then hold out each task of ``chunk`` in turn."""
    full = KnowledgeBase.in_memory()
    full.import_jsonl(export)
    all_tasks = full.tasks()
    algorithms = algorithms_by_kind(full)
    for record in chunk:
        training = KnowledgeBase.in_memory()
        keep = [t.task_id for t in all_tasks if not _same_task(t, record)]
        full.copy_into(training, task_ids=keep)
        # The truth comes from the full base: the training copy has no row for this task.
        table = full.score_table(record.kind)
        truth = _regrets(table, record.task_id)
        observed = _observed_scores(table, record.task_id)
        scores = _score_learners(
            training, record, learners, algorithms[record.kind], truth, observed, ks
        )
        training.close()
        yield record.task_id, scores
    full.close()


def _score_learners(
    training: KnowledgeBase,
    record: TaskRecord,
    learners: Mapping[str, type[MetaLearner]],
    algorithms: Sequence[Algorithm],
    truth: dict[Config, float],
    observed: Mapping[Config, float],
    ks: tuple[int, ...],
) -> dict[str, list[float]]:
    k_max = ks[-1]
    scores = {}
    for name, cls in learners.items():
        # A fresh learner per held-out task, fitted on the copy without it: nothing the
        # learner keeps can leak the held-out row.
        learner = cls().fit(training)
        if adapts(learner):
            configs = _adaptive_walk(learner, record, algorithms, observed, k_max)
        else:
            recommendations = learner.recommend(
                record.meta_features, kind=record.kind, algorithms=algorithms, k=k_max
            )
            configs = [r.config for r in recommendations]
        scores[name] = _regret_curve(configs, truth, ks)
    table = training.score_table(record.kind)
    if table.task_ids:
        # A cell that failed or was capped counts as the task's worst (as failures do in
        # ASlib's PAR scores): otherwise a configuration that failed on many tasks would
        # look best on the few where it ran.
        best_mean = int(np.argmax(np.nan_to_num(table.normalized(), nan=0.0).mean(axis=0)))
        scores[SBS] = _regret_curve([table.configs[best_mean]], truth, ks)
    else:
        scores[SBS] = [1.0] * len(ks)
    return scores


def _adaptive_walk(
    learner: MetaLearner,
    record: TaskRecord,
    algorithms: Sequence[Algorithm],
    observed: Mapping[Config, float],
    k: int,
) -> list[Config]:
    """The first ``k`` configurations an adaptive learner proposes on the held-out task
    when told, after each, the task's stored score of it (as a search would observe it).

    A configuration without a stored score is told as failed. The walk never hands over
    to a sampler (leave-one-task-out has no sampler to judge), so it measures what the
    learner alone would pick; it falls back on ``recommend`` when the learner declines
    before its first proposal.
    """
    told: list[Evaluation] = []
    while len(told) < k:
        proposal = learner.propose(
            record.meta_features,
            told,
            kind=record.kind,
            algorithms=algorithms,
            scoring=record.scoring,
        )
        if proposal is None:
            break
        config = proposal.recommendation.config
        score = observed.get(config, math.nan)
        status: EvaluationStatus = "ok" if math.isfinite(score) else "failed"
        told.append(Evaluation(record.task_id, config, score, 0.0, status))
    if not told:
        recommendations = learner.recommend(
            record.meta_features, kind=record.kind, algorithms=algorithms, k=k
        )
        return [r.config for r in recommendations]
    return [evaluation.config for evaluation in told]


def _regret_curve(
    configs: Sequence[Config], truth: Mapping[Config, float], ks: tuple[int, ...]
) -> list[float]:
    """Regret of the best of the first k configurations, for each k (1.0 if none known)."""
    # A recommendation never evaluated on the task counts as the worst: an unknown cell must not
    # look good.
    regrets = [truth.get(config, 1.0) for config in configs]
    return [min(regrets[:k], default=1.0) for k in ks]


def _regrets(table: ScoreTable, task_id: str) -> dict[Config, float]:
    """1 - normalized score of every configuration evaluated on ``task_id``."""
    row = _row(table, task_id)
    assert row is not None
    normalized = table.normalized()[row]
    return {
        config: 1.0 - float(value)
        for config, value in zip(table.configs, normalized, strict=True)
        if np.isfinite(value)
    }


def _observed_scores(table: ScoreTable, task_id: str) -> dict[Config, float]:
    """The stored score (the scoring's own units) of every configuration scored on
    ``task_id``: what an adaptive learner is told it observed."""
    row = _row(table, task_id)
    assert row is not None
    return {
        config: float(value)
        for config, value in zip(table.configs, table.scores[row], strict=True)
        if np.isfinite(value)
    }


def _row(table: ScoreTable, task_id: str) -> int | None:
    try:
        row = table.task_ids.index(task_id)
    except ValueError:
        return None
    # Regrets scale between the task's worst and best score: with fewer than two scores that range
    # is empty and every regret would be 0/0.
    return row if np.isfinite(table.scores[row]).sum() >= 2 else None


def _same_task(candidate: TaskRecord, held_out: TaskRecord) -> bool:
    """The held-out task itself, or a duplicate: the same kind and meta-features."""
    if candidate.task_id == held_out.task_id:
        return True
    if candidate.kind != held_out.kind or set(candidate.meta_features) != set(
        held_out.meta_features
    ):
        return False
    a = np.array([candidate.meta_features[n] for n in sorted(candidate.meta_features)])
    b = np.array([held_out.meta_features[n] for n in sorted(held_out.meta_features)])
    # equal_nan: a meta-feature undefined on both tasks is a match, not a difference.
    return bool(np.allclose(a, b, equal_nan=True))


def algorithms_by_kind(knowledge: KnowledgeBase) -> dict[str, list[Algorithm]]:
    """The algorithms each kind's tasks were evaluated with (the build's reference spaces)."""
    from autometa.knowledge._protocol import BuildProtocol, reference_task

    protocol_fields = knowledge.metadata().get("build", {}).get("protocol", {})
    protocol = BuildProtocol(**protocol_fields) if protocol_fields else BuildProtocol()
    manager = build_plugin_manager()
    kinds: tuple[TaskKind, ...] = ("binary", "multiclass", "regression")
    return {
        kind: list(manager.algorithms(reference_task(kind, protocol)).values()) for kind in kinds
    }


def _summarise(
    per_task: dict[str, dict[str, list[float]]], names: Sequence[str], ks: tuple[int, ...]
) -> LotoReport:
    task_ids = sorted(per_task)
    regrets = {n: np.array([per_task[t][n] for t in task_ids]) for n in names}
    results = {}
    stacked = np.stack([regrets[n] for n in names])  # learners x tasks x ks
    ranks = rankdata(stacked, axis=0)  # ties share their rank
    sbs_mean = float(regrets[SBS][:, 0].mean())
    for index, name in enumerate(names):
        mean_at_1 = float(regrets[name][:, 0].mean())
        results[name] = LearnerResult(
            learner=name,
            n_tasks=len(task_ids),
            regret_at={k: float(regrets[name][:, i].mean()) for i, k in enumerate(ks)},
            rank_at={k: float(ranks[index, :, i].mean()) for i, k in enumerate(ks)},
            # SBS regret 0 (it was best on every task): no gap to close, NaN rather than 0/0.
            gap_closed=1.0 - mean_at_1 / sbs_mean if sbs_mean > 0 else math.nan,
        )
    return LotoReport(results, per_task, ks)
