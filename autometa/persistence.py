"""Save and load fitted models; the file's suffix chooses the format.

``.joblib`` (also ``.pkl``, ``.pickle``) is a pickle: loading it runs whatever code the
file names, so load only files you made or trust. ``.skops`` is skops' format (made by
scikit-learn maintainers): the file is data, and loading refuses every type that is not
known to be safe unless you name it in ``trusted``. It needs the optional dependency
(``pip install "autometa-ml[safe]"``).

Known to be safe without asking: what skops itself trusts (scikit-learn, NumPy, SciPy
types), autometa's own result types, the fitted-state classes of the models autometa's
first-party catalogue and plugins make (:data:`SAFE_MODEL_TYPES`: trees, k-d trees,
optimiser state, LightGBM and XGBoost boosters), and classes defined by installed
autometa plugins (code you chose to install, loaded through the same entry points as for
a fit). So every model ``autometa fit`` makes with its own algorithms loads without
``trusted``; a type a third-party plugin's library brings may still need it. Never
functions as a kind: a function named by a file could be called later by the model. The
one function a first-party model references is listed by its exact name in
:data:`SAFE_FUNCTIONS`, with the reason it is harmless.

A ``.skops`` file holds the fitted model without its Optuna study (``study_`` is None
after loading: a study holds a sampler and a storage, which are code and connections,
not data; ``evaluations_`` keep every trial's configuration, score and status), and
with constructor parameters that are live objects (``plugins``, a ``KnowledgeBase``, a
storage object, a sampler instance inside ``strategy``) reduced to plain values: the
loaded model predicts exactly as the saved one; refitting it needs them passed again.

No saved model holds a database password: ``storage`` and ``knowledge`` URLs are kept
without it, in both formats (see :func:`autometa.knowledge._urls.without_password`).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.metadata
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import joblib

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
SKOPS_SUFFIX = ".skops"

SAFE_AUTOMETA_TYPES = frozenset(
    {
        "autometa._api.AutoMetaClassifier",
        "autometa._api.AutoMetaRegressor",
        "autometa._api.ApplySchema",
        "autometa.search._metafeatures.MetaFeatures",
        "autometa.contract._task.FeatureSchema",
        "autometa.contract._column_roles.ColumnRoles",
        "autometa.contract._native_categories.CategoricalFrame",
        "autometa.contract._types.Config",
        "autometa.contract._types.Evaluation",
        "autometa.contract._types.Evidence",
        "autometa.contract._types.Recommendation",
        "autometa.contract._types.Strategy",
        "autometa.search._adaptive.AdaptationSummary",
        "autometa.search._ensemble_model.WeightedEnsemble",
        "autometa.search._ensemble_model.EnsembleMember",
        "autometa.search._ensemble_model.EnsembleSummary",
        # A data type described by its name, e.g. numpy.dtype('float64'); skops lists it.
        "numpy.dtype",
        # scikit-learn classes the shipped catalogue's models hold (a calibrated SVC, the
        # target encoder's folds) that skops does not list itself: estimators and
        # splitters whose state is data (a number of folds, a flag and an integer seed).
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.model_selection._split.KFold",
        "sklearn.model_selection._split.StratifiedKFold",
    }
)
"""Exact names of the types a .skops file may hold without being listed in ``trusted``.

