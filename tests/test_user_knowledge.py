"""The user's own knowledge base laid over the shipped one: every default fit teaches the next.

Layering is checked against its definition (a layered base reads as one base into which
both layers' contents were written in turn) and against the store interface's conformance
checks; the default path with real fits, a real SQLite file in a temporary user folder,
the opt-out, ``AUTOMETA_KNOWLEDGE`` and a damaged user base.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_iris, load_wine

import autometa
from autometa._cli import main
from autometa.contract import (
    Config,
    Evaluation,
    evidence_weights,
    greedy_cover,
    portfolio_regret,
    sparse_tasks,
)
from autometa.knowledge import (
    USER_KNOWLEDGE_ENV,
    KnowledgeBase,
    TaskRecord,
    default_knowledge,
    layered_knowledge,
    user_knowledge_location,
)
from autometa.knowledge._layered import LayeredStore
from autometa.knowledge._sql_store import SqlAlchemyStore
from autometa.search._planning import KNOWLEDGE_ENV, make_plan
from autometa.testing import check_knowledge_store
from autometa.testing._knowledge_store import KNOWLEDGE_STORE_CHECKS
from autometa_learners.portfolio import greedy_portfolio

RF = [Config("random_forest", {"n_estimators": n}) for n in (10, 20, 30)]


def _task(task_id: str, kind: str = "binary", value: float = 1.0) -> TaskRecord:
    return TaskRecord(task_id, task_id, kind, "roc_auc", {"NumberOfInstances": value})  # type: ignore[arg-type]


def _fill(kb: KnowledgeBase, tasks: list[TaskRecord], cells: list[Evaluation]) -> KnowledgeBase:
    for record in tasks:
        kb.add_task(record)
    kb.add_evaluations(cells)
    return kb


@pytest.fixture
def layers() -> tuple[KnowledgeBase, KnowledgeBase]:
    """A lower and an upper base that overlap in one task and one cell."""
    lower = _fill(
        KnowledgeBase.in_memory(),
        [_task("a"), _task("b"), _task("r", "regression")],
        [
            Evaluation("a", RF[0], 0.9, 1.0),
            Evaluation("a", RF[1], 0.8, 2.0),
            Evaluation("b", RF[0], 0.7, 1.5),
            Evaluation("b", RF[1], 0.75, 1.5),
            Evaluation("r", RF[0], 0.3, 0.5),
        ],
    )
    upper = _fill(
        KnowledgeBase.in_memory(),
        [_task("a", value=5.0), _task("c")],
        [
            # Replaces a's ok cell with a failure, adds a new configuration to a, and a task c.
            Evaluation("a", RF[0], math.nan, 3.0, "failed", "boom"),
            Evaluation("a", RF[2], 0.95, 4.0),
            Evaluation("c", RF[1], 0.6, 0.7),
            Evaluation("c", RF[2], 0.65, 0.8),
        ],
    )
    return lower, upper


def _flat(lower: KnowledgeBase, upper: KnowledgeBase) -> KnowledgeBase:
    flat = KnowledgeBase.in_memory()
    lower.copy_into(flat)
    upper.copy_into(flat)
    return flat


def _same_table(one: object, other: object) -> None:
    assert one.task_ids == other.task_ids  # type: ignore[attr-defined]
    assert [c.key for c in one.configs] == [c.key for c in other.configs]  # type: ignore[attr-defined]
    np.testing.assert_array_equal(one.scores, other.scores)  # type: ignore[attr-defined]


def test_a_layered_base_reads_as_both_layers_written_into_one(
    layers: tuple[KnowledgeBase, KnowledgeBase],
) -> None:
    lower, upper = layers
    layered, flat = layered_knowledge(lower, upper), _flat(lower, upper)
    assert layered.tasks() == flat.tasks()
    assert layered.task("a").meta_features == {"NumberOfInstances": 5.0}  # the upper record
    assert layered.evaluations() == flat.evaluations()
    assert layered.evaluations("a") == flat.evaluations("a")
    assert layered.evaluations(kind="regression") == flat.evaluations(kind="regression")
    assert layered.configs() == flat.configs()
    assert layered.evaluated("a") == flat.evaluated("a")
    assert layered.counts() == flat.counts()
    assert layered.task_fingerprints() == flat.task_fingerprints()
    for kind in (None, "binary", "regression"):
        _same_table(layered.score_table(kind), flat.score_table(kind))  # type: ignore[arg-type]
    # The failed upper cell hides the lower layer's ok score of the same cell.
    table = layered.score_table("binary")
    assert math.isnan(table.scores[table.task_ids.index("a"), 0])


def test_a_layered_base_writes_to_its_upper_layer_only(
    layers: tuple[KnowledgeBase, KnowledgeBase],
) -> None:
    lower, upper = layers
    before = lower.counts()
    layered = layered_knowledge(lower, upper)
    digest = layered.content_digest()
    layered.add_task(_task("d"))
    layered.add_evaluations([Evaluation("d", RF[0], 0.5, 1.0)])
    assert lower.counts() == before
    assert [e.task_id for e in upper.evaluations("d")] == ["d"]
    assert layered.content_digest() != digest  # derived data is recomputed, not stale
    assert "d" in layered.score_table("binary").task_ids
    assert layered.layers == (lower, upper)
    assert lower.layers == (lower,)


@pytest.mark.parametrize("check", list(KNOWLEDGE_STORE_CHECKS))
def test_a_layered_store_over_an_empty_base_passes_the_store_checks(check: str) -> None:
    check_knowledge_store(
        lambda: LayeredStore(KnowledgeBase.in_memory(), SqlAlchemyStore.in_memory()),
        only=[check],
    )


# -- the default: the user's own base over the shipped one ------------------------------------
@pytest.fixture
def user_kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's own knowledge base in a temporary user folder (not created yet)."""
    path = tmp_path / "user-data" / "autometa" / "knowledge.db"
    monkeypatch.setenv(USER_KNOWLEDGE_ENV, str(path))
    monkeypatch.delenv(KNOWLEDGE_ENV, raising=False)
    return path


