"""``spec``, ``check`` and ``discover`` of the installed command, against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from integration_tests.conftest import (
    CURSOR_FIELDS,
    PLATFORMS,
    STREAMS,
    Connector,
    ConnectorRun,
    run_concurrently,
)
from meta_graph_sandbox import Sandbox

APP_SECRET = "sandbox-app-secret-5f1c9a7e2b"
MESSENGER_PERMISSIONS = ("pages_manage_metadata", "pages_read_engagement", "pages_messaging")
INSTAGRAM_PERMISSIONS = ("instagram_basic", "instagram_manage_messages", "pages_manage_metadata")
TOKEN_FIX = "Generate a new Page access token"
# What a message shows when it is a Python repr instead of the text.
ESCAPES = ("\\n", "\\'", '\\"')


def readable(message: str) -> str:
    """The message as a person reads it: repr escapes undone, whitespace runs as one space."""
    for escape, text in (("\\n", " "), ("\\'", "'"), ('\\"', '"')):
        message = message.replace(escape, text)
    return " ".join(message.split())


# ---------------------------------------------------------------------------------- spec
@pytest.fixture(scope="module")
def spec(connector_session: Connector) -> dict[str, Any]:
    """The connectionSpecification printed by ``spec``."""
    run = connector_session.spec()
    run.assert_succeeded()
    return dict(run.spec["connectionSpecification"])


def test_given_no_config_when_spec_then_one_spec_with_the_required_fields(
    spec: Mapping[str, Any],
) -> None:
    assert set(spec["required"]) == {"page_id", "access_token", "platform"}
    assert set(spec["properties"]) >= {
        "page_id",
        "access_token",
        "platform",
        "start_date",
        "user_id",
        "only_owned_conversations",
        "api_version",
        "app_secret",
        "max_requests_per_second",
        "base_url",
    }
    assert spec["properties"]["platform"]["enum"] == ["messenger", "instagram", "both"]
    assert spec["properties"]["api_version"]["default"] == "v26.0"
    assert spec["properties"]["max_requests_per_second"]["default"] == 2
    assert spec["properties"]["only_owned_conversations"]["default"] is False
    assert spec["properties"]["base_url"]["default"] == "https://graph.facebook.com"
    jsonschema.Draft7Validator.check_schema(spec)


def test_given_spec_when_reading_secrets_then_token_and_app_secret_are_airbyte_secrets(
    spec: Mapping[str, Any],
) -> None:
    secrets = {name for name, prop in spec["properties"].items() if prop.get("airbyte_secret")}
    assert secrets == {"access_token", "app_secret"}


def test_given_spec_when_reading_each_property_then_it_has_title_description_and_examples(
    spec: Mapping[str, Any],
) -> None:
    incomplete = {
        name: [key for key in ("title", "description", "examples") if not prop.get(key)]
        for name, prop in spec["properties"].items()
    }
    assert {name: keys for name, keys in incomplete.items() if keys} == {}


# ---------------------------------------------------------------------------------- check
@dataclass(frozen=True)
class CheckCase:
    """One ``check``: the sandbox it runs against, the config it gets, what it must answer."""

    name: str
    config: Callable[[Sandbox], dict[str, Any]]
    succeeds: bool = False
    fragments: tuple[str, ...] = ()
    sandbox: Mapping[str, Any] = field(default_factory=dict)


def _token_without(*missing: str) -> Callable[[Sandbox], dict[str, Any]]:
    def config(sb: Sandbox) -> dict[str, Any]:
        granted = [p for p in {*MESSENGER_PERMISSIONS, *INSTAGRAM_PERMISSIONS} if p not in missing]
        return sb.connector_config(access_token=sb.issue_token(permissions=sorted(granted)))

    return config


def _with(**overrides: Any) -> Callable[[Sandbox], dict[str, Any]]:
    return lambda sb: sb.connector_config(**overrides)


def _without(name: str) -> Callable[[Sandbox], dict[str, Any]]:
    def config(sb: Sandbox) -> dict[str, Any]:
        values = sb.connector_config()
        values.pop(name, None)
        return values

    return config


def _platform(platform: str, base: Callable[[Sandbox], dict[str, Any]]) -> Callable[..., Any]:
    return lambda sb: {**base(sb), "platform": platform}


CHECKS = (
    CheckCase("messenger", _with(platform="messenger"), succeeds=True),
    CheckCase("instagram", _with(platform="instagram"), succeeds=True),
    CheckCase("both", _with(platform="both"), succeeds=True),
    CheckCase(
        "unknown_token",
        _with(access_token="EAAB" + "0" * 60),
        fragments=("190", TOKEN_FIX),
    ),
    CheckCase(
        "instagram_token_without_instagram_manage_messages",
        _platform("instagram", _token_without("instagram_manage_messages")),
        fragments=INSTAGRAM_PERMISSIONS,
    ),
    CheckCase(
        "both_token_without_instagram_manage_messages",
        _platform("both", _token_without("instagram_manage_messages")),
        fragments=("Instagram", "instagram_manage_messages"),
    ),
    CheckCase(
        "messenger_token_without_pages_messaging",
        _platform("messenger", _token_without("pages_messaging")),
        fragments=MESSENGER_PERMISSIONS,
    ),
    CheckCase(
        "wrong_page_id",
        _with(page_id="100000000000001"),
        fragments=("100000000000001", "does not exist", "Page ID"),
    ),
    CheckCase(
        "instagram_without_linked_account",
        _with(platform="instagram"),
        fragments=("no Instagram professional account", "messenger"),
        sandbox={"instagram_linked": False},
    ),
    CheckCase(
        "app_secret_wrong",
        _with(app_secret="not-the-app-secret-0a9f3c"),
        fragments=("appsecret_proof", "App secret"),
        sandbox={"app_secret": APP_SECRET},
    ),
    CheckCase(
        "page_id_with_letters",
        _with(page_id="12ab45"),
        fragments=("page_id", "digits only"),
    ),
    CheckCase(
        "http_base_url_not_loopback",
        _with(base_url="http://graph.example.com"),
        fragments=("base_url", "loopback"),
    ),
    CheckCase(
        "expired_api_version",
        _with(api_version="v20.0"),
        fragments=("answered with Graph API", "not the v20.0", "api_version"),
    ),
    CheckCase(
        "platform_typo",
        _with(platform="mesenger"),
        fragments=("platform", "'messenger'", "'instagram'", "'both'"),
    ),
)


@dataclass
class CheckOutcome:
    """A check's run and the Graph calls it made."""

    run: ConnectorRun
    stats: dict[str, Any]
    config: dict[str, Any]


