"""The plugin contract: what a plugin author reads, and all that plugins share.

Hooks (:mod:`autometa.contract.hookspecs`, documented in docs/plugins.md), the types
they take and return, the :class:`MetaLearner` base, what samplers are built from, and
the helpers several plugins need (configuration encoding, the candidate pool). A plugin
imports from here and from :mod:`autometa.testing`; nothing else of autometa is
promised to stay where it is. The contract imports the rest of autometa only to
annotate types (the knowledge base a learner reads); a store interface of its own is
still to come.
"""

from autometa.contract._encoding import (
    ConfigEncoder,
    EncodedConfigs,
    EncodingIssue,
    Spaces,
    is_number,
    spaces_of,
)
from autometa.contract._metalearner import MetaLearner, SearchBudget, greedy_cover
from autometa.contract._pool import from_unit, make_pool, pool_summary, space_filling_configs
from autometa.contract._sampler import SamplerContext, SamplerFactory
from autometa.contract._task import FeatureSchema, Task
from autometa.contract._types import (
    ALGORITHM_PARAM,
    PARAM_SEPARATOR,
    TASK_KINDS,
    Algorithm,
    Config,
    Evaluation,
    Evidence,
    Recommendation,
    Strategy,
    TaskKind,
)
from autometa.contract.hookspecs import PROJECT_NAME, hookimpl, hookspec

__all__ = [
    "ALGORITHM_PARAM",
    "PARAM_SEPARATOR",
    "PROJECT_NAME",
    "TASK_KINDS",
    "Algorithm",
    "Config",
    "ConfigEncoder",
    "EncodedConfigs",
    "EncodingIssue",
    "Evaluation",
    "Evidence",
    "FeatureSchema",
    "MetaLearner",
    "Recommendation",
    "SamplerContext",
    "SamplerFactory",
    "SearchBudget",
    "Spaces",
    "Strategy",
    "Task",
    "TaskKind",
    "from_unit",
    "greedy_cover",
    "hookimpl",
    "hookspec",
    "is_number",
    "make_pool",
    "pool_summary",
    "space_filling_configs",
    "spaces_of",
]
