"""The README's code blocks run, as a new user following it top to bottom runs them.

Every fenced block of README.md is checked: ```python blocks run in order in one
namespace (:func:`readme_namespace` supplies the names their prose takes for granted,
such as ``X``, ``y`` and ``study``), ```bash blocks run line by line in a shell, and the
plain ``` block (the JSON Lines format) is imported as a knowledge base file. A block of
any other language fails :func:`test_every_block_is_checked` until it is given a check here.

What runs differs from the README only where this file says so, in two tables: the
textual :data:`SUBSTITUTIONS` (budgets made small, external services made local), each
of which must match exactly once so that a README edit breaking one fails instead of
silently running something else, and the shell commands in :data:`SKIPPED_COMMANDS`,
each with the reason it is not run here. ``.venv/bin/`` in a command is the folder of the
interpreter running the tests (CI's ``.venv``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import cross_val_score, train_test_split

from autometa import KnowledgeBase

pytestmark = pytest.mark.slow  # about 50 s on 2 cores: four fits, a CLI fit, a cluster fit

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
CI_SCRIPT = ROOT / ".ci" / "run"
VENV_BIN = Path(sys.executable).parent
"""Where the README's ``.venv/bin/`` is: the virtual environment running the tests."""

CLUSTER_CALL = 'Client("tcp://scheduler:8786")'
"""Marks the cluster block, which needs PostgreSQL and runs in its own test."""

SUBSTITUTIONS: dict[str, str] = {
    # -- budgets: trials, not seconds, so a loaded machine runs slower, not differently
    "autometa.fit(X, y, timeout=60)": "autometa.fit(X, y, n_trials=3)",
    "n_trials=500,": "n_trials=4,",
    "n_jobs=32,": "n_jobs=2,",
    "timeout=3600,": "timeout=None,",
    "study.optimize(objective, n_trials=50)": "study.optimize(objective, n_trials=3)",
    "autometa.fit(X, y, knowledge=kb)": "autometa.fit(X, y, knowledge=kb, n_trials=3)",
    "plugins=[my_module])": "plugins=[my_module], n_trials=3)",
    "--timeout 60": "--n-trials 3",
    # -- external services: a local dask cluster and throwaway PostgreSQL databases, made
    # by test_cluster_block and named readme_* in its namespace
    CLUSTER_CALL: "Client(readme_cluster)",
    '"postgresql+psycopg://me:secret@db/studies"': "readme_studies_url",
    '"postgresql+psycopg://me:secret@db/knowledge"': "readme_knowledge_url",
}
"""README text -> what runs instead; each README text occurs exactly once in its code
blocks, and neither side spans lines, so tracebacks point at the README's own lines."""

SKIPPED_COMMANDS: dict[str, str] = {
    # Installing is what makes the environment these tests run in: CI's .ci/run creates a
    # fresh .venv and installs ".[test]" into it, as this line does. The quickstart the
    # line then runs is run, and its held-out score checked, by tests/test_examples.py.
    # (test_skipped_commands_are_covered checks both.)
    'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" '
    "&& .venv/bin/python examples/quickstart.py": "installs (CI does)",
    # The test command runs the suite this file is part of; .ci/run ends with it.
    ".venv/bin/python -m pytest": "the test suite itself, which .ci/run runs",
    # The corpus of real datasets is not shipped; tests/test_builder.py runs the same
    # builder on a tiny corpus.
    "autometa kb build path/to/corpus --out kb-build/kb.db --shards autometa/data/default_kb "
    "--n-jobs 2": "needs the project's corpus, which is not shipped",
}
"""Shell commands of the README not run here, with why (see the comments)."""


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language (``""`` for a plain fence), the README line of
    its first line of code, and its text."""

    language: str
    line: int
    text: str

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.language or 'plain'})"


def readme_blocks() -> list[Block]:
    """The README's fenced code blocks, in order."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```\s*$", text, flags=re.MULTILINE | re.DOTALL):
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append(Block(match.group(1), line, match.group(2)))
    return blocks


def of_language(language: str) -> list[Block]:
    return [block for block in readme_blocks() if block.language == language]


