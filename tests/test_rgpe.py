"""The multitask plugin's samplers: the RGPE ensemble (``"rgpe"``) and warm-started
CMA-ES (``"cmaes_warm"``), on knowledge bases whose structure is known, and in real fits.
"""

from __future__ import annotations

import math
import pickle
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from sklearn.datasets import load_breast_cancer

import autometa
import autometa.testing
import autometa_multitask
from autometa._plugins import build_plugin_manager
from autometa.contract import Config, ConfigEncoder, Evaluation, Strategy
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.search._space import make_sampler
from autometa_multitask.rgpe import (
    PROPOSAL_ATTR,
    RankingWeightedEnsemble,
    RGPESampler,
    random_config,
)
from autometa_multitask.warm_cmaes import (
    MIN_SOURCE_TRIALS,
    WarmStartedCmaEs,
    plan_warm_start,
)

SPACES: dict[str, dict[str, BaseDistribution]] = {
    "alpha": {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)},
    "beta": {
        "z": FloatDistribution(1e-3, 1e3, log=True),
        "kind": CategoricalDistribution(("a", "b")),
    },
}
NEW_OPTIMUM = (0.8, 0.2)
"""Where the new task's synthetic objective peaks (algorithm alpha); its best value is 1."""

Objective = Callable[[Config], float]


def objective(optimum: tuple[float, float]) -> Objective:
    """Alpha peaks at ``optimum``; beta is a plateau below alpha's good region."""

    def score(config: Config) -> float:
        p = config.params
        if config.algorithm == "alpha":
            return 1.0 - (p["x"] - optimum[0]) ** 2 - (p["y"] - optimum[1]) ** 2
        return 0.6 - 0.05 * abs(math.log10(p["z"])) + (0.02 if p["kind"] == "a" else 0.0)

    return score


def pool(n: int = 60, seed: int = 0) -> list[Config]:
    rng = np.random.default_rng(seed)
    names = sorted(SPACES)
    return [random_config(names[i % 2], SPACES[names[i % 2]], rng) for i in range(n)]


def knowledge(tasks: Mapping[str, Objective], configs: list[Config]) -> KnowledgeBase:
    """A real in-memory knowledge base: each task scores every configuration."""
    kb = KnowledgeBase.in_memory()
    for i, (task_id, score) in enumerate(tasks.items()):
        kb.add_task(
            TaskRecord(task_id, task_id, "binary", "roc_auc", {"NumberOfInstances": 100.0 + i})
        )
        kb.add_evaluations(Evaluation(task_id, c, score(c), 0.1) for c in configs)
    return kb


def negated(score: Objective) -> Objective:
    return lambda config: -score(config)


# -- the ensemble's weights --------------------------------------------------------------------
def ensemble_of(tasks: Mapping[str, Objective]) -> tuple[ConfigEncoder, RankingWeightedEnsemble]:
    configs = pool()
    encoder = ConfigEncoder.from_spaces(SPACES, configs)
    scores = np.array([[score(c) for c in configs] for score in tasks.values()])
    return encoder, RankingWeightedEnsemble(encoder.transform(configs).X, scores, list(tasks))


def observations(n: int, seed: int = 1) -> list[Config]:
    rng = np.random.default_rng(seed)
    return [random_config("alpha" if i % 3 else "beta", SPACES["alpha" if i % 3 else "beta"], rng)
            for i in range(n)]  # fmt: skip


def test_the_task_that_ranks_the_new_trials_right_gets_the_weight() -> None:
    new = objective(NEW_OPTIMUM)
    tasks = {"copy": new, "opposite": negated(new), "elsewhere": objective((0.1, 0.9))}
    encoder, ensemble = ensemble_of(tasks)
    seen = observations(8)
    weights = ensemble.weights(
        encoder.transform(seen).X, np.array([new(c) for c in seen]), np.random.default_rng(0)
    )
    by_task = dict(zip(weights.task_ids, weights.base, strict=True))
    assert by_task["copy"] > 0.8
    assert by_task["opposite"] == 0.0
    assert weights.discarded[weights.task_ids.index("opposite")]
    assert math.isclose(weights.base.sum() + weights.target, 1.0)
    assert weights.top(1) == [("copy", by_task["copy"])]


