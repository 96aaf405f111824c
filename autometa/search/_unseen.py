"""Warm starts for algorithms the knowledge base has never seen.

A meta-learner can only recommend configurations it has scores for. An algorithm a
plugin adds after the base was built (``xgboost``, the example plugin's ``lda``) has no
cells, so no learner ever ranks it and the search tries it only if the sampler happens
to wander there. Its library defaults are the one configuration worth trying without
evidence, so planning inserts them among the learned recommendations
(:func:`with_unseen_defaults`), one place per unseen algorithm, after the first
:data:`UNSEEN_POSITION` learned picks: the position replay on the shipped base measured
(``examples/benchmark_unseen_algorithms.py``, docs/replay.md).

"Unseen" is per task kind and cheap to decide: the algorithm has no column in the
base's score table of this kind (the table learners read anyway, cached per content).
A base with no scored configuration of this kind at all gives no learned picks to put
the defaults among, so nothing is inserted there (a cold start stays cold).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from autometa.contract._knowledge import KnowledgeView
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Evidence, Recommendation
from autometa.search._space import config_in_space

UNSEEN_POSITION = 3
"""Learned picks that come before the unseen algorithms' defaults (0 = the defaults first).

Chosen by replay on the shipped base, each of its nine algorithms held out in turn as if
it had no cells (docs/replay.md, "Algorithms without cells")."""
UNSEEN_MODEL = "unseen algorithm"
UNSEEN_NOTE = "no cells in the knowledge base: its default is tried early"


def unseen_algorithms(
    algorithms: Mapping[str, Algorithm], task: Task, knowledge: KnowledgeView
) -> list[str]:
    """The searched algorithms with no scored configuration for this task's kind, in order.

    Empty when the base has no scored configuration of this kind at all.
    """
    columns = knowledge.score_table(task.kind).configs
    if not columns:
        return []
    seen = {config.algorithm for config in columns}
    return [name for name in algorithms if name not in seen]


def unseen_defaults(
    algorithms: Mapping[str, Algorithm], task: Task, knowledge: KnowledgeView
) -> list[Recommendation]:
    """Each unseen algorithm's default configuration (those inside this task's space)."""
    defaults = []
    for name in unseen_algorithms(algorithms, task, knowledge):
        config = algorithms[name].default_config
        if config_in_space(config, algorithms, task):
            defaults.append(
                Recommendation(config, math.nan, Evidence(UNSEEN_MODEL, note=UNSEEN_NOTE))
            )
    return defaults


def with_unseen_defaults(
    recommendations: Sequence[Recommendation],
    defaults: Sequence[Recommendation],
    n_places: int,
    *,
    position: int = UNSEEN_POSITION,
    pinned: int = 0,
) -> list[Recommendation]:
    """``recommendations`` cut to ``n_places``, with ``defaults`` among them.

    The defaults go together after the first ``position`` learned picks (counted after
    the ``pinned`` leading ones, e.g. the cheap guard, which they never move), or right
    after the learned picks when there are fewer; the cut then keeps what fits, so with
    ``n_places <= pinned + position`` the learner keeps every place. They take at most
    half of the places after the pinned ones (rounded down; all of those the learned
    picks leave empty); a default already among ``recommendations`` is not repeated.
    """
    if n_places <= 0:
        return []
    head = list(recommendations[:pinned])
    learned = list(recommendations[pinned:])
    taken = {r.config for r in recommendations}
    free = max(0, n_places - len(head))
    extra = [d for d in defaults if d.config not in taken]
    extra = extra[: max(free - len(learned), free // 2)]
    at = min(position, len(learned))
    return [*head, *learned[:at], *extra, *learned[at:]][:n_places]
