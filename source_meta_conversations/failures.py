"""The errors a failed sync shows: each one clear and masked, the last one the one to act on.

The concurrent CDK ends a failed read with a summary error of its own, after each failing
stream's error: "During the sync, the following streams did not sync successfully:
conversations: AirbyteTracedException(\"'GET' request to 'https://graph.facebook.com/...'
failed with status code '400' ...\")", always as a config_error. That summary is the last error
of the sync, the one a platform shows, and it is the raw text of an exception, with a URL in it,
whatever the streams failed on. The streams' own errors (the error table's messages, which say
what to do) come before it; and they are emitted without the CDK's secret filter, so a request
URL in their internal message or stack trace carried the appsecret_proof.

``FailedStreams`` watches the messages of a read: it masks the registered secrets in every error
trace, and replaces the summary with the error to act on, in its words and failure type: the
first config error (the user must change something), else the first system error, else the
first transient one.
"""

from __future__ import annotations

from airbyte_cdk.models import AirbyteErrorTraceMessage, AirbyteMessage, FailureType, Type
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# How the CDK's summary of a failed concurrent read reads (airbyte_cdk.exception_handler and
# ConcurrentReadProcessor.is_done, 7.39.1).
_SUMMARY_INTERNAL_MESSAGE = "Concurrent read failure"
_SUMMARY_PREFIX = "During the sync, the following streams did not sync successfully"
# Which failure the final error names when streams failed in different ways: the one to act on.
_PRIORITY = (FailureType.config_error, FailureType.system_error, FailureType.transient_error)


class FailedStreams:
    """The error traces of one read, masked as they pass; the final error chosen from them.

    Example: streams failing with a token error (config_error) then the CDK's summary: ``seen``
    masks both stream errors, and ``final_error(summary)`` is an error with the token message,
    failure type config_error and no stream.
    """

    def __init__(self) -> None:
        self._errors: list[AirbyteErrorTraceMessage] = []

    def seen(self, message: AirbyteMessage) -> AirbyteMessage:
        """``message``; an error trace with its secrets masked, and remembered."""
        if message.type != Type.TRACE or message.trace is None or message.trace.error is None:
            return message
        error = message.trace.error
        error.message = filter_secrets(error.message) if error.message else error.message
        if error.internal_message:
            error.internal_message = filter_secrets(error.internal_message)
        if error.stack_trace:
            error.stack_trace = filter_secrets(error.stack_trace)
        self._errors.append(error)
        return message

    def final_error(self, raised: AirbyteTracedException) -> AirbyteTracedException:
        """The error to end the read with: ``raised``, unless it is the CDK's summary."""
        if not _is_summary(raised) or not self._errors:
            return raised
        chosen = min(
            self._errors,
            key=lambda e: _PRIORITY.index(e.failure_type) if e.failure_type in _PRIORITY else 3,
        )
        streams = sorted(
            {e.stream_descriptor.name for e in self._errors if e.stream_descriptor is not None}
        )
        return AirbyteTracedException(
            message=chosen.message,
            internal_message=f"Streams that did not sync: {', '.join(streams) or 'none named'}.",
            failure_type=chosen.failure_type or FailureType.system_error,
        )


def _is_summary(error: AirbyteTracedException) -> bool:
    return error.internal_message == _SUMMARY_INTERNAL_MESSAGE or (error.message or "").startswith(
        _SUMMARY_PREFIX
    )
