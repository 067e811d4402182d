"""A checkpoint after every page of conversations, and resuming an unfinished listing.

The conversations edge has no ``since``: a listing can only resume at a Graph cursor. While a
platform's listing is unfinished, its state entry holds ``listing`` (the cursor after the last
page whose records were all delivered, and the newest ``updated_time`` delivered), and the
watermark stays where it was until the listing ends (cdk_adaptations/checkpoint_cursors.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests
from airbyte_cdk.models import FailureType, SyncMode, Type
from airbyte_cdk.sources.message.repository import InMemoryMessageRepository
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.mock_http import HttpMocker
from airbyte_cdk.test.state_builder import StateBuilder
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.components.error_handlers import ResumeCursorRefusal
from source_meta_conversations.source import SourceMetaConversations
from source_meta_conversations.state import prepare_state
from source_meta_conversations.sync.listings import RESUME_CURSORS, ListingProgress, report_page
from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_error,
    graph_time,
    message,
    page,
)
from unit_tests.mock_server.source_runner import read_streams, records_of

STALE = "(#100) The After Cursor specified exceeds the max limit supported by this endpoint"


def _conversations(*seconds: int) -> list[dict[str, Any]]:
    return [ConversationBuilder(f"t_{s}", s).build() for s in seconds]


def _listing_state(
    updated_time: str, listing: dict[str, Any] | None = None, platform: str = "messenger"
) -> dict[str, Any]:
    cursor: dict[str, Any] = {"updated_time": updated_time}
    if listing is not None:
        cursor["listing"] = listing
    return {
        "use_global_cursor": False,
        "states": [{"partition": {"platform": platform, "page_id": PAGE_ID}, "cursor": cursor}],
    }


def _read(streams: list[str], state: list[Any] | None = None) -> Any:
    return read_streams(
        ConfigBuilder().build(), streams, sync_mode=SyncMode.incremental, state=state
    )


def _messages_in_order(output: Any) -> list[tuple[str, Any]]:
    """("record", id) and ("state", stream state) in the order the platform receives them."""
    sequence: list[tuple[str, Any]] = []
    for item in output.get_message_iterator():
        if item.type == Type.RECORD and item.record is not None:
            sequence.append(("record", item.record.data["id"]))
        elif item.type == Type.STATE and item.state is not None:
            stream = item.state.stream
            sequence.append((stream.stream_descriptor.name, dict(stream.stream_state.__dict__)))
    return sequence


def _cursor(state: dict[str, Any]) -> dict[str, Any]:
    (entry,) = state["states"]
    return dict(entry["cursor"])


class TestCheckpointPerPage:
    def test_given_three_pages_when_read_then_a_state_after_each_page_before_the_next_records(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().build(),
            page(_conversations(300, 290), next_after="P2"),
        )
        http_mocker.get(
            RequestBuilder.conversations().with_after("P2").build(),
            page(_conversations(280, 270), next_after="P3"),
        )
        http_mocker.get(
            RequestBuilder.conversations().with_after("P3").build(), page(_conversations(260))
        )

        output = _read(["conversations"])

        assert not output.errors
        sequence = _messages_in_order(output)
        kinds = [kind if kind == "record" else "state" for kind, _ in sequence]
        # 2 records, checkpoint, 2 records, checkpoint, 1 record, then the listing's end.
        assert kinds[:7] == ["record"] * 2 + ["state"] + ["record"] * 2 + ["state"] + ["record"]
        first, second = (value for kind, value in sequence[:6] if kind == "conversations")
        assert _cursor(first) == {
            "updated_time": "1970-01-01T00:00:00+0000",  # the watermark waits for the end
            "listing": {"after": "P2", "updated_time": graph_time(300)},
        }
        assert _cursor(second)["listing"] == {"after": "P3", "updated_time": graph_time(300)}
        final = sequence[-1][1]
        assert _cursor(final) == {"updated_time": graph_time(300)}

    def test_given_a_listing_with_one_page_when_read_then_no_listing_is_ever_saved(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(RequestBuilder.conversations().build(), page(_conversations(300, 290)))

        output = _read(["conversations"])

        states = [value for kind, value in _messages_in_order(output) if kind != "record"]
        assert states
        assert all("listing" not in _cursor(state) for state in states)


class TestResume:
    def test_given_an_unfinished_listing_when_read_then_it_continues_after_the_saved_cursor(
        self, http_mocker: HttpMocker
    ) -> None:
        state = StateBuilder().with_stream_state(
            "conversations",
            _listing_state(graph_time(100), {"after": "P3", "updated_time": graph_time(300)}),
        )
        # Only the page after the saved cursor is mocked: asking for the first page fails.
        resumed = RequestBuilder.conversations().with_after("P3").build()
        http_mocker.get(resumed, page(_conversations(260, 250, 90)))

        output = _read(["conversations"], state.build())

        assert not output.errors
        assert [r["id"] for r in records_of(output, "conversations")] == ["t_260", "t_250"]
        http_mocker.assert_number_of_calls(resumed, 1)
        # The watermark is the newest of both runs, and the listing is done.
        final = _messages_in_order(output)[-1][1]
        assert _cursor(final) == {"updated_time": graph_time(300)}

    def test_given_a_saved_cursor_meta_refuses_when_read_then_listed_again_from_the_newest(
        self, http_mocker: HttpMocker, caplog: pytest.LogCaptureFixture
    ) -> None:
        state = StateBuilder().with_stream_state(
            "conversations",
            _listing_state(graph_time(100), {"after": "GONE", "updated_time": graph_time(300)}),
        )
        refused = RequestBuilder.conversations().with_after("GONE").build()
        http_mocker.get(refused, graph_error(100, message=STALE))
        top = RequestBuilder.conversations().build()
        http_mocker.get(top, page(_conversations(310, 300, 250, 90)))

        with caplog.at_level(logging.WARNING, logger="airbyte"):
            output = _read(["conversations"], state.build())

        assert not output.errors
        assert [r["id"] for r in records_of(output, "conversations")] == [
            "t_310",
            "t_300",
            "t_250",
        ]
        http_mocker.assert_number_of_calls(refused, 1)
        http_mocker.assert_number_of_calls(top, 1)
        assert "listing this platform again from the newest" in caplog.text
        assert _cursor(_messages_in_order(output)[-1][1]) == {"updated_time": graph_time(310)}

    def test_given_a_stale_cursor_in_the_middle_of_a_listing_when_read_then_transient_error(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().build(), page(_conversations(300), next_after="P2")
        )
        http_mocker.get(
            RequestBuilder.conversations().with_after("P2").build(),
            graph_error(100, message=STALE),
        )

        output = read_streams(
            ConfigBuilder().build(),
            ["conversations"],
            sync_mode=SyncMode.incremental,
            expecting_exception=True,
        )

        errors = [m.trace.error for m in output.errors if m.trace and m.trace.error]
        assert any(
            e.failure_type == FailureType.transient_error and "Run the sync again" in e.message
            for e in errors
        ), errors
        # The checkpoint of the first page was written: a new sync resumes after it.
        states = [v for kind, v in _messages_in_order(output) if kind == "conversations"]
        assert _cursor(states[-1])["listing"]["after"] == "P2"


def _with_message(conversation_id: str, second: int) -> dict[str, Any]:
    """A conversation whose page carries its one message, ``m_<conversation_id>``."""
    return (
        ConversationBuilder(conversation_id, second)
        .with_messages([message(f"m_{conversation_id}", second)])
        .build()
    )


def _mock_two_pages_of_conversations(http_mocker: HttpMocker) -> None:
    """Page 1 holds conversations a and b, page 2 (after ``P2``) holds c."""
    http_mocker.get(
        RequestBuilder.conversations().build(),
        page([_with_message("a", 300), _with_message("b", 290)], next_after="P2"),
    )
    http_mocker.get(
        RequestBuilder.conversations().with_after("P2").build(),
        page([_with_message("c", 280)]),
    )


# The parent (conversations) state a child checkpoints with, at each point of the listing above.
LISTING_AT_A = {"updated_time": graph_time(300)}  # a read; page 1 not done: no cursor yet
LISTING_AT_B = {"after": "P2", "updated_time": graph_time(300)}  # page 1 done: resume after P2
LISTING_DONE = None  # the listing ended: the watermark moved, no listing is saved


def _messages_stream_writing_to_a_repository() -> tuple[DefaultStream, InMemoryMessageRepository]:
    """The messages stream of a source, its cursor writing its states to the repository returned.

    Its partitions can then be read and closed in the test's thread, in an order of the test's
    choosing, as the workers of a sync would.
    """
    config = ConfigBuilder().build()
    catalog = CatalogBuilder().with_stream("messages", SyncMode.incremental).build()
    source = SourceMetaConversations(catalog=catalog, config=config, state=None)
    (stream,) = [s for s in source.streams(config) if s.name == "messages"]
    assert isinstance(stream, DefaultStream)
    checkpoints = InMemoryMessageRepository()
    stream.cursor._message_repository = checkpoints  # type: ignore[attr-defined]
    return stream, checkpoints


def _parent_listing(child_state: dict[str, Any]) -> Any:
    return _cursor(child_state["parent_state"]["conversations"]).get("listing")


@pytest.fixture
def one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync reads with one worker thread: child partitions close in the order generated.

    With the manifest's two workers, the messages partitions of conversations a, b and c are read
    by whichever worker is free, so the order they close in is the scheduler's. The parent state
    only moves once every partition generated before it is closed (the CDK's
    ``ConcurrentPerPartitionCursor``): closed as b, c, a it moves once, straight to "listing
    done", and no state says "page 1 done". One worker makes the order the generation order.
    """
    original = SourceMetaConversations._read_and_parse_yaml_file

    def with_one_worker(self: SourceMetaConversations, path: str) -> Any:
        manifest = dict(original(self, path))
        manifest["concurrency_level"] = {
            **manifest["concurrency_level"],
            "default_concurrency": 1,
            "max_concurrency": 1,
        }
        return manifest

    monkeypatch.setattr(SourceMetaConversations, "_read_and_parse_yaml_file", with_one_worker)