def test_the_new_tasks_own_model_gains_weight_with_its_trials() -> None:
    new = objective(NEW_OPTIMUM)
    related = objective((0.6, 0.4))  # ranks roughly like the new task, not exactly
    encoder, ensemble = ensemble_of({"related": related, "elsewhere": objective((0.1, 0.9))})
    weights = []
    for n in (3, 20):
        seen = observations(n)
        X, y = encoder.transform(seen).X, np.array([new(c) for c in seen])
        weights.append(ensemble.weights(X, y, np.random.default_rng(0)))
    few, many = weights
    assert few.base[few.task_ids.index("related")] > 0.3  # knowledge leads at first
    assert many.target > 0.9 > few.target


# -- the sampler -------------------------------------------------------------------------------
def suggest(trial: optuna.trial.BaseTrial) -> Config:
    """The conditional space as autometa.search._space.suggest_config samples it."""
    name = trial.suggest_categorical("algorithm", sorted(SPACES))
    assert isinstance(name, str)
    params = {}
    for param, distribution in SPACES[name].items():
        if isinstance(distribution, CategoricalDistribution):
            params[param] = trial.suggest_categorical(f"{name}__{param}", distribution.choices)
        else:
            assert isinstance(distribution, FloatDistribution)
            params[param] = trial.suggest_float(
                f"{name}__{param}", distribution.low, distribution.high, log=distribution.log
            )
    return Config(name, params)


