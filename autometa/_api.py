"""The scikit-learn estimators and ``autometa.fit``.

``AutoMetaClassifier`` and ``AutoMetaRegressor`` follow scikit-learn's conventions:
parameters in ``__init__`` (so ``clone`` and ``get_params`` work), learned state in
attributes ending with ``_``, ``predict``/``predict_proba``/``score``. ``autometa.fit``
picks the right one from the data. The fit itself is a :class:`autometa._fit_run.FitRun`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from autometa._fit_run import FitRun, quiet_optuna
from autometa._fit_settings import FitSettings
from autometa._leaderboard import leaderboard
from autometa.contract._row_checks import ClassWeight
from autometa.contract._task import FeatureSchema
from autometa.contract._task_checks import classifier_kind
from autometa.contract._types import Config, Evaluation, Recommendation, Strategy, TaskKind
from autometa.knowledge._base import KnowledgeBase, reopen_spec
from autometa.knowledge._urls import is_url, mask_url, without_password
from autometa.search._ensemble import DEFAULT_ENSEMBLE_MEMORY_MB, DEFAULT_ENSEMBLE_SIZE
from autometa.search._ensemble_model import EnsembleSummary
from autometa.search._limits import MemoryLimit
from autometa.search._metafeatures import MetaFeatures
from autometa.search._planning import KnowledgeSpec
from autometa.search._shared_predictions import ArtifactSetting
from autometa.search._studies import in_memory_copy


class _AutoMetaBase(BaseEstimator):
    """Shared implementation of the classifier and regressor (not public).

    With ``storage`` (an SQLAlchemy URL such as ``"sqlite:///study.db"`` or an Optuna
    storage object, e.g. a ``JournalStorage``) and ``study_name``, the study is durable:
    a fit that was killed and is started again with the same ``study_name`` resumes it.
    ``n_trials`` is then the total for the study, so a resumed fit runs only the trials
    still missing (none when the study has them all: it only refits), while ``timeout``
    limits each call. Trials the dead process left running are failed and enqueued again;
    warm starts already in the study are not enqueued twice. ``evaluations_``,
    ``best_config_`` and the refit cover the whole study, earlier processes' trials
    included; the ``autometa_trial_completed`` hook sees only this call's trials. A
    password in a ``storage`` or ``knowledge`` URL is shown as ``***`` and a fitted model
    is pickled without it (see :meth:`__getstate__`).

    Faults of a configuration stay with its trial. With ``n_jobs`` of 2 or more, trials
    run in joblib worker processes: one that raises is failed with its error, one that
    runs past its time or past ``memory_limit`` megabytes (``"auto"``: 80% of the
    machine's memory shared between the workers; None: no limit; enforced on Linux only)
    is capped, one that hangs in native code has its worker killed two seconds after its
    time limit (capped), and one that kills its worker (``os._exit``, a segfault, the
    out-of-memory killer) is failed with the exit code, the trials it took down with it
    being evaluated again. With ``n_jobs`` of 2 or more a trial is asked whenever a worker
    is free, so which configurations are tried depends on timing (as with Optuna's
    ``optimize(n_jobs=...)``); with ``n_jobs=1`` a fit is reproducible for a given
    ``random_state``. With ``n_jobs=1`` trials run in this process: raising, time
    and memory limits are handled the same way (the memory limit is lifted after each
    trial, and binds only when ``fit`` runs in the main thread; the time limit holds in
    any thread, a web server's or a notebook executor's too), but a configuration that
    ends its process ends yours, and one that hangs in native code hangs the fit.

    With ``ensemble=True`` (the default) the fit returns an ensemble of what the search
    evaluated, as auto-sklearn does: the best trials' out-of-fold predictions (float32,
    within ``ensemble_memory_limit`` megabytes) go through greedy forward selection with
    replacement (Caruana et al.) for the fit's own ``scoring``; at most ``ensemble_size``
    members are refitted on all rows in the time kept for it (one that fails or does not
    fit in the time is dropped, the weights renormalised). ``ensemble_`` describes
    members, weights and validation scores; ``ensemble=False`` refits the single best
    configuration. ``best_config_`` and ``best_score_`` are the best single
    configuration's either way (passing over one whose refit failed). A durable study
    ensembles the trials of every process that shares its predictions through
    ``artifact_store``: an Optuna artifact store or a folder; ``"auto"`` is
    ``study.db.artifacts`` beside an SQLite study's file, nothing for other storages.

    ``callbacks`` are Optuna's: each is called as ``callback(study, frozen_trial)`` after
    every trial, as ``study.optimize(callbacks=...)`` calls them (optuna-integration's
    ``MLflowCallback`` and ``WeightsAndBiasesCallback`` work). ``study.stop()`` inside one
    is not supported: bound the search with ``n_trials`` or ``timeout``.

    ``fit(X, y, sample_weight=w)`` fits every estimator and computes every score (the
    search's, the ensemble selection's) with the weights ``w``: one finite, non-negative
    weight per row, not all zero (0 leaves a row out). Algorithms whose estimator cannot
    take weights (e.g. k-nearest neighbours, SVMs) are left out of such a search, and
    the log says which: fitted unweighted, they would learn from rows the weights
    discount. ``fit(X, y, groups=g)`` keeps each group's rows on one side of every split:
    the default validation becomes group k-fold (stratified for classification) or a
    group holdout, and ``cv`` may be a splitter by groups (``GroupKFold``,
    ``LeaveOneGroupOut``, ...), which without ``groups`` is an error. ``class_weight``
    weighs training rows by class, times ``sample_weight``: ``"balanced"`` equally, a dict
    ``{class label: weight}`` by its weights (0 or more, classes of y; others weigh 1).
    Scores are not reweighted: pair it with e.g. ``scoring="balanced_accuracy"``. Weighted
    fits do not grow a writable knowledge base (its cells are unweighted); a warning says so.

    ``verbose`` follows scikit-learn's convention: 0 is silent, 1 shows a progress bar
    (best score so far, time left) and a line when the search starts and ends, 2 or more
    also a line per trial (algorithm, parameters, score, seconds), all on standard error.
    None (the default) means 1 inside a Jupyter kernel, where tqdm draws its notebook bar,
    and 0 elsewhere: library code stays silent in scripts unless asked (see
    :func:`autometa._progress.default_verbose`). It is resolved in ``fit``, so
    ``get_params`` and ``clone`` keep None. ``progress`` is deprecated (a FutureWarning):
    ``progress=True`` means ``verbose`` of at least 1, ``progress=False`` means 0 when
    ``verbose`` is not given.
    """

    _kinds: tuple[TaskKind, ...] = ()

    def __init__(
        self,
        *,
        timeout: float | None = None,
        n_trials: int | None = None,
        n_jobs: int = 1,
        memory_limit: MemoryLimit = "auto",
        random_state: int | None = None,
        scoring: str | None = None,
        cv: Any = None,
        warm_start: int | None = None,
        strategy: Strategy | None = None,
        knowledge: KnowledgeSpec = None,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        plugins: Sequence[object] = (),
        blocked: Sequence[str] = (),
        algorithms: Sequence[str] | None = None,
        verbose: int | None = None,
        progress: bool | None = None,
        ensemble: bool = True,
        ensemble_size: int = DEFAULT_ENSEMBLE_SIZE,
        ensemble_memory_limit: float = DEFAULT_ENSEMBLE_MEMORY_MB,
        callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
        class_weight: ClassWeight = None,
        artifact_store: ArtifactSetting = "auto",
    ) -> None:
        self.timeout = timeout
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.memory_limit = memory_limit
        self.random_state = random_state
        self.scoring = scoring
        self.cv = cv
        self.warm_start = warm_start
        self.strategy = strategy
        self.knowledge = knowledge
        self.storage = storage
        self.study_name = study_name
        self.plugins = plugins
        self.blocked = blocked
        self.algorithms = algorithms
        self.verbose = verbose
        self.progress = progress
        self.ensemble = ensemble
        self.ensemble_size = ensemble_size
        self.ensemble_memory_limit = ensemble_memory_limit
        self.callbacks = callbacks
        self.class_weight = class_weight
        self.artifact_store = artifact_store

    # Fitted attributes, set by :meth:`fit` (see :meth:`autometa._fit_run.FitResult.fitted`).
    model_: BaseEstimator
    best_config_: Config
    best_score_: float
    study_: optuna.Study
    evaluations_: list[Evaluation]
    n_configs_: int
    meta_features_: MetaFeatures
    recommendations_: list[Recommendation]
    strategy_: Strategy
    strategy_source_: str
    planning_timings_: dict[str, float]
    task_kind_: TaskKind
    scoring_: str
    task_id_: str
    schema_: FeatureSchema
    n_features_in_: int
    feature_names_in_: np.ndarray
    classes_: np.ndarray
    ensemble_: EnsembleSummary | None

    # -- fitting --------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        *,
        kind: TaskKind | None = None,
        sample_weight: Any = None,
        groups: Any = None,
    ) -> _AutoMetaBase:
        """Search on ``X, y``; refit the ensemble's members (or the best) on all rows.

        ``sample_weight`` (one weight per row) weighs the rows in every fit and score;
        ``groups`` (one label per row) keeps each group on one side of every split.
        """
        started = time.monotonic()
        run = FitRun.open(FitSettings.check(self.get_params(deep=False)), started)
        X = _array_like(X)
        if kind is None and len(self._kinds) == 1:
            kind = self._kinds[0]
        elif kind is None and self._kinds:
            kind = classifier_kind(y, self.scoring if isinstance(self.scoring, str) else None)
        plan = run.plan(X, y, kind, sample_weight=sample_weight, groups=groups)
        if self._kinds and plan.task.kind not in self._kinds:
            other = "AutoMetaRegressor" if plan.task.kind == "regression" else "AutoMetaClassifier"
            raise ValueError(
                f"{type(self).__name__} got a {plan.task.kind} target; use {other} or "
                "autometa.fit, which chooses for you."
            )
        return run.complete(plan).fitted(self)

    def __sklearn_tags__(self) -> Any:
        """What scikit-learn's checks and meta-estimators may assume: missing values,
        categorical and string columns are welcome; with ``n_jobs`` other than 1 the
        trials finish in an order the machine decides, so results may differ."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.non_deterministic = self.n_jobs not in (1, None)
        return tags

    def __getstate__(self) -> dict[str, Any]:
        """Pickle a durable study as an in-memory copy (a loaded model needs no database)
        and a knowledge base object by where to open it again (see ``reopen_spec``).

        A fitted model keeps no password: ``storage`` and ``knowledge`` URLs are pickled
        without it (``without_password``), so a saved file holds none. Fitting the loaded
        model again on such a URL takes the password from the driver's own sources
        (``PGPASSWORD`` or ``~/.pgpass`` for PostgreSQL) or from ``set_params``. An
        unfitted estimator pickles as given (joblib workers fitting it need the URL whole).
        """
        state = dict(super().__getstate__())
        if isinstance(self.knowledge, KnowledgeBase):  # a connection does not pickle
            state["knowledge"] = reopen_spec(self.knowledge)
        if "model_" in state:
            for name in ("storage", "knowledge"):
                if is_url(state[name]):
                    state[name] = without_password(state[name])
        if self.storage is not None and state.get("study_") is not None:
            with quiet_optuna():
                state["study_"] = in_memory_copy(state["study_"])
        return state

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        """scikit-learn's repr, a password in a ``storage`` or ``knowledge`` URL shown as ***."""
        return BaseEstimator.__repr__(self._shown(), N_CHAR_MAX)

    def _get_params_html(self, deep: bool = True, doc_link: str = "") -> Any:
        """The parameters of the notebook (HTML) display, passwords shown as ***."""
        return BaseEstimator._get_params_html(self._shown(), deep, doc_link)

    def _shown(self) -> _AutoMetaBase:
        """A shallow copy to display: URL parameters masked (no pickling, unlike copy)."""
        shown = object.__new__(type(self))
        shown.__dict__.update(self.__dict__)
        for name in ("storage", "knowledge"):
            if is_url(getattr(self, name)):
                setattr(shown, name, mask_url(getattr(self, name)))
        return shown

    # -- using the model ------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        features = self._features(X)  # checked before model_ is read: NotFittedError
        return np.asarray(self.model_.predict(features))

    def _features(self, X: Any) -> pd.DataFrame:
        """``X`` as the fitted model takes it, once fitted; an array must have the fitted
        width (a DataFrame's columns are matched by name: :meth:`FeatureSchema.transform`)."""
        check_is_fitted(self, "model_")
        X = np.asarray(X) if isinstance(X, (list, tuple)) else _array_like(X)
        shape = getattr(X, "shape", None) if not isinstance(X, pd.DataFrame) else None
        if shape is not None and len(shape) == 2 and shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return self.schema_.transform(X)

    def explain(self) -> str:
        """How the search went: strategy, recommendations with evidence, the winner and
        the ensemble's members and weights."""
        from autometa._explain import explain_fit

        check_is_fitted(self, "model_")
        return explain_fit(self)

    def leaderboard(self) -> pd.DataFrame:
        """Every trial of the fit, best first: algorithm, parameters, score, fit time,
        status, warm-start rank and ensemble weight (see
        :func:`autometa._leaderboard.leaderboard` for the columns)."""
        check_is_fitted(self, "model_")
        return leaderboard(self.evaluations_, self.recommendations_, self.ensemble_)


