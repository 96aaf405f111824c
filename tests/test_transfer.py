"""Transfer between a user's own Optuna studies (autometa.study_transfer), any objective.

The toy family: minimise ``sum((x - centre(t))**2)`` over ``x`` in [-10, 10]^3, where the
optimum ``centre(t)`` drifts with a scalar task descriptor ``t``. Three earlier studies
(t = 0.1, 0.5, 0.9; 30 TPE trials each) live in one real SQLite file; the new task has
t = 0.55, nearest to the study of t = 0.5.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.datasets import load_breast_cancer, load_iris, load_wine

import autometa
from autometa.study_transfer import (
    DESCRIPTORS_ATTR,
    TRANSFER_ATTR,
    TransferWarning,
    cma_source_trials,
    describe_study,
    rank_studies,
    study_descriptors,
    transfer,
)

SPACE: dict[str, BaseDistribution] = {f"x{i}": FloatDistribution(-10.0, 10.0) for i in range(3)}
EARLIER_T = (0.1, 0.5, 0.9)
NEW_T = 0.55
TARGET = 2.0
"""A value the new task's optimum region has (f <= 2): cold TPE needs tens of trials."""
SEEDS = range(9)
EXAMPLE = Path(__file__).parent.parent / "examples" / "warm_start_optuna.py"


def centre(t: float) -> np.ndarray:
    return np.array([10 * t - 5, 5 - 8 * t, 6 * t - 3])


def objective_for(t: float, sign: float = 1.0) -> Callable[[optuna.Trial], float]:
    """The toy objective of task ``t`` (``sign=-1``: the same, to maximise)."""
    optimum = centre(t)

    def objective(trial: optuna.Trial) -> float:
        x = np.array([trial.suggest_float(name, -10.0, 10.0) for name in SPACE])
        return sign * float(((x - optimum) ** 2).sum())

    return objective


