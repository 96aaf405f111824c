"""The knowledge base: earlier tasks, the configurations tried on them, how they scored.

:class:`KnowledgeBase` stores them through a store (the SQLAlchemy one: SQLite or any
SQLAlchemy database; :mod:`autometa.knowledge._store` is the interface a backend
implements) and reads and writes the JSON Lines format; the shipped base, building a base
from a corpus of datasets, and leave-one-task-out evaluation of meta-learners live beside
it. Replay judges
search policies by charging each pick its stored score and time; the cost model it
uses to scale those times (:class:`autometa.contract.CostModel`) is part of the
contract, and its held-out error is measured here. A fit given no base learns from the
shipped one with the user's own laid over it (:func:`default_knowledge`,
:func:`layered_knowledge`).
"""

from autometa.knowledge._base import KnowledgeBase, ScoreTable, TaskRecord
from autometa.knowledge._cost_model import CostModelError, cost_model_error
from autometa.knowledge._format import KnowledgeBaseError
from autometa.knowledge._layered import layered_knowledge
from autometa.knowledge._limits import ImportLimits
from autometa.knowledge._replay import ReplayReport, replay
from autometa.knowledge._replay_policies import (
    AdaptiveCostAwarePolicy,
    AdaptivePolicy,
    AdaptivePortfolioPolicy,
    CostAwarePolicy,
    GreedyPortfolioPolicy,
    GuardedPolicy,
    HeldOutTask,
    History,
    NearestTasksPolicy,
    Policy,
    Proposer,
    RandomPolicy,
    SingleBestPolicy,
    default_policies,
)
from autometa.knowledge._user import (
    USER_KNOWLEDGE_ENV,
    default_knowledge,
    open_user_knowledge,
    user_knowledge_location,
)

__all__ = [
    "USER_KNOWLEDGE_ENV",
    "AdaptiveCostAwarePolicy",
    "AdaptivePolicy",
    "AdaptivePortfolioPolicy",
    "CostAwarePolicy",
    "CostModelError",
    "GreedyPortfolioPolicy",
    "GuardedPolicy",
    "HeldOutTask",
    "History",
    "ImportLimits",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "NearestTasksPolicy",
    "Policy",
    "Proposer",
    "RandomPolicy",
    "ReplayReport",
    "ScoreTable",
    "SingleBestPolicy",
    "TaskRecord",
    "cost_model_error",
    "default_knowledge",
    "default_policies",
    "layered_knowledge",
    "open_user_knowledge",
    "replay",
    "user_knowledge_location",
]
