"""The meta-learner interface: learn from a knowledge base, recommend for a new task.

Meta-learners follow scikit-learn's estimator conventions: hyperparameters are the
``__init__`` arguments (so ``get_params``/``clone`` work), and everything learned in
:meth:`MetaLearner.fit` is stored in attributes ending with ``_``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from sklearn.base import BaseEstimator

if TYPE_CHECKING:
    from autometa.knowledge import KnowledgeBase
    from autometa.types import Algorithm, Recommendation, TaskKind


class MetaLearner(BaseEstimator, ABC):
    """Base class of every meta-learner and multi-task model.

    Subclasses set the class attribute ``name`` (unique among registered learners) and
    implement :meth:`fit` and :meth:`recommend`.
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def fit(self, knowledge: KnowledgeBase) -> MetaLearner:
        """Learn from every task and evaluation in ``knowledge``; return ``self``.

        Must accept an empty knowledge base (then :meth:`recommend` falls back to
        defaults) and must not modify ``knowledge``.
        """

    @abstractmethod
    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
    ) -> list[Recommendation]:
        """Return up to ``k`` distinct recommendations for a new task, best first.

        :param meta_features: the new task's meta-features (NaN where undefined).
        :param kind: the new task's kind; only configurations valid for it may be returned.
        :param algorithms: the algorithms available in this fit; recommend only these.
        :param k: the most recommendations to return.
        """
