"""Shared fixtures; makes tests/ importable in joblib worker processes too."""

from __future__ import annotations

import os

# One OpenMP/BLAS thread per test process, set before numpy and scikit-learn load their
# thread pools (loky's workers inherit it). The suite fits hundreds of tiny models, on which
# a thread team costs more than it saves; on 2 cores, with worker processes busy too, it
# thrashed: tests/test_api.py and tests/test_ensemble.py took 101 s with the default and
# 63 s with one thread. A value already in the environment is kept.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# The suite's fits must not learn from, nor teach, the user's own knowledge base (the default
# layer over the shipped one): every test would see what earlier tests and the developer's own
# fits left there. Tests of that layer point it at a temporary file.
os.environ["AUTOMETA_USER_KNOWLEDGE"] = "off"

import json  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine  # noqa: E402

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
    from autometa._build import build_knowledge_base
    from autometa.knowledge._protocol import BuildProtocol

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


# -- PostgreSQL ----------------------------------------------------------------------------
POSTGRES_ENV = "AUTOMETA_TEST_POSTGRES_URL"
"""URL of a PostgreSQL server whose role may create databases (`.ci/run` sets it)."""


@pytest.fixture
def postgres_database() -> Iterator[Callable[[], str]]:
    """Makes new, empty PostgreSQL databases (returns each one's URL); drops them after.

    Their collation is ICU's en-US, as on most real servers (not the code-point order of
    a C locale), so results that depend on the server's sort order show up. Skipped when
    AUTOMETA_TEST_POSTGRES_URL is unset, except under CI=true, where that is a failure.
    """
    import uuid

    import sqlalchemy

    server = os.environ.get(POSTGRES_ENV)
    if not server:
        reason = (
            f"{POSTGRES_ENV} is not set; start the test server and point the tests at it "
            'with: eval "$(bash .ci/run postgres)"'
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL tests must run in CI: {reason}")
        pytest.skip(reason)
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"autometa_test_{uuid.uuid4().hex[:16]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        made.append(name)
        url = sqlalchemy.engine.make_url(server).set(database=name)
        return url.render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_database: Callable[[], str]) -> str:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    return postgres_database()
