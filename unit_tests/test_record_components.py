"""Record-level components: timestamps as RFC 3339, record context, message filter, field
dropping and the memoising JSON decoder. (Schema normalization: test_normalization.py.)

Each component is built the way ``manifest.yaml`` configures it (same field lists), and called
the way the CDK calls it: transformations mutate the record in place, filters yield what they
keep, decoders yield the decoded body.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from airbyte_cdk.sources.declarative.decoders import JsonDecoder
from airbyte_cdk.sources.types import StreamSlice

from source_meta_conversations.components.decoders import NOT_JSON, MemoJsonDecoder, parsed_body
from source_meta_conversations.components.record_filters import NewMessagesFilter
from source_meta_conversations.components.timestamps import rfc3339
from source_meta_conversations.components.transformations import (
    DropFields,
    GraphRecordContext,
    NoteEdgePlatform,
)
from source_meta_conversations.sync.conversation_platforms import CONVERSATION_PLATFORMS
from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder

MESSENGER_SLICE = StreamSlice(
    partition={"platform": "messenger", "page_id": PAGE_ID}, cursor_slice={}
)


def _child_slice(
    conversation_id: str = "t_1", platform: str = "instagram", start_time: str | None = None
) -> StreamSlice:
    """A messages/message_details slice as the substream router and global cursor build it."""
    return StreamSlice(
        partition={
            "conversation_id": conversation_id,
            "parent_slice": {"platform": platform, "page_id": PAGE_ID},
        },
        cursor_slice={} if start_time is None else {"start_time": start_time},
    )


def _response(body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = body
    return response


class TestRfc3339:
    @pytest.mark.parametrize(
        ("timestamp", "expected"),
        [
            ("2022-07-12T19:11:07+0000", "2022-07-12T19:11:07+00:00"),
            ("2022-07-12T11:11:07-0800", "2022-07-12T11:11:07-08:00"),
            ("2022-07-13T00:41:07+0530", "2022-07-13T00:41:07+05:30"),
            ("2022-07-12T19:11:07+00:00", "2022-07-12T19:11:07+00:00"),
            ("2022-07-12T19:11:07Z", "2022-07-12T19:11:07+00:00"),
        ],
        ids=["utc_colonless", "negative_offset", "half_hour_offset", "already_rfc3339", "zulu"],
    )
    def test_given_a_readable_time_when_rfc3339_then_offset_has_colon(
        self, timestamp: str, expected: str
    ) -> None:
        assert rfc3339(timestamp) == expected

    @pytest.mark.parametrize(
        "timestamp",
        [
            "2022-07-12T19:11:07.250+0000",
            "2022-07-12T19:11:07",
            "2022-07-12",
            "",
            "yesterday",
            "2022-13-01T00:00:00+0000",
            "2022-02-30T00:00:00+0000",
            "2022-07-12T24:00:00+0000",
            "2022-07-12T19:11:07+0575",
            "\uff12\uff10\uff12\uff12-07-12T19:11:07+0000",
            1657653067,
            None,
            ["2022-07-12T19:11:07+0000"],
        ],
        ids=[
            "fractional_seconds",
            "no_offset",
            "date_only",
            "empty",
            "a_word",
            "month_13",
            "february_30",
            "hour_24",
            "offset_minutes_75",
            "full_width_digits",
            "unix_seconds",
            "null",
            "a_list",
        ],
    )
    def test_given_no_time_the_cursor_can_parse_when_rfc3339_then_none(
        self, timestamp: Any
    ) -> None:
        assert rfc3339(timestamp) is None


class TestGraphRecordContext:
    def test_given_conversation_in_platform_slice_when_transform_then_page_and_platform(
        self,
    ) -> None:
        context = GraphRecordContext(config=ConfigBuilder().build(), parameters={})
        record: dict[str, Any] = {"id": "t_1", "updated_time": "2026-03-01T00:01:40+0000"}

        context.transform(record, stream_slice=MESSENGER_SLICE)

        assert record == {
            "id": "t_1",
            "updated_time": "2026-03-01T00:01:40+0000",
            "page_id": PAGE_ID,
            "platform": "messenger",
        }

    def test_given_message_in_child_slice_when_transform_then_parent_platform_and_conversation(
        self,
    ) -> None:
        context = GraphRecordContext(config=ConfigBuilder().build(), parameters={})
        record: dict[str, Any] = {"id": "m_1", "created_time": "2022-07-12T19:11:07+0000"}

        context.transform(record, stream_slice=_child_slice("t_1", platform="instagram"))

        assert record == {
            "id": "m_1",
            "created_time": "2022-07-12T19:11:07+0000",
            "conversation_id": "t_1",
            "page_id": PAGE_ID,
            "platform": "instagram",
        }

    def test_given_numeric_ids_when_transform_then_ids_are_strings(self) -> None:
        config = ConfigBuilder().with_field("page_id", int(PAGE_ID)).build()
        context = GraphRecordContext(config=config, parameters={})
        record: dict[str, Any] = {"id": "m_1"}

        stream_slice = StreamSlice(
            partition={"conversation_id": 123, "parent_slice": {"platform": "messenger"}},
            cursor_slice={},
        )

        context.transform(record, stream_slice=stream_slice)

        assert (record["page_id"], record["conversation_id"]) == (PAGE_ID, "123")

    def test_given_no_slice_when_transform_then_page_id_and_no_platform(self) -> None:
        context = GraphRecordContext(config=ConfigBuilder().build(), parameters={})
        record: dict[str, Any] = {"id": "t_1"}

        context.transform(record)

        assert record == {"id": "t_1", "page_id": PAGE_ID, "platform": None}


class TestNoteEdgePlatform:
    @pytest.mark.parametrize(
        ("messages", "noted"),
        [
            ({"data": [{"id": "m_1"}], "paging": {"next": "https://graph/next"}}, "instagram"),
            ({"data": [{"id": "m_1"}], "paging": {"cursors": {"after": "QVFI"}}}, None),
            ({"data": [{"id": "m_1"}]}, None),
            (None, None),
            ("not a page", None),
        ],
        ids=["more_follow", "last_page", "no_paging", "no_messages", "not_a_page"],
    )
    def test_given_a_listed_conversation_when_transform_then_noted_only_if_its_messages_go_on(
        self, messages: Any, noted: str | None
    ) -> None:
        record: dict[str, Any] = {"id": "t_1", "messages": messages}
        instagram = StreamSlice(partition={"platform": "instagram"}, cursor_slice={})

        NoteEdgePlatform(parameters={}).transform(record, stream_slice=instagram)

        assert CONVERSATION_PLATFORMS.platform_of("t_1") == noted
        assert record == {"id": "t_1", "messages": messages}


class TestNewMessagesFilter:
    @pytest.mark.parametrize(
        ("created_time", "kept"),
        [
            ("2026-02-28T23:59:59+0000", False),
            ("2026-03-01T00:00:00+0000", True),
            ("2026-03-01T00:00:01+0000", True),
        ],
        ids=["second_before_start", "at_start", "after_start"],
    )
    def test_given_slice_start_when_filter_then_keeps_messages_at_or_after_start(
        self, created_time: str, kept: bool
    ) -> None:
        record_filter = NewMessagesFilter(config={}, parameters={})
        records = [{"id": "m_1", "created_time": created_time}]

        result = list(
            record_filter.filter_records(
                records,
                stream_state={},
                stream_slice=_child_slice(start_time="2026-03-01T00:00:00+0000"),
            )
        )

        assert result == (records if kept else [])

    @pytest.mark.parametrize(
        "stream_slice",
        [None, _child_slice(start_time=None)],
        ids=["no_slice", "slice_without_start"],
    )
    def test_given_no_start_when_filter_then_keeps_every_message(
        self, stream_slice: StreamSlice | None
    ) -> None:
        records = [
            {"id": "m_2", "created_time": "2026-03-01T00:00:00+0000"},
            {"id": "m_1", "created_time": "1970-01-01T00:00:00+0000"},
        ]

        result = list(
            NewMessagesFilter(config={}, parameters={}).filter_records(
                records, stream_state={}, stream_slice=stream_slice
            )
        )

        assert result == records

    @pytest.mark.parametrize(
        ("require_details", "expected_ids"),
        [(True, ["m_2"]), (False, ["m_2", "m_1"])],
        ids=["message_details_drops_id_only", "messages_keeps_id_only"],
    )
    def test_given_message_without_details_when_filter_then_kept_only_if_details_not_required(
        self, require_details: bool, expected_ids: list[str]
    ) -> None:
        # Past the 20 most recent, Graph gives a message as id and created_time only.
        records: list[dict[str, Any]] = [
            {
                "id": "m_2",
                "created_time": "2026-03-01T00:00:02+0000",
                "from": {"id": "1"},
                "to": {"data": [{"id": "2"}]},
                "message": "",
            },
            {"id": "m_1", "created_time": "2026-03-01T00:00:01+0000"},
        ]
        record_filter = NewMessagesFilter(config={}, parameters={}, require_details=require_details)

        result = list(
            record_filter.filter_records(
                records,
                stream_state={},
                stream_slice=_child_slice(start_time="2026-03-01T00:00:00+0000"),
            )
        )

        assert [record["id"] for record in result] == expected_ids

    @pytest.mark.parametrize(
        "created_time",
        ["yesterday", None, 1657653067, "2026-02-30T00:00:00+0000", "garbage+0000"],
        ids=["a_word", "null", "a_number", "february_30", "utc_suffix_only"],
    )
    def test_given_a_created_time_that_is_no_time_when_filter_then_kept_for_the_schema_check(
        self, created_time: Any
    ) -> None:
        # Dropped here, the message would vanish unreported; kept, ConformToSchema ends the read
        # on it with an error naming it (test_normalization.py).
        records = [{"id": "m_1", "created_time": created_time}, {"id": "m_0"}]

        result = list(
            NewMessagesFilter(config={}, parameters={}).filter_records(
                records,
                stream_state={},
                stream_slice=_child_slice(start_time="2026-03-01T00:00:00+0000"),
            )
        )

        assert result == records

    def test_given_slice_start_with_non_utc_offset_when_filter_then_compares_instants(
        self,
    ) -> None:
        # A start_date with an offset (the spec allows "2026-03-01T02:00:00+02:00") reaches the
        # slice as "2026-03-01T02:00:00+0200": the cursor keeps the configured offset (seen in a
        # full read with that start_date: every message was dropped). 01:00 UTC is after the
        # start (00:00 UTC), so the message is new.
        records = [{"id": "m_1", "created_time": "2026-03-01T01:00:00+0000"}]

        result = list(
            NewMessagesFilter(config={}, parameters={}).filter_records(
                records,
                stream_state={},
                stream_slice=_child_slice(start_time="2026-03-01T02:00:00+0200"),
            )
        )

        assert result == records


class TestDropFields:
    @pytest.mark.parametrize(
        ("fields", "record", "expected"),
        [
            (
                ["messages"],
                {"id": "t_1", "messages": {"data": [{"id": "m_1"}]}},
                {"id": "t_1"},
            ),
            (["messages"], {"id": "t_1"}, {"id": "t_1"}),
            (
                ["messages"],
                {"id": "t_1", "snippet": {"messages": 1}},
                {"id": "t_1", "snippet": {"messages": 1}},
            ),
            (
                ["messages", "folder"],
                {"id": "t_1", "messages": {}, "folder": "inbox"},
                {"id": "t_1"},
            ),
            ([], {"id": "t_1", "messages": {}}, {"id": "t_1", "messages": {}}),
        ],
        ids=["present", "absent", "nested_same_name_kept", "several", "no_fields"],
    )
    def test_given_fields_when_transform_then_top_level_keys_deleted_in_place(
        self, fields: list[str], record: dict[str, Any], expected: dict[str, Any]
    ) -> None:
        DropFields(parameters={}, fields=fields).transform(record)

        assert record == expected


class TestMemoJsonDecoder:
    def test_given_same_response_when_decoded_twice_then_body_parsed_once(self) -> None:
        decoder = MemoJsonDecoder(parameters={})
        response = _response(b'{"data": [{"id": "t_1"}], "paging": {}}')

        first = list(decoder.decode(response))
        # Were the body parsed again, the second decode would see this one.
        response._content = b'{"data": []}'
        second = list(decoder.decode(response))

        assert first == [{"data": [{"id": "t_1"}], "paging": {}}]
        assert second[0] is first[0]

    def test_given_two_responses_when_decoded_then_each_has_its_own_body(self) -> None:
        decoder = MemoJsonDecoder(parameters={})

        first = list(decoder.decode(_response(b'{"data": [{"id": "t_1"}]}')))
        second = list(decoder.decode(_response(b'{"data": [{"id": "t_2"}]}')))

        assert (first, second) == ([{"data": [{"id": "t_1"}]}], [{"data": [{"id": "t_2"}]}])

    @pytest.mark.parametrize(
        "body",
        [
            json.dumps({"data": [{"id": "t_1"}], "paging": {"next": "n"}}).encode(),
            b'[{"id": "t_1"}, {"id": "t_2"}]',
            b"[]",
            b"",
            b"<html>Bad Gateway</html>",
        ],
        ids=["graph_page", "json_list", "empty_list", "empty_body", "not_json"],
    )
    def test_given_body_when_decoded_twice_then_same_as_json_decoder(self, body: bytes) -> None:
        expected = list(JsonDecoder(parameters={}).decode(_response(body)))
        decoder = MemoJsonDecoder(parameters={})
        response = _response(body)

        assert list(decoder.decode(response)) == expected
        assert list(decoder.decode(response)) == expected

    def test_given_a_body_nested_deeper_than_any_parser_allows_when_decoded_then_not_json(
        self,
    ) -> None:
        body = b'{"data": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"

        assert parsed_body(_response(body)) is NOT_JSON

    def test_given_factory_style_arguments_when_built_then_decodes(self) -> None:
        # The manifest builds it as a CustomDecoder: parameters may be absent, extra keys given.
        decoder = MemoJsonDecoder(parameters=None, class_name="MemoJsonDecoder")

        assert list(decoder.decode(_response(b'{"data": []}'))) == [{"data": []}]
