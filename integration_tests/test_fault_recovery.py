"""Faults a sync must ride out, or end on clearly, run by the installed command against the sandbox.

Each scenario has its own sandbox of the same seed (so the same world as a clean read) and makes
the sandbox misbehave on exactly the answer the scenario names, by wrapping its API layer in the
test process (``OnceFault``): deterministic whatever the order in which the connector's threads
call. Records are compared with the world by primary key (``expected_read``), calls with the
sandbox's counters.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from integration_tests.conftest import (
    PLATFORMS,
    Connector,
    ConnectorRun,
    expected_read,
    full_refresh_catalog,
    incremental_catalog,
    run_concurrently,
)
from meta_graph_sandbox import Sandbox
from meta_graph_sandbox.api import ApiRequest, ApiResponse
from meta_graph_sandbox.faults import TransportFault

Match = Callable[[ApiRequest], bool]


class OnceFault:
    """Makes a sandbox answer the ``nth`` request that ``match`` selects with a 200 cut in half.

    A proxy that loses the connection mid-answer delivers exactly this: status 200, a body that
    stops halfway. The answer is built by the sandbox as usual (and counted), then delivered cut.
    """

    def __init__(self, sandbox: Sandbox, match: Match, nth: int = 1) -> None:
        self.hits: list[str] = []
        self._match = match
        self._nth = nth
        self._seen = 0
        self._lock = threading.Lock()
        self._handle = sandbox.api.handle
        sandbox.api.handle = self._handle_once  # type: ignore[method-assign]

    def _handle_once(self, request: ApiRequest) -> ApiResponse:
        response = self._handle(request)
        if self._match(request):
            with self._lock:
                self._seen += 1
                hit = self._seen == self._nth
            if hit:
                self.hits.append(request.path)
                response.transport = TransportFault(kind="malformed", variant=0)
        return response


def _conversations_page(platform: str, first: bool) -> Match:
    """A platform's first conversations page, or one after it (asked for with ``after``)."""

    def match(request: ApiRequest) -> bool:
        query = dict(request.query)
        return (
            request.path.endswith("/conversations")
            and query.get("platform") == platform
            and ("after" not in query) == first
        )

    return match


def _messages_edge(request: ApiRequest) -> bool:
    return request.path.endswith("/messages")


@dataclass
class FaultyRead:
    """A read of a sandbox that served one broken answer."""

    run: ConnectorRun
    sandbox: Sandbox
    fault: OnceFault
    stats: dict[str, Any]


# Scenario -> (sandbox options, the answer served broken). Unpaced, the children read the
# conversations pages from the HTTP cache after the listing; at Meta's rate (``rate_limit``: the
# config asks for the same) the three streams read each page together, through the single flight
# (three messages per conversation: no messages edge, whose calls the sandbox could throttle).
PACED = "conversations_page_read_together_at_metas_rate"
BROKEN_ONCE: dict[str, tuple[dict[str, Any], Match]] = {
    "messenger_first_conversations_page": ({}, _conversations_page("messenger", first=True)),
    "instagram_second_conversations_page": ({}, _conversations_page("instagram", first=False)),
    "a_messages_edge_page": ({}, _messages_edge),
    PACED: (
        {"rate_limit": 2, "messages": "fixed:3"},
        _conversations_page("instagram", first=False),
    ),
}


@pytest.fixture(scope="module")
def broken_once(
    start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, FaultyRead]:
    """A full read of both platforms per ``BROKEN_ONCE`` scenario, each on its own sandbox."""
    jobs: dict[str, Callable[[], FaultyRead]] = {}
    for name, (options, match) in BROKEN_ONCE.items():
        sandbox = start_sandbox(**options)
        fault = OnceFault(sandbox, match)
        connector = Connector(tmp_path_factory.mktemp(f"broken-{name}"))

        def job(
            sb: Sandbox = sandbox, f: OnceFault = fault, c: Connector = connector
        ) -> FaultyRead:
            run = c.read(sb.connector_config(platform="both"), full_refresh_catalog())
            return FaultyRead(run, sb, f, sb.stats())

        jobs[name] = job
    return run_concurrently(jobs)


@pytest.mark.parametrize("scenario", list(BROKEN_ONCE))
def test_given_a_200_cut_in_half_once_when_read_then_every_record_of_a_clean_read_once(
    scenario: str, broken_once: Mapping[str, FaultyRead]
) -> None:
    read = broken_once[scenario]
    expected = expected_read(read.sandbox)

    read.run.assert_succeeded()
    assert len(read.fault.hits) == 1, "the sandbox served the broken answer"
    assert read.run.record_keys() == expected.keys()
    assert read.run.counts() == expected.counts(), "no record twice"