class TestChildren:
    @pytest.mark.usefixtures("one_worker")
    def test_given_two_pages_of_conversations_when_messages_read_then_a_state_per_page(
        self, http_mocker: HttpMocker
    ) -> None:
        _mock_two_pages_of_conversations(http_mocker)

        output = _read(["messages"])

        assert not output.errors
        sequence = [
            value if kind == "record" else ("state", _parent_listing(value))
            for kind, value in _messages_in_order(output)
            if kind in ("record", "messages")
        ]
        # Each conversation's messages, then the state saying it was read; page 1's end (b)
        # is the state a stopped sync resumes after P2 from, never written before m_b.
        assert sequence == [
            "m_a",
            ("state", LISTING_AT_A),
            "m_b",
            ("state", LISTING_AT_B),
            "m_c",
            ("state", LISTING_DONE),
            ("state", LISTING_DONE),  # the end of the sync: at least one state, always
        ]
        states = [value for kind, value in _messages_in_order(output) if kind == "messages"]
        # The created_time watermark moves only at the end (later conversations are older).
        assert all("state" not in value for value in states[:-1])
        assert states[-1]["state"] == {"created_time": graph_time(300)}

    @pytest.mark.parametrize(
        ("close_order", "listings"),
        [
            (("a", "b", "c"), [LISTING_AT_A, LISTING_AT_B, LISTING_DONE]),
            (("b", "a", "c"), [LISTING_AT_B, LISTING_DONE]),
            (("a", "c", "b"), [LISTING_AT_A, LISTING_DONE]),
            (("c", "a", "b"), [LISTING_AT_A, LISTING_DONE]),
            (("b", "c", "a"), [LISTING_DONE]),
            (("c", "b", "a"), [LISTING_DONE]),
        ],
        ids=["in order", "b,a,c", "a,c,b", "c,a,b", "b,c,a", "c,b,a"],
    )
    def test_given_child_partitions_closed_in_any_order_when_checkpointed_then_no_state_is_ahead(
        self,
        http_mocker: HttpMocker,
        close_order: tuple[str, ...],
        listings: list[Any],
    ) -> None:
        """Workers close partitions in any order; a state never covers an unread conversation.

        The parent state moves to a conversation's once it and every conversation before it were
        read, one state per move: a page whose partitions closed after a later page's is covered
        by the later page's state.
        """
        _mock_two_pages_of_conversations(http_mocker)
        stream, checkpoints = _messages_stream_writing_to_a_repository()
        partitions = {
            partition.to_slice()["conversation_id"]: partition  # type: ignore[index]
            for partition in stream.generate_partitions()
        }

        for conversation_id in close_order:
            partition = partitions[conversation_id]
            for record in partition.read():
                stream.cursor.observe(record)
            stream.cursor.close_partition(partition)

        states = [
            dict(item.state.stream.stream_state.__dict__)
            for item in checkpoints.consume_queue()
            if item.type == Type.STATE and item.state is not None and item.state.stream is not None
        ]
        assert [_parent_listing(state) for state in states] == listings

    def test_given_a_child_state_with_an_unfinished_listing_when_read_then_it_resumes_there(
        self, http_mocker: HttpMocker
    ) -> None:
        parent = _listing_state(graph_time(100), {"after": "P2", "updated_time": graph_time(300)})
        state = StateBuilder().with_stream_state(
            "messages",
            {
                "use_global_cursor": True,
                "state": {"created_time": graph_time(100)},
                "lookback_window": 0,
                "parent_state": {"conversations": parent},
            },
        )
        # Only the page after the saved cursor is mocked: asking for the first page fails.
        resumed = RequestBuilder.conversations().with_after("P2").build()
        http_mocker.get(
            resumed,
            page(
                [
                    ConversationBuilder("c", 280).with_messages([message("m_c", 280)]).build(),
                    ConversationBuilder("d", 90).with_messages([message("m_d", 90)]).build(),
                ]
            ),
        )

        output = _read(["messages"], state.build())

        assert not output.errors
        assert [r["id"] for r in records_of(output, "messages")] == ["m_c"]
        http_mocker.assert_number_of_calls(resumed, 1)
        final = [v for kind, v in _messages_in_order(output) if kind == "messages"][-1]
        assert _cursor(final["parent_state"]["conversations"]) == {"updated_time": graph_time(300)}


