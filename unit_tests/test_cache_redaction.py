"""The CDK's HTTP cache keeps no credential on disk, and the connector reads the same through it.

The cache is a requests-cache SQLite file in the temporary directory the CDK's entrypoint makes;
a killed run leaves it behind. Graph writes the credentials a request carried in its query (the
appsecret_proof; the token too when it came there) into every paging link it answers with,
nested lists' links included. Sessions here are built as ``HttpClient`` builds them, on a file,
after ``cdk_adaptations.install()`` (unit_tests/conftest.py); the transport is a
``requests_mock`` adapter.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import requests_cache
import requests_mock
from airbyte_cdk import entrypoint
from airbyte_cdk.sources.streams.call_rate import APIBudget, CachedLimiterSession
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from source_meta_conversations.cdk_adaptations import CdkAdaptationError
from source_meta_conversations.cdk_adaptations.cache_redaction import (
    REDACT_LINKS,
    keep_no_credential,
    redact_links,
)
from unit_tests.mock_server.config import ACCESS_TOKEN, APP_SECRET, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import ConversationBuilder, message, page
from unit_tests.mock_server.source_runner import ALL_STREAMS, read_streams, records_of

PROOF = hmac.new(APP_SECRET.encode(), ACCESS_TOKEN.encode(), hashlib.sha256).hexdigest()
GRAPH = "https://graph.example/v26.0"
PAGE = f"{GRAPH}/1/conversations?limit=25&appsecret_proof={PROOF}"
SECOND_PAGE = f"{GRAPH}/1/conversations?limit=25&after=QVFIUpage2&appsecret_proof={PROOF}"
# A page as Graph answers a request that carried both credentials in its query.
BODY = json.dumps(
    {
        "data": [
            {
                "id": "t_1",
                "snippet": "my access_token=not-a-link stays",
                "messages": {
                    "data": [
                        {
                            "id": "m_1",
                            "attachments": {
                                "data": [{"id": "a_1"}],
                                "paging": {
                                    "cursors": {"after": "QVFIUatt"},
                                    "next": f"{GRAPH}/m_1/attachments?access_token={ACCESS_TOKEN}"
                                    f"&appsecret_proof={PROOF}&limit=25&after=QVFIUatt",
                                },
                            },
                        }
                    ],
                    "paging": {"cursors": {"after": "QVFIUnested"}},
                },
            }
        ],
        "paging": {
            "cursors": {"before": "QVFIUbefore", "after": "QVFIUpage2"},
            "next": f"{GRAPH}/1/conversations?access_token={ACCESS_TOKEN}&appsecret_proof={PROOF}"
            "&limit=25&after=QVFIUpage2",
            "previous": f"{GRAPH}/1/conversations?appsecret_proof={PROOF}&before=QVFIUbefore",
        },
    }
)


def _files_holding(folder: Path, *secrets: str) -> list[str]:
    """The names of the files under ``folder`` whose bytes hold one of ``secrets``."""
    return sorted(
        path.name
        for path in folder.rglob("*")
        if path.is_file() and any(secret.encode() in path.read_bytes() for secret in secrets)
    )


# ---------------------------------------------------------------------------------- the links
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"paging": {"next": "https://g/1/c?access_token=EAAB&limit=25&after=QV"}}',
            b'{"paging": {"next": "https://g/1/c?access_token=REDACTED&limit=25&after=QV"}}',
        ),
        (
            b'{"paging":{"previous":"https://g/1/c?limit=2&appsecret_proof=ab12#top"}}',
            b'{"paging":{"previous":"https://g/1/c?limit=2&appsecret_proof=REDACTED#top"}}',
        ),
        (
            b'{"next":"https:\\/\\/g\\/1\\/c?access_token=EA\\/AB\\u0026appsecret_proof=ab'
            b'\\u0026after=QV"}',
            b'{"next":"https:\\/\\/g\\/1\\/c?access_token=REDACTED\\u0026appsecret_proof=REDACTED'
            b'\\u0026after=QV"}',
        ),
        (
            b'{"data": [{"a": {"paging": {"next": "https://g/m/a?appsecret_proof=ab12"}}}]}',
            b'{"data": [{"a": {"paging": {"next": "https://g/m/a?appsecret_proof=REDACTED"}}}]}',
        ),
        (
            b'{"data": [], "paging": {"next": "https://g/1/c?access_token=EAAB&aft',
            b'{"data": [], "paging": {"next": "https://g/1/c?access_token=REDACTED&aft',
        ),
        (
            b'{"message": "see https://g/1/c?access_token=EAAB", "next_token": "x"}',
            b'{"message": "see https://g/1/c?access_token=EAAB", "next_token": "x"}',
        ),
        (
            b'{"paging": {"next": "https://g/1/c?my_access_token=EAAB&after=QV"}}',
            b'{"paging": {"next": "https://g/1/c?my_access_token=EAAB&after=QV"}}',
        ),
        (b"<html>Bad Gateway</html>", b"<html>Bad Gateway</html>"),
    ],
    ids=[
        "token_in_next",
        "proof_in_previous_before_a_fragment",
        "json_escaped_slashes_and_ampersands",
        "nested_list_link",
        "body_cut_inside_a_link",
        "message_text_is_not_a_link",
        "another_parameter_ending_alike",
        "not_json",
    ],
)
def test_given_a_body_when_its_links_are_redacted_then_only_credential_values_change(
    body: bytes, expected: bytes
) -> None:
    assert redact_links(body) == expected


def test_given_a_body_without_credentials_when_redacted_then_the_same_bytes() -> None:
    body = b'{"data": [{"id": "t_1"}], "paging": {"next": "https://g/1/c?after=QV"}}'

    assert redact_links(body) is body


# ---------------------------------------------------------------------------------- the session
class Transport:
    """A mock transport that counts calls."""

    def __init__(self) -> None:
        self.adapter = requests_mock.Adapter()
        self.calls = 0

    def answer(self, url: str, body: str) -> None:
        def respond(request: Any, context: Any) -> str:
            self.calls += 1
            return body

        self.adapter.register_uri("GET", url, text=respond, complete_qs=True)


@pytest.fixture
def transport() -> Transport:
    return Transport()


@pytest.fixture
def new_session(tmp_path: Path, transport: Transport) -> Callable[[], CachedLimiterSession]:
    """A reader's cached session on one SQLite file, built as ``HttpClient`` builds it."""
    path = str(tmp_path / "conversations.sqlite")

    def build() -> CachedLimiterSession:
        backend = requests_cache.SQLiteCache(path, fast_save=True, wal=True)
        session = CachedLimiterSession(
            cache_name=path, backend=backend, api_budget=APIBudget(policies=[]), match_headers=True
        )
        session.mount("https://", transport.adapter)
        return session

    return build


