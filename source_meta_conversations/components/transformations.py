"""Record transformations: where a record came from, and which fields it keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState

from source_meta_conversations.sync.conversation_platforms import CONVERSATION_PLATFORMS


@dataclass
class GraphRecordContext(RecordTransformation):
    """Stamp a record with where it came from.

    Adds ``page_id`` (from the config), ``platform`` (from the slice, or its parent slice for
    children) and, for children, ``conversation_id``. (Times as RFC 3339 and ``"true"`` as
    true are the schema's business: ``normalization.ConformToSchema``.)

    Why a component: ``AddFields`` does this with one Jinja render per field per record; on
    1,000 conversations x 20 messages those renders were a third of the sync's CPU
    (docs/benchmarks.md), and every field here is a plain copy.

    Example: ``{"id": "m_1"}`` in slice
    ``{"conversation_id": "t_1", "parent_slice": {"platform": "messenger"}}`` becomes
    ``{"id": "m_1", "conversation_id": "t_1", "page_id": "<page>", "platform": "messenger"}``.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._page_id = str(self.config.get("page_id", ""))

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Add page_id, platform and conversation_id in place."""
        partition: Mapping[str, Any] = stream_slice.partition if stream_slice is not None else {}
        parent = partition.get("parent_slice") or {}
        conversation_id = partition.get("conversation_id")
        if conversation_id is not None:
            record["conversation_id"] = str(conversation_id)
        record["page_id"] = self._page_id
        record["platform"] = partition.get("platform") or parent.get("platform")


@dataclass
class NoteEdgePlatform(RecordTransformation):
    """Note the platform of a listed conversation whose messages go on past its nested page.

    Meta counts a call to a conversation's messages edge against the Page or the Instagram
    account of the conversation, but the edge's URL (``/{conversation-id}/messages``) does not
    say which: the API budget reads it from the registry this fills
    (sync/conversation_platforms.py, rate_policies.MessagesEdgeOf). It runs on the
    conversations page the child streams read, before they see its conversations, and notes
    only those whose nested ``messages`` has a ``paging.next``: the children call the edge for
    no other conversation. The record is not changed.

    Why a component: noting a value for later is no transformation YAML can state.

    Example: ``{"id": "t_1", "messages": {"data": [...], "paging": {"next": "..."}}}`` in slice
    ``{"platform": "messenger"}`` notes ``t_1`` as Messenger's; without ``paging.next``, nothing.
    """

    parameters: InitVar[Mapping[str, Any]]

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Note the record's conversation and its slice's platform if more messages follow."""
        messages = record.get("messages")
        paging = messages.get("paging") if isinstance(messages, Mapping) else None
        if not isinstance(paging, Mapping) or not paging.get("next"):
            return
        platform = stream_slice.partition.get("platform") if stream_slice is not None else None
        if record.get("id") is not None and platform:
            CONVERSATION_PLATFORMS.note(str(record["id"]), str(platform))


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