class TestComponents:
    def test_given_slices_when_a_page_ends_then_only_a_listing_slice_checkpoints(self) -> None:
        checkpoints: list[str | None] = []
        progress = ListingProgress(
            after=None, newest=None, on_page=lambda: checkpoints.append(progress.after)
        )
        listing = StreamSlice(
            partition={"platform": "messenger"}, cursor_slice={}, extra_fields={"listing": progress}
        )
        child = StreamSlice(partition={"conversation_id": "c"}, cursor_slice={})

        report_page(child, "E2")  # a messages-edge page: not a listing
        report_page(None, "E3")
        report_page(listing, "P2")

        assert checkpoints == ["P2"]

    def test_given_a_progress_when_pages_end_then_after_moves_and_each_page_checkpoints(
        self,
    ) -> None:
        checkpoints: list[str | None] = []
        progress = ListingProgress(
            after="P1", newest=None, on_page=lambda: checkpoints.append(progress.after)
        )
        progress.page_done("P2")
        progress.page_done("P3")
        assert checkpoints == ["P2", "P3"]
        assert progress.first_after == "P1"  # the first request's cursor is not changed

    def test_given_a_registered_cursor_when_refused_then_its_listing_restarts_once(self) -> None:
        RESUME_CURSORS.reset()
        progress = ListingProgress(after="SAVED", newest=None, on_page=lambda: None)
        RESUME_CURSORS.register(progress)
        assert not RESUME_CURSORS.refuse("OTHER")
        assert RESUME_CURSORS.refuse("SAVED")
        assert (progress.first_after, progress.after) == (None, None)
        assert not RESUME_CURSORS.refuse("SAVED")

    def test_given_readers_started_after_one_saved_cursor_when_refused_then_all_restart(
        self,
    ) -> None:
        # conversations and the children's copies of it read the listing at the same time
        RESUME_CURSORS.reset()
        readers = [ListingProgress(after="SAVED", newest=None, on_page=lambda: None)]
        readers.append(ListingProgress(after="SAVED", newest=None, on_page=lambda: None))
        for progress in readers:
            RESUME_CURSORS.register(progress)

        assert RESUME_CURSORS.refuse("SAVED")  # the first reader's answer
        assert all(progress.first_after is None for progress in readers)
        assert RESUME_CURSORS.refuse("SAVED")  # the second reader got the same answer
        assert not RESUME_CURSORS.refuse("SAVED")  # no reader resets twice

    @pytest.mark.parametrize(
        ("status", "after", "body_message", "resets"),
        [
            (400, "SAVED", STALE, True),  # the saved cursor, refused: list from the newest
            (400, "OTHER", STALE, False),  # a cursor of this sync: the table's transient error
            (400, "SAVED", "(#100) Invalid parameter", False),  # another code-100 error
            (200, "SAVED", STALE, False),  # a page is never an error
        ],
    )
    def test_given_an_answer_when_interpreted_then_only_a_refused_saved_cursor_resets_paging(
        self, status: int, after: str, body_message: str, resets: bool
    ) -> None:
        RESUME_CURSORS.reset()
        progress = ListingProgress(after="SAVED", newest=None, on_page=lambda: None)
        RESUME_CURSORS.register(progress)
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps({"error": {"code": 100, "message": body_message}}).encode()
        response.request = requests.Request(
            "GET", f"https://graph.example/v26.0/1/conversations?after={after}&limit=25"
        ).prepare()

        resolution = ResumeCursorRefusal(config={}, parameters={}).interpret_response(response)

        if resets:
            assert resolution.response_action == ResponseAction.RESET_PAGINATION
            assert progress.first_after is None
        else:
            assert resolution is None
            assert progress.first_after == "SAVED"


