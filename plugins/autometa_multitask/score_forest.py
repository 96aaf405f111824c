"""A multi-output forest from meta-features to the whole vector of pool scores.

One random forest per task kind is trained on every earlier task at once: its input is
a task's meta-features, its output the task's normalized regret on every configuration
of the shared pool. Every leaf therefore stores a vector of regrets, and the trees'
splits are shared by all configurations, which is what makes it a multi-task model
rather than one model per configuration.

A forest's prediction is a weighted mean of the training tasks' rows, the weight of an
earlier task being how often it shares a leaf with the new task (normalised by the
leaf's size). The learner uses those weights twice:

1. first recommendation: the configuration of least predicted regret, i.e. least
   weighted-mean regret over the earlier tasks;
2. following ones: greedily, the configuration that most lowers the weighted mean of
   the best-so-far regret, as the greedy portfolio of auto-sklearn 2 does with equal
   weights. The earlier tasks act as scenarios of what the new task may be like, so the
   list hedges: once one configuration covers the likeliest scenario, the next one
   covers those it serves badly, instead of repeating near-copies of the first.

The forest's outputs are not the whole pool but its ``n_candidates`` configurations
that together serve the earlier tasks best (the greedy portfolio's first picks), and
the first recommendations come from these. With every pool configuration as an output,
the splits went to telling apart tasks where poor configurations are poor, a variance
that says little about which good configuration wins; and a configuration chosen from
a few similar tasks alone was often a lucky one (leave-one-task-out on 142 earlier
tasks, 10 candidates against the whole pool: regret@1 0.050 against 0.055, regret@5
0.021 against 0.027). Beyond the candidates the list goes on over the whole pool.

A share of the weight (``prior_weight``) is spread evenly over all earlier tasks, so
the list falls back towards the greedy portfolio where the forest knows little.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from autometa.contract import (
    Algorithm,
    Config,
    Evidence,
    MetaLearner,
    Recommendation,
    TaskKind,
    greedy_cover,
    task_distances,
)

if TYPE_CHECKING:
    from autometa.contract import KnowledgeView, ScoreTableView

N_SOURCE_TASKS = 3
"""Earlier tasks named in each recommendation's evidence (the heaviest weights)."""
N_EXPLAINING_FEATURES = 3
"""Meta-features named in the evidence: those the forest splits on most for the new task."""


@dataclass(frozen=True)
class _KindModel:
    """What the forest learned for one task kind."""

    forest: RandomForestRegressor
    task_names: list[str]
    configs: list[Config]
    regret: np.ndarray  # earlier tasks x configurations, missing counted as 1 (the worst)
    candidates: list[int]  # the columns the forest predicts, the first recommended
    features: np.ndarray  # earlier tasks x meta-features, scaled
    low: np.ndarray  # meta-feature scaling, from the earlier tasks
    span: np.ndarray
    leaves: np.ndarray  # earlier tasks x trees: the leaf each task falls in


