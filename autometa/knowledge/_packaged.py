"""What planning reads from the shipped base, shipped beside it as one ``.npz`` file.

``autometa/data/default_kb_derived.npz`` holds the shipped base's score table, task
fingerprints, task records, counts and metadata for the shipped files of one hash, as
plain arrays (no pickle), so the first ``autometa.recommend`` on a fresh machine does not
wait for the JSON Lines files to be parsed. ``write_packaged`` in
:mod:`autometa.knowledge._shipped` writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from autometa.knowledge._format import check_object, loads
from autometa.knowledge._jsonl import checked_task
from autometa.knowledge._records import TaskRecord
from autometa.knowledge._scores import Scores

if TYPE_CHECKING:
    from importlib.abc import Traversable

logger = logging.getLogger(__name__)

PACKAGED_DERIVED = "default_kb_derived.npz"
"""What planning reads from the shipped base, shipped with it (``autometa/data/``)."""


def packaged_file() -> Traversable:
    """The packaged file inside the installed package."""
    return resources.files("autometa").joinpath("data").joinpath(PACKAGED_DERIVED)


@dataclass(frozen=True, eq=False)
class Packaged:
    """The shipped base's score table, task fingerprints, task records, counts and
    metadata, as ``write_packaged`` stored them for the files of hash ``digest``."""

    digest: str
    scores: Scores
    fingerprints: tuple[tuple[str, str], ...]
    tasks: tuple[TaskRecord, ...]
    counts: Mapping[str, int]
    metadata: Mapping[str, Any]

    @classmethod
    def load(cls, source: Traversable, digest: str) -> Packaged | None:
        """The data in ``source`` if it was written for ``digest``; else None (logged)."""
        if not source.is_file():
            return None
        try:
            with source.open("rb") as raw, np.load(raw, allow_pickle=False) as data:
                arrays = {name: np.asarray(data[name]) for name in data.files}
            if str(arrays["digest"]) != digest:
                logger.info("%s describes other shipped files; not using it", source)
                return None
            where = str(source)
            scores = Scores.from_arrays(
                {k[len("scores_") :]: v for k, v in arrays.items() if k.startswith("scores_")},
                digest,
                where,
            )
            fingerprints = tuple(
                (str(t), str(f))
                for t, f in zip(arrays["task_ids"], arrays["fingerprints"], strict=True)
            )
            tasks = tuple(_task_from_json(str(text), where) for text in arrays["tasks"])
            counts = {str(k): int(v) for k, v in loads(str(arrays["counts"]), where).items()}
            metadata = check_object(loads(str(arrays["metadata"]), where), where, "metadata")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("ignoring the damaged %s: %s", source, exc)
            return None
        return cls(digest, scores, fingerprints, tasks, counts, metadata)


def _task_from_json(text: str, where: str) -> TaskRecord:
    raw = check_object(loads(text, where), where, "task")
    return checked_task(
        raw["task_id"],
        raw["name"],
        raw["kind"],
        raw["scoring"],
        raw["meta_features"],
        raw["provenance"],
        where,
    )
