"""The README's walk, in small: a base built from a corpus of earlier datasets with the
first-party pool, extended with ``lda`` by ``autometa kb build --extend``, then asked for
a recommendation on a new dataset.

Run from the package folder after ``pip install -e .``: ``python -m pytest``. About 15 s
on two busy cores (two small CLI builds and one three-trial fit).
"""

from __future__ import annotations

import json
import math
import sqlite3
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from autometa_example_plugin import LDA
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer, load_iris, load_wine, make_classification

import autometa
from autometa._cli import main
from autometa._extend import extended_algorithms
from autometa.knowledge import KnowledgeBase

DATASETS = {"cancer": "binary", "synthetic": "binary", "iris": "multiclass", "wine": "multiclass"}
PROTOCOL = ["--n-splits", "3", "--max-rows", "150", "--pool-size", "10"]
CONFIGS_PER_ALGORITHM = 4


def _classification_frame(random_state: int) -> pd.DataFrame:
    X, y = make_classification(
        n_samples=200, n_features=8, n_informative=4, random_state=random_state
    )
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(8)]).assign(target=y)


def _write_corpus(root: Path) -> Path:
    """Four classification datasets of the user's "earlier tasks", with a manifest."""
    tables = {
        "cancer": load_breast_cancer(as_frame=True).frame.sample(200, random_state=0),
        "synthetic": _classification_frame(random_state=0),
        "iris": load_iris(as_frame=True).frame,
        "wine": load_wine(as_frame=True).frame,
    }
    (root / "data").mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_csv(root / "data" / f"{name}.csv", index=False)
    manifest = [{"name": name, "task": kind} for name, kind in DATASETS.items()]
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _rows(base: Path) -> set[tuple[object, ...]]:
    with sqlite3.connect(base) as connection:
        return set(connection.execute("SELECT * FROM evaluations").fetchall())


def _lda_recommendations(
    X: pd.DataFrame, y: pd.Series, base: Path
) -> list[autometa.Recommendation]:
    with KnowledgeBase.open(base, read_only=True) as knowledge:
        recommendations = autometa.recommend(X, y, k=10, knowledge=knowledge, algorithms=["lda"])
    assert {r.config.algorithm for r in recommendations} == {"lda"}
    return recommendations


def test_a_base_extended_with_lda_recommends_lda_on_a_new_dataset(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path / "my-corpus")
    base, shards = tmp_path / "my-kb.db", tmp_path / "my-kb-shards"
    held_out = _classification_frame(random_state=7)  # a new task, not in the corpus
    X, y = held_out.drop(columns="target"), held_out["target"]
    runner = CliRunner()
    command = ["kb", "build", str(corpus), "--out", str(base), "--shards", str(shards)]
    command += ["--n-jobs", "2"]

    # 1. The first-party pool only (the default `--plugin sklearn`), although the example
    #    plugin is installed: no lda cell.
    built = runner.invoke(main, [*command, *PROTOCOL])
    assert built.exit_code == 0, built.output
    before = _rows(base)
    with KnowledgeBase.open(base, read_only=True) as knowledge:
        assert {t.task_id for t in knowledge.tasks()} == set(DATASETS)
        algorithms = {e.config.algorithm for t in DATASETS for e in knowledge.evaluations(t)}
        assert "lda" not in algorithms
        assert len(algorithms) >= 5
        assert "lda" not in extended_algorithms(knowledge)
    # Without cells, lda is only tried as an unseen algorithm: its default, no prediction.
    [unseen] = _lda_recommendations(X, y, base)
    assert unseen.config == LDA.default_config
    assert unseen.evidence.model == "unseen algorithm"
    assert math.isnan(unseen.predicted_score)

    # 2. Extend: only lda's cells, under the base's own protocol (read from the base).
    extended = runner.invoke(
        main,
        [
            *command,
            "--extend",
            "--algorithm",
            "lda",
            "--configs-per-algorithm",
            str(CONFIGS_PER_ALGORITHM),
        ],
    )
    assert extended.exit_code == 0, extended.output
    after = _rows(base)
    assert before <= after  # no first-party row rewritten or lost
    assert len(after) == len(before) + CONFIGS_PER_ALGORITHM * len(DATASETS)
    with KnowledgeBase.open(base, read_only=True) as knowledge:
        lda_pool: set[autometa.Config] = set()
        for task_id in DATASETS:
            cells = [e for e in knowledge.evaluations(task_id) if e.config.algorithm == "lda"]
            assert len(cells) == CONFIGS_PER_ALGORITHM
            assert LDA.default_config in {e.config for e in cells}
            assert any(e.ok for e in cells)
            lda_pool |= {e.config for e in cells}
        provenance = extended_algorithms(knowledge)["lda"]
    assert provenance["plugin"] == "example"
    assert provenance["distribution"] == "autometa-example-plugin"
    assert provenance["version"] == version("autometa-example-plugin")
    assert provenance["configs_per_algorithm"] == CONFIGS_PER_ALGORITHM
    assert sorted(p.name for p in (shards / "lda").iterdir()) == sorted(
        f"{name}.jsonl" for name in DATASETS
    )

    # 3. Now the meta-learner ranks lda's measured configurations for the new task.
    recommendations = _lda_recommendations(X, y, base)
    assert len(recommendations) == CONFIGS_PER_ALGORITHM
    assert {r.config for r in recommendations} == lda_pool
    for recommendation in recommendations:
        assert recommendation.evidence.model != "unseen algorithm"
        assert math.isfinite(recommendation.predicted_score)

    # 4. A real fit learns from the extended base and starts from those configurations.
    model = autometa.fit(X, y, knowledge=str(base), algorithms=["lda"], n_trials=3, random_state=0)
    assert [r.config for r in model.recommendations_][:3] == [r.config for r in recommendations[:3]]
    assert [e.config for e in model.evaluations_] == [r.config for r in recommendations[:3]]
    assert model.best_config_.algorithm == "lda"
    assert model.best_score_ > 0.8
