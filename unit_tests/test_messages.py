"""The ``messages`` stream: every message id and created_time, nested page first, then the edge."""

from __future__ import annotations

from typing import Any

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_error,
    graph_time,
    message,
    page,
    rfc3339,
)
from unit_tests.mock_server.source_runner import (
    ALL_STREAMS,
    read_streams,
    records_of,
    stream_error,
)

STREAM = "messages"


def _newest_twenty(conversation_id: str) -> list[dict[str, Any]]:
    """The 20 most recent messages, as nested in the conversations page (with details)."""
    return [message(f"{conversation_id}_m{i:02d}", 1000 - i) for i in range(20)]


def _older(conversation_id: str, first: int, count: int) -> list[dict[str, Any]]:
    """Older messages as the messages edge gives them: id and created_time only."""
    return [
        message(f"{conversation_id}_m{i:02d}", 1000 - i, details=False)
        for i in range(first, first + count)
    ]


def _edge_page(conversation_id: str, messages: list[dict[str, Any]], **kwargs: str) -> HttpResponse:
    return page(messages, resource=f"{conversation_id}/messages", **kwargs)


class TestFullRefresh:
    def test_given_nested_messages_when_read_then_id_and_created_time_with_context(
        self, http_mocker: HttpMocker
    ) -> None:
        conversation = ConversationBuilder("t_1", 100).with_messages(
            [message("m_2", 90), message("m_1", 80)]
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert records_of(output, STREAM) == [
            {
                "id": "m_2",
                "created_time": rfc3339(graph_time(90)),
                "conversation_id": "t_1",
                "page_id": PAGE_ID,
                "platform": "messenger",
            },
            {
                "id": "m_1",
                "created_time": rfc3339(graph_time(80)),
                "conversation_id": "t_1",
                "page_id": PAGE_ID,
                "platform": "messenger",
            },
        ]

    def test_given_more_than_twenty_messages_when_read_then_edge_read_from_nested_cursor_to_end(
        self, http_mocker: HttpMocker
    ) -> None:
        conversation = ConversationBuilder("t_1", 1000).with_messages(
            _newest_twenty("t_1"), more_after="QVFIUnested"
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))
        edge_first = RequestBuilder.conversation_messages("t_1").with_after("QVFIUnested").build()
        edge_last = RequestBuilder.conversation_messages("t_1").with_after("QVFIUedge2").build()
        http_mocker.get(
            edge_first, _edge_page("t_1", _older("t_1", 20, 100), next_after="QVFIUedge2")
        )
        # The last edge page keeps cursors.after but has no `next`.
        http_mocker.get(edge_last, _edge_page("t_1", _older("t_1", 120, 7), after="QVFIUedgeend"))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        ids = [record["id"] for record in records_of(output, STREAM)]
        assert ids == [f"t_1_m{i:02d}" for i in range(127)]
        http_mocker.assert_number_of_calls(edge_first, 1)
        http_mocker.assert_number_of_calls(edge_last, 1)

    def test_given_edge_request_when_read_then_asks_ids_and_times_with_the_largest_page(
        self, http_mocker: HttpMocker
    ) -> None:
        conversation = ConversationBuilder("t_1", 1000).with_messages(
            _newest_twenty("t_1"), more_after="QVFIUnested"
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))
        # Pinned literally: the edge asks only id and created_time, 100 at a time.
        http_mocker.get(
            RequestBuilder.conversation_messages("t_1")
            .with_fields("id,created_time")
            .with_limit(100)
            .with_after("QVFIUnested")
            .build(),
            _edge_page("t_1", _older("t_1", 20, 1)),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 21

    def test_given_older_messages_when_read_then_their_timestamps_are_rfc3339(
        self, http_mocker: HttpMocker
    ) -> None:
        conversation = ConversationBuilder("t_1", 1000).with_messages(
            _newest_twenty("t_1"), more_after="QVFIUnested"
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))
        old = {"id": "t_1_old", "created_time": "2021-12-31T16:00:00-0800"}
        http_mocker.get(
            RequestBuilder.conversation_messages("t_1").with_after("QVFIUnested").build(),
            _edge_page("t_1", [old]),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        by_id = {record["id"]: record for record in records_of(output, STREAM)}
        assert by_id["t_1_old"]["created_time"] == "2021-12-31T16:00:00-08:00"
        assert by_id["t_1_old"]["conversation_id"] == "t_1"

    def test_given_twenty_nested_messages_without_next_when_read_then_no_edge_call(
        self, http_mocker: HttpMocker
    ) -> None:
        # Exactly 20 messages: the nested page has cursors.after but no `next`. An edge call
        # would hit no mock and fail the read.
        conversation = ConversationBuilder("t_1", 1000).with_messages(_newest_twenty("t_1"))
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 20

    def test_given_conversation_without_messages_field_when_read_then_no_records_and_no_call(
        self, http_mocker: HttpMocker
    ) -> None:
        # Graph omits a field with no data: a conversation can come without `messages`.
        empty = ConversationBuilder("t_empty", 1000).build()
        full = ConversationBuilder("t_full", 900).with_messages([message("m_1", 900)]).build()
        http_mocker.get(RequestBuilder.conversations().build(), page([empty, full]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert [record["conversation_id"] for record in records_of(output, STREAM)] == ["t_full"]

    def test_given_two_conversations_one_with_more_when_read_then_only_that_one_calls_the_edge(
        self, http_mocker: HttpMocker
    ) -> None:
        long = ConversationBuilder("t_long", 1000).with_messages(
            _newest_twenty("t_long"), more_after="QVFIUnested"
        )
        short = ConversationBuilder("t_short", 900).with_messages([message("t_short_m", 900)])
        http_mocker.get(RequestBuilder.conversations().build(), page([long.build(), short.build()]))
        edge = RequestBuilder.conversation_messages("t_long").with_after("QVFIUnested").build()
        http_mocker.get(edge, _edge_page("t_long", _older("t_long", 20, 3)))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        per_conversation: dict[str, int] = {}
        for record in records_of(output, STREAM):
            per_conversation[record["conversation_id"]] = (
                per_conversation.get(record["conversation_id"], 0) + 1
            )
        assert per_conversation == {"t_long": 23, "t_short": 1}
        http_mocker.assert_number_of_calls(edge, 1)

    def test_given_conversations_on_two_pages_when_read_then_messages_of_both(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().build()
        second = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        http_mocker.get(
            first,
            page(
                [ConversationBuilder("t_1", 200).with_messages([message("m_1", 200)]).build()],
                next_after="QVFIUpage2",
            ),
        )
        http_mocker.get(
            second,
            page([ConversationBuilder("t_2", 100).with_messages([message("m_2", 100)]).build()]),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert sorted(record["id"] for record in records_of(output, STREAM)) == ["m_1", "m_2"]
        http_mocker.assert_number_of_calls(first, 1)
        http_mocker.assert_number_of_calls(second, 1)

    def test_given_platform_both_when_read_then_messages_carry_their_platform(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations("messenger").build(),
            page([ConversationBuilder("t_fb", 100).with_messages([message("m_fb", 100)]).build()]),
        )
        http_mocker.get(
            RequestBuilder.conversations("instagram").build(),
            page([ConversationBuilder("t_ig", 100).with_messages([message("m_ig", 100)]).build()]),
        )

        output = read_streams(ConfigBuilder().with_platform("both").build(), [STREAM])

        assert not output.errors
        assert {
            record["id"]: (record["platform"], record["conversation_id"])
            for record in records_of(output, STREAM)
        } == {"m_fb": ("messenger", "t_fb"), "m_ig": ("instagram", "t_ig")}


class TestOneConversationsReadFeedsAllStreams:
    def test_given_all_streams_when_read_then_each_conversations_page_is_called_once(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().build()
        second = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        long = ConversationBuilder("t_1", 1000).with_messages(
            _newest_twenty("t_1"), more_after="QVFIUnested"
        )
        http_mocker.get(first, page([long.build()], next_after="QVFIUpage2"))
        http_mocker.get(
            second,
            page([ConversationBuilder("t_2", 50).with_messages([message("t_2_m", 50)]).build()]),
        )
        edge = RequestBuilder.conversation_messages("t_1").with_after("QVFIUnested").build()
        http_mocker.get(edge, _edge_page("t_1", _older("t_1", 20, 2)))

        output = read_streams(ConfigBuilder().build(), ALL_STREAMS)

        assert not output.errors
        assert len(records_of(output, "conversations")) == 2
        assert len(records_of(output, "messages")) == 20 + 2 + 1
        assert len(records_of(output, "message_details")) == 20 + 1
        http_mocker.assert_number_of_calls(first, 1)
        http_mocker.assert_number_of_calls(second, 1)
        http_mocker.assert_number_of_calls(edge, 1)

    def test_given_platform_both_and_all_streams_when_read_then_each_platform_page_called_once(
        self, http_mocker: HttpMocker
    ) -> None:
        messenger = RequestBuilder.conversations("messenger").build()
        instagram = RequestBuilder.conversations("instagram").build()
        http_mocker.get(
            messenger,
            page([ConversationBuilder("t_fb", 100).with_messages([message("m_fb", 100)]).build()]),
        )
        http_mocker.get(
            instagram,
            page([ConversationBuilder("t_ig", 100).with_messages([message("m_ig", 100)]).build()]),
        )

        output = read_streams(ConfigBuilder().with_platform("both").build(), ALL_STREAMS)

        assert not output.errors
        assert len(records_of(output, "messages")) == 2
        assert len(records_of(output, "message_details")) == 2
        http_mocker.assert_number_of_calls(messenger, 1)
        http_mocker.assert_number_of_calls(instagram, 1)


class TestErrorHandling:
    @pytest.fixture
    def long_and_short(self, http_mocker: HttpMocker) -> HttpMocker:
        """Two conversations: ``t_long`` needs the edge, ``t_short`` does not."""
        long = ConversationBuilder("t_long", 1000).with_messages(
            _newest_twenty("t_long"), more_after="QVFIUnested"
        )
        short = ConversationBuilder("t_short", 900).with_messages([message("t_short_m", 900)])
        http_mocker.get(RequestBuilder.conversations().build(), page([long.build(), short.build()]))
        return http_mocker

    @staticmethod
    def _edge() -> RequestBuilder:
        return RequestBuilder.conversation_messages("t_long").with_after("QVFIUnested")

    def test_given_edge_answers_object_gone_when_read_then_conversation_skipped_and_sync_goes_on(
        self, long_and_short: HttpMocker
    ) -> None:
        edge = self._edge().build()
        long_and_short.get(
            edge,
            graph_error(
                100,
                subcode=33,
                message=(
                    "Unsupported get request. Object with ID 't_long' does not exist, cannot be "
                    "loaded due to missing permissions, or does not support this operation."
                ),
                error_type="GraphMethodException",
            ),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        per_conversation = {record["conversation_id"] for record in records_of(output, STREAM)}
        assert per_conversation == {"t_long", "t_short"}
        assert len(records_of(output, STREAM)) == 21  # the nested 20 of t_long, 1 of t_short
        assert output.is_in_logs("no longer exists or is no longer visible")
        long_and_short.assert_number_of_calls(edge, 1)

    @pytest.mark.parametrize(
        ("code", "error_message"),
        [
            (9000001, "This Message has been deleted by the user or the business."),
            (190, "This Message has been deleted by the user or the business."),
        ],
        ids=["code-9000001", "code-190-with-the-deleted-message-text"],
    )
    def test_given_edge_answers_message_gone_when_read_then_ignored_not_a_token_error(
        self, long_and_short: HttpMocker, code: int, error_message: str
    ) -> None:
        long_and_short.get(self._edge().build(), graph_error(code, message=error_message))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 21
        assert output.is_in_logs("only the 20 most recent messages")

    def test_given_edge_transient_error_then_success_when_read_then_retried_and_complete(
        self, long_and_short: HttpMocker
    ) -> None:
        edge = self._edge().build()
        long_and_short.get(
            edge,
            [
                graph_error(
                    2, message="Service temporarily unavailable", status=503, transient=True
                ),
                _edge_page("t_long", _older("t_long", 20, 5)),
            ],
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 26
        long_and_short.assert_number_of_calls(edge, 2)

    def test_given_edge_asks_for_less_data_then_success_when_read_then_retried_and_complete(
        self, long_and_short: HttpMocker
    ) -> None:
        # The edge cannot shrink its page (the CDK refuses REDUCE_PAGE_SIZE on a child), so the
        # same request is retried.
        edge = self._edge().build()
        long_and_short.get(
            edge,
            [
                graph_error(
                    1,
                    message=(
                        "Please reduce the amount of data you're asking for, then retry your "
                        "request"
                    ),
                    status=500,
                ),
                _edge_page("t_long", _older("t_long", 20, 5)),
            ],
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 26
        long_and_short.assert_number_of_calls(edge, 2)

    def test_given_edge_rejects_the_token_when_read_then_config_error(
        self, long_and_short: HttpMocker
    ) -> None:
        long_and_short.get(
            self._edge().build(),
            graph_error(190, subcode=463, message="Error validating access token: expired."),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.config_error
        assert "generate a new page access token" in " ".join(error.message.split()).lower()

    def test_given_edge_repeats_its_cursor_when_read_then_transient_error_not_a_loop(
        self, long_and_short: HttpMocker
    ) -> None:
        edge_first = self._edge().build()
        edge_repeated = (
            RequestBuilder.conversation_messages("t_long").with_after("QVFIUedge2").build()
        )
        long_and_short.get(
            edge_first, _edge_page("t_long", _older("t_long", 20, 100), next_after="QVFIUedge2")
        )
        long_and_short.get(
            edge_repeated,
            _edge_page("t_long", _older("t_long", 120, 100), next_after="QVFIUedge2"),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error, error.internal_message
        assert "same page again" in error.message
        long_and_short.assert_number_of_calls(edge_repeated, 1)
