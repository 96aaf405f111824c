"""Hand-over by evidence: an adaptive meta-learner proposes trials until the sampler is worth more.

With a strategy whose meta-learner adapts (:func:`autometa.contract.adapts`), only the
first recommendation is enqueued up front; before every later ask the search calls
:meth:`AdaptiveProposer.before_ask`, which asks the learner for the next configuration
given this task's trials so far (``MetaLearner.propose``) and enqueues it while its
predicted gain is at least :attr:`Strategy.handover_gain`. The first time it is lower, or
the learner has nothing to propose (or its ``propose`` raises: a warning names it), the
sampler takes over for good; :meth:`summary` says when and why, for ``explain()``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from autometa.contract._metalearner import MetaLearner, SearchBudget, adapts
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, Evaluation, Proposal, Recommendation
from autometa.search._planning import Plan
from autometa.search._space import config_in_space

logger = logging.getLogger(__name__)

PROPOSAL_ATTR = "autometa_adaptive_proposal"
"""Trial user attribute of a proposed trial: its number among the proposals, from 1."""
GAIN_ATTR = "autometa_adaptive_gain"
"""Trial user attribute of a proposed trial: the gain the learner predicted for it."""
MAX_OUTSIDE_SPACE = 20
"""Proposals outside the task's space skipped in a row before the sampler takes over."""


@dataclass(frozen=True)
class AdaptationSummary:
    """What an adaptive learner did in one search (a fitted model's ``adaptation_``).

    ``proposed`` trials came from the learner after the static first one (``configs``,
    in order);
    ``handed_over_at`` is the number of trials this search had asked when the sampler
    took over (None: it never did), ``reason`` why; ``task_weights`` the earlier tasks the
    last proposal's observations pointed to, heaviest first, and ``weight_history`` those
    of each proposal in turn (how the weights moved as trials were observed).
    """

    learner: str
    proposed: int
    handed_over_at: int | None
    reason: str
    task_weights: tuple[tuple[str, float], ...]
    threshold: float
    configs: tuple[Config, ...] = ()
    weight_history: tuple[tuple[tuple[str, float], ...], ...] = ()


@dataclass
class AdaptiveProposer:
    """One search's adaptive learner: asked before each trial until it hands over.

    ``previous`` are the evaluations of earlier processes on a resumed study; they
    count as observed.
    """

    learner: MetaLearner
    task: Task
    algorithms: Mapping[str, Algorithm]
    meta_features: Mapping[str, float]
    threshold: float
    previous: Sequence[Evaluation] = ()
    budget: SearchBudget | None = None
    proposed: int = 0
    handed_over_at: int | None = None
    reason: str = ""
    task_weights: tuple[tuple[str, float], ...] = ()
    outside: list[Config] = field(default_factory=list)
    configs: list[Config] = field(default_factory=list)
    weight_history: list[tuple[tuple[str, float], ...]] = field(default_factory=list)

    def before_ask(
        self,
        study: optuna.Study,
        observed: Sequence[Evaluation],
        pending: Sequence[Config],
        asked: int,
    ) -> None:
        """Enqueue the learner's next proposal, or hand over to the sampler for good.

        Does nothing once handed over, or while a trial is already waiting in the study
        (a warm start, a retry): that one is asked first.
        """
        if self.handed_over_at is not None or _waiting(study):
            return
        proposal = self._propose([*self.previous, *observed], pending, asked)
        if proposal is None:
            return
        self.task_weights = proposal.task_weights
        if not math.isfinite(proposal.gain) or proposal.gain < self.threshold:
            self._hand_over(
                asked, f"predicted gain {proposal.gain:.4g} < handover_gain {self.threshold:g}"
            )
            return
        self.proposed += 1
        config = proposal.recommendation.config
        self.configs.append(config)
        self.weight_history.append(proposal.task_weights)
        # warm_start_rank continues the static warm start's 0: plots and retries of a
        # reclaimed trial treat a proposal as a warm start.
        attrs = {"warm_start_rank": self.proposed, PROPOSAL_ATTR: self.proposed}
        study.enqueue_trial(
            config.to_trial_params(),
            user_attrs={**attrs, GAIN_ATTR: proposal.gain},
            skip_if_exists=True,  # a process sharing the study may have tried it
        )
        logger.debug("adaptive proposal %d: %s (gain %.4g)", self.proposed, config, proposal.gain)

    def _propose(
        self, observed: Sequence[Evaluation], pending: Sequence[Config], asked: int
    ) -> Proposal | None:
        """The learner's proposal inside this task's space; None after handing over."""
        while True:
            try:
                proposal = self.learner.propose(
                    self.meta_features,
                    observed,
                    kind=self.task.kind,
                    algorithms=list(self.algorithms.values()),
                    pending=[*pending, *self.outside],
                    scoring=self.task.scoring,
                    budget=self.budget,
                )
                if proposal is not None and not isinstance(proposal, Proposal):
                    raise TypeError(f"returned {type(proposal).__name__}, not a Proposal or None")
            except Exception as exc:  # a learner's bug ends its proposals, not the search
                reason = f"{self.learner.name}.propose failed ({type(exc).__name__}: {exc})"
                warnings.warn(f"{reason}; the sampler takes over.", UserWarning, stacklevel=2)
                self._hand_over(asked, reason)
                return None
            if proposal is None:
                self._hand_over(asked, "the learner had nothing more to propose")
                return None
            config = proposal.recommendation.config
            if config_in_space(config, self.algorithms, self.task):
                return proposal
            self.outside.append(config)
            if len(self.outside) >= MAX_OUTSIDE_SPACE:
                self._hand_over(asked, f"{len(self.outside)} proposals fell outside the space")
                return None

    def _hand_over(self, asked: int, reason: str) -> None:
        self.handed_over_at, self.reason = asked, reason
        logger.info("the sampler takes over after %d trials: %s", asked, reason)

    def summary(self) -> AdaptationSummary:
        return AdaptationSummary(
            self.learner.name,
            self.proposed,
            self.handed_over_at,
            self.reason,
            self.task_weights,
            self.threshold,
            tuple(self.configs),
            tuple(self.weight_history),
        )


def _waiting(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def adaptive_proposer(
    plan: Plan, previous: Sequence[Evaluation] = (), seconds: float | None = None
) -> AdaptiveProposer | None:
    """A proposer when the plan's learner adapts (None otherwise: the static warm starts
    serve). ``previous`` are a resumed study's evaluations; ``seconds`` is the fit's
    timeout, told to the learner as its budget."""
    learner = plan.learner
    if learner is None or not adapts(learner):
        return None
    seconds = seconds if seconds is not None and math.isfinite(seconds) else None
    budget = SearchBudget(seconds, plan.task.n_splits, plan.task.n_rows)
    return AdaptiveProposer(
        learner,
        plan.task,
        plan.algorithms,
        plan.meta_features.values,
        plan.strategy.handover_gain,
        list(previous),
        budget,
    )


def static_warm_starts(
    recommendations: Sequence[Recommendation], proposer: AdaptiveProposer | None
) -> list[Recommendation]:
    """What is enqueued before the search: all recommendations, or with an adaptive
    learner only the first (the first trial starts at once; the learner picks the rest)."""
    return list(recommendations if proposer is None else recommendations[:1])
