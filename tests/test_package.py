"""What a user checks first about an installed package: its version and its license."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import autometa

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_the_installed_distribution_s() -> None:
    assert autometa.__version__ == importlib.metadata.version("autometa-ml")
    assert autometa.__version__.count(".") >= 2


def test_the_license_ships_with_the_source() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause License" in text
    assert 'license = { text = "BSD-3-Clause" }' in (ROOT / "pyproject.toml").read_text()


def test_python_dash_m_autometa_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "autometa", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "kb" in done.stdout
