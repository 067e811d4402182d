"""The ``conversations`` stream: the conversations edge, its paging and its filters."""

from __future__ import annotations

import json

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from unit_tests.mock_server.config import ACCESS_TOKEN, APP_SECRET, PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    empty_page,
    graph_time,
    message,
    page,
    rfc3339,
)
from unit_tests.mock_server.source_runner import read_streams, records_of, stream_error

STREAM = "conversations"


def _conversation(conversation_id: str, second: int = 100) -> ConversationBuilder:
    return ConversationBuilder(conversation_id, second).with_messages(
        [message(f"{conversation_id}_m", second)]
    )


class TestFullRefresh:
    def test_given_one_page_when_read_then_conversations_without_nested_messages(
        self, http_mocker: HttpMocker
    ) -> None:
        conversation = (
            _conversation("t_1", 100)
            .with_field("snippet", "Hello")
            .with_field("unread_count", 2)
            .with_field("can_reply", True)
            .build()
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert records_of(output, STREAM) == [
            {
                "id": "t_1",
                "updated_time": rfc3339(graph_time(100)),
                "participants": conversation["participants"],
                "message_count": 1,
                "snippet": "Hello",
                "unread_count": 2,
                "can_reply": True,
                "page_id": PAGE_ID,
                "platform": "messenger",
            }
        ]

    @pytest.mark.parametrize(
        ("graph_timestamp", "expected"),
        [
            ("2022-07-12T19:11:07+0000", "2022-07-12T19:11:07+00:00"),
            ("2022-07-12T12:11:07-0700", "2022-07-12T12:11:07-07:00"),
            ("2022-07-13T00:41:07+0530", "2022-07-13T00:41:07+05:30"),
            ("2022-07-12T19:11:07+00:00", "2022-07-12T19:11:07+00:00"),
        ],
        ids=["utc", "negative-offset", "half-hour-offset", "already-rfc3339"],
    )
    def test_given_graph_timestamp_when_read_then_updated_time_is_rfc3339(
        self, http_mocker: HttpMocker, graph_timestamp: str, expected: str
    ) -> None:
        conversation = _conversation("t_1").with_field("updated_time", graph_timestamp).build()
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert [record["updated_time"] for record in records_of(output, STREAM)] == [expected]

    def test_given_three_pages_when_read_then_follows_next_to_the_last_page(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().build()
        second = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        third = RequestBuilder.conversations().with_after("QVFIUpage3").build()
        http_mocker.get(first, page([_conversation("t_1", 300).build()], next_after="QVFIUpage2"))
        http_mocker.get(second, page([_conversation("t_2", 200).build()], next_after="QVFIUpage3"))
        http_mocker.get(third, page([_conversation("t_3", 100).build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert [record["id"] for record in records_of(output, STREAM)] == ["t_1", "t_2", "t_3"]
        for request in (first, second, third):
            http_mocker.assert_number_of_calls(request, 1)

    def test_given_last_page_with_after_cursor_and_no_next_when_read_then_one_call_per_page(
        self, http_mocker: HttpMocker
    ) -> None:
        # Graph's trap: the last page still carries cursors.after; only `next` is missing.
        first = RequestBuilder.conversations().build()
        last = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        http_mocker.get(first, page([_conversation("t_1").build()], next_after="QVFIUpage2"))
        http_mocker.get(last, page([_conversation("t_2").build()], after="QVFIUlast"))
        # A call with after=QVFIUlast would match no mock and fail the read.

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 2
        http_mocker.assert_number_of_calls(first, 1)
        http_mocker.assert_number_of_calls(last, 1)

    def test_given_empty_page_with_next_when_read_then_reads_the_following_page(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().build()
        empty = RequestBuilder.conversations().with_after("QVFIUempty").build()
        last = RequestBuilder.conversations().with_after("QVFIUpage3").build()
        http_mocker.get(first, page([_conversation("t_1").build()], next_after="QVFIUempty"))
        http_mocker.get(empty, empty_page(next_after="QVFIUpage3"))
        http_mocker.get(last, page([_conversation("t_3").build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert [record["id"] for record in records_of(output, STREAM)] == ["t_1", "t_3"]
        http_mocker.assert_number_of_calls(last, 1)

    def test_given_empty_page_with_next_but_no_cursors_when_read_then_reads_the_following_page(
        self, http_mocker: HttpMocker
    ) -> None:
        # Graph omits `cursors` on an empty page [INF]; `next` still carries the after cursor.
        first = RequestBuilder.conversations().build()
        empty = RequestBuilder.conversations().with_after("QVFIUempty").build()
        last = RequestBuilder.conversations().with_after("QVFIUpage3").build()
        http_mocker.get(first, page([_conversation("t_1").build()], next_after="QVFIUempty"))
        http_mocker.get(empty, empty_page(next_after="QVFIUpage3", with_cursors=False))
        http_mocker.get(last, page([_conversation("t_3").build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert [record["id"] for record in records_of(output, STREAM)] == ["t_1", "t_3"]

    def test_given_next_url_embedding_access_token_when_read_then_next_page_asked_without_it(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().build()
        second = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        body = json.loads(page([_conversation("t_1").build()], next_after="QVFIUpage2").body)
        body["paging"]["next"] += f"&access_token={ACCESS_TOKEN}"
        http_mocker.get(first, HttpResponse(json.dumps(body), 200))
        # Pinned query: no access_token parameter; the token stays in the header.
        http_mocker.get(second, page([_conversation("t_2").build()]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 2

    def test_given_user_id_when_read_then_request_asks_for_that_person_only(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().with_user_id("5563492337028372").build(),
            page([_conversation("t_1").build()]),
        )

        output = read_streams(ConfigBuilder().with_user_id("5563492337028372").build(), [STREAM])

        assert [record["id"] for record in records_of(output, STREAM)] == ["t_1"]

    @pytest.mark.parametrize(
        ("only_owned", "expected_ids"),
        [
            (True, ["t_owned", "t_owned_as_text"]),
            (
                False,
                [
                    "t_owned",
                    "t_not_owned",
                    "t_no_routing",
                    "t_owned_as_text",
                    "t_not_owned_as_text",
                ],
            ),
        ],
        ids=["only-owned-keeps-is-owner-true", "default-keeps-all"],
    )
    def test_given_is_owner_true_false_and_absent_when_read_then_filtered_by_only_owned(
        self, http_mocker: HttpMocker, only_owned: bool, expected_ids: list[str]
    ) -> None:
        conversations = [
            _conversation("t_owned").with_field("is_owner", True).build(),
            _conversation("t_not_owned").with_field("is_owner", False).build(),
            _conversation("t_no_routing").build(),  # is_owner absent: routing is off
            # Graph sends some booleans as strings (graph-api-notes.md).
            _conversation("t_owned_as_text").with_field("is_owner", "true").build(),
            _conversation("t_not_owned_as_text").with_field("is_owner", "false").build(),
        ]
        http_mocker.get(RequestBuilder.conversations().build(), page(conversations))
        config = ConfigBuilder().with_field("only_owned_conversations", only_owned).build()

        output = read_streams(config, [STREAM])

        assert [record["id"] for record in records_of(output, STREAM)] == expected_ids

    def test_given_platform_both_when_read_then_one_partition_per_platform(
        self, http_mocker: HttpMocker
    ) -> None:
        messenger = RequestBuilder.conversations("messenger").build()
        instagram = RequestBuilder.conversations("instagram").build()
        http_mocker.get(messenger, page([_conversation("t_messenger").build()]))
        http_mocker.get(instagram, page([_conversation("t_instagram").build()]))

        output = read_streams(ConfigBuilder().with_platform("both").build(), [STREAM])

        assert not output.errors
        platforms = {record["id"]: record["platform"] for record in records_of(output, STREAM)}
        assert platforms == {"t_messenger": "messenger", "t_instagram": "instagram"}
        http_mocker.assert_number_of_calls(messenger, 1)
        http_mocker.assert_number_of_calls(instagram, 1)

    def test_given_instagram_when_read_then_no_messenger_only_field_is_asked(
        self, http_mocker: HttpMocker
    ) -> None:
        # Pinned literally (request_builder.CONVERSATIONS_FIELDS): asking any other field, such
        # as one of Messenger's own, is a request the mocker refuses.
        instagram = RequestBuilder.conversations("instagram").build()
        http_mocker.get(instagram, page([_conversation("t_1").build()]))

        output = read_streams(ConfigBuilder().with_platform("instagram").build(), [STREAM])

        assert not output.errors
        assert [record["id"] for record in records_of(output, STREAM)] == ["t_1"]
        http_mocker.assert_number_of_calls(instagram, 1)

    def test_given_app_secret_when_read_then_every_call_carries_appsecret_proof(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build()
        second = (
            RequestBuilder.conversations()
            .with_appsecret_proof(APP_SECRET)
            .with_after("QVFIUpage2")
            .build()
        )
        http_mocker.get(first, page([_conversation("t_1").build()], next_after="QVFIUpage2"))
        http_mocker.get(second, page([_conversation("t_2").build()]))

        output = read_streams(ConfigBuilder().with_app_secret().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 2

    def test_given_api_version_and_loopback_base_url_when_read_then_calls_that_graph(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations()
            .with_base_url("http://127.0.0.1:8765")
            .with_api_version("v25.0")
            .build(),
            page([_conversation("t_1").build()]),
        )
        config = (
            ConfigBuilder()
            .with_field("base_url", "http://127.0.0.1:8765")
            .with_field("api_version", "v25.0")
            .build()
        )

        output = read_streams(config, [STREAM])

        assert [record["id"] for record in records_of(output, STREAM)] == ["t_1"]

    def test_given_no_conversations_when_read_then_no_records_and_no_error(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(RequestBuilder.conversations().build(), page([]))

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert records_of(output, STREAM) == []


class TestPagingLoops:
    def test_given_next_repeating_the_cursor_just_followed_when_read_then_transient_error(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().build()
        repeated = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        http_mocker.get(first, page([_conversation("t_1").build()], next_after="QVFIUpage2"))
        http_mocker.get(repeated, page([_conversation("t_2").build()], next_after="QVFIUpage2"))

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error, error.internal_message
        assert "same page again" in error.message
        http_mocker.assert_number_of_calls(repeated, 1)

    def test_given_next_returning_to_an_earlier_cursor_when_read_then_transient_error(
        self, http_mocker: HttpMocker
    ) -> None:
        # A -> B -> A: the issue asks that a `next` identical to ANY one already followed stops
        # the read, before A is asked for again (a loop would hit the suite's page budget).
        first = RequestBuilder.conversations().build()
        page_a = RequestBuilder.conversations().with_after("QVFIUpageA").build()
        page_b = RequestBuilder.conversations().with_after("QVFIUpageB").build()
        http_mocker.get(first, page([_conversation("t_1").build()], next_after="QVFIUpageA"))
        http_mocker.get(page_a, page([_conversation("t_2").build()], next_after="QVFIUpageB"))
        http_mocker.get(page_b, page([_conversation("t_3").build()], next_after="QVFIUpageA"))

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        assert output.errors, "a cursor followed twice must stop the read with an error"
        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error, error.internal_message
        assert "same page again" in error.message
        http_mocker.assert_number_of_calls(page_a, 1)
