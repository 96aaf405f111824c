"""The layers of docs/architecture.md, checked on the source with ast (nothing is imported).

Every import counts: at module level, under ``if TYPE_CHECKING:``, inside functions, and
relative imports resolved to absolute names. The rules:

- the contract (``autometa.contract``) imports nothing of autometa outside itself, and
  no plugin;
- layers import only downwards: contract < plugin manager (``autometa._plugins``) and
  progress bars (``autometa._progress``) < knowledge < search < surface (everything
  else in ``autometa``, the knowledge-base builder ``autometa._build`` among it), with
  no exception;
- no import cycle between autometa's subpackages and top-level modules, nor between
  any two modules;
- the core (``autometa``) never imports a plugin package, and no plugin imports another
  plugin (what two plugins share belongs to the contract);
- a first-party plugin imports of autometa only the contract (no back door).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "autometa"
PLUGINS = ROOT / "plugins"

LAYERS: Mapping[str, int] = {
    "_version": 0,
    "contract": 0,
    "_plugins": 1,
    "_progress": 1,
    "knowledge": 2,
    "search": 3,
}
"""Rank of each layered unit of autometa; every other unit is the surface, above them.
``_version`` (one constant, no imports) sits beside the contract at the bottom."""
SURFACE = max(LAYERS.values()) + 1

PLUGIN_BACK_DOORS: Mapping[tuple[str, str], str] = {
    ("plugins/autometa_selectors/__init__.py", "autometa.knowledge"): "annotation only",
    ("plugins/autometa_selectors/selection.py", "autometa.knowledge._base"): (
        "the task records its training data is labelled with"
    ),
    ("plugins/autometa_selectors/selection.py", "autometa.knowledge._loto"): (
        "the leave-one-task-out report its training data comes from"
    ),
    ("plugins/autometa_selectors/learned.py", "autometa.knowledge._base"): (
        "cache directory and fingerprints of the base it trains on"
    ),
    ("plugins/autometa_selectors/learned.py", "autometa.knowledge._loto"): (
        "leave-one-task-out replay that labels its training data"
    ),
    ("plugins/autometa_selectors/learned.py", "autometa._plugins"): (
        "the registered meta-learners it replays"
    ),
}
"""First-party plugin imports of autometa outside the contract today (owned by the
selectors' engineer); :func:`test_plugin_back_doors_are_still_there` fails when one is
closed, so the list only shrinks."""


def module_name(path: Path, top: Path) -> str:
    """Dotted module name of ``path`` under the import root ``top``."""
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, *, is_package: bool = False) -> Iterator[str]:
    """Every absolute module (or ``module.attribute``) name that ``source`` imports.

    Walks the whole tree, so imports under ``if TYPE_CHECKING:`` and inside functions
    count; ``from . import x`` and ``from ..y import z`` are resolved against ``module``.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            yield stem
            yield from (f"{stem}.{alias.name}" for alias in node.names)


def imports_of(path: Path, top: Path) -> set[str]:
    return set(
        imported_names(
            path.read_text(encoding="utf-8"),
            module_name(path, top),
            is_package=path.name == "__init__.py",
        )
    )


def unit_of(module: str) -> str | None:
    """The unit of autometa a module belongs to (subpackage or top-level module)."""
    parts = module.split(".")
    if parts[0] != "autometa":
        return None
    return parts[1] if len(parts) > 1 else "autometa"


def plugin_packages() -> set[str]:
    return {path.parent.name for path in PLUGINS.glob("*/__init__.py")}


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def unit_edges() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the imports (``file: module``) behind that edge."""
    edges: dict[str, dict[str, list[str]]] = {}
    for path in core_files():
        source_unit = unit_of(module_name(path, ROOT))
        assert source_unit is not None
        for name in sorted(imports_of(path, ROOT)):
            target = unit_of(name)
            if target is None or target == source_unit or target == "autometa":
                continue  # the package's __init__ is the public face, not a layer
            edges.setdefault(source_unit, {}).setdefault(target, []).append(
                f"{relative(path)}: {name}"
            )
    return edges


def is_known(file: str, name: str, known: Mapping[tuple[str, str], str]) -> bool:
    """Whether importing ``name`` (a module or ``module.attribute``) in ``file`` is listed
    in ``known``."""
    return any(
        file == known_file and (name == module or name.startswith(f"{module}."))
        for known_file, module in known
    )


def find_cycle(graph: Mapping[str, Mapping[str, object]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


# -- the checker itself can fail ------------------------------------------------------------
def test_imported_names_sees_every_kind_of_import() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os, autometa.search._loop\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from autometa.knowledge._base import KnowledgeBase\n"
        "def lazy():\n"
        "    import autometa_learners\n"
        "from . import _types\n"
        "from ..search import _loop\n"
    )
    names = set(imported_names(source, "autometa.contract.hookspecs"))
    assert {
        "autometa.search._loop",
        "autometa.knowledge._base",
        "autometa_learners",
        "autometa.contract._types",
        "autometa.search",
    } <= names
    assert "autometa.contract" in set(
        imported_names("from . import x\n", "autometa.contract", is_package=True)
    )


def test_find_cycle_finds_one_and_only_one() -> None:
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {}}) is None
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == ["a", "b", "c", "a"]


# -- the rules ---------------------------------------------------------------------------------
def test_contract_imports_only_the_contract() -> None:
    offenders = [
        f"{relative(path)}: {name}"
        for path in sorted((CORE / "contract").rglob("*.py"))
        for name in sorted(imports_of(path, ROOT))
        if (name == "autometa" or name.startswith(("autometa.", "autometa_")))
        and name != "autometa.contract"
        and not name.startswith("autometa.contract.")
    ]
    assert offenders == [], "the contract must stand alone (what plugins share lives in it)"


@pytest.mark.parametrize("unit", sorted(LAYERS))
def test_layers_import_only_downwards(unit: str) -> None:
    rank = LAYERS[unit]
    upward = {
        target: imports
        for target, imports in unit_edges().get(unit, {}).items()
        if LAYERS.get(target, SURFACE) >= rank
    }
    assert upward == {}, f"{unit} (layer {rank}) imports a layer at or above it"


def test_no_import_cycle_between_subpackages() -> None:
    edges = unit_edges()
    cycle = find_cycle(edges)
    detail = (
        []
        if cycle is None
        else [f"{a} -> {b}: {edges[a][b][:3]}" for a, b in itertools.pairwise(cycle)]
    )
    assert cycle is None, detail


def module_edges() -> dict[str, dict[str, str]]:
    """module -> module it imports -> the name imported (each import resolved to the
    longest dotted prefix that is a module of autometa; a package's ``__init__`` counts
    as the package's own module)."""
    modules = {module_name(path, ROOT): path for path in core_files()}
    edges: dict[str, dict[str, str]] = {}
    for module, path in modules.items():
        for name in sorted(imports_of(path, ROOT)):
            parts = name.split(".")
            target = next(
                (
                    ".".join(parts[:k])
                    for k in range(len(parts), 0, -1)
                    if ".".join(parts[:k]) in modules
                ),
                None,
            )
            if target is not None and target != module:
                edges.setdefault(module, {}).setdefault(target, name)
    return edges


def test_no_import_cycle_between_modules() -> None:
    """Not even through ``TYPE_CHECKING`` imports: a module that needs another's name
    only for an annotation still means the two cannot be read (or moved) apart.
    Checked by ``python -m pytest tests/test_architecture.py``."""
    edges = module_edges()
    assert len(edges) > 50, "the checker sees autometa's modules"
    cycle = find_cycle(edges)
    detail = [] if cycle is None else [f"{a} -> {b}" for a, b in itertools.pairwise(cycle)]
    assert cycle is None, detail


def test_core_never_imports_a_plugin() -> None:
    plugins = plugin_packages()
    assert {"autometa_sklearn", "autometa_learners", "autometa_multitask"} <= plugins
    offenders = [
        f"{relative(path)}: {name}"
        for path in core_files()
        for name in sorted(imports_of(path, ROOT))
        if name.split(".")[0] in plugins
    ]
    assert offenders == []


def test_no_plugin_imports_another_plugin() -> None:
    plugins = plugin_packages()
    offenders = [
        f"{relative(path)}: {name}"
        for package in sorted(plugins)
        for path in sorted((PLUGINS / package).rglob("*.py"))
        for name in sorted(imports_of(path, PLUGINS))
        if name.split(".")[0] in plugins - {package}
    ]
    assert offenders == [], "what two plugins share belongs to autometa.contract"


def plugin_files() -> list[Path]:
    return sorted(
        path for package in plugin_packages() for path in (PLUGINS / package).rglob("*.py")
    )


def test_first_party_plugins_import_only_the_contract() -> None:
    offenders = [
        f"{relative(path)}: {name}"
        for path in plugin_files()
        for name in sorted(imports_of(path, PLUGINS))
        if (name == "autometa" or name.startswith("autometa."))
        and not (name == "autometa.contract" or name.startswith("autometa.contract."))
        and not is_known(relative(path), name, PLUGIN_BACK_DOORS)
    ]
    assert offenders == [], "a first-party plugin gets no back door: use autometa.contract"


def test_plugin_back_doors_are_still_there() -> None:
    present = {
        (relative(path), name) for path in plugin_files() for name in imports_of(path, PLUGINS)
    }
    gone = sorted(set(PLUGIN_BACK_DOORS) - present)
    assert gone == [], f"closed: remove {gone} from PLUGIN_BACK_DOORS"


# -- sizes: a module or class a newcomer can read --------------------------------------------
MAX_MODULE_LINES = 400
"""Physical lines (blank lines, comments and docstrings included) of one module at most."""
MAX_CLASS_LINES = 300
"""Lines of one class statement at most, from its first decorator to its last line."""


def oversized(path: Path, top: Path = ROOT) -> list[str]:
    """The module at ``path`` and any class in it over its size limit, with their sizes
    (named relative to ``top``)."""
    source = path.read_text(encoding="utf-8")
    name = path.relative_to(top).as_posix()
    found = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{name}: {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            size = node.end_lineno - first + 1
            if size > MAX_CLASS_LINES:
                found.append(f"{name}: class {node.name} {size} lines (at most {MAX_CLASS_LINES})")
    return found


def test_oversized_sees_long_modules_and_classes(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_CLASS_LINES))
    long_class = tmp_path / "long_class.py"
    long_class.write_text(f"@decorator\nclass Big:\n{body}\n", encoding="utf-8")
    long_module = tmp_path / "long_module.py"
    long_module.write_text("x = 1\n" * (MAX_MODULE_LINES + 1), encoding="utf-8")
    short = tmp_path / "short.py"
    short.write_text("class Small:\n    x = 1\n" + "\n" * (MAX_MODULE_LINES - 2), encoding="utf-8")
    assert oversized(long_class, tmp_path) == [
        f"long_class.py: class Big {MAX_CLASS_LINES + 2} lines (at most {MAX_CLASS_LINES})"
    ]
    assert oversized(long_module, tmp_path) == [
        f"long_module.py: {MAX_MODULE_LINES + 1} lines (at most {MAX_MODULE_LINES})"
    ]
    assert oversized(short, tmp_path) == []


def test_no_module_or_class_is_too_long() -> None:
    offenders = [found for path in core_files() for found in oversized(path)]
    assert not offenders, "split these by job (one module, one job):\n" + "\n".join(offenders)


# -- what is public ------------------------------------------------------------------------------
PUBLIC_MODULES: Mapping[str, str] = {
    "autometa": "the export table users import from: fit, recommend, warm_start, ...",
    "autometa.contract": "what a plugin author imports: hook types, MetaLearner, helpers",
    "autometa.contract.hookspecs": "the hook specifications docs/plugins.md documents",
    "autometa.knowledge": "KnowledgeBase and the knowledge layer's documented names",
    "autometa.persistence": "save_model / load_model of .skops files (README)",
    "autometa.plots": "plots of a fitted model (README, docs/concepts.md)",
    "autometa.search": "names the search layer; exports nothing, its modules are private",
    "autometa.study_transfer": "transfer between a user's own Optuna studies",
    "autometa.testing": "conformance checks plugin authors run (docs/plugins.md)",
}
"""Every module of autometa whose dotted name has no part starting with ``_``, and why
it is public; docs/architecture.md ("What is public") lists the same modules."""

ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"


def public_modules() -> set[str]:
    names = {module_name(path, ROOT) for path in core_files()}
    return {name for name in names if not any(part.startswith("_") for part in name.split("."))}


def documented_public_modules() -> set[str]:
    """Modules named in backquotes in the first column of docs/architecture.md's table
    under "## What is public"."""
    text = ARCHITECTURE_DOC.read_text(encoding="utf-8")
    section = text.split("## What is public", 1)[1].split("\n## ", 1)[0]
    return {
        line.split("`")[1]
        for line in section.splitlines()
        if line.startswith("| `") and line.split("`")[1].startswith("autometa")
    }


def test_every_public_module_is_meant_to_be() -> None:
    assert public_modules() == set(PUBLIC_MODULES), (
        "a module without a leading underscore is public API: make it private (_name.py) "
        "or add it, with a reason, to PUBLIC_MODULES and docs/architecture.md"
    )


def test_the_docs_list_the_public_modules() -> None:
    assert documented_public_modules() == set(PUBLIC_MODULES)
