"""Conformance checks for autometa plugins, to call from a plugin's own test suite.

autometa loads third-party code through :mod:`autometa.contract.hookspecs`, and most mistakes in
that code do not fail where they are made: a default outside the search space makes
every warm start of that algorithm silently skipped, an estimator that does not pickle
fails only in a joblib worker, an infinite meta-feature breaks the knowledge base, a
non-deterministic meta-learner makes seeded fits irreproducible. These checks run a
plugin's parts the way a fit runs them, on small real tasks, and raise
:class:`AssertionError` with a message naming the plugin (or algorithm, or learner) and
what is wrong, so a plugin author finds out in ``pytest`` rather than from a user::

    import autometa.testing
    import my_plugin

    def test_my_plugin_conforms():
        autometa.testing.check_plugin(my_plugin)
        for algorithm in my_plugin.ALGORITHMS:
            autometa.testing.check_algorithm(algorithm)
        autometa.testing.check_meta_features(my_plugin)

The checks use real components only: a real plugin manager
(:func:`autometa._plugins.build_plugin_manager`), tasks built by
:meth:`autometa.contract.Task.from_data` from scikit-learn's bundled datasets, real Optuna
samplers, and knowledge bases filled by real cross-validation. They raise explicitly
(never through ``assert`` statements), so they also work under ``python -O``.

The checks are split by concern (one private module each, all names public from here):
plugins as a whole (:func:`check_plugin`), algorithms (:func:`check_algorithm`),
meta-features (:func:`check_meta_features`), meta-learners (:func:`check_meta_learner`)
and adaptive ones (:func:`check_adaptive_learner`),
strategy selectors (:func:`check_strategy_selector`), samplers (:func:`check_samplers`),
knowledge-store backends (:func:`check_knowledge_store`), and the small tasks and
knowledge bases they run on (:func:`small_tasks`, :func:`small_knowledge_base`).
"""

from autometa.testing._adaptive_learners import check_adaptive_learner
from autometa.testing._algorithms import check_algorithm
from autometa.testing._common import HOOK_NAMES as HOOK_NAMES
from autometa.testing._common import PROBABILITY_TOLERANCE as PROBABILITY_TOLERANCE
from autometa.testing._common import SUPPORTED_DISTRIBUTIONS as SUPPORTED_DISTRIBUTIONS
from autometa.testing._data import small_knowledge_base, small_tasks
from autometa.testing._knowledge_store import check_knowledge_store
from autometa.testing._meta_features import check_meta_features
from autometa.testing._meta_learners import check_meta_learner
from autometa.testing._plugin import check_plugin
from autometa.testing._samplers import check_samplers
from autometa.testing._selectors import check_strategy_selector

__all__ = [
    "check_adaptive_learner",
    "check_algorithm",
    "check_knowledge_store",
    "check_meta_features",
    "check_meta_learner",
    "check_plugin",
    "check_samplers",
    "check_strategy_selector",
    "small_knowledge_base",
    "small_tasks",
]
