"""The synced records in DuckDB, in tables shaped as a destination writes them.

One table per stream, one column per property of the stream's JSON Schema (from ``discover``),
typed the way PyAirbyte's DuckDB cache types them, so that the demo's SQL also runs on a cache a
user filled with PyAirbyte (README):

==========================================  ==========
JSON Schema                                 column
==========================================  ==========
``string`` with ``format: date-time``       TIMESTAMP (UTC)
``string``                                  VARCHAR
``integer`` / ``number`` / ``boolean``      BIGINT / DOUBLE / BOOLEAN
``object`` / ``array``                      JSON
==========================================  ==========

Records are deduplicated on the primary key, the last one read winning, as an ``append_dedup``
destination does (delivery is at least once).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

TYPES = {"integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "string": "VARCHAR"}


def column_type(schema: Mapping[str, Any]) -> str:
    """The DuckDB type of a property, e.g. ``{"type": ["null", "string"], "format": "date-time"}``
    gives ``TIMESTAMP``, ``{"type": ["null", "object"]}`` gives ``JSON``."""
    kinds = schema.get("type", "string")
    kinds = [kinds] if isinstance(kinds, str) else [k for k in kinds if k != "null"]
    kind = kinds[0] if len(kinds) == 1 else "mixed"
    if kind == "string" and schema.get("format") == "date-time":
        return "TIMESTAMP"
    return TYPES.get(kind, "JSON")


def quoted(name: str) -> str:
    """A column name as SQL needs it (``from`` is a keyword)."""
    return '"' + name.replace('"', '""') + '"'


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "JSON":
        return json.dumps(value, ensure_ascii=False)
    if kind == "TIMESTAMP":
        return datetime.fromisoformat(str(value)).astimezone(UTC).replace(tzinfo=None)
    return value


def load(
    connection: duckdb.DuckDBPyConnection,
    streams: Sequence[Mapping[str, Any]],
    records: Iterable[Mapping[str, Any]],
) -> dict[str, int]:
    """Create one table per discovered stream and insert the records; rows per table.

    ``streams`` are the catalog's streams (``name``, ``json_schema``,
    ``source_defined_primary_key``); ``records`` the ``record`` objects of a read.
    """
    latest: dict[str, dict[Any, Mapping[str, Any]]] = {s["name"]: {} for s in streams}
    keys = {s["name"]: [k[0] for k in s.get("source_defined_primary_key") or []] for s in streams}
    for record in records:
        stream, data = record["stream"], record["data"]
        if stream in latest:
            key = tuple(data.get(k) for k in keys[stream]) or len(latest[stream])
            latest[stream][key] = data
    counts: dict[str, int] = {}
    for stream in streams:
        name = stream["name"]
        columns = {
            column: column_type(schema)
            for column, schema in stream["json_schema"].get("properties", {}).items()
        }
        definition = ", ".join(f"{quoted(c)} {kind}" for c, kind in columns.items())
        connection.execute(f"CREATE OR REPLACE TABLE {quoted(name)} ({definition})")
        rows = [
            [_value(data.get(column), kind) for column, kind in columns.items()]
            for data in latest[name].values()
        ]
        if rows:
            marks = ", ".join("?" for _ in columns)
            connection.executemany(f"INSERT INTO {quoted(name)} VALUES ({marks})", rows)  # noqa: S608
        counts[name] = len(rows)
    return counts


def open_warehouse(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB database: in memory, or a file (replaced) a user can open afterwards."""
    if path is None:
        return duckdb.connect()
    path.unlink(missing_ok=True)
    return duckdb.connect(str(path))
