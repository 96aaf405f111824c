"""``naive_bayes``: Gaussian naive Bayes (classification only).

Its predictions do not depend on feature scales, except through ``var_smoothing``,
which adds a share of the *largest* feature variance to every variance: features are
standardised so that this share means the same on every task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline

from autometa.contract import Algorithm, Task

from .assembly import CLASSIFICATION, build_pipeline, check_kind, resolve_params
from .preprocessing import make_preprocessor
from .spaces import Space, log_float

NAIVE_BAYES_DEFAULTS: dict[str, Any] = {"var_smoothing": 1e-9}


def naive_bayes_space(task: Task) -> Space:
    return {"var_smoothing": log_float(1e-12, 1.0)}


def make_naive_bayes(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("naive_bayes", task, CLASSIFICATION)
    p = resolve_params("naive_bayes", params, NAIVE_BAYES_DEFAULTS)
    model = GaussianNB(var_smoothing=p["var_smoothing"])
    return build_pipeline(make_preprocessor(task, scale=True), model)


NAIVE_BAYES = Algorithm(
    name="naive_bayes",
    kinds=CLASSIFICATION,
    make_estimator=make_naive_bayes,
    search_space=naive_bayes_space,
    default_params=dict(NAIVE_BAYES_DEFAULTS),
)
