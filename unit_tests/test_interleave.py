"""The children's router reads the platforms' conversations partitions side by side.

The CDK's own ``SubstreamPartitionRouter`` consumes an ``InterleavedParent`` here, so the order
of its cursor calls is the one a sync sees.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from airbyte_cdk.sources.declarative.partition_routers.substream_partition_router import (
    ParentStreamConfig,
    SubstreamPartitionRouter,
)
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import Record, StreamSlice

from source_meta_conversations.cdk_adaptations.interleave import (
    InterleavedParent,
    interleave_parents,
)
from source_meta_conversations.source import SourceMetaConversations
from unit_tests.mock_server.config import ConfigBuilder


class FakePartition(Partition):
    """One platform's partition of the conversations stream, with its records."""

    def __init__(self, platform: str, ids: list[str], log: list[str] | None = None) -> None:
        self.platform = platform
        self._slice = StreamSlice(partition={"platform": platform}, cursor_slice={})
        self._ids = ids
        self._log = log if log is not None else []

    def read(self) -> Iterable[Record]:
        for record_id in self._ids:
            # Taking a record can fetch the platform's next page, which checkpoints the last one.
            self._log.append(f"take {record_id}")
            yield Record({"id": record_id}, "conversations", associated_slice=self._slice)

    def to_slice(self) -> Mapping[str, Any] | None:
        return self._slice

    def stream_name(self) -> str:
        return "conversations"

    def __hash__(self) -> int:
        return hash(self.platform)


class FakeCursor:
    """Records what the router asks of the parent's cursor, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def observe(self, record: Record) -> None:
        self.events.append(f"observe {record.data['id']}")

    def close_partition(self, partition: Partition) -> None:
        assert isinstance(partition, FakePartition), "only the parent's own partitions close"
        self.events.append(f"close {partition.platform}")

    def ensure_at_least_one_state_emitted(self) -> None:
        self.events.append("ensure state")

    @property
    def state(self) -> Mapping[str, Any]:
        return {"states": []}


class FakeParent:
    """The conversations stream as a child's router uses it: name, cursor, partitions."""

    name = "conversations"

    def __init__(self, partitions: list[FakePartition]) -> None:
        self.cursor = FakeCursor()
        self._partitions = partitions

    def generate_partitions(self) -> Iterable[Partition]:
        yield from self._partitions


def _router(parent: FakeParent) -> SubstreamPartitionRouter:
    config = ParentStreamConfig(
        stream=InterleavedParent(parent),  # type: ignore[arg-type]
        parent_key="id",
        partition_field="conversation_id",
        config={},
        parameters={},
    )
    return SubstreamPartitionRouter(parent_stream_configs=[config], config={}, parameters={})


def _conversations(router: SubstreamPartitionRouter) -> list[str]:
    return [str(s.partition["conversation_id"]) for s in router.stream_slices()]


def test_given_two_platforms_when_the_child_slices_are_generated_then_the_platforms_alternate() -> (
    None
):
    parent = FakeParent(
        [FakePartition("messenger", ["m1", "m2", "m3"]), FakePartition("instagram", ["i1"])]
    )

    assert _conversations(_router(parent)) == ["m1", "i1", "m2", "m3"]


def test_given_two_platforms_when_merged_then_none_is_taken_before_the_last_is_handed_out() -> None:
    # Taking m2 may fetch messenger's next page and checkpoint m1's page: by then m1 must have
    # gone to the router, so that the checkpoint goes with m1's child slice or a later one.
    log: list[str] = []
    parent = FakeParent(
        [
            FakePartition("messenger", ["m1", "m2", "m3"], log),
            FakePartition("instagram", ["i1", "i2"], log),
        ]
    )
    [merged] = InterleavedParent(parent).generate_partitions()  # type: ignore[arg-type]

    for record in merged.read():
        log.append(f"hand out {record.data['id']}")

    for platform_ids in (["m1", "m2", "m3"], ["i1", "i2"]):
        for handed, taken in itertools.pairwise(platform_ids):
            assert log.index(f"hand out {handed}") < log.index(f"take {taken}"), log


def test_given_a_platforms_last_record_when_observed_then_its_partition_closes_right_after() -> (
    None
):
    parent = FakeParent(
        [FakePartition("messenger", ["m1", "m2"]), FakePartition("instagram", ["i1", "i2"])]
    )

    _conversations(_router(parent))

    assert parent.cursor.events == [
        "observe m1",
        "observe i1",
        "observe m2",
        "close messenger",
        "observe i2",
        "close instagram",
        "ensure state",
    ]


def test_given_an_empty_platform_when_read_then_it_is_closed_and_the_other_is_read() -> None:
    parent = FakeParent([FakePartition("messenger", []), FakePartition("instagram", ["i1"])])

    slices = _conversations(_router(parent))

    assert slices == ["i1"]
    assert parent.cursor.events == [
        "close messenger",
        "observe i1",
        "close instagram",
        "ensure state",
    ]


def test_given_one_platform_when_child_slices_are_generated_then_the_router_reads_it_as_is() -> (
    None
):
    parent = FakeParent([FakePartition("messenger", ["m1", "m2"])])

    assert _conversations(_router(parent)) == ["m1", "m2"]
    assert parent.cursor.events == ["observe m1", "observe m2", "close messenger", "ensure state"]


def test_given_the_source_when_streams_are_built_then_only_the_childrens_parents_interleave() -> (
    None
):
    source = SourceMetaConversations(config=ConfigBuilder().with_platform("both").build())

    streams = {stream.name: stream for stream in source.streams(source._config)}
    interleave_parents(streams.values())  # a second time changes nothing

    assert streams["conversations"].get_partition_router() is not None  # type: ignore[attr-defined]
    for child in ("messages", "message_details"):
        router = streams[child].get_partition_router()  # type: ignore[attr-defined]
        assert isinstance(router, SubstreamPartitionRouter)
        [parent] = router.parent_stream_configs
        assert isinstance(parent.stream, InterleavedParent)
        assert not isinstance(parent.stream._stream, InterleavedParent)
