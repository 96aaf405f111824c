"""The examples run from a clone of the project alone, as the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.slow
def test_quickstart_runs_and_explains_itself() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--timeout", "10"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Winner:" in result.stdout
    auc = float(result.stdout.split("Test ROC AUC:")[1].split()[0])
    assert auc > 0.95  # breast cancer is easy; a broken pipeline would not get here
