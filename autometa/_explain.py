"""Readable explanations: why each recommendation was made and how it turned out.

For every recommendation the text says where it comes from (earlier tasks and their
distance to the new one), which meta-features made those tasks near (with the new task's
value when known), what the meta-learner predicted, and, after a fit, how it scored here
and whether it won. ``autometa recommend`` and ``autometa fit`` print it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from autometa.contract._types import Config, Evaluation, Evidence, Recommendation

LEGEND = (
    "distance: the meta-learner's distance between an earlier task's meta-features and "
    "this task's, 0 = identical; Δ: their scaled difference in one meta-feature"
)


def format_recommendations(
    recommendations: Sequence[Recommendation],
    evaluations: Sequence[Evaluation] = (),
    *,
    meta_features: Mapping[str, float] | None = None,
    winner: Config | None = None,
    scoring: str | None = None,
) -> str:
    """A numbered block per recommendation: its evidence, prediction and, after a fit, score.

    ``meta_features`` (the new task's) adds its value to each meta-feature named as a
    reason; ``evaluations`` adds what each recommendation scored here, with its rank
    among the successful trials, in ``scoring``; ``winner`` marks the configuration that
    won. Predictions are on each meta-learner's own scale, and each line says which.
    """
    if not recommendations:
        return "No recommendations (cold search: no knowledge base peers or warm_start=0)."
    observed = best_by_config(evaluations)
    ranking = sorted((e.score for e in evaluations if e.ok), reverse=True)
    blocks = []
    for rank, rec in enumerate(recommendations, start=1):
        lines = [f"{rank:>2}. {rec.config}"]
        lines += [f"      {reason}" for reason in _reasons(rec.evidence, meta_features)]
        lines.append(f"      predicted: {_prediction(rec)}")
        if evaluations:
            lines.append(
                f"      observed: {_observation(observed.get(rec.config), ranking, scoring)}"
            )
            if winner is not None and rec.config == winner:
                lines[-1] += "   <- winner"
        blocks.append("\n".join(lines))
    if any(r.evidence.source_tasks for r in recommendations):
        blocks.append(f"    ({LEGEND})")
    return "\n".join(blocks)


def explain_fit(model: Any) -> str:
    """Strategy, recommendations (predicted vs observed) and the winner of a fitted model."""
    evaluations: list[Evaluation] = model.evaluations_
    ok = [e for e in evaluations if e.ok]
    adaptation = getattr(model, "adaptation_", None)
    recommendations: list[Recommendation] = model.recommendations_
    if adaptation is not None:  # only the first was enqueued; the learner proposed the rest
        recommendations = recommendations[:1]
    proposed = () if adaptation is None else adaptation.configs
    best = model.best_config_
    failed = sum(1 for e in evaluations if e.status == "failed")
    capped = sum(1 for e in evaluations if e.status == "capped")
    pruned = sum(1 for e in evaluations if e.status == "pruned")
    strategy = model.strategy_
    parts = [
        f"Task: {model.task_kind_}, scoring={model.scoring_}, {model.n_features_in_} features.",
        *(f"  column {line}." for line in model.schema_.roles.describe()),
        f"Strategy ({model.strategy_source_}): meta_learner={strategy.meta_learner}, "
        f"n_warm_starts={strategy.n_warm_starts}, sampler={strategy.sampler}, "
        + _validation(strategy, getattr(model, "cv", None))
        + _stepping(strategy)
        + (f". {strategy.reason}" if strategy.reason else ""),
        f"Trials: {len(evaluations)} ({len(ok)} ok, {failed} failed, {capped} capped, "
        f"{pruned} pruned).",
        "Recommendations:",
        format_recommendations(
            recommendations,
            evaluations,
            meta_features=getattr(model.meta_features_, "values", None),
            winner=best,
            scoring=model.scoring_,
        ),
        *_summary(recommendations, evaluations, model.scoring_, proposed),
        *explain_adaptation(adaptation),
        f"Winner: {best} with {model.scoring_}={model.best_score_:.4g}, "
        f"found by {_origin(best, recommendations, proposed)}.",
        *explain_ensemble(getattr(model, "ensemble_", None)),
    ]
    timings = getattr(model, "planning_timings_", None)
    if timings:
        parts.append(format_planning(timings))
    return "\n".join(parts)


def _validation(strategy: Any, cv: Any) -> str:
    """The validation the trials used: the user's ``cv`` when given (it overrides the
    strategy's), else the strategy's scheme."""
    if cv is not None:
        return f"validation=cv={cv!r} (given; the strategy's {strategy.validation} not used)"
    repeats = f" x {strategy.n_repeats} repeats" if strategy.n_repeats > 1 else ""
    folds = f" ({strategy.n_splits} folds{repeats})" if strategy.validation == "cv" else ""
    return f"validation={strategy.validation}{folds}"


def _stepping(strategy: Any) -> str:
    """The strategy's row fidelities and pruner, as a clause of the strategy line."""
    fidelities = getattr(strategy, "fidelities", ())
    pruner = getattr(strategy, "pruner", None)
    parts = []
    if fidelities:
        shown = ", ".join(f"{f:.3g}" for f in fidelities)
        parts.append(f"row fidelities {shown} of the training rows before all of them")
    if pruner is None:
        parts.append("no pruning")
    else:
        parts.append(f"pruner={pruner if isinstance(pruner, str) else type(pruner).__name__}")
    return ", " + ", ".join(parts)


def format_planning(timings: Mapping[str, float]) -> str:
    """One line: how long planning took in all and step by step (``Plan.timings``).

    Planning (validation, meta-features, knowledge base, strategy, recommendations) runs
    before the first trial and is overhead on every fit; this shows where it went.
    """
    total = sum(timings.values())
    steps = ", ".join(f"{step} {seconds:.3f}s" for step, seconds in timings.items())
    return f"Planning: {total:.3f}s ({steps})."


def explain_ensemble(summary: Any) -> list[str]:
    """The ensemble's members and weights, its validation score against the best single
    trial's, and what was left out (an ``EnsembleSummary``, or None with ensemble=False)."""
    if summary is None:
        return ["Ensemble: off (ensemble=False): the winner alone was refitted on all rows."]
    scoring = summary.scoring
    if not summary.members:
        lines = ["Ensemble: none; the winner alone was refitted on all rows."]
    else:
        lines = [
            f"Ensemble: {len(summary.members)} member(s) chosen from {summary.n_candidates} "
            f"trials with predictions in {summary.rounds} greedy rounds "
            f"({summary.seconds:.1f}s with the refits); on the validation predictions "
            f"{scoring}={summary.score:.4g} vs {summary.best_single_score:.4g} for the best "
            "single trial."
        ]
        lines += [
            f"  weight {m.weight:.3f}  trial {m.trial_number}: {m.config} "
            f"({scoring}={m.score:.4g}, {m.fit_time:.2f}s)"
            for m in summary.members
        ]
        calibration = getattr(summary, "calibration", None)
        if calibration is not None:
            before, after = summary.calibration_log_loss
            lines.append(
                f"  calibrated: p' = sigmoid({calibration[0]:.3g} * logit(p) "
                f"{calibration[1]:+.3g}) on the validation predictions (log loss {before:.4g} "
                f"-> {after:.4g}; {scoring} unchanged, a monotone map ranks alike)."
            )
        if len(summary.members) == 1:
            lines.append(
                "  one member: it predicts alone, as a single refit would"
                + (", with its probabilities calibrated." if calibration is not None else ".")
            )
    lines += [f"  dropped at refit: {reason}" for reason in summary.dropped]
    lines += [f"  note: {note}" for note in summary.notes]
    return lines


def _reasons(evidence: Evidence, meta_features: Mapping[str, float] | None) -> list[str]:
    """Where the recommendation comes from and what made its source near, one per line."""
    reasons = []
    if evidence.source_tasks:
        reasons.append(
            "from: "
            + ", ".join(f"{name} (distance {dist:.3f})" for name, dist in evidence.source_tasks)
        )
    if evidence.meta_features:
        reasons.append(
            "near in: "
            + ", ".join(
                f"{name}{_value(meta_features, name)} (Δ {diff:.3g})"
                for name, diff in evidence.meta_features
            )
        )
    reasons.append(f"why: {evidence.note or 'recommended by ' + evidence.model}")
    return reasons


def _value(meta_features: Mapping[str, float] | None, name: str) -> str:
    if meta_features is None or name not in meta_features:
        return ""
    value = float(meta_features[name])
    return f"={value:.4g}" if math.isfinite(value) else "=undefined"


def _prediction(rec: Recommendation) -> str:
    if math.isfinite(rec.predicted_score):
        return f"{rec.predicted_score:.4g} on {rec.evidence.model}'s own scale"
    return f"none ({rec.evidence.model} had nothing to go on)"


def _observation(
    evaluation: Evaluation | None, ranking: Sequence[float], scoring: str | None = None
) -> str:
    if evaluation is None:
        return "not evaluated (the search stopped before reaching it)"
    if not evaluation.ok:
        return f"{evaluation.status}: {evaluation.error}"
    place = 1 + sum(1 for score in ranking if score > evaluation.score)
    return (
        f"{scoring + ' ' if scoring else ''}{evaluation.score:.4g} in {evaluation.fit_time:.2f}s, "
        f"rank {place} of {len(ranking)} successful trials"
    )


def explain_adaptation(summary: Any) -> list[str]:
    """What an adaptive meta-learner did (an ``AdaptationSummary``; nothing for None)."""
    if summary is None:
        return []
    if summary.handed_over_at is None:
        over = "the search ended before the sampler took over"
    else:
        over = f"the sampler took over after {summary.handed_over_at} trials: {summary.reason}"
    lines = [
        f"Adaptive: {summary.learner} proposed {summary.proposed} trials from this task's "
        f"results; {over}."
    ]
    if summary.task_weights:
        pointed = ", ".join(f"{task} ({weight:.3f})" for task, weight in summary.task_weights)
        lines.append(f"  the observations pointed to earlier tasks {pointed}.")
    # A model pickled before the history was kept has none.
    history = getattr(summary, "weight_history", ())
    if len(history) > 1:
        lines.append("  how the weights moved (heaviest earlier tasks at each proposal):")
        for number, weights in enumerate(history, start=1):
            heaviest = ", ".join(f"{task} {weight:.3f}" for task, weight in weights)
            lines.append(f"    proposal {number}: {heaviest or 'no task stood out'}")
    return lines


def _summary(
    recommendations: Sequence[Recommendation],
    evaluations: Sequence[Evaluation],
    scoring: str,
    proposed: Sequence[Config] = (),
) -> list[str]:
    """How the warm starts did as a group, and what the sampler added after them
    (``proposed``: the adaptive learner's trials, neither warm starts nor sampled)."""
    if not recommendations:
        return []
    warm = {r.config for r in recommendations}
    observed = best_by_config(evaluations)
    tried = [
        (i, observed[r.config]) for i, r in enumerate(recommendations, 1) if r.config in observed
    ]
    good = [(i, e) for i, e in tried if e.ok]
    line = f"Warm starts: {len(tried)} of {len(recommendations)} evaluated"
    if good:
        number, top = max(good, key=lambda pair: pair[1].score)
        line += f"; the best was #{number} with {scoring}={top.score:.4g}"
    lines = [line + "."]
    sampled = [e for e in evaluations if e.config not in warm and e.config not in proposed]
    if sampled:
        sampled_ok = [e.score for e in sampled if e.ok]
        best = f"; the best scored {max(sampled_ok):.4g}" if sampled_ok else ""
        lines.append(f"Sampler: {len(sampled)} further trials{best}.")
    return lines


def _origin(
    best: Config, recommendations: Sequence[Recommendation], proposed: Sequence[Config] = ()
) -> str:
    for number, rec in enumerate(recommendations, start=1):
        if rec.config == best:
            return f"warm start #{number}"
    if best in proposed:
        return f"the adaptive learner's proposal #{list(proposed).index(best) + 1}"
    return "the sampler"


def best_by_config(evaluations: Sequence[Evaluation]) -> dict[Config, Evaluation]:
    """Each configuration's best evaluation (a success beats a failure)."""
    best: dict[Config, Evaluation] = {}
    for evaluation in evaluations:
        current = best.get(evaluation.config)
        if current is None or (
            evaluation.ok and (not current.ok or evaluation.score > current.score)
        ):
            best[evaluation.config] = evaluation
    return best
