"""No call hangs a sync, and the token only ever goes to the configured host.

Every call carries the manifest's connect and read timeouts; a call that times out is retried
like a 5xx, and one that keeps timing out ends the sync with a transient error that says so
(without the URL requests writes into its exceptions). The next page is asked for with the
``after`` cursor, on the configured host: a ``paging.next`` URL pointing elsewhere (or carrying
an ``access_token``, as Meta's do when the token was in the query) is never followed.

HttpMocker can neither raise a timeout nor show a request's timeout, so these tests use
``requests_mock`` directly, as the network test of ``check`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_mock
from airbyte_cdk.models import FailureType

from source_meta_conversations.sync.waits import SYNC_WAITS
from unit_tests.mock_server.config import (
    ACCESS_TOKEN,
    API_VERSION,
    BASE_URL,
    PAGE_ID,
    ConfigBuilder,
)
from unit_tests.mock_server.response_builder import ConversationBuilder, message
from unit_tests.mock_server.source_runner import (
    ALL_STREAMS,
    read_streams,
    records_of,
    stream_error,
)

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 90
MAX_RETRIES = 8  # the manifest's definitions.max_retries
CONVERSATIONS_URL = f"{BASE_URL}/{API_VERSION}/{PAGE_ID}/conversations"
ELSEWHERE = "https://graph.elsewhere.example"

Answer = Callable[[Any, Any], str]


@pytest.fixture
def graph() -> Iterator[requests_mock.Mocker]:
    """The network: Graph's conversations edge and a messages edge; any other host recorded."""
    with requests_mock.Mocker() as mocker:
        mocker.get(requests_mock.ANY, status_code=599, text="not Graph")  # matched last
        yield mocker


def _body(records: list[dict[str, Any]], paging: dict[str, Any]) -> str:
    return json.dumps({"data": records, "paging": paging})


def _conversation(conversation_id: str, second: int, **kwargs: Any) -> dict[str, Any]:
    return (
        ConversationBuilder(conversation_id, second)
        .with_messages(
            [message(f"{conversation_id}_m{i:02d}", second - i) for i in range(20)], **kwargs
        )
        .build()
    )


def _by_after(pages: dict[str | None, str]) -> Answer:
    """Answer each request with the page of its ``after`` parameter."""

    def answer(request: Any, context: Any) -> str:
        after = parse_qs(urlsplit(request.url).query).get("after", [None])[0]
        context.status_code = 200
        return pages[after]

    return answer


