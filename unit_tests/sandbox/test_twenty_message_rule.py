"""Only the 20 most recent messages of a conversation have details (the guide's note)."""

from __future__ import annotations

import json
from collections.abc import Callable

from unit_tests.sandbox.client import DETAIL_FIELDS, GraphClient, error_of

DELETED = "This Message has been deleted by the user or the business."


def _long_conversation(graph: GraphClient, platform: str = "messenger") -> dict:
    world = graph.sandbox.world
    return next(c for c in world.conversations(platform) if len(world.messages(c["id"])) > 40)


class TestTwentyMessageRule:
    def test_given_21st_newest_message_when_read_directly_then_400_error_9000001(
        self, graph: GraphClient
    ) -> None:
        for platform in ("messenger", "instagram"):
            messages = graph.sandbox.world.messages(_long_conversation(graph, platform)["id"])

            newest_20th = graph.get(messages[19]["id"], fields="id,message,from")
            older = graph.get(messages[20]["id"], fields="id,message,from")
            older_default = graph.get(messages[-1]["id"])

            assert newest_20th.status_code == 200
            assert "from" in newest_20th.json()
            for response in (older, older_default):
                assert response.status_code == 400
                error = error_of(response)
                assert set(error) == {"message", "type", "code", "fbtrace_id"}
                assert error["message"] == DELETED
                assert error["type"] == "OAuthException"
                assert error["code"] == 9000001

    def test_given_nested_expansion_past_20_when_rendered_then_older_only_id_and_created_time(
        self, graph: GraphClient
    ) -> None:
        conversation = _long_conversation(graph)

        body = graph.get(conversation["id"], fields=f"messages.limit(40){{{DETAIL_FIELDS}}}").json()

        data = body["messages"]["data"]
        assert len(data) == 40
        assert all("from" in m and "to" in m and "message" in m for m in data[:20])
        assert all(set(m) == {"id", "created_time"} for m in data[20:])

    def test_given_messages_edge_past_20_when_fields_asked_then_older_only_id_and_created_time(
        self, graph: GraphClient
    ) -> None:
        conversation = _long_conversation(graph, "instagram")

        data = graph.get(f"{conversation['id']}/messages", fields="message,from", limit=30).json()[
            "data"
        ]

        assert all(set(m) == {"message", "from", "id"} for m in data[:20])
        assert all(set(m) == {"id", "created_time"} for m in data[20:])

    def test_given_batch_of_new_and_old_messages_when_read_then_old_items_fail_alone(
        self, graph: GraphClient
    ) -> None:
        messages = graph.sandbox.world.messages(_long_conversation(graph)["id"])
        items = [
            {"method": "GET", "relative_url": f"v26.0/{m['id']}?fields=id,message"}
            for m in messages[18:22]
        ]

        results = graph.batch(items).json()

        assert [r["code"] for r in results] == [200, 200, 400, 400]
        assert json.loads(results[2]["body"])["error"]["code"] == 9000001
        assert json.loads(results[0]["body"])["id"] == messages[18]["id"]

    def test_given_new_messages_when_added_then_former_20th_newest_loses_its_details(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(conversations=2, messages="fixed:25")
        world = client.sandbox.world
        conversation = world.conversations("messenger")[0]["id"]
        twentieth = world.messages(conversation)[19]["id"]
        assert client.get(twentieth, fields="message").status_code == 200

        world.add_messages(conversation, 1)

        assert error_of(client.get(twentieth, fields="message"))["code"] == 9000001
