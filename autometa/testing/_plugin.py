"""check_plugin: a plugin registers and each hook it implements returns what the contract says."""

from __future__ import annotations

import contextlib
import inspect
import math

from autometa._plugins import PluginError, Plugins, build_plugin_manager
from autometa.contract import hookspecs
from autometa.contract._metalearner import MetaLearner, SearchBudget
from autometa.contract._sampler import BUILTIN_SAMPLERS
from autometa.contract._task import Task
from autometa.contract._types import (
    Algorithm,
    Config,
    Evaluation,
    Strategy,
)
from autometa.knowledge._base import KnowledgeBase
from autometa.search._metafeatures import compute_meta_features
from autometa.search._space import make_sampler
from autometa.testing._common import _SEED, HOOK_NAMES, _call_hook, _fail, _label, _registered
from autometa.testing._data import small_tasks
from autometa.testing._meta_features import _check_feature_mapping
from autometa.testing._samplers import _sampler_factories


def _unmarked_hooks(plugin: object) -> list[str]:
    """Functions named like hooks that lack ``@autometa.hookimpl`` (pluggy ignores them)."""
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    found = []
    for name in dir(plugin):
        if not name.startswith(f"{hookspecs.PROJECT_NAME}_"):
            continue
        value = getattr(plugin, name, None)
        if (inspect.isfunction(value) or inspect.ismethod(value)) and not hasattr(value, marker):
            found.append(name)
    return found


def check_plugin(plugin: object) -> None:
    """Register ``plugin`` with a real plugin manager and call every hook it implements.

    Checks that the plugin registers (no unknown hook names, no arguments a hook does
    not have), implements at least one hook, has no function named like a hook but left
    without ``@autometa.hookimpl`` (pluggy would silently ignore it), and that each hook
    it implements, called on a binary, a multiclass and a regression task, returns what
    the contract says: a list of :class:`~autometa.contract.Algorithm` handling the task's
    kind with unique names; a mapping of names to finite-or-NaN numbers; a list of
    :class:`~autometa.contract.MetaLearner` subclasses with unique names; a
    :class:`~autometa.contract.Strategy` or None; None from an observer, which must not
    raise. These are the errors a fit would otherwise report at run time; the deeper
    checks (:func:`check_algorithm`, :func:`check_meta_features`,
    :func:`check_meta_learner`, :func:`check_strategy_selector`) test what the parts do.
    """
    unmarked = _unmarked_hooks(plugin)
    if unmarked:
        _fail(
            f"Plugin {_label(plugin)!r}: {unmarked} look like hooks but are not decorated "
            "with @autometa.hookimpl, so autometa never calls them. Known hooks: "
            f"{list(HOOK_NAMES)}."
        )
    plugins, name = _registered(plugin)
    hooks = plugins.info()[0].hooks
    if not hooks:
        _fail(
            f"Plugin {name!r} implements no hook; decorate functions named after the "
            f"hooks {list(HOOK_NAMES)} with @autometa.hookimpl."
        )
    learner_names: list[str] = []
    if "autometa_meta_learners" in hooks:
        learner_names = _check_learner_classes(plugins, name)
    for task in small_tasks().values():
        if "autometa_algorithms" in hooks:
            _check_algorithm_list(plugins, name, task)
        if "autometa_meta_features" in hooks:
            result = _call_hook(plugins, name, "autometa_meta_features", task=task)
            _check_feature_mapping(f"Plugin {name!r}", result, task)
        if "autometa_select_strategy" in hooks:
            knowledge = KnowledgeBase.in_memory()
            choices = sorted({*learner_names, "nearest_tasks"})
            _check_strategy(plugins, name, task, knowledge, choices)
        if "autometa_samplers" in hooks:
            _sampler_factories(plugins, name)
        if "autometa_trial_completed" in hooks:
            for evaluation in _evaluations_of(task):
                result = _call_hook(
                    plugins, name, "autometa_trial_completed", evaluation=evaluation, task=task
                )
                if result is not None:
                    _fail(
                        f"Plugin {name!r}: autometa_trial_completed returned "
                        f"{type(result).__name__}; observers return None."
                    )


def _evaluations_of(task: Task) -> list[Evaluation]:
    config = Config("reference_linear", {"regularization": 1.0})
    return [
        Evaluation(task.task_id, config, 0.75, 0.12),
        Evaluation(task.task_id, config, math.nan, 0.01, "failed", "ValueError: example"),
    ]


