"""The sandbox must not be the bottleneck of the benchmark: what keeps it fast, checked exactly.

The figures themselves (milliseconds) are measured by ``python -m meta_graph_sandbox.measure``,
written in docs/sandbox.md, and printed by ``make bench`` on every run. These tests assert no
wall-clock time (on a shared CI machine a time limit flakes); they check the work that makes the
figures: each message is rendered once per field selection and re-reads come from the fragment
cache, answers keep the connection alive with ``TCP_NODELAY`` on, and the latency option delays
API answers by exactly its value and admin answers not at all.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from requests.adapters import HTTPAdapter

from meta_graph_sandbox import Sandbox, SandboxOptions, render, server
from meta_graph_sandbox.api import ApiRequest
from meta_graph_sandbox.measure import PAGE_FIELDS
from unit_tests.sandbox.client import GraphClient, without_attachment_paging

PAGES = 12
PAGE_SIZE = 25
DETAILED = 20


def _page_request(sandbox: Sandbox, after: str | None) -> ApiRequest:
    query = [("limit", str(PAGE_SIZE)), ("fields", PAGE_FIELDS)]
    if after:
        query.append(("after", after))
    return ApiRequest(
        "GET",
        f"/v26.0/{sandbox.page_id}/conversations",
        query,
        headers={"authorization": f"OAuth {sandbox.access_token}"},
    )


def test_given_25_conversations_with_20_detailed_messages_when_served_then_each_rendered_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = Sandbox(SandboxOptions(conversations=300, messages="fixed:25"))
    rendered: list[str] = []
    render_message = render.render_message

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        message = render_message(*args, **kwargs)
        rendered.append(message["id"])
        return message

    monkeypatch.setattr(render, "render_message", counting)
    renders_per_page = []
    pages = []
    after = None
    for _ in range(PAGES):  # every page read for the first time: nothing cached
        before = len(rendered)
        response = sandbox.api.handle(_page_request(sandbox, after))
        pages.append(json.loads(response.body()))
        renders_per_page.append(len(rendered) - before)
        after = response.payload["paging"]["cursors"]["after"]
    before = len(rendered)
    first_again = sandbox.api.handle(_page_request(sandbox, None)).body()

    world = sandbox.world
    served = [conversation for page in pages for conversation in page["data"]]
    assert renders_per_page == [PAGE_SIZE * DETAILED] * PAGES
    assert len(rendered) - before == 0  # the re-read is spliced from the fragment cache
    assert len(set(rendered)) == len(rendered) == PAGES * PAGE_SIZE * DETAILED
    assert json.loads(first_again) == pages[0]
    expected = world.conversations("messenger")[: PAGES * PAGE_SIZE]
    assert [c["id"] for c in served] == [c["id"] for c in expected]
    for conversation, held in zip(served, expected, strict=True):
        assert {k: v for k, v in conversation.items() if k != "messages"} == held
        answered = without_attachment_paging(conversation["messages"]["data"])
        assert answered == world.messages(held["id"])[:DETAILED]
    assert sandbox.stats()["calls"] == PAGES + 1


def test_given_keep_alive_session_when_calling_in_a_row_then_one_connection_without_nagle(
    make_client: Callable[..., GraphClient],
) -> None:
    client = make_client(conversations=5)
    client.get("me")  # open the connection

    lengths = []
    for _ in range(20):
        response = client.get("me")
        lengths.append((int(response.headers["Content-Length"]), len(response.content)))

    adapter = client.session.get_adapter(client.url("me"))
    assert isinstance(adapter, HTTPAdapter)
    pools = adapter.poolmanager.pools  # urllib3's container: keys(), no iteration
    opened = [(pools[k].num_connections, pools[k].num_requests) for k in pools.keys()]  # noqa: SIM118
    # The server side of that connection (white box: the sandbox runs in this process). Without
    # TCP_NODELAY each keep-alive answer waits ~40 ms for the delayed ACK.
    live = client.sandbox._server._connections if client.sandbox._server else set()
    assert all(announced == received for announced, received in lengths)
    assert opened == [(1, 21)]  # one connection, one pool, every call on it
    assert len(live) == 1
    assert [c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in live] == [1]


def test_given_latency_option_when_calling_then_api_delayed_by_it_and_admin_not(
    make_client: Callable[..., GraphClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(conversations=2, latency_ms=150)
    delays: list[float] = []

    class Clock:
        """The server module's ``time``: records each delay instead of sleeping it."""

        @staticmethod
        def sleep(seconds: float) -> None:
            delays.append(seconds)

    monkeypatch.setattr(server, "time", Clock)
    api = client.get("me")
    after_api = list(delays)
    admin = client.admin("GET", "stats")

    assert api.status_code == admin.status_code == 200
    assert after_api == [0.15]
    assert delays == [0.15]  # the admin answer added none
    assert client.sandbox.stats()["faults"] == {}
