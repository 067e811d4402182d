"""``check``: one real conversations call per chosen platform, failures that name the fix."""

from __future__ import annotations

import pytest
import requests
import requests_mock
from airbyte_cdk.models import Status
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from unit_tests.mock_server.config import ACCESS_TOKEN, PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import ConversationBuilder, graph_error, page
from unit_tests.mock_server.source_runner import run_entrypoint


def _status(output: EntrypointOutput) -> tuple[Status, str]:
    [message] = output.connection_status_messages
    status = message.connectionStatus
    assert status is not None
    return status.status, " ".join((status.message or "").split())


def _a_page() -> HttpResponse:
    return page([ConversationBuilder("t_1", 100).build()])


class TestCheck:
    def test_given_expired_version_answered_by_an_older_one_when_check_then_failed_naming_the_field(
        self, http_mocker: HttpMocker
    ) -> None:
        # Meta answers a call to an expired version with the oldest one it still serves, and
        # says so only in a header.
        request = RequestBuilder.conversations().with_api_version("v20.0").build()
        answer = page([ConversationBuilder("t_1", 100).build()])
        http_mocker.get(
            request,
            HttpResponse(answer.body, 200, headers={"facebook-api-version": "v24.0"}),
        )

        output = run_entrypoint("check", ConfigBuilder().with_field("api_version", "v20.0").build())

        status, message = _status(output)
        assert status == Status.FAILED
        assert "answered with Graph API v24.0, not the v20.0" in message
        assert '"Graph API version" (api_version)' in message

    def test_given_answer_in_the_version_asked_for_when_check_then_succeeded(
        self, http_mocker: HttpMocker
    ) -> None:
        answer = page([ConversationBuilder("t_1", 100).build()])
        http_mocker.get(
            RequestBuilder.conversations().build(),
            HttpResponse(answer.body, 200, headers={"facebook-api-version": "v26.0"}),
        )

        output = run_entrypoint("check", ConfigBuilder().build())

        assert _status(output)[0] == Status.SUCCEEDED

    def test_given_readable_page_when_check_then_succeeded_with_one_call(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, _a_page())

        output = run_entrypoint("check", ConfigBuilder().build())

        assert _status(output)[0] == Status.SUCCEEDED
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_page_without_conversations_when_check_then_succeeded(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(RequestBuilder.conversations().build(), page([]))

        output = run_entrypoint("check", ConfigBuilder().build())

        assert _status(output)[0] == Status.SUCCEEDED

    def test_given_platform_both_readable_when_check_then_both_platforms_called(
        self, http_mocker: HttpMocker
    ) -> None:
        messenger = RequestBuilder.conversations("messenger").build()
        instagram = RequestBuilder.conversations("instagram").build()
        http_mocker.get(messenger, _a_page())
        http_mocker.get(instagram, _a_page())

        output = run_entrypoint("check", ConfigBuilder().with_platform("both").build())

        assert _status(output)[0] == Status.SUCCEEDED
        http_mocker.assert_number_of_calls(messenger, 1)
        http_mocker.assert_number_of_calls(instagram, 1)

    def test_given_platform_both_and_instagram_lacks_permission_when_check_then_instagram_named(
        self, http_mocker: HttpMocker
    ) -> None:
        messenger = RequestBuilder.conversations("messenger").build()
        http_mocker.get(messenger, _a_page())
        http_mocker.get(
            RequestBuilder.conversations("instagram").build(),
            graph_error(10, message="(#10) Application does not have permission for this action"),
        )

        output = run_entrypoint("check", ConfigBuilder().with_platform("both").build())

        status, text = _status(output)
        assert status == Status.FAILED
        assert text.startswith("Instagram:")
        for permission in ("instagram_basic", "instagram_manage_messages"):
            assert permission in text
        assert "pages_messaging" not in text
        http_mocker.assert_number_of_calls(messenger, 1)

    def test_given_platform_both_and_messenger_lacks_permission_when_check_then_messenger_named(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations("messenger").build(),
            graph_error(10, message="(#10) Application does not have permission for this action"),
        )
        # Messenger is checked first and the check stops there: no Instagram call is mocked.

        output = run_entrypoint("check", ConfigBuilder().with_platform("both").build())

        status, text = _status(output)
        assert status == Status.FAILED
        assert text.startswith("Messenger:")
        for permission in ("pages_read_engagement", "pages_messaging"):
            assert permission in text
        assert "instagram_basic" not in text

    def test_given_instagram_not_linked_when_check_with_both_then_instagram_named(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(RequestBuilder.conversations("messenger").build(), _a_page())
        http_mocker.get(
            RequestBuilder.conversations("instagram").build(),
            graph_error(100, subcode=2534013, message="Page is not linked to an Instagram account"),
        )

        output = run_entrypoint("check", ConfigBuilder().with_platform("both").build())

        status, text = _status(output)
        assert status == Status.FAILED
        assert text.startswith("Instagram:")
        assert "no Instagram professional account linked" in text

    @pytest.mark.parametrize(
        ("subcode", "reason"),
        [(463, "expired"), (467, "invalid"), (492, "no role on the Page")],
        ids=["expired", "invalid", "no-role"],
    )
    def test_given_bad_token_when_check_then_failed_asking_for_a_new_page_token(
        self, http_mocker: HttpMocker, subcode: int, reason: str
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(
            request, graph_error(190, subcode=subcode, message="Error validating access token")
        )

        output = run_entrypoint("check", ConfigBuilder().build())

        status, text = _status(output)
        assert status == Status.FAILED
        assert "generate a new page access token" in text.lower()
        assert reason in text
        assert ACCESS_TOKEN not in text
        http_mocker.assert_number_of_calls(request, 1)

    def test_given_wrong_page_id_when_check_then_failed_naming_page_id(
        self, http_mocker: HttpMocker
    ) -> None:
        http_mocker.get(
            RequestBuilder.conversations().build(),
            graph_error(100, subcode=33, message="Unsupported get request."),
        )

        output = run_entrypoint("check", ConfigBuilder().build())

        status, text = _status(output)
        assert status == Status.FAILED
        assert '"Page ID"' in text
        assert PAGE_ID in text

    @pytest.mark.parametrize(
        "response",
        [
            graph_error(190, subcode=463, message="Error validating access token"),
            graph_error(10, message="(#10) Application does not have permission for this action"),
        ],
        ids=["token", "permission"],
    )
    def test_given_failure_when_check_then_message_is_plain_text_not_a_python_repr(
        self, http_mocker: HttpMocker, response: HttpResponse
    ) -> None:
        # The message is shown as is in Airbyte's UI: no escaped quotes or "\\n" sequences.
        http_mocker.get(RequestBuilder.conversations().build(), response)

        output = run_entrypoint("check", ConfigBuilder().build())

        [message] = output.connection_status_messages
        assert message.connectionStatus is not None
        text = message.connectionStatus.message or ""
        assert "\\" not in text, text


class TestCheckNetwork:
    def test_given_unreachable_host_when_check_then_failed_naming_host_and_cause(self) -> None:
        # HttpMocker cannot raise a connection error; requests_mock can.
        with requests_mock.Mocker() as mocker:
            mocker.get(
                requests_mock.ANY,
                exc=requests.exceptions.ConnectionError(
                    "Failed to establish a new connection: [Errno -2] Name or service not known"
                ),
            )

            output = run_entrypoint("check", ConfigBuilder().build())

        status, text = _status(output)
        assert status == Status.FAILED
        assert "graph.facebook.com" in text
        assert "Name or service not known" in text
        assert ACCESS_TOKEN not in text
