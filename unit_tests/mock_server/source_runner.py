"""Run the source in-process the way the platform would, for one or more streams."""

from __future__ import annotations

from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read

from source_meta_conversations.source import SourceMetaConversations


def read_streams(
    config: dict[str, Any],
    streams: list[str],
    *,
    sync_mode: SyncMode = SyncMode.full_refresh,
    state: list[Any] | None = None,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    builder = CatalogBuilder()
    for name in streams:
        builder = builder.with_stream(name, sync_mode)
    catalog = builder.build()
    source = SourceMetaConversations(catalog=catalog, config=config, state=state)
    return read(source, config, catalog, state, expecting_exception)


def records_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    return [
        message.record.data for message in output.records if message.record.stream == stream
    ]