@pytest.mark.parametrize("scenario", [name for name in BROKEN_ONCE if name != PACED])
def test_given_a_200_cut_in_half_once_when_read_then_one_call_more_than_a_clean_read(
    scenario: str, broken_once: Mapping[str, FaultyRead]
) -> None:
    read = broken_once[scenario]
    expected = expected_read(read.sandbox)
    clean = {
        "conversations": sum(expected.conversations_calls.values()),
        "conversation_messages": sum(expected.edge_calls.values()),
    }
    retried = "conversation_messages" if scenario == "a_messages_edge_page" else "conversations"
    clean[retried] += 1

    by_route = read.stats["by_route"]
    assert {route: by_route[route] for route in clean} == clean


def test_given_a_200_cut_in_half_once_when_three_streams_read_it_together_then_each_asks_once(
    broken_once: Mapping[str, FaultyRead],
) -> None:
    # The broken answer is handed to the readers that waited for it, not kept in the cache: each
    # of the three asks again at most once (the first to ask again fills the cache for the
    # others unless they ask at the same moment), and the page is never read broken.
    read = broken_once[PACED]
    clean = sum(expected_read(read.sandbox).conversations_calls.values())

    extra = read.stats["by_route"]["conversations"] - clean
    assert 1 <= extra <= 3, read.stats["by_route"]
    assert read.stats["rate_limited"] == 0


# ---------------------------------------------------------------------------------- token expiry
# The sandbox's main token answers 190/463 once this many calls were made (``token-expiry:K``):
# on the first listing page of a platform, on the second, or while the children call the edge.
EXPIRES_AFTER_CALLS = (2, 3, 6)
LATER_EXPIRES_AFTER_CALLS = (2, 3)  # that sync reads two conversations pages per platform
CHANGED_PER_PLATFORM = 28


@dataclass
class Expired:
    """A sync whose token expired after ``k`` calls, and the sync resumed from its last states.

    ``expected`` holds the ``(stream, id)`` a clean sync of the same data delivers.
    """

    failed: ConnectorRun
    resumed: ConnectorRun
    expected: set[tuple[str, str]]
    previous_state: list[dict[str, Any]] | None = None


def _child_watermark(states: list[dict[str, Any]], stream: str) -> Any:
    """The ``created_time`` watermark a child stream's state holds (None when it has none)."""
    for state in states:
        if state["stream"]["stream_descriptor"]["name"] == stream:
            return (state["stream"]["stream_state"] or {}).get("state")
    raise AssertionError(f"no state for {stream}")


@pytest.fixture(scope="module")
def first_sync_expired(
    start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory
) -> dict[int, Expired]:
    """A first incremental sync of both platforms failing after ``k`` calls, then resumed."""

    def job(k: int) -> Expired:
        sb = start_sandbox(faults=(f"token-expiry:{k}",))
        connector = Connector(tmp_path_factory.mktemp(f"expired-first-{k}"))
        config = sb.connector_config(platform="both")
        failed = connector.read(config, incremental_catalog())
        valid = {**config, "access_token": sb.issue_token()}
        resumed = connector.read(valid, incremental_catalog(), failed.latest_state())
        return Expired(failed, resumed, expected_read(sb).keys())

    jobs = {str(k): (lambda k=k: job(k)) for k in EXPIRES_AFTER_CALLS}
    return {int(k): result for k, result in run_concurrently(jobs).items()}


