"""Schema normalization: each record typed as its stream's schema says, or the read ends clearly."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.extractors import TypeTransformer
from airbyte_cdk.sources.types import Config
from airbyte_cdk.sources.utils.transform import TypeTransformer as CdkTypeTransformer
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.components.decoders import json_kind
from source_meta_conversations.components.timestamps import rfc3339
from source_meta_conversations.sync.unexpected_types import UNEXPECTED_TYPES

LOGGER = logging.getLogger("airbyte")


class _Unconformable:
    def __repr__(self) -> str:
        return "UNCONFORMABLE"


# What a conformer answers for a value it cannot bring to the documented type.
_UNCONFORMABLE: Any = _Unconformable()
_MISSING: Any = object()
_NONE_TYPE = type(None)
# The Python types a JSON Schema type is parsed into (a bool is no integer here, unlike Python).
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (_NONE_TYPE,),
}
# How much of an unreadable key or cursor value an error shows.
_SHOWN_CHARACTERS = 40


@dataclass(frozen=True)
class _Field:
    """One schema node, compiled: what is kept as it is, and how anything else is conformed.

    ``accepted`` are the Python types kept without a look inside (a string where a string is
    documented; not a dict whose properties are documented, which ``conform`` walks). ``conform``
    takes any other value and returns it conformed, or ``_UNCONFORMABLE``.
    """

    path: str
    kind: str
    nullable: bool
    accepted: frozenset[type]
    conform: Callable[[Any], Any]


Report = Callable[[_Field, Any], None]
Properties = tuple[tuple[str, _Field], ...]


@dataclass
class ConformToSchema(TypeTransformer):
    """Bring every record to its stream's JSON schema before it is emitted.

    Graph does not always send what it documents (``"true"`` for Instagram's
    ``is_unsupported``, a number or an object where text is documented), and a destination
    may reject a record that does not match the catalog. Each value the schema types is:

    - kept when it has the documented type (a ``date-time`` string must also be a readable
      time, and is written as RFC 3339: Graph's ``2022-07-12T19:11:07+0000`` becomes
      ``2022-07-12T19:11:07+00:00``);
    - converted when no information is lost: where a string is documented, a number,
      boolean, object or list becomes its JSON text (``{"text": "Hi"}`` becomes
      ``'{"text":"Hi"}'``, not Python's ``str()``); where an integer, number or boolean is
      documented, the CDK's default conversions of a string (``"12"`` to 12, ``"true"`` or
      ``"yes"`` to true), a float without fraction to an integer, 0 or 1 to a boolean;
    - else left out: null where the schema allows null, else the key is removed (an item of
      a list: null, or removed), with one warning per stream and field path in a sync.

    Values nobody documented (``additionalProperties``) pass as they are, unwalked (the
    conversations' nested ``messages`` page is the children's). The key and the cursor are
    not left out: a record whose required field (``id``) or ``cursor_field`` cannot be read
    ends the read with a system error naming the stream, the object, the field and the value,
    before the cursor sees the record (the state never passes it); the records before it
    were emitted.

    Why a component: the CDK's ``Default`` normalization (``TypeTransformer``) converts with
    Python's ``str()`` and ``bool()`` (``{"a": 1}`` becomes ``"{'a': 1}"``, 5 becomes true),
    keeps what it cannot convert (invalid records reach the destination with a warning per
    record), and walks the whole schema with a jsonschema validator on every record. This
    compiles each stream's schema once (its ``$ref`` s are resolved by the schema loader) and
    looks only at the fields a record has.

    Example (message_details): ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000",
    "message": 5, "is_unsupported": "true", "from": ["x"]}`` becomes ``{"id": "m_1",
    "created_time": "2022-07-12T19:11:07+00:00", "message": "5", "is_unsupported": true,
    "from": null}`` and logs once that ``from`` came as an array; ``{"id": "m_1",
    "created_time": "yesterday"}`` raises "Meta answered message m_1 (stream message_details)
    without a readable created_time (got 'yesterday') ...".
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    # The stream's name and cursor field come from its ``$parameters`` (manifest).
    name: str = ""
    cursor_field: str = ""
    # What one record is, in Graph's words, for the log and errors: "conversation", "message".
    graph_object: str = "record"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._compiled: tuple[Mapping[str, Any], _Plan] | None = None

    def transform(self, record: dict[str, Any], schema: Mapping[str, Any]) -> None:
        """Conform ``record`` in place; raise when its key or cursor cannot be read."""
        plan = self._plan(schema)
        for key, field in plan.readable:
            value = record.get(key, _MISSING)
            read = _read(field, value)
            if read is _UNCONFORMABLE:
                raise self._unreadable(record, key, value)
            if read is not value:
                record[key] = read
        _conform_properties(record, plan.others, plan.report)

    def _plan(self, schema: Mapping[str, Any]) -> _Plan:
        """The stream's schema compiled, once (the CDK hands every record the same schema)."""
        compiled = self._compiled
        if compiled is None or compiled[0] is not schema:
            compiled = (schema, _Plan.compile(schema, self.cursor_field, self._report))
            self._compiled = compiled
        return compiled[1]

    def _report(self, field: _Field, value: Any) -> None:
        """Warn, once per stream and field in a sync, that a value of another type was left out."""
        if not UNEXPECTED_TYPES.first(self.name, field.path):
            return
        outcome = (
            "such values are written as null"
            if field.nullable
            else "such values are left out of the records"
        )
        LOGGER.warning(
            "Stream %s: Meta sent %s of a %s as %s, not as the documented %s; %s (logged once "
            "per stream and field).",
            self.name,
            field.path,
            self.graph_object,
            json_kind(value),
            field.kind,
            outcome,
        )

    def _unreadable(self, record: Mapping[str, Any], key: str, value: Any) -> Exception:
        """The error for a record whose key or cursor ``key`` holds ``value``."""
        noun = self.graph_object
        record_id = record.get("id")
        where = (
            f" of conversation {record['conversation_id']}" if "conversation_id" in record else ""
        )
        named = (
            f"{noun} {_shortened(record_id)}"
            if key != "id" and isinstance(record_id, str)
            else f"a {noun}{where}"
        )
        role = (
            "the stream's state is kept by that field"
            if key == self.cursor_field
            else "every record of the stream must have one"
        )
        message = (
            f"Meta answered {named} (stream {self.name}) without a readable {key} "
            f"({_shown(value)}): {role}, so the sync stopped before this {noun}. The records "
            "before it were delivered and the state was saved only up to them. This comes from "
            "Meta's answer, not from your configuration: run the sync again later, and if it "
            f"stops on the same {noun}, report it to Meta's developer support."
        )
        return AirbyteTracedException(
            message=message,
            internal_message=f"Unreadable {key} in a record of stream {self.name}.",
            failure_type=FailureType.system_error,
        )


