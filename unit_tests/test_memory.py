"""The bounds on the CDK's per-partition bookkeeping (``memory.py``): they are in place, they
bound what they are meant to, and a read emits the same records and state with them as without.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor import (
    ConcurrentPerPartitionCursor,
)
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger

from source_meta_conversations import memory
from source_meta_conversations import source as source_module
from source_meta_conversations.sandbox import Sandbox, SandboxOptions
from source_meta_conversations.source import SourceMetaConversations
from unit_tests.mock_server.config import ConfigBuilder
from unit_tests.mock_server.source_runner import ALL_STREAMS, read_streams

CDK_PARTITIONS_LIMIT = ConcurrentPerPartitionCursor.DEFAULT_MAX_PARTITIONS_NUMBER


def _concurrent_source() -> ConcurrentSource:
    return ConcurrentSource.create(
        num_workers=2,
        initial_number_of_partitions_to_generate=1,
        logger=logging.getLogger("test"),
        slice_logger=DebugSliceLogger(),
        message_repository=InMemoryMessageRepository(),
    )


def test_given_a_concurrent_source_when_bound_pending_tasks_then_its_pool_waits_at_the_limit() -> (
    None
):
    concurrent_source = _concurrent_source()
    memory.bound_pending_tasks(concurrent_source, limit=2)
    pool = concurrent_source._threadpool
    release = threading.Event()
    try:
        pool.submit(release.wait)
        pool.submit(release.wait)
        # Two tasks not done: partition generation would wait (the CDK's default waits at 10,000).
        assert pool.prune_to_validate_has_reached_futures_limit()
    finally:
        release.set()
    deadline = time.monotonic() + 10
    while not pool.is_done() and time.monotonic() < deadline:
        time.sleep(0.01)
    # Done tasks are pruned at the limit: nothing is kept, nothing is pending.
    assert not pool.prune_to_validate_has_reached_futures_limit()
    assert pool._futures == []
    pool.check_for_errors_and_shutdown()


def test_given_the_source_when_built_then_its_thread_pool_prunes_at_pending_tasks_limit() -> None:
    source = SourceMetaConversations(config=ConfigBuilder().build())
    assert source._concurrent_source._threadpool._max_concurrent_tasks == (
        memory.PENDING_TASKS_LIMIT
    )


def test_given_the_source_when_streams_then_only_global_cursor_streams_keep_fewer_cursors() -> None:
    config = ConfigBuilder().build()
    streams = {
        stream.name: stream for stream in SourceMetaConversations(config=config).streams(config)
    }

    for name in ("messages", "message_details"):
        cursor = streams[name].cursor
        assert isinstance(cursor, ConcurrentPerPartitionCursor)
        assert cursor.DEFAULT_MAX_PARTITIONS_NUMBER == memory.GLOBAL_CURSOR_PARTITIONS_KEPT
    # Per-partition state (one partition per platform): the CDK's limit, untouched.
    conversations_cursor = streams["conversations"].cursor
    assert isinstance(conversations_cursor, ConcurrentPerPartitionCursor)
    assert conversations_cursor.DEFAULT_MAX_PARTITIONS_NUMBER == CDK_PARTITIONS_LIMIT
    assert ConcurrentPerPartitionCursor.DEFAULT_MAX_PARTITIONS_NUMBER == CDK_PARTITIONS_LIMIT


def _without_lookback(state: Any) -> Any:
    """A state without ``lookback_window``: the CDK writes the read's duration there."""
    if isinstance(state, dict):
        return {k: _without_lookback(v) for k, v in state.items() if k != "lookback_window"}
    if isinstance(state, list):
        return [_without_lookback(v) for v in state]
    return state


def _read(config: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    output = read_streams(config, ALL_STREAMS, sync_mode=SyncMode.incremental)
    assert not output.errors
    records = sorted(
        json.dumps({"stream": m.record.stream, "data": m.record.data}, sort_keys=True)
        for m in output.records
        if m.record is not None
    )
    final_states = {
        m.state.stream.stream_descriptor.name: _without_lookback(
            m.state.stream.stream_state.__dict__
        )
        for m in output.state_messages
        if m.state is not None and m.state.stream is not None
    }
    return records, final_states


def test_given_more_partitions_than_the_bounds_when_read_then_same_records_and_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = 4
    bounded_streams: list[AbstractStream] = []

    def bound_and_remember(streams: Iterable[AbstractStream]) -> None:
        streams = list(streams)
        bounded_streams.extend(streams)
        memory.bound_global_cursor_partitions(streams, kept=kept)

    options = SandboxOptions(seed=5, conversations=30, messages="fixed:3", platforms=("messenger",))
    with Sandbox(options) as sandbox:
        config = sandbox.connector_config()
        monkeypatch.setattr(source_module, "bound_pending_tasks", lambda *_: None)
        monkeypatch.setattr(source_module, "bound_global_cursor_partitions", lambda *_: None)
        unbounded = _read(config)
        monkeypatch.setattr(
            source_module,
            "bound_pending_tasks",
            functools.partial(memory.bound_pending_tasks, limit=kept // 2),
        )
        monkeypatch.setattr(source_module, "bound_global_cursor_partitions", bound_and_remember)
        bounded = _read(config)

    assert bounded == unbounded
    assert len([r for r in bounded[0] if '"stream": "messages"' in r]) == 90
    # The children's 30 partitions each left at most ``kept`` cursors behind.
    children = [s for s in bounded_streams if s.name in ("messages", "message_details")]
    assert children
    for stream in children:
        assert isinstance(stream.cursor, ConcurrentPerPartitionCursor)
        assert len(stream.cursor._cursor_per_partition) <= kept
