"""At Meta's rate: the three streams read the listing together, each page is fetched once, and
the sandbox, enforcing 2 calls per second per platform, never throttles the connector.

The same world is read twice: at 2 calls/s (the three streams together, paced by answers) and
unpaced (the children after the conversations stream, from the cache). Both must make the same
calls and deliver the same records; only the order of the streams' records differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from integration_tests.conftest import (
    CONVERSATIONS_PAGE,
    Connector,
    ConnectorRun,
    expected_read,
    full_refresh_catalog,
)
from meta_graph_sandbox import Sandbox

# Three pages per platform: a few seconds at 2 calls/s.
CONVERSATIONS = 60
RATE = 2


@dataclass
class Read:
    run: ConnectorRun
    stats: dict[str, Any]


@dataclass
class Reads:
    sandbox: Sandbox
    paced: Read
    unpaced: Read


@pytest.fixture(scope="module")
def reads(start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory) -> Reads:
    sb = start_sandbox(conversations=CONVERSATIONS, messages="fixed:3", rate_limit=RATE)
    workdir = tmp_path_factory.mktemp("paced")

    def read(rate: int) -> Read:
        sb.reset_stats()
        run = Connector(workdir).read(
            sb.connector_config(max_requests_per_second=rate), full_refresh_catalog()
        )
        return Read(run, sb.stats())

    paced = read(RATE)
    unpaced_sandbox = start_sandbox(conversations=CONVERSATIONS, messages="fixed:3")
    unpaced_sandbox.reset_stats()
    unpaced_run = Connector(workdir).read(
        unpaced_sandbox.connector_config(), full_refresh_catalog()
    )
    return Reads(sb, paced, Read(unpaced_run, unpaced_sandbox.stats()))


def test_given_metas_rate_when_read_then_every_record_once(reads: Reads) -> None:
    reads.paced.run.assert_succeeded()
    assert reads.paced.run.record_keys() == expected_read(reads.sandbox).keys()
    for stream in ("conversations", "messages", "message_details"):
        ids = reads.paced.run.ids_of(stream)
        assert len(ids) == len(set(ids)), stream


def test_given_metas_rate_when_read_then_never_throttled(reads: Reads) -> None:
    assert reads.paced.stats["rate_limited"] == 0
    assert reads.paced.stats["errors"] == {}


def test_given_three_readers_of_the_listing_when_paced_then_each_page_is_fetched_once(
    reads: Reads,
) -> None:
    pages = math.ceil(CONVERSATIONS / CONVERSATIONS_PAGE)
    assert reads.paced.stats["by_route"]["conversations"] == 2 * pages
    assert reads.paced.stats["by_platform"] == {"messenger": pages, "instagram": pages}
    assert reads.paced.stats["calls"] == reads.unpaced.stats["calls"]


def test_given_metas_rate_when_read_then_children_records_come_during_the_listing(
    reads: Reads,
) -> None:
    def order(run: ConnectorRun) -> list[str]:
        return [record["stream"] for record in run.records]

    paced = order(reads.paced.run)
    last_conversation = len(paced) - 1 - paced[::-1].index("conversations")
    assert "messages" in paced[:last_conversation]
    assert "message_details" in paced[:last_conversation]
    # Unpaced, the children wait for the conversations stream (the manifest's stream group).
    unpaced = order(reads.unpaced.run)
    first_child = min(unpaced.index("messages"), unpaced.index("message_details"))
    assert "conversations" not in unpaced[first_child:]


def test_given_both_reads_when_compared_then_the_same_records(reads: Reads) -> None:
    reads.unpaced.run.assert_succeeded()
    assert reads.paced.run.record_keys() == reads.unpaced.run.record_keys()


# ------------------------------------------------------- a long conversation during the listing
# Three listing pages per platform, and one Messenger conversation (the newest, on the first
# page) whose 503 messages take the messages edge 5 pages of 100 past the 20 nested ones.
LONG_CONVERSATIONS = 75
LONG_THREAD_MESSAGES = 500


@dataclass
class LongRead:
    run: ConnectorRun
    stats: dict[str, Any]
    # When the sandbox counted each call, per Page / Instagram account (its rate limiter's log).
    counted: dict[str, list[float]]


def busiest_second(times: list[float]) -> int:
    """The most calls of ``times`` in any second [t, t + 1), as the sandbox's window counts."""
    ordered = sorted(times)
    return max(
        (sum(1 for later in ordered[i:] if later < start + 1.0) for i, start in enumerate(ordered)),
        default=0,
    )


@pytest.fixture(scope="module")
def long_read(
    start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory
) -> LongRead:
    sb = start_sandbox(conversations=LONG_CONVERSATIONS, messages="fixed:3", rate_limit=RATE)
    newest = sb.world.conversations("messenger")[0]["id"]
    sb.world.add_messages(newest, LONG_THREAD_MESSAGES)
    sb.reset_stats()
    sb.limiter.reset()
    run = Connector(tmp_path_factory.mktemp("paced-edge")).read(
        sb.connector_config(max_requests_per_second=RATE), full_refresh_catalog()
    )
    objects = {sb.page_id: "messenger", sb.instagram_account_id: "instagram"}
    counted: dict[str, list[float]] = {"messenger": [], "instagram": []}
    for call in sb.limiter.calls():
        counted[objects[call.key[0]]].append(call.at)
    return LongRead(run, sb.stats(), counted)


def test_given_a_long_messenger_conversation_when_paced_then_its_edge_calls_are_made(
    long_read: LongRead,
) -> None:
    long_read.run.assert_succeeded()
    assert long_read.stats["by_route"]["conversations"] == 6
    assert long_read.stats["by_route"]["conversation_messages"] == 5
    assert {platform: len(times) for platform, times in long_read.counted.items()} == {
        "messenger": 8,
        "instagram": 3,
    }


def test_given_a_long_messenger_conversation_when_paced_then_no_messenger_second_holds_three(
    long_read: LongRead,
) -> None:
    assert busiest_second(long_read.counted["messenger"]) <= RATE
    assert long_read.stats["rate_limited"] == 0


def test_given_a_long_messenger_conversation_when_paced_then_instagram_keeps_its_own_rate(
    long_read: LongRead,
) -> None:
    # One shared budget would hold every second to 2 calls; each platform's own lets Instagram
    # list in the seconds Messenger spends its 2. (Within each platform's own limit: how many
    # of its calls land in one second depends on how fast this machine answers, not asserted.)
    assert busiest_second(long_read.counted["instagram"]) <= RATE
    both = long_read.counted["messenger"] + long_read.counted["instagram"]
    assert busiest_second(both) > RATE
