"""First-party strategy selectors, registered through the ``autometa`` entry-point group.

One hook answers for all three, last of all selectors (``trylast``: a user's selector
plugin is asked first):

- a fit bounded by a **timeout** warm-starts from the cost-aware portfolio
  (:data:`TIME_BOUNDED_LEARNER`) when it is registered and the base has tasks of the
  kind: under a time limit what matters is regret per second, not per trial. Replay on
  all 263 tasks of the shipped base, each at its full size under 5-fold CV
  (``autometa kb replay --rows full --n-splits 5``, docs/replay.md), puts its mean
  regret at 0.0100 after 10 s and 0.0059 after 30 s against the greedy portfolio's
  0.0331 and 0.0087 (and lower at 60 and 120 s too); per trial it is worse (0.097
  against 0.044 after one trial), so fits bounded by ``n_trials`` alone keep the
  learned choice;
- the **learned** selector (:mod:`autometa_selectors.learned`) chooses the meta-learner
  with auto-sklearn 2's pairwise random forests, trained on the knowledge base's
  leave-one-task-out results; it abstains on a small base, a kind the base has no task
  of, or fewer than two learners;
- the **rule-based** selector answers otherwise: the first offered learner of
  :data:`RULE_LEARNERS` (any other offered one, by name, when none of them is) when the
  base has tasks of the new task's kind, a cold search when it has none.

The learned selector's training and judging code (:mod:`autometa_selectors.selection`)
and its training data for the shipped knowledge base (``data/selector_training.json``)
live here too, not in the core: ``autometa kb evaluate --selector`` reaches them through
the ``autometa_evaluate_selector`` hook.

Both share the rules for the rest of the strategy:

- validation by size (:func:`validation_for`): 5-fold CV up to :data:`CV_ROWS` rows
  (repeated :data:`CV_REPEATS` times for a classification), 3-fold up to
  :data:`THREE_FOLD_ROWS`, a holdout above;
- :data:`N_WARM_STARTS` warm starts. Leave-one-task-out cannot learn this number: a
  learner's regret after k warm starts only falls with k, and what the extra trials
  cost is the search's budget, which a selector is not told;
- the sampler :data:`SAMPLER`, TPE in its multivariate, grouped form, for every task:
  the search space is conditional (``algorithm`` decides which parameters exist), which
  grouped TPE models and which the other built-in samplers do not (CMA-ES samples only
  the continuous parameters jointly and needs many more trials than a budgeted fit
  runs; random and QMC learn nothing from the warm starts' scores). The transfer
  samplers were measured against it after the same warm start
  (``examples/benchmark_warm_start.py --samplers rgpe cmaes_warm``, 6 held-out tasks, 3
  seeds, README): both lower the validation regret after 50 trials (0.035 and 0.032
  against 0.039) but not the test regret (0.224 and 0.240 against 0.220), so none is
  chosen over TPE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from autometa.contract import HOLDOUT_FRACTION, SearchBudget, Strategy, row_fidelities
from autometa.contract.hookspecs import hookimpl
from autometa_selectors.learned import choose_learner
from autometa_selectors.selection import selector_report

if TYPE_CHECKING:
    from autometa.contract import KnowledgeView, Task
    from autometa.knowledge import KnowledgeBase
    from autometa.knowledge._loto import LotoReport

CV_ROWS = 2_000
"""Up to this many rows, 5-fold CV (repeated :data:`CV_REPEATS` times for a
classification): small data needs every row for a stable estimate."""
CV_REPEATS = 2
"""Repeats of the 5-fold split on small classification tables. A classification score
on a fold of a few dozen rows is noisy (ROC AUC over a handful of positives, a log loss
dominated by a few confident mistakes), and a search that picks the best of 50-150
trials by one split partly picks that split's noise; a second, differently shuffled
split averages part of it out, at twice the cost of a trial. Measured in two independent
runs on the 13 held-out peerbench tables of at most 2,000 rows (30 s, one core, seeds
0-3; docs/benchmarks.md): on the 36 classification task-seeds of each run the repeats
beat the single split 23-13 and 24-12, raised the mean normalized score from 0.766 to
0.805 and from 0.771 to 0.780, and were ahead of cold TPE on 5 and 3 more. On the 16
regression task-seeds they lost 7-9 and 6-10 and lowered that score (0.809 to 0.741,
0.801 to 0.687), so a regression keeps one split (a reading, not a proof: an R² on a
fold is less noisy, and the trials the repeats cost seem to weigh more there). Ten
folds instead of two repeats (the same cost) lowered the score."""
THREE_FOLD_ROWS = 10_000
"""Up to this many rows, 3-fold CV; above, one stratified 75/25 holdout split."""
N_WARM_STARTS = 10
TIME_BOUNDED_LEARNER = "cost_aware_portfolio"
RULE_LEARNERS = ("greedy_portfolio", "score_forest", "nearest_tasks")
"""The rule-based selector's learners, best first, by leave-one-task-out regret (mean
of k = 1, 3, 5, 10). On the complete shipped base (263 tasks, README) the greedy
portfolio's regret is the lowest of the three at every k (tied with the score forest at
k = 10), the score forest's second and nearest tasks' the highest; the same order held
on random sub-bases of 5, 10 and 20 tasks per kind, so it does not depend on the base's
size."""
SAMPLER = "tpe"


def validation_for(task: Task) -> tuple[Literal["cv", "holdout"], int, int, str]:
    """(validation, n_splits, n_repeats, why) by the task's size and kind."""
    if task.n_rows <= CV_ROWS and task.is_classification:
        why = f"{task.n_rows} rows <= {CV_ROWS}: 5-fold CV, {CV_REPEATS} repeats"
        return "cv", 5, CV_REPEATS, why
    if task.n_rows <= CV_ROWS:
        return "cv", 5, 1, f"{task.n_rows} rows <= {CV_ROWS}: 5-fold CV"
    if task.n_rows <= THREE_FOLD_ROWS:
        return "cv", 3, 1, f"{task.n_rows} rows: 3-fold CV"
    return "holdout", 3, 1, f"{task.n_rows} rows: 25% holdout"


