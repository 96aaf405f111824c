"""A progress bar for a search: trials done, best score so far, time left.

Quiet unless asked (``progress=True``): library code should not write to a terminal on
its own. The command line turns it on when standard error is a terminal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

from autometa.types import Evaluation


@contextmanager
def search_progress(
    enabled: bool, n_trials: int | None, deadline: float | None, scoring: str
) -> Iterator[Callable[[Evaluation], None]]:
    """Yield a callback to call after each evaluation; it updates the bar when enabled.

    With ``n_trials`` the bar counts trials; with only a ``deadline`` it counts seconds,
    so "time left" is the budget's, not an extrapolation from trials.
    """
    if not enabled:
        yield lambda evaluation: None
        return
    by_time = n_trials is None and deadline is not None
    total = (
        n_trials
        if n_trials is not None
        else (math.ceil(deadline - time.monotonic()) if deadline is not None else None)
    )
    started = time.monotonic()
    best = -math.inf
    done = 0
    time_format = (
        "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f}s [{elapsed}<{remaining}{postfix}]"
    )
    with tqdm(
        total=total,
        unit="trial",
        desc="autometa",
        bar_format=time_format if by_time else None,
    ) as bar:

        def update(evaluation: Evaluation) -> None:
            nonlocal best, done
            done += 1
            if evaluation.ok:
                best = max(best, evaluation.score)
            shown = f"{best:.4g}" if math.isfinite(best) else "-"
            bar.set_postfix_str(f"trials={done} best {scoring}={shown}", refresh=False)
            if by_time:
                bar.update(min(int(time.monotonic() - started), bar.total or 0) - bar.n)
            else:
                bar.update(1)

        yield update
