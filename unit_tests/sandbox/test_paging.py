"""Paging as the notes describe it: next until the end, cursors on every page, the empty page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from unit_tests.sandbox.client import GraphClient, error_of


def _ids(pages: list[dict]) -> list[str]:
    return [item["id"] for page in pages for item in page["data"]]


class TestConversationsPaging:
    def test_given_conversations_when_following_next_then_each_once_newest_first_and_no_next_at_end(
        self, graph: GraphClient
    ) -> None:
        pages = graph.walk(graph.conversations(limit=7))

        expected = graph.sandbox.world.summary()["messenger"]["conversation_ids"]
        assert _ids(pages) == expected
        assert [len(page["data"]) for page in pages] == [7, 7, 7, 7, 2]
        last = pages[-1]
        assert "next" not in last["paging"]
        assert last["paging"]["cursors"]["after"]  # present on the last page too
        assert all(page["paging"]["cursors"]["before"] for page in pages)

    def test_given_after_cursor_of_last_page_when_requested_then_empty_page_without_next(
        self, graph: GraphClient
    ) -> None:
        pages = graph.walk(graph.conversations(limit=50))
        after = pages[-1]["paging"]["cursors"]["after"]

        body = graph.conversations(limit=50, after=after).json()

        assert body["data"] == []
        assert "next" not in body.get("paging", {})

    def test_given_updated_times_when_listing_then_ordered_desc_and_ties_by_id(
        self, graph: GraphClient
    ) -> None:
        for platform in ("messenger", "instagram"):
            items = graph.conversations(platform, limit=100).json()["data"]
            keys = [(c["updated_time"], c["id"]) for c in items]
            assert keys == sorted(keys, reverse=True)

    def test_given_no_limit_when_listing_then_25_and_limit_over_100_is_clamped(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(conversations=130, messages="fixed:1")

        assert len(client.conversations().json()["data"]) == 25
        assert len(client.conversations(limit=500).json()["data"]) == 100
        next_url = client.conversations(limit=500).json()["paging"]["next"]
        assert parse_qs(urlsplit(next_url).query)["limit"] == ["100"]

    def test_given_first_page_when_reading_then_no_previous_and_second_page_links_back(
        self, graph: GraphClient
    ) -> None:
        first = graph.conversations(limit=5).json()
        assert "previous" not in first["paging"]

        second = graph.follow(first["paging"]["next"]).json()
        back = graph.follow(second["paging"]["previous"]).json()

        assert [c["id"] for c in back["data"]] == [c["id"] for c in first["data"]]
        assert "previous" not in back["paging"]
        assert "next" in back["paging"]

    def test_given_token_in_query_when_paging_then_next_carries_it_and_header_token_does_not(
        self, graph: GraphClient
    ) -> None:
        token = graph.sandbox.access_token
        in_query = graph.conversations(limit=5, token=token, in_query=True).json()
        in_header = graph.conversations(limit=5).json()

        assert parse_qs(urlsplit(in_query["paging"]["next"]).query)["access_token"] == [token]
        assert "access_token" not in in_header["paging"]["next"]
        assert in_header["paging"]["next"].startswith(
            f"{graph.sandbox.base_url}/v26.0/{graph.sandbox.page_id}/conversations?"
        )

    def test_given_next_url_when_read_then_it_repeats_platform_and_fields(
        self, graph: GraphClient
    ) -> None:
        first = graph.conversations("INSTAGRAM", limit=4, fields="id,participants").json()

        query = parse_qs(urlsplit(first["paging"]["next"]).query)
        second = graph.follow(first["paging"]["next"]).json()

        assert query["platform"] == ["INSTAGRAM"]
        assert query["fields"] == ["id,participants"]
        assert all("participants" in c for c in second["data"])

    def test_given_conversation_moved_to_top_between_pages_when_paging_then_boundary_stays(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(conversations=12)
        world = client.sandbox.world
        first = client.conversations(limit=5).json()
        later = world.summary()["messenger"]["conversation_ids"][7]

        world.add_messages(later, 1)
        rest = client.walk(client.follow(first["paging"]["next"]))

        seen = [c["id"] for c in first["data"]] + _ids(rest)
        assert later not in _ids(rest)  # moved above the cursor: the next sync sees it
        assert len(seen) == len(set(seen)) == 11

    def test_given_cursor_of_another_edge_when_used_then_error_100(
        self, graph: GraphClient
    ) -> None:
        messenger = graph.conversations(limit=2).json()["paging"]["cursors"]["after"]

        response = graph.conversations("instagram", after=messenger)

        assert response.status_code == 400
        assert error_of(response)["code"] == 100

    def test_given_folder_and_user_id_when_listing_then_filtered(self, graph: GraphClient) -> None:
        world = graph.sandbox.world
        conversations = world.conversations("messenger")
        in_inbox = [c["id"] for c in conversations if c["folder"] == "inbox"]
        customer = conversations[3]["participants"]["data"][0]["id"]

        pages = graph.walk(graph.conversations(folder="INBOX", limit=4))
        by_user = graph.conversations(user_id=customer).json()

        assert _ids(pages) == in_inbox
        assert by_user == {"data": [{"id": conversations[3]["id"]}]}


class TestEmptyPage:
    def test_given_empty_page_profile_when_paging_then_empty_page_carries_next_and_walk_completes(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("empty-page:2",))

        pages = client.walk(client.conversations(limit=4))

        empty = [page for page in pages if not page["data"]]
        assert empty
        assert all("next" in page["paging"] and "cursors" not in page["paging"] for page in empty)
        expected = client.sandbox.world.summary()["messenger"]["conversation_ids"]
        assert _ids(pages) == expected
        assert client.sandbox.stats()["faults"]["empty-page"] == len(empty)

    def test_given_empty_page_profile_when_paging_messages_edge_then_same_rule(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("empty-page:3",), conversations=3, messages="fixed:30")
        conversation = client.sandbox.world.conversations("messenger")[0]["id"]

        pages = client.walk(client.get(f"{conversation}/messages", limit=5))

        assert [len(page["data"]) for page in pages] == [5, 5, 0, 5, 5, 0, 5, 5]
        assert len(_ids(pages)) == 30


class TestMessagesPaging:
    def test_given_long_conversation_when_paging_messages_edge_then_all_newest_first(
        self, graph: GraphClient
    ) -> None:
        world = graph.sandbox.world
        conversation = next(c for c in world.conversations("messenger") if c["message_count"] > 60)

        pages = graph.walk(graph.get(f"{conversation['id']}/messages", limit=30))

        expected = [m["id"] for m in world.messages(conversation["id"])]
        assert _ids(pages) == expected
        times = [m["created_time"] for page in pages for m in page["data"]]
        assert times == sorted(times, reverse=True)
        assert len(set(times)) == len(times)
        assert pages[-1]["paging"]["cursors"]["after"]
        assert "next" not in pages[-1]["paging"]

    def test_given_nested_messages_when_following_nested_next_then_edge_continues(
        self, graph: GraphClient
    ) -> None:
        world = graph.sandbox.world
        conversation = next(c for c in world.conversations("messenger") if c["message_count"] > 30)

        nested = graph.get(
            conversation["id"], fields="id,messages.limit(10){id,created_time,message}"
        ).json()["messages"]
        next_url = nested["paging"]["next"]
        query = parse_qs(urlsplit(next_url).query)
        pages = graph.walk(graph.follow(next_url))

        assert next_url.startswith(f"{graph.sandbox.base_url}/v26.0/{conversation['id']}/messages?")
        assert query["fields"] == ["id,created_time,message"]
        assert query["limit"] == ["10"]
        assert "access_token" not in query
        expected = [m["id"] for m in world.messages(conversation["id"])]
        assert [m["id"] for m in nested["data"]] + _ids(pages) == expected

    def test_given_nested_after_modifier_when_expanding_then_page_continues_from_cursor(
        self, graph: GraphClient
    ) -> None:
        world = graph.sandbox.world
        conversation = next(c for c in world.conversations("messenger") if c["message_count"] > 30)
        first = graph.get(conversation["id"], fields="messages.limit(5)").json()["messages"]
        after = first["paging"]["cursors"]["after"]

        second = graph.get(conversation["id"], fields=f"messages.limit(5).after({after})").json()
        edge = graph.get(f"{conversation['id']}/messages", limit=5, after=after).json()

        expected = [m["id"] for m in world.messages(conversation["id"])][5:10]
        assert [m["id"] for m in second["messages"]["data"]] == expected
        assert [m["id"] for m in edge["data"]] == expected
        assert "previous" in second["messages"]["paging"]

    def test_given_token_in_query_when_nested_next_built_then_it_carries_the_token(
        self, graph: GraphClient
    ) -> None:
        token = graph.sandbox.access_token

        body = graph.conversations(
            limit=3, fields="messages.limit(1){id}", token=token, in_query=True
        ).json()

        nested_next = body["data"][0]["messages"]["paging"]["next"]
        assert parse_qs(urlsplit(nested_next).query)["access_token"] == [token]

    def test_given_no_limit_or_huge_limit_when_paging_messages_then_25_or_100(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(conversations=1, messages="fixed:130", platforms=("instagram",))
        conversation = client.sandbox.world.conversations("instagram")[0]["id"]

        default = client.get(f"{conversation}/messages").json()
        huge = client.get(f"{conversation}/messages", limit=1000).json()
        nested = client.get(conversation, fields="messages.limit(1000)").json()["messages"]

        assert len(default["data"]) == 25
        assert len(huge["data"]) == len(nested["data"]) == 100
