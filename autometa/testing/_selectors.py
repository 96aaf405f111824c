"""check_strategy_selector: a selector returns a usable Strategy and leaves the base alone."""

from __future__ import annotations

from collections.abc import Sequence

from autometa.knowledge._base import KnowledgeBase
from autometa.testing._common import _fail, _registered
from autometa.testing._data import small_knowledge_base, small_tasks
from autometa.testing._plugin import _check_strategy


def check_strategy_selector(
    plugin: object,
    meta_learners: Sequence[str] = ("nearest_tasks",),
    *,
    knowledge: KnowledgeBase | None = None,
) -> None:
    """Ask ``plugin``'s ``autometa_select_strategy`` for strategies on several tasks.

    Tasks of each kind, with an empty and with a small real knowledge base, with
    ``meta_learners`` and with no registered learner at all, for fits with and without
    a timeout. Each answer must be a
    :class:`~autometa.contract.Strategy` or None; a strategy may only name a meta-learner
    from the ``meta_learners`` it was given (a fit with another fails), must name a
    sampler autometa can build, and the selector must not modify the knowledge base.

    :param meta_learners: the names offered to the selector, as a fit passes the
        registered meta-learners' names.
    :param knowledge: the non-empty knowledge base to ask with; None builds
        :func:`small_knowledge_base`.
    """
    plugins, name = _registered(plugin)
    if "autometa_select_strategy" not in plugins.info()[0].hooks:
        _fail(f"Plugin {name!r} does not implement autometa_select_strategy.")
    if knowledge is None:
        knowledge = small_knowledge_base()
    knowledges = [KnowledgeBase.in_memory(), knowledge]
    for task in small_tasks().values():
        for knowledge in knowledges:
            for learners in (sorted(meta_learners), []):
                for seconds in (None, 30.0):
                    _check_strategy(plugins, name, task, knowledge, learners, seconds)
