"""ConfigEncoder: configurations of a conditional space as fixed-length float vectors."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from autometa._plugins import build_plugin_manager
from autometa.contract import Config
from autometa.contract._encoding import INACTIVE, SINGLE_VALUE, ConfigEncoder, spaces_of
from autometa.search._space import suggest_config
from autometa.testing import small_tasks

SPACES = {
    "tree": {
        "depth": IntDistribution(1, 21),
        "criterion": CategoricalDistribution(("gini", "entropy")),
    },
    "linear": {
        "C": FloatDistribution(1e-3, 1e3, log=True),
        "ratio": FloatDistribution(0.0, 1.0),
        "power": CategoricalDistribution((1, 2)),
    },
}


def column(encoder: ConfigEncoder, row: np.ndarray, name: str) -> float:
    return float(row[encoder.columns.index(name)])


def test_columns_are_one_hot_algorithms_then_sorted_parameters() -> None:
    encoder = ConfigEncoder(SPACES)
    assert encoder.columns == (
        "algorithm=linear",
        "algorithm=tree",
        "linear__C",
        "linear__power=1",
        "linear__power=2",
        "linear__ratio",
        "tree__criterion='gini'",
        "tree__criterion='entropy'",
        "tree__depth",
    )
    reordered = ConfigEncoder({"tree": SPACES["tree"], "linear": SPACES["linear"]})
    assert reordered.columns == encoder.columns


def test_numeric_values_are_scaled_in_their_range_on_log_scale_when_log() -> None:
    encoder = ConfigEncoder(SPACES)
    row, issues = encoder.encode(Config("linear", {"C": 1.0, "ratio": 0.25, "power": 2}))
    assert issues == ()
    assert column(encoder, row, "linear__C") == pytest.approx(0.5)  # 1 is mid-way in log
    assert column(encoder, row, "linear__ratio") == pytest.approx(0.25)
    tree, _ = encoder.encode(Config("tree", {"depth": 11, "criterion": "gini"}))
    assert column(encoder, tree, "tree__depth") == pytest.approx(0.5)


def test_categorical_one_hot_and_inactive_parameters_hold_the_constant() -> None:
    encoder = ConfigEncoder(SPACES)
    row, _ = encoder.encode(Config("linear", {"C": 1.0, "ratio": 0.5, "power": 2}))
    assert column(encoder, row, "algorithm=linear") == 1.0
    assert column(encoder, row, "algorithm=tree") == 0.0
    assert column(encoder, row, "linear__power=1") == 0.0
    assert column(encoder, row, "linear__power=2") == 1.0
    for name in ("tree__depth", "tree__criterion='gini'", "tree__criterion='entropy'"):
        assert column(encoder, row, name) == INACTIVE
    assert not 0.0 <= INACTIVE <= 1.0


def test_values_outside_the_range_are_clipped_and_reported() -> None:
    encoder = ConfigEncoder(SPACES)
    high, issues = encoder.encode(Config("linear", {"C": 1e6, "ratio": 0.5, "power": 1}))
    assert column(encoder, high, "linear__C") == 1.0
    assert [(i.param, i.value, i.problem) for i in issues] == [("linear__C", 1e6, "clipped")]
    low, issues = encoder.encode(Config("linear", {"C": 1e-3, "ratio": -0.5, "power": 1}))
    assert column(encoder, low, "linear__ratio") == 0.0
    assert column(encoder, low, "linear__C") == 0.0  # the lower bound itself: no issue
    assert [i.param for i in issues] == ["linear__ratio"]


def test_invalid_missing_and_unexpected_parameters_are_reported() -> None:
    encoder = ConfigEncoder(SPACES)
    config = Config("linear", {"C": "big", "power": True, "extra": 3})
    row, issues = encoder.encode(config)
    assert {(i.param, i.problem) for i in issues} == {
        ("linear__C", "invalid"),  # not a number
        ("linear__power", "invalid"),  # True is not the choice 1
        ("linear__ratio", "missing"),
        ("linear__extra", "unexpected"),
    }
    for name in ("linear__C", "linear__ratio", "linear__power=1", "linear__power=2"):
        assert column(encoder, row, name) == INACTIVE
    same, issues = encoder.encode(Config("linear", {"C": 1.0, "ratio": 0.0, "power": 1.0}))
    assert issues == ()  # 1.0 is the choice 1
    assert column(encoder, same, "linear__power=1") == 1.0


def test_an_unknown_algorithm_is_an_error_naming_it() -> None:
    encoder = ConfigEncoder(SPACES)
    assert not encoder.covers(Config("svm", {}))
    with pytest.raises(ValueError, match=r"'svm'.*\['linear', 'tree'\]"):
        encoder.encode(Config("svm", {"C": 1.0}))


def test_from_spaces_widens_ranges_and_choices_to_the_training_configs() -> None:
    seen = [
        Config("tree", {"depth": 41, "criterion": "log_loss"}),
        Config("linear", {"C": 1e5, "ratio": 0.5, "power": 1}),
    ]
    narrow = ConfigEncoder(SPACES)
    assert not narrow.transform(seen).exact.any()
    wide = ConfigEncoder.from_spaces(SPACES, seen)
    encoded = wide.transform(seen)
    assert encoded.exact.all()
    assert wide.range_of("tree", "depth") == (1.0, 41.0, False)
    assert wide.range_of("linear", "C") == (1e-3, 1e5, True)
    assert "tree__criterion='log_loss'" in wide.columns
    # Points of the task's own space still lie inside [0, 1], without issues.
    row, issues = wide.encode(Config("tree", {"depth": 21, "criterion": "gini"}))
    assert issues == ()
    assert column(wide, row, "tree__depth") == pytest.approx(0.5)


def test_a_single_valued_parameter_encodes_as_the_middle() -> None:
    encoder = ConfigEncoder({"one": {"k": IntDistribution(3, 3)}})
    row, issues = encoder.encode(Config("one", {"k": 3}))
    assert issues == ()
    assert row.tolist() == [1.0, SINGLE_VALUE]


def test_every_point_of_the_shipped_catalogue_encodes_exactly() -> None:
    """The real algorithms' spaces: one active algorithm per row, values in [0, 1]."""
    task = small_tasks()["binary"]
    algorithms = build_plugin_manager().algorithms(task)
    encoder = ConfigEncoder(spaces_of(algorithms, task))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = [suggest_config(study.ask(), algorithms, task) for _ in range(60)]
    configs += [a.default_config for a in algorithms.values()]
    encoded = encoder.transform(configs)
    assert encoded.exact.all(), [i for i in encoded.issues if i]
    assert encoded.X.shape == (len(configs), encoder.n_columns)
    n_algorithms = len(encoder.algorithms)
    assert (encoded.X[:, :n_algorithms].sum(axis=1) == 1).all()
    values = encoded.X[:, n_algorithms:]
    inside = (values >= 0) & (values <= 1)
    assert (inside | (values == INACTIVE)).all()
    # Configurations of the same algorithm share exactly their active columns.
    for config, row in zip(configs, encoded.X, strict=True):
        active = {
            name
            for name, value in zip(encoder.columns, row, strict=True)
            if value != INACTIVE and not name.startswith("algorithm=")
        }
        assert {name.split("__")[0] for name in active} <= {config.algorithm}
        assert not math.isnan(row.sum())
