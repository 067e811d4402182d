"""The fixes to the CDK's per-partition bookkeeping (``memory.py``): they are in place, they
drop what they are meant to and nothing else, and a read emits the same records, state and logs
with them as without.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, cast

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.concurrent_source.thread_pool_manager import ThreadPoolManager
from airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor import (
    ConcurrentPerPartitionCursor,
)
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger

from meta_graph_sandbox import Sandbox, SandboxOptions
from source_meta_conversations.cdk_adaptations import declarative_source as source_module
from source_meta_conversations.cdk_adaptations import memory
from source_meta_conversations.source import SourceMetaConversations
from unit_tests.mock_server.config import ConfigBuilder
from unit_tests.mock_server.source_runner import ALL_STREAMS, read_streams

# Finished futures are dropped once this many are held (the CDK waits for 10,000).
PRUNE_FINISHED_FUTURES_AT = 100


def _concurrent_source() -> ConcurrentSource:
    return ConcurrentSource.create(
        num_workers=2,
        initial_number_of_partitions_to_generate=1,
        logger=logging.getLogger("test"),
        slice_logger=DebugSliceLogger(),
        message_repository=InMemoryMessageRepository(),
    )


def test_given_finished_tasks_when_pruned_then_their_futures_are_dropped_early() -> None:
    concurrent_source = _concurrent_source()
    memory.prune_finished_futures(concurrent_source)
    pool = concurrent_source._threadpool
    assert isinstance(pool, memory.PromptlyPruningThreadPoolManager)
    for _ in range(PRUNE_FINISHED_FUTURES_AT):
        pool.submit(int)
    _wait_until_done(pool)

    # The CDK would keep these finished futures until 10,000 of them had piled up.
    assert not pool.prune_to_validate_has_reached_futures_limit()
    assert pool._futures == []
    pool.check_for_errors_and_shutdown()


def test_given_pending_tasks_when_pruned_then_only_finished_ones_go_and_the_cdk_limit_holds() -> (
    None
):
    concurrent_source = _concurrent_source()
    memory.prune_finished_futures(concurrent_source)
    pool = concurrent_source._threadpool
    assert pool._max_concurrent_tasks == ThreadPoolManager.DEFAULT_MAX_QUEUE_SIZE
    release = threading.Event()
    try:
        pool.submit(release.wait)
        for _ in range(PRUNE_FINISHED_FUTURES_AT):
            pool.submit(int)
        deadline = time.monotonic() + 10
        while sum(f.done() for f in pool._futures) < PRUNE_FINISHED_FUTURES_AT:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # One task still running: partition generation goes on (the limit is the CDK's 10,000).
        assert not pool.prune_to_validate_has_reached_futures_limit()
        assert len(pool._futures) == 1
    finally:
        release.set()
    _wait_until_done(pool)
    pool.check_for_errors_and_shutdown()


def test_given_a_task_that_raised_when_pruned_then_the_read_fails_as_with_the_cdk() -> None:
    concurrent_source = _concurrent_source()
    memory.prune_finished_futures(concurrent_source)
    pool = concurrent_source._threadpool

    def fail() -> None:
        raise ValueError("boom")

    pool.submit(fail)
    for _ in range(PRUNE_FINISHED_FUTURES_AT):
        pool.submit(int)
    _wait_until_done(pool)
    pool.prune_to_validate_has_reached_futures_limit()

    with pytest.raises(RuntimeError, match="Failed processing a future: boom"):
        pool.check_for_errors_and_shutdown()


def test_given_the_source_when_built_then_its_thread_pool_prunes_finished_futures() -> None:
    source = SourceMetaConversations(config=ConfigBuilder().build())
    assert isinstance(
        source._concurrent_source._threadpool, memory.PromptlyPruningThreadPoolManager
    )


def test_given_the_source_when_streams_then_only_global_cursor_streams_keep_no_cursors() -> None:
    config = ConfigBuilder().build()
    streams = {
        stream.name: stream for stream in SourceMetaConversations(config=config).streams(config)
    }

    for name in ("messages", "message_details"):
        cursor = streams[name].cursor
        assert isinstance(cursor, ConcurrentPerPartitionCursor)
        assert isinstance(cursor._cursor_per_partition, memory.NoPartitionCursors)
    # Per-partition state (one partition per platform): the CDK's own dictionary.
    conversations_cursor = streams["conversations"].cursor
    assert isinstance(conversations_cursor, ConcurrentPerPartitionCursor)
    assert not isinstance(conversations_cursor._cursor_per_partition, memory.NoPartitionCursors)


def test_given_no_partition_cursors_when_a_cursor_is_stored_then_nothing_is_kept() -> None:
    cursors = memory.NoPartitionCursors()
    cursors['{"conversation_id":"t_1"}'] = cast(Any, object())
    assert len(cursors) == 0
    assert cursors.get('{"conversation_id":"t_1"}') is None


def _wait_until_done(pool: ThreadPoolManager) -> None:
    deadline = time.monotonic() + 10
    while not pool.is_done():
        assert time.monotonic() < deadline, "tasks did not finish"
        time.sleep(0.01)


def _without_lookback(state: Any) -> Any:
    """A state without ``lookback_window``: the CDK writes the read's duration there."""
    if isinstance(state, dict):
        return {k: _without_lookback(v) for k, v in state.items() if k != "lookback_window"}
    if isinstance(state, list):
        return [_without_lookback(v) for v in state]
    return state


def _read(config: dict[str, Any]) -> tuple[list[str], dict[str, Any], list[str]]:
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
    warnings = [
        m.log.message
        for m in output.logs
        if m.log is not None and m.log.level.value in ("WARN", "ERROR", "FATAL")
    ]
    return records, final_states, warnings


def test_given_many_partitions_when_read_with_and_without_the_fixes_then_same_records_and_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fixed_streams: list[AbstractStream] = []

    def keep_none_and_remember(streams: Iterable[AbstractStream]) -> None:
        streams = list(streams)
        fixed_streams.extend(streams)
        memory.keep_no_partition_cursors(streams)

    options = SandboxOptions(seed=5, conversations=30, messages="fixed:3", platforms=("messenger",))
    with Sandbox(options) as sandbox:
        config = sandbox.connector_config()
        monkeypatch.setattr(source_module, "prune_finished_futures", lambda *_: None)
        monkeypatch.setattr(source_module, "keep_no_partition_cursors", lambda *_: None)
        without = _read(config)
        monkeypatch.setattr(source_module, "prune_finished_futures", memory.prune_finished_futures)
        monkeypatch.setattr(source_module, "keep_no_partition_cursors", keep_none_and_remember)
        with_fixes = _read(config)

    assert with_fixes == without
    assert len([r for r in with_fixes[0] if '"stream": "message_details"' in r]) == 90
    # The children's 30 partitions left no cursor behind.
    children = [s for s in fixed_streams if s.name in ("messages", "message_details")]
    assert len(children) == 2
    for stream in children:
        assert isinstance(stream.cursor, ConcurrentPerPartitionCursor)
        assert len(stream.cursor._cursor_per_partition) == 0
