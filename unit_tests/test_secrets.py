"""The access token and the app secret never appear in anything the connector outputs.

Each test collects everything a run emits: the Airbyte messages (records, logs, traces, statuses,
with their stack traces) and whatever reached the process's stdout and stderr, with the CDK's
debug logging on (it logs requests, headers and response bodies).
"""

from __future__ import annotations

import json

import pytest
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from unit_tests.mock_server.config import ACCESS_TOKEN, APP_SECRET, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_error,
    message,
    page,
)
from unit_tests.mock_server.source_runner import (
    ALL_STREAMS,
    output_text,
    read_streams,
    records_of,
    run_entrypoint,
)

SECRETS = {"access token": ACCESS_TOKEN, "app secret": APP_SECRET}


def _assert_no_secret(text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"the {name} leaked"


def _with_token_in_next(response: HttpResponse) -> HttpResponse:
    """The page with ``access_token=<token>`` in its next URLs, as Graph writes them when the
    token came as a query parameter."""
    body = json.loads(response.body)
    if "next" in body.get("paging", {}):
        body["paging"]["next"] += f"&access_token={ACCESS_TOKEN}"
    for conversation in body.get("data", []):
        nested = conversation.get("messages", {}).get("paging", {})
        if "next" in nested:
            nested["next"] += f"&access_token={ACCESS_TOKEN}"
    return HttpResponse(json.dumps(body), response.status_code)


class TestSecretsStayOut:
    def test_given_app_secret_when_read_succeeds_with_debug_logs_then_no_secret_in_output(
        self, http_mocker: HttpMocker, capfd: pytest.CaptureFixture[str]
    ) -> None:
        newest = [message(f"m{i:02d}", 1000 - i) for i in range(20)]
        conversation = ConversationBuilder("t_1", 1000).with_messages(
            newest, more_after="QVFIUnested"
        )
        http_mocker.get(
            RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build(),
            _with_token_in_next(page([conversation.build()], next_after="QVFIUpage2")),
        )
        http_mocker.get(
            RequestBuilder.conversations()
            .with_appsecret_proof(APP_SECRET)
            .with_after("QVFIUpage2")
            .build(),
            page([ConversationBuilder("t_2", 10).with_messages([message("x", 10)]).build()]),
        )
        http_mocker.get(
            RequestBuilder.conversation_messages("t_1")
            .with_appsecret_proof(APP_SECRET)
            .with_after("QVFIUnested")
            .build(),
            page([message("m_old", 1, details=False)], resource="t_1/messages"),
        )

        output = read_streams(ConfigBuilder().with_app_secret().build(), ALL_STREAMS, debug=True)

        assert not output.errors
        assert len(records_of(output, "messages")) == 22
        captured = capfd.readouterr()
        _assert_no_secret(output_text(output))
        _assert_no_secret(captured.out)
        _assert_no_secret(captured.err)

    def test_given_edge_fails_after_pages_carrying_the_token_when_read_then_no_secret_in_output(
        self, http_mocker: HttpMocker, capfd: pytest.CaptureFixture[str]
    ) -> None:
        newest = [message(f"m{i:02d}", 1000 - i) for i in range(20)]
        conversation = ConversationBuilder("t_1", 1000).with_messages(
            newest, more_after="QVFIUnested"
        )
        http_mocker.get(
            RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build(),
            _with_token_in_next(page([conversation.build()])),
        )
        http_mocker.get(
            RequestBuilder.conversation_messages("t_1")
            .with_appsecret_proof(APP_SECRET)
            .with_after("QVFIUnested")
            .build(),
            graph_error(12345, message="Something Meta has not documented"),
        )

        output = read_streams(
            ConfigBuilder().with_app_secret().build(),
            ALL_STREAMS,
            expecting_exception=True,
            debug=True,
        )

        assert output.errors
        captured = capfd.readouterr()
        _assert_no_secret(output_text(output))
        _assert_no_secret(captured.out)
        _assert_no_secret(captured.err)

    def test_given_rejected_token_when_check_then_no_secret_in_output(
        self, http_mocker: HttpMocker, capfd: pytest.CaptureFixture[str]
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build(),
            graph_error(190, subcode=463, message="Error validating access token"),
        )

        output = run_entrypoint("check", ConfigBuilder().with_app_secret().build())

        assert output.connection_status_messages
        captured = capfd.readouterr()
        _assert_no_secret(output_text(output))
        _assert_no_secret(captured.out)
        _assert_no_secret(captured.err)