def earlier_study(t: float, seed: int, name: str | None = None, sign: float = 1.0) -> optuna.Study:
    """An in-memory study of task ``t``, described, with 30 TPE trials."""
    study = optuna.create_study(
        study_name=name or f"task-{t}",
        direction="minimize" if sign > 0 else "maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    describe_study(study, {"t": t})
    study.optimize(objective_for(t, sign), n_trials=30)
    return study


@pytest.fixture(scope="module")
def quiet_optuna() -> Any:
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(previous)


@pytest.fixture(scope="module")
def earlier_db(tmp_path_factory: pytest.TempPathFactory, quiet_optuna: Any) -> Path:
    """One SQLite file holding the three earlier studies (optimised in memory, then
    copied in with ``add_trials``: one optimisation straight into SQLite is 3x slower)."""
    path = tmp_path_factory.mktemp("earlier") / "studies.db"
    url = f"sqlite:///{path}"
    for seed, t in enumerate(EARLIER_T):
        source = earlier_study(t, seed)
        stored = optuna.create_study(storage=url, study_name=source.study_name)
        stored.set_user_attr(DESCRIPTORS_ATTR, source.user_attrs[DESCRIPTORS_ATTR])
        stored.add_trials(source.trials)
    return path


@pytest.fixture
def db(earlier_db: Path, tmp_path: Path) -> str:
    """A private copy of the earlier studies' file, for tests that add studies to it."""
    copy = tmp_path / "studies.db"
    shutil.copyfile(earlier_db, copy)
    return f"sqlite:///{copy}"


def trials_to_target(study: optuna.Study, objective: Callable[[optuna.Trial], float]) -> int:
    """How many trials ``study`` needs to reach :data:`TARGET` (stops there; 999 if never)."""

    def stop_at_target(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.value is not None and trial.value <= TARGET:
            study.stop()

    study.optimize(objective, n_trials=150, callbacks=[stop_at_target])
    hits = [t.number + 1 for t in study.trials if t.value is not None and t.value <= TARGET]
    return min(hits, default=999)


def snapshot(url: str) -> dict[str, Any]:
    """Everything stored about every study of ``url``, to compare before and after."""
    state = {}
    storage = optuna.storages.RDBStorage(url)
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        study_id = storage.get_study_id_from_name(summary.study_name)
        state[summary.study_name] = (
            study.directions,
            study.user_attrs,
            storage.get_study_system_attrs(study_id),
            [
                (
                    t.number,
                    t.state,
                    t.params,
                    t.distributions,
                    t.values,
                    t.user_attrs,
                    t.system_attrs,
                    t.datetime_start,
                    t.datetime_complete,
                )
                for t in study.get_trials()
            ],
        )
    return state


# -- transfer helps --------------------------------------------------------------------
def test_transferred_tpe_reaches_the_target_in_fewer_trials_than_cold(earlier_db: Path) -> None:
    """Catches: no transfer, the farthest or worst trials transferred, a broken ranking."""
    url = f"sqlite:///{earlier_db}"
    objective = objective_for(NEW_T)
    cold, warm = [], []
    for seed in SEEDS:
        cold_study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        cold.append(trials_to_target(cold_study, objective))
        warm_study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        enqueued = transfer(warm_study, {"t": NEW_T}, storage=url, n=10, distributions=SPACE)
        assert len(enqueued) == 10
        warm.append(trials_to_target(warm_study, objective))
    print(f"trials to reach {TARGET}: cold {sorted(cold)}, transferred {sorted(warm)}")
    assert statistics.median(warm) * 4 <= statistics.median(cold)
    assert max(warm) < statistics.median(cold)


def test_enqueued_trials_come_from_the_nearest_studies_best_first(earlier_db: Path) -> None:
    url = f"sqlite:///{earlier_db}"
    ranked = rank_studies({"t": NEW_T}, storage=url)
    assert [r.name for r in ranked] == ["task-0.5", "task-0.9", "task-0.1"]
    assert ranked[0].distance < ranked[1].distance < ranked[2].distance
    assert ranked[0].shared == ("t",)

    study = optuna.create_study()
    enqueued = transfer(study, {"t": NEW_T}, storage=url, n=10)
    nearest = ranked[0].study
    assert enqueued[0].source_study == "task-0.5"
    assert enqueued[0].source_trial == nearest.best_trial.number
    assert enqueued[0].source_value == nearest.best_value
    from_nearest = [e for e in enqueued if e.source_study == "task-0.5"]
    assert len(from_nearest) > len(enqueued) / 2  # the nearest study gives most trials
    values = [e.source_value for e in from_nearest]
    assert values == sorted(values)  # best first (minimised)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [e.params for e in enqueued]
    first = waiting[0].user_attrs[TRANSFER_ATTR]
    assert first["source_study"] == "task-0.5"
    assert first["distance"] == pytest.approx(ranked[0].distance)
    assert "from 'task-0.5' trial" in str(enqueued[0])


def test_warm_started_cma_es_reaches_the_target_in_fewer_trials(earlier_db: Path) -> None:
    """Catches: source trials of the wrong study, or values of the wrong sign (CMA-ES would
    start from the worst 10%)."""
    url = f"sqlite:///{earlier_db}"
    source = cma_source_trials(
        optuna.create_study(), {"t": NEW_T}, storage=url, distributions=SPACE
    )
    assert source is not None
    assert len(source) == 30  # the nearest study's trials, all inside the space
    assert {t.user_attrs[TRANSFER_ATTR]["source_study"] for t in source} == {"task-0.5"}
    objective = objective_for(NEW_T)
    cold, warm = [], []
    for seed in SEEDS:
        cold_sampler = optuna.samplers.CmaEsSampler(seed=seed)
        cold.append(trials_to_target(optuna.create_study(sampler=cold_sampler), objective))
        warm_sampler = optuna.samplers.CmaEsSampler(seed=seed, source_trials=source)
        warm.append(trials_to_target(optuna.create_study(sampler=warm_sampler), objective))
    print(f"CMA-ES trials to reach {TARGET}: cold {sorted(cold)}, warm {sorted(warm)}")
    assert statistics.median(warm) * 1.5 <= statistics.median(cold)


# -- descriptors -----------------------------------------------------------------------
def test_distance_standardizes_descriptors_and_ignores_missing_ones() -> None:
    """A descriptor with big units must not drown a small one; NaN and missing keys are
    left out; a study sharing no descriptor is skipped with a warning."""

    def described(name: str, descriptors: Mapping[str, Any]) -> optuna.Study:
        study = optuna.create_study(study_name=name)
        describe_study(study, descriptors)
        return study

    sources = [
        # 300 rows off, where rows range over thousands: near once standardized.
        described("rows-off", {"rows": 1300.0, "noise": 0.1}),
        # 0.8 off in noise, which ranges over [0.1, 0.9]: far, though 0.8 < 300.
        described("noise-off", {"rows": 1000.0, "noise": 0.9}),
        described("big", {"rows": 20000.0, "noise": 0.5}),
        described("unknown-noise", {"rows": 1000.0, "noise": float("nan")}),
        described("other-names", {"temperature": 3.0}),
    ]
    with pytest.warns(TransferWarning, match=r"'other-names': shares no finite descriptor"):
        ranked = rank_studies({"rows": 1000.0, "noise": 0.1}, sources=sources)
    assert [r.name for r in ranked] == ["unknown-noise", "rows-off", "noise-off", "big"]
    assert ranked[0].distance == 0.0
    assert ranked[0].shared == ("rows",)
    assert ranked[1].shared == ("noise", "rows")
    assert sources[3].user_attrs[DESCRIPTORS_ATTR] == {"rows": 1000.0, "noise": None}


def test_meta_features_of_the_data_describe_a_study() -> None:
    """describe_study(X=, y=) stores autometa's meta-features; the same data is nearest."""
    studies = {}
    for name, loader in [("iris", load_iris), ("wine", load_wine)]:
        X, y = loader(return_X_y=True, as_frame=True)
        studies[name] = optuna.create_study(study_name=name)
        stored = describe_study(studies[name], X=X, y=y)
        assert "NumberOfInstances" in stored
        assert all(v is None or np.isfinite(v) for v in stored.values())
    X, y = load_iris(return_X_y=True, as_frame=True)
    new = optuna.create_study()
    describe_study(new, {"my_setting": 1.0}, X=X.iloc[::2], y=y.iloc[::2])
    ranked = rank_studies(study_descriptors(new), sources=studies.values())
    assert [r.name for r in ranked] == ["iris", "wine"]

    fitted = optuna.create_study()  # what autometa.fit(storage=...) leaves on its study
    fitted.set_user_attr("autometa_meta_features", {"a": 1.0, "b": None})
    fitted.set_user_attr(DESCRIPTORS_ATTR, {"a": 2.0})
    assert study_descriptors(fitted) == {"a": 2.0, "b": pytest.approx(float("nan"), nan_ok=True)}


@pytest.mark.parametrize(
    ("descriptors", "match"),
    [
        ({"size": "large"}, r"Descriptor 'size' is 'large'; descriptors are numbers"),
        ({"flag": True}, r"Descriptor 'flag' is True"),
        ({}, "Nothing to describe the study with"),
    ],
)
def test_bad_descriptors_are_refused_and_nothing_is_stored(
    descriptors: dict[str, Any], match: str
) -> None:
    study = optuna.create_study()
    with pytest.raises(ValueError, match=match):
        describe_study(study, descriptors)
    assert study.user_attrs == {}


# -- bad input ---------------------------------------------------------------------------
def test_studies_without_descriptors_are_skipped_with_a_warning(db: str) -> None:
    bare = optuna.create_study(storage=db, study_name="undescribed")
    bare.add_trial(
        optuna.trial.create_trial(params={"x0": 0.0}, distributions={"x0": SPACE["x0"]}, value=1.0)
    )
    with pytest.warns(TransferWarning, match=r"'undescribed': no descriptors; call autometa"):
        enqueued = transfer(optuna.create_study(), {"t": NEW_T}, storage=db, n=4)
    assert len(enqueued) == 4
    assert "undescribed" not in {e.source_study for e in enqueued}

    new = optuna.create_study()
    with pytest.raises(ValueError, match="has no descriptors: pass descriptors="):
        transfer(new, storage=db)
    assert new.trials == []


def _one_trial_source(
    name: str, params: dict[str, Any], distributions: dict[str, BaseDistribution]
) -> optuna.Study:
    study = optuna.create_study(study_name=name)
    describe_study(study, {"t": 0.5})
    study.add_trial(
        optuna.trial.create_trial(params=params, distributions=distributions, value=0.0)
    )
    return study


@pytest.mark.parametrize(
    ("params", "sampled_from", "new_space", "why"),
    [
        (
            {"x": 3},
            {"x": IntDistribution(0, 10)},
            {"x": FloatDistribution(0.0, 10.0)},
            r"parameter 'x' was sampled from IntDistribution.*: incompatible types",
        ),
        (
            {"x": 15.0},
            {"x": FloatDistribution(-20.0, 20.0)},
            {"x": FloatDistribution(-10.0, 10.0)},
            r"parameter 'x' = 15.0 is outside the new space's FloatDistribution",
        ),
        (
            {"x": 3},
            {"x": IntDistribution(1, 9)},
            {"x": IntDistribution(0, 10, step=2)},
            r"parameter 'x' = 3 is outside",
        ),
        (
            {"x": 0.25},
            {"x": FloatDistribution(0.0, 1.0)},
            {"x": FloatDistribution(0.0, 1.0, step=0.1)},
            r"parameter 'x' = 0.25 is outside",
        ),
        (
            {"kind": "b"},
            {"kind": CategoricalDistribution(["a", "b"])},
            {"kind": CategoricalDistribution(["a"])},
            r"parameter 'kind' = 'b' is outside",
        ),
        (
            {"flag": True},
            {"flag": CategoricalDistribution([True, False])},
            {"flag": CategoricalDistribution([1, 0])},
            r"parameter 'flag' = True is outside",
        ),
        (
            {"z": 1.0},
            {"z": FloatDistribution(0.0, 2.0)},
            {"x": FloatDistribution(0.0, 2.0)},
            r"parameter 'z' is not in the new search space",
        ),
    ],
)
def test_trials_that_do_not_fit_the_new_space_are_skipped_naming_the_parameter(
    params: dict[str, Any],
    sampled_from: dict[str, BaseDistribution],
    new_space: dict[str, BaseDistribution],
    why: str,
) -> None:
    misfit = _one_trial_source("misfit", params, sampled_from)
    name, distribution = next(iter(new_space.items()))
    assert isinstance(distribution, (FloatDistribution, IntDistribution, CategoricalDistribution))
    fitting_value = (
        distribution.choices[0]
        if isinstance(distribution, CategoricalDistribution)
        else distribution.low
    )
    fits = _one_trial_source("fits", {name: fitting_value}, dict(new_space))
    study = optuna.create_study()
    with pytest.warns(TransferWarning, match=f"study 'misfit' trial 0: {why}"):
        enqueued = transfer(study, {"t": 0.5}, sources=[misfit, fits], distributions=new_space, n=5)
    assert [e.source_study for e in enqueued] == ["fits"]
    assert [t.system_attrs["fixed_params"] for t in study.trials] == [{name: fitting_value}]


def test_the_same_kind_with_values_inside_is_transferred() -> None:
    source = _one_trial_source(
        "wider",
        {"x": 4, "c": "a"},
        {"x": IntDistribution(0, 100), "c": CategoricalDistribution(["a", "b"])},
    )
    new_space = {"x": IntDistribution(0, 10, step=2), "c": CategoricalDistribution(["b", "a"])}
    with warnings.catch_warnings():
        warnings.simplefilter("error", TransferWarning)
        enqueued = transfer(
            optuna.create_study(), {"t": 0.5}, sources=[source], distributions=new_space
        )
    assert [e.params for e in enqueued] == [{"x": 4, "c": "a"}]


def test_a_study_with_another_search_space_is_refused_before_enqueueing() -> None:
    study = optuna.create_study(study_name="mine")
    study.optimize(objective_for(NEW_T), n_trials=2)
    source = earlier_study(0.5, seed=0)
    other = {**SPACE, "x0": CategoricalDistribution([-1.0, 1.0])}
    with pytest.raises(ValueError, match=r"Study 'mine' already has trials of another search"):
        transfer(study, {"t": NEW_T}, sources=[source], distributions=other)
    with pytest.raises(ValueError, match=r"its trials sample 'x1', which distributions= lacks"):
        transfer(study, {"t": NEW_T}, sources=[source], distributions={"x0": SPACE["x0"]})
    assert len(study.trials) == 2
    # Without distributions=, the study's own trials give the space: the source fits it.
    assert len(transfer(study, {"t": NEW_T}, sources=[source], n=3)) == 3


@pytest.mark.parametrize(
    ("storage", "shown"),
    [
        ("postgresql://me:secret@127.0.0.1:1/x", "postgresql://me:***@127.0.0.1:1/x"),
        ("sqlite:///{tmp}/nothing-here.db", "does not exist: there are no earlier studies"),
        ("not a url", "is not a database URL"),
    ],
)
def test_an_unreachable_storage_fails_fast_and_creates_nothing(
    tmp_path: Path, storage: str, shown: str
) -> None:
    storage = storage.format(tmp=tmp_path)
    study = optuna.create_study()
    started = time.monotonic()
    with pytest.raises(ValueError, match="storage") as error:
        transfer(study, {"t": 0.5}, storage=storage)
    assert time.monotonic() - started < 5
    assert shown in str(error.value)
    assert "secret" not in str(error.value)
    assert not (tmp_path / "nothing-here.db").exists()
    assert study.trials == []


def test_where_to_find_earlier_studies_must_be_said_once() -> None:
    with pytest.raises(ValueError, match="Say where the earlier studies are"):
        transfer(optuna.create_study(), {"t": 0.5})
    with pytest.raises(ValueError, match="Say where the earlier studies are"):
        transfer(optuna.create_study(), {"t": 0.5}, storage="sqlite://", sources=[])


def test_warm_start_refuses_a_study_that_minimises() -> None:
    """autometa's recommendations are greater-is-better scores; a minimising study would
    take the worst for the best."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    study = optuna.create_study(direction="minimize")
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"has direction minimize.*scoring='neg_log_loss'") as e:
        autometa.warm_start(study, X, y, n=3, scoring="neg_log_loss")
    assert time.monotonic() - started < 2  # refused before recommending anything
    assert "direction='maximize'" in str(e.value)
    assert study.trials == []
    two = optuna.create_study(directions=["maximize", "minimize"])
    with pytest.raises(ValueError, match="direction maximize, minimize"):
        autometa.warm_start(two, X, y, n=3)
    with pytest.raises(ValueError, match="has 2 objectives"):
        transfer(two, {"t": 0.5}, sources=[])


def test_sources_optimised_the_other_way_keep_their_own_best(quiet_optuna: Any) -> None:
    """A study maximising -f: its best is its highest value; CMA-ES gets the values
    negated, so that its best 10% are still the best points."""
    flipped = earlier_study(0.5, seed=0, name="maximised", sign=-1.0)
    new = optuna.create_study(direction="minimize")
    with pytest.warns(TransferWarning, match=r"(?s)optimised the other way.*'maximised'"):
        enqueued = transfer(new, {"t": NEW_T}, sources=[flipped], n=3)
    assert enqueued[0].source_trial == flipped.best_trial.number
    values = [float(t.value or 0.0) for t in flipped.trials]
    assert enqueued[0].source_value == max(values)
    with pytest.warns(TransferWarning, match="optimised the other way"):
        source = cma_source_trials(new, {"t": NEW_T}, sources=[flipped], distributions=SPACE)
    assert source is not None
    assert sorted(float(t.value or 0.0) for t in source) == sorted(-v for v in values)


def test_cma_es_falls_back_with_a_warning_when_it_cannot_be_warm_started(
    earlier_db: Path,
) -> None:
    url = f"sqlite:///{earlier_db}"
    mixed = {**SPACE, "kind": CategoricalDistribution(["a", "b"])}
    with pytest.warns(TransferWarning, match=r"\['kind'\] are categorical.*autometa.transfer"):
        assert (
            cma_source_trials(optuna.create_study(), {"t": 0.5}, storage=url, distributions=mixed)
            is None
        )
    narrow = {name: FloatDistribution(-0.5, 0.5) for name in SPACE}  # few trials inside
    with pytest.warns(TransferWarning) as caught:
        assert (
            cma_source_trials(optuna.create_study(), {"t": 0.5}, storage=url, distributions=narrow)
            is None
        )
    messages = "\n".join(str(w.message) for w in caught)
    assert "is outside the new space's FloatDistribution" in messages
    assert "warm-starting CMA-ES needs at least 10" in messages


# -- earlier studies and the new one ----------------------------------------------------
def test_earlier_studies_are_unchanged_and_the_new_one_only_gets_enqueued_trials(
    db: str,
) -> None:
    new = optuna.create_study(storage=db, study_name="new-task")
    describe_study(new, {"t": NEW_T})
    new.optimize(objective_for(NEW_T), n_trials=1)  # described and begun: distance 0 to itself
    before = snapshot(db)
    enqueued = transfer(new, storage=db, n=6, distributions=SPACE)
    source = cma_source_trials(new, storage=db, distributions=SPACE)
    rank_studies({"t": NEW_T}, storage=db)
    after = snapshot(db)
    assert {k: v for k, v in after.items() if k != "new-task"} == {
        k: v for k, v in before.items() if k != "new-task"
    }
    # The new study is no source of itself.
    assert len(enqueued) == 6
    assert "new-task" not in {e.source_study for e in enqueued}
    assert source is not None
    assert {t.user_attrs[TRANSFER_ATTR]["source_study"] for t in source} == {"task-0.5"}
    directions, user_attrs, system_attrs, trials = after["new-task"]
    assert (directions, user_attrs, system_attrs) == before["new-task"][:3]
    assert trials[:1] == before["new-task"][3]
    assert [t[1] for t in trials[1:]] == [optuna.trial.TrialState.WAITING] * 6
    assert all(TRANSFER_ATTR in t[5] for t in trials[1:])
    # A second identical call enqueues nothing: the chosen trials are already there.
    assert transfer(new, storage=db, n=6, distributions=SPACE) == []
    assert len(new.trials) == 7


def test_the_public_names_are_the_functions() -> None:
    """``autometa.transfer`` must stay the function (a submodule named ``transfer`` would
    replace it on the package once imported)."""
    assert autometa.describe_study is describe_study
    assert autometa.transfer is transfer
    assert autometa.cma_source_trials is cma_source_trials
    assert autometa.TransferWarning is TransferWarning


@pytest.mark.slow
def test_the_example_runs_from_a_clone() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "warm start  " in out
    assert "roc_auc" in out
    assert "transferred 5 trials from the nearest earlier study" in out
    costs = out.split("best after 15 trials: transferred ")[1].split(", cold ")
    assert float(costs[0]) < float(costs[1].split()[0])
