"""The source: the packaged manifest, checked per platform, its state validated before a read."""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.cdk_adaptations.declarative_source import AdaptedDeclarativeSource
from source_meta_conversations.credentials import register_secrets
from source_meta_conversations.failures import FailedStreams
from source_meta_conversations.state import PLATFORMS, prepare_state
from source_meta_conversations.sync import start_sync
from source_meta_conversations.sync.versions import VERSION_FALLBACKS

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
DEFAULT_BASE_URL = "https://graph.facebook.com"
T = TypeVar("T")


class SourceMetaConversations(AdaptedDeclarativeSource):
    """Meta Conversations API (Messenger and Instagram) source built from ``manifest.yaml``."""

    def __init__(
        self,
        catalog: Any = None,
        config: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> None:
        start_sync()  # one source is one sync: its waits on Meta start at zero
        register_secrets(config)
        if config and state:
            state = prepare_state(config, state)
        super().__init__(MANIFEST_PATH, catalog=catalog, config=config, state=state)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Check every chosen platform with a real call each, not only the first one.

        The manifest's ``CheckStream`` reads the first partition of ``conversations`` only, which
        for ``platform: both`` would leave Instagram unchecked. Each platform is checked by a
        source of its own config, so that a failure names that platform's permissions.
        """
        register_secrets(config)
        platforms = PLATFORMS if config.get("platform") == "both" else (config.get("platform"),)
        for platform in platforms:
            platform_config = {**config, "platform": platform}
            source = type(self)(config=platform_config)
            status = super(SourceMetaConversations, source).check(logger, platform_config)
            fallback = VERSION_FALLBACKS.describe()
            if status.status == Status.SUCCEEDED and fallback:
                # The call worked, but in another version than configured: say so now rather
                # than sync with fields the connector was not built for.
                status = AirbyteConnectionStatus(status=Status.FAILED, message=fallback)
            if status.status != Status.SUCCEEDED:
                host = urlsplit(str(config.get("base_url") or DEFAULT_BASE_URL)).netloc
                reason = _unrepr(status.message or "")
                return AirbyteConnectionStatus(
                    status=Status.FAILED,
                    message=f"{str(platform).capitalize()}: {reason} (checked at {host})",
                )
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        """The CDK's read, its error traces masked, ending on the error to act on.

        A failed read ends with the CDK's summary, the raw text of the streams' exceptions (a
        request URL in it); it is replaced by the first stream error that says what to do
        (failures.py).
        """
        # The entrypoint has just replaced the registered secrets with the spec's own.
        register_secrets(config)
        failures = FailedStreams()
        try:
            for message in super().read(logger, config, catalog, state):
                yield failures.seen(message)
        except AirbyteTracedException as error:
            final = failures.final_error(error)
            if final is error:
                raise
            raise final from None

    @classmethod
    def from_args(cls, argv: list[str]) -> SourceMetaConversations:
        """Build the source as the Airbyte platform runs it: config, catalog, state from argv."""
        config_path = AirbyteEntrypoint.extract_config(argv)
        catalog_path = AirbyteEntrypoint.extract_catalog(argv)
        state_path = AirbyteEntrypoint.extract_state(argv)
        # Each file the platform passes may be anything: what cannot be read ends as one
        # config_error naming the file and the fix, not as a traceback.
        config = _read_or_refuse(cls.read_config, config_path, _CONFIG_FIX) if config_path else None
        catalog = (
            _read_or_refuse(cls.read_catalog, catalog_path, _CATALOG_FIX) if catalog_path else None
        )
        state = _read_or_refuse(cls.read_state, state_path, _STATE_FIX) if state_path else []
        return cls(catalog=catalog, config=config, state=state)


_CONFIG_FIX = (
    "is not a JSON object of this connector's settings: check the configuration the platform "
    "passes with --config"
)
_CATALOG_FIX = (
    "is not an Airbyte configured catalog: refresh the source's schema (Airbyte: Connection > "
    "Schema > Refresh source schema) and sync again"
)
_STATE_FIX = (
    "is not an Airbyte state: clear the connection's data (Airbyte: Connection > Settings > "
    "Clear data, or run read without --state) and sync again"
)


def _read_or_refuse(read: Callable[[str], T], path: str, fix: str) -> T:
    """``read(path)``, or a config_error naming the file and what to do."""
    try:
        return read(path)
    except Exception as error:  # the CDK raises ValueError, OSError or a serializer's own error
        message = f"The file {path} {fix} ({type(error).__name__})."
        raise AirbyteTracedException(
            message=message, internal_message=str(error), failure_type=FailureType.config_error
        ) from None


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