def run(
    sampler: optuna.samplers.BaseSampler,
    score: Objective,
    n_trials: int,
    *,
    enqueued: list[Config] = (),  # type: ignore[assignment]
    batch: int = 1,
) -> tuple[optuna.Study, list[Config]]:
    """Ask ``batch`` trials, suggest each, then tell them all: a fit's rounds."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for config in enqueued:
        study.enqueue_trial(config.to_trial_params())
    configs: list[Config] = []
    while len(configs) < n_trials:
        trials = [study.ask() for _ in range(min(batch, n_trials - len(configs)))]
        round_configs = [suggest(trial) for trial in trials]
        for trial, config in zip(trials, round_configs, strict=True):
            study.tell(trial, score(config))
        configs.extend(round_configs)
    return study, configs


@pytest.fixture(scope="module")
def earlier_tasks() -> KnowledgeBase:
    """Two tasks near the new one, one far, one opposite."""
    new = objective(NEW_OPTIMUM)
    return knowledge(
        {
            "near_a": objective((0.75, 0.25)),
            "near_b": objective((0.85, 0.12)),
            "far": objective((0.1, 0.9)),
            "opposite": negated(new),
        },
        pool(),
    )


def rgpe(kb: KnowledgeBase, seed: int, **options: Any) -> RGPESampler:
    return RGPESampler(SPACES, kb.score_table("binary"), random_state=seed, **options)


def test_proposals_beat_random_search_in_fewer_trials(earlier_tasks: KnowledgeBase) -> None:
    new = objective(NEW_OPTIMUM)
    regrets: dict[str, list[float]] = {"rgpe": [], "random": []}
    for seed in range(4):
        starts = observations(3, seed=100 + seed)
        samplers = {
            "rgpe": rgpe(earlier_tasks, seed),
            "random": optuna.samplers.RandomSampler(seed=seed),
        }
        for name, sampler in samplers.items():
            _, configs = run(sampler, new, 12, enqueued=starts)
            regrets[name].append(1.0 - max(new(c) for c in configs))
    assert np.mean(regrets["rgpe"]) < 0.02
    assert np.mean(regrets["rgpe"]) < np.mean(regrets["random"]) / 3, regrets


def test_seeded_sampler_is_deterministic_and_batches_never_repeat(
    earlier_tasks: KnowledgeBase,
) -> None:
    new = objective(NEW_OPTIMUM)
    starts = observations(3)
    first = run(rgpe(earlier_tasks, 7), new, 12, enqueued=starts, batch=3)
    second = run(rgpe(earlier_tasks, 7), new, 12, enqueued=starts, batch=3)
    assert [c.key for c in first[1]] == [c.key for c in second[1]]
    assert len({c.key for c in first[1]}) == 12, "a configuration was proposed twice"
    assert first[1][:3] == starts, "enqueued trials must keep their fixed parameters"
    proposed = [t for t in first[0].trials if PROPOSAL_ATTR in t.system_attrs]
    assert len(proposed) >= 6, "the ensemble, not the inner sampler, must propose"
    assert {t.system_attrs[PROPOSAL_ATTR]["top_tasks"][0][0] for t in proposed} <= {
        "near_a",
        "near_b",
    }


def test_trials_asked_together_get_distinct_configurations(earlier_tasks: KnowledgeBase) -> None:
    """Only the pool as candidates: every trial of a batch would want the same best one."""
    new = objective(NEW_OPTIMUM)
    study = optuna.create_study(
        direction="maximize", sampler=rgpe(earlier_tasks, 0, n_candidates=0)
    )
    for config in observations(3):
        study.enqueue_trial(config.to_trial_params())
    for _ in range(3):
        trial = study.ask()
        study.tell(trial, new(suggest(trial)))
    batch = [study.ask() for _ in range(4)]  # n_jobs=4: nothing told in between
    configs = [suggest(trial) for trial in batch]
    assert all(PROPOSAL_ATTR in study.trials[t.number].system_attrs for t in batch)
    assert len({c.key for c in configs}) == 4


def test_a_fixed_algorithm_is_respected_and_planned_within(earlier_tasks: KnowledgeBase) -> None:
    """An enqueued trial that fixes only ``algorithm`` (and a one-algorithm space)."""
    new = objective(NEW_OPTIMUM)
    starts = observations(3)
    study = optuna.create_study(direction="maximize", sampler=rgpe(earlier_tasks, 0))
    for config in starts:
        study.enqueue_trial(config.to_trial_params())
    study.enqueue_trial({"algorithm": "beta"})
    for _ in range(4):
        trial = study.ask()
        study.tell(trial, new(suggest(trial)))
    last = study.trials[-1]
    assert last.params["algorithm"] == "beta"
    assert PROPOSAL_ATTR in last.system_attrs  # the beta parameters came from a plan
    only_alpha = RGPESampler(
        {"alpha": SPACES["alpha"]}, earlier_tasks.score_table("binary"), random_state=0
    )
    study = optuna.create_study(direction="maximize", sampler=only_alpha)
    for _ in range(6):
        trial = study.ask()
        assert trial.suggest_categorical("algorithm", ["alpha"]) == "alpha"  # single-valued
        x = trial.suggest_float("alpha__x", 0.0, 1.0)
        y = trial.suggest_float("alpha__y", 0.0, 1.0)
        study.tell(trial, new(Config("alpha", {"x": x, "y": y})))
    assert PROPOSAL_ATTR in study.trials[-1].system_attrs


def test_without_knowledge_it_is_bayesian_optimisation_on_the_new_task() -> None:
    new = objective(NEW_OPTIMUM)
    study, configs = run(RGPESampler(SPACES, None, random_state=0), new, 10)
    assert PROPOSAL_ATTR in study.trials[-1].system_attrs
    assert study.trials[-1].system_attrs[PROPOSAL_ATTR]["target_weight"] == 1.0
    assert len({c.key for c in configs}) == len(configs)


def test_sampler_survives_pickling_and_keeps_proposing(earlier_tasks: KnowledgeBase) -> None:
    new = objective(NEW_OPTIMUM)
    study, _ = run(rgpe(earlier_tasks, 0), new, 5, enqueued=observations(3))
    restored = pickle.loads(pickle.dumps(study))
    trial = restored.ask()
    suggest(trial)
    assert PROPOSAL_ATTR in restored.trials[-1].system_attrs


# -- plumbing: names, plugin conformance -------------------------------------------------------
def test_unknown_sampler_name_lists_the_known_ones() -> None:
    plugins = build_plugin_manager()
    with pytest.raises(ValueError, match=r"'rgpf'.*'tpe'.*'cmaes_warm'.*'rgpe'"):
        make_sampler("rgpf", 0, plugins=plugins)
    with pytest.raises(ValueError, match="context"):
        make_sampler("rgpe", 0, plugins=plugins)


def sampler_plugin(factory: Callable[..., Any]) -> types.SimpleNamespace:
    namespace = types.SimpleNamespace(autometa_plugin_name="offers_bad")
    namespace.autometa_samplers = autometa.hookimpl(lambda: {"bad": factory})
    return namespace


class BeyondTheRange(optuna.samplers.RandomSampler):
    """Proposes numeric values above their distribution's upper bound."""

    def sample_independent(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        value = super().sample_independent(study, trial, param_name, param_distribution)
        if isinstance(param_distribution, FloatDistribution):
            return param_distribution.high * 10
        return value


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda context, random_state, n_jobs: "tpe", "built as str, expected"),
        (
            lambda context, random_state, n_jobs: optuna.samplers.RandomSampler(),
            "not deterministic",
        ),
        (
            lambda context, random_state, n_jobs: BeyondTheRange(seed=random_state),
            "outside the search space",
        ),
    ],
    ids=["not-a-sampler", "unseeded", "outside-the-space"],
)
def test_check_samplers_catches(factory: Callable[..., Any], match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        autometa.testing.check_samplers(
            sampler_plugin(factory), knowledge=KnowledgeBase.in_memory()
        )


def test_the_plugin_conforms() -> None:
    autometa.testing.check_plugin(autometa_multitask)
    with pytest.warns(UserWarning, match="cmaes_warm"):  # reference algorithms: one param each
        autometa.testing.check_samplers(autometa_multitask, n_trials=6)


# -- in real fits ------------------------------------------------------------------------------
def cancer() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = X.sample(150, random_state=0).index
    return X.loc[rows], y.loc[rows]


FIT_ALGORITHMS = ["linear", "naive_bayes", "knn"]


def rgpe_fit(path: Path, n_jobs: int) -> Any:
    X, y = cancer()
    return autometa.fit(
        X,
        y,
        n_trials=7,
        n_jobs=n_jobs,
        random_state=0,
        algorithms=FIT_ALGORITHMS,
        knowledge=KnowledgeBase.open(path, read_only=True),
        strategy=Strategy("nearest_tasks", 2, "rgpe", n_splits=3),
    )


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_fit_with_rgpe(tiny_knowledge: Path, n_jobs: int) -> None:
    model = rgpe_fit(tiny_knowledge, n_jobs)
    trials = model.study_.trials
    assert len(trials) == 7
    assert isinstance(model.study_.sampler, RGPESampler)
    warm = [Config.from_trial_params(t.params) for t in trials[:2]]
    assert warm == [r.config for r in model.recommendations_]
    proposed = [t for t in trials if PROPOSAL_ATTR in t.system_attrs]
    assert proposed, "after the startup trials the ensemble proposes"
    keys = [Config.from_trial_params(t.params).key for t in trials]
    for trial in proposed:
        assert keys.count(Config.from_trial_params(trial.params).key) == 1
    assert model.predict(cancer()[0]).shape == (150,)
    # A fitted model carries its study, and with it the sampler.
    assert isinstance(pickle.loads(pickle.dumps(model.study_)).sampler, RGPESampler)


def test_fit_with_rgpe_is_deterministic(tiny_knowledge: Path) -> None:
    first, second = rgpe_fit(tiny_knowledge, 1), rgpe_fit(tiny_knowledge, 1)
    assert [t.params for t in first.study_.trials] == [t.params for t in second.study_.trials]


# -- warm-started CMA-ES -----------------------------------------------------------------------
GOOD_SVM = (2.0, -2.0)
"""log10 of C and gamma_factor where the earlier tasks' svm scores peak."""


def svm_knowledge(n_configs: int) -> KnowledgeBase:
    """Earlier binary tasks that evaluated svm configurations (scores peak at GOOD_SVM)."""
    X, y = cancer()
    features = autometa.SearchSpace(X, y)  # the real space of this task
    space = features.algorithms["svm"].search_space(features.task)
    rng = np.random.default_rng(0)
    configs = [random_config("svm", space, rng) for _ in range(n_configs)]

    def score(config: Config) -> float:
        c, g = math.log10(config.params["C"]), math.log10(config.params["gamma_factor"])
        return 1.0 - 0.05 * ((c - GOOD_SVM[0]) ** 2 + (g - GOOD_SVM[1]) ** 2)

    kb = KnowledgeBase.in_memory()
    for i in range(3):  # each earlier task evaluated its own configurations
        kb.add_task(TaskRecord(f"earlier_{i}", "t", "binary", "roc_auc", {"NumberOfInstances": i}))
        kb.add_evaluations(Evaluation(f"earlier_{i}", c, score(c), 0.1) for c in configs[i::3])
    return kb


def unit(value: float, low: float, high: float) -> float:
    return (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))


