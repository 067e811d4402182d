"""Full-refresh ``read`` of all three streams by the installed command, against the sandbox.

Each scenario reads its own sandbox (same seed, so the same world) so that the sandbox's call
counters belong to that one read; the reads run side by side to keep the suite fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from integration_tests.conftest import (
    CURSOR_FIELDS,
    PLATFORMS,
    STREAMS,
    Connector,
    ConnectorRun,
    ExpectedRead,
    expected_read,
    full_refresh_catalog,
    run_concurrently,
)
from meta_graph_sandbox import Sandbox

APP_SECRET = "sandbox-app-secret-0c2d7f41e9"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass
class Read:
    """One read: its output, the sandbox it read, its config and the calls it made."""

    run: ConnectorRun
    sandbox: Sandbox
    config: dict[str, Any]
    stats: dict[str, Any]


def _customer_of(sb: Sandbox, platform: str, index: int) -> tuple[str, str]:
    """(conversation id, customer id) of a platform's ``index``-th conversation (newest first)."""
    conversation = sb.world.conversations(platform)[index]
    page_side = {sb.page_id, sb.instagram_account_id}
    customer = next(p for p in conversation["participants"]["data"] if p["id"] not in page_side)
    return conversation["id"], customer["id"]


def _longest_conversation(sb: Sandbox, platform: str) -> int:
    """Index of the platform's conversation with the most messages (its edge gets called)."""
    conversations = sb.world.conversations(platform)
    sizes = [len(sb.world.messages(c["id"])) for c in conversations]
    return sizes.index(max(sizes))


READS: dict[str, tuple[Mapping[str, Any], Callable[[Sandbox], dict[str, Any]]]] = {
    "full": ({}, lambda sb: sb.connector_config(platform="both")),
    "user_id": (
        {},
        lambda sb: sb.connector_config(
            platform="both",
            user_id=_customer_of(sb, "instagram", _longest_conversation(sb, "instagram"))[1],
        ),
    ),
    "only_owned": ({}, lambda sb: sb.connector_config(only_owned_conversations=True)),
    "app_secret": ({"app_secret": APP_SECRET}, lambda sb: sb.connector_config()),
    "unknown_token": ({}, lambda sb: sb.connector_config(access_token="EAAB" + "7" * 80)),
}


@pytest.fixture(scope="module")
def reads(
    start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Read]:
    """Every ``READS`` scenario read once, each against its own sandbox."""
    jobs: dict[str, Callable[[], Read]] = {}
    for name, (options, make_config) in READS.items():
        sb = start_sandbox(**options)
        connector = Connector(tmp_path_factory.mktemp(f"read-{name}"))

        def job(
            sb: Sandbox = sb,
            connector: Connector = connector,
            make_config: Callable[[Sandbox], dict[str, Any]] = make_config,
        ) -> Read:
            config = make_config(sb)
            run = connector.read(config, full_refresh_catalog())
            return Read(run, sb, config, sb.stats())

        jobs[name] = job
    return run_concurrently(jobs)