class TestStateValidation:
    @pytest.mark.parametrize(
        ("listing", "fragment"),
        [
            ("P2", "not a JSON object"),
            ({"after": ""}, "not a paging cursor"),
            ({"after": 7}, "not a paging cursor"),
            ({"after": "P2", "updated_time": "yesterday"}, "listing.updated_time"),
        ],
    )
    def test_given_a_broken_listing_when_prepared_then_config_error_saying_how_to_reset(
        self, listing: Any, fragment: str
    ) -> None:
        state = StateBuilder().with_stream_state(
            "conversations", _listing_state(graph_time(100), listing)
        )
        with pytest.raises(AirbyteTracedException) as raised:
            prepare_state(ConfigBuilder().build(), state.build())
        error = raised.value
        assert error.failure_type == FailureType.config_error
        assert fragment in str(error.message)
        assert "Clear" in str(error.message)

    def test_given_a_valid_listing_when_prepared_then_kept(self) -> None:
        listing = {"after": "P2", "updated_time": graph_time(300)}
        state = StateBuilder().with_stream_state(
            "conversations", _listing_state(graph_time(100), listing)
        )
        (prepared,) = prepare_state(ConfigBuilder().build(), state.build())
        assert prepared.stream is not None
        assert prepared.stream.stream_state is not None
        entry = prepared.stream.stream_state.__dict__["states"][0]
        assert entry["cursor"]["listing"] == listing
