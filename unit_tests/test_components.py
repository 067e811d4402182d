"""The custom components of ``components/``, tested directly."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.components.backoff_strategies import GraphUsageBackoff
from source_meta_conversations.components.paginators import GraphCursorPagination
from source_meta_conversations.components.transformations import KeepFields
from source_meta_conversations.components.usage import regain_access_seconds
from source_meta_conversations.sync.versions import _VersionFallbacks
from unit_tests.mock_server.config import ACCESS_TOKEN, PAGE_ID

CONVERSATIONS_URL = f"https://graph.facebook.com/v26.0/{PAGE_ID}/conversations"
NEXT_URL = f"{CONVERSATIONS_URL}?limit=25&after=QVFIUnext"
# The paginators' cursor, as the manifest configures it (definitions.paginator).
CURSOR_VALUE = "{{ response.get('paging', {}).get('cursors', {}).get('after') }}"


def _response(
    body: Any, *, raw: str | None = None, headers: dict[str, str] | None = None
) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = (raw if raw is not None else json.dumps(body)).encode()
    response.headers.update({"Content-Type": "application/json", **(headers or {})})
    # As a response to a request whose URL carried the token (an old `next` link would).
    response.url = f"{CONVERSATIONS_URL}?access_token={ACCESS_TOKEN}&after=QVFIUprevious"
    return response


def _graph_page(data: list[Any], *, after: str | None, next_url: str | None) -> dict[str, Any]:
    paging: dict[str, Any] = {}
    if after is not None:
        paging["cursors"] = {"before": "QVFIUbefore", "after": after}
    if next_url is not None:
        paging["next"] = next_url
    return {"data": data, "paging": paging}


@pytest.fixture
def pagination() -> GraphCursorPagination:
    """The strategy as the manifest configures it (``definitions.paginator``)."""
    return GraphCursorPagination(
        cursor_value=CURSOR_VALUE,
        stop_condition="{{ not response.get('paging', {}).get('next') }}",
        page_size=25,
        config={},
        parameters={},
    )


@pytest.fixture
def messages_pagination() -> GraphCursorPagination:
    """The messages edge's strategy: it also stops after a page the watermark cut short."""
    return GraphCursorPagination(
        cursor_value=CURSOR_VALUE,
        stop_condition=(
            "{{ not response.get('paging', {}).get('next')"
            " or last_page_size < (response.get('data') or []) | length }}"
        ),
        page_size=100,
        config={},
        parameters={},
    )


class TestKeepFields:
    @pytest.mark.parametrize(
        ("fields", "record", "expected"),
        [
            (
                "id,created_time",
                {"id": "m_1", "created_time": "t", "message": "Hi", "from": {"id": "1"}},
                {"id": "m_1", "created_time": "t"},
            ),
            (
                "id, created_time\n",
                {"id": "m_1", "created_time": "t", "tags": {"data": []}},
                {"id": "m_1", "created_time": "t"},
            ),
            (["id"], {"id": "m_1", "created_time": "t"}, {"id": "m_1"}),
            ("id,created_time", {"id": "m_1", "message": "Hi"}, {"id": "m_1"}),
            (
                "id,to",
                {"id": "m_1", "to": {"data": [{"id": "1", "name": "Kitty"}]}, "message": ""},
                {"id": "m_1", "to": {"data": [{"id": "1", "name": "Kitty"}]}},
            ),
            ("id,created_time", {}, {}),
        ],
        ids=[
            "csv-string",
            "csv-with-spaces-and-line-break",
            "list",
            "kept-field-absent",
            "nested-value-kept-whole",
            "empty-record",
        ],
    )
    def test_given_fields_when_transform_then_only_those_top_level_fields_remain(
        self, fields: str | list[str], record: dict[str, Any], expected: dict[str, Any]
    ) -> None:
        KeepFields(parameters={}, fields=fields).transform(record)

        assert record == expected

    def test_given_the_manifest_message_fields_when_transform_then_a_message_record(self) -> None:
        record = {"id": "m_1", "created_time": "t", "message": "Hi", "is_unsupported": True}

        KeepFields(parameters={}, fields="id,created_time").transform(record)

        assert record == {"id": "m_1", "created_time": "t"}

    @pytest.mark.parametrize(
        "fields", ["", " , ", []], ids=["empty-string", "only-commas", "empty-list"]
    )
    def test_given_no_field_names_when_built_then_value_error(
        self, fields: str | list[str]
    ) -> None:
        with pytest.raises(ValueError, match="at least one field"):
            KeepFields(parameters={}, fields=fields)


