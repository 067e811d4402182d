"""The source: the packaged declarative manifest, plus config validation that names the field."""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteConnectionStatus, ConnectorSpecification, FailureType, Status
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations import page_size, single_flight
from source_meta_conversations.checkpoint import RESUME_CURSORS
from source_meta_conversations.components import SYNC_WAITS, VERSION_FALLBACKS
from source_meta_conversations.factory import GraphComponentFactory
from source_meta_conversations.interleave import interleave_parents
from source_meta_conversations.memory import keep_no_partition_cursors, prune_finished_futures
from source_meta_conversations.state import PLATFORMS, prepare_state

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
DEFAULT_BASE_URL = "https://graph.facebook.com"

# Up to this many calls per second per platform, a platform's pages come at least a quarter of a
# second apart: more than the CPU their records take (bench (d), docs/benchmarks.md: 13.6 s of
# CPU, start-up included, for 80 pages of 25 conversations with 20 messages each, so under 0.17 s
# a page), so the children keep up with the listing.
READ_TOGETHER_UP_TO_RPS = 4.0
# Workers when reading together: the two platforms' listings and the two children's generators
# hold four for the whole listing, which leaves two for the children's partitions. Apart, the
# manifest's level stands: more workers than that only contend for the interpreter (bench (b):
# twice the CPU at 6 than at 2, the messages edge read by more threads at once).
READ_TOGETHER_CONCURRENCY = 6


def reads_streams_together(config: Mapping[str, Any]) -> bool:
    """Whether the children read each conversations page while the listing goes on.

    At Meta's rate (2 calls per second, and anything up to ``READ_TOGETHER_UP_TO_RPS``) the sync
    waits for the budget most of the time, and the children's work fits in those waits. Faster
    (only the local sandbox allows it), the sync is bound by the interpreter, which one process
    cannot share between threads: reading together would only add contention (measured at 1000
    calls/s: a third more CPU and a memory peak that grows with the backlog), so the children
    read the pages from the cache once the listing is done (the manifest's ``stream_groups``).
    """
    try:
        rate = float(config.get("max_requests_per_second") or 2)
    except (TypeError, ValueError):
        return True  # not a number: the spec's validation refuses it, naming the field
    return rate <= READ_TOGETHER_UP_TO_RPS


