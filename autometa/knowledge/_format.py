"""JSON text in and out of a knowledge base: the one way its values are stored or shared.

A knowledge base received from someone else is data, never code. Every value that a
knowledge base holds as text (configuration parameters, meta-features, provenance,
metadata) and every line of a JSON Lines export is therefore parsed with
:func:`json.loads` only, then type-checked against what it may contain. Anything else
(binary cells, a pickle payload, ``NaN`` literals, nested objects where scalars belong)
is rejected with :class:`KnowledgeBaseError` naming where it was found.

This module also defines the JSON Lines exchange format (:func:`parse_jsonl`,
:func:`format_jsonl`): UTF-8, one JSON object per line, each with a ``type``::

    {"type":"meta","format":"autometa-kb","schema_version":1,"metadata":{...}}
    {"type":"config","id":1,"algorithm":"rf","params":{"max_depth":3}}
    {"type":"task","task_id":"t1","name":"credit","kind":"binary","scoring":"roc_auc",
     "meta_features":{"n_rows":1000.0,"skew":null},"provenance":{}}
    {"type":"evaluation","task_id":"t1","config":1,"score":0.81,"fit_time":0.4,
     "status":"ok","error":null}

(each record on one line). Fields, required unless marked optional:

``meta`` (optional; only as the first line)
    ``format`` = ``"autometa-kb"``, ``schema_version`` (integer; a file from a newer
    version is refused), ``metadata`` (optional object; set on import, except the
    reserved keys ``schema_version``, ``application`` and ``created_with``).
``config``
    ``id`` (integer, unique within the file; evaluations of the same file refer to it),
    ``algorithm`` (string), ``params`` (optional object of strings, numbers, booleans,
    null, or lists of those).
``task``
    ``task_id``, ``kind`` (``binary`` / ``multiclass`` / ``regression``), ``scoring``
    (scikit-learn scorer name), ``meta_features`` (object of numbers or null for
    undefined), ``name`` (optional, defaults to ``task_id``), ``provenance`` (optional
    object).
``evaluation``
    ``task_id`` (a task in any imported file or already stored), ``config`` (a config
    ``id`` of the same file), ``score`` (greater is better; null when failed),
    ``status`` (``ok`` / ``failed`` / ``capped``), ``fit_time`` (optional, seconds or
    null), ``error`` (optional string or null).

Unknown types or fields, ``NaN``/``Infinity`` literals and wrong value types are errors
naming the file and line. Exports are deterministic: the meta line, configs sorted by
their canonical key and numbered 1..n, tasks sorted by id, evaluations sorted by task id
then config key; floats as Python writes them (shortest round-trip form), NaN as null.

The module holds no database code; :mod:`autometa.knowledge._base` moves :class:`Bundle`
objects between files and databases.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from autometa.contract._types import TASK_KINDS, Config, TaskKind

FORMAT_NAME = "autometa-kb"
"""Value of the ``format`` field of a JSON Lines ``meta`` record."""

FORMAT_VERSION = 1
"""Version of the JSON Lines format; equal to the database schema version it mirrors."""

STATUSES = ("ok", "failed", "capped")
"""Allowed evaluation statuses."""

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
_LINE = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
# Encoders and the decoder below are stateless and never mutated; they are built once
# because json.dumps/json.loads with options build a new one on every call.


def dumps(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, no NaN (raises ValueError on NaN)."""
    return _CANONICAL.encode(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def loads(text: object, where: str) -> Any:
    """Parse JSON text (and nothing else) from a stored cell or a line.

    ``text`` must be a ``str``: bytes (which is how a pickle payload would arrive) are
    rejected without being looked at, as are ``NaN``/``Infinity`` literals.
    """
    if not isinstance(text, str):
        raise KnowledgeBaseError(
            f"{where}: expected JSON text, found {type(text).__name__}. autometa stores only "
            "JSON and never unpickles or evaluates stored values; this file was written by "
            "something else or has been tampered with."
        )
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


def check_status(value: Any, where: str) -> str:
    if value not in STATUSES:
        raise KnowledgeBaseError(f"{where}: status must be one of {STATUSES}, found {value!r}.")
    return str(value)


def check_optional_number(value: Any, where: str, what: str) -> float:
    """A number or null (NaN); non-finite numbers are read as NaN."""
    if value is None:
        return math.nan
    if not _is_number(value):
        raise KnowledgeBaseError(f"{where}: {what} must be a number or null, found {value!r}.")
    number = float(value)
    return number if math.isfinite(number) else math.nan


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


# -- the neutral content that files and databases exchange ---------------------------------
@dataclass(frozen=True)
class TaskEntry:
    """A task as stored: validated fields, meta-features with NaN for missing."""

    task_id: str
    name: str
    kind: TaskKind
    scoring: str
    meta_features: dict[str, float]
    provenance: dict[str, Any]


@dataclass(frozen=True)
class EvaluationEntry:
    """An evaluation as stored; ``config_key`` is :attr:`Config.key`, floats may be NaN."""

    task_id: str
    config_key: str
    score: float
    fit_time: float
    status: str
    error: str | None
    origin: str = ""
    """Where it came from (``file:line``) for error messages; empty for database rows."""


@dataclass
class Bundle:
    """The content of a knowledge base or an export, independent of where it lives."""

    metadata: dict[str, Any] = field(default_factory=dict)
    configs: dict[str, Config] = field(default_factory=dict)
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    evaluations: list[EvaluationEntry] = field(default_factory=list)

    def update(self, other: Bundle) -> None:
        """Add ``other``'s content; on a clash (same task, same metadata key) it wins."""
        self.metadata.update(other.metadata)
        self.configs.update(other.configs)
        self.tasks.update(other.tasks)
        self.evaluations.extend(other.evaluations)


# -- JSON Lines ----------------------------------------------------------------------------
def _fields(required: str, optional: str) -> tuple[frozenset[str], frozenset[str]]:
    need = frozenset({"type", *required.split()})
    return need, need | frozenset(optional.split())


_FIELDS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = MappingProxyType(
    {  # type: (required fields, allowed fields)
        "meta": _fields("format schema_version", "metadata"),
        "config": _fields("id algorithm", "params"),
        "task": _fields("task_id kind scoring meta_features", "name provenance"),
        "evaluation": _fields("task_id config score status", "fit_time error"),
    }
)


def parse_jsonl(
    source: str,
    lines: Iterable[bytes],
    parsed_configs: dict[str, tuple[int, Config]] | None = None,
) -> Bundle:
    """Parse one JSON Lines export into a :class:`Bundle`.

    ``source`` names the file in error messages. Blank lines are skipped. Any problem
    (invalid UTF-8 or JSON, an unknown record type or field, a wrong value, a config id
    that is not defined in the same file, a newer format version) raises
    :class:`KnowledgeBaseError` naming ``source`` and the line number.

    ``parsed_configs`` (the caller's, for one import of many files) maps the text of
    config lines already parsed and checked to their id and :class:`Config`: the files
    of one knowledge base repeat the same pool, so each distinct line is parsed once.
    """
    parsed_configs = {} if parsed_configs is None else parsed_configs
    bundle = Bundle()
    config_keys: dict[int, str] = {}
    pending: list[tuple[int, dict[str, Any]]] = []  # evaluations, resolved after all configs
    seen_record = False
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KnowledgeBaseError(f"{source}, line {number}: not UTF-8 text ({exc}).") from None
        if not text or text.isspace():
            continue
        known = parsed_configs.get(text)
        if known is not None:  # a config line seen (and checked) in another file
            ident, config = known
            if ident in config_keys:
                raise KnowledgeBaseError(
                    f"{source}, line {number}: config id {ident} is defined twice."
                )
            config_keys[ident] = config.key
            bundle.configs[config.key] = config
            seen_record = True
            continue
        record = loads(text, f"{source}, line {number}")
        kind = record.get("type") if isinstance(record, dict) else None
        fields = _FIELDS.get(kind) if isinstance(kind, str) else None
        if fields is None or not (fields[0] <= record.keys() <= fields[1]):
            _reject_record(record, f"{source}, line {number}")
        if kind == "evaluation":
            pending.append((number, record))
        elif kind == "config":
            where = f"{source}, line {number}"
            ident = record["id"]
            if not isinstance(ident, int) or isinstance(ident, bool):
                raise KnowledgeBaseError(f"{where}: config id must be an integer, found {ident!r}.")
            if ident in config_keys:
                raise KnowledgeBaseError(f"{where}: config id {ident} is defined twice.")
            config = make_config(record["algorithm"], record.get("params", {}), where)
            key = config.key
            config_keys[ident] = key
            bundle.configs[key] = config
            parsed_configs[text] = (ident, config)
        elif kind == "task":
            entry = _parse_task(record, f"{source}, line {number}")
            bundle.tasks[entry.task_id] = entry
        else:
            if seen_record:
                raise KnowledgeBaseError(
                    f"{source}, line {number}: a meta record may only be the first line."
                )
            bundle.metadata.update(_parse_meta(record, f"{source}, line {number}"))
        seen_record = True
    for number, record in pending:
        bundle.evaluations.append(_parse_evaluation(record, config_keys, source, number))
    return bundle


def _reject_record(record: Any, where: str) -> None:
    """Raise the error that says what is wrong with a record's type or fields."""
    if not isinstance(record, dict):
        raise KnowledgeBaseError(f"{where}: each line must be a JSON object.")
    kind = record.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise KnowledgeBaseError(
            f"{where}: unknown record type {kind!r}; expected one of {sorted(_FIELDS)}."
        )
    required, allowed = _FIELDS[kind]
    if missing := required - record.keys():
        raise KnowledgeBaseError(f"{where}: {kind} record lacks {sorted(missing)}.")
    unknown = record.keys() - allowed
    raise KnowledgeBaseError(f"{where}: {kind} record has unknown fields {sorted(unknown)}.")


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


def _parse_evaluation(
    record: Mapping[str, Any], config_keys: Mapping[int, str], source: str, number: int
) -> EvaluationEntry:
    task_id, ident, score, status = (
        record["task_id"],
        record["config"],
        record["score"],
        record["status"],
    )
    fit_time, error = record.get("fit_time"), record.get("error")
    key = config_keys.get(ident) if type(ident) is int else None
    # Fast path for well-formed lines (10^5 per file); the checks below explain the rest.
    if key is not None and is_well_formed_evaluation(task_id, score, fit_time, status, error):
        return EvaluationEntry(
            task_id,
            key,
            math.nan if score is None else score,
            math.nan if fit_time is None else fit_time,
            status,
            error,
            f"{source}, line {number}",
        )
    where = f"{source}, line {number}"
    if key is None:
        raise KnowledgeBaseError(
            f"{where}: evaluation refers to config {ident!r}, which no config record in "
            f"{source} defines."
        )
    error = record.get("error")
    if error is not None and not isinstance(error, str):
        raise KnowledgeBaseError(f"{where}: error must be a string or null, found {error!r}.")
    return EvaluationEntry(
        task_id=check_text(record["task_id"], where, "task_id"),
        config_key=key,
        score=check_optional_number(record["score"], where, "score"),
        fit_time=check_optional_number(record.get("fit_time"), where, "fit_time"),
        status=check_status(record["status"], where),
        error=error,
        origin=where,
    )


def _parse_meta(record: Mapping[str, Any], where: str) -> dict[str, Any]:
    if record["format"] != FORMAT_NAME:
        raise KnowledgeBaseError(
            f"{where}: format is {record['format']!r}, expected {FORMAT_NAME!r}."
        )
    version = record["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise KnowledgeBaseError(f"{where}: schema_version must be a positive integer.")
    if version > FORMAT_VERSION:
        raise KnowledgeBaseError(
            f"{where}: written by a newer autometa (format version {version}; this one reads "
            f"up to {FORMAT_VERSION}). Upgrade autometa to import it."
        )
    metadata = check_object(record.get("metadata", {}), where, "metadata")
    if reserved := RESERVED_METADATA & set(metadata):
        raise KnowledgeBaseError(
            f"{where}: metadata keys {sorted(reserved)} are maintained by the knowledge base "
            "itself and cannot be imported."
        )
    return metadata


def _parse_task(record: Mapping[str, Any], where: str) -> TaskEntry:
    task_id = check_text(record["task_id"], where, "task_id")
    return TaskEntry(
        task_id=task_id,
        name=check_text(record.get("name", task_id), where, "name", empty=True),
        kind=check_kind(record["kind"], where),
        scoring=check_text(record["scoring"], where, "scoring"),
        meta_features=check_meta_features(record["meta_features"], where),
        provenance=check_object(record.get("provenance", {}), where, "provenance"),
    )


def _line(record: Mapping[str, Any]) -> str:
    # Top-level keys keep their documented order ("type" first); nested objects are sorted.
    return _LINE.encode(record) + "\n"


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def format_jsonl(bundle: Bundle) -> Iterator[str]:
    """The lines of a JSON Lines export of ``bundle``, in a deterministic order.

    One ``meta`` record, then configs sorted by :attr:`Config.key` (numbered 1..n in that
    order), tasks sorted by id, evaluations sorted by task id then config key. The same
    content therefore gives the same bytes whatever order it was added in.
    """
    yield _line(
        {
            "type": "meta",
            "format": FORMAT_NAME,
            "schema_version": FORMAT_VERSION,
            "metadata": _sorted(bundle.metadata),
        }
    )
    ids: dict[str, int] = {}
    for number, key in enumerate(sorted(bundle.configs), start=1):
        ids[key] = number
        config = bundle.configs[key]
        yield _line(
            {
                "type": "config",
                "id": number,
                "algorithm": config.algorithm,
                "params": _sorted(dict(config.params)),
            }
        )
    for task_id in sorted(bundle.tasks):
        task = bundle.tasks[task_id]
        yield _line(
            {
                "type": "task",
                "task_id": task.task_id,
                "name": task.name,
                "kind": task.kind,
                "scoring": task.scoring,
                "meta_features": encode_meta_features(task.meta_features),
                "provenance": _sorted(task.provenance),
            }
        )
    for evaluation in sorted(bundle.evaluations, key=lambda e: (e.task_id, e.config_key)):
        yield _line(
            {
                "type": "evaluation",
                "task_id": evaluation.task_id,
                "config": ids[evaluation.config_key],
                "score": finite_or_none(evaluation.score),
                "fit_time": finite_or_none(evaluation.fit_time),
                "status": evaluation.status,
                "error": evaluation.error,
            }
        )
