"""One fit's study: in memory, or durable in a storage and possibly shared with other fits.

A durable study (``storage=`` and ``study_name=``) outlives the fit: a fit that was
killed and is started again resumes it, and several processes can search it together.
:class:`DurableStudy` owns what that needs beyond Optuna: checking an existing study
before anything is written to it, joining it, reclaiming the trials dead processes left
running, the cross-process lock around enqueuing warm starts, the lease on this process's
running trials, and reading back every process's evaluations. In memory (no storage)
each of these is the trivial one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Evaluation, Recommendation
from autometa.search._leases import LeaseWatch, TrialLease, reclaim_abandoned
from autometa.search._space import enqueue
from autometa.search._storage import open_storage, study_lock
from autometa.search._studies import check_study, study_evaluations, trial_evaluations

WORKERS_ATTR = "autometa_workers"
"""Study user attribute: how many fits have joined the study so far."""


NOT_REACHED = "not_reached"
"""The ``status`` of a warm start a fit in memory ended without evaluating it."""


class DurableStudy:
    """The Optuna study of one fit, with what resuming and sharing it takes.

    Build it with :meth:`open` (an unreachable database fails there, before planning),
    then :meth:`resume` creates the study or loads the existing one.
    """

    def __init__(self, storage: BaseStorage | None, study_name: str | None) -> None:
        self.storage = storage
        self.study_name = study_name
        self._study: optuna.Study | None = None
        self.watch = LeaseWatch()
        """What this fit saw of other hosts' leases: kept from :meth:`resume` to the search."""

    @classmethod
    def open(cls, storage: str | BaseStorage | None, study_name: str | None) -> DurableStudy:
        """Open ``storage`` (a URL, an Optuna storage, or None for in memory)."""
        return cls(open_storage(storage), study_name)

    @property
    def durable(self) -> bool:
        """Whether the study lives in a storage (and may be shared)."""
        return self.storage is not None

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            raise RuntimeError("DurableStudy.resume() must be called before using the study.")
        return self._study

    def resume(
        self,
        task: Task,
        algorithms: Mapping[str, Algorithm],
        *,
        sampler: Callable[[int | None], BaseSampler],
        random_state: int | None,
        user_attrs: Mapping[str, Any],
    ) -> list[Evaluation]:
        """Create the study, or resume a durable one; return its earlier evaluations.

        An existing study is checked before anything is written to it (direction, task,
        scoring, search space); ``user_attrs`` are then set on it. A durable study is
        joined, and trials a dead process left running are reclaimed. ``sampler`` makes
        the study's sampler from a seed.
        """
        n_earlier = check_study(self.storage, self.study_name, task=task, algorithms=algorithms)
        study = optuna.create_study(
            storage=self.storage,
            study_name=self.study_name,
            direction="maximize",
            sampler=sampler(random_state),
            # Another process may create the study between check_study and here; load_if_exists
            # makes that a join, not an error.
            load_if_exists=True,
        )
        for key, value in user_attrs.items():
            study.set_user_attr(key, value)
        self._study = study
        if self.storage is None:
            return []
        joined = self._join()
        if random_state is not None and (joined or n_earlier):
            # A resumed seeded sampler must not replay the random points it drew before,
            # nor propose what other processes sharing the study (same seed) propose.
            mixed = np.random.SeedSequence([random_state, joined, n_earlier])
            study.sampler = sampler(int(mixed.generate_state(1)[0]))
        reclaim_abandoned(study, self.watch, self.storage)
        return study_evaluations(study, task)

    def _join(self) -> int:
        """Register one more fit on the study; return how many joined before it.

        The first fit on a study gets 0, every later one (a resumed fit, or another
        process sharing the search) a new number, under :func:`study_lock`. Seeded
        samplers mix it into their seed (see :meth:`resume`).
        """
        with study_lock(self.study, self.storage):
            joined = self.study.user_attrs.get(WORKERS_ATTR, 0)
            # A value edited by hand counts as none rather than failing the fit.
            joined = joined if isinstance(joined, int) and joined >= 0 else 0
            self.study.set_user_attr(WORKERS_ATTR, joined + 1)
        return joined

    def enqueue_once(self, recommendations: Sequence[Recommendation]) -> None:
        """Enqueue the warm starts; processes sharing the study enqueue them once."""
        with study_lock(self.study, self.storage):
            # enqueue's skip_if_exists is a read then a write: under the lock, two processes cannot
            # both see no warm start yet and enqueue them twice.
            enqueue(self.study, recommendations)

    def close_unreached(self) -> int:
        """In memory, end the warm starts the search never reached; return how many.

        Each is asked and told failed with the user attribute ``status`` =
        ``"not_reached"`` (Optuna's own ask and tell), so ``study_`` holds no WAITING
        trial. A durable study keeps them waiting: another process sharing it, or this
        call run again, still evaluates them.
        """
        if self.storage is not None:
            return 0
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        for _ in waiting:
            trial = self.study.ask()  # an enqueued trial first, with its fixed parameters
            trial.set_user_attr("status", NOT_REACHED)
            self.study.tell(trial, state=TrialState.FAIL)
        return len(waiting)

    def lease(self, n_trials: int | None) -> TrialLease | None:
        """The lease on this process's running trials (None in memory).

        ``n_trials`` is the study's total, which processes sharing it stop at together.
        """
        if self.storage is None:
            return None
        return TrialLease(storage=self.storage, n_trials=n_trials, watch=self.watch)

    def read_back(
        self, task: Task, own: list[Evaluation]
    ) -> tuple[list[Evaluation], list[tuple[FrozenTrial, Evaluation]]]:
        """Every evaluation of the study once the search is over, and the trials they
        were read from.

        In memory, ``own`` (this fit's) and no trials; durable, read back from the study,
        with those other processes sharing it finished meanwhile. Read once, so that what
        a fit reports and what its ensemble draws on (those trials' shared predictions)
        are the same trials while other processes go on finishing theirs.
        """
        if self.storage is None:
            return own, []
        done = trial_evaluations(self.study, task)
        return [evaluation for _, evaluation in done], done
