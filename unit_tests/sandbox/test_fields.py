"""The ``fields`` language: parsing, validation against the node types, and projection."""

from __future__ import annotations

import pytest

from meta_graph_sandbox import fields as f
from meta_graph_sandbox.errors import GraphError
from unit_tests.sandbox.client import (
    DETAIL_FIELDS,
    GraphClient,
    error_of,
    without_attachment_paging,
)


class TestParser:
    def test_given_nested_braces_to_depth_when_parsed_then_tree_and_round_trip(self) -> None:
        text = "id,messages.limit(5){id,from{id,name},attachments{image_data{url,width}}}"

        items = f.parse(text)

        assert [item.name for item in items] == ["id", "messages"]
        messages = items[1]
        assert messages.modifiers == (("limit", "5"),)
        assert messages.children is not None
        attachments = messages.children[2]
        assert attachments.children is not None
        assert attachments.children[0].name == "image_data"
        assert [c.name for c in attachments.children[0].children or ()] == ["url", "width"]
        assert f.unparse(items) == text

    @pytest.mark.parametrize(
        ("text", "limit", "after"),
        [
            ("messages.limit(3).after(QVFIbXx0)", "3", "QVFIbXx0"),
            ("messages{id}.limit(3)", "3", None),
            ("messages.after(QVFI-_x).limit(7){id,message}", "7", "QVFI-_x"),
            (" messages . limit( 2 ) ", None, None),
        ],
        ids=["limit-after", "modifier-after-braces", "after-first", "spaces-are-not-allowed"],
    )
    def test_given_modifiers_when_selected_then_limit_and_after_read(
        self, text: str, limit: str | None, after: str | None
    ) -> None:
        if limit is None:
            with pytest.raises(GraphError) as raised:
                f.select(text, f.CONVERSATION)
            assert raised.value.code == 2500
            return

        (selection,) = f.select(text, f.CONVERSATION)

        assert selection.modifiers.get("limit") == limit
        assert selection.modifiers.get("after") == after

    @pytest.mark.parametrize(
        "text",
        ["id,messages{id", "id}", "messages.limit(3", "messages.limit", "id,,{x}", "a b"],
        ids=["unclosed-brace", "stray-brace", "unclosed-paren", "modifier-without-arg",
             "brace-without-name", "two-names"],
    )  # fmt: skip
    def test_given_malformed_expression_when_parsed_then_error_2500(self, text: str) -> None:
        with pytest.raises(GraphError) as raised:
            f.select(text, f.CONVERSATION)

        assert raised.value.code == 2500
        assert raised.value.message.startswith("Syntax error")

    @pytest.mark.parametrize(
        ("text", "node", "field", "node_type"),
        [
            ("id,bogus", f.CONVERSATION, "bogus", "Conversation"),
            ("participants{id,nickname}", f.CONVERSATION, "nickname", "Conversation"),
            ("messages{id,text}", f.CONVERSATION, "text", "Message"),
            ("from{id,avatar}", f.MESSAGE, "avatar", "Message"),
            ("attachments{image_data{url,depth}}", f.MESSAGE, "depth", "Message"),
            ("id{sub}", f.MESSAGE, "sub", "Message"),
        ],
        ids=["conversation", "participant", "nested-message", "from", "deep", "scalar"],
    )
    def test_given_unknown_field_when_selected_then_error_100_naming_field_and_node(
        self, text: str, node: f.Node, field: str, node_type: str
    ) -> None:
        with pytest.raises(GraphError) as raised:
            f.select(text, node)

        assert raised.value.code == 100
        assert raised.value.message == (
            f"(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})"
        )

    def test_given_blank_fields_when_selected_then_node_defaults(self) -> None:
        assert [s.name for s in f.select("", f.CONVERSATION)] == ["id", "updated_time"]
        assert [s.name for s in f.select(None, f.MESSAGE)] == ["id", "created_time"]


class TestProjection:
    def test_given_unknown_field_when_requested_over_http_then_400_error_100(
        self, graph: GraphClient
    ) -> None:
        response = graph.conversations(fields="id,messages{id,from{id,bogus}}")

        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == 100
        assert error["type"] == "OAuthException"
        assert error["message"] == (
            "(#100) Tried accessing nonexisting field (bogus) on node type (Message)"
        )
        assert error["fbtrace_id"]

    def test_given_no_fields_when_listing_then_id_and_updated_time_only(
        self, graph: GraphClient
    ) -> None:
        items = graph.conversations().json()["data"]

        assert all(set(item) == {"id", "updated_time"} for item in items)

    def test_given_fields_without_id_when_rendering_then_id_still_returned(
        self, graph: GraphClient
    ) -> None:
        conversation = graph.conversations(fields="updated_time", limit=1).json()["data"][0]
        message = graph.get(
            conversation["id"], fields="messages.limit(1){message,from{name}}"
        ).json()

        assert set(conversation) == {"updated_time", "id"}
        assert list(message) == ["messages", "id"]  # as in the guide's example
        first = message["messages"]["data"][0]
        assert set(first) == {"message", "from", "id"}
        assert set(first["from"]) == {"name", "id"}

    def test_given_subfields_when_expanding_then_only_those_come_back(
        self, graph: GraphClient
    ) -> None:
        world = graph.sandbox.world
        conversation = world.conversations("instagram")[0]

        body = graph.get(conversation["id"], fields="participants{username}").json()

        assert body["participants"]["data"] == [
            {"username": p["username"], "id": p["id"]} for p in conversation["participants"]["data"]
        ]

    def test_given_every_detail_field_when_expanding_then_equal_to_world_details(
        self, graph: GraphClient
    ) -> None:
        world = graph.sandbox.world
        for platform in ("messenger", "instagram"):
            conversation = world.conversations(platform)[0]
            body = graph.get(
                conversation["id"], fields=f"messages.limit(20){{{DETAIL_FIELDS}}}"
            ).json()
            answered = without_attachment_paging(body["messages"]["data"])
            assert answered == world.messages(conversation["id"])[:20]

    def test_given_is_owner_when_not_asked_then_absent_and_when_asked_true_false_or_absent(
        self, graph: GraphClient
    ) -> None:
        default = graph.conversations(limit=100, fields="id,updated_time").json()["data"]
        asked = graph.conversations(limit=100, fields="id,is_owner").json()["data"]

        assert not any("is_owner" in c for c in default)
        values = {c.get("is_owner", "absent") for c in asked}
        assert values == {True, False, "absent"}

    def test_given_messenger_only_fields_when_asked_on_instagram_then_omitted(
        self, graph: GraphClient
    ) -> None:
        fields = "id,message_count,snippet,unread_count,link,participants"
        instagram = graph.conversations("instagram", fields=fields, limit=100).json()["data"]
        messenger = graph.conversations("messenger", fields=fields, limit=100).json()["data"]

        assert all(set(c) == {"id", "participants"} for c in instagram)
        assert all("message_count" in c and "snippet" in c for c in messenger)
        # unread_count is omitted when 0, present otherwise
        assert any("unread_count" not in c for c in messenger)
        assert all(c["unread_count"] > 0 for c in messenger if "unread_count" in c)

    def test_given_list_field_limit_when_expanding_then_truncated(self, graph: GraphClient) -> None:
        conversation = graph.sandbox.world.conversations("messenger")[0]

        body = graph.get(conversation["id"], fields="participants.limit(1){id}").json()

        assert len(body["participants"]["data"]) == 1
