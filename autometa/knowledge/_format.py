"""JSON text in and out of a knowledge base: the one way its values are stored or shared.

A knowledge base received from someone else is data, never code. Every value that a
knowledge base holds as text (configuration parameters, meta-features, provenance,
metadata) and every line of a JSON Lines export is therefore parsed with
:func:`json.loads` only, then type-checked against what it may contain. Anything else
(binary cells, a pickle payload, ``NaN`` literals, nested objects where scalars belong)
is rejected with :class:`KnowledgeBaseError` naming where it was found.

The JSON Lines exchange format built on these values is :mod:`autometa.knowledge._jsonl`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from autometa.contract._types import TASK_KINDS, Config, Evaluation, TaskKind

STATUSES = ("ok", "failed", "capped")
"""Allowed evaluation statuses."""

Status = Literal["ok", "failed", "capped"]

REVISION_KEY = "revision"
"""Metadata key of the random token every write replaces (what derived data is keyed by)."""

RESERVED_METADATA = frozenset({"schema_version", "application", "created_with", REVISION_KEY})
"""Metadata keys the knowledge base maintains itself; users cannot set or import them."""


class KnowledgeBaseError(ValueError):
    """A knowledge base (file, database or export) cannot be used as one.

    Raised for files that are not knowledge bases, schemas from a newer autometa,
    corrupt or crafted values, malformed JSON Lines, and writes to a read-only base.
    The message names the location and what to do.
    """


# -- JSON values ---------------------------------------------------------------------------
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False
)
# The encoder and the decoder below are stateless and never mutated; they are built once
# because json.dumps/json.loads with options build a new one on every call.


def dumps(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, no NaN (raises ValueError on NaN)."""
    return _CANONICAL.encode(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)

MAX_NESTING = 32
"""Deepest nesting of arrays and objects in a JSON value (a line of an export, a stored
cell). Parameters are flat (a value or a list of values) and the shipped base nests 6
deep; deeper text is refused before it is parsed, so no check after it can reach Python's
recursion limit. Not configurable: no knowledge base needs more."""

# A JSON string (with its escapes), or one bracket: what check_nesting steps through.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_OPENING, _CLOSING = frozenset("[{"), frozenset("]}")


def check_nesting(text: str, where: str) -> None:
    """Refuse JSON ``text`` whose arrays and objects nest deeper than :data:`MAX_NESTING`
    (brackets inside strings do not count), without parsing it."""
    if text.count("[") + text.count("{") <= MAX_NESTING:  # the common case, at C speed
        return
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in _OPENING:
            depth += 1
            if depth > MAX_NESTING:
                raise KnowledgeBaseError(
                    f"{where}: values nested too deeply (more than {MAX_NESTING} levels of "
                    "arrays and objects). Flatten them: a parameter of an autometa export "
                    "holds a value or a list of values."
                )
        elif token in _CLOSING:
            depth -= 1


def loads(text: object, where: str) -> Any:
    """Parse JSON text (and nothing else) from a stored cell or a line.

    ``text`` must be a ``str``: bytes (which is how a pickle payload would arrive) are
    rejected without being looked at, as are ``NaN``/``Infinity`` literals and values
    nested deeper than :data:`MAX_NESTING`.
    """
    if not isinstance(text, str):
        raise KnowledgeBaseError(
            f"{where}: expected JSON text, found {type(text).__name__}. autometa stores only "
            "JSON and never unpickles or evaluates stored values; this file was written by "
            "something else or has been tampered with."
        )
    check_nesting(text, where)
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise KnowledgeBaseError(f"{where}: not valid JSON ({exc}).") from None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_param_value(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool)) or _is_number(value):
        return True
    return isinstance(value, list) and all(_check_param_value(v) for v in value)


def _finite(value: Any) -> bool:
    """Whether a JSON number is a finite float (a literal such as 1e999 parses as
    infinity; an integer of 400 digits has no float)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _not_finite(where: str, what: str, value: Any) -> KnowledgeBaseError:
    shown = repr(value) if isinstance(value, float) else f"an integer of {len(str(value))} digits"
    return KnowledgeBaseError(
        f"{where}: {what} is {shown}, not a finite number (a literal too large for a float, "
        "such as 1e999, reads as infinity). Write a finite number, or null where the "
        "value is undefined."
    )


def check_finite(value: Any, where: str, what: str) -> None:
    """Refuse a non-finite number anywhere in a parsed JSON value (nesting is bounded by
    :func:`check_nesting`), naming its place in ``what``."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, where, f"{what}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_finite(item, where, f"{what}[{index}]")
    elif _is_number(value) and not _finite(value):
        raise _not_finite(where, what, value)


