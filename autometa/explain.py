"""Readable explanations: why each recommendation was made and how it turned out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from autometa.types import Config, Evaluation, Recommendation


def format_recommendations(
    recommendations: Sequence[Recommendation], evaluations: Sequence[Evaluation] = ()
) -> str:
    """One numbered line per recommendation with its evidence and, after a fit, its score."""
    if not recommendations:
        return "No recommendations (cold search: no knowledge base peers or warm_start=0)."
    observed = _best_by_config(evaluations)
    lines = []
    for rank, rec in enumerate(recommendations, start=1):
        predicted = (
            f"predicted {rec.predicted_score:.4g}"
            if math.isfinite(rec.predicted_score)
            else "no prediction"
        )
        line = f"{rank:>2}. {rec.config}\n    {predicted}; {rec.evidence.describe()}"
        if rec.config in observed:
            line += f"\n    observed: {_describe_evaluation(observed[rec.config])}"
        lines.append(line)
    return "\n".join(lines)


def explain_fit(model: Any) -> str:
    """Strategy, recommendations (predicted vs observed) and the winner of a fitted model."""
    evaluations: list[Evaluation] = model.evaluations_
    ok = [e for e in evaluations if e.ok]
    warm = {r.config for r in model.recommendations_}
    best = model.best_config_
    failed = sum(1 for e in evaluations if e.status == "failed")
    capped = sum(1 for e in evaluations if e.status == "capped")
    origin = "a warm start" if best in warm else "the sampler"
    strategy = model.strategy_
    parts = [
        f"Task: {model.task_kind_}, scoring={model.scoring_}, {model.n_features_in_} features.",
        f"Strategy ({model.strategy_source_}): meta_learner={strategy.meta_learner}, "
        f"n_warm_starts={strategy.n_warm_starts}, sampler={strategy.sampler}, "
        f"validation={strategy.validation}"
        + (f" ({strategy.n_splits} folds)" if strategy.validation == "cv" else "")
        + (f". {strategy.reason}" if strategy.reason else ""),
        f"Trials: {len(evaluations)} ({len(ok)} ok, {failed} failed, {capped} capped).",
        "Recommendations:",
        format_recommendations(model.recommendations_, evaluations),
        f"Winner: {best} with {model.scoring_}={model.best_score_:.4g}, found by {origin}.",
    ]
    return "\n".join(parts)


def _best_by_config(evaluations: Sequence[Evaluation]) -> dict[Config, Evaluation]:
    best: dict[Config, Evaluation] = {}
    for evaluation in evaluations:
        current = best.get(evaluation.config)
        if current is None or (
            evaluation.ok and (not current.ok or evaluation.score > current.score)
        ):
            best[evaluation.config] = evaluation
    return best


def _describe_evaluation(evaluation: Evaluation) -> str:
    if evaluation.ok:
        return f"{evaluation.score:.4g} in {evaluation.fit_time:.2f}s"
    return f"{evaluation.status}: {evaluation.error}"