@pytest.fixture(scope="module")
def schemas(discovered: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The JSON schemas ``discover`` gives, by stream."""
    return {s["name"]: s["json_schema"] for s in discovered["streams"]}


@pytest.fixture(scope="module")
def full(reads: Mapping[str, Read]) -> Read:
    """The read of both platforms, every conversation."""
    read = reads["full"]
    read.run.assert_succeeded()
    return read


def assert_reads_exactly(run: ConnectorRun, expected: ExpectedRead) -> None:
    """The read emitted each expected record once, and nothing else."""
    assert run.counts() == expected.counts(), run.describe()
    for stream in STREAMS:
        ids = run.ids_of(stream)
        assert len(ids) == len(set(ids)), f"{stream}: duplicate records"
    assert run.record_keys() == expected.keys()


# ---------------------------------------------------------------------------------- records
def test_given_full_refresh_when_read_then_records_validate_against_discovered_schemas(
    full: Read, schemas: Mapping[str, Mapping[str, Any]]
) -> None:
    for stream in STREAMS:
        validator = jsonschema.Draft7Validator(
            schemas[stream], format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        invalid = [
            ("/".join(str(p) for p in error.absolute_path), error.message[:160])
            for data in full.run.records_of(stream)
            for error in validator.iter_errors(data)
        ]
        distinct = sorted(set(invalid))
        assert distinct == [], f"{stream}: {len(invalid)} schema errors"


def test_given_full_refresh_when_read_then_every_record_of_the_world_once(full: Read) -> None:
    expected = expected_read(full.sandbox)
    summary = full.sandbox.world.summary()
    assert expected.counts()["conversations"] == sum(p["conversations"] for p in summary.values())
    assert expected.counts()["messages"] == sum(p["messages"] for p in summary.values())
    assert_reads_exactly(full.run, expected)


def test_given_full_refresh_when_read_then_records_carry_page_platform_and_conversation(
    full: Read,
) -> None:
    expected = expected_read(full.sandbox)
    for data in full.run.records_of("conversations"):
        assert data["page_id"] == full.sandbox.page_id
        assert data["platform"] == expected.conversations[data["id"]]
    for stream in ("messages", "message_details"):
        for data in full.run.records_of(stream):
            conversation_id = expected.messages[data["id"]]
            assert data["conversation_id"] == conversation_id, stream
            assert data["page_id"] == full.sandbox.page_id, stream
            assert data["platform"] == expected.conversations[conversation_id], stream


def test_given_full_refresh_when_read_then_timestamps_are_rfc3339(full: Read) -> None:
    for stream in STREAMS:
        cursor = CURSOR_FIELDS[stream]
        bad = [d[cursor] for d in full.run.records_of(stream) if not RFC3339.match(d[cursor])]
        assert bad[:3] == [], f"{stream}.{cursor}: {len(bad)} values are not RFC 3339"


def test_given_full_refresh_when_read_then_message_fields_match_the_world(full: Read) -> None:
    world = full.sandbox.world
    conversation_id = full.run.records_of("message_details")[0]["conversation_id"]
    newest = {m["id"]: m for m in world.messages(conversation_id)}
    for data in full.run.records_of("message_details"):
        if data["conversation_id"] != conversation_id:
            continue
        source = newest[data["id"]]
        for name in ("from", "to", "message", "shares", "reactions", "tags"):
            assert data.get(name) == source.get(name), name
        # Graph's attachments list carries its own paging (links to the request's host): the
        # record keeps the answer as it came, the world holds the attachments themselves.
        attachments = data.get("attachments")
        assert (attachments or {}).get("data") == (source.get("attachments") or {}).get("data")


# ---------------------------------------------------------------------------------- calls
def test_given_full_refresh_when_read_then_exact_graph_calls(full: Read) -> None:
    expected = expected_read(full.sandbox)
    by_route = full.stats["by_route"]
    assert by_route["conversations"] == sum(expected.conversations_calls.values())
    assert by_route["conversation_messages"] == sum(expected.edge_calls.values())
    assert by_route["message"] == 0
    assert by_route["batch"] == 0
    assert full.stats["by_platform"] == {
        p: expected.conversations_calls[p] + expected.edge_calls[p] for p in PLATFORMS
    }
    assert full.stats["calls"] == sum(full.stats["by_platform"].values())
    assert full.stats["errors"] == {}
    assert full.stats["rate_limited"] == 0


# ---------------------------------------------------------------------------------- options
def test_given_user_id_when_read_then_only_that_persons_conversation(
    reads: Mapping[str, Read],
) -> None:
    read = reads["user_id"]
    read.run.assert_succeeded()
    index = _longest_conversation(read.sandbox, "instagram")
    conversation_id, _ = _customer_of(read.sandbox, "instagram", index)
    expected = expected_read(read.sandbox, keep=lambda c: c["id"] == conversation_id)
    assert expected.counts()["messages"] > 20  # the edge is read past the nested 20
    assert_reads_exactly(read.run, expected)


def test_given_only_owned_conversations_when_read_then_only_is_owner_threads_and_their_messages(
    reads: Mapping[str, Read],
) -> None:
    read = reads["only_owned"]
    read.run.assert_succeeded()
    expected = expected_read(read.sandbox, keep=lambda c: c.get("is_owner") is True)
    every = expected_read(read.sandbox)
    assert 0 < expected.counts()["conversations"] < every.counts()["conversations"]
    assert_reads_exactly(read.run, expected)


def test_given_app_secret_when_read_then_appsecret_proof_accepted_and_all_records_read(
    reads: Mapping[str, Read],
) -> None:
    read = reads["app_secret"]
    read.run.assert_succeeded()
    assert read.config["app_secret"] == APP_SECRET
    assert read.stats["errors"] == {}
    assert_reads_exactly(read.run, expected_read(read.sandbox))


def test_given_unknown_token_when_read_then_config_error_naming_the_fix(
    reads: Mapping[str, Read],
) -> None:
    run = reads["unknown_token"].run
    assert run.returncode != 0
    assert run.records == []
    errors = run.trace_errors
    assert errors, run.describe()
    assert {e["failure_type"] for e in errors} == {"config_error"}
    assert any("Generate a new Page access" in e["message"] for e in errors)
    assert not any("Traceback" in e["message"] for e in errors)


# ---------------------------------------------------------------------------------- secrets
def test_given_any_read_when_output_searched_then_token_and_app_secret_absent(
    reads: Mapping[str, Read],
) -> None:
    for name, read in reads.items():
        for secret in (read.config["access_token"], read.config.get("app_secret")):
            if secret:
                assert secret not in read.run.stdout, name
                assert secret not in read.run.stderr, name