def rule_based_strategy(
    task: Task, knowledge: KnowledgeBase, meta_learners: Sequence[str]
) -> Strategy:
    """Validation by size, the best offered learner's warm starts when the base has peers."""
    validation, n_splits, n_repeats, why = validation_for(task)
    peers = len(knowledge.tasks(kind=task.kind))
    ranked = [name for name in RULE_LEARNERS if name in meta_learners]
    learner = next(iter(ranked or sorted(meta_learners)), None)
    if learner is not None and peers:
        return Strategy(
            learner,
            N_WARM_STARTS,
            SAMPLER,
            validation,
            n_splits,
            n_repeats,
            reason=f"rule-based: {peers} earlier {task.kind} tasks -> {learner}; {why}",
        )
    return Strategy(
        None,
        0,
        SAMPLER,
        validation,
        n_splits,
        n_repeats,
        reason=f"rule-based: no earlier {task.kind} tasks or no learner -> cold TPE; {why}",
    )


def time_bounded_strategy(
    task: Task, knowledge: KnowledgeView, meta_learners: Sequence[str], budget: SearchBudget
) -> Strategy | None:
    """The cost-aware portfolio's warm starts for a fit with a timeout, or None."""
    if budget.seconds is None or TIME_BOUNDED_LEARNER not in meta_learners:
        return None
    peers = len(knowledge.tasks(kind=task.kind))
    if not peers:
        return None
    validation, n_splits, n_repeats, why = validation_for(task)
    return Strategy(
        TIME_BOUNDED_LEARNER,
        N_WARM_STARTS,
        SAMPLER,
        validation,
        n_splits,
        n_repeats,
        reason=f"timeout={budget.seconds:g}s: {TIME_BOUNDED_LEARNER} orders {peers} earlier "
        f"{task.kind} tasks' best configurations by regret per predicted second; {why}",
    )


def learned_strategy(
    task: Task,
    meta_features: Mapping[str, float],
    knowledge: KnowledgeBase,
    meta_learners: Sequence[str],
) -> Strategy | None:
    """The learned selector's meta-learner with the shared rules, or None to abstain."""
    choice = choose_learner(task.kind, meta_features, knowledge, meta_learners)
    if choice is None:
        return None
    validation, n_splits, n_repeats, why = validation_for(task)
    return Strategy(
        choice.learner,
        N_WARM_STARTS,
        SAMPLER,
        validation,
        n_splits,
        n_repeats,
        reason=f"learned selector: {choice.learner}: {choice.reason}; {why}",
    )


def with_fidelities(strategy: Strategy, task: Task, budget: SearchBudget) -> Strategy:
    """A timed holdout search steps its trials through row fidelities.

    When time is the budget, a large table's trials fit growing subsamples of the
    training rows first (:func:`autometa.contract.row_fidelities`), and the pruner
    keeps the best third at each: many configurations get a cheap look, few a full fit.
    Without a timeout the trials fit all rows at once: a pruned trial would use up one
    of ``n_trials`` with a partial look.
    """
    if budget.seconds is None or strategy.validation != "holdout":
        return strategy
    fidelities = row_fidelities(round(task.n_rows * (1 - HOLDOUT_FRACTION)))
    if not fidelities:
        return strategy
    shown = ", ".join(f"1/{round(1 / f)}" for f in fidelities)
    return replace(
        strategy,
        fidelities=fidelities,
        reason=f"{strategy.reason}; row fidelities {shown} then all training rows",
    )


@hookimpl(trylast=True)
def autometa_select_strategy(
    task: Task,
    meta_features: Mapping[str, float],
    knowledge: KnowledgeBase,
    meta_learners: Sequence[str],
    budget: SearchBudget,
) -> Strategy:
    strategy = (
        time_bounded_strategy(task, knowledge, meta_learners, budget)
        or learned_strategy(task, meta_features, knowledge, meta_learners)
        or rule_based_strategy(task, knowledge, meta_learners)
    )
    return with_fidelities(strategy, task, budget)


@hookimpl
def autometa_evaluate_selector(
    report: LotoReport,
    knowledge: KnowledgeBase,
    evaluate: bool,
    save_to: str | None,
    n_jobs: int,
) -> tuple[LotoReport, str | None]:
    """The learned selector judged by leave-one-task-out next to the learners, and/or its
    training data saved (:func:`autometa_selectors.selection.selector_report`)."""
    return selector_report(report, knowledge, evaluate=evaluate, save_to=save_to, n_jobs=n_jobs)
