"""Typed hook calls: one method per hook, each implementation called on its own.

Each implementation is called one at a time (not through one pluggy call) so that an
exception or a wrong return type is reported with the name of the plugin that caused it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from autometa._plugins._errors import ObserverWarning, PluginError
from autometa.contract._metalearner import MetaLearner, SearchBudget
from autometa.contract._sampler import BUILTIN_SAMPLERS
from autometa.contract._types import Algorithm, Evaluation, Strategy

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

    from autometa.contract._knowledge import KnowledgeView
    from autometa.contract._sampler import SamplerContext, SamplerFactory
    from autometa.contract._task import Task


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin: its name, where it comes from and the hooks it implements."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


class Plugins:
    """The registered plugins, with one typed method per hook.

    Build it with :func:`build_plugin_manager`; ``plugin_manager`` exposes the pluggy
    object for advanced use.
    """

    def __init__(
        self,
        plugin_manager: pluggy.PluginManager,
        distributions: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.plugin_manager = plugin_manager
        self._distributions = dict(distributions or {})

    # -- introspection --------------------------------------------------------------------
    def info(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution, version and hooks."""
        result = []
        for name, plugin in self.plugin_manager.list_name_plugin():
            if plugin is None:  # blocked
                continue
            hooks = tuple(
                sorted(caller.name for caller in self.plugin_manager.get_hookcallers(plugin) or [])
            )
            dist, version = self._distributions.get(name, (None, None))
            result.append(PluginInfo(name, dist, version, hooks))
        return result

    def names(self) -> list[str]:
        return [info.name for info in self.info()]

    # -- typed hook calls -----------------------------------------------------------------
    def algorithms(self, task: Task) -> dict[str, Algorithm]:
        """All algorithms for ``task`` by name; clashes and wrong types name the plugin."""
        return {name: algorithm for name, (algorithm, _) in self._algorithms(task).items()}

    def algorithm_sources(self, task: Task) -> dict[str, PluginInfo]:
        """Which plugin provides each algorithm for ``task`` (what a build records)."""
        infos = {info.name: info for info in self.info()}
        return {name: infos[plugin] for name, (_, plugin) in self._algorithms(task).items()}

    def _algorithms(self, task: Task) -> dict[str, tuple[Algorithm, str]]:
        found: dict[str, tuple[Algorithm, str]] = {}
        for plugin_name, result in self._call_each("autometa_algorithms", task=task):
            if not isinstance(result, (list, tuple)):
                raise PluginError(
                    f"Plugin {plugin_name!r}: autometa_algorithms must return a list of "
                    f"Algorithm, got {type(result).__name__}."
                )
            for algorithm in result:
                if not isinstance(algorithm, Algorithm):
                    raise PluginError(
                        f"Plugin {plugin_name!r}: autometa_algorithms returned "
                        f"{type(algorithm).__name__}, expected autometa.contract.Algorithm."
                    )
                if algorithm.name in found:
                    raise PluginError(
                        f"Algorithm name {algorithm.name!r} is provided by both plugin "
                        f"{found[algorithm.name][1]!r} and plugin {plugin_name!r}; block one "
                        "of them (blocked=[...]) or rename the algorithm."
                    )
                if task.kind in algorithm.kinds:
                    found[algorithm.name] = (algorithm, plugin_name)
        return found

    def meta_feature_groups(self, task: Task) -> dict[str, Callable[[], Mapping[str, float]]]:
        """One zero-argument callable per plugin that computes its meta-features.

        The meta-feature engine calls and times each one as a group named after the
        plugin; errors raised inside are re-raised naming the plugin.
        """
        groups: dict[str, Callable[[], Mapping[str, float]]] = {}
        for impl in self._impls("autometa_meta_features"):
            groups[impl.plugin_name] = _checked_meta_features(impl, task)
        return groups

    def meta_learners(self) -> dict[str, type[MetaLearner]]:
        """Registered meta-learner classes by their ``name``."""
        registry: dict[str, tuple[type[MetaLearner], str]] = {}
        for plugin_name, result in self._call_each("autometa_meta_learners"):
            if not isinstance(result, (list, tuple)):
                raise PluginError(
                    f"Plugin {plugin_name!r}: autometa_meta_learners must return a list of "
                    f"MetaLearner classes, got {type(result).__name__}."
                )
            for cls in result:
                if not (isinstance(cls, type) and issubclass(cls, MetaLearner)) or not cls.name:
                    raise PluginError(
                        f"Plugin {plugin_name!r}: {cls!r} is not a MetaLearner subclass with "
                        "a non-empty `name` class attribute."
                    )
                if cls.name in registry and registry[cls.name][0] is not cls:
                    raise PluginError(
                        f"Meta-learner name {cls.name!r} is provided by both plugin "
                        f"{registry[cls.name][1]!r} and plugin {plugin_name!r}."
                    )
                registry[cls.name] = (cls, plugin_name)
        return {name: cls for name, (cls, _) in registry.items()}

    def select_strategy(
        self,
        task: Task,
        meta_features: Mapping[str, float],
        knowledge: KnowledgeView,
        meta_learners: Sequence[str],
        budget: SearchBudget | None = None,
    ) -> tuple[Strategy, str] | None:
        """The first strategy a selector returns (last registered asked first), and who.

        ``budget`` defaults to no time limit on the task's own rows and folds.
        """
        impls = list(reversed(self._impls("autometa_select_strategy")))
        kwargs = {
            "task": task,
            "meta_features": meta_features,
            "knowledge": knowledge,
            "meta_learners": list(meta_learners),
            "budget": budget or SearchBudget(None, task.n_splits, task.n_rows),
        }
        for impl in impls:
            result = _call_impl(impl, "autometa_select_strategy", kwargs)
            if result is None:
                continue
            if not isinstance(result, Strategy):
                raise PluginError(
                    f"Plugin {impl.plugin_name!r}: autometa_select_strategy returned "
                    f"{type(result).__name__}, expected autometa.contract.Strategy or None."
                )
            return result, impl.plugin_name
        return None

    def evaluate_selector(
        self,
        report: Any,
        knowledge: KnowledgeView,
        *,
        evaluate: bool,
        save_to: str | None,
        n_jobs: int,
    ) -> tuple[Any, str | None] | None:
        """The first plugin's selector evaluation (last registered asked first), or None."""
        kwargs = {
            "report": report,
            "knowledge": knowledge,
            "evaluate": evaluate,
            "save_to": save_to,
            "n_jobs": n_jobs,
        }
        for impl in reversed(self._impls("autometa_evaluate_selector")):
            result = _call_impl(impl, "autometa_evaluate_selector", kwargs)
            if result is not None:
                return result
        return None

    def samplers(self) -> dict[str, SamplerFactory]:
        """Sampler factories the plugins offer, by the name a Strategy uses.

        A name that is built in (``"tpe"``, ...) or offered by two plugins fails naming
        the plugins; so does a factory that is not callable.
        """
        return {name: factory for name, (factory, _) in self._sampler_registry().items()}

    def make_sampler(
        self, name: str, context: SamplerContext, random_state: int | None, n_jobs: int
    ) -> BaseSampler:
        """Build the sampler a plugin offers as ``name``; errors name the plugin."""
        from optuna.samplers import BaseSampler  # optuna loads only when a fit needs it

        factory, plugin_name = self._sampler_registry()[name]
        try:
            sampler = factory(context, random_state, n_jobs)
        except Exception as exc:
            raise PluginError(
                f"Plugin {plugin_name!r} raised building sampler {name!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(sampler, BaseSampler):
            raise PluginError(
                f"Plugin {plugin_name!r}: sampler {name!r} was built as "
                f"{type(sampler).__name__}, expected an optuna.samplers.BaseSampler."
            )
        return sampler

    def _sampler_registry(self) -> dict[str, tuple[SamplerFactory, str]]:
        registry: dict[str, tuple[SamplerFactory, str]] = {}
        for plugin_name, result in self._call_each("autometa_samplers"):
            if not isinstance(result, Mapping):
                raise PluginError(
                    f"Plugin {plugin_name!r}: autometa_samplers must return a mapping of name "
                    f"to sampler factory, got {type(result).__name__}."
                )
            for name, factory in result.items():
                if not isinstance(name, str) or not name:
                    raise PluginError(
                        f"Plugin {plugin_name!r}: sampler names must be non-empty strings, got "
                        f"{name!r}."
                    )
                if name in BUILTIN_SAMPLERS:
                    raise PluginError(
                        f"Plugin {plugin_name!r} offers a sampler named {name!r}, which is "
                        f"built in ({list(BUILTIN_SAMPLERS)}); give it another name."
                    )
                if not callable(factory):
                    raise PluginError(
                        f"Plugin {plugin_name!r}: sampler {name!r} must be a callable "
                        f"factory(context, random_state, n_jobs), got {factory!r}."
                    )
                if name in registry and registry[name][0] is not factory:
                    raise PluginError(
                        f"Sampler name {name!r} is offered by both plugin "
                        f"{registry[name][1]!r} and plugin {plugin_name!r}; block one of them."
                    )
                registry[name] = (factory, plugin_name)
        return registry

    def trial_completed(self, evaluation: Evaluation, task: Task) -> None:
        """Notify observers; one that raises is reported as a warning and skipped."""
        for impl in self._impls("autometa_trial_completed"):
            try:
                impl.function(*[{"evaluation": evaluation, "task": task}[a] for a in impl.argnames])
            except Exception as exc:  # observers must never stop a fit
                warnings.warn(
                    f"Plugin {impl.plugin_name!r} raised in autometa_trial_completed: "
                    f"{type(exc).__name__}: {exc}",
                    ObserverWarning,
                    stacklevel=2,
                )

    # -- plumbing -------------------------------------------------------------------------
    def _impls(self, hook_name: str) -> list[Any]:
        caller = getattr(self.plugin_manager.hook, hook_name)
        return list(caller.get_hookimpls())

    def _call_each(self, hook_name: str, **kwargs: Any) -> Iterable[tuple[str, Any]]:
        for impl in self._impls(hook_name):
            yield impl.plugin_name, _call_impl(impl, hook_name, kwargs)


def _call_impl(impl: Any, hook_name: str, kwargs: Mapping[str, Any]) -> Any:
    """Call one hook implementation with the arguments it names; name it on failure."""
    try:
        return impl.function(*[kwargs[name] for name in impl.argnames])
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(
            f"Plugin {impl.plugin_name!r} raised in {hook_name}: {type(exc).__name__}: {exc}"
        ) from exc


def _checked_meta_features(impl: Any, task: Task) -> Callable[[], Mapping[str, float]]:
    def compute() -> Mapping[str, float]:
        result = _call_impl(impl, "autometa_meta_features", {"task": task})
        if not isinstance(result, Mapping):
            raise PluginError(
                f"Plugin {impl.plugin_name!r}: autometa_meta_features must return a mapping "
                f"of name to float, got {type(result).__name__}."
            )
        checked = {}
        for name, value in result.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise PluginError(
                    f"Plugin {impl.plugin_name!r}: meta-feature {name!r} is {value!r}, "
                    "not a number (use NaN where undefined)."
                ) from None
            checked[str(name)] = number if not math.isinf(number) else math.nan
        return checked

    return compute