def _get(session: CachedLimiterSession, url: str) -> requests.Response:
    return session.get(url, headers={"Authorization": f"OAuth {ACCESS_TOKEN}"})


class TestCachedSession:
    def test_given_a_session_when_built_then_its_cache_ignores_the_proof_and_keeps_the_defaults(
        self, new_session: Callable[[], CachedLimiterSession]
    ) -> None:
        session = new_session()

        keep_no_credential(session)  # again, as for a session built before: nothing twice

        ignored = list(session.settings.ignored_parameters)
        stages = list(session.cache.responses.serializer.stages)  # type: ignore[union-attr]
        assert ignored == [
            "Authorization",
            "Proxy-Authorization",
            "X-API-Key",
            "X-Auth-Token",
            "X-API-Token",
            "X-Access-Token",
            "access_token",
            "api_key",
            "apikey",
            "appsecret_proof",
        ]
        assert [stage is REDACT_LINKS for stage in stages] == [True, False, False]

    def test_given_credentials_in_the_query_and_links_when_cached_then_no_file_holds_them(
        self,
        new_session: Callable[[], CachedLimiterSession],
        transport: Transport,
        tmp_path: Path,
    ) -> None:
        transport.answer(PAGE, BODY)
        session = new_session()  # open, as in a sync that runs or was killed

        _get(session, PAGE)

        assert sorted(path.name for path in tmp_path.iterdir()) == [
            "conversations.sqlite",
            "conversations.sqlite-shm",
            "conversations.sqlite-wal",
        ]
        assert _files_holding(tmp_path, ACCESS_TOKEN, PROOF) == []
        assert _files_holding(tmp_path, "appsecret_proof=REDACTED") == ["conversations.sqlite-wal"]
        session.close()  # the write-ahead log is folded into the database
        assert _files_holding(tmp_path, ACCESS_TOKEN, PROOF) == []
        assert _files_holding(tmp_path, "appsecret_proof=REDACTED") == ["conversations.sqlite"]

    def test_given_a_cached_page_when_read_back_then_the_same_records_cursors_and_next_cursor(
        self, new_session: Callable[[], CachedLimiterSession], transport: Transport
    ) -> None:
        transport.answer(PAGE, BODY)

        fresh = _get(new_session(), PAGE)
        cached = _get(new_session(), PAGE)

        assert transport.calls == 1
        assert getattr(cached, "from_cache", False) is True
        assert fresh.text == BODY  # what the first reader (and the debug log) gets is Graph's
        read_back = cached.json()
        assert read_back["data"][0]["id"] == "t_1"
        assert read_back["data"][0]["snippet"] == "my access_token=not-a-link stays"
        assert read_back["paging"]["cursors"] == {"before": "QVFIUbefore", "after": "QVFIUpage2"}
        assert read_back["paging"]["next"] == (
            f"{GRAPH}/1/conversations?access_token=REDACTED&appsecret_proof=REDACTED"
            "&limit=25&after=QVFIUpage2"
        )
        assert read_back["paging"]["previous"] == (
            f"{GRAPH}/1/conversations?appsecret_proof=REDACTED&before=QVFIUbefore"
        )
        assert read_back["data"][0]["messages"]["data"][0]["attachments"] == {
            "data": [{"id": "a_1"}],
            "paging": {
                "cursors": {"after": "QVFIUatt"},
                "next": f"{GRAPH}/m_1/attachments?access_token=REDACTED"
                "&appsecret_proof=REDACTED&limit=25&after=QVFIUatt",
            },
        }
        assert cached.url == f"{GRAPH}/1/conversations?appsecret_proof=REDACTED&limit=25"

    def test_given_two_pages_when_cached_then_each_has_its_own_key_and_is_read_back(
        self, new_session: Callable[[], CachedLimiterSession], transport: Transport
    ) -> None:
        transport.answer(PAGE, BODY)
        transport.answer(SECOND_PAGE, json.dumps({"data": [{"id": "t_2"}]}))
        session = new_session()
        first, second = (
            session.prepare_request(requests.Request("GET", url)) for url in (PAGE, SECOND_PAGE)
        )

        keys = {session.cache.create_key(first), session.cache.create_key(second)}
        for url in (PAGE, SECOND_PAGE, PAGE, SECOND_PAGE):
            _get(new_session(), url)
        again = [_get(new_session(), url).json()["data"][0]["id"] for url in (PAGE, SECOND_PAGE)]

        assert len(keys) == 2
        assert transport.calls == 2
        assert again == ["t_1", "t_2"]