Each is a plain-data class (autometa's frozen dataclasses, the estimators that hold them,
and a few scikit-learn classes) whose loading only sets attributes."""

SAFE_MODEL_TYPES = frozenset(
    {
        # Fitted state of the shipped catalogue's models that skops (0.16) does not list.
        # Each is rebuilt from arrays and numbers: loading sets attributes or copies
        # arrays into the object (``Tree.__setstate__``, ``BinaryTree.__setstate__``).
        "sklearn.tree._tree.Tree",  # random_forest, extra_trees
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # HGB's trees
        "sklearn.neighbors._kd_tree.KDTree",  # knn (p=1 or 2 picks a k-d tree)
        "sklearn.metrics._dist_metrics.EuclideanDistance64",  # the k-d tree's metric, p=2
        "sklearn.metrics._dist_metrics.ManhattanDistance64",  # and p=1
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",  # mlp's solver state
        # HistGradientBoosting with categorical features builds its own preprocessor, a
        # FunctionTransformer(functools.partial(check_array, ...)). skops audits the
        # function a partial wraps as a node of its own, so trusting the type
        # ``partial`` trusts no function: ``check_array`` is allowed by SAFE_FUNCTIONS.
        "functools.partial",
        # The first-party LightGBM and XGBoost plugins' models. The scikit-learn
        # wrappers hold parameters and a Booster; a Booster's state is the library's own
        # model format (LightGBM's model text, XGBoost's serialised JSON/UBJSON model),
        # which its __setstate__ parses: a model description, not code. A callable in a
        # wrapper (a custom objective) would be a function node, still refused.
        "collections.OrderedDict",  # a dict (LightGBM's fitted state holds one)
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
    }
)
"""Classes the models of autometa's first-party catalogue and plugins hold; data, as
:data:`SAFE_AUTOMETA_TYPES` (the comments say why each is)."""

SAFE_FUNCTIONS = frozenset(
    {
        # Referenced by HistGradientBoosting's own categorical preprocessor (see
        # "functools.partial" above); scikit-learn builds it in fit, so autometa cannot
        # leave it out of the file without rewriting the booster's private state.
        # check_array only validates and converts an array (no I/O, no state, nothing
        # imported or evaluated by name), whatever arguments a file binds to it.
        "sklearn.utils.validation.check_array",
    }
)
"""The only functions a .skops file may name without ``trusted``: each by its exact
name, each free of side effects (the comment says why and where it comes from)."""

TrustedTypes = Iterable[str | type]


class UntrustedTypesError(ValueError):
    """A .skops file holds types nobody said are safe; nothing was loaded."""

    def __init__(self, path: Path, types: list[str]) -> None:
        self.path = path
        self.types = types
        listed = ", ".join(repr(t) for t in types)
        super().__init__(
            f"{path} holds types that are not known to be safe, so it was not loaded: "
            f"{listed}. Loading runs these types' code. If you trust where the file comes "
            f"from, name them: load_model({str(path)!r}, trusted=[{listed}]) (or "
            "`autometa predict --trust TYPE` for each)."
        )


def check_model_path(path: str | os.PathLike[str]) -> str:
    """The format ``path``'s suffix names (``"skops"`` or ``"pickle"``), checked usable.

    Raises a ValueError for an unknown suffix, a directory or a missing folder, and an
    ImportError when ``.skops`` is asked for without skops installed: call it before a
    long fit, so a bad ``--out`` is reported before, not after, the work.
    """
    target = Path(path)
    kind = _format_of(target)
    if target.is_dir():
        raise ValueError(
            f"{target} is a directory; name the model file, e.g. {target / 'model.joblib'}."
        )
    if not target.parent.is_dir():
        raise ValueError(
            f"Cannot save a model to {target}: the directory {target.parent} does not exist. "
            "Create it first (e.g. mkdir -p) or choose another path."
        )
    if kind == "skops":
        _skops_io()
    return kind


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` in the format its suffix names; return the path.

    ``.skops`` writes the data-only copy described in this module's docstring; the
    pickle suffixes write the model as it is (``joblib.dump``). Another suffix raises a
    ValueError naming the choices, before anything is written.
    """
    target = Path(path)
    kind = _format_of(target)
    if kind == "pickle":
        joblib.dump(model, target)
        return target
    sio = _skops_io()
    data = _data_only(model)
    partial = target.with_name(f".{target.name}.partial")
    try:
        sio.dump(data, partial)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        raise ValueError(
            f"{type(model).__name__} cannot be saved as {SKOPS_SUFFIX}: "
            f"{type(exc).__name__}: {exc}. Save it with a .joblib suffix instead (a pickle: "
            "load it only where you trust the file)."
        ) from exc
    partial.replace(target)  # a crash while writing never leaves half a model at `path`
    return target


