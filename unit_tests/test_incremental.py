"""Incremental reads from a saved state: what is asked of Graph, what is emitted, what is saved.

Conversations are a data feed on ``updated_time`` (newest first, no ``since``): paging stops at
the first page whose last conversation the state already covers. ``messages`` and
``message_details`` keep one ``created_time`` watermark plus the conversations state, and read
the changed conversations' new messages from the conversations page itself (an unmocked request
fails the test, so a call the connector should not make is caught).
"""

from __future__ import annotations

from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import (
    ModelToComponentFactory,
)
from airbyte_cdk.test.mock_http import HttpMocker
from airbyte_cdk.test.state_builder import StateBuilder

from source_meta_conversations.cdk_adaptations.factory import GraphComponentFactory, _StateHiddenFor
from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_time,
    message,
    page,
    rfc3339,
)
from unit_tests.mock_server.source_runner import ALL_STREAMS, read_streams, records_of
from unit_tests.mock_server.state import final_state

FUTURE = "2099-01-01T00:00:00+0000"


def _entry(platform: str, updated_time: str) -> dict[str, Any]:
    return {
        "partition": {"platform": platform, "page_id": PAGE_ID},
        "cursor": {"updated_time": updated_time},
    }


def _conversations_state(**updated_by_platform: str) -> dict[str, Any]:
    """The conversations state as the connector writes it: one entry per (platform, Page)."""
    return {
        "use_global_cursor": False,
        "states": [_entry(platform, value) for platform, value in updated_by_platform.items()],
    }


def _child_state(created_time: str, **updated_by_platform: str) -> dict[str, Any]:
    """A child's state: one ``created_time`` watermark plus the conversations state."""
    return {
        "use_global_cursor": True,
        "state": {"created_time": created_time},
        "lookback_window": 0,
        "parent_state": {"conversations": _conversations_state(**updated_by_platform)},
    }


def _state(created_time: str = graph_time(90), **updated_by_platform: str) -> list[Any]:
    """A state of all three streams, as the previous sync left it."""
    parent = updated_by_platform or {"messenger": graph_time(100)}
    builder = StateBuilder().with_stream_state("conversations", _conversations_state(**parent))
    for stream in ("messages", "message_details"):
        builder = builder.with_stream_state(stream, _child_state(created_time, **parent))
    return builder.build()


def _conversation_times(records: list[dict[str, Any]]) -> list[str]:
    return [record["updated_time"] for record in records]


def _cursor_of(state: dict[str, Any], platform: str) -> str:
    (entry,) = [e for e in state["states"] if e["partition"]["platform"] == platform]
    return str(entry["cursor"]["updated_time"])


def _read(streams: list[str], state: list[Any], platform: str = "messenger") -> Any:
    config = ConfigBuilder().with_platform(platform).build()
    return read_streams(config, streams, sync_mode=SyncMode.incremental, state=state)


