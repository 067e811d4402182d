"""A complete page in another shape than Graph documents ends the read clearly, and only once.

Every call of the connector asks for a Graph list: ``{"data": [objects], "paging": {...}}``, and a
conversation's nested ``messages`` is a list of the same shape (the child streams' first page).
A 200 that is complete JSON but not that shape (an item that is no object, a ``messages`` that
is text, a ``paging`` that is a string) would reach the CDK's extractors and paginators as
something they cannot read. It is not asked for again like a body cut short
(test_faults_broken_body.py): Meta made that answer of the request, and it comes the same way.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_meta_conversations.components.decoders import PageProblem, graph_page_problem
from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import ConversationBuilder, graph_time, message, page
from unit_tests.mock_server.source_runner import (
    ALL_STREAMS,
    read_streams,
    records_of,
    stream_error,
)

GOOD_PAGE: dict[str, Any] = {
    "data": [ConversationBuilder("t_1", 100).with_messages([message("m_1", 100)]).build()],
    "paging": {"cursors": {"before": "QVFIUb", "after": "QVFIUlast"}},
}


def _response(body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return response


def _changed(change: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD_PAGE)
    change(body)
    return body


class TestGraphPageProblem:
    @pytest.mark.parametrize(
        "body",
        [
            GOOD_PAGE,
            {"data": []},
            {"data": [], "paging": {}},
            {"data": [{"id": "t_1"}], "paging": {"cursors": {"after": "A"}, "next": "https://n"}},
            {"data": [{"id": "t_1", "messages": {"data": []}}]},
            {"error": {"code": 190}},
        ],
        ids=[
            "conversations_with_messages",
            "empty",
            "empty_paging",
            "next_page",
            "empty_nested_messages",
            "error_envelope",
        ],
    )
    def test_given_a_graph_list_or_error_when_checked_then_no_problem(self, body: Any) -> None:
        assert graph_page_problem(_response(body)) is None

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (b'{"data": [{"id": "t_1"', "is not JSON (cut short or not from Graph)"),
            (b"null", "is not JSON (cut short or not from Graph)"),
            ({"id": "1"}, "is JSON but not a Graph list (no `data` list)"),
            ([], "is JSON but not a Graph list (no `data` list)"),
            ({"data": {"id": "t_1"}}, "is JSON but not a Graph list (no `data` list)"),
        ],
        ids=["cut_short", "json_null", "no_data", "a_list", "data_is_an_object"],
    )
    def test_given_a_body_that_is_no_graph_list_when_checked_then_a_problem_worth_a_retry(
        self, body: Any, expected: str
    ) -> None:
        assert graph_page_problem(_response(body)) == PageProblem(expected, retryable=True)

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (
                lambda b: b["data"].append(5),
                "holds an integer as item 2 of data, not an object",
            ),
            (
                lambda b: b["data"].insert(0, None),
                "holds null as item 1 of data, not an object",
            ),
            (
                lambda b: b["data"][0].update(messages="nope"),
                "has a string as data[0].messages, not a Graph list",
            ),
            (
                lambda b: b["data"][0].update(messages=None),
                "has null as data[0].messages, not a Graph list",
            ),
            (
                lambda b: b["data"][0].update(messages={"paging": {}}),
                "has no data[0].messages.data list",
            ),
            (
                lambda b: b["data"][0]["messages"].update(data={"id": "m_1"}),
                "has an object as data[0].messages.data, not a list",
            ),
            (
                lambda b: b["data"][0]["messages"]["data"].append([1]),
                "holds an array as item 2 of data[0].messages.data, not an object",
            ),
            (
                lambda b: b["data"][0]["messages"].update(paging=[]),
                "has an array as data[0].messages.paging, not an object",
            ),
            (lambda b: b.update(paging="x"), "has a string as paging, not an object"),
            (
                lambda b: b["paging"].update(cursors="A"),
                "has a string as paging.cursors, not an object",
            ),
            (
                lambda b: b["paging"].update(next=5),
                "has an integer as paging.next, not a URL",
            ),
        ],
        ids=[
            "item_a_number",
            "item_null",
            "messages_text",
            "messages_null",
            "messages_without_data",
            "messages_data_an_object",
            "message_a_list",
            "messages_paging_a_list",
            "paging_text",
            "cursors_text",
            "next_a_number",
        ],
    )
    def test_given_a_page_in_another_shape_when_checked_then_a_problem_not_worth_a_retry(
        self, change: Any, expected: str
    ) -> None:
        problem = graph_page_problem(_response(_changed(change)))

        assert problem == PageProblem(expected, retryable=False)


def _misshapen_conversations_page() -> HttpResponse:
    return HttpResponse(json.dumps(_changed(lambda b: b["data"].append(5))), 200)


EXPECTED_MESSAGE = (
    f"Meta's Graph API answered the Messenger conversations of Page {PAGE_ID} with a page that "
    "holds an integer as item 2 of data, not an object. Such a page comes the same way when "
    "asked again, so the connector stopped rather than guess at its records; the records and state "
    "before this page were delivered. This comes from Meta's answer, not from your "
    "configuration: run the sync again later, and if it stops on the same page, report it to "
    "Meta's developer support."
)


class TestRead:
    def test_given_a_misshapen_conversations_page_when_read_then_system_error_after_one_call(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, _misshapen_conversations_page())

        output = read_streams(ConfigBuilder().build(), ["conversations"], expecting_exception=True)

        error = stream_error(output, "conversations")
        assert (error.failure_type, error.message) == (
            FailureType.system_error,
            EXPECTED_MESSAGE,
        )
        assert records_of(output, "conversations") == []
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_a_misshapen_page_when_three_streams_read_then_each_fails_on_the_one_call(
        self, http_mocker: HttpMocker
    ) -> None:
        # Kept in the HTTP cache (unlike a body cut short): the children's reads of the same page
        # fail on the same answer instead of asking Meta for it again.
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, _misshapen_conversations_page())

        output = read_streams(ConfigBuilder().build(), ALL_STREAMS, expecting_exception=True)

        for stream in ALL_STREAMS:
            assert stream_error(output, stream).message == EXPECTED_MESSAGE
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_a_misshapen_second_page_when_read_then_the_first_page_delivered_and_saved(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().build(),
            page([ConversationBuilder("t_300", 300).build()], next_after="P2"),
        )
        http_mocker.get(
            RequestBuilder.conversations().with_after("P2").build(),
            HttpResponse(json.dumps({"data": [{"id": "t_290"}, "t_280"]}), 200),
        )

        output = read_streams(
            ConfigBuilder().build(),
            ["conversations"],
            sync_mode=SyncMode.incremental,
            expecting_exception=True,
        )

        assert stream_error(output, "conversations").failure_type == FailureType.system_error
        assert [r["id"] for r in records_of(output, "conversations")] == ["t_300"]
        final_state = output.most_recent_state
        assert final_state is not None
        assert final_state.stream_state is not None
        final = dict(final_state.stream_state.__dict__)
        # The listing resumes after page 1; the watermark waits for a listing that ends.
        assert final["states"][0]["cursor"] == {
            "updated_time": "1970-01-01T00:00:00+0000",
            "listing": {"after": "P2", "updated_time": graph_time(300)},
        }

    def test_given_a_misshapen_messages_edge_page_when_read_then_it_names_the_conversation(
        self, http_mocker: HttpMocker
    ) -> None:
        newest = [message(f"m_{i:02d}", 1000 - i) for i in range(20)]
        conversation = ConversationBuilder("t_1", 1000).with_messages(newest, more_after="QVFIUn")
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))
        edge = RequestBuilder.conversation_messages("t_1").with_after("QVFIUn").build()
        http_mocker.get(edge, HttpResponse(json.dumps({"data": [None]}), 200))

        output = read_streams(
            ConfigBuilder().build(),
            ["messages"],
            state=StateBuilder().build(),
            expecting_exception=True,
        )

        error = stream_error(output, "messages")
        assert error.failure_type == FailureType.system_error
        assert error.message.startswith(
            "Meta's Graph API answered the messages of conversation t_1 with a page that holds "
            "null as item 1 of data, not an object."
        )
        assert [r["id"] for r in records_of(output, "messages")] == [m["id"] for m in newest]
        http_mocker.assert_number_of_calls(edge, 1)
