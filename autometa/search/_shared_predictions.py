"""Out-of-fold predictions shared through Optuna's artifact store, so that a durable or
shared study's ensemble is built from every process's trials, not only this one's.

A trial's predictions of the validation rows exist in the process that ran it. With an
artifact store (:mod:`optuna.artifacts`: a folder, S3 or GCS), each trial this process
keeps for ensembling also uploads its predictions as a ``.npy`` artifact of the trial;
when the ensemble is built, the study's best trials that ran elsewhere (another process,
or an earlier fit of the same study) are downloaded into the prediction store, within its
memory bound, like the trials run here.

Predictions are comparable only over the same validation rows and targets: the
artifact's name carries a digest of both (:func:`rows_key`), and a fit reads only
artifacts with its own key. k-fold CV validates every row, so processes with different
fold seeds share; holdouts of different seeds do not.

``artifact_store="auto"`` (the default of a fit) is a folder beside an SQLite study's
file (``study.db`` -> ``study.db.artifacts/``); any other storage shares only when given
a store (a folder path or an Optuna artifact store that every process can reach).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
from optuna.artifacts import (
    FileSystemArtifactStore,
    download_artifact,
    get_all_artifact_meta,
    upload_artifact,
)
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, Trial
from sqlalchemy.engine import make_url

from autometa.contract._types import Evaluation
from autometa.search._ensemble import PredictionStore, keep_rank

logger = logging.getLogger(__name__)

ArtifactSetting = Union[str, "os.PathLike[str]", Any, None]
"""``"auto"``, a folder, an Optuna artifact store, or None (do not share)."""

_PREFIX = "autometa-oof-"


def resolve_artifact_store(setting: ArtifactSetting, storage: BaseStorage | None) -> Any | None:
    """The artifact store a fit shares predictions through, or None.

    ``"auto"``: a folder beside the study's SQLite file, None for any other storage and
    for a study in memory (one process: nothing to share). A path: a folder there
    (created). An object with the methods of Optuna's ``ArtifactStore`` protocol
    (``open_reader``, ``write``, ``remove``): used as it is.
    """
    if setting is None:
        return None
    if isinstance(setting, str) and setting == "auto":
        folder = _beside_sqlite_file(storage)
        return None if folder is None else _folder_store(folder)
    if isinstance(setting, (str, os.PathLike)):
        return _folder_store(Path(setting))
    if all(callable(getattr(setting, m, None)) for m in ("open_reader", "write", "remove")):
        return setting
    raise TypeError(
        "artifact_store must be 'auto', a folder path, an Optuna artifact store (e.g. "
        "optuna.artifacts.Boto3ArtifactStore) or None; got "
        f"{type(setting).__name__}."
    )


def _beside_sqlite_file(storage: BaseStorage | None) -> Path | None:
    if not isinstance(storage, RDBStorage):
        return None
    url = make_url(storage.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(f"{url.database}.artifacts")


def _folder_store(folder: Path) -> FileSystemArtifactStore:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"artifact_store: cannot create the folder {str(folder)!r} ({exc}). Pass a "
            "writable folder, or artifact_store=None not to share predictions."
        ) from exc
    return FileSystemArtifactStore(str(folder))


def rows_key(rows: np.ndarray, y: np.ndarray) -> str:
    """A digest of the validation rows and their targets: predictions with the same key
    cover the same rows of the same data."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    digest.update(np.asarray(y).astype(str).tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class SharedPredictions:
    """Where this fit shares its trials' predictions (``store``, an artifact store), the
    ``key`` of its validation rows (:func:`rows_key`), and the study's ``storage``."""

    store: Any
    key: str
    storage: BaseStorage

    def share(self, trial: Trial, predictions: np.ndarray) -> None:
        """Upload ``predictions`` (as float32) as an artifact of the running ``trial``.

        A failed upload (a full disk, an unreachable bucket) is logged and loses only the
        sharing: the trial is still told and ensembled here.
        """
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, f"{_PREFIX}{self.key}.npy")
            np.save(path, np.asarray(predictions, dtype=np.float32))
            try:
                upload_artifact(artifact_store=self.store, file_path=path, study_or_trial=trial)
            except Exception as exc:
                logger.warning("trial %d's predictions were not shared: %s", trial.number, exc)

    def offer(
        self,
        store: PredictionStore,
        done: Sequence[tuple[FrozenTrial, Evaluation]],
        exclude: Sequence[int] = (),
    ) -> int:
        """Offer ``store`` the shared predictions of the best successful trials of
        ``done`` (the study's, read once by the fit), except the trial numbers in
        ``exclude`` (this fit's own, offered already), as many as it can keep. Returns
        how many were found.

        A trial without an artifact of this key (run before sharing, validated on other
        rows, or its upload failed), or whose download fails, is skipped.
        """
        skip = set(exclude)
        ranked = sorted(
            ((t, e) for t, e in done if e.ok and t.number not in skip),
            key=lambda pair: keep_rank(pair[0].number, pair[1]),
            reverse=True,
        )
        found = 0
        with tempfile.TemporaryDirectory() as folder:
            for trial, evaluation in ranked:
                if found >= store.capacity:
                    break
                number = trial.number
                artifact_id = _artifact_id(trial, self.storage, self.key)
                if artifact_id is None:
                    continue
                path = os.path.join(folder, f"{number}.npy")
                try:
                    download_artifact(
                        artifact_store=self.store, file_path=path, artifact_id=artifact_id
                    )
                    predictions = np.load(path, allow_pickle=False)
                except Exception as exc:
                    logger.warning(
                        "trial %d's shared predictions could not be read: %s", number, exc
                    )
                    continue
                store.add(number, evaluation, predictions)
                found += 1
        return found


def shared_predictions(
    setting: ArtifactSetting,
    storage: BaseStorage | None,
    store: PredictionStore | None,
    y: np.ndarray,
) -> SharedPredictions | None:
    """How a fit shares predictions: only a durable study (``storage``) whose fit keeps
    predictions (``store``) and has an artifact store (``setting``); else None."""
    if store is None or store.capacity == 0 or storage is None:
        return None
    artifacts = resolve_artifact_store(setting, storage)
    if artifacts is None:
        return None
    return SharedPredictions(artifacts, rows_key(store.rows, y[store.rows]), storage)


def _artifact_id(trial: FrozenTrial, storage: BaseStorage, key: str) -> str | None:
    """The id of ``trial``'s predictions artifact for ``key``, if it has one."""
    name = f"{_PREFIX}{key}.npy"
    for meta in get_all_artifact_meta(trial, storage=storage):
        if meta.filename == name:
            return meta.artifact_id
    return None


__all__ = [
    "ArtifactSetting",
    "SharedPredictions",
    "resolve_artifact_store",
    "rows_key",
    "shared_predictions",
]
