"""How long one libsvm call can run, with the row-scaled iteration cap and without.

A trial's time limit cannot interrupt a libsvm call (C code), so the longest call is how
far a fit with ``n_jobs=1`` can run past its timeout when a bad C/gamma pair is tried
late. This fits the ``svm`` plugin's SVR, as a search builds it, with C=1000 and
epsilon=0.001 (a pair that does not converge) on synthetic tables of growing size, once
with the cap the plugin sets (:func:`autometa_sklearn.svm.svm_max_iter`) and once with
the fixed cap it had before (:data:`autometa_sklearn.svm.SVM_MAX_ITER` at every size)::

    OMP_NUM_THREADS=1 python examples/benchmark_svm_call_time.py
"""

from __future__ import annotations

import time
import warnings

import pandas as pd
from sklearn.datasets import make_friedman1

from autometa import Task
from autometa_sklearn.svm import SVM_MAX_ITER, SVM_REGRESSOR

ROWS = (2_000, 5_000, 10_000)
HARD_PAIR = {"C": 1000.0, "gamma_factor": 1.0, "epsilon": 0.001}


def seconds_of_one_fit(n_rows: int, fixed_cap: bool) -> tuple[float, int]:
    """Seconds and libsvm iterations of one SVR fit on ``n_rows`` rows."""
    X, y = make_friedman1(n_samples=n_rows, n_features=8, noise=1.0, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    task = Task.from_data(frame, y, kind="regression", random_state=0)
    pipeline = SVM_REGRESSOR.make_estimator(HARD_PAIR, task)
    if fixed_cap:
        pipeline[-1].regressor.set_params(max_iter=SVM_MAX_ITER)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the pair is meant not to converge
        pipeline.fit(frame, y)
    svr = pipeline[-1].regressor_.estimator_
    return time.perf_counter() - started, int(svr.n_iter_)


def main() -> None:
    print(f"{'rows':>7} {'cap':>8} {'seconds':>8} {'fixed cap':>10} {'seconds':>8}")
    for n_rows in ROWS:
        capped, capped_iterations = seconds_of_one_fit(n_rows, fixed_cap=False)
        fixed, fixed_iterations = seconds_of_one_fit(n_rows, fixed_cap=True)
        row = f"{n_rows:>7} {capped_iterations:>8} {capped:>8.2f}"
        print(f"{row} {fixed_iterations:>10} {fixed:>8.2f}")


if __name__ == "__main__":
    main()
