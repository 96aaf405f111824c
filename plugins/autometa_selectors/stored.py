"""A fitted :class:`~autometa_selectors.selection.PairwiseSelector` kept as plain arrays.

Fitting the selector's pairwise forests takes about a second on the shipped knowledge
base, and its inputs (the training set) change only when the knowledge base does, so
the fitted selector is kept, keyed by a hash of everything the fit depends on
(:func:`training_key`): in the process (an ``lru_cache`` of a pure function of that key)
and in autometa's cache folder as a ``.npz`` file, so a new process does not refit.

The file holds numbers and one JSON header, never pickle: each tree is scikit-learn's
own node table and value array (what a ``Tree`` is made of), checked before use (every
child index points further down the table, every split feature exists), so a damaged
or crafted file raises ValueError instead of reaching compiled code. Predictions are
scikit-learn's own (``Tree.predict``), averaged in tree order as
``RandomForestClassifier.predict_proba`` does, so a loaded selector chooses exactly what
the fitted one does; the key includes scikit-learn's version, since another version may
grow other trees.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree._tree import NODE_DTYPE, Tree

from autometa_selectors.selection import PairwiseSelector, TrainingSet, _design, _feature_names

logger = logging.getLogger(__name__)

FORMAT = "autometa-pairwise-selector"
VERSION = 1
_LEAF = -1


def training_key(training: TrainingSet, selector: PairwiseSelector) -> str:
    """A hash of what fitting ``selector`` on ``training`` depends on.

    The design matrix and the targets (as bytes), the learners and feature names, the
    selector's parameters and scikit-learn's version: equal keys give equal fits.
    """
    names = _feature_names(training.meta_features)
    X = _design(training.meta_features, training.kinds, names)
    targets = np.ascontiguousarray(np.asarray(training.targets, dtype=float))
    digest = hashlib.sha256()
    header = {
        "format": FORMAT,
        "version": VERSION,
        "sklearn": sklearn.__version__,
        "learners": list(training.learners),
        "features": names,
        "params": _params(selector),
        "shapes": [list(X.shape), list(targets.shape)],
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(X).tobytes())
    digest.update(targets.tobytes())
    return digest.hexdigest()


def _params(selector: PairwiseSelector) -> dict[str, Any]:
    return {
        "n_estimators": selector.n_estimators,
        "guard": selector.guard,
        "guard_margin": selector.guard_margin,
        "random_state": selector.random_state,
    }


@dataclass(frozen=True, eq=False)
class StoredForest:
    """A random forest's trees rebuilt from arrays; predicts as the forest did."""

    classes_: np.ndarray
    trees: tuple[Tree, ...]
    n_classes: int

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Mean of the trees' leaf class fractions, summed in tree order (as sklearn)."""
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        proba = np.zeros((X32.shape[0], self.n_classes), dtype=np.float64)
        for tree in self.trees:
            proba += tree.predict(X32)[:, : self.n_classes]
        proba /= len(self.trees)
        return proba


