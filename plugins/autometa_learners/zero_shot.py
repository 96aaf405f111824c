"""Zero-shot preference lists: FLAML's zero-shot AutoML (Wang et al., 2021; Kayali & Wang, 2022).

Offline, a small portfolio is mined from the earlier tasks: the greedy sequence of
configurations that most lowers the mean best-so-far regret (as in
:mod:`autometa_learners.portfolio`). Each earlier task then ranks the portfolio by its
own scores: that ranking is the task's preference list. For a new task the learner finds
the nearest earlier task in meta-feature space and returns its preference list.

Where the greedy portfolio is one list for everyone and nearest tasks takes one
configuration from each of many neighbours, zero-shot trusts a single neighbour's
judgement but only over configurations already known to be robust, which is what makes
it safe to run with a single trial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract import Algorithm, Config, Evidence, MetaLearner, Recommendation, TaskKind
from autometa_learners.nearest_tasks import NearestTasks
from autometa_learners.portfolio import greedy_portfolio

if TYPE_CHECKING:
    from autometa.contract import KnowledgeView

DEFAULT_PORTFOLIO_SIZE = 32


class ZeroShot(MetaLearner):
    """Recommend the nearest earlier task's ranking of a mined portfolio.

    Parameters
    ----------
    portfolio_size:
        Configurations mined per kind; a preference list never holds more.
    """

    name = "zero_shot"

    def __init__(self, portfolio_size: int = DEFAULT_PORTFOLIO_SIZE) -> None:
        self.portfolio_size = portfolio_size

    def fit(self, knowledge: KnowledgeView) -> ZeroShot:
        # Distances are the contract's (auto-sklearn's scaled L1, through nearest tasks):
        # one definition of "near" across learners, so their explanations agree.
        self.neighbours_ = NearestTasks().fit(knowledge)
        self.portfolios_: dict[str, list[Config]] = {}
        self.preferences_: dict[str, dict[str, list[tuple[Config, float]]]] = {}
        for kind, table in self.neighbours_.tables_.items():
            if not table.task_ids:
                continue
            normalized = table.normalized()
            mined = greedy_portfolio(table.configs, normalized, self.portfolio_size)
            columns = [table.configs.index(config) for config, _, _ in mined]
            self.portfolios_[kind] = [table.configs[c] for c in columns]
            lists = {}
            for row, task_id in enumerate(table.task_ids):
                scores = np.nan_to_num(normalized[row, columns], nan=-np.inf)
                order = np.argsort(-scores, kind="stable")  # ties keep the portfolio's order
                lists[task_id] = [
                    (table.configs[columns[i]], float(scores[i]))
                    for i in order
                    if np.isfinite(scores[i])
                ]
            self.preferences_[kind] = lists
        return self

    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
    ) -> list[Recommendation]:
        available = {a.name for a in algorithms}
        lists = self.preferences_.get(kind, {})
        nearest = next(
            ((t, d) for t, d in self.neighbours_.distances(meta_features, kind) if t in lists),
            None,
        )
        if nearest is None:
            return []
        task_id, distance = nearest
        task_name = self.neighbours_.task_names_[task_id]
        explaining = self.neighbours_.explaining(meta_features, task_id)
        chosen: list[Recommendation] = []
        ranked = [(c, s) for c, s in lists[task_id] if c.algorithm in available]
        # The rest of the portfolio (configurations the neighbour could not run) goes last,
        # in the portfolio's own order: still robust choices on average.
        listed = {c for c, _ in ranked}
        tail = [(c, np.nan) for c in self.portfolios_[kind] if c not in listed]
        size = len(self.portfolios_[kind])
        for position, (config, score) in enumerate(ranked + tail):
            if config.algorithm not in available:
                continue
            note = (
                f"rank {position + 1} of the {size}-config portfolio on {task_name} "
                f"(normalized score {score:.3f})"
                if np.isfinite(score)
                else f"in the {size}-config portfolio; not evaluated on {task_name}"
            )
            chosen.append(
                Recommendation(
                    config,
                    score,
                    Evidence(
                        self.name,
                        source_tasks=((task_name, distance),),
                        meta_features=explaining,
                        note=note,
                    ),
                )
            )
            if len(chosen) == k:
                break
        return chosen