class AutoMetaClassifier(ClassifierMixin, _AutoMetaBase):
    """AutoML classifier warm-started from earlier tasks (binary and multiclass).

    Parameters are described on the shared base class (``_AutoMetaBase``); ``verbose``
    is scikit-learn's (0 silent, 1 a progress bar, 2 a line per trial; default: 1 in a
    Jupyter notebook, else 0).
    """

    _kinds = ("binary", "multiclass")

    def predict_proba(self, X: Any) -> np.ndarray:
        features = self._features(X)
        return np.asarray(self.model_.predict_proba(features))


class AutoMetaRegressor(RegressorMixin, _AutoMetaBase):
    """AutoML regressor warm-started from earlier tasks.

    Parameters as :class:`AutoMetaClassifier`'s, ``verbose`` included (0 silent, 1 a
    progress bar, 2 a line per trial; default: 1 in a Jupyter notebook, else 0).
    """

    _kinds = ("regression",)


def fit(
    X: Any,
    y: Any,
    *,
    kind: TaskKind | None = None,
    sample_weight: Any = None,
    groups: Any = None,
    **params: Any,
) -> AutoMetaClassifier | AutoMetaRegressor:
    """Search for a good model of ``y`` given ``X`` and return it fitted.

    Returns an :class:`AutoMetaClassifier` or :class:`AutoMetaRegressor` depending on
    the target (or ``kind``). Keyword arguments are those of the estimators: ``timeout``
    (seconds, search and refit together), ``n_trials``, ``n_jobs``, ``memory_limit``
    (megabytes per trial, ``"auto"`` or None), ``random_state``, ``scoring``, ``cv``,
    ``warm_start`` (number of warm starts; 0 for a cold search), ``strategy``,
    ``knowledge``, ``storage``, ``study_name``, ``plugins``, ``blocked``, ``algorithms``
    (search only these algorithm names), ``verbose`` (scikit-learn's levels on standard
    error: 0 silent, 1 a progress bar, 2 also a line per trial; default: 1 in a Jupyter
    notebook, else 0; ``progress`` is deprecated), ``ensemble`` (False refits the single
    best), ``ensemble_size`` (most members), ``ensemble_memory_limit`` (megabytes of kept
    predictions), ``artifact_store`` (where a durable study's processes share them),
    ``class_weight`` (None, ``"balanced"`` or ``{class label: weight}``) and ``callbacks``
    (Optuna's, ``callback(study, trial)`` after each trial); see :class:`AutoMetaClassifier`.

    With ``storage`` and ``study_name`` the study is durable and a killed fit, started
    again with the same arguments, resumes it: ``n_trials`` is the total for the study
    and ``timeout`` applies to each call (see :class:`AutoMetaClassifier`).
    ``sample_weight`` and ``groups`` are the estimators' ``fit``'s.
    """
    started = time.monotonic()
    settings = FitSettings.check(AutoMetaClassifier(**params).get_params(deep=False))
    run = FitRun.open(settings, started)
    # validated once, inside the time budget
    plan = run.plan(X, y, kind, sample_weight=sample_weight, groups=groups)
    chosen = AutoMetaRegressor if plan.task.kind == "regression" else AutoMetaClassifier
    return run.complete(plan).fitted(chosen(**params))


def _array_like(X: Any) -> Any:
    """``X`` as given, or as a numpy array when it has no shape or length of its own
    (an object exposing only ``__array__``): what the row count and checks need."""
    if hasattr(X, "shape") or hasattr(X, "__len__") or not hasattr(X, "__array__"):
        return X
    return np.asarray(X)


class ApplySchema(TransformerMixin, BaseEstimator):
    """Bring raw ``X`` into the columns and dtypes a task was validated with.

    The first step of a :class:`SearchSpace` estimator: catalogue pipelines select
    columns by name and expect numeric columns as floats and categorical ones as strings
    (what :meth:`FeatureSchema.transform` makes of a DataFrame, or of an array of the same
    width). Stateless: nothing is learned in ``fit``. It lives here rather than beside
    :class:`SearchSpace` because saved models (joblib and .skops files, and the list of
    safe types in :mod:`autometa.persistence`) name it ``autometa._api.ApplySchema``.
    """

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema

    def fit(self, X: Any, y: Any = None) -> ApplySchema:
        return self

    def transform(self, X: Any) -> Any:
        return self.schema.transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.schema.features, dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True
