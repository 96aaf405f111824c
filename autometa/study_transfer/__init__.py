"""Transfer between a user's own Optuna studies, for any objective.

A user who tunes the same objective on many tasks has, in their Optuna storage, the
answer to "what worked on a task like this one". :func:`describe_study` stores a task's
descriptors on its study (the user attribute :data:`DESCRIPTORS_ATTR`);
:func:`rank_studies` lists the described studies of a storage, nearest task first;
:func:`transfer` enqueues the best trials of the nearest ones into a new study (each
marked with :data:`TRANSFER_ATTR`), checked against its search space; and
:func:`cma_source_trials` gives them to ``CmaEsSampler(source_trials=...)``.

Earlier studies are only read; the new study receives the enqueued trials and nothing
else. Problems with the sources (a study without descriptors, a trial whose parameter
is not in the new space) are skipped with one :class:`TransferWarning` that names them
and says why; problems with the call itself raise ``ValueError``.
"""

from autometa.study_transfer._cma import cma_source_trials
from autometa.study_transfer._descriptors import DESCRIPTORS_ATTR, describe_study, study_descriptors
from autometa.study_transfer._ranking import RankedStudy, rank_studies, similarity_weight
from autometa.study_transfer._transfer import TRANSFER_ATTR, TransferredTrial, transfer
from autometa.study_transfer._warnings import TransferWarning

__all__ = [
    "DESCRIPTORS_ATTR",
    "TRANSFER_ATTR",
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