def _secret_table() -> tuple[pd.DataFrame, pd.Series]:
    """Iris with a column of values and a column of labels that appear nowhere else."""
    X, y = load_iris(return_X_y=True, as_frame=True)
    X = X.copy()
    X["sentinel_value"] = 98765.4321 + np.arange(len(X)) * 1e-3
    X["sentinel_label"] = [f"secret-level-{i % 3}" for i in range(len(X))]
    return X, y


def test_a_default_fit_adds_its_task_to_the_users_base_and_no_row_of_the_data(
    user_kb: Path,
) -> None:
    X, y = _secret_table()
    assert user_knowledge_location() == str(user_kb)
    model = autometa.fit(X, y, n_trials=3, random_state=0)
    assert user_kb.is_file()  # created, with its folders, by the first fit
    mine = KnowledgeBase.open(user_kb, read_only=True, create=False)
    (record,) = mine.tasks()
    assert record.task_id == model.task_id_
    assert record.meta_features == pytest.approx(dict(model.meta_features_.values), nan_ok=True)
    stored = {e.config.key for e in mine.evaluations(record.task_id)}
    assert stored == {e.config.key for e in model.evaluations_ if e.status != "pruned"}
    # Meta-features and scores only: no value or label of the data is anywhere in the file.
    export = user_kb.parent / "export.jsonl"
    mine.export_jsonl(export)
    for text in (export.read_text(), user_kb.read_bytes().decode("latin-1")):
        assert "secret-level" not in text
        assert "98765.4" not in text
    # The shipped base itself is untouched.
    assert KnowledgeBase.default().counts()["tasks"] == len(KnowledgeBase.default().tasks())
    assert record.task_id not in {r.task_id for r in KnowledgeBase.default().tasks()}


