"""The rate limiter: a rolling second per Page and platform, with Graph's usage headers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from meta_graph_sandbox.ratelimit import RateLimiter
from unit_tests.sandbox.client import GraphClient, error_of


def _buc(response: requests.Response, object_id: str) -> dict[str, Any]:
    (usage,) = json.loads(response.headers["X-Business-Use-Case-Usage"])[object_id]
    return usage


class TestRateLimit:
    def test_given_limit_when_calls_exceed_it_then_80006_and_headers_rise_with_use(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(rate_limit=10)
        page = client.sandbox.page_id

        responses = [client.conversations() for _ in range(11)]

        assert [r.status_code for r in responses] == [200] * 10 + [400]
        assert not any("X-Business-Use-Case-Usage" in r.headers for r in responses[:4])
        counts = [_buc(r, page)["call_count"] for r in responses[4:]]
        assert counts == [50, 60, 70, 80, 90, 100, 110]
        assert all(_buc(r, page)["type"] == "messenger" for r in responses[4:])
        throttled = responses[-1]
        error = error_of(throttled)
        assert error["code"] == 80006
        assert error["type"] == "OAuthException"
        assert error["message"].startswith("(#80006) There have been too many messages requests")
        assert _buc(throttled, page)["estimated_time_to_regain_access"] == 0
        app = json.loads(throttled.headers["X-App-Usage"])
        assert set(app) == {"call_count", "total_time", "total_cputime"}
        stats = client.sandbox.stats()
        assert stats["rate_limited"] == 1
        assert stats["errors"] == {"80006": 1}

    def test_given_throttled_when_a_second_passes_then_calls_go_through_again(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(rate_limit=2)
        assert [client.get("me").status_code for _ in range(3)] == [200, 200, 400]

        time.sleep(1.05)

        assert client.get("me").status_code == 200

    def test_given_instagram_throttled_then_80002_for_instagram_account_and_messenger_still_ok(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(rate_limit=3)
        instagram_id = client.sandbox.instagram_account_id

        instagram = [client.conversations("instagram") for _ in range(4)]
        messenger = client.conversations("messenger")

        assert [r.status_code for r in instagram] == [200, 200, 200, 400]
        assert error_of(instagram[-1])["code"] == 80002
        usage = _buc(instagram[-1], instagram_id)
        assert usage["type"] == "instagram"
        assert usage["call_count"] == 133
        assert messenger.status_code == 200

    def test_given_messenger_second_spent_when_edges_called_then_only_messenger_throttled(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(rate_limit=2)
        world = client.sandbox.world
        messenger_thread = world.conversations("messenger")[0]["id"]
        instagram_thread = world.conversations("instagram")[0]["id"]

        listing = [client.conversations("messenger") for _ in range(2)]
        messenger_edge = client.get(f"{messenger_thread}/messages", fields="id,created_time")
        instagram_edge = client.get(f"{instagram_thread}/messages", fields="id,created_time")

        assert [r.status_code for r in listing] == [200, 200]
        assert messenger_edge.status_code == 400
        assert error_of(messenger_edge)["code"] == 80006
        assert instagram_edge.status_code == 200
        page, instagram = client.sandbox.page_id, client.sandbox.instagram_account_id
        logged = [(call.key, call.allowed) for call in client.sandbox.limiter.calls()]
        assert logged == [
            ((page, "messenger"), True),
            ((page, "messenger"), True),
            ((page, "messenger"), False),
            ((instagram, "instagram"), True),
        ]

    def test_given_no_limit_when_calling_then_no_usage_headers(self, graph: GraphClient) -> None:
        responses = [graph.get("me") for _ in range(5)]

        assert all("X-App-Usage" not in r.headers for r in responses)


class TestLimiterUnit:
    def test_given_fake_clock_when_window_slides_then_usage_falls(self) -> None:
        now = [100.0]
        limiter = RateLimiter(4, clock=lambda: now[0])
        key = ("page", "messenger")

        admitted = [limiter.admit(key)[0] for _ in range(5)]
        full = limiter.usage(key).call_count
        now[0] += 0.5
        limiter.admit(key)
        now[0] += 0.6

        assert admitted == [True, True, True, True, False]
        assert full == 125
        assert limiter.usage(key).call_count == 25

    def test_given_rate_below_one_when_built_then_window_holds_one_call(self) -> None:
        limiter = RateLimiter(0.5)

        assert (limiter.window, limiter.capacity) == (2.0, 1.0)
