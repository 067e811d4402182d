"""Schema normalization: every record typed as its stream's schema says (``ConformToSchema``).

Built as the manifest builds it (the stream's name and cursor field from its ``$parameters``)
and called as the CDK's ``RecordSelector`` calls it: on each record, in place, with the schema
the stream's ``JsonFileSchemaLoader`` gives (its ``$ref`` s to schemas/shared/ resolved).
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.declarative.schema import JsonFileSchemaLoader
from airbyte_cdk.test.mock_http import HttpMocker
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations import sync
from source_meta_conversations.components import normalization
from source_meta_conversations.components.normalization import ConformToSchema
from unit_tests.mock_server.config import ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_time,
    message,
    page,
    template,
)
from unit_tests.mock_server.source_runner import read_streams, records_of, stream_error
from unit_tests.mock_server.state import clean_sync_state, final_state

CURSORS = {
    "conversations": "updated_time",
    "messages": "created_time",
    "message_details": "created_time",
}
OBJECTS = {"conversations": "conversation", "messages": "message", "message_details": "message"}


def _schema(stream: str) -> dict[str, Any]:
    """The stream's schema as the manifest's schema loader gives it to the record selector."""
    loader = JsonFileSchemaLoader(
        config={},
        parameters={"name": stream},
        file_path="./source_meta_conversations/schemas/{{ parameters['name'] }}.json",
    )
    return dict(loader.get_json_schema())


SCHEMAS = {stream: _schema(stream) for stream in CURSORS}


def _normalizer(stream: str = "message_details") -> ConformToSchema:
    return ConformToSchema(
        config={},
        parameters={},
        name=stream,
        cursor_field=CURSORS[stream],
        graph_object=OBJECTS[stream],
    )


def _conformed(record: dict[str, Any], stream: str = "message_details") -> dict[str, Any]:
    conformed = copy.deepcopy(record)
    _normalizer(stream).transform(conformed, SCHEMAS[stream])
    return conformed


def _message(**fields: Any) -> dict[str, Any]:
    return {"id": "m_1", "created_time": "2022-07-12T19:11:07+0000", **fields}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


class TestKeptAsDocumented:
    def test_given_a_record_as_graph_documents_it_when_conformed_then_only_its_time_changes(
        self,
    ) -> None:
        record = template("message_details_for_every_detail_field")

        conformed = _conformed(record)

        assert conformed == {**record, "created_time": "2026-03-01T00:01:40+00:00"}

    @pytest.mark.parametrize(
        ("graph_time_", "expected"),
        [
            ("2022-07-12T19:11:07+0000", "2022-07-12T19:11:07+00:00"),
            ("2022-07-12T11:11:07-0800", "2022-07-12T11:11:07-08:00"),
            ("2022-07-12T19:11:07+00:00", "2022-07-12T19:11:07+00:00"),
        ],
        ids=["graph_utc", "graph_offset", "already_rfc3339"],
    )
    def test_given_a_graph_time_when_conformed_then_rfc3339(
        self, graph_time_: str, expected: str
    ) -> None:
        assert _conformed(_message(created_time=graph_time_))["created_time"] == expected

    def test_given_fields_nobody_documented_when_conformed_then_kept_as_the_same_objects(
        self,
    ) -> None:
        nested_page = {"data": [{"id": "m_1", "message": {"not": "walked"}}]}
        record = {"id": "t_1", "updated_time": "2022-07-12T19:11:07+0000", "messages": nested_page}

        _normalizer("conversations").transform(record, SCHEMAS["conversations"])

        assert record["messages"] is nested_page
        assert nested_page == {"data": [{"id": "m_1", "message": {"not": "walked"}}]}

    def test_given_nulls_where_null_is_allowed_when_conformed_then_kept(self) -> None:
        record = _message(message=None, attachments=None, reply_to={"is_self_reply": None})

        assert _conformed(record) == {**record, "created_time": "2022-07-12T19:11:07+00:00"}


class TestConverted:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (5, "5"),
            (5.5, "5.5"),
            (True, "true"),
            ({"text": "Does this come in blue?"}, '{"text":"Does this come in blue?"}'),
            (["blue", 2], '["blue",2]'),
            ({"é": "ü"}, '{"é":"ü"}'),
        ],
        ids=["integer", "float", "boolean", "object", "list", "unicode"],
    )
    def test_given_another_type_where_a_string_is_documented_when_conformed_then_its_json_text(
        self, value: Any, expected: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        assert _conformed(_message(message=value))["message"] == expected
        assert _warnings(caplog) == []

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("true", True), ("False", False), ("yes", True), ("0", False), (1, True), (0, False)],
        ids=["true", "false_capitalised", "yes", "zero_text", "one", "zero"],
    )
    def test_given_the_cdk_s_boolean_words_where_a_boolean_is_documented_then_the_boolean(
        self, value: Any, expected: bool
    ) -> None:
        # Graph has been seen sending Instagram's is_unsupported as "true" (graph-api-notes.md).
        record = _message(
            is_unsupported=value,
            reply_to={"mid": "m_0", "is_self_reply": value},
            attachments={"data": [{"image_data": {"render_as_sticker": value}}, {"id": "a_2"}]},
        )

        conformed = _conformed(record)

        assert conformed["is_unsupported"] is expected
        assert conformed["reply_to"] == {"mid": "m_0", "is_self_reply": expected}
        assert conformed["attachments"] == {
            "data": [{"image_data": {"render_as_sticker": expected}}, {"id": "a_2"}]
        }

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("1024", 1024), (" 7 ", 7), (1024.0, 1024)],
        ids=["digits", "padded_digits", "float_without_fraction"],
    )
    def test_given_a_whole_number_in_another_type_where_an_integer_is_documented_then_the_integer(
        self, value: Any, expected: int
    ) -> None:
        record = _message(attachments={"data": [{"size": value, "image_data": {"width": value}}]})

        conformed = _conformed(record)

        assert conformed["attachments"] == {
            "data": [{"size": expected, "image_data": {"width": expected}}]
        }

    def test_given_either_documented_type_or_another_when_conformed_then_kept_or_text(
        self,
    ) -> None:
        # video_type is documented as a string or an integer.
        record = _message(
            attachments={
                "data": [
                    {"video_data": {"video_type": 0}},
                    {"video_data": {"video_type": "FILE_ATTACHMENT"}},
                    {"video_data": {"video_type": 2.5}},
                ]
            }
        )

        conformed = _conformed(record)

        assert [a["video_data"]["video_type"] for a in conformed["attachments"]["data"]] == [
            0,
            "FILE_ATTACHMENT",
            "2.5",
        ]


class TestLeftOut:
    def test_given_a_list_where_an_object_is_documented_when_read_twice_then_null_and_one_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        normalizer = _normalizer()
        first, second = _message(**{"from": ["Ada"]}), _message(id="m_2", **{"from": ["Bob"]})

        with caplog.at_level(logging.WARNING, logger="airbyte"):
            normalizer.transform(first, SCHEMAS["message_details"])
            normalizer.transform(second, SCHEMAS["message_details"])

        assert (first["from"], second["from"]) == (None, None)
        assert _warnings(caplog) == [
            "Stream message_details: Meta sent from of a message as an array, not as the "
            "documented object; such values are written as null (logged once per stream and "
            "field)."
        ]

    @pytest.mark.parametrize(
        ("record", "expected", "warning"),
        [
            (
                _message(is_unsupported="maybe"),
                _message(is_unsupported=None),
                "is_unsupported of a message as a string, not as the documented boolean",
            ),
            (
                _message(is_unsupported=5),
                _message(is_unsupported=None),
                "is_unsupported of a message as an integer, not as the documented boolean",
            ),
            (
                _message(attachments={"data": [{"size": 12.5}, {"size": True}]}),
                _message(attachments={"data": [{"size": None}, {"size": None}]}),
                "attachments.data[].size of a message as a number, not as the documented integer",
            ),
            (
                _message(attachments={"data": [{"image_data": {"width": "wide"}}]}),
                _message(attachments={"data": [{"image_data": {"width": None}}]}),
                "attachments.data[].image_data.width of a message as a string, not as the "
                "documented integer",
            ),
            (
                _message(to={"data": [5, {"id": 7}]}),
                _message(to={"data": [None, {"id": "7"}]}),
                "to.data[] of a message as an integer, not as the documented object",
            ),
            (
                _message(tags={"data": {"name": "inbox"}}),
                _message(tags={"data": None}),
                "tags.data of a message as an object, not as the documented array",
            ),
            (
                _message(story="https://cdn.example.com/story.jpg"),
                _message(story=None),
                "story of a message as a string, not as the documented object",
            ),
            (
                _message(attachments={"data": [{"generic_template": "T"}]}),
                _message(attachments={"data": [{"generic_template": None}]}),
                "attachments.data[].generic_template of a message as a string, not as the "
                "documented object",
            ),
        ],
        ids=[
            "word_for_boolean",
            "number_for_boolean",
            "fraction_and_boolean_for_integer",
            "word_for_integer",
            "number_for_list_item",
            "object_for_array",
            "text_for_object",
            "text_for_free_object",
        ],
    )
    def test_given_a_value_that_cannot_be_conformed_when_conformed_then_null_and_a_warning(
        self,
        record: dict[str, Any],
        expected: dict[str, Any],
        warning: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="airbyte"):
            conformed = _conformed(record)

        assert conformed == {**expected, "created_time": "2022-07-12T19:11:07+00:00"}
        (logged,) = _warnings(caplog)
        assert f"Meta sent {warning};" in logged

    def test_given_a_value_where_null_is_not_allowed_when_conformed_then_the_key_or_item_removed(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        schema = {
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "labels": {"type": "array", "items": {"type": "string"}},
            },
        }
        record: dict[str, Any] = {"count": "many", "labels": ["a", None, 3, [1]]}

        with caplog.at_level(logging.WARNING, logger="airbyte"):
            ConformToSchema(config={}, parameters={}, name="s").transform(record, schema)

        assert record == {"labels": ["a", "3", "[1]"]}
        assert _warnings(caplog) == [
            "Stream s: Meta sent count of a record as a string, not as the documented integer; "
            "such values are left out of the records (logged once per stream and field).",
            "Stream s: Meta sent labels[] of a record as null, not as the documented string; "
            "such values are left out of the records (logged once per stream and field).",
        ]

    def test_given_the_same_field_in_two_streams_and_readers_when_conformed_then_a_warning_each(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        # The conversations are read for their own stream and, as parents, for each child.
        readers = [_normalizer("conversations"), _normalizer("conversations")]
        record = {"id": "t_1", "updated_time": graph_time(1), "unread_count": "two"}

        with caplog.at_level(logging.WARNING, logger="airbyte"):
            for reader in readers:
                reader.transform(copy.deepcopy(record), SCHEMAS["conversations"])
            ConformToSchema(config={}, parameters={}, name="other").transform(
                copy.deepcopy(record), SCHEMAS["conversations"]
            )
            sync.start_sync()  # the next sync reports it again
            readers[0].transform(copy.deepcopy(record), SCHEMAS["conversations"])

        assert [w.split(":")[0] for w in _warnings(caplog)] == [
            "Stream conversations",
            "Stream other",
            "Stream conversations",
        ]


class TestKeyAndCursor:
    @pytest.mark.parametrize(
        ("record", "shown"),
        [
            ({"id": "m_1", "created_time": "yesterday"}, "got 'yesterday'"),
            ({"id": "m_1", "created_time": None}, "got null"),
            ({"id": "m_1"}, "it was missing"),
            ({"id": "m_1", "created_time": 1657653067}, "got 1657653067"),
            (
                {"id": "m_1", "created_time": "2022-02-30T00:00:00+0000"},
                "got '2022-02-30T00:00:00+0000'",
            ),
            ({"id": "m_1", "created_time": "x" * 50}, f"got '{'x' * 40}...'"),
        ],
        ids=["a_word", "null", "missing", "unix_seconds", "february_30", "long_text"],
    )
    def test_given_a_created_time_that_cannot_be_read_when_conformed_then_a_system_error(
        self, record: dict[str, Any], shown: str
    ) -> None:
        with pytest.raises(AirbyteTracedException) as raised:
            _normalizer("messages").transform(record, SCHEMAS["messages"])

        assert raised.value.failure_type == FailureType.system_error
        assert raised.value.message == (
            f"Meta answered message m_1 (stream messages) without a readable created_time "
            f"({shown}): the stream's state is kept by that field, so the sync stopped before "
            "this message. The records before it were delivered and the state was saved only "
            "up to them. This comes from Meta's answer, not from your configuration: run the "
            "sync again later, and if it stops on the same message, report it to Meta's "
            "developer support."
        )

    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            (None, "got null"),
            ("", "got ''"),
            (["m_1"], 'got ["m_1"]'),
            ({"id": "m_1"}, 'got {"id":"m_1"}'),
            (True, "got true"),
            (1.5, "got 1.5"),
        ],
        ids=["null", "empty", "a_list", "an_object", "a_boolean", "a_fraction"],
    )
    def test_given_an_id_that_cannot_be_read_when_conformed_then_a_system_error_naming_the_parent(
        self, value: Any, shown: str
    ) -> None:
        record = {"id": value, "created_time": "2022-07-12T19:11:07+0000", "conversation_id": "t_1"}

        with pytest.raises(AirbyteTracedException) as raised:
            _normalizer().transform(record, SCHEMAS["message_details"])

        assert raised.value.failure_type == FailureType.system_error
        assert str(raised.value.message).startswith(
            f"Meta answered a message of conversation t_1 (stream message_details) without a "
            f"readable id ({shown}): every record of the stream must have one, so the sync "
            "stopped before this message."
        )

    def test_given_a_conversation_without_an_id_when_conformed_then_it_names_no_parent(
        self,
    ) -> None:
        with pytest.raises(AirbyteTracedException) as raised:
            _normalizer("conversations").transform(
                {"updated_time": graph_time(1)}, SCHEMAS["conversations"]
            )

        assert str(raised.value.message).startswith(
            "Meta answered a conversation (stream conversations) without a readable id (it was "
            "missing)"
        )

    def test_given_a_long_id_when_its_cursor_cannot_be_read_then_the_error_shortens_it(
        self,
    ) -> None:
        record = {"id": "m_" + "x" * 100, "created_time": None}

        with pytest.raises(AirbyteTracedException) as raised:
            _normalizer("messages").transform(record, SCHEMAS["messages"])

        assert str(raised.value.message).startswith(
            f"Meta answered message m_{'x' * 38}... (stream messages) without a readable "
            "created_time (got null)"
        )

    def test_given_an_integer_id_when_conformed_then_its_decimal_text(self) -> None:
        assert _conformed(_message(id=104839588217347))["id"] == "104839588217347"


class TestCompiledOnce:
    def test_given_many_records_when_conformed_then_the_schema_is_compiled_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        compiled: list[int] = []
        original = normalization._Plan.compile

        def counting(schema: Any, cursor_field: str, report: Any) -> Any:
            compiled.append(1)
            return original(schema, cursor_field, report)

        monkeypatch.setattr(normalization._Plan, "compile", counting)
        normalizer = _normalizer()

        for index in range(3):
            normalizer.transform(_message(id=f"m_{index}"), SCHEMAS["message_details"])

        assert compiled == [1]

    def test_given_a_schema_with_a_ref_left_when_conformed_then_value_error(self) -> None:
        schema = {"type": "object", "properties": {"from": {"$ref": "participant.json"}}}

        with pytest.raises(ValueError, match="The schema at from still has a \\$ref"):
            ConformToSchema(config={}, parameters={}).transform({}, schema)


class TestRead:
    def test_given_an_object_where_a_message_text_is_documented_when_read_then_its_json_text(
        self, http_mocker: HttpMocker
    ) -> None:
        detailed = message("m_1", 100)
        detailed["message"] = {"text": "Does this come in blue?"}
        detailed["from"] = ["Ada"]
        conversation = ConversationBuilder("t_1", 100).with_messages(
            [detailed, {**message("m_0", 99), "from": ["Bob"]}]
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), ["message_details"])

        records = records_of(output, "message_details")
        assert [(r["id"], r["message"], r.get("from")) for r in records] == [
            ("m_1", '{"text":"Does this come in blue?"}', None),
            ("m_0", "text of m_0", None),
        ]
        warnings = [
            m.log.message for m in output.logs if m.log is not None and m.log.level.value == "WARN"
        ]
        assert [w for w in warnings if "Meta sent" in w] == [
            "Stream message_details: Meta sent from of a message as an array, not as the "
            "documented object; such values are written as null (logged once per stream and "
            "field)."
        ]

    def test_given_a_conversation_with_boolean_words_when_read_then_booleans(
        self, http_mocker: HttpMocker
    ) -> None:
        conversation = (
            ConversationBuilder("t_1", 100)
            .with_field("is_owner", "true")
            .with_field("can_reply", "false")
            .with_field("unread_count", "3")
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), ["conversations"])

        (record,) = records_of(output, "conversations")
        assert (record["is_owner"], record["can_reply"], record["unread_count"]) == (True, False, 3)
        assert record["updated_time"] == "2026-03-01T00:01:40+00:00"

    def test_given_a_page_json_text_of_a_record_when_read_then_every_record_validates_as_json(
        self, http_mocker: HttpMocker
    ) -> None:
        # What a destination reads: the records as JSON, conformed.
        conversation = ConversationBuilder("t_1", 100).with_field("snippet", {"a": [1, None]})
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))

        output = read_streams(ConfigBuilder().build(), ["conversations"])

        (record,) = records_of(output, "conversations")
        assert json.loads(json.dumps(record))["snippet"] == '{"a":[1,null]}'


PREVIOUS_LISTING = graph_time(100)
PREVIOUS_WATERMARK = graph_time(90)


def _three_conversations(change: Any) -> list[dict[str, Any]]:
    """Conversations t_500, t_480, t_460 with two messages each; ``change`` edits t_480."""
    conversations = []
    for second in (500, 480, 460):
        messages = [message(f"m_{second}", second), message(f"m_{second}b", second - 1)]
        conversation = ConversationBuilder(f"t_{second}", second).with_messages(messages).build()
        if second == 480:
            change(conversation)
        conversations.append(conversation)
    return conversations


class TestKeyAndCursorRead:
    @pytest.mark.parametrize("stream", ["messages", "message_details"])
    def test_given_an_unreadable_created_time_when_read_then_the_watermark_stays(
        self, http_mocker: HttpMocker, stream: str
    ) -> None:
        def unreadable(conversation: dict[str, Any]) -> None:
            conversation["messages"]["data"][1]["created_time"] = "yesterday"

        http_mocker.get(
            RequestBuilder.conversations().build(), page(_three_conversations(unreadable))
        )

        output = read_streams(
            ConfigBuilder().build(),
            [stream],
            sync_mode=SyncMode.incremental,
            state=clean_sync_state(PREVIOUS_LISTING, PREVIOUS_WATERMARK),
            expecting_exception=True,
        )

        error = stream_error(output, stream)
        assert error.failure_type == FailureType.system_error
        assert str(error.message).startswith(
            f"Meta answered message m_480b (stream {stream}) without a readable created_time "
            "(got 'yesterday')"
        )
        delivered = [r["id"] for r in records_of(output, stream)]
        assert "m_480b" not in delivered
        assert {"m_500", "m_500b", "m_480"} <= set(delivered)
        final = final_state(output, stream)
        # Not second 500, the newest delivered: the next sync must read m_480b again.
        assert final["state"] == {"created_time": PREVIOUS_WATERMARK}
        parent_cursor = final["parent_state"]["conversations"]["states"][0]["cursor"]
        assert parent_cursor["updated_time"] == PREVIOUS_LISTING

    def test_given_an_unreadable_updated_time_when_read_then_the_listing_state_stays(
        self, http_mocker: HttpMocker
    ) -> None:
        def unreadable(conversation: dict[str, Any]) -> None:
            del conversation["updated_time"]

        http_mocker.get(
            RequestBuilder.conversations().build(), page(_three_conversations(unreadable))
        )

        output = read_streams(
            ConfigBuilder().build(),
            ["conversations"],
            sync_mode=SyncMode.incremental,
            state=clean_sync_state(PREVIOUS_LISTING, PREVIOUS_WATERMARK),
            expecting_exception=True,
        )

        error = stream_error(output, "conversations")
        assert (error.failure_type, error.message) == (
            FailureType.system_error,
            "Meta answered conversation t_480 (stream conversations) without a readable "
            "updated_time (it was missing): the stream's state is kept by that field, so the "
            "sync stopped before this conversation. The records before it were delivered and "
            "the state was saved only up to them. This comes from Meta's answer, not from your "
            "configuration: run the sync again later, and if it stops on the same "
            "conversation, report it to Meta's developer support.",
        )
        assert [r["id"] for r in records_of(output, "conversations")] == ["t_500"]
        cursor = final_state(output, "conversations")["states"][0]["cursor"]
        assert cursor["updated_time"] == PREVIOUS_LISTING