class ScoreForest(MetaLearner):
    """Multi-output random forest: meta-features -> regret of every pool configuration.

    Parameters
    ----------
    n_estimators, max_features, min_samples_leaf:
        The forest's (see :class:`sklearn.ensemble.RandomForestRegressor`). Trees are
        grown without bootstrap, so each earlier task is in every tree and the
        prediction is exactly the leaf-weighted mean of earlier tasks' rows.
    n_candidates:
        How many of the greedy portfolio's configurations the forest predicts and the
        first recommendations come from (None: the whole pool).
    prior_weight:
        Share of the weight spread evenly over the earlier tasks (0: trust the forest
        alone; 1: the greedy portfolio).
    random_state:
        Seed of the forest's feature sampling.
    """

    name = "score_forest"

    def __init__(
        self,
        n_estimators: int = 100,
        max_features: float = 0.5,
        min_samples_leaf: int = 2,
        n_candidates: int | None = 10,
        prior_weight: float = 0.0,
        random_state: int | None = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.n_candidates = n_candidates
        self.prior_weight = prior_weight
        self.random_state = random_state

    def fit(self, knowledge: KnowledgeView) -> ScoreForest:
        records = {r.task_id: r for r in knowledge.tasks()}
        self.feature_names_ = sorted({n for r in records.values() for n in r.meta_features})
        self.tables_: dict[str, tuple[ScoreTableView, list[str], np.ndarray]] = {}
        for kind in sorted({r.kind for r in records.values()}):
            table = knowledge.score_table(kind)
            if not table.task_ids:
                continue
            features = np.array(
                [
                    [records[t].meta_features.get(n, np.nan) for n in self.feature_names_]
                    for t in table.task_ids
                ],
                dtype=float,
            ).reshape(len(table.task_ids), len(self.feature_names_))
            self.tables_[kind] = (table, [records[t].name for t in table.task_ids], features)
        self.models_: dict[str, _KindModel] = {}
        return self

    def _model(self, kind: str) -> _KindModel | None:
        """The forest of ``kind``, grown on first use.

        A fit recommends for one kind only: growing the forests of the others would
        double the learner's cost in every ``autometa.fit``.
        """
        if kind in self.models_ or kind not in self.tables_:
            return self.models_.get(kind)
        table, names, features = self.tables_[kind]
        low, span = _scaling(features)
        scaled = _scale(features, low, span)
        regret = 1.0 - np.nan_to_num(table.normalized(), nan=0.0)
        size = regret.shape[1] if self.n_candidates is None else self.n_candidates
        candidates = [column for column, _ in greedy_cover(regret, size)]
        forest = RandomForestRegressor(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            bootstrap=False,
            random_state=self.random_state,
            n_jobs=1,
        ).fit(scaled, regret[:, candidates])
        self.models_[kind] = _KindModel(
            forest,
            names,
            list(table.configs),
            regret,
            candidates,
            scaled,
            low,
            span,
            forest.apply(scaled),
        )
        return self.models_[kind]

    def _query(self, meta_features: Mapping[str, float], model: _KindModel) -> np.ndarray:
        values = [meta_features.get(n, np.nan) for n in self.feature_names_]
        return _scale(np.array([values], dtype=float), model.low, model.span)

    def task_weights(self, meta_features: Mapping[str, float], kind: TaskKind) -> np.ndarray:
        """Weight of each earlier task of ``kind`` for a new task (sums to 1)."""
        model = self._model(kind)
        if model is None:
            raise ValueError(f"No earlier {kind} task to weigh.")
        leaves = model.forest.apply(self._query(meta_features, model))[0]
        shared = model.leaves == leaves  # earlier tasks x trees
        forest_weight = (shared / shared.sum(axis=0)).mean(axis=1)
        uniform = np.full(len(forest_weight), 1.0 / len(forest_weight))
        return (1.0 - self.prior_weight) * forest_weight + self.prior_weight * uniform

    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
    ) -> list[Recommendation]:
        model = self._model(kind)
        if model is None:
            return []
        available = np.array([c.algorithm in {a.name for a in algorithms} for c in model.configs])
        weights = self.task_weights(meta_features, kind)
        sources, explaining = self._evidence(meta_features, model, weights)
        predicted = weights @ model.regret
        candidate = np.zeros(len(model.configs), dtype=bool)
        candidate[model.candidates] = True
        first = greedy_cover(model.regret, k, weights=weights, allowed=available & candidate)
        rest = greedy_cover(
            model.regret,
            k - len(first),
            weights=weights,
            allowed=available,
            after=[column for column, _ in first],
        )
        result = []
        for column, expected in [*first, *rest]:
            result.append(
                Recommendation(
                    model.configs[column],
                    1.0 - float(predicted[column]),
                    Evidence(
                        self.name,
                        source_tasks=sources,
                        meta_features=explaining,
                        note=f"predicted normalized score {1 - predicted[column]:.3f}; "
                        f"expected best-so-far regret {expected:.4f}",
                    ),
                )
            )
        return result

    def _evidence(
        self, meta_features: Mapping[str, float], model: _KindModel, weights: np.ndarray
    ) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
        """The heaviest earlier tasks with their distance, and the deciding meta-features.

        Distances are the contract's (:func:`autometa.contract.task_distances`: the mean
        absolute scaled difference over the meta-features both tasks define) on the
        forest's own scaling (over the earlier tasks of this kind, fixed at fit). The
        deciding meta-features are those the forest's splits on the new task's paths
        through its trees separate best (summed impurity decrease: a local feature
        importance), each given with its scaled difference to the heaviest earlier task.
        """
        query = self._query(meta_features, model)
        heaviest = np.argsort(-weights, kind="stable")[:N_SOURCE_TASKS]
        with np.errstate(all="ignore"):
            difference = np.abs(model.features[heaviest] - query)
        distance = task_distances(model.features[heaviest], query[0])
        sources = tuple(
            (model.task_names[i], float(d)) for i, d in zip(heaviest, distance, strict=True)
        )
        decided = np.zeros(len(self.feature_names_))
        for tree in model.forest.estimators_:
            nodes = tree.decision_path(query).indices
            structure = tree.tree_
            split = nodes[structure.feature[nodes] >= 0]
            np.add.at(decided, structure.feature[split], _impurity_decrease(structure, split))
        explaining = tuple(
            (self.feature_names_[f], float(difference[0, f]))
            for f in np.argsort(-decided, kind="stable")[:N_EXPLAINING_FEATURES]
            if decided[f] > 0
        )
        return sources, explaining


def _impurity_decrease(structure: Any, nodes: np.ndarray) -> np.ndarray:
    """Weighted impurity decrease of a tree's split ``nodes`` (sklearn's importance terms)."""
    weight, impurity = structure.weighted_n_node_samples, structure.impurity
    left, right = structure.children_left[nodes], structure.children_right[nodes]
    return (
        weight[nodes] * impurity[nodes]
        - weight[left] * impurity[left]
        - weight[right] * impurity[right]
    )


def _scaling(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per meta-feature minimum and range over the earlier tasks (range 1 if constant)."""
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(features), features, np.nan)
        all_missing = np.isnan(finite).all(axis=0)
        filled = np.where(all_missing, 0.0, finite)
        low = np.nanmin(filled, axis=0)
        span = np.nanmax(filled, axis=0) - low
    return low, np.where(span > 0, span, 1.0)


def _scale(features: np.ndarray, low: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Scaled meta-features; NaN stays NaN (the forest routes missing values itself)."""
    return (features - low) / span
