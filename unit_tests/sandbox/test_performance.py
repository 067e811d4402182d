"""The sandbox must not be the bottleneck of the benchmark: a guard against gross regressions.

The figures themselves are measured by ``python -m meta_graph_sandbox.measure``
and written in docs/sandbox.md; this test only fails when serving gets several times slower.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from meta_graph_sandbox import Sandbox, SandboxOptions
from meta_graph_sandbox.api import ApiRequest
from meta_graph_sandbox.measure import PAGE_FIELDS
from unit_tests.sandbox.client import GraphClient


def test_given_25_conversations_with_20_detailed_messages_when_served_then_well_under_20_ms() -> (
    None
):
    sandbox = Sandbox(SandboxOptions(conversations=300, messages="fixed:25"))
    samples = []
    after = None
    for _ in range(12):  # every page read for the first time: nothing cached
        query = [("limit", "25"), ("fields", PAGE_FIELDS)]
        if after:
            query.append(("after", after))
        request = ApiRequest(
            "GET",
            f"/v26.0/{sandbox.page_id}/conversations",
            query,
            headers={"authorization": f"OAuth {sandbox.access_token}"},
        )
        started = time.perf_counter()
        response = sandbox.api.handle(request)
        response.body()
        samples.append(time.perf_counter() - started)
        after = response.payload["paging"]["cursors"]["after"]

    assert statistics.median(samples) < 0.020


def test_given_keep_alive_session_when_calling_in_a_row_then_no_nagle_stalls(
    make_client: Callable[..., GraphClient],
) -> None:
    client = make_client(conversations=5)
    client.get("me")  # open the connection

    started = time.perf_counter()
    for _ in range(20):
        response = client.get("me")
        assert int(response.headers["Content-Length"]) == len(response.content)
    elapsed = time.perf_counter() - started

    # Without TCP_NODELAY each keep-alive answer waits ~40 ms for the delayed ACK.
    assert elapsed < 0.4


def test_given_latency_option_when_calling_then_api_slower_and_admin_not(
    make_client: Callable[..., GraphClient],
) -> None:
    client = make_client(conversations=2, latency_ms=150)

    started = time.perf_counter()
    client.get("me")
    api = time.perf_counter() - started
    started = time.perf_counter()
    client.admin("GET", "stats")
    admin = time.perf_counter() - started

    assert api >= 0.15
    assert admin < 0.15
    assert client.sandbox.stats()["faults"] == {}
