"""The example third-party plugin, installed as CI installs it, is found and passes its tests.

CI (``.ci/run``) runs ``pip install -e examples/autometa_example_plugin`` before the test
command, so a missing installation is a failure here, not a skip.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autometa._plugins import DISABLE_AUTOLOAD_ENV

PACKAGE_DIR = Path(__file__).parent.parent / "examples" / "autometa_example_plugin"
DISTRIBUTION = "autometa-example-plugin"
INSTALL = "pip install -e examples/autometa_example_plugin"


@pytest.fixture(scope="module")
def installed() -> str:
    """The installed version of the example distribution; fails with the fix if absent."""
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        message = f"the example plugin is not installed; run `{INSTALL}` (CI does)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: absence there is a broken set-up
        pytest.skip(message)  # a newcomer's machine after the README's first command
    return version


def child_environment() -> dict[str, str]:
    """This environment, minus a switch that would hide entry points from the child."""
    return {k: v for k, v in os.environ.items() if k != DISABLE_AUTOLOAD_ENV}


def test_cli_lists_the_example_plugin_with_its_distribution_and_hooks(installed: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "autometa", "plugins"],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_environment(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert "example" in rows, f"`autometa plugins` does not list it; run `{INSTALL}`"
    _, distribution, version, *hooks = rows["example"]
    assert (distribution, version) == (DISTRIBUTION, installed)
    assert [hook.rstrip(",") for hook in hooks] == [
        "autometa_algorithms",
        "autometa_meta_features",
    ]
    assert {"sklearn", "learners", "selectors"} <= set(rows)  # first-party still load


def test_the_example_packages_own_tests_pass(installed: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PACKAGE_DIR)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PACKAGE_DIR,
        env=child_environment(),
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "failed" not in result.stdout