class TestTimeouts:
    def test_given_a_read_of_three_streams_when_calls_are_made_then_each_has_both_timeouts(
        self, graph: requests_mock.Mocker
    ) -> None:
        graph.get(
            CONVERSATIONS_URL,
            text=_body([_conversation("t_1", 1000, more_after="QVFIUn")], {"cursors": {}}),
        )
        graph.get(
            f"{BASE_URL}/{API_VERSION}/t_1/messages",
            text=_body([message("t_1_m20", 900, details=False)], {"cursors": {"after": "e"}}),
        )

        output = read_streams(ConfigBuilder().build(), ALL_STREAMS)

        assert not output.errors
        paths = {urlsplit(r.url).path for r in graph.request_history}
        assert paths == {f"/{API_VERSION}/{PAGE_ID}/conversations", f"/{API_VERSION}/t_1/messages"}
        assert {r.timeout for r in graph.request_history} == {
            (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
        }

    @pytest.mark.parametrize(
        "failure",
        [requests.ReadTimeout("Read timed out."), requests.ConnectTimeout("Connect timed out.")],
        ids=["read_timeout", "connect_timeout"],
    )
    def test_given_a_call_times_out_once_when_read_then_asked_again_and_every_record(
        self, graph: requests_mock.Mocker, failure: Exception
    ) -> None:
        good = _body([_conversation("t_1", 1000)], {"cursors": {"after": "x"}})
        graph.get(CONVERSATIONS_URL, [{"exc": failure}, {"text": good}])

        output = read_streams(ConfigBuilder().build(), ["conversations"])

        assert not output.errors
        assert [r["id"] for r in records_of(output, "conversations")] == ["t_1"]
        assert graph.call_count == 2
        assert SYNC_WAITS.waited > 0, "the retry's backoff counts against max_wait_minutes"

    # What requests raises (its texts): a host that never accepts the connection, and one that
    # accepts it but never sends a byte of its answer (the sandbox's ``hang@always``).
    @pytest.mark.parametrize(
        ("failure", "meaning"),
        [
            (
                requests.ConnectTimeout(
                    "HTTPSConnectionPool(host='graph.facebook.com', port=443): Max retries "
                    f"exceeded with url: /{API_VERSION}/{PAGE_ID}/conversations?platform="
                    "messenger (Caused by ConnectTimeoutError('Connection to graph.facebook.com "
                    "timed out.'))"
                ),
                "last failure: Meta's server did not accept the connection in time",
            ),
            (
                requests.ReadTimeout(
                    "HTTPSConnectionPool(host='graph.facebook.com', port=443): Read timed out. "
                    "(read timeout=90)"
                ),
                "last failure: Meta's server sent nothing for longer than the read timeout",
            ),
        ],
        ids=["never_accepts", "never_answers"],
    )
    def test_given_a_host_that_never_answers_when_read_then_transient_error_without_url(
        self, graph: requests_mock.Mocker, failure: Exception, meaning: str
    ) -> None:
        graph.get(CONVERSATIONS_URL, exc=failure)

        output = read_streams(ConfigBuilder().build(), ["conversations"], expecting_exception=True)

        error = stream_error(output, "conversations")
        assert error.failure_type == FailureType.transient_error
        assert f"after {MAX_RETRIES} retries" in error.message
        assert meaning in error.message
        assert "graph.facebook.com" not in error.message
        assert "/conversations" not in error.message
        assert graph.call_count == MAX_RETRIES + 1


class TestTokenStaysOnTheConfiguredHost:
    @pytest.mark.parametrize(
        "second_page_paging",
        [
            {
                "cursors": {"before": "b", "after": "QVFIUpage2"},
                "next": f"{ELSEWHERE}/{API_VERSION}/{PAGE_ID}/conversations"
                f"?access_token={ACCESS_TOKEN}&limit=25&after=QVFIUpage2",
            },
            {  # an empty page may come without cursors: the cursor is read from `next`
                "next": f"{ELSEWHERE}/{API_VERSION}/{PAGE_ID}/conversations"
                f"?access_token={ACCESS_TOKEN}&limit=25&after=QVFIUpage2",
            },
        ],
        ids=["next_elsewhere_with_cursors", "next_elsewhere_without_cursors"],
    )
    def test_given_next_pointing_to_another_host_when_paging_then_the_configured_host_is_asked(
        self, graph: requests_mock.Mocker, second_page_paging: dict[str, Any]
    ) -> None:
        first_records = [_conversation("t_1", 1000)] if "cursors" in second_page_paging else []
        nested_elsewhere = _conversation("t_2", 900, more_after="QVFIUnested")
        nested_elsewhere["messages"]["paging"]["next"] = (
            f"{ELSEWHERE}/{API_VERSION}/t_2/messages?access_token={ACCESS_TOKEN}&after=QVFIUnested"
        )
        graph.get(
            CONVERSATIONS_URL,
            text=_by_after(
                {
                    None: _body(first_records, second_page_paging),
                    "QVFIUpage2": _body([nested_elsewhere], {"cursors": {"after": "last"}}),
                }
            ),
        )
        graph.get(
            f"{BASE_URL}/{API_VERSION}/t_2/messages",
            text=_body([message("t_2_m20", 800, details=False)], {"cursors": {"after": "e"}}),
        )

        output = read_streams(ConfigBuilder().build(), ALL_STREAMS)

        assert not output.errors
        assert "t_2" in [r["id"] for r in records_of(output, "conversations")]
        hosts = {urlsplit(r.url).netloc for r in graph.request_history}
        assert hosts == {urlsplit(BASE_URL).netloc}
        for sent in graph.request_history:
            assert "access_token" not in parse_qs(urlsplit(sent.url).query)
            assert sent.headers["Authorization"] == f"OAuth {ACCESS_TOKEN}"
        afters = [parse_qs(urlsplit(r.url).query).get("after") for r in graph.request_history]
        assert ["QVFIUpage2"] in afters
        assert ["QVFIUnested"] in afters  # the nested page's cursor, asked of the configured host
