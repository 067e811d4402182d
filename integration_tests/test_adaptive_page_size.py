"""Code 1 "Please reduce the amount of data": the page shrinks, then grows back gradually.

The sandbox's ``reduce-data:300`` fault refuses any answer holding more than 300 objects
(conversations plus their nested messages). The Page's 30 most recently updated conversations
are heavy (21 messages: 20 nested each, so a page of 25 holds 525 objects); the 170 others have
one message each (2 objects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from integration_tests.conftest import (
    Connector,
    ConnectorRun,
    expected_read,
    full_refresh_catalog,
)
from meta_graph_sandbox import Sandbox

CONVERSATIONS = 200
HEAVY = 30


@dataclass
class Outcome:
    run: ConnectorRun
    sandbox: Sandbox
    stats: dict[str, Any]


@pytest.fixture(scope="module")
def outcome(
    start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory
) -> Outcome:
    sb = start_sandbox(
        conversations=CONVERSATIONS,
        messages="fixed:1",
        platforms=("messenger",),
        faults=("reduce-data:300",),
    )
    for conversation_id in sb.world.summary()["messenger"]["conversation_ids"][:HEAVY]:
        sb.world.add_messages(conversation_id, 20)
    sb.reset_stats()
    run = Connector(tmp_path_factory.mktemp("reduce")).read(
        sb.connector_config(platform="messenger"), full_refresh_catalog()
    )
    return Outcome(run, sb, sb.stats())


def test_given_heavy_first_pages_when_read_then_every_record_once(outcome: Outcome) -> None:
    outcome.run.assert_succeeded()
    assert outcome.run.record_keys() == expected_read(outcome.sandbox, ("messenger",)).keys()
    for stream in ("conversations", "messages", "message_details"):
        ids = outcome.run.ids_of(stream)
        assert len(ids) == len(set(ids)), stream


def test_given_heavy_first_pages_when_read_then_page_halves_then_grows_back_to_full(
    outcome: Outcome,
) -> None:
    # Pages of the listing: 25 refused; 12 x 4 (the heavy ones, then light ones); grown to 24
    # x 4; grown back to 25 for the last 56 conversations: 3 pages. 11 pages, each fetched
    # once (the children read them from the cache); the refused page is not cached, so each
    # of the three streams' readers of the listing is refused once.
    assert outcome.stats["faults"] == {"reduce-data": 3}
    assert outcome.stats["by_route"]["conversations"] == 11 + 3
    logs = " ".join(m["log"]["message"] for m in outcome.run.of_type("LOG"))
    assert "from 25 to 12" in logs
    assert "from 12 to 24" in logs
    assert "from 24 to 25" in logs