@pytest.fixture(scope="module")
def check_outcomes(
    start_sandbox: Callable[..., Sandbox], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, CheckOutcome]:
    """Every ``CHECKS`` case run once, each against its own sandbox, several at a time."""
    jobs: dict[str, Callable[[], CheckOutcome]] = {}
    for case in CHECKS:
        sb = start_sandbox(**case.sandbox)
        connector = Connector(tmp_path_factory.mktemp(f"check-{case.name}"))

        def job(case: CheckCase = case, sb: Sandbox = sb, connector: Connector = connector) -> Any:
            config = case.config(sb)
            run = connector.check(config)
            return CheckOutcome(run, sb.stats(), config)

        jobs[case.name] = job
    return run_concurrently(jobs)


@pytest.mark.parametrize("case", [c for c in CHECKS if c.succeeds], ids=lambda c: str(c.name))
def test_given_readable_platforms_when_check_then_succeeded_with_one_call_per_platform(
    case: CheckCase, check_outcomes: Mapping[str, CheckOutcome]
) -> None:
    outcome = check_outcomes[case.name]
    assert outcome.run.returncode == 0, outcome.run.describe()
    assert outcome.run.connection_status["status"] == "SUCCEEDED", outcome.run.describe()
    chosen = PLATFORMS if outcome.config["platform"] == "both" else (outcome.config["platform"],)
    assert outcome.stats["by_route"]["conversations"] == len(chosen)
    assert outcome.stats["by_platform"] == {p: int(p in chosen) for p in PLATFORMS}


