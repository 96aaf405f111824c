"""docs/plugins.md stays true to autometa/hookspecs.py (as datasette tests its plugin docs).

Every hookspec-marked function of the module must have a section in the guide whose
first code block is its signature, exactly as ``inspect.signature`` reads it; no section
may document a hook that does not exist; every hook has a docstring; ``firstresult``
hooks say so; each hook's example runs and passes autometa's own conformance checks; and
the README links the guide.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import autometa.testing
from autometa.contract import hookspecs

ROOT = Path(__file__).parent.parent
GUIDE = ROOT / "docs" / "plugins.md"
SPEC_ATTRIBUTE = f"{hookspecs.PROJECT_NAME}_spec"


def hookspec_functions() -> dict[str, Callable[..., Any]]:
    """The functions of autometa.contract.hookspecs that carry pluggy's hookspec marker."""
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, SPEC_ATTRIBUTE)
    }


def signature_text(function: Callable[..., Any]) -> str:
    """``name(arg: Type, ...) -> Return`` with annotations as written in the source.

    hookspecs.py postpones annotations (``from __future__ import annotations``), so
    ``inspect.signature`` holds them as the source's strings; they are shown unquoted.
    """
    signature = inspect.signature(function)

    def shown(annotation: Any) -> str:
        return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)

    parameters = []
    for parameter in signature.parameters.values():
        text = parameter.name
        if parameter.annotation is not inspect.Parameter.empty:
            text += f": {shown(parameter.annotation)}"
        if parameter.default is not inspect.Parameter.empty:
            text += f" = {parameter.default!r}"
        parameters.append(text)
    returns = ""
    if signature.return_annotation is not inspect.Signature.empty:
        returns = f" -> {shown(signature.return_annotation)}"
    return f"{function.__name__}({', '.join(parameters)}){returns}"


def guide_sections() -> dict[str, str]:
    """``### `name` `` sections of the guide, each up to the next heading of level <= 3."""
    text = GUIDE.read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    matches = list(re.finditer(r"^### `(\w+)`\s*$", text, flags=re.MULTILINE))
    for match in matches:
        rest = text[match.end() :]
        end = re.search(r"^#{1,3} ", rest, flags=re.MULTILINE)
        sections[match.group(1)] = rest[: end.start()] if end else rest
    return sections


def python_blocks(section: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


HOOKS = hookspec_functions()
SECTIONS = guide_sections()


def test_the_contract_has_hooks_and_the_guide_has_sections() -> None:
    assert len(HOOKS) >= 5
    assert SECTIONS, f"no '### `hook_name`' sections found in {GUIDE}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name]) or ""
    assert len(doc.split()) >= 10, f"hook {name} in autometa/hookspecs.py has no docstring"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_documented_with_its_exact_signature(name: str) -> None:
    assert name in SECTIONS, f"hook {name} is not documented in {GUIDE} (### `{name}`)"
    blocks = python_blocks(SECTIONS[name])
    assert blocks, f"the section of {name} in {GUIDE} has no python code block"
    documented = blocks[0].strip()
    assert documented == signature_text(HOOKS[name]), (
        f"{GUIDE}: the documented signature of {name} differs from autometa/hookspecs.py"
    )


def test_no_section_documents_a_hook_that_does_not_exist() -> None:
    documented_hooks = {name for name in SECTIONS if name.startswith("autometa_")}
    assert documented_hooks - set(HOOKS) == set()


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_firstresult_hooks_say_so_and_others_do_not(name: str) -> None:
    firstresult = bool(getattr(HOOKS[name], SPEC_ATTRIBUTE).get("firstresult"))
    assert ("firstresult" in SECTIONS.get(name, "")) == firstresult, (
        f"{GUIDE}: the section of {name} must mention 'firstresult' exactly when the hook is one"
    )


def check_algorithms_of(plugin: types.ModuleType) -> None:
    for task in autometa.testing.small_tasks().values():
        for algorithm in plugin.autometa_algorithms(task):
            autometa.testing.check_algorithm(algorithm, task, n_configs=1)


def check_meta_learners_of(plugin: types.ModuleType) -> None:
    for cls in plugin.autometa_meta_learners():
        autometa.testing.check_meta_learner(cls)


def observers_are_called_by_check_plugin(plugin: types.ModuleType) -> None:
    """check_plugin already calls observers with an ok and a failed evaluation."""


def check_selector_evaluation_of(plugin: types.ModuleType) -> None:
    """The example judges a selector on a real (tiny) leave-one-task-out report."""
    from autometa.knowledge._loto import leave_one_task_out
    from autometa_learners import GreedyPortfolio, NearestTasks

    with autometa.testing.small_knowledge_base() as knowledge:
        report = leave_one_task_out(
            knowledge, {"nearest_tasks": NearestTasks, "greedy_portfolio": GreedyPortfolio}
        )
        answer = plugin.autometa_evaluate_selector(report=report, evaluate=True)
    assert answer is not None
    judged, summary = answer
    assert judged is report
    assert summary is not None
    assert summary.startswith("best on average: ")


DEEP_CHECKS: dict[str, Callable[[types.ModuleType], None]] = {
    "autometa_algorithms": check_algorithms_of,
    "autometa_meta_features": autometa.testing.check_meta_features,
    "autometa_meta_learners": check_meta_learners_of,
    "autometa_select_strategy": autometa.testing.check_strategy_selector,
    "autometa_evaluate_selector": check_selector_evaluation_of,
    "autometa_samplers": autometa.testing.check_samplers,
    "autometa_trial_completed": observers_are_called_by_check_plugin,
}


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_example_runs_and_passes_the_conformance_checks(name: str) -> None:
    blocks = python_blocks(SECTIONS.get(name, ""))
    assert len(blocks) >= 2, f"the section of {name} in {GUIDE} needs an example code block"
    plugin = types.ModuleType(f"docs_example_{name}")
    exec(compile(blocks[1], f"{GUIDE}:{name}", "exec"), plugin.__dict__)
    assert hasattr(plugin, name), f"the example of {name} does not implement {name}"
    autometa.testing.check_plugin(plugin)
    DEEP_CHECKS[name](plugin)


def test_guide_documents_every_public_check() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    missing = [name for name in autometa.testing.__all__ if f"`{name}(" not in text]
    assert missing == []


def test_readme_links_the_plugin_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/plugins.md)" in readme, "README.md must link the plugin guide docs/plugins.md"