class TestGraphCursorPagination:
    @pytest.mark.parametrize(
        ("body", "last_token", "expected"),
        [
            (
                _graph_page([{"id": "t_1"}], after="QVFIUnext", next_url=NEXT_URL),
                "QVFIUprevious",
                "QVFIUnext",
            ),
            (_graph_page([{"id": "t_1"}], after="QVFIUnext", next_url=NEXT_URL), None, "QVFIUnext"),
            (_graph_page([{"id": "t_1"}], after="QVFIUlast", next_url=None), "QVFIUprevious", None),
            (_graph_page([], after="QVFIUnext", next_url=NEXT_URL), "QVFIUprevious", "QVFIUnext"),
            (_graph_page([], after=None, next_url=None), "QVFIUprevious", None),
            ({"data": [{"id": "t_1"}]}, None, None),
            ([], "QVFIUprevious", None),
        ],
        ids=[
            "next-page",
            "first-page",
            "last-page-keeps-cursor-but-no-next",
            "empty-page-with-next",
            "empty-last-page",
            "no-paging-object",
            "conversation-without-nested-messages",
        ],
    )
    def test_given_graph_page_when_next_page_token_then_cursor_only_while_next_is_present(
        self,
        pagination: GraphCursorPagination,
        body: Any,
        last_token: str | None,
        expected: str | None,
    ) -> None:
        token = pagination.next_page_token(
            _response(body), last_page_size=1, last_record=None, last_page_token_value=last_token
        )

        assert token == expected

    def test_given_next_repeating_the_cursor_just_followed_when_next_page_token_then_transient(
        self, pagination: GraphCursorPagination
    ) -> None:
        body = _graph_page([{"id": "t_1"}], after="QVFIUprevious", next_url=NEXT_URL)

        with pytest.raises(AirbyteTracedException) as raised:
            pagination.next_page_token(
                _response(body),
                last_page_size=1,
                last_record=None,
                last_page_token_value="QVFIUprevious",
            )

        assert raised.value.failure_type == FailureType.transient_error
        assert "same page again" in (raised.value.message or "")
        # The URL it names is stripped of its query string, where a token could be.
        assert ACCESS_TOKEN not in str(raised.value.internal_message)
        assert CONVERSATIONS_URL in str(raised.value.internal_message)

    @pytest.mark.parametrize(
        ("after", "kept", "expected"),
        [
            ("QVFIUnext", 3, None),
            (None, 3, None),
            ("QVFIUnext", 4, "QVFIUnext"),
            (None, 4, "QVFIUnext"),
        ],
        ids=[
            "page-cut-short-with-cursors",
            "page-cut-short-without-cursors",
            "page-kept-whole",
            "page-kept-whole-without-cursors-follows-next-url",
        ],
    )
    def test_given_messages_page_with_next_when_the_watermark_cut_it_then_no_further_page(
        self,
        messages_pagination: GraphCursorPagination,
        after: str | None,
        kept: int,
        expected: str | None,
    ) -> None:
        # Four messages on the page, ``kept`` of them newer than the watermark; ``next`` always
        # present (its URL names the cursor ``QVFIUnext``).
        body = _graph_page([{"id": f"m_{i}"} for i in range(4)], after=after, next_url=NEXT_URL)

        token = messages_pagination.next_page_token(
            _response(body), last_page_size=kept, last_record=None, last_page_token_value=None
        )

        assert token == expected

    @pytest.mark.parametrize(
        ("body", "raw"),
        [
            (None, "<html><body>Bad Gateway</body></html>"),
            ({"id": PAGE_ID, "name": "Kitty Shop"}, None),
            ({"data": {"id": "t_1"}}, None),
        ],
        ids=["html", "json-object-without-data", "data-not-a-list"],
    )
    def test_given_body_that_is_not_a_graph_list_when_next_page_token_then_transient_error(
        self, pagination: GraphCursorPagination, body: Any, raw: str | None
    ) -> None:
        with pytest.raises(AirbyteTracedException) as raised:
            pagination.next_page_token(_response(body, raw=raw), last_page_size=0, last_record=None)

        assert raised.value.failure_type == FailureType.transient_error
        assert ACCESS_TOKEN not in str(raised.value.internal_message)


