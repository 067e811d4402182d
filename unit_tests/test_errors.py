"""The Graph error table (manifest ``definitions.error_filters``), family by family.

Each failure is asserted on the stream's own error (type and message) and on the number of calls:
a FAIL is not retried, a RETRY is retried until it succeeds or the retries run out.
"""

from __future__ import annotations

import json

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from unit_tests.mock_server.config import APP_SECRET, PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_error,
    message,
    not_json,
    page,
)
from unit_tests.mock_server.sleeps import Sleeps
from unit_tests.mock_server.source_runner import read_streams, records_of, stream_error

STREAM = "conversations"
# Retries of a retryable error before the sync ends with a transient error (manifest:
# definitions.max_retries).
MAX_RETRIES = 8

MESSENGER_PERMISSIONS = ["pages_manage_metadata", "pages_read_engagement", "pages_messaging"]
INSTAGRAM_PERMISSIONS = ["instagram_basic", "instagram_manage_messages", "pages_manage_metadata"]


def _one_line(text: str) -> str:
    """The message with its whitespace collapsed (its line breaks have their own test)."""
    return " ".join(text.split())


def _a_page() -> HttpResponse:
    return page([ConversationBuilder("t_1", 100).with_messages([message("m_1", 100)]).build()])


class TestFailingErrors:
    @pytest.mark.parametrize(
        ("code", "subcode", "reason"),
        [
            (190, 458, "not installed"),
            (190, 459, "checkpointed"),
            (190, 460, "password"),
            (190, 463, "expired"),
            (190, 464, "not confirmed"),
            (190, 467, "invalid"),
            (190, 492, "no role on the Page"),
            (190, None, "invalid"),
            (102, None, "invalid"),
        ],
        ids=[
            "190-458-app-not-installed",
            "190-459-checkpointed",
            "190-460-password-changed",
            "190-463-expired",
            "190-464-unconfirmed",
            "190-467-invalid",
            "190-492-no-role-on-page",
            "190-without-subcode",
            "102-session",
        ],
    )
    def test_given_token_error_when_read_then_config_error_asking_for_a_new_page_token(
        self, http_mocker: HttpMocker, code: int, subcode: int | None, reason: str
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(
            request, graph_error(code, subcode=subcode, message="Error validating access token")
        )

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        text = _one_line(error.message)
        assert error.failure_type == FailureType.config_error
        assert "generate a new page access token" in text.lower()
        assert reason in text
        assert PAGE_ID in text
        http_mocker.assert_number_of_calls(request, 1)

    @pytest.mark.parametrize(
        ("code", "subcode"),
        [(10, None), (200, None), (200, 2534041), (230, None), (3, None), (299, None)],
        ids=["10", "200", "200-2534041-owner-disabled", "230", "3", "299-end-of-range"],
    )
    @pytest.mark.parametrize(
        ("platform", "needed", "not_needed"),
        [
            ("messenger", MESSENGER_PERMISSIONS, ["instagram_basic", "instagram_manage_messages"]),
            ("instagram", INSTAGRAM_PERMISSIONS, ["pages_read_engagement", "pages_messaging"]),
        ],
        ids=["messenger", "instagram"],
    )
    def test_given_permission_error_when_read_then_config_error_naming_the_platform_permissions(
        self,
        http_mocker: HttpMocker,
        code: int,
        subcode: int | None,
        platform: str,
        needed: list[str],
        not_needed: list[str],
    ) -> None:
        request = RequestBuilder.conversations(platform).build()
        http_mocker.get(
            request,
            graph_error(code, subcode=subcode, message="(#10) Requires pages_messaging permission"),
        )

        output = read_streams(
            ConfigBuilder().with_platform(platform).build(), [STREAM], expecting_exception=True
        )

        error = stream_error(output, STREAM)
        text = _one_line(error.message)
        assert error.failure_type == FailureType.config_error
        for permission in needed:
            assert permission in text
        for permission in not_needed:
            assert permission not in text.replace("(#10) Requires pages_messaging", "")
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_page_object_does_not_exist_when_read_then_config_error_naming_page_id(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(
            request,
            graph_error(
                100,
                subcode=33,
                message=(
                    f"Unsupported get request. Object with ID '{PAGE_ID}' does not exist, cannot "
                    "be loaded due to missing permissions, or does not support this operation."
                ),
                error_type="GraphMethodException",
            ),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        text = _one_line(error.message)
        assert error.failure_type == FailureType.config_error
        assert '"Page ID"' in text
        assert PAGE_ID in text
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_page_without_instagram_account_when_read_then_config_error(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations("instagram").build()
        http_mocker.get(
            request,
            graph_error(100, subcode=2534013, message="Page is not linked to an Instagram account"),
        )

        output = read_streams(
            ConfigBuilder().with_platform("instagram").build(), [STREAM], expecting_exception=True
        )

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.config_error
        assert "no Instagram professional account linked" in _one_line(error.message)
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_unknown_field_when_read_then_config_error_naming_the_field(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(
            request,
            graph_error(
                100,
                message=(
                    "(#100) Tried accessing nonexisting field (wallpaper) on node type "
                    "(Conversation)"
                ),
            ),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        text = _one_line(error.message)
        assert error.failure_type == FailureType.config_error
        assert "(wallpaper)" in text
        assert "Graph API version" in text
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_wrong_appsecret_proof_when_read_then_config_error_naming_app_secret(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build()
        http_mocker.get(
            request,
            graph_error(100, message="Invalid appsecret_proof provided in the API argument"),
        )

        output = read_streams(
            ConfigBuilder().with_app_secret().build(), [STREAM], expecting_exception=True
        )

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.config_error
        assert '"App secret"' in _one_line(error.message)
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_code_104_when_read_then_config_error_naming_the_token_field(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, graph_error(104, message="An access token is required"))

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.config_error
        assert '"Page access token"' in _one_line(error.message)
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_cursor_past_the_limit_when_read_then_transient_error(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().build(),
            page([ConversationBuilder("t_1", 100).build()], next_after="QVFIUdeep"),
        )
        deep = RequestBuilder.conversations().with_after("QVFIUdeep").build()
        http_mocker.get(
            deep,
            graph_error(
                100,
                message=(
                    "(#100) The After Cursor specified exceeds the max limit supported by this "
                    "endpoint"
                ),
            ),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error
        assert "Run the sync again" in _one_line(error.message)
        http_mocker.assert_number_of_calls(deep, 1)

    @pytest.mark.parametrize(
        ("code", "subcode", "graph_message"),
        [
            (2500, None, "An active access token must be used to query information"),
            (12345, 678, "Something Meta has not documented"),
        ],
        ids=["2500-parse-error", "undocumented-code"],
    )
    def test_given_unmapped_graph_error_when_read_then_system_error_with_code_and_message(
        self,
        http_mocker: HttpMocker,
        code: int,
        subcode: int | None,
        graph_message: str,
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, graph_error(code, subcode=subcode, message=graph_message))

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        text = _one_line(error.message)
        assert error.failure_type == FailureType.system_error
        assert str(code) in text
        assert graph_message in text
        assert "AbCdEf123" in text  # fbtrace_id, what Meta's support asks for
        http_mocker.assert_number_of_calls(request, 1)

    @pytest.mark.parametrize(
        "response",
        [
            graph_error(190, subcode=463, message="Error validating access token"),
            graph_error(10, message="(#10) Requires pages_messaging permission"),
            graph_error(100, subcode=33, message="Object does not exist"),
            graph_error(
                100, message="(#100) Tried accessing nonexisting field (x) on node type (y)"
            ),
            graph_error(12345, message="Something Meta has not documented"),
        ],
        ids=["token", "permission", "page-not-found", "unknown-field", "unmapped"],
    )
    def test_given_failing_error_when_read_then_message_is_one_line(
        self, http_mocker: HttpMocker, response: HttpResponse
    ) -> None:
        # The message is shown as is in Airbyte's UI; a line break inside a sentence (YAML
        # folding around a Jinja block) splits "Page access token" in two.
        http_mocker.get(RequestBuilder.conversations().build(), response)

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert "\n" not in error.message.strip(), repr(error.message)


class TestRetriedErrors:
    @pytest.mark.parametrize(
        "first_answer",
        [
            graph_error(2, message="Service temporarily unavailable", status=503, transient=True),
            graph_error(2, message="Service temporarily unavailable", status=400),
            graph_error(1, message="An unknown error occurred", status=500),
            graph_error(1200, message="Temporary issue", status=400, transient=True),
            graph_error(368, message="Temporarily blocked for policies violations", status=400),
            not_json(502),
        ],
        ids=[
            "code-2-transient",
            "code-2-on-http-400",
            "code-1-unknown",
            "is-transient-flag",
            "code-368-temporarily-blocked",
            "html-bad-gateway",
        ],
    )
    def test_given_transient_error_then_success_when_read_then_retried_and_complete(
        self, http_mocker: HttpMocker, sleeps: Sleeps, first_answer: HttpResponse
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, [first_answer, _a_page()])

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert [record["id"] for record in records_of(output, STREAM)] == ["t_1"]
        http_mocker.assert_number_of_calls(request, 2)
        assert sleeps.waits, "a retry must back off"

    @pytest.mark.parametrize(
        "code", [4, 17, 32, 613, 80001, 80002, 80006], ids=lambda code: f"code-{code}"
    )
    def test_given_rate_limit_code_then_success_when_read_then_waits_and_retries(
        self, http_mocker: HttpMocker, sleeps: Sleeps, code: int
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(
            request,
            [
                graph_error(code, message="(#4) Application request limit reached", status=403),
                _a_page(),
            ],
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 1
        http_mocker.assert_number_of_calls(request, 2)
        assert sleeps.waits

    def test_given_throttled_with_usage_header_when_read_then_waits_as_long_as_meta_says(
        self, http_mocker: HttpMocker, sleeps: Sleeps
    ) -> None:
        usage = {
            PAGE_ID: [
                {
                    "type": "messenger",
                    "call_count": 100,
                    "total_cputime": 20,
                    "total_time": 20,
                    "estimated_time_to_regain_access": 3,
                }
            ]
        }
        request = RequestBuilder.conversations().build()
        http_mocker.get(
            request,
            [
                graph_error(
                    80006,
                    message="There have been too many messenger api calls to this Page",
                    headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
                ),
                _a_page(),
            ],
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert any(wait >= 180 for wait in sleeps.waits), sleeps.waits
        http_mocker.assert_number_of_calls(request, 2)

    def test_given_reduce_the_amount_of_data_when_read_then_retried_with_a_smaller_page(
        self, http_mocker: HttpMocker
    ) -> None:
        # Registered first, matched last: any conversations request other than the full-size one.
        smaller = RequestBuilder.conversations().with_any_query().build()
        http_mocker.get(smaller, _a_page())
        full_size = RequestBuilder.conversations().build()
        http_mocker.get(
            full_size,
            graph_error(
                1,
                message=(
                    "Please reduce the amount of data you're asking for, then retry your request"
                ),
                status=500,
            ),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert [record["id"] for record in records_of(output, STREAM)] == ["t_1"]
        http_mocker.assert_number_of_calls(full_size, 1)
        http_mocker.assert_number_of_calls(smaller, 1)

    @pytest.mark.parametrize("status", [400, 500, 503], ids=lambda status: f"http-{status}")
    def test_given_code_2_on_every_attempt_when_read_then_transient_error_after_the_retries(
        self, http_mocker: HttpMocker, status: int
    ) -> None:
        # The table decides on error.code, not on the HTTP status: code 2 is transient whatever
        # status it came with.
        request = RequestBuilder.conversations().build()
        http_mocker.get(
            request,
            graph_error(
                2, message="Service temporarily unavailable", status=status, transient=True
            ),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        http_mocker.assert_number_of_calls(request, MAX_RETRIES + 1)
        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error, error.message

    def test_given_code_368_on_every_attempt_when_read_then_fails_after_long_waits(
        self, http_mocker: HttpMocker, sleeps: Sleeps
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(
            request,
            graph_error(368, message="Temporarily blocked for policies violations", status=400),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        http_mocker.assert_number_of_calls(request, MAX_RETRIES + 1)
        assert sleeps.total >= 60, sleeps.waits
        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error, error.message

    def test_given_not_json_on_every_attempt_when_read_then_transient_error(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, not_json(502))

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error, error.message
        http_mocker.assert_number_of_calls(request, MAX_RETRIES + 1)

    def test_given_html_on_http_200_every_time_when_read_then_transient_error_not_an_early_end(
        self, http_mocker: HttpMocker
    ) -> None:
        # A 200 whose body is not a Graph list is asked for again like a 5xx (the cases are in
        # test_faults_broken_body); one that stays broken ends the sync, not the list early.
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, not_json(200, "<html>oops</html>"))

        output = read_streams(ConfigBuilder().build(), [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error
        assert "HTTP 200 with a body that is not JSON" in error.message
        assert records_of(output, STREAM) == []
        http_mocker.assert_number_of_calls(request, MAX_RETRIES + 1)


class TestIgnoredErrors:
    def test_given_message_gone_on_a_conversations_page_when_read_then_sync_goes_on(
        self, http_mocker: HttpMocker
    ) -> None:
        first = RequestBuilder.conversations().build()
        http_mocker.get(
            first,
            graph_error(
                9000001, message="This Message has been deleted by the user or the business."
            ),
        )

        output = read_streams(ConfigBuilder().build(), [STREAM])

        assert not output.errors
        assert records_of(output, STREAM) == []
        http_mocker.assert_number_of_calls(first, 1)
