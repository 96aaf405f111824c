"""A database password never shows and is never saved (issue 18, point 7).

A storage or knowledge URL may carry a PostgreSQL password in its user part or as
``?password=``. These tests fit on a real server (``postgres_database``, a role made for
the test whose password appears nowhere else) and look for the password in the model's
repr and notebook display, in the bytes of ``.joblib`` and ``.skops`` files, in errors,
in ``kb import``'s echo and in ``kb build -v``'s log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import pytest
import sqlalchemy
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer

import autometa
from autometa._cli import main
from autometa.knowledge import KnowledgeBase
from autometa.knowledge._urls import mask_url, without_password
from autometa.persistence import load_model, save_model

SECRET = "Sekr3t-pw-d8f1"


# -- the helper --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://bob:Sekr3t-pw-d8f1@h:5432/db", "postgresql+psycopg://bob:***@h:5432/db"),
        ("postgresql://bob@h/db?password=Sekr3t-pw-d8f1&sslmode=require", "postgresql://bob@h/db?password=***&sslmode=require"),
        ("postgresql://bob:Sekr3t-pw-d8f1@h:port/db?PASSWORD=Sekr3t-pw-d8f1", "postgresql://bob:***@h:port/db?PASSWORD=***"),
        ("sqlite:///tmp/kb.db", "sqlite:///tmp/kb.db"),
        ("/tmp/Sekr3t-pw-d8f1/kb.db", "/tmp/Sekr3t-pw-d8f1/kb.db"),  # a path is no URL
    ],
)  # fmt: skip
def test_mask_url_shows_no_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_without_password_keeps_the_rest() -> None:
    url = f"postgresql+psycopg://bob:{SECRET}@h:5432/db?password={SECRET}&sslmode=require"
    assert without_password(url) == "postgresql+psycopg://bob@h:5432/db?sslmode=require"
    assert without_password("kb.db") == "kb.db"


# -- a real server -------------------------------------------------------------------------
@pytest.fixture
def secret_databases(postgres_database: Callable[[], str]) -> Iterator[Callable[[], str]]:
    """Makes new databases owned by a new role; each URL has :data:`SECRET` as password."""
    server = os.environ["AUTOMETA_TEST_POSTGRES_URL"]
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    role = f"autometa_secret_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'")
    names: list[str] = []

    def make() -> str:
        name = sqlalchemy.engine.make_url(postgres_database()).database
        assert name is not None
        with admin.connect() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {name} OWNER TO {role}")
        names.append(name)
        url = sqlalchemy.engine.make_url(server).set(username=role, password=SECRET)
        return url.set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def as_query(url: str) -> str:
    """``url`` with its password given as ``?password=`` instead."""
    parsed = sqlalchemy.engine.make_url(url)
    moved = parsed.update_query_dict({"password": SECRET}).render_as_string(hide_password=False)
    return moved.replace(f":{SECRET}@", "@")


@pytest.mark.parametrize("in_query", [False, True], ids=["user-part", "query"])
def test_a_fitted_model_keeps_no_password(
    secret_databases: Callable[[], str],
    tmp_path: Path,
    in_query: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, knowledge = secret_databases(), secret_databases()
    if in_query:
        url, knowledge = as_query(url), as_query(knowledge)
        assert f"password={SECRET}" in url
        assert f":{SECRET}@" not in url
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = autometa.AutoMetaClassifier(
        n_trials=2,
        storage=url,
        study_name="secret",
        knowledge=knowledge,
        algorithms=["naive_bayes"],
        ensemble=False,
        random_state=0,
        memory_limit=None,
    )
    assert SECRET not in repr(model)
    model.fit(X.iloc[:200], y.iloc[:200])
    assert model.storage == url  # scikit-learn's rule: fit changes no parameter

    assert SECRET not in repr(model)
    assert SECRET not in model._repr_html_()
    joblib.dump(model, tmp_path / "model.joblib")
    assert SECRET.encode() not in (tmp_path / "model.joblib").read_bytes()
    save_model(model, tmp_path / "model.skops")
    assert SECRET.encode() not in (tmp_path / "model.skops").read_bytes()

    loaded = joblib.load(tmp_path / "model.joblib")
    assert loaded.storage == without_password(url)
    assert (loaded.predict(X.iloc[200:260]) == model.predict(X.iloc[200:260])).all()
    assert load_model(tmp_path / "model.skops").knowledge == without_password(knowledge)

    # Fitting the loaded model again resumes the study, the password from libpq's PGPASSWORD.
    monkeypatch.setenv("PGPASSWORD", SECRET)
    loaded.set_params(n_trials=3).fit(X.iloc[:200], y.iloc[:200])
    assert len(loaded.evaluations_) == 3


def test_a_model_fitted_on_a_knowledge_base_object_keeps_no_password(
    secret_databases: Callable[[], str], tmp_path: Path
) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    url = secret_databases()
    with KnowledgeBase.open(url) as knowledge:
        assert SECRET not in repr(knowledge)
        model = autometa.fit(
            X.iloc[:150], y.iloc[:150], n_trials=1, knowledge=knowledge,
            algorithms=["naive_bayes"], ensemble=False, memory_limit=None,
        )  # fmt: skip
        joblib.dump(model, tmp_path / "model.joblib")
    assert SECRET.encode() not in (tmp_path / "model.joblib").read_bytes()
    assert joblib.load(tmp_path / "model.joblib").knowledge == without_password(url)


# -- errors, echo and log ------------------------------------------------------------------
UNREACHABLE = [
    f"postgresql+psycopg://bob:{SECRET}@127.0.0.1:1/db",
    f"postgresql+psycopg://bob@127.0.0.1:1/db?password={SECRET}",
    f"postgresql+psycopg://bob@127.0.0.1:notaport/db?password={SECRET}",
]


@pytest.mark.parametrize("url", UNREACHABLE)
def test_errors_show_no_password(url: str) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with pytest.raises(ValueError, match="storage") as storage_error:
        autometa.fit(X, y, n_trials=1, storage=url, study_name="s")
    assert SECRET not in str(storage_error.value)
    with pytest.raises(ValueError, match=r"database URL|knowledge base") as knowledge_error:
        KnowledgeBase.open(url)
    assert SECRET not in str(knowledge_error.value)


def test_kb_import_echoes_no_password(secret_databases: Callable[[], str], tmp_path: Path) -> None:
    export = tmp_path / "export.jsonl"
    with KnowledgeBase.in_memory() as empty:
        empty.export_jsonl(export)
    result = CliRunner().invoke(main, ["kb", "import", str(export), "--into", secret_databases()])
    assert result.exit_code == 0, result.output
    assert "imported into" in result.output
    assert SECRET not in result.output


def test_kb_build_logs_no_password(tiny_corpus: Path) -> None:
    out = f"postgresql+psycopg://bob:{SECRET}@127.0.0.1:1/db"
    command = [sys.executable, "-m", "autometa", "-v", "kb", "build", str(tiny_corpus)]
    done = subprocess.run(
        [*command, "--out", out], capture_output=True, text=True, timeout=120, check=False
    )
    assert "kb build started" in done.stderr
    assert done.returncode == 2, done.stderr
    assert SECRET not in done.stderr + done.stdout
