"""A ranking-weighted ensemble of per-task surrogates (RGPE), as an Optuna sampler.

Feurer, Letham and Bakshy's RGPE ("Scalable meta-learning for Bayesian optimization
using ranking-weighted Gaussian process ensembles", 2018) keeps one surrogate per earlier
task and one for the new task, and weighs them by how well each *ranks* the new task's
observed trials: scores of different tasks are not comparable, their orderings are. Here:

- **Surrogates.** One Gaussian process per earlier task of the same kind, fitted on that
  task's scores of the knowledge base's configurations (encoded by
  :class:`autometa.contract.ConfigEncoder`), plus one on the new task's completed
  trials. Scores are replaced by their ranks within the task, standardised, so every
  model predicts on the same scale whatever the scoring. The kernel is a squared
  exponential with fixed hyperparameters (length scale :data:`LENGTH_SCALE`, noise
  :data:`NOISE`): the knowledge base evaluates the *same* pool on every task, so one
  kernel matrix serves all earlier tasks and fitting them all is one Cholesky
  factorisation per pattern of missing cells. Measured on the shipped knowledge base's
  binary tasks: fitting on 80% of a task's pool and predicting the rest gives a mean
  Spearman correlation of 0.70 at these values (0.68-0.80 over length scales 0.3-1.5
  and noise 0.01-0.3); a length scale of 1.0 ranks held-out points a little better but,
  being smoother, misplaces a task's optimum, and in leave-one-task-out searches of the
  pool 0.5 reached a lower regret after 10 trials (0.043 against 0.061, scores scaled
  per task).
- **Weights.** The ranking loss of a model is the number of pairs of observed trials it
  orders wrongly (for the new task's own model, each trial predicted by the model fitted
  without it). Over bootstrap resamples of the observed trials, each resample's weight
  goes to the model with the smallest loss (shared on ties). An earlier task whose median
  loss is above the chosen quantile of the new task's own losses (the median by default)
  is discarded first, so many mediocre tasks cannot dilute the weight. The new task's
  model earns weight as its trials accumulate, because its own ranking improves.
- **Proposals.** Candidates are the knowledge base's configurations that lie in this
  task's space, random points of the space, and small perturbations of the best trials
  so far; the one with the highest expected improvement under the weighted ensemble
  (mean ``sum w_i mu_i``, variance ``sum w_i^2 sigma_i^2``, as the paper) that no trial
  has tried yet is proposed.

:class:`RGPESampler` decides a whole configuration when the trial's first parameter
(``algorithm``) is sampled, remembers it for that trial, and returns each later
parameter from it. Enqueued trials keep their fixed parameters (Optuna never asks the
sampler for those); the first ``n_startup_trials`` trials, and anything the plan does not
cover, come from an inner sampler (TPE by default).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import ndtr
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from autometa.contract import (
    ALGORITHM_PARAM,
    PARAM_SEPARATOR,
    Config,
    ConfigEncoder,
    SamplerContext,
    Spaces,
    builtin_sampler,
    from_unit,
    spaces_of,
)

if TYPE_CHECKING:
    from autometa.contract import ScoreTableView

logger = logging.getLogger(__name__)

LENGTH_SCALE = 0.5
"""Length scale of the squared-exponential kernel over encoded configurations."""
NOISE = 0.1
"""Noise variance added to the kernel's diagonal, in standardised-rank units."""
N_STARTUP_TRIALS = 3
"""Completed trials needed before the ensemble proposes (fewer cannot rank anything)."""
N_CANDIDATES = 256
"""Random points of the space scored per proposal (besides the pool and local moves)."""
N_LOCAL = 8
"""Perturbations of each of the best trials scored per proposal."""
N_INCUMBENTS = 4
"""How many of the best trials are perturbed."""
LOCAL_STEP = 0.1
"""Standard deviation of a local move, in units of the parameter's (log) range."""
N_BOOTSTRAP = 100
"""Bootstrap resamples of the observed trials for the weights."""
MAX_OBSERVATIONS = 100
"""At most this many observed trials (a seeded sample) enter the weights."""
DISCARD_QUANTILE = 0.5
"""An earlier task is discarded when its median loss is above this quantile of the new
task's own losses (the RGPE paper uses 0.95; the median is stricter against dilution)."""
PROPOSAL_ATTR = "autometa_rgpe"
"""Trial system attribute recording where a proposal came from and the top weights."""

