"""A config that breaks the spec fails with a message naming the field and what to put there."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.entrypoint import MetaConversationsEntrypoint
from source_meta_conversations.run import run
from source_meta_conversations.source import SourceMetaConversations
from unit_tests.mock_server.config import ConfigBuilder

LOGGER = logging.getLogger("airbyte")


def _validate(config: dict[str, Any]) -> None:
    spec = SourceMetaConversations().spec(LOGGER)
    MetaConversationsEntrypoint.validate_connection(spec, config)


def _without(key: str) -> dict[str, Any]:
    config = ConfigBuilder().build()
    del config[key]
    return config


def _with(key: str, value: Any) -> dict[str, Any]:
    return ConfigBuilder().with_field(key, value).build()


def _stdout_messages(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


class TestValidateConnection:
    @pytest.mark.parametrize(
        ("config", "expected"),
        [
            (_with("page_id", "kitty-shop"), ['"Page ID" (page_id)', "digits only", "kitty-shop"]),
            (_with("page_id", 104839588217347), ['"Page ID" (page_id)', "string"]),
            (_without("page_id"), ['missing "Page ID" (page_id)']),
            (_without("access_token"), ['missing "Page access token" (access_token)']),
            (_with("platform", "whatsapp"), ['"Platform" (platform)', "'messenger'", "'both'"]),
            (_without("platform"), ['missing "Platform" (platform)']),
            (
                _with("base_url", "http://graph.example.com"),
                ["(base_url)", "loopback", "http://graph.example.com"],
            ),
            (_with("base_url", "http://10.0.0.5:8080"), ["(base_url)", "loopback"]),
            (_with("base_url", "ftp://graph.facebook.com"), ["(base_url)"]),
            (_with("api_version", "26.0"), ['"Graph API version" (api_version)', "like v26.0"]),
            (_with("api_version", "v26"), ["(api_version)", "like v26.0"]),
            (_with("user_id", "ada"), ["(user_id)", "digits only"]),
            (_with("start_date", "2025-01-01"), ["(start_date)", "RFC 3339"]),
            (_with("max_requests_per_second", 0), ["(max_requests_per_second)"]),
            (_with("only_owned_conversations", "yes"), ["(only_owned_conversations)", "boolean"]),
        ],
        ids=[
            "page-id-not-digits",
            "page-id-a-number",
            "page-id-missing",
            "access-token-missing",
            "platform-unknown",
            "platform-missing",
            "base-url-http-remote-host",
            "base-url-http-private-ip",
            "base-url-other-scheme",
            "api-version-without-v",
            "api-version-without-minor",
            "user-id-not-digits",
            "start-date-without-time",
            "max-requests-zero",
            "only-owned-not-boolean",
        ],
    )
    def test_given_invalid_config_when_validated_then_config_error_naming_the_field(
        self, config: dict[str, Any], expected: list[str]
    ) -> None:
        with pytest.raises(AirbyteTracedException) as raised:
            _validate(config)

        assert raised.value.failure_type == FailureType.config_error
        for text in expected:
            assert text in str(raised.value.message)

    @pytest.mark.parametrize(
        ("config", "expected"),
        [
            (_with("page_id", "104839588217347\n"), ['"Page ID" (page_id)', "digits only"]),
            (_with("api_version", "v26.0\n"), ["(api_version)", "like v26.0"]),
            (_with("start_date", "2025-13-01T00:00:00Z"), ["(start_date)", "RFC 3339"]),
            (_with("start_date", "2025-02-30T00:00:00Z"), ["(start_date)", "RFC 3339"]),
            (_with("start_date", "2025-01-01T24:00:00Z"), ["(start_date)", "RFC 3339"]),
            (_with("base_url", "https://graph.facebook.com:99999"), ["(base_url)", "https://"]),
            (_with("base_url", "https://:443"), ["(base_url)"]),
        ],
        ids=[
            "page-id-trailing-newline",
            "api-version-trailing-newline",
            "start-date-month-13",
            "start-date-february-30",
            "start-date-hour-24",
            "base-url-port-out-of-range",
            "base-url-without-host",
        ],
    )
    def test_given_a_value_its_pattern_lets_through_when_validated_then_config_error_naming_it(
        self, config: dict[str, Any], expected: list[str]
    ) -> None:
        # Found by test_fuzz_config.py: each passed the spec and failed later, in a URL or a
        # date parser, with a raw message that named no field.
        with pytest.raises(AirbyteTracedException) as raised:
            _validate(config)

        assert raised.value.failure_type == FailureType.config_error
        for text in expected:
            assert text in str(raised.value.message)

    def test_given_credentials_in_the_base_url_when_validated_then_refused_without_echoing_them(
        self,
    ) -> None:
        with pytest.raises(AirbyteTracedException) as raised:
            _validate(_with("base_url", "https://user:s3cret@graph.facebook.com"))

        assert "(base_url)" in str(raised.value.message)
        assert "user name or password" in str(raised.value.message)
        assert "s3cret" not in str(raised.value.message)

    @pytest.mark.parametrize(
        "config",
        [
            ConfigBuilder().build(),
            _with("base_url", "https://graph.facebook.com"),
            _with("base_url", "https://graph.facebook.com/"),
            _with("base_url", "http://127.0.0.1:8765"),
            _with("base_url", "http://localhost:8765"),
            _with("base_url", "http://[::1]:8765"),
            _with("api_version", "v25.0"),
            _with("platform", "both"),
            _with("start_date", "2025-01-01T00:00:00Z"),
            ConfigBuilder().with_app_secret().with_user_id("5563492337028372").build(),
        ],
        ids=[
            "minimal",
            "https-default",
            "https-trailing-slash",
            "http-loopback-ip",
            "http-localhost",
            "http-ipv6-loopback",
            "older-api-version",
            "both-platforms",
            "start-date",
            "app-secret-and-user-id",
        ],
    )
    def test_given_valid_config_when_validated_then_accepted(self, config: dict[str, Any]) -> None:
        _validate(config)

    def test_given_invalid_secret_when_validated_then_its_value_is_not_echoed(self) -> None:
        too_short = "EAAG-short-ZD"

        with pytest.raises(AirbyteTracedException) as raised:
            _validate(_with("access_token", too_short))

        assert "(access_token)" in str(raised.value.message)
        assert too_short not in str(raised.value.message)


class TestRunCommand:
    @pytest.fixture
    def config_path(self, tmp_path: Path) -> Path:
        return tmp_path / "config.json"

    @pytest.mark.parametrize(
        ("key", "value", "field"),
        [
            ("page_id", "kitty-shop", '"Page ID" (page_id)'),
            ("platform", "whatsapp", '"Platform" (platform)'),
            ("base_url", "http://graph.example.com", "(base_url)"),
            ("api_version", "26.0", "(api_version)"),
        ],
        ids=["page-id", "platform", "base-url", "api-version"],
    )
    def test_given_invalid_config_when_check_then_failed_status_naming_the_field(
        self,
        capsys: pytest.CaptureFixture[str],
        config_path: Path,
        key: str,
        value: str,
        field: str,
    ) -> None:
        config_path.write_text(json.dumps(_with(key, value)))

        run(["check", "--config", str(config_path)])

        stdout = capsys.readouterr().out
        statuses = [m for m in _stdout_messages(stdout) if m["type"] == "CONNECTION_STATUS"]
        assert [status["connectionStatus"]["status"] for status in statuses] == ["FAILED"]
        assert field in statuses[0]["connectionStatus"]["message"]
        assert "Traceback" not in stdout

    def test_given_invalid_config_when_read_then_config_error_naming_the_field(
        self, tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config_path.write_text(json.dumps(_with("page_id", "kitty-shop")))
        catalog_path = tmp_path / "catalog.json"
        catalog_path.write_text(json.dumps({"streams": []}))

        with pytest.raises(SystemExit) as exited:
            run(["read", "--config", str(config_path), "--catalog", str(catalog_path)])

        assert exited.value.code == 1
        traces = [
            message["trace"]["error"]
            for message in _stdout_messages(capsys.readouterr().out)
            if message["type"] == "TRACE"
        ]
        assert [trace["failure_type"] for trace in traces] == ["config_error"]
        assert '"Page ID" (page_id)' in traces[0]["message"]


@pytest.mark.parametrize(
    ("config", "catalog", "named"),
    [
        ("null", json.dumps({"streams": []}), "config"),
        ("{not json", json.dumps({"streams": []}), "config"),
        (json.dumps(ConfigBuilder().build()), "null", "catalog"),
        (
            json.dumps(ConfigBuilder().build()),
            json.dumps({"streams": [{"sync_mode": 1}]}),
            "catalog",
        ),
    ],
    ids=["config-null", "config-not-json", "catalog-null", "catalog-not-a-catalog"],
)
def test_given_a_file_that_is_not_a_config_or_catalog_when_read_then_one_config_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, catalog: str, named: str
) -> None:
    # Found by test_fuzz_catalog_state.py: the CDK's reader raised, and run() let a traceback out.
    paths = {"config": tmp_path / "config.json", "catalog": tmp_path / "catalog.json"}
    paths["config"].write_text(config)
    paths["catalog"].write_text(catalog)

    with pytest.raises(SystemExit) as exited:
        run(["read", "--config", str(paths["config"]), "--catalog", str(paths["catalog"])])

    captured = capsys.readouterr()
    traces = [m["trace"]["error"] for m in _stdout_messages(captured.out) if m["type"] == "TRACE"]
    assert exited.value.code == 1
    assert [trace["failure_type"] for trace in traces] == ["config_error"]
    assert str(paths[named]) in traces[0]["message"]
    assert "Traceback" not in captured.err


@pytest.mark.slow
def test_given_invalid_config_when_read_as_a_process_then_one_trace_naming_the_field(
    tmp_path: Path,
) -> None:
    """What the platform sees: a TRACE error naming the field, exit code 1, no traceback text."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(_with("page_id", "kitty-shop")))
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps({"streams": []}))

    completed = subprocess.run(  # noqa: S603  # our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "source_meta_conversations.run",
            "read",
            "--config",
            str(config_path),
            "--catalog",
            str(catalog_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    messages = _stdout_messages(completed.stdout)
    traces = [message["trace"]["error"] for message in messages if message["type"] == "TRACE"]
    logs = [message["log"]["message"] for message in messages if message["type"] == "LOG"]
    assert completed.returncode == 1
    assert [trace["failure_type"] for trace in traces] == ["config_error"]
    assert '"Page ID" (page_id)' in traces[0]["message"]
    assert "Traceback" not in completed.stderr
    # The trace's stack_trace field is the protocol's place for it; a log line is what the
    # user reads.
    assert not [log for log in logs if "Traceback (most recent call last)" in log]
