"""The pipeline this project started from, working and tuned by autometa.

    python examples/sgd_pca_ovr.py [--timeout SECONDS] [--n-trials N]

Standardize, keep the principal components that explain 95% of the variance, then a
one-vs-rest linear classifier trained by stochastic gradient descent. Its published
form passed ``shared_params`` to ``SGDClassifier`` (which takes no such argument) and
loaded a dataset that does not exist; here it runs on scikit-learn's bundled
handwritten digits (1,797 images of 8x8 pixels, 10 classes, no download).

autometa tunes it as a *user algorithm*: an :class:`autometa.Algorithm` (a factory for
the unfitted pipeline plus its Optuna search space) offered by a small plugin object
passed to ``autometa.fit(..., plugins=[...])``, and ``algorithms=["sgd_pca_ovr"]`` keeps
the search to it. The knowledge base has never seen this algorithm, so its default is the
first warm start (docs/replay.md, "Algorithms without cells") and Optuna's sampler takes
it from there. The script reports held-out accuracy of the untuned pipeline
(scikit-learn's defaults) and of the tuned one.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import autometa
from autometa.contract import Task

VARIANCE_KEPT = 0.95
"""PCA keeps the fewest components that explain this share of the variance."""


def make_pipeline(params: Mapping[str, Any], task: Task) -> Pipeline:
    """Standardize -> PCA(95% variance) -> one-vs-rest SGD, for one set of ``params``."""
    sgd = SGDClassifier(
        loss=params["loss"],
        penalty=params["penalty"],
        alpha=params["alpha"],
        l1_ratio=params["l1_ratio"],
        max_iter=2000,
        random_state=task.random_state,
    )
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=VARIANCE_KEPT, svd_solver="full")),
            ("ovr", OneVsRestClassifier(sgd)),
        ]
    )


def search_space(task: Task) -> dict[str, BaseDistribution]:
    """What autometa tunes: the loss, the penalty and its strength.

    Both losses give ``predict_proba`` (autometa's classifiers keep it); ``l1_ratio``
    only matters for the elastic-net penalty.
    """
    return {
        "loss": CategoricalDistribution(["log_loss", "modified_huber"]),
        "penalty": CategoricalDistribution(["l2", "l1", "elasticnet"]),
        "alpha": FloatDistribution(1e-6, 1e-1, log=True),
        "l1_ratio": FloatDistribution(0.0, 1.0),
    }


SGD_PCA_OVR = autometa.Algorithm(
    name="sgd_pca_ovr",
    kinds=("binary", "multiclass"),
    make_estimator=make_pipeline,
    search_space=search_space,
    # scikit-learn's SGDClassifier defaults, with log loss so probabilities exist
    default_params={"loss": "log_loss", "penalty": "l2", "alpha": 1e-4, "l1_ratio": 0.15},
)


class SgdPcaOvrPlugin:
    """A plugin object: offers the pipeline for classification tasks."""

    @autometa.hookimpl
    def autometa_algorithms(self, task: Task) -> list[autometa.Algorithm]:
        return [SGD_PCA_OVR] if task.kind in SGD_PCA_OVR.kinds else []


def untuned_pipeline() -> Pipeline:
    """The original pipeline with scikit-learn's defaults (and no ``shared_params``)."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=VARIANCE_KEPT, svd_solver="full")),
            ("ovr", OneVsRestClassifier(SGDClassifier(random_state=0))),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--n-trials", type=int, default=40)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )

    baseline = untuned_pipeline().fit(X_train, y_train)
    components = baseline.named_steps["pca"].n_components_
    untuned = accuracy_score(y_test, baseline.predict(X_test))
    print(f"PCA keeps {components} of {X.shape[1]} components for 95% of the variance.")
    print(f"Untuned pipeline: held-out accuracy {untuned:.4f}")

    model = autometa.fit(
        X_train,
        y_train,
        plugins=[SgdPcaOvrPlugin()],
        algorithms=["sgd_pca_ovr"],
        scoring="accuracy",
        timeout=args.timeout,
        n_trials=args.n_trials,
        random_state=0,
    )
    tuned = accuracy_score(y_test, model.predict(X_test))
    print(
        f"Tuned by autometa: held-out accuracy {tuned:.4f} "
        f"({model.n_configs_} configurations, cross-validated accuracy {model.best_score_:.4f})"
    )
    print(f"Best configuration: {model.best_config_}")


if __name__ == "__main__":
    main()