_JITTER = 1e-8


# -- Gaussian processes with fixed hyperparameters -------------------------------------------
def rbf(A: np.ndarray, B: np.ndarray, length_scale: float = LENGTH_SCALE) -> np.ndarray:
    """Squared-exponential kernel matrix between the rows of ``A`` and ``B``."""
    squared = np.sum(A * A, axis=1)[:, None] + np.sum(B * B, axis=1)[None, :] - 2.0 * A @ B.T
    return np.exp(-np.maximum(squared, 0.0) / (2.0 * length_scale**2))


def standardized_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks of ``values`` (ties averaged) scaled to mean 0 and standard deviation 1.

    Fewer than two distinct values give zeros: there is no order to learn.
    """
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.ptp(values) == 0:
        return np.zeros(len(values))
    ranks = rankdata(values)
    return (ranks - ranks.mean()) / ranks.std()


class _GP:
    """Posterior of a zero-mean GP with the fixed kernel, for one set of points."""

    def __init__(self, X: np.ndarray, y: np.ndarray, length_scale: float, noise: float) -> None:
        self.X, self.length_scale = X, length_scale
        K = rbf(X, X, length_scale) + (noise + _JITTER) * np.eye(len(X))
        self.factor = cho_factor(K, lower=True)
        self.alpha = cho_solve(self.factor, y)

    def mean(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(rbf(X, self.X, self.length_scale) @ self.alpha)

    def variance(self, X: np.ndarray) -> np.ndarray:
        cross = rbf(self.X, X, self.length_scale)
        v = solve_triangular(self.factor[0], cross, lower=True)
        return np.maximum(1.0 - np.sum(v * v, axis=0), _JITTER)


# -- the ensemble ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnsembleWeights:
    """Weights of the earlier tasks' models and of the new task's own model (sum 1)."""

    task_ids: tuple[str, ...]
    base: np.ndarray
    """One weight per earlier task, in ``task_ids`` order."""
    target: float
    """Weight of the model of the new task's own trials."""
    discarded: np.ndarray
    """Earlier tasks left out because they rank the trials worse than the new task's model."""

    def top(self, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` heaviest earlier tasks with their weights, heaviest first."""
        order = np.argsort(-self.base, kind="stable")[:n]
        return [(self.task_ids[i], float(self.base[i])) for i in order if self.base[i] > 0]

    def as_dict(self) -> dict[str, float]:
        """``{task_id: weight}`` of the earlier tasks with weight, plus ``"<target>"``."""
        weights = {self.task_ids[i]: float(w) for i, w in enumerate(self.base) if w > 0}
        weights["<target>"] = float(self.target)
        return weights


class RankingWeightedEnsemble:
    """Per-task Gaussian processes over a shared pool of encoded configurations.

    :param X_pool: encoded configurations, shape ``(n_configs, n_columns)``.
    :param Y_pool: scores, shape ``(n_tasks, n_configs)``, greater is better, NaN where a
        configuration was not evaluated on a task.
    :param task_ids: one id per row of ``Y_pool``.

    Tasks with fewer than two finite scores are left out: they rank nothing.
    """

    def __init__(
        self,
        X_pool: np.ndarray,
        Y_pool: np.ndarray,
        task_ids: Sequence[str],
        *,
        length_scale: float = LENGTH_SCALE,
        noise: float = NOISE,
    ) -> None:
        self.length_scale, self.noise = length_scale, noise
        Y_pool = np.asarray(Y_pool, dtype=float).reshape(len(task_ids), len(X_pool))
        keep = [i for i, row in enumerate(Y_pool) if np.isfinite(row).sum() >= 2]
        self.task_ids: tuple[str, ...] = tuple(task_ids[i] for i in keep)
        self.X_pool = np.asarray(X_pool, dtype=float)
        self.alpha = np.zeros((len(self.X_pool), len(keep)))
        """Column t: the dual weights of task t's GP over the pool (0 where not evaluated)."""
        K = rbf(self.X_pool, self.X_pool, length_scale) + (noise + _JITTER) * np.eye(
            len(self.X_pool)
        )
        groups: dict[bytes, list[int]] = {}
        masks = np.isfinite(Y_pool[keep]) if keep else np.zeros((0, len(self.X_pool)), bool)
        for column, mask in enumerate(masks):
            groups.setdefault(mask.tobytes(), []).append(column)
        for columns in groups.values():
            mask = masks[columns[0]]
            targets = np.column_stack([standardized_ranks(Y_pool[keep[c]][mask]) for c in columns])
            factor = cho_factor(K[np.ix_(mask, mask)], lower=True)
            self.alpha[np.ix_(mask, columns)] = cho_solve(factor, targets)
        self._pool_gp: _GP | None = None

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    def base_means(self, X: np.ndarray, tasks: np.ndarray | None = None) -> np.ndarray:
        """Predicted standardised ranks, shape ``(len(X), n_tasks)`` (or of ``tasks``)."""
        alpha = self.alpha if tasks is None else self.alpha[:, tasks]
        if not len(self.X_pool):
            return np.zeros((len(X), alpha.shape[1]))
        return np.asarray(rbf(X, self.X_pool, self.length_scale) @ alpha)

    def base_variance(self, X: np.ndarray) -> np.ndarray:
        """Posterior variance of a model fitted on the whole pool (shared by all tasks).

        A task that lacks a few cells would be a little less certain near them; using one
        variance for all is what makes proposals cost one solve instead of one per task.
        """
        if not len(self.X_pool):
            return np.ones(len(X))
        if self._pool_gp is None:
            self._pool_gp = _GP(
                self.X_pool, np.zeros(len(self.X_pool)), self.length_scale, self.noise
            )
        return self._pool_gp.variance(X)

    # -- weights ---------------------------------------------------------------------------
    def weights(
        self,
        X_obs: np.ndarray,
        y_obs: np.ndarray,
        rng: np.random.Generator,
        *,
        n_bootstrap: int = N_BOOTSTRAP,
        discard_quantile: float = DISCARD_QUANTILE,
    ) -> EnsembleWeights:
        """Weights from bootstrapped ranking losses on the new task's observed trials.

        :param X_obs: encoded observed configurations.
        :param y_obs: their scores, greater is better.
        """
        y_obs = np.asarray(y_obs, dtype=float)
        n = len(y_obs)
        truth = y_obs[:, None] < y_obs[None, :]
        misranked = np.empty((self.n_tasks + 1, n, n), dtype=np.float32)
        if self.n_tasks:
            means = self.base_means(X_obs)  # (n, n_tasks)
            misranked[:-1] = (means.T[:, :, None] < means.T[:, None, :]) != truth[None]
        misranked[-1] = self._target_misranked(X_obs, y_obs, truth)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float32)
        # losses[m, s] = sum_jk counts[s, j] * misranked[m, j, k] * counts[s, k]
        losses = np.einsum("mjs,sj->ms", misranked @ counts.T, counts)
        discarded = np.zeros(self.n_tasks, dtype=bool)
        if self.n_tasks:
            threshold = np.quantile(losses[-1], discard_quantile)
            discarded = np.median(losses[:-1], axis=1) > threshold
            losses[:-1][discarded] = np.inf
        best = losses.min(axis=0)
        winners = losses == best[None, :]
        share = winners / winners.sum(axis=0, keepdims=True)
        weights = share.mean(axis=1)
        return EnsembleWeights(self.task_ids, weights[:-1], float(weights[-1]), discarded)

    def _target_misranked(
        self, X_obs: np.ndarray, y_obs: np.ndarray, truth: np.ndarray
    ) -> np.ndarray:
        """Pairs the new task's model orders wrongly when the first trial is left out."""
        n = len(y_obs)
        wrong = np.zeros((n, n), dtype=np.float32)
        if n < 2:
            return wrong
        for j in range(n):
            rest = np.arange(n) != j
            model = _GP(X_obs[rest], standardized_ranks(y_obs[rest]), self.length_scale, self.noise)
            predicted = model.mean(X_obs)
            wrong[j] = (predicted[j] < predicted) != truth[j]
        return wrong

    # -- predictions -----------------------------------------------------------------------
    def predict(
        self, X: np.ndarray, X_obs: np.ndarray, y_obs: np.ndarray, weights: EnsembleWeights
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and standard deviation at ``X`` (standardised-rank units)."""
        mean = np.zeros(len(X))
        variance = np.zeros(len(X))
        used = np.flatnonzero(weights.base > 0)
        if len(used):
            w = weights.base[used]
            mean += self.base_means(X, used) @ w
            variance += self.base_variance(X) * float(np.sum(w * w))
        if weights.target > 0 and len(y_obs):
            model = _GP(X_obs, standardized_ranks(y_obs), self.length_scale, self.noise)
            mean += weights.target * model.mean(X)
            variance += weights.target**2 * model.variance(X)
        return mean, np.sqrt(variance)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """Expected improvement over ``best`` of a Gaussian with ``mean`` and ``std``."""
    std = np.maximum(std, 1e-12)
    z = (mean - best) / std
    return np.asarray(std * (z * ndtr(z) + np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)))


# -- points of the space -----------------------------------------------------------------------
def contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is a point of ``distribution`` (a value of the wrong type is not)."""
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (TypeError, ValueError):
        return False


def in_space(config: Config, spaces: Spaces) -> bool:
    """Whether ``config`` names an algorithm of ``spaces`` and sets exactly its parameters,
    each inside its distribution."""
    space = spaces.get(config.algorithm)
    if space is None or set(space) != set(config.params):
        return False
    return all(contains(d, config.params[p]) for p, d in space.items())


def _to_unit(value: Any, distribution: BaseDistribution) -> float:
    """Inverse of :func:`autometa.contract._pool.from_unit` for numeric distributions."""
    assert isinstance(distribution, (FloatDistribution, IntDistribution))
    low, high = float(distribution.low), float(distribution.high)
    if high <= low:
        return 0.5
    if distribution.log:
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (float(value) - low) / (high - low)


def random_config(
    algorithm: str, space: Mapping[str, BaseDistribution], rng: np.random.Generator
) -> Config:
    """A uniformly random point of one algorithm's space (log scales respected)."""
    return Config(algorithm, {p: from_unit(float(rng.random()), d) for p, d in space.items()})


def local_config(
    config: Config,
    space: Mapping[str, BaseDistribution],
    rng: np.random.Generator,
    step: float = LOCAL_STEP,
) -> Config:
    """A point near ``config``: numeric values moved by a Gaussian step, a categorical
    value changed with probability 1/(number of parameters)."""
    params: dict[str, Any] = {}
    switch = 1.0 / max(len(space), 1)
    for param, distribution in space.items():
        value = config.params[param]
        if isinstance(distribution, CategoricalDistribution):
            if rng.random() < switch:
                value = distribution.choices[int(rng.integers(len(distribution.choices)))]
            params[param] = value
        else:
            unit = _to_unit(value, distribution) + rng.normal(0.0, step)
            params[param] = from_unit(min(max(unit, 0.0), 1.0 - 1e-12), distribution)
    return Config(config.algorithm, params)


# -- the sampler -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Proposal:
    config: Config
    source: str


class RGPESampler(BaseSampler):
    """An Optuna sampler that proposes with a ranking-weighted ensemble (see the module).

    Parameters
    ----------
    spaces:
        ``{algorithm: {param: distribution}}`` of this task: the space trials come from.
    table:
        Scores of the knowledge base's configurations on the earlier tasks of this
        task's kind (:meth:`KnowledgeBase.score_table`); None or empty means the new
        task's own model only (plain Bayesian optimisation).
    random_state:
        Seed of the random candidates and of the bootstrap; the same seed and the same
        trials give the same proposals.
    inner:
        The sampler of the first ``n_startup_trials`` trials and of any parameter the
        plan does not cover; default a seeded ``TPESampler``.
    n_startup_trials, n_candidates, n_bootstrap, max_observations, discard_quantile,
    length_scale, noise:
        See the module's constants of the same names.

    The ensemble is built at the first proposal and then kept. Proposals are remembered
    per trial number until the trial finishes, and every configuration already in the
    study (finished, running, waiting or proposed) is never proposed again, so trials
    asked in a batch before any is told (``n_jobs > 1``) get distinct configurations.
    """

    def __init__(
        self,
        spaces: Spaces,
        table: ScoreTableView | None = None,
        *,
        random_state: int | None = None,
        inner: BaseSampler | None = None,
        n_startup_trials: int = N_STARTUP_TRIALS,
        n_candidates: int = N_CANDIDATES,
        n_bootstrap: int = N_BOOTSTRAP,
        max_observations: int = MAX_OBSERVATIONS,
        discard_quantile: float = DISCARD_QUANTILE,
        length_scale: float = LENGTH_SCALE,
        noise: float = NOISE,
    ) -> None:
        if not spaces:
            raise ValueError("RGPESampler needs the space of at least one algorithm.")
        if not 0.0 <= discard_quantile <= 1.0:
            raise ValueError(f"discard_quantile must be in [0, 1], got {discard_quantile}.")
        if n_startup_trials < 2:
            raise ValueError(
                f"n_startup_trials must be at least 2 (a ranking needs two trials), got "
                f"{n_startup_trials}."
            )
        self.spaces = {name: dict(space) for name, space in sorted(spaces.items())}
        self.table = table
        self.random_state = random_state
        self._seed = (
            int(random_state)
            if random_state is not None
            else int(np.random.SeedSequence().generate_state(1)[0])
        )
        self.inner = inner if inner is not None else optuna.samplers.TPESampler(seed=random_state)
        self.n_startup_trials = n_startup_trials
        self.n_candidates = n_candidates
        self.n_bootstrap = n_bootstrap
        self.max_observations = max_observations
        self.discard_quantile = discard_quantile
        self.length_scale = length_scale
        self.noise = noise
        self._encoder: ConfigEncoder | None = None
        self._ensemble: RankingWeightedEnsemble | None = None
        self._pool: list[Config] = []
        self._pool_rows: dict[str, np.ndarray] = {}
        self._plans: dict[int, _Proposal | None] = {}
        """Per trial number: the proposal, or None when the inner sampler decides."""

    # -- the model, built once ---------------------------------------------------------------
    @property
    def encoder(self) -> ConfigEncoder:
        if self._encoder is None:
            self._build()
        assert self._encoder is not None
        return self._encoder

    @property
    def ensemble(self) -> RankingWeightedEnsemble:
        """The earlier tasks' models (built on first use)."""
        if self._ensemble is None:
            self._build()
        assert self._ensemble is not None
        return self._ensemble

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the fitted models (rebuilt on first use): a saved AutoMeta model
        carries its study, and with it this sampler."""
        state = dict(self.__dict__)
        state.update(_encoder=None, _ensemble=None, _pool=[], _pool_rows={})
        return state

    def _build(self) -> None:
        with threadpool_limits(1):  # see _propose
            self._build_models()

    def _build_models(self) -> None:
        table = self.table
        known = [] if table is None else [c for c in table.configs if c.algorithm in self.spaces]
        self._encoder = ConfigEncoder.from_spaces(self.spaces, known)
        if table is None or not known:
            self._ensemble = RankingWeightedEnsemble(
                np.zeros((0, self._encoder.n_columns)), np.zeros((0, 0)), []
            )
            return
        columns = [j for j, c in enumerate(table.configs) if c.algorithm in self.spaces]
        X = self._encoder.transform(table.configs[j] for j in columns).X
        self._ensemble = RankingWeightedEnsemble(
            X,
            table.scores[:, columns],
            table.task_ids,
            length_scale=self.length_scale,
            noise=self.noise,
        )
        self._pool = [c for c in known if in_space(c, self.spaces)]
        rows = {c.key: i for i, c in enumerate(table.configs[j] for j in columns)}
        self._pool_rows = {c.key: X[rows[c.key]] for c in self._pool}

    # -- Optuna's sampler interface ----------------------------------------------------------
    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if len(_observed(study, self.spaces)) < self.n_startup_trials:
            self._plans[trial.number] = None
            return dict(self.inner.infer_relative_search_space(study, trial))
        return {}

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        return dict(self.inner.sample_relative(study, trial, search_space))

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if trial.number in self._plans and self._plans[trial.number] is None:
            return self.inner.sample_independent(study, trial, param_name, param_distribution)
        plan = self._plans.get(trial.number)
        algorithm = trial.params.get(ALGORITHM_PARAM)
        if param_name == ALGORITHM_PARAM:
            choices = (
                [c for c in param_distribution.choices if c in self.spaces]
                if isinstance(param_distribution, CategoricalDistribution)
                else []
            )
            plan = self._propose(study, trial, [str(c) for c in choices])
            self._plans[trial.number] = plan
            if plan is not None:
                return plan.config.algorithm
        elif plan is None or plan.config.algorithm != algorithm:
            # ``algorithm`` was fixed (enqueued) or single-valued: plan within it.
            plan = self._propose(study, trial, [algorithm] if algorithm in self.spaces else [])
            self._plans[trial.number] = plan
        if plan is not None and param_name.startswith(f"{plan.config.algorithm}{PARAM_SEPARATOR}"):
            param = param_name[len(plan.config.algorithm) + len(PARAM_SEPARATOR) :]
            value = plan.config.params.get(param)
            if param in plan.config.params and contains(param_distribution, value):
                return value
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._plans.pop(trial.number, None)
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.inner.reseed_rng()

    # -- proposing ---------------------------------------------------------------------------
    def _propose(
        self, study: optuna.Study, trial: FrozenTrial, algorithms: Sequence[str]
    ) -> _Proposal | None:
        """The best untried candidate of ``algorithms``, or None to let the inner decide.

        Linear algebra runs on one BLAS thread: the matrices are a few hundred rows, and
        the search's worker processes already use the cores; measured on 2 busy cores,
        building the shipped binary tasks' models took 5.4 s with threaded BLAS and
        0.03 s without.
        """
        with threadpool_limits(1):
            return self._propose_unthreaded(study, trial, algorithms)

    def _propose_unthreaded(
        self, study: optuna.Study, trial: FrozenTrial, algorithms: Sequence[str]
    ) -> _Proposal | None:
        observed = _observed(study, self.spaces)
        if len(observed) < self.n_startup_trials or not algorithms:
            return None
        rng = np.random.default_rng([self._seed, trial.number])
        if len(observed) > self.max_observations:
            keep = rng.choice(len(observed), self.max_observations, replace=False)
            observed = [observed[i] for i in sorted(keep)]
        sign = -1.0 if study.direction == StudyDirection.MINIMIZE else 1.0
        configs = [config for config, _ in observed]
        y_obs = sign * np.array([value for _, value in observed])
        taken = _tried(study) | {
            p.config.key for n, p in self._plans.items() if p is not None and n != trial.number
        }
        candidates = self._candidates(configs, y_obs, algorithms, taken, rng)
        if not candidates:
            return None
        encoder, ensemble = self.encoder, self.ensemble
        X_obs = encoder.transform(configs).X
        weights = ensemble.weights(
            X_obs,
            y_obs,
            rng,
            n_bootstrap=self.n_bootstrap,
            discard_quantile=self.discard_quantile,
        )
        X = self._encode([p.config for p in candidates])
        mean, std = ensemble.predict(np.vstack([X, X_obs]), X_obs, y_obs, weights)
        incumbent = float(np.max(mean[len(X) :]))
        score = expected_improvement(mean[: len(X)], std[: len(X)], incumbent)
        chosen = candidates[int(np.argmax(score))]
        study._storage.set_trial_system_attr(
            trial._trial_id,
            PROPOSAL_ATTR,
            {
                "source": chosen.source,
                "target_weight": round(weights.target, 4),
                "top_tasks": [[t, round(w, 4)] for t, w in weights.top(3)],
            },
        )
        logger.debug(
            "trial %d: %s from %s; weights %s", trial.number, chosen.config, chosen.source,
            weights.top(3),
        )  # fmt: skip
        return chosen

    def _encode(self, configs: Sequence[Config]) -> np.ndarray:
        """Encoded rows; the pool's are encoded once, when the models are built."""
        fresh = [c for c in configs if c.key not in self._pool_rows]
        encoded = dict(zip((c.key for c in fresh), self.encoder.transform(fresh).X, strict=True))
        encoded.update(self._pool_rows)
        return np.array([encoded[c.key] for c in configs]).reshape(len(configs), -1)

    def _candidates(
        self,
        observed: Sequence[Config],
        y_obs: np.ndarray,
        algorithms: Sequence[str],
        taken: set[str],
        rng: np.random.Generator,
    ) -> list[_Proposal]:
        """Pool configurations, random points and local moves, untried, in a fixed order."""
        allowed = sorted(set(algorithms))
        found: dict[str, _Proposal] = {}

        def add(config: Config, source: str) -> None:
            if config.key not in taken and config.key not in found:
                found[config.key] = _Proposal(config, source)

        if self._ensemble is None:
            self._build()  # the pool is known once the models are
        for config in self._pool:
            if config.algorithm in allowed:
                add(config, "pool")
        for _ in range(self.n_candidates):
            name = allowed[int(rng.integers(len(allowed)))]
            add(random_config(name, self.spaces[name], rng), "random")
        order = np.argsort(-y_obs, kind="stable")
        incumbents = [observed[i] for i in order if observed[i].algorithm in allowed]
        for config in incumbents[:N_INCUMBENTS]:
            if not in_space(config, self.spaces):
                continue
            for _ in range(N_LOCAL):
                add(local_config(config, self.spaces[config.algorithm], rng), "local")
        return list(found.values())


def _observed(study: optuna.Study, spaces: Spaces) -> list[tuple[Config, float]]:
    """Completed trials of the known algorithms, as (configuration, value)."""
    observed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.value is None or not math.isfinite(trial.value):
            continue
        if trial.params.get(ALGORITHM_PARAM) not in spaces:
            continue
        observed.append((Config.from_trial_params(trial.params), float(trial.value)))
    return observed


def _tried(study: optuna.Study) -> set[str]:
    """Keys of every configuration in the study: run, running, or waiting (enqueued)."""
    keys = set()
    for trial in study.get_trials(deepcopy=False):
        params = trial.params or trial.system_attrs.get("fixed_params") or {}
        if ALGORITHM_PARAM in params:
            try:
                keys.add(Config.from_trial_params(params).key)
            except (TypeError, ValueError):
                continue
    return keys


def make_rgpe(context: SamplerContext, random_state: int | None, n_jobs: int) -> RGPESampler:
    """The ``"rgpe"`` sampler of a fit: its space, the earlier tasks of its kind, TPE inside."""
    return RGPESampler(
        spaces_of(context.algorithms, context.task),
        context.knowledge.score_table(context.task.kind, algorithms=list(context.algorithms)),
        random_state=random_state,
        inner=builtin_sampler("tpe", random_state, n_jobs),
    )