def test_fit_with_warm_started_cmaes_starts_from_the_source_trials() -> None:
    X, y = cancer()
    model = autometa.fit(
        X,
        y,
        n_trials=6,
        random_state=0,
        algorithms=["svm", "linear"],
        knowledge=svm_knowledge(120),
        strategy=Strategy(None, 0, "cmaes_warm", n_splits=3),
    )
    sampler = model.study_.sampler
    assert isinstance(sampler, WarmStartedCmaEs)
    assert sampler.algorithm == "svm"
    # The state of Optuna's own sampler, not a flag of ours: it holds our source trials.
    assert sampler.cma._source_trials is sampler.source_trials
    assert len(sampler.source_trials) == 120
    assert {tuple(sorted(t.distributions)) for t in sampler.source_trials} == {
        ("svm__C", "svm__gamma_factor")
    }
    sampled = [t for t in model.study_.trials if any("generation" in k for k in t.system_attrs)]
    assert len(sampled) == 6
    assert {t.params["algorithm"] for t in sampled} == {"svm"}
    points = [
        (unit(t.params["svm__C"], 1e-2, 1e3), unit(t.params["svm__gamma_factor"], 1e-3, 1e2))
        for t in sampled
    ]
    good = (unit(10 ** GOOD_SVM[0], 1e-2, 1e3), unit(10 ** GOOD_SVM[1], 1e-3, 1e2))
    # Cold CMA-ES samples around the centre (0.5, 0.5), 0.42 away from (0.8, 0.2).
    assert math.dist(np.mean(points, axis=0), good) < 0.2, points


