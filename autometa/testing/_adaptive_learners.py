"""check_adaptive_learner: an adaptive meta-learner proposes valid, new configurations."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from autometa.contract._metalearner import MetaLearner, adapts
from autometa.contract._task import Task
from autometa.contract._types import (
    Algorithm,
    Config,
    Evaluation,
    EvaluationStatus,
    Proposal,
    Recommendation,
)
from autometa.knowledge._base import KnowledgeBase
from autometa.search._metafeatures import compute_meta_features
from autometa.search._space import config_in_space
from autometa.testing._common import _fail
from autometa.testing._data import (
    _reference_algorithms,
    _sampled_params,
    small_knowledge_base,
    small_tasks,
)

WALK_STEPS = 8
"""Proposals asked in a row, each told a score, on every kind."""


def check_adaptive_learner(
    cls: type[MetaLearner],
    algorithms: Sequence[Algorithm] | None = None,
    *,
    knowledge: KnowledgeBase | None = None,
) -> None:
    """Ask an adaptive meta-learner for proposals as a search does, on every kind.

    Checks that ``cls`` overrides :meth:`~autometa.contract.MetaLearner.propose`; that
    after ``fit`` on an empty and on a small real knowledge base, ``propose`` returns
    None or a :class:`~autometa.contract.Proposal` (a finite ``gain``) whose
    configuration lies in the task's space and is of one of the algorithms passed in
    (none when none are); that it handles an empty history, a history holding repeated
    configurations, failed and pruned trials and configurations outside its pool, and
    configurations pending in other workers; that it never proposes a configuration
    observed or pending; and that two learners fitted alike propose alike. Run
    :func:`check_meta_learner` too: an adaptive learner is a meta-learner.

    :param algorithms: as for :func:`check_meta_learner` (None: two cheap reference
        algorithms covering every kind).
    :param knowledge: the knowledge base to fit on; None builds
        :func:`small_knowledge_base` over ``algorithms``.
    """
    if not (isinstance(cls, type) and issubclass(cls, MetaLearner)):
        _fail(f"check_adaptive_learner expects a MetaLearner subclass, got {cls!r}.")
    label = f"Adaptive meta-learner {cls.name or cls.__name__!r}"
    if not adapts(cls):
        _fail(f"{label} does not override MetaLearner.propose: it does not adapt.")
    algorithms = list(algorithms) if algorithms is not None else _reference_algorithms()
    tasks = {k: t for k, t in small_tasks().items() if any(k in a.kinds for a in algorithms)}
    features = {kind: compute_meta_features(task).values for kind, task in tasks.items()}
    empty = _fitted(cls, KnowledgeBase.in_memory(), label)
    for kind, task in tasks.items():
        offered = [a for a in algorithms if kind in a.kinds]
        _walk(empty, features[kind], task, offered, label + " (fitted on an empty base)")
    knowledge = small_knowledge_base(algorithms) if knowledge is None else knowledge
    first, second = _fitted(cls, knowledge, label), _fitted(cls, knowledge, label)
    for kind, task in tasks.items():
        offered = [a for a in algorithms if kind in a.kinds]
        walked = _walk(first, features[kind], task, offered, label)
        if walked != _walk(second, features[kind], task, offered, label):
            _fail(
                f"{label} is not deterministic: two learners fitted alike propose differently "
                f"for a {kind} task; seed any randomness from the learner's parameters."
            )
        if _propose(first, features[kind], [], task, [], (), label) is not None:
            _fail(f"{label} proposed a configuration when no algorithm was available.")


def _fitted(cls: type[MetaLearner], knowledge: KnowledgeBase, label: str) -> MetaLearner:
    try:
        return cls().fit(knowledge)
    except Exception as exc:
        _fail(f"{label}: fit raised {type(exc).__name__}: {exc}")


def _walk(
    learner: MetaLearner,
    features: Mapping[str, float],
    task: Task,
    algorithms: Sequence[Algorithm],
    label: str,
) -> list[Config]:
    """Propose up to :data:`WALK_STEPS` times, telling each proposal a score; before that,
    a history of a repeat, a failure, a pruned trial and an outside configuration."""
    proposals: list[Config] = []
    first = _propose(learner, features, [], task, algorithms, (), label)
    if first is None:
        return proposals
    proposals.append(first)
    outside = _outside(algorithms, task)
    history = [
        _evaluation(task, first, 0.8),
        _evaluation(task, first, 0.7),  # the same configuration again
        *([_evaluation(task, outside, 0.9)] if outside is not None else []),
    ]
    rng = np.random.default_rng(0)
    pending: list[Config] = []
    for step in range(WALK_STEPS):
        proposal = _propose(learner, features, history, task, algorithms, pending, label)
        if proposal is None:
            break
        proposals.append(proposal)
        if step == 0:  # pending in another worker, then failed there
            pending.append(proposal)
        elif step == 1:
            history.append(_evaluation(task, pending.pop(), math.nan, "failed"))
            history.append(_evaluation(task, proposal, math.nan, "pruned"))
        else:
            history.append(_evaluation(task, proposal, float(rng.uniform(0.5, 1.0))))
    return proposals


def _propose(
    learner: MetaLearner,
    features: Mapping[str, float],
    history: Sequence[Evaluation],
    task: Task,
    algorithms: Sequence[Algorithm],
    pending: Sequence[Config],
    label: str,
) -> Config | None:
    where = (
        f"{label} proposing for a {task.kind} task after {len(history)} evaluations "
        f"({len(pending)} pending)"
    )
    try:
        proposal = learner.propose(
            dict(features),
            list(history),
            kind=task.kind,
            algorithms=list(algorithms),
            pending=list(pending),
            scoring=task.scoring,
        )
    except Exception as exc:
        _fail(f"{where} raised {type(exc).__name__}: {exc}")
    if proposal is None:
        return None
    if not isinstance(proposal, Proposal) or not isinstance(
        proposal.recommendation, Recommendation
    ):
        _fail(f"{where}: returned {proposal!r}, expected None or a Proposal.")
    if not isinstance(proposal.gain, numbers.Real) or not math.isfinite(proposal.gain):
        _fail(f"{where}: the gain {proposal.gain!r} is not a finite number.")
    config = proposal.recommendation.config
    names = {a.name for a in algorithms}
    if not isinstance(config, Config) or config.algorithm not in names:
        _fail(f"{where}: proposed {config!r}, not of the algorithms passed in {sorted(names)}.")
    if not config_in_space(config, {a.name: a for a in algorithms}, task):
        _fail(f"{where}: proposed {config}, which is outside the {task.kind} task's space.")
    if config in {e.config for e in history} or config in set(pending):
        _fail(f"{where}: proposed {config}, which was already observed or is pending.")
    return config


def _outside(algorithms: Sequence[Algorithm], task: Task) -> Config | None:
    """A configuration the learner's pool is unlikely to hold (a sampler's own point)."""
    for algorithm in algorithms:
        space = algorithm.search_space(task)
        if space:
            return Config(algorithm.name, _sampled_params(space, 1, seed=12345)[0])
    return None


def _evaluation(
    task: Task, config: Config, score: float, status: EvaluationStatus = "ok"
) -> Evaluation:
    return Evaluation(task.task_id, config, score, 0.01, status)
