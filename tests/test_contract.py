"""The contract's own parts: the knowledge-base protocol, the task distance, built-in samplers.

The knowledge base is a real one (SQLite in memory) holding a few tasks and evaluations.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import optuna
import pytest

from autometa.contract import (
    BUILTIN_SAMPLERS,
    Config,
    Evaluation,
    KnowledgeView,
    MetaFeatureSpace,
    ScoreTableView,
    TaskRecordView,
    builtin_sampler,
    scale_jointly,
    task_distances,
)
from autometa.knowledge import KnowledgeBase, TaskRecord

A = Config("rf", {"n_estimators": 100})
B = Config("knn", {"n_neighbors": 5})


def record(task_id: str, kind: str = "binary", **features: float) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        name=f"name of {task_id}",
        kind=kind,  # type: ignore[arg-type]
        scoring="roc_auc" if kind != "regression" else "r2",
        meta_features=features,
        provenance={"source": "test"},
    )


@pytest.fixture
def knowledge() -> KnowledgeBase:
    kb = KnowledgeBase.in_memory()
    kb.add_task(record("t1", rows=10.0, cols=1.0))
    kb.add_task(record("t2", rows=30.0, cols=3.0))
    kb.add_task(record("r1", "regression", rows=20.0))
    kb.add_evaluations(
        [
            Evaluation("t1", A, 0.9, 1.0),
            Evaluation("t1", B, 0.7, 0.5),
            Evaluation("t2", A, 0.6, 1.0),
            Evaluation("t2", B, math.nan, 0.1, "failed", "ValueError: x"),
            Evaluation("r1", A, 0.3, 2.0),
        ]
    )
    return kb


def protocol_members(protocol: type) -> list[str]:
    return sorted(name for name in vars(protocol) if not name.startswith("_") or name == "__len__")


# -- the knowledge-base protocol ---------------------------------------------------------------
def test_knowledge_base_satisfies_the_view_structurally(knowledge: KnowledgeBase) -> None:
    assert isinstance(knowledge, KnowledgeView)
    for name in protocol_members(KnowledgeView):
        declared = inspect.getattr_static(KnowledgeView, name)
        actual = inspect.getattr_static(KnowledgeBase, name, None)
        assert actual is not None, f"KnowledgeBase has no {name}"
        if isinstance(declared, property):
            assert isinstance(actual, property), f"{name} is a property in the view"
            continue
        wanted = inspect.signature(declared).parameters
        real = inspect.signature(actual).parameters
        for param in wanted.values():
            assert param.name in real, f"KnowledgeBase.{name} lacks {param.name!r}"
            assert real[param.name].kind == param.kind, f"{name}({param.name}): kind differs"
            assert real[param.name].default == param.default, f"{name}({param.name}): default"
        extra = [p for p in real.values() if p.name not in wanted and p.default is p.empty]
        assert extra == [], f"KnowledgeBase.{name} requires more than the view passes"


def test_what_the_view_returns_satisfies_the_nested_views(knowledge: KnowledgeBase) -> None:
    view: KnowledgeView = knowledge
    tasks = view.tasks()
    assert [t.task_id for t in tasks] == ["r1", "t1", "t2"]
    assert all(isinstance(t, TaskRecordView) for t in tasks)
    assert isinstance(view.task("t1"), TaskRecordView)
    assert [t.task_id for t in view.tasks("binary")] == ["t1", "t2"]
    table = view.score_table("binary", algorithms=["rf", "knn"])
    assert isinstance(table, ScoreTableView)
    assert list(table.task_ids) == ["t1", "t2"]
    assert table.shape == (2, 2)
    np.testing.assert_allclose(table.normalized(), [[0.0, 1.0], [np.nan, 1.0]])
    assert view.counts() == {"tasks": 3, "configs": 2, "evaluations": 5}
    assert len(view) == 3
    assert set(view.task_fingerprints()) == {"r1", "t1", "t2"}
    assert view.fingerprint() == view.fingerprint(view.task_fingerprints())
    assert len(view.evaluations("t1")) == 2
    assert len(view.configs("rf")) == 1
    assert isinstance(view.location, str)
    assert view.counts() == knowledge.counts()  # every read leaves the base as it was


def test_an_object_missing_a_read_is_not_a_view(knowledge: KnowledgeBase) -> None:
    reads = {name: getattr(knowledge, name) for name in protocol_members(KnowledgeView)}
    view_class = type(
        "ProxyView", (), {name: staticmethod(f) for name, f in reads.items() if callable(f)}
    )
    assert isinstance(view_class(), KnowledgeView) is False  # no `location` yet
    view_class.location = knowledge.location  # type: ignore[attr-defined]
    assert isinstance(view_class(), KnowledgeView)
    del view_class.score_table  # type: ignore[attr-defined]
    assert not isinstance(view_class(), KnowledgeView)


# -- the task distance ----------------------------------------------------------------------------
def test_task_distance_is_the_mean_over_defined_meta_features() -> None:
    tasks = np.array([[0.0, 0.5, np.nan], [1.0, np.nan, np.nan], [np.nan, np.nan, np.nan]])
    query = np.array([0.5, 0.0, 0.2])
    distances = task_distances(tasks, query)
    np.testing.assert_allclose(distances[:2], [0.5, 0.5])
    assert math.isnan(distances[2])  # nothing in common: no made-up distance
    assert task_distances([0.2, 0.4], [0.0, 0.0]).tolist() == pytest.approx([0.3])
    with pytest.raises(ValueError, match="same columns"):
        task_distances(tasks, query[:2])


def test_joint_scaling_includes_the_new_task_and_drops_constant_columns() -> None:
    tasks, query = scale_jointly([[0.0, 5.0], [10.0, 5.0]], [20.0, 5.0])
    np.testing.assert_allclose(tasks, [[0.0, np.nan], [0.5, np.nan]])
    np.testing.assert_allclose(query, [1.0, np.nan])


def test_meta_feature_space_ranks_by_kind_and_explains() -> None:
    records = [
        record("far", rows=100.0, cols=9.0),
        record("near", rows=12.0, cols=2.0),
        record("reg", "regression", rows=11.0, cols=2.0),
        record("blank", other=1.0),
    ]
    space = MetaFeatureSpace.from_records(records)
    assert space.feature_names == ["cols", "other", "rows"]
    ranked = space.distances({"rows": 10.0, "cols": 1.0}, "binary")
    assert [task_id for task_id, _ in ranked] == ["near", "far"]  # blank: nothing shared
    rows, query = space.scaled({"rows": 10.0, "cols": 1.0})
    expected = task_distances(rows, query)[1]
    assert ranked[0][1] == expected
    assert next(t for t, _ in space.distances({"rows": 10.0, "cols": 1.0})) == "reg"
    named = [name for name, _ in space.explaining({"rows": 10.0, "cols": 1.0}, "near")]
    assert set(named) <= {"rows", "cols"}
    assert named


# -- built-in samplers ----------------------------------------------------------------------------
def test_builtin_samplers_are_seeded_and_unknown_names_are_refused() -> None:
    for name in BUILTIN_SAMPLERS:
        assert isinstance(builtin_sampler(name, 0, 1), optuna.samplers.BaseSampler)
    assert isinstance(builtin_sampler("tpe", 0, 2), optuna.samplers.TPESampler)

    def first_values(seed: int) -> list[float]:
        study = optuna.create_study(sampler=builtin_sampler("random", seed))
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
        return [t.params["x"] for t in study.trials]

    assert first_values(3) == first_values(3) != first_values(4)
    with pytest.raises(ValueError, match="Unknown built-in sampler 'rgpe'"):
        builtin_sampler("rgpe", 0)