class TestUsageHeaders:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({}, None),
            ({"X-Business-Use-Case-Usage": "not json"}, None),
            (
                {
                    "X-Business-Use-Case-Usage": json.dumps(
                        {PAGE_ID: [{"type": "messenger", "estimated_time_to_regain_access": 0}]}
                    )
                },
                None,
            ),
            (
                {
                    "X-Business-Use-Case-Usage": json.dumps(
                        {
                            PAGE_ID: [
                                {"type": "pages", "estimated_time_to_regain_access": 1},
                                {"type": "messenger", "estimated_time_to_regain_access": 2},
                            ]
                        }
                    )
                },
                120.0,
            ),
        ],
        ids=["no-header", "not-json", "no-wait", "longest-of-several-in-minutes"],
    )
    def test_given_usage_header_when_regain_access_seconds_then_wait_in_seconds(
        self, headers: dict[str, str], expected: float | None
    ) -> None:
        assert regain_access_seconds(_response({}, headers=headers)) == expected

    def test_given_waits_past_the_bound_when_backoff_time_then_transient_error(self) -> None:
        backoff = GraphUsageBackoff(config={}, parameters={}, max_total_wait_seconds=10)
        usage = {PAGE_ID: [{"type": "messenger", "estimated_time_to_regain_access": 1}]}
        throttled = _response({}, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})

        with pytest.raises(AirbyteTracedException) as raised:
            backoff.backoff_time(throttled, attempt_count=1)

        assert raised.value.failure_type == FailureType.transient_error

    def test_given_no_usage_header_when_backoff_time_then_exponential(self) -> None:
        backoff = GraphUsageBackoff(config={}, parameters={})

        waits = [backoff.backoff_time(_response({}), attempt_count=n) for n in (1, 2, 3)]

        assert waits == [2.0, 4.0, 8.0]


class TestVersionFallbacks:
    @staticmethod
    def _answer(asked: str, answered: str | None) -> requests.Response:
        headers = {"facebook-api-version": answered} if answered else {}
        response = _response(_graph_page([], after=None, next_url=None), headers=headers)
        response.request = requests.Request(
            "GET", f"https://graph.facebook.com/{asked}/{PAGE_ID}/conversations"
        ).prepare()
        return response

    @pytest.mark.parametrize(
        ("asked", "answered"),
        [("v26.0", "v26.0"), ("v26.0", None)],
        ids=["same-version", "no-header"],
    )
    def test_given_answer_in_the_version_asked_when_observed_then_nothing_to_say(
        self, asked: str, answered: str | None
    ) -> None:
        fallbacks = _VersionFallbacks()

        fallbacks.observe(self._answer(asked, answered))

        assert fallbacks.describe() is None

    def test_given_older_version_answering_when_observed_twice_then_one_warning_naming_the_field(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        fallbacks = _VersionFallbacks()

        with caplog.at_level(logging.WARNING, logger="airbyte"):
            fallbacks.observe(self._answer("v20.0", "v24.0"))
            fallbacks.observe(self._answer("v20.0", "v24.0"))

        described = fallbacks.describe()
        assert described is not None
        assert "Graph API v24.0, not the v20.0" in described
        assert "(api_version)" in described
        assert [r.getMessage() for r in caplog.records] == [described]

    def test_given_two_expired_versions_when_observed_then_each_warning_names_its_own(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        fallbacks = _VersionFallbacks()

        with caplog.at_level(logging.WARNING, logger="airbyte"):
            fallbacks.observe(self._answer("v20.0", "v24.0"))
            fallbacks.observe(self._answer("v21.0", "v24.0"))

        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2
        assert "not the v20.0" in messages[0]
        assert "not the v21.0" in messages[1]