@dataclass(frozen=True)
class _Plan:
    """A stream's schema compiled: the fields that must be read, and the other properties."""

    readable: Properties
    others: Properties
    report: Report

    @classmethod
    def compile(cls, schema: Mapping[str, Any], cursor_field: str, report: Report) -> _Plan:
        """Compile ``schema`` (an object schema with resolved ``$ref`` s)."""
        properties = _compile_properties(schema, "", report)
        must_read = {*schema.get("required", []), *([cursor_field] if cursor_field else [])}
        return cls(
            readable=tuple((name, f) for name, f in properties if name in must_read),
            others=tuple((name, f) for name, f in properties if name not in must_read),
            report=report,
        )


def _read(field: _Field, value: Any) -> Any:
    """A key or cursor value conformed, or ``_UNCONFORMABLE`` when it cannot serve as one.

    Stricter than conforming: an id must be non-empty text or a whole number (its decimal
    text); a list or an object names no record. A cursor must be a time the cursors parse.
    """
    if value is None or value is _MISSING:
        return _UNCONFORMABLE
    if field.kind == "date-time":
        return _date_time(value)
    if field.kind == "string":
        if type(value) is str:
            return value if value else _UNCONFORMABLE
        return str(value) if type(value) is int else _UNCONFORMABLE
    return value if type(value) in field.accepted else _UNCONFORMABLE


def _shown(value: Any) -> str:
    """A key or cursor value as an error shows it: short, JSON-like, never Python's repr."""
    if value is _MISSING:
        return "it was missing"
    if type(value) is str:
        return f"got '{_shortened(value)}'"
    text = _json_text(value)
    if text is _UNCONFORMABLE:
        return f"got {json_kind(value)}"
    return f"got {_shortened(text)}"


