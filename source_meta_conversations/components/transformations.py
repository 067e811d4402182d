"""Record transformations: where a record came from, RFC 3339 times, and which fields it keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState

from source_meta_conversations.components.timestamps import rfc3339


@dataclass
class GraphRecordContext(RecordTransformation):
    """Stamp a record with where it came from and write its timestamps as RFC 3339.

    Adds ``page_id`` (from the config), ``platform`` (from the slice, or its parent slice for
    children) and, for children, ``conversation_id``; rewrites ``timestamp_fields`` from Graph's
    colon-less offsets to RFC 3339, which destinations read as timestamps with time zone; and
    turns the strings ``"true"``/``"false"`` at ``boolean_fields`` (dotted paths; a list on the
    way applies the rest of the path to each item) into the booleans the schemas document:
    Graph has been seen sending Instagram's ``is_unsupported`` as ``"true"``
    (graph-api-notes.md), and such a record would not validate.

    Why a component: ``AddFields`` does this with one Jinja render per field per record; on
    1,000 conversations x 20 messages those renders were a third of the sync's CPU
    (docs/benchmarks.md), and every field here is a plain copy.

    Example: ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000", "is_unsupported":
    "true"}`` in slice
    ``{"conversation_id": "t_1", "parent_slice": {"platform": "messenger"}}`` becomes
    ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+00:00", "is_unsupported": true,
    "conversation_id": "t_1", "page_id": "<page>", "platform": "messenger"}``.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    timestamp_fields: list[str] = field(default_factory=list)
    boolean_fields: list[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._page_id = str(self.config.get("page_id", ""))
        self._boolean_paths = [tuple(name.split(".")) for name in self.boolean_fields]

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Add page_id, platform and conversation_id; normalise the timestamp fields in place."""
        partition: Mapping[str, Any] = stream_slice.partition if stream_slice is not None else {}
        parent = partition.get("parent_slice") or {}
        conversation_id = partition.get("conversation_id")
        if conversation_id is not None:
            record["conversation_id"] = str(conversation_id)
        record["page_id"] = self._page_id
        record["platform"] = partition.get("platform") or parent.get("platform")
        for name in self.timestamp_fields:
            value = record.get(name)
            if isinstance(value, str):
                record[name] = rfc3339(value)
        for path in self._boolean_paths:
            _booleans_at(record, path)


_BOOLEAN_STRINGS = {"true": True, "false": False}


def _booleans_at(value: Any, path: tuple[str, ...]) -> None:
    """Turn a ``"true"``/``"false"`` string at ``path`` under ``value`` into a boolean."""
    if isinstance(value, list):
        for item in value:
            _booleans_at(item, path)
        return
    if not isinstance(value, dict) or path[0] not in value:
        return
    if len(path) > 1:
        _booleans_at(value[path[0]], path[1:])
        return
    item = value[path[0]]
    if isinstance(item, str) and item.lower() in _BOOLEAN_STRINGS:
        value[path[0]] = _BOOLEAN_STRINGS[item.lower()]


@dataclass
class DropFields(RecordTransformation):
    """Delete the named top-level fields of a record.

    Why a component: ``RemoveFields`` deletes through ``dpath.delete``, which walks every node of
    the record; a conversation record still carries its nested messages page when its
    ``messages`` field is dropped, so that walk costs more than the rest of the record's
    processing. A top-level key needs no walk.

    Example: with ``fields=["messages"]``, ``{"id": "t_1", "messages": {...}}`` becomes
    ``{"id": "t_1"}``.
    """

    parameters: InitVar[Mapping[str, Any]]
    fields: list[str] = field(default_factory=list)

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Delete, in place, the named top-level keys that are present."""
        for name in self.fields:
            record.pop(name, None)


@dataclass
class KeepFields(RecordTransformation):
    """Keep only the named top-level fields of a record and drop every other one.

    Why a component: the ``messages`` stream reads the same nested Graph page as
    ``message_details`` (one call feeds both), so its records arrive with every detail field.
    ``RemoveFields`` would need a second copy of the detail field list; keeping the two fields
    the stream is about reads the one list the manifest already has (``fields.message``).

    Example: with ``fields="id,created_time"``,
    ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000", "message": "Hi"}`` becomes
    ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000"}``.
    """

    parameters: InitVar[Mapping[str, Any]]
    fields: str | list[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        names = self.fields.split(",") if isinstance(self.fields, str) else self.fields
        self._keep = frozenset(name.strip() for name in names if name.strip())
        if not self._keep:
            raise ValueError("KeepFields needs at least one field name to keep.")

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Delete, in place, every top-level key of ``record`` that is not kept."""
        for key in [key for key in record if key not in self._keep]:
            del record[key]


@dataclass
class DropNestedPaging(RecordTransformation):
    """Delete the ``paging`` of the lists nested in a record (``attachments``, ``to``, ...).

    Why a component: Graph pages every nested edge, so a message's ``attachments`` (and its
    ``to``, ``reactions``, ``shares``, ``tags``) come as ``{"data": [...], "paging": {...}}``,
    and the ``next``/``previous`` links in that ``paging`` repeat the request's query string:
    the ``appsecret_proof``, and the token itself when a request carried it there
    (graph-api-notes.md, "Attachments, shares and profiles"). The connector never follows them
    (a message's 20-message page is all Meta describes); kept, they would write a credential of
    the call into the destination. They are not data: the schemas do not list them.

    Example: ``{"attachments": {"data": [{"id": "a_1"}], "paging": {"next": "...proof=..."}}}``
    becomes ``{"attachments": {"data": [{"id": "a_1"}]}}``.
    """

    parameters: InitVar[Mapping[str, Any]]

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Delete, in place, ``paging`` from every top-level value that is a Graph list."""
        for value in record.values():
            if isinstance(value, dict) and "paging" in value and "data" in value:
                del value["paging"]
