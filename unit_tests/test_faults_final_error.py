"""The last error a failed sync shows is the one to act on, in Meta's terms, with no URL.

The concurrent CDK ends a failed read with its own summary ("During the sync, the following
streams did not sync successfully: conversations: AirbyteTracedException(\"'GET' request to
'https://...'\")"), always a config_error. A platform shows the last error: it must be the error
table's message (what to do), with the failure type that message has.
"""

from __future__ import annotations

import json

import pytest
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteTraceMessage,
    FailureType,
    StreamDescriptor,
    TraceType,
    Type,
)
from airbyte_cdk.test.mock_http import HttpMocker
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.failures import FailedStreams
from unit_tests.mock_server.config import ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import ConversationBuilder, graph_error, message, page
from unit_tests.mock_server.source_runner import ALL_STREAMS, read_streams

TOKEN_FIX = "Generate a new Page access token"
CDK_SUMMARY = AirbyteTracedException(
    message="During the sync, the following streams did not sync successfully: conversations: "
    "AirbyteTracedException(\"'GET' request to 'https://graph.facebook.com/v26.0/1/conversations'"
    ' failed")',
    internal_message="Concurrent read failure",
    failure_type=FailureType.config_error,
)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _error_traces(output: object) -> list[AirbyteErrorTraceMessage]:
    return [m.trace.error for m in output.errors if m.trace and m.trace.error]  # type: ignore[attr-defined]


def _stream_error(stream: str, failure_type: FailureType, text: str) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ERROR,
            emitted_at=0,
            error=AirbyteErrorTraceMessage(
                message=text,
                internal_message=f"'GET' request to 'https://graph.facebook.com/{stream}' failed",
                failure_type=failure_type,
                stream_descriptor=StreamDescriptor(name=stream),
            ),
        ),
    )


class TestFinalErrorOfARead:
    def test_given_token_rejected_when_three_streams_read_then_last_error_is_the_token_fix(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().build(),
            graph_error(190, subcode=463, message="Error validating access token"),
        )

        output = read_streams(ConfigBuilder().build(), ALL_STREAMS, expecting_exception=True)

        # The read's own end: the last error trace, after each stream's.
        final = _error_traces(output)[-1]
        assert final.stream_descriptor is None
        assert final.failure_type == FailureType.config_error
        assert TOKEN_FIX in _one_line(final.message)
        text = json.dumps([final.message, final.internal_message, final.stack_trace])
        assert "graph.facebook.com" not in text
        assert "AirbyteTracedException(" not in text
        assert "did not sync successfully" not in text

    def test_given_token_rejected_when_read_then_every_error_trace_is_the_clear_config_error(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().build(),
            graph_error(190, subcode=463, message="Error validating access token"),
        )

        output = read_streams(ConfigBuilder().build(), ALL_STREAMS, expecting_exception=True)

        errors = _error_traces(output)
        assert {e.stream_descriptor.name for e in errors if e.stream_descriptor} == set(ALL_STREAMS)
        assert all(e.failure_type == FailureType.config_error for e in errors)
        assert all(TOKEN_FIX in _one_line(e.message) for e in errors)

    def test_given_messages_edge_unavailable_when_read_then_last_error_is_transient_meta_error(
        self, http_mocker: HttpMocker
    ) -> None:
        newest = [message(f"m_{i:02d}", 1000 - i) for i in range(20)]
        conversation = ConversationBuilder("t_1", 1000).with_messages(newest, more_after="QVFIUn")
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))
        http_mocker.get(
            RequestBuilder.conversation_messages("t_1").with_after("QVFIUn").build(),
            graph_error(2, message="Service temporarily unavailable", status=503, transient=True),
        )

        output = read_streams(ConfigBuilder().build(), ["messages"], expecting_exception=True)

        final = _error_traces(output)[-1]
        assert final.stream_descriptor is None
        assert final.failure_type == FailureType.transient_error
        assert "still refused a request after 8 retries" in (final.message or "")
        assert "error 2, Service temporarily unavailable" in (final.message or "")


class TestFailedStreams:
    @pytest.mark.parametrize(
        "order",
        [
            [FailureType.transient_error, FailureType.config_error, FailureType.system_error],
            [FailureType.system_error, FailureType.transient_error, FailureType.config_error],
        ],
        ids=["config_second", "config_last"],
    )
    def test_given_streams_failing_differently_when_read_ends_then_the_config_error_is_last(
        self, order: list[FailureType]
    ) -> None:
        failures = FailedStreams()
        for index, failure_type in enumerate(order):
            failures.seen(_stream_error(f"s{index}", failure_type, f"fix {failure_type.value}"))

        final = failures.final_error(CDK_SUMMARY)

        assert (final.message, final.failure_type) == ("fix config_error", FailureType.config_error)
        assert final.internal_message == "Streams that did not sync: s0, s1, s2."

    def test_given_system_and_transient_errors_when_read_ends_then_the_system_error(self) -> None:
        failures = FailedStreams()
        failures.seen(_stream_error("a", FailureType.transient_error, "later"))
        failures.seen(_stream_error("b", FailureType.system_error, "broken"))

        final = failures.final_error(CDK_SUMMARY)

        assert (final.message, final.failure_type) == ("broken", FailureType.system_error)

    def test_given_an_error_that_is_not_the_summary_when_read_ends_then_it_is_kept(self) -> None:
        failures = FailedStreams()
        failures.seen(_stream_error("a", FailureType.config_error, "fix it"))
        other = AirbyteTracedException(message="other", failure_type=FailureType.system_error)

        assert failures.final_error(other) is other

    def test_given_no_stream_error_when_the_summary_comes_then_it_is_kept(self) -> None:
        assert FailedStreams().final_error(CDK_SUMMARY) is CDK_SUMMARY
