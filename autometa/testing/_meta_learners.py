"""check_meta_learner: a meta-learner fits, recommends valid configurations, reproducibly."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence

from sklearn.base import clone

from autometa.contract._metalearner import MetaLearner
from autometa.contract._types import (
    Algorithm,
    Config,
    Evidence,
    Recommendation,
    TaskKind,
)
from autometa.knowledge._base import KnowledgeBase
from autometa.search._metafeatures import compute_meta_features
from autometa.testing._common import _fail, _same_number
from autometa.testing._data import _reference_algorithms, small_knowledge_base, small_tasks


def check_meta_learner(
    cls: type[MetaLearner],
    algorithms: Sequence[Algorithm] | None = None,
    *,
    knowledge: KnowledgeBase | None = None,
) -> None:
    """Fit and query the meta-learner class ``cls`` as a fit does.

    Checks that ``cls`` subclasses :class:`~autometa.contract.MetaLearner` with a
    non-empty ``name``, builds with no arguments and follows scikit-learn's parameter
    conventions (``get_params``, ``clone``); that ``fit`` returns the learner, accepts an
    empty knowledge base (``recommend`` must still work then) and does not modify the
    knowledge base; that on a small real knowledge base (:func:`small_knowledge_base`
    over ``algorithms``) ``recommend`` returns a list of at most ``k``
    :class:`~autometa.contract.Recommendation` with distinct configurations, only of the
    algorithms passed in (none when none are passed); and that two learners built with
    the same parameters and fitted on the same knowledge base recommend the same (seeded
    fits must be reproducible).

    :param algorithms: algorithms for the knowledge base and the queries; None means two
        cheap reference algorithms covering every kind.
    :param knowledge: the knowledge base to fit on (it is not modified); None builds
        :func:`small_knowledge_base` over ``algorithms``. Pass one to check several
        learners without building it each time.
    """
    if not (isinstance(cls, type) and issubclass(cls, MetaLearner)):
        _fail(f"check_meta_learner expects a MetaLearner subclass, got {cls!r}.")
    label = f"Meta-learner {cls.__name__}"
    if not isinstance(cls.name, str) or not cls.name:
        _fail(f"{label} has no `name` class attribute; strategies choose learners by name.")
    label = f"Meta-learner {cls.name!r}"
    try:
        learner = cls()
        params = learner.get_params()
        clone(learner)
        rebuilt = cls(**params).get_params()
    except Exception as exc:
        _fail(
            f"{label} does not follow scikit-learn's conventions (build with no arguments, "
            f"get_params, clone): {type(exc).__name__}: {exc}"
        )
    if rebuilt != params:
        _fail(f"{label}: cls(**get_params()) has other parameters: {rebuilt} != {params}.")
    algorithms = list(algorithms) if algorithms is not None else _reference_algorithms()
    queries = {
        kind: compute_meta_features(task).values
        for kind, task in small_tasks().items()
        if any(kind in a.kinds for a in algorithms)
    }
    empty = KnowledgeBase.in_memory()
    _fit(learner, empty, label, "an empty knowledge base")
    for kind, features in queries.items():
        _recommend(learner, features, kind, _of_kind(algorithms, kind), 5, label)
    if knowledge is None:
        knowledge = small_knowledge_base(algorithms)
    _fit(learner, knowledge, label, "a small knowledge base")
    first: dict[TaskKind, list[Recommendation]] = {}
    for kind, features in queries.items():
        offered = _of_kind(algorithms, kind)
        first[kind] = _recommend(learner, features, kind, offered, 5, label)
        _recommend(learner, features, kind, offered, 1, label)
        _recommend(learner, features, kind, offered[:1], 5, label)
        if _recommend(learner, features, kind, [], 5, label):
            _fail(f"{label} recommended configurations when no algorithm was available.")
    again = _fit(cls(**params), knowledge, label, "a small knowledge base")
    for kind, features in queries.items():
        second = _recommend(again, features, kind, _of_kind(algorithms, kind), 5, label)
        if not _same_recommendations(first[kind], second):
            _fail(
                f"{label} is not deterministic: two learners with the same parameters, fitted "
                f"on the same knowledge base, recommend differently for a {kind} task; seed "
                "any randomness from the learner's parameters."
            )


def _of_kind(algorithms: Iterable[Algorithm], kind: TaskKind) -> list[Algorithm]:
    return [a for a in algorithms if kind in a.kinds]


def _fit(learner: MetaLearner, knowledge: KnowledgeBase, label: str, what: str) -> MetaLearner:
    before = knowledge.counts()
    try:
        fitted = learner.fit(knowledge)
    except Exception as exc:
        _fail(f"{label}: fit on {what} raised {type(exc).__name__}: {exc}")
    if fitted is not learner:
        _fail(f"{label}: fit must return self, returned {fitted!r}.")
    if knowledge.counts() != before:
        _fail(f"{label}: fit modified the knowledge base ({before} -> {knowledge.counts()}).")
    return learner


def _recommend(
    learner: MetaLearner,
    features: Mapping[str, float],
    kind: TaskKind,
    algorithms: Sequence[Algorithm],
    k: int,
    label: str,
) -> list[Recommendation]:
    where = f"{label} recommending k={k} for a {kind} task"
    try:
        result = learner.recommend(dict(features), kind=kind, algorithms=list(algorithms), k=k)
    except Exception as exc:
        _fail(f"{where} raised {type(exc).__name__}: {exc}")
    if not isinstance(result, list):
        _fail(f"{where}: recommend returned {type(result).__name__}, expected a list.")
    if len(result) > k:
        _fail(f"{where}: returned {len(result)} recommendations, at most k={k} are allowed.")
    names = {a.name for a in algorithms}
    seen: set[Config] = set()
    for rec in result:
        if not isinstance(rec, Recommendation):
            _fail(f"{where}: returned {type(rec).__name__}, expected Recommendation.")
        if not isinstance(rec.config, Config) or not isinstance(rec.evidence, Evidence):
            _fail(f"{where}: {rec!r} needs a Config and an Evidence.")
        if not isinstance(rec.predicted_score, numbers.Real):
            _fail(f"{where}: predicted_score {rec.predicted_score!r} is not a number.")
        if rec.config.algorithm not in names:
            _fail(
                f"{where}: recommended {rec.config.algorithm!r}, which is not among the "
                f"algorithms passed in ({sorted(names)})."
            )
        if rec.config in seen:
            _fail(f"{where}: recommendations must be distinct; {rec.config} is repeated.")
        seen.add(rec.config)
    return result


def _same_recommendations(a: list[Recommendation], b: list[Recommendation]) -> bool:
    return len(a) == len(b) and all(
        x.config == y.config
        and _same_number(float(x.predicted_score), float(y.predicted_score))
        and x.evidence.describe() == y.evidence.describe()
        for x, y in zip(a, b, strict=True)
    )
