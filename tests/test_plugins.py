"""The plugin manager: loading, blocking, validation, and errors that name the plugin."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier

from autometa._plugins import (
    BUILTIN_PLUGINS,
    DISABLE_AUTOLOAD_ENV,
    ObserverWarning,
    PluginError,
    PluginLoadWarning,
    build_plugin_manager,
)
from autometa.contract import Algorithm, Config, Evaluation, MetaLearner, Strategy, Task
from autometa.contract.hookspecs import hookimpl

FIRST_PARTY = {"sklearn", "learners", "selectors", "multitask"}


@pytest.fixture
def iris_task() -> Task:
    X, y = load_iris(return_X_y=True)
    return Task.from_data(X, y, random_state=0)


def dummy_algorithm(name: str = "dummy") -> Algorithm:
    return Algorithm(
        name=name,
        kinds=("binary", "multiclass"),
        make_estimator=lambda params, task: DummyClassifier(**params),
        search_space=lambda task: {},
    )


def make_plugin(name: str, **hooks: object) -> types.SimpleNamespace:
    plugin = types.SimpleNamespace(autometa_plugin_name=name)
    for hook_name, function in hooks.items():
        setattr(plugin, hook_name, hookimpl(function))
    return plugin


def test_first_party_plugins_load_as_builtins() -> None:
    plugins = build_plugin_manager()
    assert {name for name, _ in BUILTIN_PLUGINS} == FIRST_PARTY
    infos = {info.name: info for info in plugins.info()}
    assert set(infos) >= FIRST_PARTY
    assert infos["sklearn"].distribution == "autometa-ml"
    assert infos["sklearn"].hooks == ("autometa_algorithms",)
    assert "autometa_select_strategy" in infos["selectors"].hooks


def test_blocking_and_autoload_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "sklearn" not in build_plugin_manager(blocked=["sklearn"]).names()
    assert build_plugin_manager(allowed=["learners"]).names() == ["learners"]
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    mine = make_plugin("mine", autometa_meta_learners=lambda: [])
    # the switch drops third-party entry points only: the built-ins stay, blockable by name
    assert build_plugin_manager([mine]).names() == [*sorted(FIRST_PARTY), "mine"]
    assert "selectors" not in build_plugin_manager([mine], blocked=["selectors"]).names()
    assert build_plugin_manager([mine], builtins=False).names() == ["mine"]


def _install_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """A real installed distribution (dist-info on sys.path) with entry point ``third``."""
    (tmp_path / "third_party_plugin.py").write_text(source)
    dist_info = tmp_path / "third_party_plugin-0.3.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: third-party-plugin\nVersion: 0.3\n"
    )
    (dist_info / "entry_points.txt").write_text("[autometa]\nthird = third_party_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "third_party_plugin", raising=False)


def test_autoload_switch_drops_third_party_entry_points_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_entry_point(
        tmp_path,
        monkeypatch,
        "from autometa.contract import hookimpl\n\n"
        "@hookimpl\ndef autometa_meta_learners():\n    return []\n",
    )
    loaded = {info.name: info for info in build_plugin_manager().info()}
    assert set(loaded) >= FIRST_PARTY | {"third"}  # other installed plugins may be there too
    assert (loaded["third"].distribution, loaded["third"].version) == ("third-party-plugin", "0.3")
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert set(build_plugin_manager().names()) == FIRST_PARTY
    assert set(build_plugin_manager(autoload=True).names()) >= FIRST_PARTY | {"third"}


def test_hook_wrappers_are_refused_naming_the_plugin() -> None:
    import pluggy

    from autometa.contract.hookspecs import PROJECT_NAME

    marker = pluggy.HookimplMarker(PROJECT_NAME)

    def old_style(task: Task):  # type: ignore[no-untyped-def]
        outcome = yield
        outcome.force_result([dummy_algorithm("wrapped")])

    def new_style(task: Task):  # type: ignore[no-untyped-def]
        result = yield
        return [*result, dummy_algorithm("wrapped")]

    plain = make_plugin("plain", autometa_algorithms=lambda task: [dummy_algorithm()])
    for name, wrapper in (
        ("old", marker(hookwrapper=True)(old_style)),
        ("new", marker(wrapper=True)(new_style)),
    ):
        plugin = types.SimpleNamespace(autometa_plugin_name=name, autometa_algorithms=wrapper)
        with pytest.raises(PluginError, match=rf"'{name}' implements \['\w+'\] as hook wrapp"):
            build_plugin_manager([plain, plugin], autoload=False, builtins=False)
    # a plain implementation beside it is untouched
    assert build_plugin_manager([plain], autoload=False, builtins=False).names() == ["plain"]


def test_unknown_hook_is_rejected() -> None:
    typo = make_plugin("typo", autometa_algorithm=lambda task: [])
    with pytest.raises(PluginError, match="'typo' is invalid"):
        build_plugin_manager([typo], autoload=False, builtins=False)


def test_duplicate_plugin_name_is_rejected() -> None:
    first = make_plugin("same", autometa_meta_learners=lambda: [])
    second = make_plugin("same", autometa_meta_learners=lambda: [])
    with pytest.raises(PluginError, match="already registered"):
        build_plugin_manager([first, second], autoload=False, builtins=False)


def test_algorithms_are_collected_and_clashes_name_both(iris_task: Task) -> None:
    one = make_plugin("one", autometa_algorithms=lambda task: [dummy_algorithm()])
    assert list(
        build_plugin_manager([one], autoload=False, builtins=False).algorithms(iris_task)
    ) == ["dummy"]
    two = make_plugin("two", autometa_algorithms=lambda task: [dummy_algorithm()])
    with pytest.raises(PluginError, match="'one' and plugin 'two'"):
        build_plugin_manager([one, two], autoload=False, builtins=False).algorithms(iris_task)


def test_raising_and_wrong_type_plugins_are_named(iris_task: Task) -> None:
    def explode(task: Task) -> list[Algorithm]:
        raise RuntimeError("boom")

    raising = make_plugin("raising", autometa_algorithms=explode)
    with pytest.raises(PluginError, match="'raising' raised in autometa_algorithms: RuntimeError"):
        build_plugin_manager([raising], autoload=False, builtins=False).algorithms(iris_task)
    wrong = make_plugin("wrong", autometa_algorithms=lambda task: ["not an algorithm"])
    with pytest.raises(PluginError, match=r"'wrong'.*expected autometa\.contract\.Algorithm"):
        build_plugin_manager([wrong], autoload=False, builtins=False).algorithms(iris_task)
    strategy = make_plugin("strat", autometa_select_strategy=lambda task: {"meta_learner": "x"})
    with pytest.raises(PluginError, match=r"'strat'.*expected autometa\.contract\.Strategy"):
        build_plugin_manager([strategy], autoload=False, builtins=False).select_strategy(
            iris_task,
            {},
            None,
            [],  # type: ignore[arg-type]
        )
    features = make_plugin("feat", autometa_meta_features=lambda task: {"f": "high"})
    groups = build_plugin_manager([features], autoload=False, builtins=False).meta_feature_groups(
        iris_task
    )
    with pytest.raises(PluginError, match="'feat': meta-feature 'f'"):
        groups["feat"]()


def test_meta_learner_registry_checks_classes() -> None:
    class Nameless(MetaLearner):
        def fit(self, knowledge):  # type: ignore[no-untyped-def]
            return self

        def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
            return []

    bad = make_plugin("bad", autometa_meta_learners=lambda: [Nameless])
    with pytest.raises(PluginError, match="non-empty `name`"):
        build_plugin_manager([bad], autoload=False, builtins=False).meta_learners()
    registry = build_plugin_manager().meta_learners()
    assert "nearest_tasks" in registry


def test_user_selector_is_asked_before_the_shipped_one(iris_task: Task) -> None:
    mine = Strategy(meta_learner=None, n_warm_starts=0, sampler="random", reason="mine")
    picky = make_plugin("picky", autometa_select_strategy=lambda task: mine)
    abstains = make_plugin("abstains", autometa_select_strategy=lambda task: None)
    from autometa.knowledge import KnowledgeBase

    knowledge = KnowledgeBase.in_memory()
    chosen = build_plugin_manager([picky, abstains]).select_strategy(
        iris_task, {}, knowledge, ["nearest_tasks"]
    )
    assert chosen == (mine, "picky")
    shipped = build_plugin_manager().select_strategy(iris_task, {}, knowledge, [])
    assert shipped is not None
    assert shipped[1] == "selectors"


def test_observer_errors_only_warn(iris_task: Task) -> None:
    seen: list[Evaluation] = []

    def explode(evaluation: Evaluation) -> None:
        raise ValueError("observer bug")

    loud = make_plugin("loud", autometa_trial_completed=explode)
    quiet = make_plugin(
        "quiet", autometa_trial_completed=lambda evaluation: seen.append(evaluation)
    )
    plugins = build_plugin_manager([loud, quiet], autoload=False, builtins=False)
    evaluation = Evaluation("t", Config("dummy"), 0.5, 0.1)
    with pytest.warns(ObserverWarning, match="'loud' raised"):
        plugins.trial_completed(evaluation, iris_task)
    assert seen == [evaluation]


def test_broken_entry_point_warns_with_distribution_and_others_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist_info = tmp_path / "broken_autometa_plugin-1.2.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-autometa-plugin\nVersion: 1.2\n"
    )
    (dist_info / "entry_points.txt").write_text("[autometa]\nbroken = module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(PluginLoadWarning, match="'broken'.*'broken-autometa-plugin'"):
        plugins = build_plugin_manager()
    assert set(plugins.names()) >= FIRST_PARTY
    assert "broken" not in plugins.names()
    assert build_plugin_manager(blocked=["broken"]).names()  # blocking silences it


def test_core_never_imports_plugins() -> None:
    """Importing the core does not import a plugin (they load when a manager is built)."""
    core = Path(__file__).parent.parent / "autometa"
    offenders = [
        str(path)
        for path in core.rglob("*.py")
        if any(
            line.lstrip().startswith(("import autometa_", "from autometa_"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []
    # and importing the core does not drag them in: checked in a fresh interpreter, so
    # this process keeps one copy of each module (a re-import here left a second copy of
    # autometa._api bound to a second autometa.contract, which broke later tests' fits)
    probe = (
        "import sys, autometa, autometa._api, autometa.search._planning\n"
        "print(sorted(m for m in sys.modules if m.startswith('autometa_')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
    assert build_plugin_manager().names()  # while building a manager does load them


def test_algorithm_names_are_validated() -> None:
    with pytest.raises(ValueError, match="identifier without '__'"):
        dummy_algorithm("bad__name")
    with pytest.raises(ValueError, match="kinds"):
        Algorithm("x", ("ranking",), lambda p, t: None, lambda t: {})  # type: ignore[arg-type]
