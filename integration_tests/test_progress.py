"""A read tells the user how far it got: its progress lines, from the installed command."""

from __future__ import annotations

import re
from collections.abc import Callable

from integration_tests.conftest import Connector, full_refresh_catalog
from meta_graph_sandbox import Sandbox


def _logs(run_messages: list[dict[str, object]]) -> list[str]:
    return [str(m["log"]["message"]) for m in run_messages if m["type"] == "LOG"]  # type: ignore[index]


def test_given_a_full_read_when_it_ends_then_the_summary_counts_what_the_sandbox_served(
    start_sandbox: Callable[..., Sandbox], connector: Connector
) -> None:
    sandbox = start_sandbox(seed=17)
    sandbox.reset_stats()

    run = connector.read(sandbox.connector_config(platform="both"), full_refresh_catalog())

    run.assert_succeeded()
    logs = _logs(run.messages)
    counts = run.counts()
    stats = sandbox.stats()
    [summary] = [line for line in logs if line.startswith("Read done in ")]
    assert (
        f"records: conversations {counts['conversations']:,}, messages {counts['messages']:,}, "
        f"message_details {counts['message_details']:,};" in summary
    )
    assert f"; {stats['calls']:,} calls to Meta (" in summary
    routes = stats["by_route"]
    assert f"{routes['conversation_messages']:,} messages edge pages" in summary
    first_record = next(i for i, m in enumerate(run.messages) if m["type"] == "RECORD")
    assert [line for line in _logs(run.messages[:first_record]) if line.startswith("Reading ")] == [
        "Reading conversations, messages, message_details at up to 1000 calls/s per Page and "
        "per Instagram account (Meta allows 2); progress every 30 s."
    ]
    finished = [line.split(":")[0] for line in logs if re.match(r"Finished \w+:", line)]
    assert sorted(finished) == [
        "Finished conversations",
        "Finished message_details",
        "Finished messages",
    ]
    ours = [line for line in logs if re.match(r"(Reading|Progress of|Finished \w+:|Read )", line)]
    assert not [line for line in ours if re.search(r"https?://|access_token|\?|/v\d", line)]
