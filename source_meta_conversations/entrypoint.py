"""The Airbyte entrypoint, with config errors that name the field to fix, not a schema dump."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteMessage, ConnectorSpecification, FailureType
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.credentials import register_secrets
from source_meta_conversations.sync.progress import ReadProgress
from source_meta_conversations.sync.waits import SYNC_WAITS


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


# The format the manifest parses ``start_date`` with (definitions.start): a value the pattern
# lets through but this cannot parse (2025-13-01T00:00:00Z) would fail the first read.
START_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def beyond_the_schema(config: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """What JSON Schema cannot say about a config that passed it: the first problem, or None.

    - A pattern's ``$`` ends the value in the ECMA 262 regexes JSON Schema speaks (and in a
      platform's form), but Python's also matches before a final newline, so ``"123\n"`` passed
      ``^[0-9]+$`` and reached a URL.
    - ``start_date`` must be a real moment: the pattern accepts month 13 or February 30.
    - ``base_url`` must name a host and nothing else: no user or password (requests would send
      them, and messages would show them), a port that is a port.
    """
    properties: Mapping[str, Any] = spec.get("properties", {})
    for name, prop in properties.items():
        value = config.get(name)
        if isinstance(value, str) and prop.get("pattern") and value.endswith("\n"):
            return _invalid(prop, name, value, f"it must be {_expected(prop)}")
    start = config.get("start_date")
    if isinstance(start, str):
        try:
            datetime.strptime(start, START_DATE_FORMAT)
        except ValueError:
            prop = properties.get("start_date", {})
            return _invalid(prop, "start_date", start, f"it must be {_expected(prop)}")
    base_url = config.get("base_url")
    if isinstance(base_url, str) and base_url:
        prop = properties.get("base_url", {})
        parts = urlsplit(base_url)
        if parts.username is not None or parts.password is not None:
            # The value is not echoed: it holds a credential.
            return _invalid(prop, "base_url", None, "it must not carry a user name or password")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if not parts.hostname or port == 0:
            return _invalid(prop, "base_url", base_url, f"it must be {_expected(prop)}")
    return None


def _expected(prop: Mapping[str, Any]) -> str:
    return str(prop.get("pattern_descriptor") or "a valid value")


def _invalid(prop: Mapping[str, Any], name: str, value: Any, expected: str) -> str:
    """The same shape of message as ``describe_config_error``."""
    title = prop.get("title", name)
    shown = "" if value is None or prop.get("airbyte_secret") else f" (got {value!r})"
    examples = prop.get("examples")
    hint = f", for example {examples[0]!r}" if examples and not prop.get("airbyte_secret") else ""
    return f'The configuration field "{title}" ({name}) is invalid{shown}: {expected}{hint}.'


class MetaConversationsEntrypoint(AirbyteEntrypoint):
    """The CDK entrypoint, with config errors that name the field to fix, not a schema dump, and
    progress lines during a read (sync/progress.py)."""

    def read(
        self,
        source_spec: ConnectorSpecification,
        config: Any,
        catalog: Any,
        state: list[Any],
    ) -> Iterable[AirbyteMessage]:
        """The CDK's read, with a progress line per running stream every 30 s and a summary.

        The lines are LOG messages in the read's own output, so they land in the sync's log in
        order with the records they count.
        """
        progress = ReadProgress.for_read(config, catalog, state)
        yield progress.first_line(config.get("max_requests_per_second") or 2)
        try:
            for message in super().read(source_spec, config, catalog, state):
                yield message
                yield from progress.observe(message)
        except BaseException:
            yield progress.summary(SYNC_WAITS.waited, failed=True)
            raise
        yield progress.summary(SYNC_WAITS.waited)

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Any) -> None:
        """Validate ``config`` against the spec; raise a config_error naming the field."""
        connector_config, _ = split_config(config)
        schema = source_spec.connectionSpecification
        validator = jsonschema.Draft7Validator(schema)
        errors = sorted(validator.iter_errors(connector_config), key=lambda e: list(e.path))
        message = (
            describe_config_error(errors[0], schema)
            if errors
            else beyond_the_schema(connector_config, schema)
        )
        if message:
            raise AirbyteTracedException(
                message=message, internal_message=message, failure_type=FailureType.config_error
            )

    @staticmethod
    def set_up_secret_filter(config: Any, connection_specification: Mapping[str, Any]) -> None:
        """The CDK's filter (the spec's secret fields), plus the appsecret_proof derived from them.

        The CDK's replaces every secret registered before with the spec's; the proof is in no
        spec field (credentials.py).
        """
        AirbyteEntrypoint.set_up_secret_filter(config, connection_specification)
        register_secrets(config)


def entrypoint_class() -> type[AirbyteEntrypoint]:
    """The entrypoint class ``run`` launches with."""
    return MetaConversationsEntrypoint