def _check_algorithm_list(plugins: Plugins, name: str, task: Task) -> None:
    result = _call_hook(plugins, name, "autometa_algorithms", task=task)
    if not isinstance(result, (list, tuple)):
        _fail(
            f"Plugin {name!r}: autometa_algorithms must return a list of Algorithm, got "
            f"{type(result).__name__} for a {task.kind} task."
        )
    seen: set[str] = set()
    for algorithm in result:
        if not isinstance(algorithm, Algorithm):
            _fail(
                f"Plugin {name!r}: autometa_algorithms returned {type(algorithm).__name__} "
                f"({algorithm!r}), expected autometa.contract.Algorithm."
            )
        if task.kind not in algorithm.kinds:
            _fail(
                f"Plugin {name!r}: autometa_algorithms offered {algorithm.name!r} (kinds "
                f"{algorithm.kinds}) for a {task.kind} task; offer only algorithms that "
                "handle the task's kind."
            )
        if algorithm.name in seen:
            _fail(f"Plugin {name!r}: autometa_algorithms returned {algorithm.name!r} twice.")
        seen.add(algorithm.name)


def _check_learner_classes(plugins: Plugins, name: str) -> list[str]:
    result = _call_hook(plugins, name, "autometa_meta_learners")
    if not isinstance(result, (list, tuple)):
        _fail(
            f"Plugin {name!r}: autometa_meta_learners must return a list of MetaLearner "
            f"classes, got {type(result).__name__}."
        )
    names: list[str] = []
    for cls in result:
        if not (isinstance(cls, type) and issubclass(cls, MetaLearner)):
            _fail(
                f"Plugin {name!r}: autometa_meta_learners returned {cls!r}; return the "
                "classes themselves (subclasses of autometa.MetaLearner), not instances."
            )
        if not isinstance(cls.name, str) or not cls.name:
            _fail(f"Plugin {name!r}: meta-learner {cls.__name__} has no `name` class attribute.")
        if cls.name in names:
            _fail(f"Plugin {name!r}: two meta-learners are named {cls.name!r}.")
        names.append(cls.name)
    return names


def _check_strategy(
    plugins: Plugins,
    name: str,
    task: Task,
    knowledge: KnowledgeBase,
    learners: list[str],
    seconds: float | None = None,
) -> Strategy | None:
    """Ask for a strategy on ``task`` for a fit with a ``seconds`` timeout (None: none)."""
    before = knowledge.counts()
    result = _call_hook(
        plugins,
        name,
        "autometa_select_strategy",
        task=task,
        meta_features=compute_meta_features(task).values,
        knowledge=knowledge,
        meta_learners=list(learners),
        budget=SearchBudget(seconds, task.n_splits, task.n_rows),
    )
    if knowledge.counts() != before:
        _fail(f"Plugin {name!r}: autometa_select_strategy modified the knowledge base.")
    if result is None:
        return None
    if not isinstance(result, Strategy):
        _fail(
            f"Plugin {name!r}: autometa_select_strategy returned {type(result).__name__}, "
            "expected autometa.contract.Strategy or None."
        )
    if result.meta_learner is not None and result.meta_learner not in learners:
        _fail(
            f"Plugin {name!r}: autometa_select_strategy chose meta-learner "
            f"{result.meta_learner!r} for a {task.kind} task, which is not among the "
            f"registered ones it was given ({learners}); choose from `meta_learners`."
        )
    sampler = result.sampler
    if isinstance(sampler, str) and sampler not in BUILTIN_SAMPLERS:
        offered = _offered_samplers(plugins)
        if sampler not in offered:
            _fail(
                f"Plugin {name!r}: autometa_select_strategy returned an unusable sampler: "
                f"Unknown sampler {sampler!r}; neither built in ({list(BUILTIN_SAMPLERS)}) nor "
                f"offered by the plugin or an installed one ({sorted(offered)})."
            )
        return result
    try:
        make_sampler(sampler, _SEED)
    except (ValueError, TypeError) as exc:
        _fail(f"Plugin {name!r}: autometa_select_strategy returned an unusable sampler: {exc}")
    return result


def _offered_samplers(plugins: Plugins) -> set[str]:
    """Sampler names the plugin under check and the installed plugins offer."""
    names = set(plugins.samplers())
    with contextlib.suppress(PluginError):  # a broken installed plugin is not this one's fault
        names |= set(build_plugin_manager().samplers())
    return names
