"""Progress during a read: a line per running stream every 30 s, a line when a stream finishes,
and a summary; calls counted once per answer from Meta, by route. The clock is the test's."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStream,
    AirbyteStreamState,
    AirbyteStreamStatus,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    StreamDescriptor,
    SyncMode,
    Type,
)
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message

from source_meta_conversations.sync.progress import CallCounter, ReadProgress, route_of

TOKEN = "EAAGsecrettokenvalue1234567890"
STREAMS = ["conversations", "messages", "message_details"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _record(stream: str, **data: Any) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.RECORD, record=AirbyteRecordMessage(stream=stream, data=data, emitted_at=0)
    )


def _complete(stream: str) -> AirbyteMessage:
    return as_airbyte_message(
        AirbyteStream(name=stream, json_schema={}, supported_sync_modes=[SyncMode.full_refresh]),
        AirbyteStreamStatus.COMPLETE,
    )


def _texts(messages: list[AirbyteMessage]) -> list[str]:
    return [m.log.message for m in messages if m.log is not None]


def _response(url: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.request = requests.Request("GET", url).prepare()
    return response


def _progress(calls: dict[str, int] | None = None, estimate: set[str] | None = None) -> Any:
    clock = Clock()
    progress = ReadProgress(
        list(STREAMS),
        estimate=set(STREAMS[1:]) if estimate is None else estimate,
        clock=clock,
        calls=lambda: calls or {},
    )
    return progress, clock


def _catalog(mode: SyncMode) -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalogSerializer.load(
        {
            "streams": [
                {
                    "stream": {
                        "name": name,
                        "json_schema": {},
                        "supported_sync_modes": ["full_refresh", "incremental"],
                    },
                    "sync_mode": mode.value,
                    "destination_sync_mode": "append",
                }
                for name in STREAMS
            ]
        }
    )


class TestRoutes:
    @pytest.mark.parametrize(
        ("url", "route"),
        [
            (
                f"https://graph.facebook.com/v26.0/1048/conversations?platform=instagram&access_token={TOKEN}",
                "conversations pages (instagram)",
            ),
            ("https://graph.facebook.com/v26.0/1048/conversations", "conversations pages"),
            (
                "https://graph.facebook.com/v26.0/t_123/messages?after=QVFI&limit=100",
                "messages edge pages",
            ),
            ("https://graph.facebook.com/v26.0/me?fields=id", "other calls"),
            (None, "other calls"),
        ],
        ids=["listing", "listing-without-platform", "edge", "other", "no-url"],
    )
    def test_given_a_call_url_when_classified_then_its_route_and_nothing_of_its_query(
        self, url: str | None, route: str
    ) -> None:
        assert route_of(url) == route


class TestCallCounter:
    def test_given_one_answer_handed_to_three_readers_when_counted_then_one_call(self) -> None:
        counter = CallCounter()
        answer = _response("https://graph.facebook.com/v26.0/1/conversations?platform=messenger")

        for _ in range(3):
            counter.answered(answer)
        counter.answered(_response("https://graph.facebook.com/v26.0/t_1/messages"))

        assert counter.counts() == {"conversations pages (messenger)": 1, "messages edge pages": 1}

    def test_given_a_new_sync_when_reset_then_no_calls(self) -> None:
        counter = CallCounter()
        counter.answered(_response("https://graph.facebook.com/v26.0/t_1/messages"))

        counter.reset()

        assert counter.counts() == {}


class TestProgressLines:
    def test_given_records_when_less_than_30_s_passed_then_no_line(self) -> None:
        progress, clock = _progress()
        progress.observe(_record("conversations", id="a"))
        clock.now += 29

        assert progress.observe(_record("conversations", id="b")) == []

    def test_given_30_s_of_reading_when_a_record_comes_then_one_line_per_running_stream(
        self,
    ) -> None:
        calls = {"conversations pages (messenger)": 40, "messages edge pages": 20}
        progress, clock = _progress(calls)
        progress.observe(_record("conversations", id="a"))
        progress.observe(_record("messages", id="m1"))
        clock.now += 30

        lines = _texts(progress.observe(_record("conversations", id="b")))

        assert lines == [
            "Progress of conversations: 2 records so far; 40 calls for conversations pages; "
            "60 calls to Meta in all (2.0 calls/s); how many are left is not known (Meta gives "
            "no total).",
            "Progress of messages: 1 records so far; 20 calls to Meta's messages edge; 60 calls "
            "to Meta in all (2.0 calls/s); how many are left is not known.",
        ]

    def test_given_messenger_counts_when_read_from_nothing_then_messages_left_estimated(
        self,
    ) -> None:
        progress, clock = _progress()
        progress.observe(_record("conversations", id="a", platform="messenger", message_count=45))
        progress.observe(_record("conversations", id="b", platform="instagram"))
        for i in range(10):
            progress.observe(_record("messages", id=f"m{i}", platform="messenger"))
            progress.observe(_record("message_details", id=f"m{i}", platform="messenger"))
        clock.now += 31

        lines = _texts(progress.observe(_record("messages", id="m10", platform="instagram")))

        assert "about 35 Messenger records left in the conversations listed so far" in lines[1]
        assert "about 10 Messenger records left" in lines[2]  # 20 of the 45 have details

    def test_given_a_saved_state_when_read_then_nothing_is_estimated(self) -> None:
        progress, clock = _progress(estimate=set())
        progress.observe(_record("conversations", id="a", platform="messenger", message_count=45))
        progress.observe(_record("messages", id="m1", platform="messenger"))
        clock.now += 31

        lines = _texts(progress.observe(_record("messages", id="m2", platform="messenger")))

        assert lines[1].endswith("how many are left is not known.")

    def test_given_a_finished_stream_when_time_passes_then_one_finished_line_and_no_more(
        self,
    ) -> None:
        progress, clock = _progress({"conversations pages (messenger)": 4})
        progress.observe(_record("conversations", id="a"))
        clock.now += 12.5

        finished = _texts(progress.observe(_complete("conversations")))
        clock.now += 60

        assert finished == [
            "Finished conversations: 1 records, 12.5 s into the read; 4 calls for conversations "
            "pages."
        ]
        assert progress.observe(_record("messages", id="m1")) == []

    def test_given_a_read_when_it_ends_then_a_summary_of_records_calls_and_waits(self) -> None:
        calls = {
            "conversations pages (messenger)": 40,
            "conversations pages (instagram)": 40,
            "messages edge pages": 3,
        }
        progress, clock = _progress(calls)
        progress.observe(_record("conversations", id="a"))
        clock.now += 41.5

        summary = progress.summary(waited=2.2).log.message

        assert summary == (
            "Read done in 41.5 s: records: conversations 1, messages 0, message_details 0; 83 "
            "calls to Meta (2.0 calls/s): 40 conversations pages (instagram), 40 conversations "
            "pages (messenger), 3 messages edge pages; 2 s spent waiting on Meta's rate limits "
            "or errors."
        )

    def test_given_a_failed_read_when_summarised_then_it_says_stopped(self) -> None:
        progress, clock = _progress()
        clock.now += 3

        assert progress.summary(waited=0, failed=True).log.message.startswith(
            "Read stopped after 3.0 s"
        )


class TestWhatIsEstimated:
    @pytest.mark.parametrize(
        ("mode", "config", "saved", "expected"),
        [
            (SyncMode.full_refresh, {}, [], {"messages", "message_details"}),
            (SyncMode.incremental, {}, [], {"messages", "message_details"}),
            (SyncMode.incremental, {"start_date": "2025-01-01T00:00:00Z"}, [], set()),
            (SyncMode.incremental, {}, ["messages"], {"message_details"}),
            (SyncMode.full_refresh, {}, ["messages"], {"messages", "message_details"}),
        ],
        ids=[
            "full-refresh",
            "first-sync",
            "start-date",
            "saved-state",
            "full-refresh-ignores-state",
        ],
    )
    def test_given_a_read_when_set_up_then_children_read_from_nothing_are_estimated(
        self, mode: SyncMode, config: dict[str, Any], saved: list[str], expected: set[str]
    ) -> None:
        state = [
            AirbyteStateMessage(
                type=AirbyteStateType.STREAM,
                stream=AirbyteStreamState(
                    stream_descriptor=StreamDescriptor(name=name),
                    stream_state=AirbyteStateBlob(
                        state={"created_time": "2026-01-01T00:00:00+0000"}
                    ),
                ),
            )
            for name in saved
        ]

        progress = ReadProgress.for_read(config, _catalog(mode), state)

        assert progress.estimate == expected
        assert progress.streams == STREAMS
