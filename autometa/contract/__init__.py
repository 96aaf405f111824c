"""The plugin contract: what a plugin author reads, and all that plugins share.

Hooks (:mod:`autometa.contract.hookspecs`, documented in docs/plugins.md), the types
they take and return, the :class:`MetaLearner` base, what samplers are built from, and
the helpers several plugins need (configuration encoding, the candidate pool, the
distance between tasks, the built-in samplers), and what a plugin may read of a
knowledge base (:class:`KnowledgeView`, a read-only protocol). A plugin imports from
here and from :mod:`autometa.testing`; nothing else of autometa is promised to stay
where it is. The contract imports nothing of autometa outside itself
(tests/test_architecture.py checks it), so what two plugins share lives here.
"""

from autometa.contract._adaptive import observation_weights
from autometa.contract._column_roles import MAX_ONE_HOT_LEVELS, many_level_columns
from autometa.contract._cost import (
    CostModel,
    TaskSize,
    cost_aware_cover,
    measured_rows,
    timing_table,
)
from autometa.contract._cv import HOLDOUT_FRACTION
from autometa.contract._encoding import (
    ConfigEncoder,
    EncodedConfigs,
    EncodingIssue,
    Spaces,
    is_number,
    spaces_of,
)
from autometa.contract._fidelity import row_fidelities
from autometa.contract._knowledge import KnowledgeView, ScoreTableView, TaskRecordView
from autometa.contract._metalearner import (
    MetaLearner,
    SearchBudget,
    adapts,
    evidence_weights,
    greedy_cover,
    portfolio_regret,
    sparse_tasks,
)
from autometa.contract._native_categories import CategoricalFrame, categorical_frame_preprocessor
from autometa.contract._pool import from_unit, make_pool, pool_summary, space_filling_configs
from autometa.contract._row_checks import ClassWeight
from autometa.contract._sampler import (
    BUILTIN_SAMPLERS,
    SamplerContext,
    SamplerFactory,
    builtin_sampler,
)
from autometa.contract._similarity import (
    MetaFeatureSpace,
    scale_jointly,
    similarity_weights,
    task_distances,
)
from autometa.contract._task import FeatureSchema, Task
from autometa.contract._types import (
    ALGORITHM_PARAM,
    PARAM_SEPARATOR,
    TASK_KINDS,
    Algorithm,
    Config,
    Evaluation,
    Evidence,
    Proposal,
    Recommendation,
    Strategy,
    TaskKind,
    resolve_params,
)
from autometa.contract.hookspecs import PROJECT_NAME, hookimpl, hookspec

__all__ = [
    "ALGORITHM_PARAM",
    "BUILTIN_SAMPLERS",
    "HOLDOUT_FRACTION",
    "MAX_ONE_HOT_LEVELS",
    "PARAM_SEPARATOR",
    "PROJECT_NAME",
    "TASK_KINDS",
    "Algorithm",
    "CategoricalFrame",
    "ClassWeight",
    "Config",
    "ConfigEncoder",
    "CostModel",
    "EncodedConfigs",
    "EncodingIssue",
    "Evaluation",
    "Evidence",
    "FeatureSchema",
    "KnowledgeView",
    "MetaFeatureSpace",
    "MetaLearner",
    "Proposal",
    "Recommendation",
    "SamplerContext",
    "SamplerFactory",
    "ScoreTableView",
    "SearchBudget",
    "Spaces",
    "Strategy",
    "Task",
    "TaskKind",
    "TaskRecordView",
    "TaskSize",
    "adapts",
    "builtin_sampler",
    "categorical_frame_preprocessor",
    "cost_aware_cover",
    "evidence_weights",
    "from_unit",
    "greedy_cover",
    "hookimpl",
    "hookspec",
    "is_number",
    "make_pool",
    "many_level_columns",
    "measured_rows",
    "observation_weights",
    "pool_summary",
    "portfolio_regret",
    "resolve_params",
    "row_fidelities",
    "scale_jointly",
    "similarity_weights",
    "space_filling_configs",
    "spaces_of",
    "sparse_tasks",
    "task_distances",
    "timing_table",
]