def substituted(text: str) -> str:
    """README code with :data:`SUBSTITUTIONS` applied."""
    for old, new in SUBSTITUTIONS.items():
        text = text.replace(old, new)
    return text


def run_python(block: Block, namespace: dict[str, Any]) -> None:
    """Run a block in ``namespace``; errors point at README.md's line numbers."""
    source = "\n" * (block.line - 1) + substituted(block.text)
    exec(compile(source, str(README), "exec"), namespace)


def command_lines(block: Block) -> list[str]:
    """A shell block's commands: its lines without comments and blank lines."""
    lines = [line.strip() for line in block.text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def imports_of(blocks: list[Block]) -> str:
    """The top-level import statements of ``blocks``: what a reader has imported by then."""
    statements = []
    for block in blocks:
        for node in ast.parse(block.text).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                statements.append(ast.unparse(node))
    return "\n".join(statements)


def plugin_module(block: Block) -> types.ModuleType:
    """``my_module`` of the plugin block: the block's code before its first use of the
    name, loaded as a module, as a user would save it in ``my_module.py``."""
    lines = block.text.splitlines()
    first_use = next(i for i, line in enumerate(lines) if "my_module" in line)
    module = types.ModuleType("my_module")
    exec(compile("\n".join(lines[:first_use]), "my_module.py", "exec"), module.__dict__)
    return module


@pytest.fixture
def readme_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the README's Python blocks take for granted, in a temporary working folder.

    ``X``, ``y``: a stratified 200-row subsample of scikit-learn's breast cancer data (a
    binary task, as the README's ``kind="binary"`` and ``scoring="roc_auc"`` say);
    ``study``: a fresh ``optuna.create_study(direction="maximize")``, the user's own;
    ``cross_val_score``: scikit-learn's; ``my_module``: the plugin the Plugins block
    writes (:func:`plugin_module`). Files the blocks write land in ``tmp_path``.
    """
    monkeypatch.chdir(tmp_path)
    X_all, y_all = load_breast_cancer(return_X_y=True, as_frame=True)
    X, _, y, _ = train_test_split(X_all, y_all, train_size=200, stratify=y_all, random_state=0)
    plugin_blocks = [block for block in of_language("python") if "my_module" in block.text]
    assert len(plugin_blocks) == 1, "exactly one README block should use my_module"
    return {
        "__name__": "__readme__",
        "X": X,
        "y": y,
        "study": optuna.create_study(direction="maximize"),
        "cross_val_score": cross_val_score,
        "my_module": plugin_module(plugin_blocks[0]),
    }


def test_every_block_is_checked() -> None:
    languages = [block.language for block in readme_blocks()]
    assert set(languages) <= {"python", "bash", ""}, languages
    assert languages.count("") == 1, "the JSON Lines format should be the one plain block"


def test_each_substitution_matches_exactly_once() -> None:
    code = "\n".join(block.text for block in readme_blocks())
    for old, new in SUBSTITUTIONS.items():
        assert "\n" not in old, old
        assert "\n" not in new, new
        assert code.count(old) == 1, f"{old!r} occurs {code.count(old)} times in README code"


def test_skipped_commands_are_covered() -> None:
    """The README has the commands skipped here, and what they do is run elsewhere: the
    install and the test command by CI, the quickstart by tests/test_examples.py."""
    from test_examples import RUNS  # tests/ is on the path (tests/conftest.py)

    commands = {line for block in of_language("bash") for line in command_lines(block)}
    for command in SKIPPED_COMMANDS:
        assert command in commands, f"README no longer has the skipped command {command!r}"
    ci = CI_SCRIPT.read_text(encoding="utf-8").splitlines()
    assert "python3 -m venv .venv" in ci
    assert any(re.search(r'pip install .*-e "\.\[test\]"$', line) for line in ci)
    assert ci[-1] == ".venv/bin/python -m pytest"
    assert "quickstart.py" in RUNS


def test_python_blocks_run_in_order(readme_namespace: dict[str, Any]) -> None:
    """Every Python block but the cluster's, top to bottom, in one namespace."""
    for block in of_language("python"):
        if CLUSTER_CALL in block.text:
            continue  # needs PostgreSQL: test_cluster_block
        run_python(block, readme_namespace)
        if "plugins=[my_module]" in block.text:  # the plugin's meta-feature reached the fit
            assert "myplugin_rows_per_class" in readme_namespace["model"].meta_features_.values
    assert readme_namespace["model"].predict(readme_namespace["X"]).shape == (200,)


@pytest.fixture
def local_cluster() -> Iterator[Any]:
    """A one-worker dask LocalCluster in this process, for ``Client("tcp://...")``."""
    distributed = pytest.importorskip("distributed")  # the `dask` extra; part of `test`
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address=None,
        worker_dashboard_address=None,
    ) as cluster:
        yield cluster


