"""The ``message_details`` stream: the nested messages that carry details, and only those."""

from __future__ import annotations

import json

from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import MESSAGE_DETAIL_FIELDS, RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_time,
    message,
    page,
    rfc3339,
    template,
)
from unit_tests.mock_server.source_runner import read_streams, records_of

STREAM = "message_details"


class TestFullRefresh:
    def test_given_nested_messages_with_details_when_read_then_one_record_each_with_context(
        self, http_mocker: HttpMocker
    ) -> None:
        nested = message("m_1", 90)
        conversation = ConversationBuilder("t_1", 100).with_messages([nested])
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert records_of(output, STREAM) == [
            {
                **nested,
                "created_time": rfc3339(graph_time(90)),
                "conversation_id": "t_1",
                "page_id": PAGE_ID,
                "platform": "messenger",
            }
        ]

    def test_given_every_detail_field_when_read_then_all_kept_as_graph_sent_them(
        self, http_mocker: HttpMocker
    ) -> None:
        full = template("message_details_for_every_detail_field")
        conversation = ConversationBuilder("t_1", 100).with_messages([full])
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        [record] = records_of(output, STREAM)
        asked = MESSAGE_DETAIL_FIELDS.split(",")  # the fields the pinned request asks for
        assert set(asked) <= set(record)
        for name in asked:
            if name != "created_time":
                assert record[name] == full[name], name
        assert record["reply_to"] == {"mid": "m_earlier", "is_self_reply": False}
        assert record["created_time"] == "2026-03-01T00:01:40+00:00"

    def test_given_nested_message_with_only_id_and_created_time_when_read_then_no_record(
        self, http_mocker: HttpMocker
    ) -> None:
        conversation = ConversationBuilder("t_1", 100).with_messages(
            [message("m_new", 90), message("m_bare", 80, details=False)]
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), ["messages", STREAM])

        assert not output.errors
        assert [record["id"] for record in records_of(output, STREAM)] == ["m_new"]
        # The bare message is still a message.
        assert [record["id"] for record in records_of(output, "messages")] == ["m_new", "m_bare"]

    def test_given_more_than_twenty_messages_when_read_then_older_ones_have_no_details_record(
        self, http_mocker: HttpMocker
    ) -> None:
        newest = [message(f"m{i:02d}", 1000 - i) for i in range(20)]
        conversation = ConversationBuilder("t_1", 1000).with_messages(
            newest, more_after="QVFIUnested"
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))
        older = [message(f"m{i:02d}", 1000 - i, details=False) for i in range(20, 25)]
        edge = RequestBuilder.conversation_messages("t_1").with_after("QVFIUnested").build()
        http_mocker.get(edge, page(older, resource="t_1/messages"))

        output = read_streams(ConfigBuilder().build(), ["messages", STREAM])

        assert not output.errors
        assert [record["id"] for record in records_of(output, STREAM)] == [
            f"m{i:02d}" for i in range(20)
        ]
        assert len(records_of(output, "messages")) == 25
        # The edge was read once, for `messages`; details never ask for older messages.
        http_mocker.assert_number_of_calls(edge, 1)

    def test_given_only_details_stream_when_read_then_no_edge_call(
        self, http_mocker: HttpMocker
    ) -> None:
        newest = [message(f"m{i:02d}", 1000 - i) for i in range(20)]
        conversation = ConversationBuilder("t_1", 1000).with_messages(
            newest, more_after="QVFIUnested"
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 20

    def test_given_instagram_thread_when_read_then_details_with_instagram_context(
        self, http_mocker: HttpMocker
    ) -> None:
        body = template("conversations_for_instagram_thread")
        http_mocker.get(
            RequestBuilder.conversations("instagram").build(), HttpResponse(json.dumps(body), 200)
        )

        output = read_streams(ConfigBuilder().with_platform("instagram").build(), [STREAM])

        assert not output.errors
        [record] = records_of(output, STREAM)
        nested = body["data"][0]["messages"]["data"][0]
        assert record["id"] == nested["id"]
        assert record["message"] == ""
        assert record["shares"] == nested["shares"]
        assert record["from"] == {"username": "ada.lovelace", "id": "17841400000000002"}
        assert record["platform"] == "instagram"
        assert record["conversation_id"] == body["data"][0]["id"]
        assert record["created_time"] == "2026-03-01T00:05:00+00:00"