def test_the_next_fit_learns_from_the_users_earlier_fits(
    user_kb: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X, y = load_wine(return_X_y=True, as_frame=True)
    first = autometa.fit(X, y, n_trials=3, random_state=0)
    shipped = KnowledgeBase.default()
    with caplog.at_level(logging.INFO):
        plan = make_plan(X.iloc[:150], y.iloc[:150], random_state=1)
    assert plan.knowledge.layers[0].location == shipped.location
    known = {r.task_id for r in plan.knowledge.tasks()}
    assert first.task_id_ in known
    assert len(known) == len(shipped.tasks()) + 1
    assert first.task_id_ in plan.knowledge.score_table("multiclass").task_ids
    # The strategy selector keeps learning from the shipped layer: the user's sparse tasks
    # are not measured by leave-one-task-out inside the fit.
    assert "measuring meta-learners" not in caplog.text


def test_the_user_layer_can_be_turned_off(user_kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USER_KNOWLEDGE_ENV, "off")
    assert user_knowledge_location() is None
    knowledge = default_knowledge()
    assert knowledge.read_only
    assert knowledge.layers == (knowledge,)
    X, y = load_iris(return_X_y=True, as_frame=True)
    autometa.fit(X, y, n_trials=2, random_state=0)
    assert not user_kb.exists()


def test_autometa_knowledge_env_is_read_only_and_wins_over_the_user_layer(
    user_kb: Path, tiny_knowledge: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = KnowledgeBase.open(tiny_knowledge, read_only=True).counts()
    monkeypatch.setenv(KNOWLEDGE_ENV, str(tiny_knowledge))
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = autometa.fit(X, y, n_trials=2, random_state=0)
    assert KnowledgeBase.open(tiny_knowledge, read_only=True).counts() == before
    assert not user_kb.exists()
    assert model.task_id_ not in {r.task_id for r in KnowledgeBase.open(tiny_knowledge).tasks()}
    missing = tiny_knowledge.parent / "no-such.db"
    monkeypatch.setenv(KNOWLEDGE_ENV, str(missing))
    with pytest.raises(FileNotFoundError):
        autometa.fit(X, y, n_trials=1, random_state=0)
    assert not missing.exists()  # a mistyped path creates nothing


def test_a_damaged_user_base_warns_is_left_alone_and_the_fit_goes_on(user_kb: Path) -> None:
    user_kb.parent.mkdir(parents=True)
    user_kb.write_bytes(b"not a knowledge base, but somebody's file")
    X, y = load_iris(return_X_y=True, as_frame=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = autometa.fit(X, y, n_trials=2, random_state=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any(str(user_kb) in m and USER_KNOWLEDGE_ENV in m for m in messages), messages
    assert user_kb.read_bytes() == b"not a knowledge base, but somebody's file"
    assert model.predict(X).shape == (len(X),)


def test_kb_info_shows_both_layers(user_kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    before = json.loads(runner.invoke(main, ["kb", "info"]).output)
    assert [layer["layer"] for layer in before["layers"]] == ["shipped", "user"]
    assert before["layers"][1]["state"] == "not created yet"
    assert before["counts"] == before["layers"][0]["counts"]
    X, y = load_iris(return_X_y=True, as_frame=True)
    autometa.fit(X, y, n_trials=2, random_state=0)
    after = json.loads(runner.invoke(main, ["kb", "info"]).output)
    shipped, mine = after["layers"]
    assert mine["location"] == str(user_kb)
    assert mine["counts"]["tasks"] == 1
    assert after["counts"]["tasks"] == shipped["counts"]["tasks"] + 1
    monkeypatch.setenv(USER_KNOWLEDGE_ENV, "off")
    off = json.loads(runner.invoke(main, ["kb", "info"]).output)
    assert off["layers"][1] == {
        "layer": "user",
        "location": None,
        "state": "AUTOMETA_USER_KNOWLEDGE=off",
    }


# -- portfolios over a base with the user's sparse tasks ---------------------------------------
def test_a_dense_table_keeps_missing_cells_as_the_worst_and_equal_weights() -> None:
    rng = np.random.default_rng(0)
    normalized = rng.random((30, 12))
    normalized[rng.random(normalized.shape) < 0.1] = np.nan  # failed cells of a dense base
    assert not sparse_tasks(normalized).any()
    np.testing.assert_array_equal(
        portfolio_regret(normalized), 1.0 - np.nan_to_num(normalized, nan=0.0)
    )
    np.testing.assert_array_equal(evidence_weights(normalized), np.ones(30))


def test_sparse_tasks_do_not_turn_what_they_tried_into_the_portfolios_first_pick() -> None:
    # Ten dense tasks on which configuration 1 is best (0 is good, the rest poor), then thirty
    # fits that tried only configuration 0 and a poor one, as earlier warm starts would.
    dense = np.tile([0.8, 1.0, 0.0, 0.1, 0.2, 0.3, 0.1, 0.0], (10, 1))
    sparse = np.full((30, 8), np.nan)
    sparse[:, 0], sparse[:, 2] = 1.0, 0.0
    normalized = np.vstack([dense, sparse])
    configs = [Config("random_forest", {"n_estimators": n}) for n in range(10, 90, 10)]
    # Counted as the worst, the untried configuration 1 loses to what the fits tried ...
    worst_first = greedy_cover(1.0 - np.nan_to_num(normalized, nan=0.0), 1)[0][0]
    assert worst_first == 0
    # ... as unknown, and weighed by how much each fit holds, it stays first.
    assert list(sparse_tasks(normalized)) == [False] * 10 + [True] * 30
    assert evidence_weights(normalized)[10:] == pytest.approx(np.full(30, 2 / 8))
    (first, _, _), *_ = greedy_portfolio(configs, normalized, 2)
    assert first == configs[1]