@pytest.mark.parametrize("case", [c for c in CHECKS if not c.succeeds], ids=lambda c: str(c.name))
def test_given_bad_config_when_check_then_failed_status_naming_the_fix(
    case: CheckCase, check_outcomes: Mapping[str, CheckOutcome]
) -> None:
    run = check_outcomes[case.name].run
    assert run.returncode == 0, run.describe()
    status = run.connection_status
    assert status["status"] == "FAILED"
    # Presentation (escapes, line breaks) is asserted below; here only what the message says.
    message = readable(status["message"])
    missing = [fragment for fragment in case.fragments if fragment not in message]
    assert not missing, f"{missing} not in the check message: {message!r}"
    assert "Traceback" not in message
    assert [
        e["failure_type"] for e in run.trace_errors if e["failure_type"] != "config_error"
    ] == []


def test_given_failed_checks_when_reading_messages_then_plain_text_without_escapes(
    check_outcomes: Mapping[str, CheckOutcome],
) -> None:
    escaped = {
        name: outcome.run.connection_status["message"]
        for name, outcome in check_outcomes.items()
        if outcome.run.connection_status["status"] == "FAILED"
        and any(escape in outcome.run.connection_status["message"] for escape in ESCAPES)
    }
    assert escaped == {}, "check messages show escape sequences (a repr, not the text)"


def test_given_failed_checks_when_reading_output_then_no_python_traceback(
    check_outcomes: Mapping[str, CheckOutcome],
) -> None:
    with_traceback = [
        name
        for name, outcome in check_outcomes.items()
        if "Traceback" in outcome.run.stdout or "Traceback" in outcome.run.stderr
    ]
    assert with_traceback == []


# ---------------------------------------------------------------------------------- discover
@pytest.fixture(scope="module")
def catalog(discovered: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The discovered streams by name."""
    return {stream["name"]: stream for stream in discovered["streams"]}


def test_given_config_when_discover_then_three_streams(
    catalog: Mapping[str, Mapping[str, Any]],
) -> None:
    assert sorted(catalog) == sorted(STREAMS)


@pytest.mark.parametrize("stream", STREAMS)
def test_given_stream_when_discover_then_incremental_with_source_defined_cursor_and_key(
    catalog: Mapping[str, Mapping[str, Any]], stream: str
) -> None:
    discovered = catalog[stream]
    assert sorted(discovered["supported_sync_modes"]) == ["full_refresh", "incremental"]
    assert discovered["source_defined_cursor"] is True
    assert discovered["default_cursor_field"] == [CURSOR_FIELDS[stream]]
    assert discovered["source_defined_primary_key"] == [["id"]]


@pytest.mark.parametrize("stream", STREAMS)
def test_given_stream_when_discover_then_draft7_schema_declares_added_fields_and_cursor(
    catalog: Mapping[str, Mapping[str, Any]], stream: str
) -> None:
    schema = catalog[stream]["json_schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    properties = schema["properties"]
    added = {"page_id", "platform"} | ({"conversation_id"} if stream != "conversations" else set())
    assert added <= set(properties)
    cursor = properties[CURSOR_FIELDS[stream]]
    assert cursor.get("format") == "date-time", cursor
    assert cursor.get("airbyte_type") == "timestamp_with_timezone", cursor
    assert schema.get("additionalProperties", True) is True


def test_given_discovered_catalog_when_compared_with_shipped_catalogs_then_they_match(
    catalog: Mapping[str, Mapping[str, Any]],
) -> None:
    shipped_dir = Path(__file__).parent
    for name in ("configured_catalog.json", "configured_catalog_incremental.json"):
        shipped = jsonschema_free_streams((shipped_dir / name).read_text())
        for stream in shipped:
            discovered = catalog[stream["name"]]
            assert stream["default_cursor_field"] == discovered["default_cursor_field"]
            assert stream["source_defined_primary_key"] == discovered["source_defined_primary_key"]


def jsonschema_free_streams(text: str) -> list[dict[str, Any]]:
    """The ``stream`` objects of a configured catalog file."""
    return [configured["stream"] for configured in json.loads(text)["streams"]]
