"""Entrypoint: install the CDK adaptations, build the source and speak the Airbyte protocol."""

from __future__ import annotations

import sys


def run(args: list[str] | None = None) -> None:
    """Run one Airbyte protocol command (spec, check, discover, read), printing its messages."""
    argv = sys.argv[1:] if args is None else args
    from source_meta_conversations.cdk_adaptations.startup import (
        cached_class_sources,
        frozen_when_done,
    )

    # The CDK's import: each source file parsed once, its objects frozen (startup.py).
    with cached_class_sources(), frozen_when_done():
        from airbyte_cdk.entrypoint import PRINT_BUFFER, AirbyteEntrypoint
        from airbyte_cdk.utils.traced_exception import AirbyteTracedException

        from source_meta_conversations import cdk_adaptations
        from source_meta_conversations.entrypoint import MetaConversationsEntrypoint
        from source_meta_conversations.source import SourceMetaConversations

    try:
        cdk_adaptations.install()
    except cdk_adaptations.CdkAdaptationError as error:
        _fail_at_start_up(str(error))
    try:
        source = SourceMetaConversations.from_args(argv)
    except AirbyteTracedException as error:
        # A state or config refused before the entrypoint runs still ends as one trace message.
        print(AirbyteEntrypoint.airbyte_message_to_string(error.as_sanitized_airbyte_message()))
        sys.exit(1)
    entrypoint = MetaConversationsEntrypoint(source)
    parsed_args = entrypoint.parse_args(argv)
    try:
        with PRINT_BUFFER:
            for message in entrypoint.run(parsed_args):
                print(f"{message}\n", end="")
    except AirbyteTracedException as error:
        # The failure as one trace message (its stack trace stays inside it, for the logs view),
        # not also as a Python traceback printed by the CDK's uncaught-exception hook. A stream
        # that failed during a read has already emitted its own trace; this is the summary.
        print(AirbyteEntrypoint.airbyte_message_to_string(error.as_sanitized_airbyte_message()))
        sys.exit(1)


def _fail_at_start_up(message: str) -> None:
    """End with one system_error trace naming the CDK mismatch (no traceback, no secret)."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint
    from airbyte_cdk.models import FailureType
    from airbyte_cdk.utils.traced_exception import AirbyteTracedException

    error = AirbyteTracedException(
        message=message, internal_message=message, failure_type=FailureType.system_error
    )
    print(AirbyteEntrypoint.airbyte_message_to_string(error.as_sanitized_airbyte_message()))
    sys.exit(1)


if __name__ == "__main__":
    run()
