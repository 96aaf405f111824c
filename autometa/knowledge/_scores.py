"""Score tables: the task x configuration matrix of ``ok`` scores meta-learners consume.

:class:`ScoreTable` is what :meth:`KnowledgeBase.score_table` returns; :class:`Scores` is
the table of all tasks with each row's kind, which the tables of one kind or of some
algorithms are cut from, and which is saved as plain arrays (no pickle).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autometa.contract._types import Config
from autometa.knowledge._format import check_kind, dumps, loads, make_config


@dataclass(frozen=True, eq=False)
class ScoreTable:
    """Scores of configurations (columns) on tasks (rows), as meta-learners consume them.

    ``scores[i, j]`` is the greater-is-better score of ``configs[j]`` on ``task_ids[i]``;
    NaN where the pair was not evaluated or the evaluation was not ``ok``. Rows are
    sorted by task id, columns by :attr:`Config.key`. ``fit_times`` has the same layout:
    the stored seconds of each ``ok`` or ``capped`` evaluation (a capped one ran that
    long), NaN elsewhere; None when the table was built without them. The arrays are
    read-only. (``eq=False``: comparing tables is comparing arrays; do it with numpy.)
    """

    task_ids: list[str]
    configs: list[Config]
    scores: np.ndarray
    fit_times: np.ndarray | None = None

    def __post_init__(self) -> None:
        expected = (len(self.task_ids), len(self.configs))
        for name in ("scores", "fit_times"):
            if name == "fit_times" and self.fit_times is None:
                continue
            given = getattr(self, name)
            # A read-only float array (what autometa's own reads pass) is kept as it is: the
            # table of a base can hold tens of millions of cells. Anything else is copied, so
            # that the caller cannot change the table through its own reference.
            keep = isinstance(given, np.ndarray) and given.dtype == float
            values = given if keep and not given.flags.writeable else np.array(given, dtype=float)
            if values.shape != expected:
                raise ValueError(f"{name} has shape {values.shape}, expected {expected}.")
            values.setflags(write=False)
            object.__setattr__(self, name, values)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.task_ids), len(self.configs))

    def normalized(self) -> np.ndarray:
        """Per-task min-max scaled copy in [0, 1]; 1 is the task's best score.

        Scores on different tasks (and scorings) are not comparable; their rank within a
        task is. A row with fewer than two distinct finite scores becomes 1.0 wherever it
        is finite (every config tried there was as good as the best). NaN stays NaN.
        """
        out = np.full(self.scores.shape, np.nan)
        for i, row in enumerate(self.scores):
            finite = np.isfinite(row)
            if not finite.any():
                continue
            low, high = row[finite].min(), row[finite].max()
            if high > low:
                out[i, finite] = (row[finite] - low) / (high - low)
            else:
                out[i, finite] = 1.0
        return out


@dataclass(frozen=True, eq=False)
class Scores:
    """The score table of all tasks and each row's task kind: what the tables of a kind
    or of some algorithms are cut from."""

    table: ScoreTable
    kinds: tuple[str, ...]

    def cut(self, kind: str | None, algorithms: Sequence[str] | None) -> ScoreTable:
        """:meth:`KnowledgeBase.score_table` ``(kind, algorithms=algorithms)``: a new table
        (the whole one shares its read-only arrays).

        Rows of other kinds are dropped, then columns of other algorithms, then columns
        and rows left with no finite score: exactly the rows and columns the database
        query keeps.
        """
        scores = self.table.scores
        rows = np.ones(len(self.kinds), dtype=bool)
        if kind is not None:
            rows = np.array([k == kind for k in self.kinds], dtype=bool)
        columns = np.ones(len(self.table.configs), dtype=bool)
        if algorithms is not None:
            names = set(algorithms)
            columns = np.array([c.algorithm in names for c in self.table.configs], dtype=bool)
        finite = np.isfinite(scores) & rows[:, None] & columns[None, :]
        keep_columns = finite.any(axis=0)
        keep_rows = finite[:, keep_columns].any(axis=1)
        del finite
        times = self.table.fit_times
        if keep_rows.all() and keep_columns.all():
            # The whole table: its arrays are read-only, so the cut shares them (no copy).
            cut_scores, cut_times = scores, times
        else:
            cells = np.ix_(keep_rows, keep_columns)
            cut_scores, cut_times = scores[cells], None if times is None else times[cells]
            for values in (cut_scores, cut_times):
                if values is not None:
                    values.setflags(write=False)  # fresh copies: the table keeps them as they are
        return ScoreTable(
            task_ids=[t for t, keep in zip(self.table.task_ids, keep_rows, strict=True) if keep],
            configs=[c for c, keep in zip(self.table.configs, keep_columns, strict=True) if keep],
            scores=cut_scores,
            fit_times=cut_times,
        )

    def arrays(self, digest: str) -> dict[str, np.ndarray]:
        """Plain arrays (strings and floats) for a ``.npz`` file: no pickle."""
        configs = self.table.configs
        times = {} if self.table.fit_times is None else {"fit_times": self.table.fit_times}
        return {
            **times,
            "digest": np.array(digest),
            "task_ids": np.array(self.table.task_ids, dtype=str),
            "kinds": np.array(self.kinds, dtype=str),
            "config_keys": np.array([c.key for c in configs], dtype=str),
            "algorithms": np.array([c.algorithm for c in configs], dtype=str),
            "params": np.array([dumps(dict(c.params)) for c in configs], dtype=str),
            "scores": np.asarray(self.table.scores, dtype=float),
        }

    @classmethod
    def load(cls, path: Path, digest: str) -> Scores:
        """Read :meth:`arrays` back from a file (ValueError if anything is off)."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
        return cls.from_arrays(arrays, digest, str(path))

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], digest: str, where: str) -> Scores:
        """:meth:`arrays` back, checking every value (ValueError if anything is off)."""
        if str(arrays["digest"]) != digest:
            raise ValueError(f"written for another base ({str(arrays['digest'])[:30]})")
        task_ids = [str(t) for t in arrays["task_ids"]]
        kinds = tuple(check_kind(str(k), where) for k in arrays["kinds"])
        configs = []
        for key, algorithm, params in zip(
            arrays["config_keys"], arrays["algorithms"], arrays["params"], strict=True
        ):
            config = make_config(str(algorithm), loads(str(params), where), where)
            if config.key != str(key):
                raise ValueError(f"config key {key!r} does not match its parameters")
            configs.append(config)
        scores = np.array(arrays["scores"], dtype=float)
        times = np.array(arrays["fit_times"], dtype=float)  # KeyError: from before times
        if len(kinds) != len(task_ids):
            raise ValueError("task_ids and kinds differ in length")
        return cls(ScoreTable(task_ids, configs, scores, times), kinds)