def test_cluster_block(
    postgres_database: Callable[[], str],
    readme_namespace: dict[str, Any],
    local_cluster: Any,
) -> None:
    """The cluster block on a local dask cluster and two new PostgreSQL databases (skipped
    without AUTOMETA_TEST_POSTGRES_URL), after the imports of the blocks above it."""
    blocks = of_language("python")
    (index,) = [i for i, block in enumerate(blocks) if CLUSTER_CALL in block.text]
    studies_url, knowledge_url = postgres_database(), postgres_database()
    readme_namespace.update(
        readme_cluster=local_cluster,
        readme_studies_url=studies_url,
        readme_knowledge_url=knowledge_url,
    )
    exec(imports_of(blocks[:index]), readme_namespace)
    try:
        run_python(blocks[index], readme_namespace)
    finally:
        if "client" in readme_namespace:
            readme_namespace["client"].close()
    study = optuna.load_study(study_name="churn", storage=studies_url)
    assert len(study.trials) == 4
    (worker,) = local_cluster.workers.values()
    assert worker.state.executed_count >= 4, "the trials should run on the dask worker"
    kb = KnowledgeBase.open(knowledge_url)
    try:
        assert kb.counts()["tasks"] == 1  # the empty database learned this task
    finally:
        kb.close()


@pytest.mark.parametrize("block", of_language("bash"), ids=lambda block: f"line{block.line}")
def test_shell_block(block: Block, tmp_path: Path) -> None:
    """Each command of the block, in order, in a fresh working folder, with the test
    environment's ``bin`` first on PATH."""
    env = {**os.environ, "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])}
    ran, skipped = [], []
    for command in command_lines(block):
        if command in SKIPPED_COMMANDS:
            skipped.append(SKIPPED_COMMANDS[command])
            continue
        command = substituted(command).replace(".venv/bin/", f"{VENV_BIN}/")
        result = subprocess.run(
            command,
            shell=True,
            executable="/bin/bash",
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{block.name}: {command}\n{result.stdout}\n{result.stderr}"
        ran.append(command)
    if not ran:
        pytest.skip(f"{block.name} is not run here: {'; '.join(skipped)} (SKIPPED_COMMANDS)")
    if "wine.csv" in block.text:  # what the block says it makes
        predictions = pd.read_csv(tmp_path / "predictions.csv")
        assert len(predictions) == len(pd.read_csv(tmp_path / "wine.csv"))
        assert (tmp_path / "model.joblib").is_file()
        assert {path.name for path in (tmp_path / "plots").iterdir()} >= {
            "task_space.png",
            "history.png",
            "predicted_vs_observed.png",
        }


def test_json_lines_block_imports(tmp_path: Path) -> None:
    """Each line of the format's example is JSON, and the lines import as a knowledge base."""
    (block,) = of_language("")
    lines = block.text.splitlines()
    for number, line in enumerate(lines, start=block.line):
        try:
            json.loads(line)
        except json.JSONDecodeError as exc:
            pytest.fail(f"README.md:{number} is not JSON: {exc}")
    path = tmp_path / "example.jsonl"
    path.write_text(block.text, encoding="utf-8")
    kb = KnowledgeBase.open(tmp_path / "kb.db")
    kb.import_jsonl(path)
    assert kb.counts() == {"tasks": 1, "configs": 1, "evaluations": 1}
    assert kb.metadata()["description"] == json.loads(lines[0])["metadata"]["description"]
