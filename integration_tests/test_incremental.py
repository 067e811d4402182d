"""Incremental reads and checkpoints (issue 4), by the installed command against the sandbox.

The sandbox's world changes between two runs (``add_messages``) and its counters say how many
calls a run made; a run is killed (SIGKILL, not a flag) after its k-th STATE message and resumed
from the last state it printed, as a platform would.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from integration_tests.conftest import (
    ACCEPTANCE_SEED,
    CONVERSATIONS_PAGE,
    DETAILED_MESSAGES,
    MESSAGES_PAGE,
    PLATFORMS,
    STREAMS,
    Connector,
    ConnectorRun,
    expected_read,
    full_state,
    incremental_catalog,
    load_json,
    run_concurrently,
)
from meta_graph_sandbox import Sandbox

# New messages per changed conversation: five per platform, one conversation with 45 (more than
# the 20 nested in the conversations page, so its edge must be read and only 20 get details).
NEW_MESSAGES = {"messenger": (45, 1, 2, 3, 4), "instagram": (1, 2, 3, 4, 5)}
# A read of the shared sandbox (two pages per platform) prints 5 conversations states (one per
# page, one per platform's end, the stream's end), then about 6 for messages and 7 for
# message_details: kill it in the middle of each stream's listing.
KILL_AFTER_STATES = (1, 3, 7, 13)


def assert_same_ids(ids: list[str], expected: set[str]) -> None:
    """Each expected id exactly once, and no other."""
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    missing = sorted(expected - set(ids))
    extra = sorted(set(ids) - expected)
    assert (duplicates, missing, extra) == ([], [], []), (
        f"duplicates {duplicates[:5]}, missing {missing[:5]} ({len(missing)}), "
        f"extra {extra[:5]} ({len(extra)})"
    )


# ---------------------------------------------------------------------------------- a story
@dataclass
class Story:
    """First sync, a second sync with no change, then a sync after new messages."""

    sandbox: Sandbox
    first: ConnectorRun
    first_expected: set[tuple[str, str]]
    unchanged: ConnectorRun
    unchanged_stats: dict[str, Any]
    changed: ConnectorRun
    changed_stats: dict[str, Any]
    new_messages: dict[str, list[str]]  # conversation id -> new message ids, oldest first
    platform_of: dict[str, str]


@pytest.fixture(scope="module")
def story(start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory) -> Story:
    """Three incremental syncs of one sandbox, each from the state the previous one left."""
    sb = start_sandbox()
    connector = Connector(tmp_path_factory.mktemp("story"))
    config = sb.connector_config(platform="both")
    catalog = incremental_catalog()

    first_expected = expected_read(sb).keys()
    first = connector.read(config, catalog)
    first.assert_succeeded()

    sb.reset_stats()
    unchanged = connector.read(config, catalog, first.latest_state())
    unchanged_stats = sb.stats()

    new_messages: dict[str, list[str]] = {}
    platform_of: dict[str, str] = {}
    summary = sb.world.summary()
    for platform, counts in NEW_MESSAGES.items():
        # Conversations from the middle of the list: new messages move them to the top.
        chosen = summary[platform]["conversation_ids"][8 : 8 + len(counts)]
        for conversation_id, count in zip(chosen, counts, strict=True):
            new_messages[conversation_id] = sb.world.add_messages(conversation_id, count)
            platform_of[conversation_id] = platform
    state = unchanged.latest_state() or first.latest_state()
    sb.reset_stats()
    changed = connector.read(config, catalog, state)
    changed_stats = sb.stats()
    return Story(
        sb,
        first,
        first_expected,
        unchanged,
        unchanged_stats,
        changed,
        changed_stats,
        new_messages,
        platform_of,
    )


def test_given_first_sync_when_read_incrementally_then_every_record_of_the_world(
    story: Story,
) -> None:
    assert story.first.record_keys() == story.first_expected
    assert story.first.states, "an incremental read must checkpoint"


def test_given_state_and_no_change_when_read_again_then_no_records(story: Story) -> None:
    story.unchanged.assert_succeeded()
    assert sorted(story.unchanged.record_keys()) == []


def test_given_state_and_no_change_when_read_again_then_one_call_per_platform(
    story: Story,
) -> None:
    assert story.unchanged_stats["by_route"]["conversations"] == len(PLATFORMS)
    assert story.unchanged_stats["by_platform"] == dict.fromkeys(PLATFORMS, 1)
    assert story.unchanged_stats["calls"] == len(PLATFORMS), story.unchanged_stats["by_route"]


def test_given_state_and_no_change_when_read_again_then_state_still_covers_every_stream(
    story: Story,
) -> None:
    names = {s["stream"]["stream_descriptor"]["name"] for s in story.unchanged.latest_state()}
    assert names == set(STREAMS)


def test_given_new_messages_in_ten_conversations_when_read_then_exactly_those_conversations(
    story: Story,
) -> None:
    story.changed.assert_succeeded()
    assert_same_ids(story.changed.ids_of("conversations"), set(story.new_messages))
    for data in story.changed.records_of("conversations"):
        assert data["platform"] == story.platform_of[data["id"]]


def test_given_new_messages_in_ten_conversations_when_read_then_exactly_the_new_messages(
    story: Story,
) -> None:
    expected = {m: c for c, ids in story.new_messages.items() for m in ids}
    assert max(len(ids) for ids in story.new_messages.values()) == 45
    assert_same_ids(story.changed.ids_of("messages"), set(expected))
    for data in story.changed.records_of("messages"):
        assert data["conversation_id"] == expected[data["id"]]


def test_given_new_messages_in_ten_conversations_when_read_then_details_of_the_newest_20(
    story: Story,
) -> None:
    expected = {m for ids in story.new_messages.values() for m in ids[-DETAILED_MESSAGES:]}
    assert_same_ids(story.changed.ids_of("message_details"), expected)
    assert story.changed.trace_errors == []


def test_given_new_messages_in_ten_conversations_when_read_then_edge_called_only_past_the_nested(
    story: Story,
) -> None:
    # The changed conversations are at the top of each platform's first page, whose nested
    # messages hold every new message but the 45-message conversation's 25 oldest new ones:
    # one conversations page per platform, one messages-edge page, and nothing per conversation.
    beyond_nested = [
        len(ids) - DETAILED_MESSAGES
        for ids in story.new_messages.values()
        if len(ids) > DETAILED_MESSAGES
    ]
    edge_pages = sum(math.ceil(n / MESSAGES_PAGE) for n in beyond_nested)
    calls = {route: n for route, n in story.changed_stats["by_route"].items() if n}
    assert calls == {
        "conversations": len(PLATFORMS),
        "conversation_messages": edge_pages,
    }, story.changed_stats


# ---------------------------------------------------------------------------------- kill + resume
@dataclass
class Interrupted:
    """A read killed after its k-th STATE, and the read resumed from the last state it printed."""

    killed: ConnectorRun
    resumed: ConnectorRun


@pytest.fixture(scope="module")
def clean_run(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> ConnectorRun:
    """One uninterrupted incremental read of the shared sandbox: the reference."""
    connector = Connector(tmp_path_factory.mktemp("clean"))
    run = connector.read(sandbox.connector_config(platform="both"), incremental_catalog())
    run.assert_succeeded()
    return run


@pytest.fixture(scope="module")
def interrupted(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, Interrupted]:
    """For each k of ``KILL_AFTER_STATES``: kill after the k-th state, then resume."""
    config = sandbox.connector_config(platform="both")
    catalog = incremental_catalog()

    def job(k: int) -> Interrupted:
        connector = Connector(tmp_path_factory.mktemp(f"kill-after-{k}"))
        killed = connector.read_killed_after_state(config, catalog, k)
        resumed = connector.read(config, catalog, killed.latest_state())
        return Interrupted(killed, resumed)

    jobs = {str(k): (lambda k=k: job(k)) for k in KILL_AFTER_STATES}
    return {int(k): result for k, result in run_concurrently(jobs, workers=4).items()}


@pytest.mark.parametrize("k", KILL_AFTER_STATES)
def test_given_read_killed_after_kth_state_when_resumed_then_union_equals_a_clean_read(
    k: int, interrupted: Mapping[int, Interrupted], clean_run: ConnectorRun
) -> None:
    outcome = interrupted[k]
    assert outcome.killed.killed, (
        f"the read ended before its {k}-th state: {outcome.killed.describe()}"
    )
    outcome.resumed.assert_succeeded()
    union = outcome.killed.record_keys() | outcome.resumed.record_keys()
    missing = clean_run.record_keys() - union
    extra = union - clean_run.record_keys()
    assert (len(missing), len(extra)) == (0, 0), (
        f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    )


def test_given_a_full_read_when_counting_checkpoints_then_at_least_one_per_conversations_page(
    clean_run: ConnectorRun, sandbox: Sandbox
) -> None:
    pages = sum(
        math.ceil(sandbox.world.summary()[p]["conversations"] / CONVERSATIONS_PAGE)
        for p in PLATFORMS
    )
    per_stream = {
        stream: sum(
            1 for s in clean_run.states if s["stream"]["stream_descriptor"]["name"] == stream
        )
        for stream in STREAMS
    }
    assert all(count >= pages for count in per_stream.values()), (
        f"{pages} conversations pages, state messages per stream {per_stream}"
    )


# ---------------------------------------------------------------------------------- states
@dataclass(frozen=True)
class StateCase:
    """A ``--state`` the connector is given and how it must take it."""

    name: str
    state: Callable[[Sandbox], Any]
    refused: bool
    fragments: tuple[str, ...] = ()


def _abnormal_state(sb: Sandbox) -> Any:
    return load_json("abnormal_state.json")


def _bad_date(sb: Sandbox) -> Any:
    return full_state(sb.page_id, dict.fromkeys(PLATFORMS, "yesterday"), "2026-01-01T00:00:00+0000")


def _legacy(sb: Sandbox) -> Any:
    return {"conversations": {"updated_time": "2026-01-01T00:00:00+0000"}}


def _foreign_page(sb: Sandbox) -> Any:
    return full_state(
        "999999999999999",
        dict.fromkeys(PLATFORMS, "2026-01-01T00:00:00+0000"),
        "2026-01-01T00:00:00+0000",
    )


STATES = (
    StateCase("future", _abnormal_state, refused=False),
    StateCase("not_json", lambda sb: "{this is not json", refused=True, fragments=("Clear",)),
    StateCase("legacy_dict", _legacy, refused=True, fragments=("Clear",)),
    StateCase("unparsable_date", _bad_date, refused=True, fragments=("Clear", "yesterday")),
    StateCase("another_page", _foreign_page, refused=True, fragments=("Clear", "999999999999999")),
)


@pytest.fixture(scope="module")
def state_runs(
    start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[ConnectorRun, dict[str, Any]]]:
    """Every ``STATES`` case read once against the Page ``abnormal_state.json`` was written for."""
    jobs: dict[str, Callable[[], tuple[ConnectorRun, dict[str, Any]]]] = {}
    for case in STATES:
        sb = start_sandbox(seed=ACCEPTANCE_SEED)
        connector = Connector(tmp_path_factory.mktemp(f"state-{case.name}"))

        def job(case: StateCase = case, sb: Sandbox = sb, connector: Connector = connector) -> Any:
            run = connector.read(
                sb.connector_config(platform="both"), incremental_catalog(), case.state(sb)
            )
            return run, sb.stats()

        jobs[case.name] = job
    return run_concurrently(jobs)


def test_given_abnormal_state_file_when_read_then_it_belongs_to_the_acceptance_sandbox_page(
    start_sandbox: Callable[..., Sandbox],
) -> None:
    page_id = start_sandbox(seed=ACCEPTANCE_SEED).page_id
    state = load_json("abnormal_state.json")
    assert {s["stream"]["stream_descriptor"]["name"] for s in state} == set(STREAMS)
    partitions = [
        entry["partition"]
        for message in state
        for value in (
            message["stream"]["stream_state"],
            message["stream"]["stream_state"].get("parent_state", {}).get("conversations", {}),
        )
        for entry in value.get("states", [])
    ]
    assert len(partitions) == len(PLATFORMS) * len(STREAMS)
    assert {(p["page_id"], p["platform"]) for p in partitions} == {(page_id, p) for p in PLATFORMS}


def test_given_future_state_when_read_then_no_records_and_no_error(
    state_runs: Mapping[str, tuple[ConnectorRun, dict[str, Any]]],
) -> None:
    run, stats = state_runs["future"]
    run.assert_succeeded()
    assert run.records == []
    # Nothing can be newer than the state: at most the one page per platform that shows it.
    assert all(calls <= 1 for calls in stats["by_platform"].values()), stats


@pytest.mark.parametrize("case", [c for c in STATES if c.refused], ids=lambda c: str(c.name))
def test_given_unusable_state_when_read_then_config_error_saying_how_to_reset(
    case: StateCase, state_runs: Mapping[str, tuple[ConnectorRun, dict[str, Any]]]
) -> None:
    run, stats = state_runs[case.name]
    assert run.returncode != 0, run.describe()
    assert run.records == []
    errors = run.trace_errors
    assert len(errors) == 1, run.describe()
    assert errors[0]["failure_type"] == "config_error"
    message = errors[0]["message"]
    missing = [fragment for fragment in case.fragments if fragment not in message]
    assert not missing, f"{missing} not in {message!r}"
    assert "Traceback" not in message
    assert stats["calls"] == 0


# ---------------------------------------------------------------------------------- platforms
def test_given_messenger_state_when_read_with_both_platforms_then_instagram_synced_in_full(
    start_sandbox: Callable[..., Sandbox], connector: Connector
) -> None:
    sb = start_sandbox()
    catalog = incremental_catalog()
    messenger = connector.read(sb.connector_config(platform="messenger"), catalog)
    messenger.assert_succeeded()
    assert messenger.record_keys() == expected_read(sb, ["messenger"]).keys()

    both = connector.read(sb.connector_config(platform="both"), catalog, messenger.latest_state())

    both.assert_succeeded()
    instagram = {
        (r["stream"], r["data"]["id"]) for r in both.records if r["data"]["platform"] == "instagram"
    }
    assert instagram == expected_read(sb, ["instagram"]).keys()


# ---------------------------------------------------------------------------------- resume cost
# One platform, six pages of conversations: a read killed after its k-th state (the checkpoint of
# page k) resumes after page k, so the resumed read asks only for the pages not yet delivered.
LONG_LISTING = 130
RESUME_AFTER_STATES = (2, 4)


@dataclass
class ResumeCost:
    clean: ConnectorRun
    clean_calls: int
    killed: dict[int, ConnectorRun]
    resumed: dict[int, ConnectorRun]
    resumed_calls: dict[int, int]


@pytest.fixture(scope="module")
def resume_cost(
    start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory
) -> ResumeCost:
    sb = start_sandbox(conversations=LONG_LISTING, platforms=("messenger",))
    connector = Connector(tmp_path_factory.mktemp("resume-cost"))
    config = sb.connector_config(platform="messenger")
    catalog = incremental_catalog("conversations")
    sb.reset_stats()
    clean = connector.read(config, catalog)
    clean.assert_succeeded()
    clean_calls = sb.stats()["by_route"]["conversations"]
    killed: dict[int, ConnectorRun] = {}
    resumed: dict[int, ConnectorRun] = {}
    resumed_calls: dict[int, int] = {}
    for k in RESUME_AFTER_STATES:
        killed[k] = connector.read_killed_after_state(config, catalog, k)
        sb.reset_stats()
        resumed[k] = connector.read(config, catalog, killed[k].latest_state())
        resumed_calls[k] = sb.stats()["by_route"]["conversations"]
    return ResumeCost(clean, clean_calls, killed, resumed, resumed_calls)


@pytest.mark.parametrize("k", RESUME_AFTER_STATES)
def test_given_read_killed_after_page_k_when_resumed_then_only_later_pages_are_asked(
    k: int, resume_cost: ResumeCost
) -> None:
    pages = math.ceil(LONG_LISTING / CONVERSATIONS_PAGE)
    assert resume_cost.clean_calls == pages
    assert resume_cost.killed[k].killed
    resume_cost.resumed[k].assert_succeeded()
    assert resume_cost.resumed_calls[k] == pages - k
    union = resume_cost.killed[k].record_keys() | resume_cost.resumed[k].record_keys()
    assert union == resume_cost.clean.record_keys()


@pytest.mark.parametrize("k", RESUME_AFTER_STATES)
def test_given_a_resumed_read_when_it_ends_then_its_state_is_the_clean_reads(
    k: int, resume_cost: ResumeCost
) -> None:
    assert resume_cost.resumed[k].latest_state() == resume_cost.clean.latest_state()


@pytest.mark.parametrize("k", KILL_AFTER_STATES)
def test_given_read_killed_after_kth_state_when_resumed_to_the_end_then_no_listing_is_left(
    k: int, interrupted: Mapping[int, Interrupted]
) -> None:
    # An unfinished listing left in a final state would start the next sync in the middle of the
    # list, skipping the conversations updated since (the newest come first).
    resumed = interrupted[k].resumed
    resumed.assert_succeeded()
    assert '"listing"' not in json.dumps(resumed.latest_state())
