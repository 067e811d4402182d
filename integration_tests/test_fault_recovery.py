"""Faults a sync must ride out, or end on clearly, run by the installed command against the sandbox.

Each scenario has its own sandbox of the same seed (so the same world as a clean read) and makes
the sandbox misbehave on exactly the answer the scenario names, by wrapping its API layer in the
test process (``OnceFault``): deterministic whatever the order in which the connector's threads
call. Records are compared with the world by primary key (``expected_read``), calls with the
sandbox's counters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from integration_tests.conftest import (
    Connector,
    ConnectorRun,
    expected_read,
    full_refresh_catalog,
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
