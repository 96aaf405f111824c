"""The JSON Lines exchange format of knowledge bases: parsing and formatting its lines.

UTF-8, one JSON object per line, each with a ``type``::

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

Unknown types or fields, ``NaN``/``Infinity`` literals, numbers too large for a float
(``1e999``), values nested deeper than :data:`~autometa.knowledge._format.MAX_NESTING` and
wrong value types are errors naming the file and line; so are lines, files and imports
past the limits of :mod:`autometa.knowledge._limits`. Exports are deterministic: the meta
line, configs sorted by their canonical key and numbered 1..n, tasks sorted by id,
evaluations sorted by task id then config key; floats as Python writes them (shortest
round-trip form), NaN as null.

Files (folders, gzip, atomic writes) are :mod:`autometa.knowledge._jsonl_files`.
Records are read into and written from a :class:`~autometa.knowledge._records.Bundle` of
:class:`~autometa.knowledge._records.TaskRecord` and the contract's
:class:`~autometa.contract.Evaluation`; this module holds no database code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from autometa.contract._types import Config, Evaluation
from autometa.knowledge._format import (
    RESERVED_METADATA,
    KnowledgeBaseError,
    check_kind,
    check_meta_features,
    check_object,
    check_optional_number,
    check_status,
    check_text,
    encode_meta_features,
    finite_or_none,
    loads,
    make_config,
    stored_evaluation,
)
from autometa.knowledge._limits import ImportBudget
from autometa.knowledge._records import Bundle, TaskRecord

_LINE = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
# Built once (stateless, never mutated): json.dumps with options builds one per call.

FORMAT_NAME = "autometa-kb"
"""Value of the ``format`` field of a JSON Lines ``meta`` record."""

FORMAT_VERSION = 1
"""Version of the JSON Lines format; equal to the database schema version it mirrors."""


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
    budget: ImportBudget | None = None,
) -> Bundle:
    """Parse one JSON Lines export into a :class:`Bundle`.

    ``source`` names the file in error messages. Blank lines are skipped. Any problem
    (invalid UTF-8 or JSON, an unknown record type or field, a wrong value, a config id
    that is not defined in the same file, a newer format version) raises
    :class:`KnowledgeBaseError` naming ``source`` and the line number.

    ``parsed_configs`` (the caller's, for one import of many files) maps the text of
    config lines already parsed and checked to their id and :class:`Config`: the files
    of one knowledge base repeat the same pool, so each distinct line is parsed once.
    ``budget`` (the caller's, for one import) counts the task and evaluation records
    against the import's limits (:mod:`autometa.knowledge._limits`).
    """
    parsed_configs = {} if parsed_configs is None else parsed_configs
    bundle = Bundle()
    config_keys: dict[int, Config] = {}
    pending: list[tuple[int, dict[str, Any]]] = []  # evaluations, resolved after all configs
    seen_record = False
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KnowledgeBaseError(f"{source}, line {number}: not UTF-8 text ({exc}).") from None
        if not text or text.isspace():
            continue
        # Keyed by the raw line: a byte-identical line means the same config, and the lookup skips
        # the JSON parse and the checks.
        known = parsed_configs.get(text)
        if known is not None:  # a config line seen (and checked) in another file
            ident, config = known
            if ident in config_keys:
                raise KnowledgeBaseError(
                    f"{source}, line {number}: config id {ident} is defined twice."
                )
            config_keys[ident] = config
            bundle.configs[config.key] = config
            seen_record = True
            continue
        record = loads(text, f"{source}, line {number}")
        kind = record.get("type") if isinstance(record, dict) else None
        fields = _FIELDS.get(kind) if isinstance(kind, str) else None
        # Required <= keys <= allowed: one set test on the hot path; _reject_record works out the
        # message only when it fails.
        if fields is None or not (fields[0] <= record.keys() <= fields[1]):
            _reject_record(record, f"{source}, line {number}")
        if kind == "evaluation":
            if budget is not None:
                budget.count("evaluation", f"{source}, line {number}")
            pending.append((number, record))
        elif kind == "config":
            where = f"{source}, line {number}"
            ident = record["id"]
            # bool is an int: true would otherwise alias config 1.
            if not isinstance(ident, int) or isinstance(ident, bool):
                raise KnowledgeBaseError(f"{where}: config id must be an integer, found {ident!r}.")
            if ident in config_keys:
                raise KnowledgeBaseError(f"{where}: config id {ident} is defined twice.")
            config = make_config(record["algorithm"], record.get("params", {}), where)
            config_keys[ident] = config
            bundle.configs[config.key] = config
            parsed_configs[text] = (ident, config)
        elif kind == "task":
            if budget is not None:
                budget.count("task", f"{source}, line {number}")
            task = _parse_task(record, f"{source}, line {number}")
            bundle.tasks[task.task_id] = task
        else:
            if seen_record:
                raise KnowledgeBaseError(
                    f"{source}, line {number}: a meta record may only be the first line."
                )
            bundle.metadata.update(_parse_meta(record, f"{source}, line {number}"))
        seen_record = True
    for number, record in pending:
        evaluation = _parse_evaluation(record, config_keys, source, number)
        bundle.evaluations.append(evaluation)
        if evaluation.task_id not in bundle.origins:
            bundle.origins[evaluation.task_id] = f"{source}, line {number}"
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


def _parse_evaluation(
    record: Mapping[str, Any], configs: Mapping[int, Config], source: str, number: int
) -> Evaluation:
    task_id, ident, score, status = (
        record["task_id"],
        record["config"],
        record["score"],
        record["status"],
    )
    fit_time, error = record.get("fit_time"), record.get("error")
    # type() is, not isinstance: a bool id (true == 1) must not resolve to config 1.
    config = configs.get(ident) if type(ident) is int else None
    # Fast path for well-formed lines (10^5 per file); the checks below explain the rest.
    if config is not None:
        evaluation = stored_evaluation(task_id, config, score, fit_time, status, error)
        if evaluation is not None:
            return evaluation
    where = f"{source}, line {number}"
    if config is None:
        raise KnowledgeBaseError(
            f"{where}: evaluation refers to config {ident!r}, which no config record in "
            f"{source} defines."
        )
    error = record.get("error")
    if error is not None and not isinstance(error, str):
        raise KnowledgeBaseError(f"{where}: error must be a string or null, found {error!r}.")
    return Evaluation(
        task_id=check_text(record["task_id"], where, "task_id"),
        config=config,
        score=check_optional_number(record["score"], where, "score", finite=True),
        fit_time=check_optional_number(record.get("fit_time"), where, "fit_time", finite=True),
        status=check_status(record["status"], where),
        error=error,
    )


def _parse_meta(record: Mapping[str, Any], where: str) -> dict[str, Any]:
    if record["format"] != FORMAT_NAME:
        raise KnowledgeBaseError(
            f"{where}: format is {record['format']!r}, expected {FORMAT_NAME!r}."
        )
    version = record["schema_version"]
    # bool is an int: true must not read as version 1.
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


def _parse_task(record: Mapping[str, Any], where: str) -> TaskRecord:
    task_id = check_text(record["task_id"], where, "task_id")
    return checked_task(
        task_id,
        record.get("name", task_id),
        record["kind"],
        record["scoring"],
        record["meta_features"],
        record.get("provenance", {}),
        where,
    )


def checked_task(
    task_id: Any,
    name: Any,
    kind: Any,
    scoring: Any,
    meta_features: Any,
    provenance: Any,
    where: str,
) -> TaskRecord:
    """A :class:`TaskRecord` from parsed JSON values, each checked (KnowledgeBaseError
    naming ``where`` for a wrong one); meta-features may hold null for NaN."""
    return TaskRecord(
        task_id=check_text(task_id, where, "task_id"),
        name=check_text(name, where, "name", empty=True),
        kind=check_kind(kind, where),
        scoring=check_text(scoring, where, "scoring"),
        meta_features=check_meta_features(meta_features, where),
        provenance=check_object(provenance, where, "provenance"),
    )


def task_json(task: TaskRecord) -> dict[str, Any]:
    """The fields of a task record as JSON values (NaN meta-features as null)."""
    return {
        "task_id": task.task_id,
        "name": task.name,
        "kind": task.kind,
        "scoring": task.scoring,
        "meta_features": encode_meta_features(task.meta_features),
        "provenance": _sorted(task.provenance),
    }


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
    # Renumbered in key order rather than any stored config_id: the same content gives the same
    # bytes from any base.
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
        yield _line({"type": "task", **task_json(bundle.tasks[task_id])})
    for evaluation in sorted(bundle.evaluations, key=lambda e: (e.task_id, e.config.key)):
        yield _line(
            {
                "type": "evaluation",
                "task_id": evaluation.task_id,
                "config": ids[evaluation.config.key],
                "score": finite_or_none(evaluation.score),
                "fit_time": finite_or_none(evaluation.fit_time),
                "status": evaluation.status,
                "error": evaluation.error,
            }
        )
