"""A cursor moves only past what was delivered, however the sync ends.

``messages`` and ``message_details`` keep one ``created_time`` watermark for the stream and the
conversations state they were read against. Conversations come most recently updated first, so
the conversations further down an unfinished listing hold older messages: a sync that fails in
the middle of the listing must end with the watermark it started with (and the parent state of
the pages it read), or the resumed sync filters those messages out.
"""

from __future__ import annotations

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.mock_http import HttpMocker

from unit_tests.mock_server.config import ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_error,
    graph_time,
    message,
    page,
)
from unit_tests.mock_server.source_runner import read_streams, records_of, stream_error
from unit_tests.mock_server.state import CHILDREN, clean_sync_state, final_state

PREVIOUS_WATERMARK = graph_time(90)
PREVIOUS_LISTING = graph_time(100)


def _listing_with_an_expired_token_on_page_two(http_mocker: HttpMocker) -> list[str]:
    """Page 1 holds five changed conversations; asking for page 2 answers 190/463.

    Returns the ids of page 1's messages, newest first.
    """
    seconds = [500, 480, 460, 440, 420]
    conversations = [
        ConversationBuilder(f"t_{s}", s).with_messages([message(f"m_{s}", s)]).build()
        for s in seconds
    ]
    http_mocker.get(
        RequestBuilder.conversations().build(), page(conversations, next_after="QVFIUpage2")
    )
    http_mocker.get(
        RequestBuilder.conversations().with_after("QVFIUpage2").build(),
        graph_error(190, subcode=463, message="Error validating access token: Session expired"),
    )
    return [f"m_{s}" for s in seconds]


class TestListingFailsMidway:
    @pytest.mark.parametrize("stream", CHILDREN)
    def test_given_token_expires_on_page_two_when_sync_ends_then_child_keeps_its_watermark(
        self, http_mocker: HttpMocker, stream: str
    ) -> None:
        page_one = _listing_with_an_expired_token_on_page_two(http_mocker)

        output = read_streams(
            ConfigBuilder().build(),
            [stream],
            sync_mode=SyncMode.incremental,
            state=clean_sync_state(PREVIOUS_LISTING, PREVIOUS_WATERMARK),
            expecting_exception=True,
        )

        assert stream_error(output, stream).failure_type == FailureType.config_error
        delivered = {r["id"] for r in records_of(output, stream)}
        assert "m_500" in delivered
        assert delivered <= set(page_one)
        final = final_state(output, stream)
        # Not second 500, the newest message delivered: page 2 (older conversations, older
        # messages) was never read, and the resumed sync must not filter its messages out.
        assert final["state"] == {"created_time": PREVIOUS_WATERMARK}
        cursor = final["parent_state"]["conversations"]["states"][0]["cursor"]
        assert cursor["updated_time"] == PREVIOUS_LISTING
        # The CDK had fetched page 1's last conversations ahead of making them partitions, and
        # never read them: the resumed sync lists page 1 again, not from page 2.
        assert "after" not in cursor.get("listing", {})

    @pytest.mark.parametrize("stream", CHILDREN)
    def test_given_the_listing_ends_when_sync_ends_then_child_watermark_is_the_newest_message(
        self, http_mocker: HttpMocker, stream: str
    ) -> None:
        newest = ConversationBuilder("t_new", 500).with_messages([message("m_new", 500)])
        http_mocker.get(RequestBuilder.conversations().build(), page([newest.build()]))

        output = read_streams(
            ConfigBuilder().build(),
            [stream],
            sync_mode=SyncMode.incremental,
            state=clean_sync_state(PREVIOUS_LISTING, PREVIOUS_WATERMARK),
        )

        assert not output.errors
        assert final_state(output, stream)["state"] == {"created_time": graph_time(500)}
