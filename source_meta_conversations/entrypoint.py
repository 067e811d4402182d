"""The Airbyte entrypoint, with config errors that name the field to fix, not a schema dump."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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
        if errors:
            message = describe_config_error(errors[0], schema)
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
