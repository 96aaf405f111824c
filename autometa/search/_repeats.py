"""Configurations a search has already evaluated: a sampler's repeat is told, not refitted.

Over an algorithm whose parameters are few and discrete (extra trees: ``bootstrap``,
``max_features``, ``min_samples_leaf``), TPE proposes the best point it has seen again
and again, and each repeat refits the same estimator on the same splits for the same
score. On held-out corpus tables of 5,000 to 9,000 rows with a 30 s budget, half the
fits repeated a configuration, and the repeats took up to half the budget.

Optuna's FAQ answers this inside the objective: return the earlier trial's value. The
search does the same before any work reaches a worker (the repeat is told the earlier
trial's outcome, fold scores included, so pruners and samplers see a consistent
history), and the next trial is a random point of the space not evaluated yet,
enqueued, so the history moves off the repeated point instead of piling more weight on
it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import optuna
from optuna.samplers import RandomSampler
from optuna.trial import Trial

from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config
from autometa.search._evaluation import CVOutcome
from autometa.search._space import suggest_config

logger = logging.getLogger(__name__)

MAX_REPEATS_IN_A_ROW = 20
"""After this many repeats in a row the search ends: the sampler, random points included,
finds nothing new (a space of few points, all evaluated)."""

RANDOM_DRAWS = 10
"""Random points drawn after a repeat to find one not evaluated yet."""

REPEAT_ATTR = "repeat_of"
"""User attribute of a repeated trial: the number of the trial whose outcome it was told."""


@dataclass
class EvaluatedConfigs:
    """The successful outcome of each configuration a search over ``algorithms`` evaluated.

    The random points that follow a repeat are drawn from the same space, seeded by the
    task's ``random_state`` and the repeat's trial number (a search with ``n_jobs=1``
    stays reproducible; ``random_state=None`` draws fresh ones).
    """

    algorithms: Mapping[str, Algorithm]
    task: Task
    outcomes: dict[Config, tuple[int, CVOutcome]] = field(default_factory=dict)
    repeats_in_a_row: int = 0
    next_point: dict[str, Any] | None = None
    """The random point drawn after the last repeat, for :meth:`enqueue_next`."""

    def record(self, number: int, config: Config, result: CVOutcome) -> None:
        """Keep trial ``number``'s outcome if it succeeded (the first one, if repeated)."""
        if result.status == "ok":
            self.outcomes.setdefault(config, (number, replace(result, predictions=None)))

    def repeat(self, trial: Trial, config: Config) -> CVOutcome | None:
        """The outcome ``trial`` is told when ``config`` was evaluated before, else None.

        A repeat records the earlier trial's number as its :data:`REPEAT_ATTR` and, unless
        it ends the search, draws a random point of the space for the next trial
        (:meth:`enqueue_next`).
        """
        earlier = self.outcomes.get(config)
        if earlier is None:
            self.repeats_in_a_row = 0
            return None
        self.repeats_in_a_row += 1
        trial.set_user_attr(REPEAT_ATTR, earlier[0])
        if self.exhausted:  # no next trial: no point to draw
            logger.info(
                "%d trials in a row repeated configurations; the search ends", MAX_REPEATS_IN_A_ROW
            )
            return earlier[1]
        self.next_point = self._new_random_point(trial.number)
        return earlier[1]

    def enqueue_next(self, study: optuna.Study) -> None:
        """Enqueue the point drawn after the last repeat, just before the next trial is
        asked: enqueued when the repeat is told, it would be left waiting in the study
        when the budget ends there (``n_trials`` reached, the timeout spent)."""
        if self.next_point is not None:
            study.enqueue_trial(self.next_point, skip_if_exists=True)
            self.next_point = None

    @property
    def exhausted(self) -> bool:
        """Whether the sampler has proposed only repeats for too long to go on."""
        return self.repeats_in_a_row >= MAX_REPEATS_IN_A_ROW

    def _new_random_point(self, number: int) -> dict[str, Any] | None:
        """Trial parameters of a random point not evaluated yet (None if
        :data:`RANDOM_DRAWS` draws found none), seeded by trial ``number``."""
        seed = self.task.random_state
        seeds = np.random.SeedSequence(None if seed is None else [seed, number])
        for draw in seeds.generate_state(RANDOM_DRAWS):
            trial = optuna.create_study(sampler=RandomSampler(seed=int(draw))).ask()
            if suggest_config(trial, self.algorithms, self.task) not in self.outcomes:
                return dict(trial.params)
        return None
