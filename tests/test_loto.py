"""Leave-one-task-out evaluation: held-out rows never reach the learner; measures are right."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from autometa._cli import main
from autometa.contract import (
    Config,
    Evaluation,
    Evidence,
    MetaLearner,
    Proposal,
    Recommendation,
)
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.knowledge._loto import SBS, leave_one_task_out

GOOD, BAD, ALSO = (
    Config("linear", {"C": 1.0}),
    Config("linear", {"C": 1e-4}),
    Config("knn", {"n_neighbors": 5, "p": 2, "pca": False, "weights": "uniform"}),
)


def knowledge() -> KnowledgeBase:
    """Three binary tasks: GOOD is best on two, ALSO on the third; BAD is always worst."""
    kb = KnowledgeBase.in_memory()
    rows = {"t1": (0.9, 0.5, 0.7), "t2": (0.8, 0.4, 0.6), "t3": (0.6, 0.5, 0.9)}
    for index, (task_id, (good, bad, also)) in enumerate(rows.items()):
        kb.add_task(TaskRecord(task_id, task_id, "binary", "roc_auc", {"F": float(index)}, {}))
        kb.add_evaluations(
            [
                Evaluation(task_id, GOOD, good, 0.1),
                Evaluation(task_id, BAD, bad, 0.1),
                Evaluation(task_id, ALSO, also, 0.1),
            ]
        )
    # a duplicate of t1 (same meta-features) that would leak t1's answer
    kb.add_task(TaskRecord("t1_copy", "t1_copy", "binary", "roc_auc", {"F": 0.0}, {}))
    kb.add_evaluations(
        [Evaluation("t1_copy", BAD, 0.99, 0.1), Evaluation("t1_copy", GOOD, 0.1, 0.1)]
    )
    return kb


class Spy(MetaLearner):
    """Recommends the best configuration of whatever tasks it was fitted on, and records them."""

    name = "spy"

    def fit(self, knowledge):  # type: ignore[no-untyped-def]
        self.seen_ = sorted(t.task_id for t in knowledge.tasks())
        table = knowledge.score_table("binary")
        self.best_ = table.configs[int(np.nanargmax(np.nanmean(table.normalized(), axis=0)))]
        return self

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
        if meta_features["F"] == 0.0:  # t1 or its duplicate is held out: neither may be seen
            assert not {"t1", "t1_copy"} & set(self.seen_), f"leak: fitted on {self.seen_}"
        return [Recommendation(self.best_, 1.0, Evidence("spy", note=",".join(self.seen_)))]


class WorstFirst(MetaLearner):
    """Always BAD, then GOOD, then ALSO: a known regret curve."""

    name = "worst_first"

    def fit(self, knowledge):  # type: ignore[no-untyped-def]
        return self

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
        return [Recommendation(c, 0.0, Evidence("w")) for c in (BAD, GOOD, ALSO)][:k]


Told = list[list[tuple[Config, float, str]]]


def follower(told: Told) -> type[MetaLearner]:
    """An adaptive learner: ALSO first; then BAD when ALSO scored above 0.8, else GOOD;
    appends to ``told`` what it was told. Its one-shot ``recommend`` (BAD) must not be
    what is judged."""

    class Follower(MetaLearner):
        name = "follower"

        def fit(self, knowledge):  # type: ignore[no-untyped-def]
            return self

        def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
            return [Recommendation(BAD, 0.0, Evidence("follower"))]

        def propose(self, meta_features, observed, **kwargs):  # type: ignore[no-untyped-def]
            told.append([(e.config, e.score, e.status) for e in observed])
            if not observed:
                config = ALSO
            elif len(observed) == 1:
                config = BAD if observed[0].ok and observed[0].score > 0.8 else GOOD
            else:
                return None
            return Proposal(Recommendation(config, 0.0, Evidence("follower")), 0.0)

    return Follower


class Declines(WorstFirst):
    """Adaptive in name only: declines every proposal, so its recommendations are judged."""

    name = "declines"

    def propose(self, meta_features, observed, **kwargs):  # type: ignore[no-untyped-def]
        return None


def test_an_adaptive_learner_is_judged_on_its_walk_told_the_stored_scores() -> None:
    told: Told = []
    report = leave_one_task_out(knowledge(), {"follower": follower(told)}, ks=[1, 2, 3])
    # t1: ALSO 0.7 -> regret 1 - (0.7 - 0.5) / (0.9 - 0.5) = 0.5, then GOOD (the best);
    # the walk stops when the learner declines, and k = 3 keeps the best of two
    assert report.per_task["t1"]["follower"] == [pytest.approx(0.5), 0.0, 0.0]
    # t3: ALSO is its best (0.9 > 0.8), then BAD
    assert report.per_task["t3"]["follower"] == [0.0, 0.0, 0.0]
    # what it was told is the held-out task's stored score, in the scoring's units
    second_asks = [observed[0] for observed in told if len(observed) == 1]
    assert (ALSO, 0.7, "ok") in second_asks
    # t1_copy never scored ALSO: that is told as a failure, not as a score
    assert any(
        config == ALSO and math.isnan(score) and status == "failed"
        for config, score, status in second_asks
    )


def test_an_adaptive_learner_that_declines_at_once_is_judged_on_its_recommendations() -> None:
    report = leave_one_task_out(knowledge(), {"declines": Declines}, ks=[1, 2])
    assert report.per_task["t2"]["declines"] == [1.0, 0.0]


def test_held_out_task_and_duplicates_never_reach_the_learner() -> None:
    report = leave_one_task_out(knowledge(), {"spy": Spy}, ks=[1])
    assert set(report.per_task) == {"t1", "t2", "t3", "t1_copy"}
    # t3 held out: spy learned from t1, t2 (and t1_copy) where GOOD wins -> regret on t3
    # is 1 - (0.6 - 0.5) / (0.9 - 0.5)
    assert report.per_task["t3"]["spy"] == [pytest.approx(1 - 0.1 / 0.4)]


def test_regret_at_k_rank_and_gap() -> None:
    report = leave_one_task_out(knowledge(), {"worst_first": WorstFirst}, ks=[1, 2, 3])
    worst = report.results["worst_first"]
    assert worst.regret_at[1] > worst.regret_at[2] >= worst.regret_at[3] == 0.0
    assert report.per_task["t2"]["worst_first"] == [1.0, 0.0, 0.0]
    sbs = report.results[SBS]
    assert worst.gap_closed == pytest.approx(1 - worst.regret_at[1] / sbs.regret_at[1])
    assert worst.rank_at[1] >= sbs.rank_at[1]
    assert not math.isnan(sbs.regret_at[3])


def test_single_best_counts_missing_cells_as_worst() -> None:
    kb = knowledge()
    # a configuration that is best where it ran, but ran on one task only
    kb.add_evaluations([Evaluation("t2", Config("knn", {"n_neighbors": 1}), 0.95, 0.1)])
    report = leave_one_task_out(kb, {"worst_first": WorstFirst}, ks=[1])
    # held out t3: the single best over t1, t2, t1_copy is GOOD (not the one-task knn)
    assert report.per_task["t3"][SBS] == [pytest.approx(1 - 0.1 / 0.4)]


def test_cli_evaluate_prints_a_table_and_writes_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "kb.db"
    with KnowledgeBase.open(path) as kb:
        knowledge().copy_into(kb)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        [
            "kb",
            "evaluate",
            str(path),
            "--learners",
            "greedy_portfolio,nearest_tasks",
            "--k",
            "1,3",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "greedy_portfolio" in result.output
    assert "gap closed" in result.output
    assert set(json.loads(out.read_text())["results"]) == {"greedy_portfolio", "nearest_tasks", SBS}
    bad = CliRunner().invoke(main, ["kb", "evaluate", str(path), "--learners", "nope"])
    assert bad.exit_code == 2
    assert "unknown learners ['nope']" in bad.output
