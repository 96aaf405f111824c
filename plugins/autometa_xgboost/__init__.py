"""autometa_xgboost: XGBoost's gradient boosting as the algorithm ``xgboost``.

Installed with the ``xgboost`` extra (``pip install "autometa-ml[xgboost]"``) and
registered like any third-party plugin, through the ``autometa`` entry-point group under
the name ``xgboost``: block it with ``blocked=["xgboost"]``. Without the XGBoost
package the plugin offers nothing, quietly, so the entry point costs users of the base
install no warning.
"""

from __future__ import annotations

import importlib.util

from autometa.contract import Algorithm, Task
from autometa.contract.hookspecs import hookimpl

__all__ = ["autometa_algorithms", "available"]


def available() -> bool:
    """Whether the XGBoost package is importable here."""
    return importlib.util.find_spec("xgboost") is not None


@hookimpl
def autometa_algorithms(task: Task) -> list[Algorithm]:
    """``xgboost`` for every task kind, when XGBoost is installed."""
    if not available():
        return []
    from .booster import XGBOOST

    return [XGBOOST]
