"""The candidate pool: every algorithm's default plus a space-filling sample of its space.

A dense knowledge base evaluates the same configurations on every task, so meta-learners
can compare tasks cell by cell. The pool is drawn once per task kind from a scrambled
Sobol sequence (scipy's quasi-Monte Carlo, the same generator behind Optuna's
QMCSampler), mapped through each Optuna distribution, so it covers the space evenly and
is fixed by its seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from scipy.stats import qmc

from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config


def from_unit(u: float, distribution: BaseDistribution) -> Any:
    """Map ``u`` in [0, 1) to a value of ``distribution`` (log scales respected)."""
    if isinstance(distribution, CategoricalDistribution):
        choices = distribution.choices
        # min(): a u just below 1 can round u * len up to len.
        return choices[min(int(u * len(choices)), len(choices) - 1)]
    if isinstance(distribution, (FloatDistribution, IntDistribution)):
        low, high = float(distribution.low), float(distribution.high)
        if distribution.log:
            value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        else:
            value = low + u * (high - low)
        # Snapped to the step grid counted from low, as Optuna counts it, so the value is one the
        # distribution contains; rounding (exp of logs, snapping) can land a hair outside the
        # range, hence the clamps.
        step = distribution.step
        if isinstance(distribution, IntDistribution):
            step = step or 1
            value = low + round((value - low) / step) * step
            return int(min(max(value, low), high))
        if step is not None:
            value = low + round((value - low) / step) * step
        return float(min(max(value, low), high))
    raise TypeError(f"Unsupported distribution {distribution!r}")


def space_filling_configs(
    algorithm: Algorithm, task: Task, n: int, random_state: int
) -> list[Config]:
    """``n`` distinct configurations of ``algorithm`` from a scrambled Sobol sequence.

    Fewer come back when the space has fewer distinct points (a small categorical
    space); the default is not included (see :func:`make_pool`).
    """
    space = algorithm.search_space(task)
    if not space or n <= 0:
        return []
    names = sorted(space)
    sampler = qmc.Sobol(d=len(names), scramble=True, seed=random_state)
    # Draw a power of two (Sobol's balance property) with room for duplicates.
    points = sampler.random(2 ** math.ceil(math.log2(max(4 * n, 2))))
    # A dict as an ordered set: duplicates (a small categorical space) drop out, draw order stays.
    configs: dict[Config, None] = {}
    default = algorithm.default_config
    for point in points:
        config = Config(
            algorithm.name,
            {p: from_unit(float(u), space[p]) for p, u in zip(names, point, strict=True)},
        )
        if config != default:
            configs.setdefault(config)
        if len(configs) == n:
            break
    return list(configs)


def make_pool(
    algorithms: Mapping[str, Algorithm], task: Task, size: int, random_state: int
) -> list[Config]:
    """At least ``size`` configurations: each default, then Sobol points split evenly.

    Algorithms whose space is small get fewer points; the remainder goes to the others.
    The order (defaults first, then algorithms by name) is part of the pool's identity.
    """
    names = sorted(algorithms)
    pool: list[Config] = [algorithms[name].default_config for name in names]
    remaining = max(size - len(pool), 0)
    shares = _split(remaining, len(names))
    drawn: dict[str, list[Config]] = {}
    for offset, name in enumerate(names):
        # Each algorithm its own scramble, fixed by random_state and its place among the names.
        seed = random_state + 1000 * offset
        drawn[name] = space_filling_configs(algorithms[name], task, shares[offset], seed)
    shortfall = remaining - sum(len(v) for v in drawn.values())
    for offset, name in enumerate(names):
        if shortfall <= 0:
            break
        # Same seed, more points: a scrambled Sobol sequence repeats its prefix, so the earlier
        # draws come back unchanged and only new ones are added.
        extra = space_filling_configs(
            algorithms[name], task, len(drawn[name]) + shortfall, random_state + 1000 * offset
        )
        gained = len(extra) - len(drawn[name])
        if gained > 0:
            drawn[name], shortfall = extra, shortfall - gained
    for name in names:
        pool.extend(drawn[name])
    return pool


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, max(parts, 1))
    return [base + (1 if i < extra else 0) for i in range(parts)]


def pool_summary(pool: Sequence[Config]) -> dict[str, int]:
    """How many configurations each algorithm has in ``pool``."""
    counts: dict[str, int] = {}
    for config in pool:
        counts[config.algorithm] = counts.get(config.algorithm, 0) + 1
    return dict(sorted(counts.items()))
