"""``prepare_state``: the incoming Airbyte state is checked and prepared before the CDK reads it.

States are shaped as the connector writes them (docs/meta-conversations.md, "Incremental sync
and state"): ``conversations`` per (platform, Page) partition, ``messages`` and
``message_details`` one ``created_time`` watermark plus the conversations state under
``parent_state``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from airbyte_cdk.models import (
    AirbyteGlobalState,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    FailureType,
    StreamDescriptor,
)
from airbyte_cdk.test.state_builder import StateBuilder
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.state import prepare_state
from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder

OTHER_PAGE_ID = "999000111222333"
UPDATED_TIME = "2026-03-01T00:01:40+0000"
CREATED_TIME = "2026-03-01T00:01:30+0000"


def _entry(
    platform: str, updated_time: Any = UPDATED_TIME, page_id: str = PAGE_ID
) -> dict[str, Any]:
    return {
        "partition": {"platform": platform, "page_id": page_id},
        "cursor": {"updated_time": updated_time},
    }


def _conversations_state(*entries: dict[str, Any]) -> dict[str, Any]:
    """As the CDK writes it: per-partition entries plus a global cursor and lookback."""
    return {
        "use_global_cursor": False,
        "states": list(entries),
        "state": {"updated_time": UPDATED_TIME},
        "lookback_window": 0,
    }


def _child_state(
    *parent_entries: dict[str, Any], created_time: Any = CREATED_TIME
) -> dict[str, Any]:
    return {
        "use_global_cursor": True,
        "state": {"created_time": created_time},
        "lookback_window": 12,
        "parent_state": {"conversations": _conversations_state(*parent_entries)},
    }


def _config(platform: str = "messenger") -> dict[str, Any]:
    return ConfigBuilder().with_platform(platform).build()


def _value(message: AirbyteStateMessage) -> dict[str, Any]:
    assert message.stream is not None
    assert message.stream.stream_state is not None
    return dict(message.stream.stream_state.__dict__)


def _refusal(config: dict[str, Any], stream: str, state: Any) -> AirbyteTracedException:
    with pytest.raises(AirbyteTracedException) as raised:
        prepare_state(config, StateBuilder().with_stream_state(stream, state).build())
    return raised.value


class TestValidStates:
    @pytest.mark.parametrize(
        ("platform", "entries"),
        [
            ("messenger", [_entry("messenger")]),
            ("both", [_entry("messenger"), _entry("instagram")]),
            ("both", [_entry("messenger")]),
            ("instagram", [_entry("instagram", "2026-03-01T00:01:40+00:00")]),
        ],
        ids=["messenger", "both_platforms", "platform_added", "rfc3339_offset"],
    )
    def test_given_conversations_state_when_prepare_then_entries_kept_and_global_cursor_dropped(
        self, platform: str, entries: list[dict[str, Any]]
    ) -> None:
        state = StateBuilder().with_stream_state("conversations", _conversations_state(*entries))

        prepared = prepare_state(_config(platform), state.build())

        # Without the global cursor a platform with no entry starts at the start date, not at
        # the other platform's watermark.
        assert [_value(message) for message in prepared] == [
            {"use_global_cursor": False, "states": entries}
        ]

    @pytest.mark.parametrize("stream", ["messages", "message_details"])
    @pytest.mark.parametrize(
        ("platform", "parent_entries"),
        [
            ("messenger", [_entry("messenger")]),
            ("instagram", [_entry("instagram")]),
            ("both", [_entry("messenger"), _entry("instagram")]),
            ("messenger", [_entry("messenger"), _entry("instagram")]),
        ],
        ids=["messenger", "instagram", "both", "parent_covers_more"],
    )
    def test_given_child_state_covering_every_platform_when_prepare_then_watermark_kept(
        self, stream: str, platform: str, parent_entries: list[dict[str, Any]]
    ) -> None:
        state = StateBuilder().with_stream_state(stream, _child_state(*parent_entries))

        (prepared,) = prepare_state(_config(platform), state.build())

        assert _value(prepared) == {
            "use_global_cursor": True,
            "state": {"created_time": CREATED_TIME},
            "lookback_window": 12,
            "parent_state": {
                "conversations": {"use_global_cursor": False, "states": parent_entries}
            },
        }

    @pytest.mark.parametrize("stream", ["messages", "message_details"])
    @pytest.mark.parametrize(
        ("platform", "parent_entries"),
        [
            ("both", [_entry("messenger")]),
            ("instagram", [_entry("messenger")]),
            ("messenger", []),
        ],
        ids=["messenger_state_config_both", "platform_switched", "parent_covers_none"],
    )
    def test_given_child_state_and_new_platform_when_prepare_then_watermark_dropped(
        self, stream: str, platform: str, parent_entries: list[dict[str, Any]]
    ) -> None:
        state = StateBuilder().with_stream_state(stream, _child_state(*parent_entries))

        (prepared,) = prepare_state(_config(platform), state.build())

        # The new platform's older messages would be filtered out by the other's watermark.
        assert _value(prepared) == {
            "use_global_cursor": True,
            "parent_state": {
                "conversations": {"use_global_cursor": False, "states": parent_entries}
            },
        }

    def test_given_child_state_without_parent_state_when_prepare_then_watermark_dropped(
        self,
    ) -> None:
        state = StateBuilder().with_stream_state(
            "messages", {"use_global_cursor": True, "state": {"created_time": CREATED_TIME}}
        )

        (prepared,) = prepare_state(_config(), state.build())

        assert _value(prepared) == {"use_global_cursor": True}

    def test_given_state_messages_when_prepare_then_input_not_mutated(self) -> None:
        messages = (
            StateBuilder()
            .with_stream_state("conversations", _conversations_state(_entry("messenger")))
            .with_stream_state("messages", _child_state(_entry("messenger")))
            .with_stream_state("message_details", _child_state(_entry("messenger")))
            .build()
        )
        before = copy.deepcopy(messages)

        prepare_state(_config("both"), messages)

        assert messages == before

    def test_given_all_three_streams_when_prepare_then_order_and_names_kept(self) -> None:
        messages = (
            StateBuilder()
            .with_stream_state("conversations", _conversations_state(_entry("messenger")))
            .with_stream_state("messages", _child_state(_entry("messenger")))
            .with_stream_state("message_details", _child_state(_entry("messenger")))
            .build()
        )

        prepared = prepare_state(_config(), messages)

        assert [
            message.stream.stream_descriptor.name for message in prepared if message.stream
        ] == [
            "conversations",
            "messages",
            "message_details",
        ]


class TestPassThrough:
    @pytest.mark.parametrize(
        ("stream", "state"),
        [
            ("other_stream", {"states": "anything", "cursor": 1}),
            ("conversations", {}),
            ("messages", {}),
        ],
        ids=["not_ours", "empty_conversations", "empty_messages"],
    )
    def test_given_state_nothing_to_check_when_prepare_then_same_message(
        self, stream: str, state: dict[str, Any]
    ) -> None:
        messages = StateBuilder().with_stream_state(stream, state).build()

        prepared = prepare_state(_config(), messages)

        assert prepared == messages
        assert prepared[0] is messages[0]

    def test_given_stream_state_none_when_prepare_then_same_message(self) -> None:
        message = AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name="conversations"), stream_state=None
            ),
        )

        assert prepare_state(_config(), [message]) == [message]

    def test_given_no_state_when_prepare_then_empty(self) -> None:
        assert prepare_state(_config(), []) == []


class TestRefusedStates:
    @pytest.mark.parametrize(
        ("stream", "state"),
        [
            ("conversations", _conversations_state(_entry("messenger", page_id=OTHER_PAGE_ID))),
            (
                "conversations",
                _conversations_state(
                    _entry("messenger"), _entry("instagram", page_id=OTHER_PAGE_ID)
                ),
            ),
            ("messages", _child_state(_entry("messenger", page_id=OTHER_PAGE_ID))),
            ("message_details", _child_state(_entry("messenger", page_id=OTHER_PAGE_ID))),
        ],
        ids=["conversations", "one_entry_of_two", "messages_parent", "message_details_parent"],
    )
    def test_given_state_for_another_page_when_prepare_then_config_error_to_clear_data(
        self, stream: str, state: dict[str, Any]
    ) -> None:
        error = _refusal(_config("both"), stream, state)

        assert error.failure_type == FailureType.config_error
        assert error.message == (
            f'The saved state of stream "{stream}" cannot be used: it was written for Page '
            f'{OTHER_PAGE_ID}, not Page {PAGE_ID}. Clear the "{stream}" stream\'s data (Airbyte: '
            "Connection > Settings > Clear data, or run read without --state) and sync again."
        )

    @pytest.mark.parametrize(
        ("stream", "state", "problem"),
        [
            (
                "conversations",
                _conversations_state(_entry("messenger", "2026-03-01")),
                "updated_time '2026-03-01' is not a date",
            ),
            (
                "conversations",
                _conversations_state(_entry("messenger", "yesterday")),
                "updated_time 'yesterday' is not a date",
            ),
            (
                "conversations",
                _conversations_state(_entry("messenger", 1772323300)),
                "updated_time is 1772323300, not a date",
            ),
            (
                "conversations",
                _conversations_state(_entry("messenger", None)),
                "updated_time is None, not a date",
            ),
            (
                "messages",
                _child_state(_entry("messenger"), created_time="2026-03-01 00:01:30"),
                "created_time '2026-03-01 00:01:30' is not a date",
            ),
            (
                "message_details",
                _child_state(_entry("messenger"), created_time=None),
                "created_time is None, not a date",
            ),
            (
                "messages",
                _child_state(_entry("messenger", "2026-13-01T00:00:00+0000")),
                "updated_time '2026-13-01T00:00:00+0000' is not a date",
            ),
        ],
        ids=[
            "date_only",
            "words",
            "epoch_number",
            "missing_updated_time",
            "child_watermark_with_space",
            "child_watermark_missing",
            "child_parent_month_13",
        ],
    )
    def test_given_unparsable_date_when_prepare_then_config_error_naming_the_value(
        self, stream: str, state: dict[str, Any], problem: str
    ) -> None:
        error = _refusal(_config(), stream, state)

        assert error.failure_type == FailureType.config_error
        assert problem in (error.message or "")
        assert f'Clear the "{stream}" stream\'s data' in (error.message or "")

    @pytest.mark.parametrize(
        ("stream", "state", "problem"),
        [
            ("conversations", {"use_global_cursor": False, "states": "all of them"}, "not a list"),
            # Found by test_fuzz_catalog_state.py: the CDK failed on it with a TypeError.
            ("messages", {"parent_state": {"conversations": None}}, "not a JSON object"),
            ("conversations", {"states": ["messenger"]}, "no partition or cursor"),
            (
                "conversations",
                {"states": [{"partition": {"platform": "messenger", "page_id": PAGE_ID}}]},
                "no partition or cursor",
            ),
            (
                "conversations",
                {"states": [{"partition": "messenger", "cursor": {"updated_time": UPDATED_TIME}}]},
                "no partition or cursor",
            ),
            (
                "messages",
                {**_child_state(_entry("messenger")), "state": CREATED_TIME},
                "'state' is not a JSON object",
            ),
            (
                "messages",
                {**_child_state(_entry("messenger")), "parent_state": []},
                "'parent_state' is not a JSON object",
            ),
            (
                "message_details",
                {**_child_state(_entry("messenger")), "parent_state": {"conversations": "x"}},
                "it is not a JSON object",
            ),
        ],
        ids=[
            "states_not_a_list",
            "parent_conversations_null",
            "entry_not_an_object",
            "entry_without_cursor",
            "partition_not_an_object",
            "child_watermark_not_an_object",
            "parent_state_not_an_object",
            "parent_conversations_not_an_object",
        ],
    )
    def test_given_non_object_state_when_prepare_then_config_error(
        self, stream: str, state: dict[str, Any], problem: str
    ) -> None:
        error = _refusal(_config(), stream, state)

        assert error.failure_type == FailureType.config_error
        assert problem in (error.message or "")
        assert "Clear data" in (error.message or "")

    @pytest.mark.parametrize(
        ("stream", "state"),
        [
            ("conversations", _conversations_state(_entry("whatsapp"))),
            ("conversations", _conversations_state(_entry("MESSENGER"))),
            ("messages", _child_state(_entry("messenger"), _entry("threads"))),
        ],
        ids=["whatsapp", "upper_case", "child_parent"],
    )
    def test_given_unknown_platform_when_prepare_then_config_error(
        self, stream: str, state: dict[str, Any]
    ) -> None:
        error = _refusal(_config("both"), stream, state)

        assert error.failure_type == FailureType.config_error
        assert "unknown platform" in (error.message or "")

    @pytest.mark.parametrize(
        "shared_state",
        [AirbyteStateBlob(x=1), None],
        ids=["with-shared-state", "stream-states-only"],
    )
    def test_given_global_state_when_prepare_then_config_error(
        self, shared_state: AirbyteStateBlob | None
    ) -> None:
        # Found by test_fuzz_catalog_state.py: passed on as it was, the CDK refused a global
        # state with a shared_state by a ValueError (a traceback); and the stream states inside
        # one would skip the checks above (another Page, dates that are no dates).
        message = AirbyteStateMessage(
            type=AirbyteStateType.GLOBAL,
            global_=AirbyteGlobalState(stream_states=[], shared_state=shared_state),
        )

        with pytest.raises(AirbyteTracedException) as raised:
            prepare_state(_config(), [message])

        assert raised.value.failure_type == FailureType.config_error
        assert "global" in (raised.value.message or "")
        assert "Clear data" in (raised.value.message or "")

    @pytest.mark.parametrize(
        "state_type", [AirbyteStateType.LEGACY, None], ids=["legacy", "untyped"]
    )
    def test_given_legacy_state_when_prepare_then_config_error(
        self, state_type: AirbyteStateType | None
    ) -> None:
        legacy = AirbyteStateMessage(type=state_type, data={"conversations": {"x": 1}})

        with pytest.raises(AirbyteTracedException) as raised:
            prepare_state(_config(), [legacy])

        assert raised.value.failure_type == FailureType.config_error
        assert "legacy" in (raised.value.message or "")
        assert "Clear data" in (raised.value.message or "")
