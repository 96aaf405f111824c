"""Shared fixtures; makes tests/ importable in joblib worker processes too."""

from __future__ import annotations

import os
from pathlib import Path

TESTS_DIR = str(Path(__file__).parent)

# loky workers are fresh interpreters: they find test-only estimators (tests/estimators.py)
# through the environment they inherit.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (TESTS_DIR, os.environ.get("PYTHONPATH", "")) if p
)