def load_model(path: str | os.PathLike[str], *, trusted: TrustedTypes = ()) -> Any:
    """Read a model written by :func:`save_model`; the suffix says how.

    ``.skops``: the types in the file are checked first (skops'
    ``get_untrusted_types``); any that is not known to be safe (see the module
    docstring) and not named in ``trusted`` (full names such as
    ``"my_plugin.MyEstimator"``, or the types themselves) stops the load with an
    :class:`UntrustedTypesError` listing them, before any of them is imported. Pickle
    suffixes: ``joblib.load``, which runs code from the file: only for files you trust.
    """
    source = Path(path)
    kind = _format_of(source)
    if not source.is_file():
        raise FileNotFoundError(f"No model file at {source}.")
    if kind == "pickle":
        try:
            return joblib.load(source)
        except ImportError:
            raise  # a module the model needs (a plugin) is not installed: its own message
        except Exception as exc:  # unpickling bytes that are no pickle fails in many ways
            raise ValueError(
                f"{source} could not be loaded as a model ({type(exc).__name__}: {exc}); it "
                "is damaged or was not written by save_model (autometa fit --out)."
            ) from exc
    sio = _skops_io()
    try:
        found = sio.get_untrusted_types(file=source)
    except Exception as exc:  # not a zip, no schema, a schema skops cannot read
        raise ValueError(
            f"{source} is not a model saved in the {SKOPS_SUFFIX} format "
            f"({type(exc).__name__}: {exc})."
        ) from None
    named = {_type_name(t) for t in trusted}
    refused = [t for t in found if t not in named and not _known_safe(t)]
    if refused:
        raise UntrustedTypesError(source, refused)
    try:
        return sio.load(source, trusted=found)
    except Exception as exc:  # a damaged or hand-made file: skops fails in many ways
        raise ValueError(
            f"{source} could not be loaded as a {SKOPS_SUFFIX} model "
            f"({type(exc).__name__}: {exc}); it is damaged or was not written by "
            "save_model."
        ) from exc


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    if suffix == SKOPS_SUFFIX:
        return "skops"
    raise ValueError(
        f"Cannot tell the model format of {path}: use the suffix {SKOPS_SUFFIX} (data only, "
        f"safe to load from others) or one of {', '.join(PICKLE_SUFFIXES)} (a pickle: runs "
        "code when loaded)."
    )


def _skops_io() -> Any:
    try:
        return importlib.import_module("skops.io")
    except ImportError:
        raise ImportError(
            f"Saving or loading {SKOPS_SUFFIX} files needs skops: "
            'pip install "autometa-ml[safe]" (or pip install skops).'
        ) from None


def _type_name(item: str | type) -> str:
    if isinstance(item, str):
        return item
    return f"{item.__module__}.{item.__qualname__}"


def _known_safe(name: str) -> bool:
    """An autometa result type, a first-party model's type or named function, or a class
    (never a function) of an installed plugin."""
    if name in SAFE_AUTOMETA_TYPES or name in SAFE_MODEL_TYPES or name in SAFE_FUNCTIONS:
        return True
    module, _, attribute = name.rpartition(".")
    if not module or module.split(".")[0] not in _installed_plugin_packages():
        return False
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):
        return False
    return isinstance(found, type) and f"{found.__module__}.{found.__qualname__}" == name


def _installed_plugin_packages() -> set[str]:
    """Top-level packages of the built-in plugins and of those installed under the
    ``autometa`` entry points."""
    from autometa._plugins import BUILTIN_PLUGINS, ENTRY_POINT_GROUP

    return {module for _, module in BUILTIN_PLUGINS} | {
        entry.value.split(":")[0].split(".")[0]
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    }


def _data_only(model: Any) -> Any:
    """A shallow copy of an autometa estimator without the parts that are not data."""
    from autometa._api import _AutoMetaBase
    from autometa.knowledge._urls import is_url, without_password

    if not isinstance(model, _AutoMetaBase):
        return model
    data = copy.copy(model)
    if hasattr(data, "study_"):
        data.study_ = None  # type: ignore[assignment]  # documented: no study in a .skops
    data.plugins = ()
    if not isinstance(data.knowledge, (str, os.PathLike, type(None))):
        data.knowledge = getattr(data.knowledge, "location", None)
    if not isinstance(data.storage, (str, type(None))):
        data.storage = None
    for name in ("storage", "knowledge"):  # a saved model keeps no password
        if is_url(getattr(data, name)):
            setattr(data, name, without_password(getattr(data, name)))
    data.strategy = _plain_strategy(data.strategy)
    if hasattr(data, "strategy_"):
        data.strategy_ = _plain_strategy(data.strategy_)
    return data


def _plain_strategy(strategy: Any) -> Any:
    """A Strategy whose sampler is named, not a sampler instance (which is code)."""
    if strategy is None or isinstance(strategy.sampler, str):
        return strategy
    return dataclasses.replace(strategy, sampler=type(strategy.sampler).__name__)
