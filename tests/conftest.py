"""Shared fixtures; makes tests/ importable in joblib worker processes too."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

TESTS_DIR = str(Path(__file__).parent)

# loky workers are fresh interpreters: they find test-only estimators (tests/estimators.py)
# through the environment they inherit.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (TESTS_DIR, os.environ.get("PYTHONPATH", "")) if p
)


def _with_categorical(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add a categorical column with missing cells, like most real tables have."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    frame["colour"] = rng.choice(["red", "green", "blue"], size=len(frame)).astype(object)
    frame.loc[frame.index[::6], "colour"] = np.nan
    frame.iloc[::9, 0] = np.nan
    return frame


def write_corpus(root: Path) -> Path:
    """A corpus folder in the shape of ../shared/corpus, from scikit-learn's datasets."""
    data = root / "data"
    data.mkdir(parents=True)
    tables = {
        "iris": ("multiclass", load_iris(as_frame=True).frame),
        "wine": ("multiclass", load_wine(as_frame=True).frame),
        "cancer": ("binary", _with_categorical(load_breast_cancer(as_frame=True).frame, 0)),
        "cancer_small": (
            "binary",
            load_breast_cancer(as_frame=True).frame.sample(150, random_state=1),
        ),
        "diabetes": ("regression", _with_categorical(load_diabetes(as_frame=True).frame, 1)),
    }
    manifest = []
    for name, (kind, frame) in tables.items():
        frame.to_csv(data / f"{name}.csv.gz", index=False)
        manifest.append({"name": name, "task": kind, "n_rows": len(frame)})
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_knowledge(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real knowledge base built by the real builder with a small pool."""
    from autometa.builder import BuildProtocol, build_knowledge_base

    path = tmp_path_factory.mktemp("kb") / "tiny.db"
    protocol = BuildProtocol(n_splits=3, max_rows=300, time_limit_s=20, pool_size=14)
    build_knowledge_base(
        tiny_corpus,
        path,
        protocol=protocol,
        n_jobs=2,
        progress=False,
        datasets=["iris", "wine", "cancer", "diabetes"],
    ).close()
    return path


@pytest.fixture
def knowledge_copy(tiny_knowledge: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny knowledge base, for tests whose fits grow it."""
    import shutil

    copy = tmp_path / "copy.db"
    shutil.copyfile(tiny_knowledge, copy)
    return copy


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the default knowledge base's cache out of the user's home during tests."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOMETA_CACHE_DIR", str(folder))
        yield folder
