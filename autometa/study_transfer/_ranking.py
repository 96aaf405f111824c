"""Ranking earlier studies by how near their task is to the new one."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import sqlalchemy
from optuna.storages import BaseStorage

from autometa.search._storage import open_storage
from autometa.study_transfer._descriptors import _checked_descriptors, study_descriptors
from autometa.study_transfer._warnings import _warn


@dataclass(frozen=True)
class RankedStudy:
    """An earlier study and how near its task is to the new one.

    ``distance`` is the mean absolute difference of the standardized descriptors the two
    tasks share (0 = same task); ``shared`` names those descriptors. Descriptors are
    standardized over the studies ranked together, so distances compare within one
    ranking only (a lone study at any other value of a lone descriptor is at 2).
    """

    study: optuna.Study = field(repr=False, compare=False)
    name: str
    distance: float
    shared: tuple[str, ...]


def rank_studies(
    descriptors: Mapping[str, float],
    *,
    storage: str | BaseStorage | None = None,
    sources: Iterable[optuna.Study] | None = None,
    exclude: str | None = None,
) -> list[RankedStudy]:
    """The described studies of ``storage`` (or ``sources``), nearest task first.

    Distance: each descriptor is standardized (z-score over the new task and every
    candidate that has it), then the distance is the mean absolute difference over the
    descriptors both tasks have (finite in both). Standardizing stops a descriptor with
    large units (rows) from drowning one with small units (a noise rate); z-scores rather
    than auto-sklearn's min-max scaling so one extreme study does not squeeze the rest
    together; the mean rather than the sum so studies that share fewer descriptors are
    not made nearer by it. A descriptor equal on every study does not discriminate and
    counts as 0. Ties go by study name.

    Skipped with one :class:`TransferWarning`: studies without descriptors, sharing no
    finite descriptor with the new task, or with several objectives. ``exclude`` is a
    study name not to consider (the new study itself).
    """
    target = {k: v for k, v in _checked_descriptors(descriptors).items() if v is not None}
    if not target:
        raise ValueError(
            "The new task has no finite descriptor to compare: pass descriptors= with at "
            "least one number, or call autometa.describe_study(study, {...}) on it first."
        )
    problems: list[str] = []
    candidates: list[tuple[optuna.Study, dict[str, float]]] = []
    for study in _candidate_studies(storage, sources, exclude):
        found = study_descriptors(study)
        if len(study.directions) != 1:
            problems.append(
                f"study {study.study_name!r}: {len(study.directions)} objectives; transfer "
                "ranks trials by one value"
            )
        elif not found:
            problems.append(
                f"study {study.study_name!r}: no descriptors; call autometa.describe_study("
                "study, {...}) on it to make it a source"
            )
        elif not any(math.isfinite(found.get(k, math.nan)) for k in target):
            problems.append(
                f"study {study.study_name!r}: shares no finite descriptor with the new task "
                f"(it has {sorted(found)}, the new task {sorted(target)})"
            )
        else:
            candidates.append((study, found))
    _warn("Skipped earlier studies", problems)
    scale = _scales(target, [found for _, found in candidates])
    ranked = []
    for study, found in candidates:
        shared = tuple(sorted(k for k in target if math.isfinite(found.get(k, math.nan))))
        gaps = [abs(target[k] - found[k]) / scale[k] if scale[k] > 0 else 0.0 for k in shared]
        ranked.append(RankedStudy(study, study.study_name, float(np.mean(gaps)), shared))
    return sorted(ranked, key=lambda r: (r.distance, r.name))


def _scales(target: Mapping[str, float], others: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Standard deviation of each target descriptor over the target and the candidates."""
    scale = {}
    for key, value in target.items():
        column = [value] + [o[key] for o in others if math.isfinite(o.get(key, math.nan))]
        scale[key] = float(np.std(column))
    return scale


def _candidate_studies(
    storage: str | BaseStorage | None,
    sources: Iterable[optuna.Study] | None,
    exclude: str | None,
) -> Iterator[optuna.Study]:
    """The earlier studies to consider, loaded read-only."""
    if (storage is None) == (sources is None):
        raise ValueError(
            "Say where the earlier studies are: storage='sqlite:///studies.db' (every study "
            "in it) or sources=[study, ...], not both."
        )
    if sources is not None:
        for study in sources:
            if not isinstance(study, optuna.Study):
                raise TypeError(f"sources must hold optuna.Study objects, got {study!r}.")
            if study.study_name != exclude:
                yield study
        return
    opened = _open_existing(storage)
    for summary in optuna.get_all_study_summaries(opened, include_best_trial=False):
        if summary.study_name != exclude:
            yield optuna.load_study(study_name=summary.study_name, storage=opened)


def _open_existing(storage: str | BaseStorage | None) -> BaseStorage:
    """Open a storage to read; an SQLite file that does not exist is an error, not created."""
    if isinstance(storage, str):
        try:
            url = sqlalchemy.engine.make_url(storage)
        except sqlalchemy.exc.ArgumentError:
            url = None  # open_storage explains
        if (
            url is not None
            and url.get_backend_name() == "sqlite"
            and url.database not in (None, "", ":memory:")
            and not Path(url.database).is_file()
        ):
            raise ValueError(
                f"storage {storage!r} does not exist: there are no earlier studies to "
                "transfer from. Check the path (sqlite:/// + a relative path, sqlite:////"
                " + an absolute one)."
            )
    opened = open_storage(storage)
    assert opened is not None  # storage is not None here
    return opened


def similarity_weight(source: RankedStudy) -> float:
    """A source study's share of the transferred trials, relative to one at distance 0.

    ``exp(-distance)``: a study one standardized unit farther gets about a third of the
    share, so near studies supply most trials and far ones still add a little variety.
    Never 0, so every chosen study can give a trial.
    """
    return max(math.exp(-source.distance), 1e-300)