# ---------------------------------------------------------------------------------- the connector
@pytest.fixture
def kept_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory the CDK's entrypoint makes for a run, kept after it, as a killed
    run leaves it (the cache)."""
    folder = tmp_path / "run"
    folder.mkdir()

    def kept(**_: Any) -> contextlib.AbstractContextManager[str]:
        return contextlib.nullcontext(str(folder))

    monkeypatch.setattr(entrypoint, "tempfile", SimpleNamespace(TemporaryDirectory=kept))
    return folder


def _with_credentials_in_links(response: HttpResponse) -> HttpResponse:
    """The page with both credentials in its links, as Graph writes them when they came in the
    query (the nested messages' link, and the first message's attachments list)."""
    body = json.loads(response.body)
    credentials = f"access_token={ACCESS_TOKEN}&appsecret_proof={PROOF}"
    body["paging"]["next"] += f"&{credentials}"
    first = body["data"][0]["messages"]["data"][0]
    first["attachments"] = {
        "data": [{"id": "a_1", "mime_type": "image/png"}],
        "paging": {"next": f"{GRAPH}/m_1/attachments?{credentials}&after=QVFIUatt"},
    }
    return HttpResponse(json.dumps(body), response.status_code)


class TestConnector:
    def test_given_credentials_in_the_links_when_read_then_every_record_and_no_credential_on_disk(
        self, http_mocker: HttpMocker, kept_run_directory: Path
    ) -> None:
        first_page = RequestBuilder.conversations().with_appsecret_proof(APP_SECRET).build()
        second_page = (
            RequestBuilder.conversations()
            .with_appsecret_proof(APP_SECRET)
            .with_after("QVFIUpage2")
            .build()
        )
        conversation = ConversationBuilder("t_1", 1000).with_messages(
            [message("m_1", 900), message("m_2", 800)]
        )
        http_mocker.get(
            first_page,
            _with_credentials_in_links(page([conversation.build()], next_after="QVFIUpage2")),
        )
        http_mocker.get(
            second_page,
            page([ConversationBuilder("t_2", 10).with_messages([message("m_3", 5)]).build()]),
        )

        output = read_streams(ConfigBuilder().with_app_secret().build(), ALL_STREAMS)

        assert not output.errors
        assert [r["id"] for r in records_of(output, "conversations")] == ["t_1", "t_2"]
        assert [r["id"] for r in records_of(output, "messages")] == ["m_1", "m_2", "m_3"]
        details = records_of(output, "message_details")
        assert [r["id"] for r in details] == ["m_1", "m_2", "m_3"]
        assert details[0]["attachments"] == {"data": [{"id": "a_1", "mime_type": "image/png"}]}
        # Each page once: the children read both from the cache, redacted.
        http_mocker.assert_number_of_calls(first_page, 1)
        http_mocker.assert_number_of_calls(second_page, 1)
        assert "conversations.sqlite" in {path.name for path in kept_run_directory.iterdir()}
        # Nor does the run copy its config there (the CDK's configure would).
        assert _files_holding(kept_run_directory, ACCESS_TOKEN, PROOF) == []
        assert "config.json" not in {path.name for path in kept_run_directory.iterdir()}


def test_given_a_storage_without_a_serializer_pipeline_when_kept_then_refused_by_name(
    new_session: Callable[[], CachedLimiterSession],
) -> None:
    session = new_session()
    session.cache.responses.serializer = None

    with pytest.raises(CdkAdaptationError, match=r"cdk_adaptations/cache_redaction\.py"):
        keep_no_credential(session)