class SourceMetaConversations(YamlDeclarativeSource):
    """Meta Conversations API (Messenger and Instagram) source built from ``manifest.yaml``."""

    def __init__(
        self,
        catalog: Any = None,
        config: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> None:
        SYNC_WAITS.reset()  # one source is one sync: its waits on Meta start at zero
        page_size.install()  # the page grows back gradually after code 1 (page_size.py)
        VERSION_FALLBACKS.reset()
        RESUME_CURSORS.reset()
        # The three streams read the conversations pages at the same time: one call per page.
        single_flight.install()
        if config and state:
            state = prepare_state(config, state)
        self._together = bool(config) and reads_streams_together(config or {})
        super().__init__(
            path_to_yaml=str(MANIFEST_PATH), catalog=catalog, config=config, state=state
        )
        # Children read the messages their parent's page carries on every sync, not only the
        # first, and every page of conversations is checkpointed (factory.py, checkpoint.py).
        self._constructor = GraphComponentFactory.like(self._constructor)
        # A sync's memory must not grow with its partitions (one per conversation): memory.py.
        prune_finished_futures(self._concurrent_source)

    def streams(self, config: Mapping[str, Any]) -> list[AbstractStream]:
        """The manifest's streams; global-cursor streams keep no cursor per partition.

        ``read`` builds its streams here, so every read's cursors are set up so (memory.py).
        """
        streams = super().streams(config)
        keep_no_partition_cursors(streams)
        # Children read both platforms' pages side by side, not Messenger's then Instagram's.
        interleave_parents(streams)
        return streams

    def _read_and_parse_yaml_file(self, path_to_yaml_file: str) -> Any:
        """The manifest, with the workers reading together needs when it does (see above)."""
        manifest = dict(super()._read_and_parse_yaml_file(path_to_yaml_file))
        if self._together:
            manifest["concurrency_level"] = {
                **manifest["concurrency_level"],
                "default_concurrency": READ_TOGETHER_CONCURRENCY,
                "max_concurrency": READ_TOGETHER_CONCURRENCY,
            }
        return manifest

    def _apply_stream_groups(
        self, streams: list[AbstractStream], top_level_stream_names: set[str] | None = None
    ) -> None:
        """The manifest's stream groups, unless the streams read together (see above)."""
        if self._together:
            return
        super()._apply_stream_groups(streams, top_level_stream_names)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Check every chosen platform with a real call each, not only the first one.

        The manifest's ``CheckStream`` reads the first partition of ``conversations`` only, which
        for ``platform: both`` would leave Instagram unchecked. Each platform is checked as its
        own config so that a failure names that platform's permissions.
        """
        chosen = config.get("platform")
        platforms = PLATFORMS if chosen == "both" else (chosen,)
        original = self._config
        try:
            for platform in platforms:
                self._config = {**original, "platform": platform}
                status = super().check(logger, self._config)
                fallback = VERSION_FALLBACKS.describe()
                if status.status == Status.SUCCEEDED and fallback:
                    # The call worked, but in another version than configured: say so now
                    # rather than sync with fields the connector was not built for.
                    status = AirbyteConnectionStatus(status=Status.FAILED, message=fallback)
                if status.status != Status.SUCCEEDED:
                    host = urlsplit(str(original.get("base_url") or DEFAULT_BASE_URL)).netloc
                    reason = _unrepr(status.message or "")
                    return AirbyteConnectionStatus(
                        status=Status.FAILED,
                        message=f"{str(platform).capitalize()}: {reason} (checked at {host})",
                    )
        finally:
            self._config = original
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    @classmethod
    def from_args(cls, argv: list[str]) -> SourceMetaConversations:
        """Build the source as the Airbyte platform runs it: config, catalog, state from argv."""
        config_path = AirbyteEntrypoint.extract_config(argv)
        catalog_path = AirbyteEntrypoint.extract_catalog(argv)
        state_path = AirbyteEntrypoint.extract_state(argv)
        config = cls.read_config(config_path) if config_path else None
        catalog = cls.read_catalog(catalog_path) if catalog_path else None
        try:
            state = cls.read_state(state_path) if state_path else []
        except Exception as error:  # the CDK raises ValueError or a serializer's own error
            message = (
                f"The state file {state_path} is not an Airbyte state ({type(error).__name__}). "
                "Clear the connection's data (Airbyte: Connection > Settings > Clear data, or run "
                "read without --state) and sync again."
            )
            raise AirbyteTracedException(
                message=message, internal_message=str(error), failure_type=FailureType.config_error
            ) from None
        return cls(catalog=catalog, config=config, state=state)


def _unrepr(message: str) -> str:
    """The CDK reports a failed check as ``repr(message)``: give back the plain text."""
    if len(message) >= 2 and message[0] == message[-1] and message[0] in "'\"":
        try:
            value = ast.literal_eval(message)
        except (ValueError, SyntaxError):
            return message
        if isinstance(value, str):
            return value
    return message


def describe_config_error(error: jsonschema.ValidationError, spec: Mapping[str, Any]) -> str:
    """Turn a JSON Schema validation error into a message that names the field and the fix."""
    properties: Mapping[str, Any] = spec.get("properties", {})
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else ""
        prop = properties.get(missing, {})
        return (
            f'The configuration is missing "{prop.get("title", missing)}" ({missing}): '
            f"{prop.get('description', 'it is required.')}"
        )
    name = str(error.absolute_path[0]) if error.absolute_path else ""
    prop = properties.get(name, {})
    title = prop.get("title", name or "configuration")
    secret = bool(prop.get("airbyte_secret"))
    value = "" if secret else f" (got {error.instance!r})"
    if error.validator == "pattern" and prop.get("pattern_descriptor"):
        expected = f"it must be {prop['pattern_descriptor']}"
    elif error.validator == "enum":
        allowed: list[Any] = list(prop.get("enum", []))
        expected = "it must be one of " + ", ".join(repr(v) for v in allowed)
    elif error.validator == "type":
        expected = f"it must be a {error.validator_value}"
    elif secret:
        expected = "it is not a valid value"
    else:
        expected = str(error.message)
    examples = prop.get("examples")
    hint = f", for example {examples[0]!r}" if examples and not secret else ""
    return f'The configuration field "{title}" ({name}) is invalid{value}: {expected}{hint}.'


class MetaConversationsEntrypoint(AirbyteEntrypoint):
    """The CDK entrypoint, with config errors that name the field to fix, not a schema dump."""

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Any) -> None:
        """Validate ``config`` against the spec; raise a config_error naming the field."""
        connector_config, _ = split_config(config)
        schema = source_spec.connectionSpecification
        validator = jsonschema.Draft7Validator(schema)
        errors = sorted(validator.iter_errors(connector_config), key=lambda e: list(e.path))
        if errors:
            message = describe_config_error(errors[0], schema)
            raise AirbyteTracedException(
                message=message, internal_message=message, failure_type=FailureType.config_error
            )


def entrypoint_class() -> type[AirbyteEntrypoint]:
    """The entrypoint class ``run`` launches with."""
    return MetaConversationsEntrypoint