class TestConversations:
    def test_given_state_when_read_then_only_newer_conversations_and_paging_stops_there(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        conversations = [ConversationBuilder(f"t_{s}", s).build() for s in (130, 120, 100, 90)]
        # A second page exists, but the first already reaches the state: it is not asked for.
        http_mocker.get(request, page(conversations, next_after="QVFIUpage2"))

        output = _read(["conversations"], _state())

        assert not output.errors
        times = _conversation_times(records_of(output, "conversations"))
        # The conversation the state holds (updated at 100) was delivered by the last sync.
        assert times == [rfc3339(graph_time(130)), rfc3339(graph_time(120))]
        assert _cursor_of(final_state(output, "conversations"), "messenger") == graph_time(130)
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_out_of_order_updated_times_in_a_page_when_read_then_every_newer_conversation(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().build()
        second = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        # Graph lists newest first, but a conversation updated while the list is read can be
        # out of place: 80 sits between two newer ones, and 110 comes on the next page.
        http_mocker.get(
            first,
            page(
                [ConversationBuilder(f"t_{s}", s).build() for s in (150, 80, 120)],
                next_after="QVFIUpage2",
            ),
        )
        http_mocker.get(second, page([ConversationBuilder(f"t_{s}", s).build() for s in (110, 70)]))

        output = _read(["conversations"], _state())

        assert not output.errors
        times = _conversation_times(records_of(output, "conversations"))
        assert times == [rfc3339(graph_time(s)) for s in (150, 120, 110)]
        # The state is the newest time seen, not the last one read.
        assert _cursor_of(final_state(output, "conversations"), "messenger") == graph_time(150)
        http_mocker.assert_number_of_calls(first, 1)
        http_mocker.assert_number_of_calls(second, 1)

    def test_given_state_in_the_future_when_read_then_no_records_no_error_and_state_kept(
        self, http_mocker: HttpMocker
    ) -> None:
        # No request is mocked: nothing lies between a future state and now, so not even the
        # first page is asked for (an unmocked request would fail the read).
        output = _read(ALL_STREAMS, _state(FUTURE, messenger=FUTURE))

        assert not output.errors
        assert output.records == []
        assert _cursor_of(final_state(output, "conversations"), "messenger") == FUTURE

    def test_given_a_state_per_platform_when_read_then_each_platform_from_its_own(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations("messenger").build(),
            page([ConversationBuilder(f"t_{s}", s).build() for s in (90, 80)]),
        )
        http_mocker.get(
            RequestBuilder.conversations("instagram").build(),
            page([ConversationBuilder(f"ig_{s}", s).build() for s in (80, 40)]),
        )
        state = _state(messenger=graph_time(100), instagram=graph_time(50))

        output = _read(["conversations"], state, platform="both")

        assert not output.errors
        # Instagram's 80 is older than Messenger's state but newer than Instagram's own.
        assert [r["id"] for r in records_of(output, "conversations")] == ["ig_80"]
        final = final_state(output, "conversations")
        assert _cursor_of(final, "messenger") == graph_time(100)
        assert _cursor_of(final, "instagram") == graph_time(80)


class TestMessagesAndDetails:
    def test_given_watermark_when_read_then_newer_messages_from_the_nested_page_without_a_call(
        self, http_mocker: HttpMocker
    ) -> None:
        conversation = ConversationBuilder("t_1", 130).with_messages(
            [message("m_3", 130), message("m_2", 95), message("m_1", 80)],
            more_after="QVFIUnested",  # older messages exist: still nothing new to ask for
        )
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, page([conversation.build()]))

        output = _read(ALL_STREAMS, _state(graph_time(90)))

        assert not output.errors
        assert [r["id"] for r in records_of(output, "messages")] == ["m_3", "m_2"]
        assert [r["id"] for r in records_of(output, "message_details")] == ["m_3", "m_2"]
        assert final_state(output, "messages")["state"] == {"created_time": graph_time(130)}
        # One conversations page feeds the three streams; the messages edge is never called.
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_more_new_messages_than_nested_when_read_then_edge_until_an_older_message(
        self, http_mocker: HttpMocker
    ) -> None:
        nested = [message(f"m_{i:02d}", 200 - i) for i in range(20)]
        conversation = ConversationBuilder("t_1", 200).with_messages(
            nested, more_after="QVFIUnested"
        )
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))
        edge = RequestBuilder.conversation_messages("t_1").with_after("QVFIUnested").build()
        older = [message(f"m_{i:02d}", 200 - i, details=False) for i in range(20, 28)]
        # The edge's page (created 180 down to 173) is cut by the watermark (178) after m_22.
        http_mocker.get(edge, page(older, next_after="QVFIUedge2", resource="t_1/messages"))

        output = _read(ALL_STREAMS, _state(graph_time(178)))

        assert not output.errors
        expected = [f"m_{i:02d}" for i in range(23)]  # created 200 down to 178
        assert [r["id"] for r in records_of(output, "messages")] == expected
        # Details exist for the 20 nested messages only.
        assert [r["id"] for r in records_of(output, "message_details")] == expected[:20]
        # The edge page held an older message: the page after it is not asked for.
        http_mocker.assert_number_of_calls(edge, 1)

    def test_given_conversation_the_state_covers_when_read_then_its_messages_are_not_read_again(
        self, http_mocker: HttpMocker
    ) -> None:
        covered = ConversationBuilder("t_1", 100).with_messages([message("m_1", 100)])
        http_mocker.get(RequestBuilder.conversations().build(), page([covered.build()]))

        output = _read(ALL_STREAMS, _state(graph_time(90)))

        assert not output.errors
        assert output.records == []


class TestGraphComponentFactory:
    def test_given_cdk_factory_when_copied_then_same_state_manager_and_message_repository(
        self,
    ) -> None:
        state_manager = ConnectorStateManager(_state())
        original = ModelToComponentFactory(connector_state_manager=state_manager)

        copy = GraphComponentFactory.like(original)

        assert copy._connector_state_manager is state_manager
        assert copy.get_message_repository() is original.get_message_repository()
        # The model -> constructor table calls this class's retriever constructor.
        constructors = copy.PYDANTIC_MODEL_TO_CONSTRUCTOR.values()
        assert copy.create_simple_retriever in list(constructors)

    def test_given_state_hidden_for_a_stream_when_asked_then_only_that_stream_has_none(
        self,
    ) -> None:
        view = _StateHiddenFor(ConnectorStateManager(_state()), "messages")

        assert view.get_stream_state("messages", None) == {}
        assert view.get_stream_state("message_details", None)["state"] == {
            "created_time": graph_time(90)
        }
        assert view.get_stream_state("conversations", None)["states"]
