"""Exact call counting: the benchmark compares connectors by these numbers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from unit_tests.sandbox.client import GraphClient


class TestStats:
    def test_given_scripted_calls_when_counting_then_every_counter_exact(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client()
        world = client.sandbox.world
        messenger = world.conversations("messenger")[0]["id"]
        instagram = world.conversations("instagram")[0]["id"]
        message = world.messages(instagram)[0]["id"]

        client.get("me")
        client.conversations("messenger")
        client.conversations("instagram")
        client.get(messenger, fields="messages")
        client.get(f"{instagram}/messages")
        client.get(message)
        client.get("999/conversations")  # counted, 100/33
        client.get("nonsense-id")  # counted as other, 100/33
        client.conversations(token=None)  # counted, 104
        client.batch(
            [
                {"method": "GET", "relative_url": f"{message}?fields=id"},
                {"method": "GET", "relative_url": f"{messenger}/messages"},
                {"method": "GET", "relative_url": "nonsense-id"},
            ]
        )

        assert client.sandbox.stats() == {
            "calls": 10,
            "by_route": {
                "conversations": 4,
                "conversation": 1,
                "conversation_messages": 1,
                "message": 1,
                "me": 1,
                "batch": 1,
                "other": 1,
            },
            "batch_items": 3,
            "batch_items_by_route": {
                "conversations": 0,
                "conversation": 0,
                "conversation_messages": 1,
                "message": 1,
                "me": 0,
                "other": 1,
            },
            "by_platform": {"messenger": 6, "instagram": 4},
            "rate_limited": 0,
            "faults": {},
            "errors": {"100": 3, "104": 1},
        }

    def test_given_admin_routes_when_called_then_not_counted_and_reset_zeroes(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client()
        client.get("me")

        client.admin("GET", "world")
        before_reset = client.admin("GET", "stats").json()
        after_reset = client.admin("POST", "stats/reset").json()

        assert before_reset["calls"] == 1
        assert after_reset["calls"] == 0
        assert client.sandbox.stats() == after_reset
        client.sandbox.reset_stats()
        assert client.sandbox.stats()["by_platform"] == {"messenger": 0, "instagram": 0}

    def test_given_concurrent_clients_when_counting_then_no_call_lost(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client()

        def calls(_: int) -> list[int]:
            own = GraphClient(client.sandbox)  # one keep-alive connection per thread
            return [own.conversations("instagram").status_code for _ in range(25)]

        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = [s for batch in pool.map(calls, range(4)) for s in batch]

        assert statuses == [200] * 100
        stats = client.sandbox.stats()
        assert stats["calls"] == stats["by_route"]["conversations"] == 100
        assert stats["by_platform"]["instagram"] == 100
