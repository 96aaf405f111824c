"""Progress of long work: scikit-learn's ``verbose`` levels, and log records always.

A fit's ``verbose`` follows scikit-learn's convention: 0 is silent, 1 shows a progress
bar (best score so far, time left) with a line when the search starts and ends, 2 or more
also prints one line per trial; all of it on standard error. When ``verbose`` is not
given (None), :func:`default_verbose` decides: 1 inside a Jupyter kernel, where a
notebook user expects to see that a fit is running (tqdm's notebook bar when ipywidgets
is installed, its text bar otherwise), and 0 elsewhere, since library code in a script or
a service should not write unasked. The command line shows the bar when standard error
is a terminal. Start and end of each long operation are also logged at INFO through
``logging.getLogger("autometa....")``, which shows nothing until the application
configures logging (``autometa -v`` does).
"""

from __future__ import annotations

import logging
import math
import numbers
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

from autometa.contract._types import Evaluation

logger = logging.getLogger(__name__)


def jupyter_shell() -> Any:
    """The running IPython shell, or None; IPython is looked up, never imported.

    Outside IPython nothing has imported it, so ``sys.modules`` has no ``IPython`` and
    this returns None without the cost (or the side effects) of importing it.
    """
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython() if callable(get_ipython) else None


def in_jupyter_kernel(shell: Any) -> bool:
    """Whether ``shell`` (IPython's ``get_ipython()``) runs in a Jupyter kernel.

    The test tqdm.auto makes to choose its notebook bar: a kernel's shell is configured
    by an ``IPKernelApp``; a terminal IPython's is not, and plain Python has no shell.
    """
    config = getattr(shell, "config", None)
    try:
        return config is not None and "IPKernelApp" in config
    except TypeError:  # a config that is no mapping: not a kernel's
        return False


def default_verbose(shell: Any = None) -> int:
    """The ``verbose`` level of a fit that was not given one: 1 in a Jupyter kernel, else 0.

    A notebook user sees progress by default (a fit of minutes with no sign of life looks
    hung); a script, a service or a test stays silent, as library code should. ``shell``
    is IPython's shell object (default: the running one, see :func:`jupyter_shell`).
    """
    return 1 if in_jupyter_kernel(shell if shell is not None else jupyter_shell()) else 0


def resolve_verbose(verbose: Any, progress: Any = None) -> int:
    """The verbosity level a fit uses, from the estimator's ``verbose`` and deprecated
    ``progress`` parameters as given (None: not given).

    ``verbose`` wins when given; ``progress=True`` means at least 1 and ``progress=False``
    means 0 when ``verbose`` is not given; with neither, :func:`default_verbose`.
    Raises a ValueError for a level that is not a non-negative integer.
    """
    if verbose is not None:
        if not isinstance(verbose, numbers.Integral) or verbose < 0:  # True counts as 1
            raise ValueError(f"verbose must be a non-negative integer, got {verbose!r}.")
        return max(int(verbose), 1) if progress else int(verbose)
    if progress is not None:
        return 1 if progress else 0
    return default_verbose()


@contextmanager
def search_progress(
    verbose: int, n_trials: int | None, deadline: float | None, scoring: str
) -> Iterator[Callable[[Evaluation], None]]:
    """Yield a callback to call after each evaluation; it shows what ``verbose`` asks.

    ``verbose`` >= 1: a bar and a line at the start and end on standard error; >= 2: also
    a line per trial. With ``n_trials`` the bar counts trials; with only a ``deadline`` it
    counts seconds, so "time left" is the budget's, not an extrapolation from trials.
    The search's start and end (trials, best score, seconds) are logged at INFO either way.
    """
    started = time.monotonic()
    budget = [f"n_trials={n_trials}"] if n_trials is not None else []
    if deadline is not None:
        budget.append(f"{max(deadline - started, 0.0):.0f}s left")
    start_line = f"search started ({', '.join(budget) or 'no limit'}, scoring={scoring})"
    logger.info("%s", start_line)
    best = -math.inf
    done = ok = 0

    def shown_best() -> str:
        return f"{best:.4g}" if math.isfinite(best) else "-"

    def count(evaluation: Evaluation) -> None:
        nonlocal best, done, ok
        done += 1
        if evaluation.ok:
            ok += 1
            best = max(best, evaluation.score)

    def trial_line(evaluation: Evaluation) -> str:
        config = evaluation.config
        params = ", ".join(f"{k}={_short(v)}" for k, v in sorted(config.params.items()))
        outcome = (
            f"{scoring}={evaluation.score:.4g}"
            if evaluation.ok
            else f"{evaluation.status}: {evaluation.error or 'no score'}"
        )
        return (
            f"autometa: trial {done}{f'/{n_trials}' if n_trials else ''} "
            f"{config.algorithm}({params}) {outcome} ({evaluation.fit_time:.2f}s), "
            f"best {scoring}={shown_best()}"
        )

    def end_line() -> str:
        return (
            f"search finished: {done} trials ({ok} ok) in {time.monotonic() - started:.1f}s, "
            f"best {scoring}={shown_best()}"
        )

    try:
        if verbose < 1:
            yield count
            return
        print(f"autometa: {start_line}", file=sys.stderr, flush=True)
        by_time = n_trials is None and deadline is not None
        total = (
            n_trials
            if n_trials is not None
            else (math.ceil(deadline - started) if deadline is not None else None)
        )
        time_format = (
            "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f}s "
            "[{elapsed}<{remaining}{postfix}]"
        )
        with tqdm(
            total=total,
            unit="trial",
            desc="autometa",
            bar_format=time_format if by_time else None,
            file=sys.stderr,
        ) as bar:

            def update(evaluation: Evaluation) -> None:
                count(evaluation)
                if verbose >= 2:  # above the bar, which stays at the bottom
                    bar.write(trial_line(evaluation), file=sys.stderr)
                bar.set_postfix_str(f"trials={done} best {scoring}={shown_best()}", refresh=False)
                if by_time:
                    bar.update(min(int(time.monotonic() - started), bar.total or 0) - bar.n)
                else:
                    bar.update(1)

            yield update
        print(f"autometa: {end_line()}", file=sys.stderr, flush=True)
    finally:
        logger.info("%s", end_line())


def _short(value: Any) -> str:
    """A parameter value as a trial line shows it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


@contextmanager
def count_progress(
    enabled: bool, total: int, *, desc: str, unit: str
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``: n more of ``total`` items are done (a bar with time left).

    Used for work counted in items rather than trials, such as the held-out tasks of
    ``autometa kb evaluate``; with ``enabled=False`` it only counts.
    """
    with tqdm(
        total=total, desc=desc, unit=unit, disable=not enabled, mininterval=1.0, smoothing=0.1
    ) as bar:
        yield bar.update
