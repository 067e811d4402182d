"""The token, the app secret and the appsecret_proof are masked as soon as the config is read.

The proof (hex HMAC-SHA256 of the token keyed by the app secret) travels in every request's
query string, and the CDK writes request URLs into its log lines and error traces; it is in no
spec field, so the CDK does not mask it by itself.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets, update_secrets

from source_meta_conversations.credentials import appsecret_proof, config_secrets
from source_meta_conversations.source import SourceMetaConversations
from unit_tests.mock_server.config import ACCESS_TOKEN, APP_SECRET, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import graph_error
from unit_tests.mock_server.source_runner import (
    ALL_STREAMS,
    output_text,
    read_streams,
    run_entrypoint,
)

PROOF = hmac.new(APP_SECRET.encode(), ACCESS_TOKEN.encode(), hashlib.sha256).hexdigest()
SECRETS = {"access token": ACCESS_TOKEN, "app secret": APP_SECRET, "appsecret_proof": PROOF}


@pytest.fixture(autouse=True)
def no_secret_registered() -> None:
    """Each test starts as a fresh process: nothing registered with the CDK's filter."""
    update_secrets([])


def _assert_masked(text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"the {name} leaked"


class TestRegistration:
    def test_given_config_with_app_secret_when_source_built_then_all_three_are_masked(
        self,
    ) -> None:
        SourceMetaConversations(config=ConfigBuilder().with_app_secret().build())

        assert {name: filter_secrets(value) for name, value in SECRETS.items()} == dict.fromkeys(
            SECRETS, "****"
        )

    def test_given_the_manifest_proof_when_computed_here_then_the_same(self) -> None:
        # The proof the requests carry (the manifest's hmac filter, pinned by RequestBuilder).
        request = RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build()

        assert f"appsecret_proof={appsecret_proof(ACCESS_TOKEN, APP_SECRET)}" in str(request)

    @pytest.mark.parametrize(
        ("config", "expected"),
        [
            ({"access_token": ACCESS_TOKEN}, [ACCESS_TOKEN]),
            (
                {"access_token": ACCESS_TOKEN, "app_secret": APP_SECRET},
                [ACCESS_TOKEN, APP_SECRET, PROOF],
            ),
            ({"access_token": ACCESS_TOKEN, "app_secret": ""}, [ACCESS_TOKEN]),
            ({"access_token": 12345, "app_secret": APP_SECRET}, [APP_SECRET]),
            ({}, []),
        ],
        ids=["token_only", "with_app_secret", "empty_app_secret", "token_not_a_string", "empty"],
    )
    def test_given_config_when_listing_secrets_then_token_secret_and_proof(
        self, config: dict[str, object], expected: list[str]
    ) -> None:
        assert config_secrets(config) == expected


class TestMaskedInOutput:
    @pytest.mark.parametrize(
        "failure",
        [
            graph_error(190, subcode=463, message="Error validating access token"),
            graph_error(100, message="Invalid appsecret_proof provided in the API argument"),
            graph_error(12345, message="Something Meta has not documented"),
        ],
        ids=["token-rejected", "appsecret-proof-rejected", "unmapped-error"],
    )
    def test_given_app_secret_when_read_fails_with_debug_logs_then_the_proof_is_masked(
        self,
        http_mocker: HttpMocker,
        capfd: pytest.CaptureFixture[str],
        failure: HttpResponse,
    ) -> None:
        # The CDK's error traces of the failing streams quote the request URL, proof included.
        http_mocker.get(
            RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build(), failure
        )

        output = read_streams(
            ConfigBuilder().with_app_secret().build(),
            ALL_STREAMS,
            expecting_exception=True,
            debug=True,
        )

        assert output.errors
        text = output_text(output)
        assert "appsecret_proof=****" in text
        captured = capfd.readouterr()
        _assert_masked(text)
        _assert_masked(captured.out)
        _assert_masked(captured.err)

    def test_given_rejected_token_when_check_then_the_proof_is_masked(
        self, http_mocker: HttpMocker, capfd: pytest.CaptureFixture[str]
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build(),
            graph_error(190, subcode=463, message="Error validating access token"),
        )

        output = run_entrypoint("check", ConfigBuilder().with_app_secret().build())

        assert output.connection_status_messages
        captured = capfd.readouterr()
        _assert_masked(output_text(output))
        _assert_masked(captured.out)
        _assert_masked(captured.err)
