"""The plugin contract: every hook a plugin may implement, with its documentation.

A plugin is any module or object with functions decorated by :data:`hookimpl` whose
names are hooks below. Implementations may accept a subset of a hook's arguments
(pluggy passes only what they name), which is how hooks grow without breaking plugins:
new arguments are added as keywords, never removed.

First-party plugins (``plugins/autometa_*``) use exactly this contract; they are loaded
by name as built-ins (blockable by name), third-party packages through the ``autometa``
entry-point group. Hook wrappers (``hookwrapper=True`` or ``wrapper=True``) are refused
when the plugin is registered: each implementation is called on its own so that an
error names its plugin, which leaves a wrapper nothing to wrap.

Register a plugin from an installed package::

    [project.entry-points.autometa]
    myplugin = "my_package.autometa_plugin"

or pass the object directly: ``autometa.fit(X, y, plugins=[my_plugin])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from autometa.contract._knowledge import KnowledgeView
    from autometa.contract._metalearner import MetaLearner, SearchBudget
    from autometa.contract._sampler import SamplerFactory
    from autometa.contract._task import Task
    from autometa.contract._types import Algorithm, Evaluation, Strategy

PROJECT_NAME = "autometa"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Decorate a plugin's functions with this to implement a hook."""


@hookspec
def autometa_algorithms(task: Task) -> list[Algorithm]:  # type: ignore[empty-body]
    """Return the algorithms this plugin offers for ``task``.

    Called once per fit. Return only algorithms that can handle ``task.kind`` (and its
    size, if an algorithm does not scale); return an empty list to offer nothing.
    Results of all plugins are concatenated; two algorithms with the same ``name`` fail
    the fit with an error naming both plugins.

    :param task: the validated task (data, kind, scoring, CV splitter).
    :return: a list of :class:`autometa.contract.Algorithm`.
    """


@hookspec
def autometa_meta_features(task: Task) -> Mapping[str, float]:  # type: ignore[empty-body]
    """Return extra meta-features of ``task`` as ``{name: value}``.

    They are added to autometa's own meta-features (see :mod:`autometa.search._metafeatures`)
    and timed as one group named after the plugin. Use NaN where a value is undefined.
    A name that another plugin (or autometa itself) also returns fails the fit with an
    error naming both. Prefix names with your plugin's name to stay clear of clashes.

    :param task: the validated task.
    :return: a mapping of meta-feature name to float.
    """


@hookspec
def autometa_meta_learners() -> list[type[MetaLearner]]:  # type: ignore[empty-body]
    """Return the meta-learner classes this plugin provides.

    Each class subclasses :class:`autometa.contract.MetaLearner`, has a unique
    ``name`` class attribute and can be built with no arguments. Multi-task models
    (one model whose parameters are shared across earlier tasks) register here too.
    A strategy chooses among them by name.

    :return: a list of MetaLearner subclasses.
    """


@hookspec(firstresult=True)
def autometa_select_strategy(
    task: Task,
    meta_features: Mapping[str, float],
    knowledge: KnowledgeView,
    meta_learners: Sequence[str],
    budget: SearchBudget,
) -> Strategy | None:
    """Choose how to search ``task``: meta-learner, warm starts, sampler, validation.

    The first plugin that returns a :class:`autometa.contract.Strategy` wins (plugins
    registered later are asked first, so a user's plugin overrides the shipped one);
    return None to let the next plugin decide. A strategy passed by the user to
    ``fit`` skips this hook.

    :param task: the validated task.
    :param meta_features: the task's meta-features.
    :param knowledge: the knowledge base the fit learns from (read it through
        :class:`autometa.contract.KnowledgeView`).
    :param meta_learners: names of the registered meta-learners (choose among these).
    :param budget: what the search may spend: ``budget.seconds`` is the fit's timeout
        (None when only ``n_trials`` bounds it), with the task's rows and default folds.
        An implementation that does not name ``budget`` is not given it.
    :return: a Strategy, or None to abstain.
    """


@hookspec(firstresult=True)
def autometa_evaluate_selector(
    report: Any,
    knowledge: KnowledgeView,
    evaluate: bool,
    save_to: str | None,
    n_jobs: int,
) -> tuple[Any, str | None] | None:
    """Judge a strategy selector next to the learners: ``autometa kb evaluate --selector``.

    The first plugin that answers wins (return None to let the next one). The core has
    no selector of its own; the plugin that owns one trains and judges it.

    :param report: the learners' leave-one-task-out report on ``knowledge`` (an
        ``autometa.knowledge.LotoReport``; typed loosely so the contract does not import
        the knowledge layer).
    :param knowledge: the knowledge base the report measured.
    :param evaluate: add the selector's rows to the report (``--selector``).
    :param save_to: where to save the selector's training data, or None
        (``--save-selector-data``).
    :param n_jobs: parallel jobs for the selector's own leave-one-task-out.
    :return: ``(report with the selector's rows, one-line summary or None)``, or None.
    """


@hookspec
def autometa_samplers() -> Mapping[str, SamplerFactory]:  # type: ignore[empty-body]
    """Return the Optuna samplers this plugin offers, by the name a Strategy uses.

    Each value is a factory ``factory(context, random_state, n_jobs)`` returning a new
    ``optuna.samplers.BaseSampler``; ``context`` (:class:`autometa.contract.SamplerContext`)
    holds the fit's task, its algorithms (the search space), the knowledge base and the
    task's meta-features, for samplers that learn from earlier tasks. A strategy naming
    the sampler (``Strategy(sampler="name")``) makes the fit call the factory once, when
    the study is created. Seed all randomness from ``random_state``; ``n_jobs`` trials
    are asked before any is told when it is above 1.

    Results are merged by name: a name that is built in (``"tpe"``, ``"random"``,
    ``"cmaes"``, ``"qmc"``) or offered by two plugins fails the fit naming them.

    :return: a mapping of sampler name to factory.
    """


@hookspec
def autometa_trial_completed(evaluation: Evaluation, task: Task) -> None:
    """Observe one finished trial (logging, experiment tracking, early alerts).

    Called in the main process after each evaluation, in completion order. An observer
    that raises is reported as a warning naming the plugin; the fit goes on.

    :param evaluation: the trial's configuration, score, fit time, status and error.
    :param task: the task being searched.
    """
