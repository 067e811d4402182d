"""Run the source in-process the way the platform would, for one or more streams."""

from __future__ import annotations

import json
import logging
import tempfile
from io import StringIO
from pathlib import Path
from typing import Any

from airbyte_cdk.logger import AirbyteLogFormatter
from airbyte_cdk.models import AirbyteErrorTraceMessage, AirbyteMessageSerializer, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read

from source_meta_conversations.entrypoint import MetaConversationsEntrypoint
from source_meta_conversations.source import SourceMetaConversations

ALL_STREAMS = ["conversations", "messages", "message_details"]


def read_streams(
    config: dict[str, Any],
    streams: list[str],
    *,
    sync_mode: SyncMode = SyncMode.full_refresh,
    state: list[Any] | None = None,
    expecting_exception: bool = False,
    debug: bool = False,
) -> EntrypointOutput:
    """Read ``streams`` as the platform would (``debug`` adds the CDK's request/response logs)."""
    builder = CatalogBuilder()
    for name in streams:
        builder = builder.with_stream(name, sync_mode)
    catalog = builder.build()
    source = SourceMetaConversations(catalog=catalog, config=config, state=state)
    return read(source, config, catalog, state, expecting_exception, debug=debug)


def records_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    """The data of the records ``output`` holds for ``stream``, in order."""
    return [
        message.record.data
        for message in output.records
        if message.record is not None and message.record.stream == stream
    ]


def stream_error(output: EntrypointOutput, stream: str) -> AirbyteErrorTraceMessage:
    """The error a stream failed with.

    The concurrent CDK ends a failed read with a summary error (always ``config_error``,
    "During the sync, the following streams did not sync successfully"); the stream's own error,
    with its real failure type and message, is emitted before it.
    """
    all_errors = [
        message.trace.error
        for message in output.errors
        if message.trace is not None and message.trace.error is not None
    ]
    errors = [
        error
        for error in all_errors
        if error.stream_descriptor is not None and error.stream_descriptor.name == stream
    ]
    assert errors, f"no error for stream {stream!r}; errors: {all_errors}"
    return errors[-1]


def output_text(output: EntrypointOutput) -> str:
    """Every message of a run (records, logs, traces, statuses) as the platform would read it."""
    return "\n".join(
        json.dumps(AirbyteMessageSerializer.dump(message))
        for message in output.get_message_iterator()
    )


def run_entrypoint(command: str, config: dict[str, Any]) -> EntrypointOutput:
    """Run ``check`` or ``discover`` through the connector's own entrypoint class.

    ``airbyte_cdk.test.entrypoint_wrapper`` runs the CDK's plain ``AirbyteEntrypoint``; this runs
    ``MetaConversationsEntrypoint`` (the one ``run.py`` launches), whose config validation names
    the field to fix, and captures its log lines like the CDK wrapper does.
    """
    log_buffer = StringIO()
    handler = logging.StreamHandler(log_buffer)
    handler.setLevel(logging.INFO)
    handler.setFormatter(AirbyteLogFormatter())
    root = logging.getLogger("")
    root.addHandler(handler)
    messages: list[str] = []
    uncaught: Exception | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config_path = Path(tmp) / "config.json"
            config_path.write_text(json.dumps(config))
            args = [command, "--config", str(config_path)]
            source = SourceMetaConversations.from_args(args)
            entrypoint = MetaConversationsEntrypoint(source)
            messages.extend(entrypoint.run(entrypoint.parse_args(args)))
    except Exception as exception:  # the platform sees these as a trace message and exit 1
        uncaught = exception
    finally:
        root.removeHandler(handler)
    logs = log_buffer.getvalue().split("\n")[:-1]
    return EntrypointOutput(messages=messages + logs, uncaught_exception=uncaught)
