"""autometa_lightgbm: LightGBM's gradient boosting as the algorithm ``lightgbm``.

Installed with the ``lightgbm`` extra (``pip install "autometa-ml[lightgbm]"``) and
registered like any third-party plugin, through the ``autometa`` entry-point group under
the name ``lightgbm``: block it with ``blocked=["lightgbm"]``. Without the LightGBM
package the plugin offers nothing, quietly, so the entry point costs users of the base
install no warning.
"""

from __future__ import annotations

import importlib.util

from autometa.contract import Algorithm, Task
from autometa.contract.hookspecs import hookimpl

__all__ = ["autometa_algorithms", "available"]


def available() -> bool:
    """Whether the LightGBM package is importable here."""
    return importlib.util.find_spec("lightgbm") is not None


@hookimpl
def autometa_algorithms(task: Task) -> list[Algorithm]:
    """``lightgbm`` for every task kind, when LightGBM is installed."""
    if not available():
        return []
    from .booster import LIGHTGBM

    return [LIGHTGBM]
