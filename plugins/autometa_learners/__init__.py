"""First-party meta-learners, registered through the ``autometa`` entry-point group."""

from __future__ import annotations

from autometa.contract import MetaLearner
from autometa.contract.hookspecs import hookimpl
from autometa_learners.adaptive import AdaptivePortfolio
from autometa_learners.adaptive_cost_aware import AdaptiveCostAwarePortfolio
from autometa_learners.cost_aware import CostAwarePortfolio
from autometa_learners.nearest_tasks import NearestTasks
from autometa_learners.portfolio import GreedyPortfolio
from autometa_learners.zero_shot import ZeroShot

__all__ = [
    "AdaptiveCostAwarePortfolio",
    "AdaptivePortfolio",
    "CostAwarePortfolio",
    "GreedyPortfolio",
    "NearestTasks",
    "ZeroShot",
]


@hookimpl
def autometa_meta_learners() -> list[type[MetaLearner]]:
    return [
        NearestTasks,
        GreedyPortfolio,
        ZeroShot,
        CostAwarePortfolio,
        AdaptivePortfolio,
        AdaptiveCostAwarePortfolio,
    ]
