"""Transfer between a user's own Optuna studies, for any objective."""

from autometa.study_transfer._studies import (
    RankedStudy,
    TransferredTrial,
    TransferWarning,
    cma_source_trials,
    describe_study,
    rank_studies,
    similarity_weight,
    study_descriptors,
    transfer,
)

__all__ = [
    "RankedStudy",
    "TransferWarning",
    "TransferredTrial",
    "cma_source_trials",
    "describe_study",
    "rank_studies",
    "similarity_weight",
    "study_descriptors",
    "transfer",
]
