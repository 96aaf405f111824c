"""Progress of long work: a bar on a terminal when asked, log records always.

Quiet unless asked (``progress=True``): library code should not write to a terminal on
its own. The command line turns bars on when standard error is a terminal. Start and end
of each long operation are logged at INFO through ``logging.getLogger("autometa....")``,
which shows nothing until the application configures logging (``autometa -v`` does).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

from autometa.contract._types import Evaluation

logger = logging.getLogger(__name__)


@contextmanager
def search_progress(
    enabled: bool, n_trials: int | None, deadline: float | None, scoring: str
) -> Iterator[Callable[[Evaluation], None]]:
    """Yield a callback to call after each evaluation; it updates the bar when enabled.

    With ``n_trials`` the bar counts trials; with only a ``deadline`` it counts seconds,
    so "time left" is the budget's, not an extrapolation from trials. The search's start
    and end (trials, best score, seconds) are logged at INFO either way.
    """
    started = time.monotonic()
    budget = [f"n_trials={n_trials}"] if n_trials is not None else []
    if deadline is not None:
        budget.append(f"{max(deadline - started, 0.0):.0f}s left")
    logger.info("search started (%s, scoring=%s)", ", ".join(budget) or "no limit", scoring)
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

    try:
        if not enabled:
            yield count
            return
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
        ) as bar:

            def update(evaluation: Evaluation) -> None:
                count(evaluation)
                bar.set_postfix_str(f"trials={done} best {scoring}={shown_best()}", refresh=False)
                if by_time:
                    bar.update(min(int(time.monotonic() - started), bar.total or 0) - bar.n)
                else:
                    bar.update(1)

            yield update
    finally:
        logger.info(
            "search finished: %d trials (%d ok) in %.1fs, best %s=%s",
            done,
            ok,
            time.monotonic() - started,
            scoring,
            shown_best(),
        )


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
