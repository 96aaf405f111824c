"""``verbose`` follows scikit-learn's convention, and a notebook user sees progress by
default while a script stays silent."""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer

import autometa
from autometa import AutoMetaClassifier
from autometa._progress import default_verbose, in_jupyter_kernel, jupyter_shell

CHEAP = ["linear", "naive_bayes"]
FIT = {"algorithms": CHEAP, "warm_start": 0, "cv": 2, "random_state": 0}
TRIAL_LINE = re.compile(r"autometa: trial \d+/\d+ ")  # tqdm clears its bar first: "\r"


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:120, :8], y.iloc[:120]


class KernelShell:
    """What IPython's shell looks like inside a Jupyter kernel, as far as the decision
    reads it: ``config`` (a traitlets Config, a dict) holds the ``IPKernelApp`` section."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {"IPKernelApp": {"connection_file": "k.json"}}


class TerminalShell:
    """IPython in a terminal: configured by ``TerminalIPythonApp``, no kernel."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {"TerminalIPythonApp": {}, "InteractiveShell": {}}


@pytest.fixture
def in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process as a Jupyter kernel leaves it: an IPython module whose get_ipython()
    returns the kernel's shell (IPython itself is not installed here)."""
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = KernelShell  # type: ignore[attr-defined]  # returns a shell
    monkeypatch.setitem(sys.modules, "IPython", ipython)


# -- the levels ----------------------------------------------------------------------------
def test_verbose_0_writes_nothing(
    cancer: tuple[Any, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    X, y = cancer
    autometa.fit(X, y, n_trials=2, verbose=0, **FIT)
    AutoMetaClassifier(n_trials=2, **FIT).fit(X, y)  # not given, not a notebook: 0
    assert capfd.readouterr() == ("", "")


def test_verbose_1_shows_a_bar_and_start_and_end_lines_on_stderr(
    cancer: tuple[Any, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    X, y = cancer
    model = autometa.fit(X, y, n_trials=3, verbose=1, **FIT)
    out, err = capfd.readouterr()
    assert out == ""
    assert "autometa: search started (n_trials=3, scoring=roc_auc)" in err
    assert "3/3" in err  # the bar, complete
    best = max(e.score for e in model.evaluations_ if e.ok)
    assert f"best roc_auc={best:.4g}" in err
    assert re.search(r"autometa: search finished: 3 trials \(3 ok\) in [\d.]+s", err), err
    assert not TRIAL_LINE.search(err), "trial lines are verbose=2's"


def test_verbose_2_prints_one_line_per_trial(
    cancer: tuple[Any, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    X, y = cancer
    n_trials = 4
    model = AutoMetaClassifier(n_trials=n_trials, verbose=2, **FIT).fit(X, y)
    out, err = capfd.readouterr()
    assert out == ""
    lines = TRIAL_LINE.findall(err)
    assert len(lines) == n_trials == len(model.evaluations_)
    for evaluation in model.evaluations_:
        assert f"{evaluation.config.algorithm}(" in err
    assert f"trial {n_trials}/{n_trials} " in err
    assert "search finished: 4 trials" in err


def test_a_bad_level_fails_before_the_fit(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    for bad in (-1, 1.5, "yes"):
        with pytest.raises(ValueError, match="verbose must be a non-negative integer"):
            autometa.fit(X, y, n_trials=1, verbose=bad, **FIT)


# -- the notebook default ------------------------------------------------------------------
def test_the_default_is_1_in_a_jupyter_kernel_and_0_elsewhere() -> None:
    assert in_jupyter_kernel(KernelShell())
    assert not in_jupyter_kernel(TerminalShell())
    assert not in_jupyter_kernel(None)  # plain Python: no shell
    assert default_verbose(KernelShell()) == 1
    assert default_verbose(TerminalShell()) == 0
    assert "IPython" not in sys.modules  # this test process is no notebook
    assert jupyter_shell() is None
    assert default_verbose() == 0


def test_a_fit_in_a_kernel_shows_progress_unless_told_otherwise(
    in_a_kernel: None, cancer: tuple[Any, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(jupyter_shell(), KernelShell)
    X, y = cancer
    model = AutoMetaClassifier(n_trials=2, **FIT).fit(X, y)
    assert "2/2" in capfd.readouterr().err
    assert model.get_params()["verbose"] is None  # resolved in fit, stored as given
    AutoMetaClassifier(n_trials=2, verbose=0, **FIT).fit(X, y)
    assert capfd.readouterr() == ("", "")


# -- scikit-learn's parameter conventions --------------------------------------------------
def test_get_params_and_clone_keep_verbose_as_given() -> None:
    for given in (None, 0, 2):
        model = AutoMetaClassifier(n_trials=2, verbose=given)
        assert model.get_params()["verbose"] == given
        assert clone(model).get_params()["verbose"] == given
    model = AutoMetaClassifier().set_params(verbose=1)
    assert clone(model).verbose == 1


def test_progress_still_works_but_is_deprecated_for_verbose(
    cancer: tuple[Any, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    X, y = cancer
    with pytest.warns(FutureWarning, match="progress= is deprecated.*verbose=1"):
        autometa.fit(X, y, n_trials=2, progress=True, **FIT)
    assert "2/2" in capfd.readouterr().err
    with pytest.warns(FutureWarning):
        autometa.fit(X, y, n_trials=2, progress=True, verbose=2, **FIT)
    assert len(TRIAL_LINE.findall(capfd.readouterr().err)) == 2  # verbose given wins