def check_params(value: Any, where: str) -> dict[str, Any]:
    """Configuration parameters: a JSON object of scalars or (nested) lists of scalars."""
    if not isinstance(value, dict):
        raise KnowledgeBaseError(
            f"{where}: params must be a JSON object, found {type(value).__name__}."
        )
    for name, item in value.items():
        if not _check_param_value(item):
            raise KnowledgeBaseError(
                f"{where}: parameter {name!r} must be a string, number, boolean, null or a "
                f"list of those; found {type(item).__name__}."
            )
        check_finite(item, where, f"parameter {name!r}")
    return value


def check_meta_features(value: Any, where: str) -> dict[str, float]:
    """Meta-features: a JSON object of numbers or null; null becomes NaN."""
    if not isinstance(value, dict):
        raise KnowledgeBaseError(
            f"{where}: meta_features must be a JSON object, found {type(value).__name__}."
        )
    out: dict[str, float] = {}
    for name, item in value.items():
        if item is None:
            out[name] = math.nan
        elif _is_number(item):
            if not _finite(item):
                raise _not_finite(where, f"meta-feature {name!r}", item)
            out[name] = float(item)
        else:
            raise KnowledgeBaseError(
                f"{where}: meta-feature {name!r} must be a number or null, "
                f"found {type(item).__name__}."
            )
    return out


def encode_meta_features(values: Mapping[str, float]) -> dict[str, float | None]:
    """Meta-features as JSON values: NaN becomes null, names sorted."""
    return {k: (None if math.isnan(v) else v) for k, v in sorted(values.items())}


def check_object(value: Any, where: str, what: str) -> dict[str, Any]:
    """Any JSON object (provenance, metadata)."""
    if not isinstance(value, dict):
        raise KnowledgeBaseError(
            f"{where}: {what} must be a JSON object, found {type(value).__name__}."
        )
    check_finite(value, where, what)
    return value


def check_text(value: Any, where: str, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise KnowledgeBaseError(f"{where}: {what} must be a non-empty string, found {value!r}.")
    return value


def check_kind(value: Any, where: str) -> TaskKind:
    if value not in TASK_KINDS:
        raise KnowledgeBaseError(f"{where}: kind must be one of {TASK_KINDS}, found {value!r}.")
    kind: TaskKind = value
    return kind


def check_status(value: Any, where: str) -> Status:
    if value not in STATUSES:
        raise KnowledgeBaseError(f"{where}: status must be one of {STATUSES}, found {value!r}.")
    status: Status = value
    return status


def check_optional_number(value: Any, where: str, what: str, *, finite: bool = False) -> float:
    """A number or null (NaN). Non-finite numbers are read as NaN, or with ``finite``
    (values of a file, where only an overflowing literal can make one) refused."""
    if value is None:
        return math.nan
    if not _is_number(value):
        raise KnowledgeBaseError(f"{where}: {what} must be a number or null, found {value!r}.")
    if not _finite(value):
        if finite:
            raise _not_finite(where, what, value)
        return math.nan
    return float(value)


def finite_or_none(value: float) -> float | None:
    """How a float is stored: finite as is, NaN and infinities as NULL/null."""
    return value if math.isfinite(value) else None


def make_config(algorithm: Any, params: Any, where: str) -> Config:
    """A :class:`Config` from checked JSON values."""
    algorithm = check_text(algorithm, where, "algorithm")
    checked = check_params(params, where)
    try:
        return Config(algorithm, checked)
    except (TypeError, ValueError) as exc:
        raise KnowledgeBaseError(f"{where}: invalid configuration ({exc}).") from None


def is_well_formed_evaluation(
    task_id: Any, score: Any, fit_time: Any, status: Any, error: Any
) -> bool:
    """The fast path's test, shared by file lines and database rows (10^5 per read).

    A value that fails it is not necessarily wrong: it goes through the detailed checks,
    which also build the error message.
    """
    return (
        type(task_id) is str
        and bool(task_id)
        and (score is None or (type(score) is float and math.isfinite(score)))
        and (fit_time is None or (type(fit_time) is float and math.isfinite(fit_time)))
        and status in STATUSES
        and (error is None or type(error) is str)
    )


def stored_evaluation(
    task_id: Any, config: Config, score: Any, fit_time: Any, status: Any, error: Any
) -> Evaluation | None:
    """The evaluation these stored values make if they pass :func:`is_well_formed_evaluation`
    (a missing score or time is NaN); None sends the caller to its detailed checks."""
    if not is_well_formed_evaluation(task_id, score, fit_time, status, error):
        return None
    return Evaluation(
        task_id,
        config,
        math.nan if score is None else score,
        math.nan if fit_time is None else fit_time,
        status,
        error,
    )
