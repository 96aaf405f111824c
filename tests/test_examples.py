"""The examples run from a clone of the project alone, as the README says.

Every ``examples/*.py`` runs as a real subprocess with a tight time budget and must exit
0 and print its key line. Benchmarks (``benchmark_*.py``) are skipped: they measure,
they do not demonstrate, and take minutes. A new example fails
:func:`test_every_example_is_run` until it is given a key line here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"
SKIPPED = ("benchmark_*.py",)
"""Glob patterns of scripts that are not run in CI (and why: see the module docstring)."""

RUNS: dict[str, tuple[list[str], str]] = {
    # script: (arguments that keep it short, a line its working run prints). Budgets in
    # trials where a script takes them: a loaded machine then runs slower, not differently.
    "quickstart.py": (
        ["--n-trials", "6", "--timeout", "120"],
        r"Test ROC AUC: (?P<score>[\d.]+)",
    ),
    "sgd_pca_ovr.py": (
        ["--n-trials", "4", "--timeout", "120"],
        r"Tuned by autometa: held-out accuracy (?P<score>[\d.]+)",
    ),
    "warm_start_optuna.py": ([], r"best after \d+ trials: transferred"),
}
MIN_SCORE = {"quickstart.py": 0.95, "sgd_pca_ovr.py": 0.9}
"""Held-out scores a working pipeline reaches easily (breast cancer, digits): a broken
pipeline, or one that silently falls back to a constant model, does not."""


def scripts() -> list[str]:
    skipped = {path.name for pattern in SKIPPED for path in EXAMPLES.glob(pattern)}
    return sorted(path.name for path in EXAMPLES.glob("*.py") if path.name not in skipped)


def test_every_example_is_run() -> None:
    missing = sorted(set(scripts()) - set(RUNS))
    assert not missing, f"give {missing} arguments and a key line in RUNS (or skip them)"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(RUNS))
def test_example_runs_and_prints_its_result(script: str) -> None:
    if not (EXAMPLES / script).is_file():
        pytest.fail(f"examples/{script} is listed in RUNS but does not exist")
    arguments, key_line = RUNS[script]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *arguments],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=EXAMPLES.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = re.search(key_line, result.stdout)
    assert found, f"{script} did not print {key_line!r}:\n{result.stdout[-2000:]}"
    if script in MIN_SCORE:
        assert float(found["score"]) > MIN_SCORE[script], result.stdout[-2000:]
    if script == "quickstart.py":
        assert "Winner:" in result.stdout  # the explanation is printed