@pytest.fixture(scope="module")
def later_sync_expired(
    start_sandbox: Callable[..., Sandbox],
    sandbox: Sandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[int, Expired]:
    """A sync after a clean one, over new messages in 28 conversations per platform (two pages
    each), failing after ``k`` calls; then resumed."""
    # The clean first sync makes exactly the calls of a full read of this world (the shared
    # sandbox has the same seed and size): the token expires k calls into the second sync.
    first_calls = sum(expected_read(sandbox).conversations_calls.values()) + sum(
        expected_read(sandbox).edge_calls.values()
    )

    def job(k: int) -> Expired:
        sb = start_sandbox(faults=(f"token-expiry:{first_calls + k}",))
        connector = Connector(tmp_path_factory.mktemp(f"expired-later-{k}"))
        config = sb.connector_config(platform="both")
        first = connector.read(config, incremental_catalog())
        first.assert_succeeded()
        expected: set[tuple[str, str]] = set()
        for platform in PLATFORMS:
            for conversation in sb.world.conversations(platform)[-CHANGED_PER_PLATFORM:]:
                new_ids = sb.world.add_messages(conversation["id"], 2)
                expected.add(("conversations", conversation["id"]))
                expected.update(("messages", i) for i in new_ids)
                expected.update(("message_details", i) for i in new_ids)
        failed = connector.read(config, incremental_catalog(), first.latest_state())
        valid = {**config, "access_token": sb.issue_token()}
        resumed = connector.read(valid, incremental_catalog(), failed.latest_state())
        return Expired(failed, resumed, expected, first.latest_state())

    jobs = {str(k): (lambda k=k: job(k)) for k in LATER_EXPIRES_AFTER_CALLS}
    return {int(k): result for k, result in run_concurrently(jobs).items()}


@pytest.mark.parametrize("k", EXPIRES_AFTER_CALLS)
def test_given_first_sync_whose_token_expires_after_k_calls_when_resumed_then_nothing_missing(
    k: int, first_sync_expired: Mapping[int, Expired]
) -> None:
    outcome = first_sync_expired[k]
    assert outcome.failed.returncode == 1, outcome.failed.describe()
    outcome.resumed.assert_succeeded()

    union = outcome.failed.record_keys() | outcome.resumed.record_keys()

    assert union == outcome.expected, f"missing {sorted(outcome.expected - union)[:5]}"


@pytest.mark.parametrize("k", LATER_EXPIRES_AFTER_CALLS)
def test_given_later_sync_whose_token_expires_after_k_calls_when_resumed_then_nothing_missing(
    k: int, later_sync_expired: Mapping[int, Expired]
) -> None:
    outcome = later_sync_expired[k]
    assert outcome.failed.returncode == 1, outcome.failed.describe()
    outcome.resumed.assert_succeeded()

    union = outcome.failed.record_keys() | outcome.resumed.record_keys()

    assert outcome.expected <= union, f"missing {sorted(outcome.expected - union)[:5]}"


@pytest.mark.parametrize("k", LATER_EXPIRES_AFTER_CALLS)
def test_given_later_sync_failing_mid_listing_when_it_ends_then_children_keep_their_watermark(
    k: int, later_sync_expired: Mapping[int, Expired]
) -> None:
    # Conversations further down the listing hold older messages: a watermark moved to the
    # newest message seen would filter them out of the resumed sync.
    outcome = later_sync_expired[k]
    assert outcome.previous_state is not None
    for stream in ("messages", "message_details"):
        before = _child_watermark(outcome.previous_state, stream)
        assert _child_watermark(outcome.failed.latest_state(), stream) == before, stream


@pytest.mark.parametrize("k", EXPIRES_AFTER_CALLS)
def test_given_a_sync_whose_token_expires_when_it_fails_then_each_streams_records_are_checkpointed(
    k: int, first_sync_expired: Mapping[int, Expired]
) -> None:
    messages = first_sync_expired[k].failed.messages
    for stream in ("conversations", "messages", "message_details"):
        positions = [
            i
            for i, m in enumerate(messages)
            if m["type"] == "RECORD" and m["record"]["stream"] == stream
        ]
        if not positions:
            continue
        assert any(
            m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == stream
            for m in messages[positions[-1] + 1 :]
        ), f"{stream}: no state after its last record"


@pytest.mark.parametrize("k", EXPIRES_AFTER_CALLS)
def test_given_a_sync_whose_token_expires_when_it_fails_then_its_last_message_names_the_fix(
    k: int, first_sync_expired: Mapping[int, Expired]
) -> None:
    failed = first_sync_expired[k].failed
    last = failed.messages[-1]
    assert last["type"] == "TRACE", failed.describe()
    error = last["trace"]["error"]

    assert error["failure_type"] == "config_error"
    assert error["message"].startswith("Meta rejected the access token (code 190/463")
    assert "Generate a new Page access token" in error["message"]
    assert "stream_descriptor" not in error or error["stream_descriptor"] is None


@pytest.mark.parametrize("k", EXPIRES_AFTER_CALLS)
def test_given_a_sync_whose_token_expires_when_it_fails_then_every_error_is_clear_and_config(
    k: int, first_sync_expired: Mapping[int, Expired]
) -> None:
    errors = first_sync_expired[k].failed.trace_errors
    assert errors
    for error in errors:
        assert error["failure_type"] == "config_error"
        assert "Generate a new Page access token" in error["message"]
        assert "http://" not in error["message"]
        assert "AirbyteTracedException(" not in error["message"]


# ---------------------------------------------------------------------------------- secrets
APP_SECRET = "fault-recovery-app-secret-5e1b"


def test_given_app_secret_when_a_sync_fails_then_the_appsecret_proof_is_in_no_output(
    start_sandbox: Callable[..., Sandbox], connector: Connector
) -> None:
    # The CDK quotes failed requests' URLs, whose query carries the proof, in its error traces
    # and log lines; the connector registers the proof with the CDK's secret filter.
    sb = start_sandbox(faults=("token-expiry:3",), app_secret=APP_SECRET)
    config = sb.connector_config(platform="both")
    proof = hmac.new(APP_SECRET.encode(), config["access_token"].encode(), "sha256").hexdigest()

    run = connector.read(config, incremental_catalog())

    assert run.returncode == 1, run.describe()
    assert "appsecret_proof=****" in run.stdout
    assert proof not in run.stdout
    assert proof not in run.stderr
