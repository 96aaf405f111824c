"""Multi-task meta-learners: sane recommendations from a knowledge base with a known rule."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.distributions import FloatDistribution

from autometa.contract import Algorithm, Config, Evaluation
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.testing import check_meta_learner
from autometa_multitask.score_forest import ScoreForest
from autometa_multitask.task_surrogate import TaskSurrogate, inferred_spaces


def algo(name: str) -> Algorithm:
    return Algorithm(
        name,
        ("binary", "multiclass", "regression"),
        lambda p, t: None,  # type: ignore[arg-type,return-value]
        lambda t: {"c": FloatDistribution(1e-3, 1e3, log=True)},
        {"c": 1.0},
    )


ALGORITHMS = [algo("linear"), algo("forest")]
LINEAR, FOREST, MIDDLE = (
    Config("linear", {"c": 1.0}),
    Config("forest", {"c": 10.0}),
    Config("forest", {"c": 1.0}),
)


def knowledge(n_tasks: int = 24) -> KnowledgeBase:
    """`linearity` > 0: LINEAR wins; < 0: FOREST wins; MIDDLE is second best everywhere.

    `noise` is unrelated to the scores: the forest must learn to ignore it.
    """
    rng = np.random.default_rng(0)
    kb = KnowledgeBase.in_memory()
    for i in range(n_tasks):
        linearity = -1.0 + 2.0 * i / (n_tasks - 1)
        name = f"task{i:02d}"
        kb.add_task(
            TaskRecord(
                name,
                name,
                "binary",
                "roc_auc",
                {"linearity": linearity, "noise": float(rng.normal())},
                {},
            )
        )
        scores = {
            LINEAR: 0.95 if linearity > 0 else 0.60,
            FOREST: 0.95 if linearity <= 0 else 0.60,
            MIDDLE: 0.90,
        }
        kb.add_evaluations(Evaluation(name, c, s, 0.1) for c, s in scores.items())
    return kb


@pytest.fixture(scope="module")
def learner() -> ScoreForest:
    return ScoreForest().fit(knowledge())


@pytest.mark.parametrize(("linearity", "winner"), [(0.7, LINEAR), (-0.7, FOREST)])
def test_first_pick_is_the_best_configuration_of_similar_tasks(
    learner: ScoreForest, linearity: float, winner: Config
) -> None:
    recs = learner.recommend(
        {"linearity": linearity, "noise": 0.5}, kind="binary", algorithms=ALGORITHMS, k=3
    )
    assert recs[0].config == winner
    # Most of the weight is on the winner's side (splits on `noise` blur it a little).
    assert recs[0].predicted_score > 0.85
    assert recs[0].predicted_score == max(r.predicted_score for r in recs)
    # The evidence names tasks on the same side and the meta-feature that decided.
    heaviest, _ = recs[0].evidence.source_tasks[0]
    assert (int(heaviest[-2:]) >= 12) == (linearity > 0)
    assert recs[0].evidence.meta_features[0][0] == "linearity"
    assert len({r.config for r in recs}) == 3


def test_second_pick_hedges_instead_of_repeating(learner: ScoreForest) -> None:
    # Fairly sure the task is linear: LINEAR first, then not MIDDLE (second best by
    # predicted score) but FOREST, which covers the case where the first pick is wrong.
    recs = learner.recommend(
        {"linearity": 0.3, "noise": 0.0}, kind="binary", algorithms=ALGORITHMS, k=3
    )
    assert [r.config for r in recs] == [LINEAR, FOREST, MIDDLE]
    assert recs[2].predicted_score > recs[1].predicted_score


def test_unsure_first_pick_is_the_safe_one(learner: ScoreForest) -> None:
    # On the boundary, MIDDLE's expected regret is lowest: it is never bad.
    recs = learner.recommend(
        {"linearity": 0.02, "noise": 0.0}, kind="binary", algorithms=ALGORITHMS, k=1
    )
    assert recs[0].config == MIDDLE


def test_weights_are_a_distribution_favouring_similar_tasks(learner: ScoreForest) -> None:
    weights = learner.task_weights({"linearity": 0.9, "noise": 0.0}, "binary")
    assert weights.sum() == pytest.approx(1.0)
    assert weights[12:].sum() > 0.85  # the linear half of the tasks


def test_only_available_algorithms_and_known_kinds(learner: ScoreForest) -> None:
    recs = learner.recommend(
        {"linearity": -0.7, "noise": 0.0}, kind="binary", algorithms=ALGORITHMS[:1], k=5
    )
    assert [r.config for r in recs] == [LINEAR]
    assert learner.recommend({}, kind="regression", algorithms=ALGORITHMS, k=5) == []


def test_missing_meta_features_still_recommend(learner: ScoreForest) -> None:
    recs = learner.recommend({"linearity": 0.8}, kind="binary", algorithms=ALGORITHMS, k=1)
    assert recs[0].config == LINEAR


@pytest.mark.parametrize("learner_class", [ScoreForest, TaskSurrogate], ids=lambda c: c.name)
def test_passes_the_conformance_checks(learner_class: type) -> None:
    check_meta_learner(learner_class, knowledge=knowledge())


# -- the similarity-weighted surrogate ----------------------------------------------------
@pytest.fixture(scope="module")
def surrogate() -> TaskSurrogate:
    return TaskSurrogate(max_iter=50).fit(knowledge())


@pytest.mark.parametrize(
    ("linearity", "winner", "loser"), [(0.7, LINEAR, FOREST), (-0.7, FOREST, LINEAR)]
)
def test_surrogate_ranks_by_what_similar_tasks_scored(
    surrogate: TaskSurrogate, linearity: float, winner: Config, loser: Config
) -> None:
    recs = surrogate.recommend(
        {"linearity": linearity, "noise": 0.0}, kind="binary", algorithms=ALGORITHMS, k=3
    )
    assert [r.config for r in recs] == [winner, MIDDLE, loser]
    assert recs[0].predicted_score > recs[1].predicted_score > recs[2].predicted_score
    nearest, distance = recs[0].evidence.source_tasks[0]
    assert (int(nearest[-2:]) >= 12) == (linearity > 0)
    assert distance < 0.1


def test_surrogate_weights_follow_similarity(surrogate: TaskSurrogate) -> None:
    table = surrogate.tables_["binary"]
    weights, distance = surrogate._task_weights({"linearity": 1.0, "noise": 0.0}, "binary", table)
    assert weights.sum() == pytest.approx(1.0)
    assert np.all(np.diff(weights[np.argsort(distance)]) <= 1e-12)  # nearer, heavier
    assert weights[-1] > 2 * weights[0]  # the distance also counts `noise`


def test_inferred_spaces_cover_the_configurations() -> None:
    configs = [
        Config("knn", {"n_neighbors": n, "weights": w})
        for n, w in [(1, "uniform"), (300, "distance"), (7, None)]
    ]
    spaces = inferred_spaces(configs)
    assert spaces["knn"]["n_neighbors"].log
    assert spaces["knn"]["n_neighbors"].low == 1
    assert set(spaces["knn"]["weights"].choices) == {"uniform", "distance", None}