def save_selector(selector: PairwiseSelector, path: Path, key: str) -> None:
    """Best effort: write ``selector`` (fitted) to ``path`` atomically, under ``key``."""
    pairs: list[dict[str, Any]] = []
    nodes: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for (a, b), model in selector.pairs_.items():
        if model is None or isinstance(model, str):
            pairs.append({"pair": [a, b], "model": model})
            continue
        if not isinstance(model, RandomForestClassifier):
            raise TypeError(f"cannot store a {type(model).__name__} for pair {a}, {b}")
        trees = []
        for estimator in model.estimators_:
            state = estimator.tree_.__getstate__()
            trees.append({"node_count": int(state["node_count"]), "max_depth": state["max_depth"]})
            nodes.append(np.asarray(state["nodes"])[: state["node_count"]])
            values.append(np.asarray(state["values"], dtype=np.float64)[: state["node_count"]])
        pairs.append(
            {
                "pair": [a, b],
                "model": "forest",
                "classes": [bool(c) for c in model.classes_],
                "n_features": int(model.n_features_in_),
                "trees": trees,
            }
        )
    header = {
        "format": FORMAT,
        "version": VERSION,
        "key": key,
        "sklearn": sklearn.__version__,
        "params": _params(selector),
        "learners": selector.learners_,
        "n_tasks": selector.n_tasks_,
        "mean_target": selector.mean_target_,
        "order": selector.order_,
        "single_best": selector.single_best_,
        "feature_names": selector.feature_names_,
        "fallback": selector.fallback_,
        "guard_scores": selector.guard_scores_,
        "pairs": pairs,
    }
    arrays = {
        "header": np.array(json.dumps(header, allow_nan=False)),
        "nodes": np.concatenate(nodes) if nodes else np.zeros(0, dtype=NODE_DTYPE),
        "values": np.concatenate(values) if values else np.zeros((0, 1, 2)),
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(temporary, **cast(dict[str, Any], arrays))
        os.replace(temporary, path)
    except OSError as exc:
        logger.info("strategy selector: not caching the fitted selector at %s: %s", path, exc)
        temporary.unlink(missing_ok=True)


def load_selector(path: Path, key: str) -> PairwiseSelector:
    """The selector :func:`save_selector` wrote under ``key``; ValueError if the file is
    for another key, damaged or inconsistent."""
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
        nodes = np.asarray(data["nodes"])
        values = np.asarray(data["values"])
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    if header.get("version") != VERSION or header.get("key") != key:
        raise ValueError(f"{path}: written for another training set or version")
    names = NODE_DTYPE.names or ()
    same_fields = nodes.dtype.names == names and all(
        nodes.dtype[name] == NODE_DTYPE[name] for name in names
    )
    if not same_fields or values.dtype != np.float64 or values.ndim != 3 or values.shape[1] != 1:
        raise ValueError(f"{path}: tree arrays of an unexpected layout")
    nodes = nodes.astype(NODE_DTYPE)  # the file drops the struct's padding; restore it
    params = header["params"]
    selector = PairwiseSelector(
        int(params["n_estimators"]),
        guard=bool(params["guard"]),
        guard_margin=float(params["guard_margin"]),
        random_state=int(params["random_state"]),
    )
    selector.learners_ = [str(n) for n in header["learners"]]
    selector.n_tasks_ = int(header["n_tasks"])
    selector.mean_target_ = {str(n): float(v) for n, v in header["mean_target"].items()}
    selector.order_ = [str(n) for n in header["order"]]
    selector.single_best_ = str(header["single_best"])
    selector.feature_names_ = [str(n) for n in header["feature_names"]]
    fallback = header["fallback"]
    selector.fallback_ = None if fallback is None else str(fallback)
    selector.guard_scores_ = {str(n): float(v) for n, v in header["guard_scores"].items()}
    known = set(selector.learners_)
    if not set(selector.order_) <= known or selector.single_best_ not in known:
        raise ValueError(f"{path}: names a learner the selector does not have")
    n_features = len(selector.feature_names_) + len(_design([{}], ["binary"], [])[0])
    selector.pairs_ = {}
    start = 0
    for entry in header["pairs"]:
        a, b = (str(n) for n in entry["pair"])
        if a not in known or b not in known:
            raise ValueError(f"{path}: pair {a}, {b} names an unknown learner")
        model = entry["model"]
        if model is None or model in ("first", "second"):
            selector.pairs_[(a, b)] = model
            continue
        if model != "forest" or int(entry["n_features"]) != n_features:
            raise ValueError(f"{path}: pair {a}, {b}: malformed model entry")
        classes = np.array([bool(c) for c in entry["classes"]])
        trees = []
        for tree in entry["trees"]:
            count = int(tree["node_count"])
            if count < 1 or start + count > len(nodes):
                raise ValueError(f"{path}: pair {a}, {b}: tree arrays are truncated")
            trees.append(
                _tree(
                    np.ascontiguousarray(nodes[start : start + count]),
                    np.ascontiguousarray(values[start : start + count]),
                    int(tree["max_depth"]),
                    n_features,
                    len(classes),
                    path,
                )
            )
            start += count
        selector.pairs_[(a, b)] = StoredForest(classes, tuple(trees), len(classes))
    if start != len(nodes) or len(nodes) != len(values):
        raise ValueError(f"{path}: tree arrays do not match the header")
    return selector


def _tree(
    nodes: np.ndarray,
    values: np.ndarray,
    max_depth: int,
    n_features: int,
    n_classes: int,
    path: Path,
) -> Tree:
    """A scikit-learn Tree from its node table, after checking every index in it."""
    index = np.arange(len(nodes))
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    leaf = left == _LEAF
    inner = ~leaf
    valid = (
        np.all(right[leaf] == _LEAF)
        and np.all(left[inner] > index[inner])
        and np.all(right[inner] > index[inner])
        and np.all(left[inner] < len(nodes))
        and np.all(right[inner] < len(nodes))
        and np.all((feature[inner] >= 0) & (feature[inner] < n_features))
        and values.shape[2] == n_classes
        and bool(np.isfinite(values).all())
    )
    if not valid:
        raise ValueError(f"{path}: a tree's node table is inconsistent")
    tree = Tree(n_features, np.array([n_classes], dtype=np.intp), 1)
    tree.__setstate__(
        {"max_depth": max_depth, "node_count": len(nodes), "nodes": nodes, "values": values}
    )
    return tree


def stored_path(cache_dir: Path, key: str) -> Path:
    """The cache file of the selector fitted under ``key``."""
    return cache_dir / f"{CACHE_PREFIX}{key[:24]}.npz"


CACHE_PREFIX = "selector-forests-"


def stored_files(cache_dir: Path) -> Sequence[Path]:
    """Cached fitted selectors, newest first."""
    if not cache_dir.is_dir():
        return []
    files = [p for p in cache_dir.glob(f"{CACHE_PREFIX}*.npz") if p.is_file()]
    return sorted(files, key=lambda p: (-p.stat().st_mtime, p.name))
