"""Quickstart: tune a model on a dataset scikit-learn ships, warm-started from earlier tasks.

    python examples/quickstart.py [--timeout SECONDS] [--n-trials N]

The shipped knowledge base supplies the warm starts; the explanation printed at the end
says which earlier tasks they came from and how each one scored here.
"""

from __future__ import annotations

import argparse

from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import autometa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default: 30)")
    parser.add_argument(
        "--n-trials", type=int, default=None, help="stop after this many trials (default: none)"
    )
    args = parser.parse_args()

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    model = autometa.fit(
        X_train, y_train, timeout=args.timeout, n_trials=args.n_trials, random_state=0
    )
    print(model.explain())
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    print(f"\nTest ROC AUC: {auc:.4f} ({model.n_configs_} configurations tried)")


if __name__ == "__main__":
    main()