def test_cmaes_warm_falls_back_when_it_cannot_warm_start() -> None:
    X, y = cancer()
    space = autometa.SearchSpace(X, y)
    spaces = {name: a.search_space(space.task) for name, a in space.algorithms.items()}
    few = svm_knowledge(9)  # too few source trials to estimate a distribution
    plan = plan_warm_start(
        {"svm": spaces["svm"]}, few.score_table("binary"), few.tasks(), {"NumberOfInstances": 1}
    )
    assert plan.algorithm == "svm"
    assert len(plan.source_trials) < MIN_SOURCE_TRIALS
    sampler = WarmStartedCmaEs("svm", spaces["svm"], plan.source_trials, random_state=0)
    assert not sampler.warm_started
    best = max(plan.source_trials, key=lambda t: t.value)
    assert sampler.cma._source_trials == [best] * MIN_SOURCE_TRIALS  # starts at the best
    one_param = {"knn": spaces["knn"], "linear": spaces["linear"]}
    assert plan_warm_start(one_param, None, [], {}).algorithm is None
    with pytest.raises(ValueError, match="at least 2 numeric"):
        WarmStartedCmaEs("linear", spaces["linear"])


def test_cmaes_warm_leaves_enqueued_trials_of_other_algorithms_alone() -> None:
    X, y = cancer()
    space = autometa.SearchSpace(X, y, algorithms=["svm", "linear"])
    kb = svm_knowledge(60)
    plan = plan_warm_start(
        {"svm": space.algorithms["svm"].search_space(space.task)},
        kb.score_table("binary"),
        kb.tasks(),
        {"NumberOfInstances": 1.0},
    )
    sampler = WarmStartedCmaEs(
        "svm", space.algorithms["svm"].search_space(space.task), plan.source_trials,
        random_state=0,
    )  # fmt: skip
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for c in (0.1, 1.0, 10.0):
        study.enqueue_trial({"algorithm": "linear", "linear__C": c, "linear__pca": False})
    study.enqueue_trial({"algorithm": "linear"})  # the rest is sampled, but not by CMA-ES
    for _ in range(16):  # past CMA-ES's first generation (population 6 in two dimensions)
        trial = study.ask()
        config, _ = space.suggest(trial)
        study.tell(trial, -abs(math.log10(config.params["C"]) - 2.0))
    enqueued, sampled = study.trials[:4], study.trials[4:]
    assert [t.params["linear__C"] for t in enqueued[:3]] == [0.1, 1.0, 10.0]
    assert enqueued[3].params["algorithm"] == "linear"
    assert not any("generation" in key for t in enqueued for key in t.system_attrs)
    assert {t.params["algorithm"] for t in sampled} == {"svm"}
    assert max(t.system_attrs["cma:generation"] for t in sampled) >= 1