def _shortened(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARACTERS else text[:_SHOWN_CHARACTERS] + "..."


# ------------------------------------------------------------------------------ compiling
def _compile_properties(schema: Mapping[str, Any], prefix: str, report: Report) -> Properties:
    """The typed properties of an object schema, each compiled."""
    compiled = []
    for name, subschema in (schema.get("properties") or {}).items():
        field = _compile(subschema, f"{prefix}{name}", report)
        if field is not None:
            compiled.append((name, field))
    return tuple(compiled)


def _compile(schema: Mapping[str, Any], path: str, report: Report) -> _Field | None:
    """One schema node compiled; None when it types nothing (any value passes)."""
    if "$ref" in schema:
        raise ValueError(f"The schema at {path} still has a $ref: the schema loader resolves them.")
    declared = schema.get("type")
    if not declared:
        return None
    types = [declared] if isinstance(declared, str) else list(declared)
    nullable = "null" in types
    types = [t for t in types if t != "null"]
    none: tuple[type, ...] = (_NONE_TYPE,) if nullable else ()
    if len(types) != 1:
        accepted = frozenset(t for name in types for t in _PYTHON_TYPES.get(name, ()))
        return _Field(path, " or ".join(types), nullable, accepted | set(none), _union(types))
    kind = types[0]
    if kind == "string" and schema.get("format") == "date-time":
        return _Field(path, "date-time", nullable, frozenset(none), _date_time)
    if kind == "object" and schema.get("properties"):
        properties = _compile_properties(schema, f"{path}.", report)
        return _Field(path, kind, nullable, frozenset(none), _object(properties, report))
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        item = _compile(schema["items"], f"{path}[]", report)
        if item is not None:
            return _Field(path, kind, nullable, frozenset(none), _array(item, report))
    conform = _SCALARS.get(kind, _never)
    return _Field(path, kind, nullable, frozenset((*_PYTHON_TYPES.get(kind, ()), *none)), conform)


def _conform_properties(record: dict[str, Any], properties: Properties, report: Report) -> None:
    """Conform, in place, each typed property ``record`` has."""
    for key, field in properties:
        old = record.get(key, _MISSING)
        if old is _MISSING or type(old) in field.accepted:
            continue
        new = field.conform(old)
        if new is _UNCONFORMABLE:
            report(field, old)
            if field.nullable:
                record[key] = None
            else:
                del record[key]
        elif new is not old:
            record[key] = new


def _object(properties: Properties, report: Report) -> Callable[[Any], Any]:
    def conform(value: Any) -> Any:
        if type(value) is not dict:
            return _UNCONFORMABLE
        _conform_properties(value, properties, report)
        return value

    return conform


def _array(item: _Field, report: Report) -> Callable[[Any], Any]:
    def conform(value: Any) -> Any:
        if type(value) is not list:
            return _UNCONFORMABLE
        removed = False
        for index, old in enumerate(value):
            if type(old) in item.accepted:
                continue
            new = item.conform(old)
            if new is _UNCONFORMABLE:
                report(item, old)
                if not item.nullable:
                    removed = True
                new = None if item.nullable else _UNCONFORMABLE
            if new is not old:
                value[index] = new
        if removed:
            value[:] = [element for element in value if element is not _UNCONFORMABLE]
        return value

    return conform


# ------------------------------------------------------------------------------ scalars
# Each is called only for a value that is not of the documented type (nor null where allowed).
def _json_text(value: Any) -> Any:
    """A value as JSON text (an object's or a list's, a number's, ``true``), compact."""
    if value is None:
        return _UNCONFORMABLE
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return _UNCONFORMABLE


def _date_time(value: Any) -> Any:
    readable = rfc3339(value)
    return _UNCONFORMABLE if readable is None else readable


def _from_string(value: str, kind: str) -> Any:
    """The CDK's default conversion of a string to ``kind``; what it cannot convert, unchanged."""
    return CdkTypeTransformer.default_convert(value, {"type": kind})


def _integer(value: Any) -> Any:
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str:
        converted = _from_string(value, "integer")
        return converted if type(converted) is int else _UNCONFORMABLE
    return _UNCONFORMABLE


def _number(value: Any) -> Any:
    if type(value) is str:
        converted = _from_string(value, "number")
        if type(converted) is float and converted - converted == 0:  # finite
            return converted
    return _UNCONFORMABLE


def _boolean(value: Any) -> Any:
    if type(value) is str:
        converted = _from_string(value, "boolean")
        return converted if type(converted) is bool else _UNCONFORMABLE
    if type(value) is int and value in (0, 1):
        return value == 1
    return _UNCONFORMABLE


def _never(value: Any) -> Any:
    """An object or array documented without properties or items: only itself is kept."""
    return _UNCONFORMABLE


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "string": _json_text,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
}


def _union(types: list[str]) -> Callable[[Any], Any]:
    """Several types documented (Meta's ``video_type``): text if text is one of them."""
    return _json_text if "string" in types else _never
