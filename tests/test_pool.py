"""The candidate pool: defaults first, space-filling, inside the space, fixed by a seed."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from autometa.contract import Algorithm, Task, from_unit, make_pool, space_filling_configs
from autometa.search._space import config_in_space


def algorithm(name: str, space: dict) -> Algorithm:  # type: ignore[type-arg]
    defaults = {
        k: (d.choices[0] if isinstance(d, CategoricalDistribution) else d.low)
        for k, d in space.items()
    }
    return Algorithm(name, ("regression",), lambda p, t: None, lambda t: space, defaults)  # type: ignore[arg-type,return-value]


WIDE = algorithm(
    "wide",
    {
        "alpha": FloatDistribution(1e-4, 1e2, log=True),
        "depth": IntDistribution(1, 64, log=True),
        "kind": CategoricalDistribution(["a", "b", "c"]),
    },
)
TINY = algorithm("tiny", {"flag": CategoricalDistribution([True, False])})


def task() -> Task:
    rng = np.random.default_rng(0)
    return Task.from_data(rng.normal(size=(40, 2)), rng.normal(size=40), kind="regression")


def test_from_unit_respects_log_scale_and_bounds() -> None:
    log = FloatDistribution(1e-4, 1.0, log=True)
    assert from_unit(0.5, log) == pytest.approx(1e-2, rel=1e-9)
    assert from_unit(0.0, IntDistribution(2, 10)) == 2
    assert from_unit(0.9999, IntDistribution(2, 10)) == 10
    assert from_unit(0.5, CategoricalDistribution(["x", "y"])) == "y"


def test_space_filling_covers_the_log_range_evenly() -> None:
    configs = space_filling_configs(WIDE, task(), 64, random_state=0)
    assert len(configs) == 64 == len(set(configs))
    logs = np.log10([c.params["alpha"] for c in configs])
    # a uniform cover of [-4, 2] in log space: every unit interval gets its share
    counts, _ = np.histogram(logs, bins=6, range=(-4, 2))
    assert counts.min() >= 7, counts


def test_pool_has_defaults_first_fills_small_spaces_and_is_seeded() -> None:
    algorithms = {"wide": WIDE, "tiny": TINY}
    pool = make_pool(algorithms, task(), 50, random_state=3)
    assert pool[:2] == [TINY.default_config, WIDE.default_config]
    assert len(pool) == 50 == len(set(pool))
    assert sum(c.algorithm == "tiny" for c in pool) == 2  # the whole tiny space, no more
    assert all(config_in_space(c, algorithms, task()) for c in pool)
    assert make_pool(algorithms, task(), 50, random_state=3) == pool
    assert make_pool(algorithms, task(), 50, random_state=4) != pool
