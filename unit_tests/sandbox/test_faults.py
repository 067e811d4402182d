"""Fault profiles: each serves what Meta serves now and then, deterministically for a seed."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from meta_graph_sandbox import Sandbox, SandboxOptions
from meta_graph_sandbox.auth import appsecret_proof
from unit_tests.sandbox.client import DETAIL_FIELDS, GraphClient, error_of


def _statuses(client: GraphClient, count: int) -> list[int]:
    return [client.get("me").status_code for _ in range(count)]


class TestTransient:
    def test_given_transient_100_when_calling_then_code_2_is_transient_http_5xx(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("transient:100",))

        responses = [client.conversations() for _ in range(12)]

        for response in responses:
            assert response.status_code in (500, 503)
            error = error_of(response)
            assert error["code"] == 2
            assert error["is_transient"] is True
            assert error["type"] == "OAuthException"
        assert {r.status_code for r in responses} == {500, 503}
        stats = client.sandbox.stats()
        assert stats["faults"] == {"transient": 12}
        assert stats["errors"] == {"2": 12}

    def test_given_same_seed_when_calling_then_same_fault_sequence(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        first = _statuses(make_client(faults=("transient:30",), seed=11), 40)
        second = _statuses(make_client(faults=("transient:30",), seed=11), 40)
        other = _statuses(make_client(faults=("transient:30",), seed=12), 40)

        assert first == second
        assert first != other
        assert 200 in first
        assert any(status >= 500 for status in first)


class TestReduceData:
    def test_given_reduce_data_when_answer_too_big_then_bare_500_and_smaller_request_works(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("reduce-data:100",))
        nested = f"id,messages.limit(20){{{DETAIL_FIELDS}}}"

        too_big = client.conversations(limit=25, fields=nested)
        smaller = client.conversations(limit=4, fields=nested)

        assert too_big.status_code == 500
        assert too_big.json() == {
            "error": {
                "code": 1,
                "message": (
                    "Please reduce the amount of data you're asking for, then retry your request"
                ),
            }
        }
        assert smaller.status_code == 200
        assert client.sandbox.stats()["faults"] == {"reduce-data": 1}


class TestRateLimitStorm:
    def test_given_storm_when_calling_then_consecutive_throttles_with_full_usage_headers(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("rate-limit-storm:3",))

        responses = [client.get("me") for _ in range(15)]

        failed = [i for i, r in enumerate(responses) if r.status_code != 200]
        assert len(failed) == 3
        assert failed == list(range(failed[0], failed[0] + 3))
        for index in failed:
            response = responses[index]
            error = error_of(response)
            assert error["code"] in (4, 17, 32, 613, 80001)
            buc = json.loads(response.headers["X-Business-Use-Case-Usage"])
            (usage,) = buc[client.sandbox.page_id]
            assert usage["call_count"] == usage["total_time"] == usage["total_cputime"] == 100
            assert usage["estimated_time_to_regain_access"] == 0
            assert json.loads(response.headers["X-App-Usage"])["call_count"] == 100
        assert client.sandbox.stats()["faults"] == {"rate-limit-storm": 3}


class TestTransportFaults:
    def test_given_slow_when_client_timeout_shorter_then_timeouts_match_slow_faults(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("slow:400",))
        timeouts = 0
        for _ in range(30):
            try:
                client.get("me", timeout=0.2)
            except requests.exceptions.ReadTimeout:
                timeouts += 1

        assert timeouts > 0
        assert client.sandbox.stats()["faults"]["slow"] == timeouts

    def test_given_slow_when_waiting_then_answer_arrives_late_but_whole(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("slow:250",))
        durations = []
        for _ in range(40):
            started = time.perf_counter()
            assert client.get("me").status_code == 200
            durations.append(time.perf_counter() - started)

        slow = [d for d in durations if d >= 0.25]
        assert len(slow) == client.sandbox.stats()["faults"]["slow"] > 0

    def test_given_malformed_when_calling_then_200_with_truncated_or_non_json_body(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("malformed:100",))
        bodies = []
        for _ in range(8):
            response = client.conversations()
            assert response.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.text)
            bodies.append(response.text)

        assert any(body.startswith("<!DOCTYPE html>") for body in bodies)
        assert any(body.startswith('{"data"') for body in bodies)
        assert client.sandbox.stats()["faults"] == {"malformed": 8}

    def test_given_reset_when_calling_then_connection_dropped_mid_body(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("reset:100",))

        for _ in range(3):
            with pytest.raises(
                (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
            ):
                client.conversations()

        assert client.sandbox.stats()["faults"] == {"reset": 3}

    def test_given_every_fault_on_when_calling_admin_routes_then_never_faulted(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("transient:100,reset:100,malformed:100,token-expiry:0",))

        for _ in range(5):
            response = client.admin("GET", "stats")
            assert response.status_code == 200
            assert response.json()["calls"] == 0


class TestTokenExpiry:
    def test_given_token_expiry_when_k_calls_made_then_main_token_gets_190_463(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("token-expiry:3",))

        statuses = _statuses(client, 3)
        expired = client.get("me")
        other_token = client.get("me", token=client.sandbox.issue_token())

        assert statuses == [200, 200, 200]
        error = error_of(expired)
        assert (error["code"], error["error_subcode"]) == (190, 463)
        assert other_token.status_code == 200
        assert client.sandbox.stats()["faults"] == {"token-expiry": 1}


class TestProfiles:
    @pytest.mark.parametrize(
        "faults",
        [("nonsense",), ("transient:abc",), ("empty-page:1",), ("slow:-5",)],
        ids=["unknown", "not-a-number", "empty-page-every-page", "negative"],
    )
    def test_given_bad_profile_when_building_options_then_value_error(
        self, faults: tuple[str, ...]
    ) -> None:
        with pytest.raises(ValueError, match="fault profile"):
            SandboxOptions(faults=faults)

    def test_given_comma_list_when_building_options_then_each_profile_parsed(self) -> None:
        options = SandboxOptions(faults=("transient:5,slow", "reset"))

        assert {(s.name, s.value) for s in options.fault_specs()} == {
            ("transient", 5),
            ("slow", 2000),
            ("reset", 5),
        }


def _conversation_with_attachment(client: GraphClient) -> tuple[str, str]:
    """(conversation id, message id) of the newest Messenger message with an attachment."""
    world = client.sandbox.world
    for conversation in world.conversations("messenger"):
        for message in world.messages(conversation["id"])[:20]:
            if "attachments" in message:
                return conversation["id"], message["id"]
    raise AssertionError("the world has no attachment")


class TestModes:
    def test_given_once_when_calling_then_only_the_first_drawn_call_fails(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("transient:100@once",))

        statuses = _statuses(client, 6)

        assert statuses[0] in (500, 503)
        assert statuses[1:] == [200] * 5
        assert client.sandbox.stats()["faults"] == {"transient": 1}

    def test_given_once_with_a_low_percent_when_calling_then_one_fault_at_the_seeded_call(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        first = _statuses(make_client(faults=("transient:20@once",), seed=5), 60)
        second = _statuses(make_client(faults=("transient:20@once",), seed=5), 60)
        sometimes = _statuses(make_client(faults=("transient:20",), seed=5), 60)

        assert first == second
        assert sum(status != 200 for status in first) == 1
        # The one fault is the first the seeded draws pick: the same call as without @once.
        assert first.index(next(s for s in first if s != 200)) == next(
            i for i, s in enumerate(sometimes) if s != 200
        )

    def test_given_always_when_calling_then_every_call_fails_whatever_the_percent(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("transient:1@always",))

        assert all(status in (500, 503) for status in _statuses(client, 10))
        assert client.sandbox.stats()["faults"] == {"transient": 10}

    def test_given_malformed_always_when_calling_then_no_answer_is_json(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("malformed@always",))

        for _ in range(5):
            response = client.get("me")
            assert response.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.text)

    def test_given_reset_once_when_calling_then_one_dropped_connection_then_whole_answers(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("reset:100@once",))

        with pytest.raises(
            (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
        ):
            client.conversations()
        answers = [client.conversations() for _ in range(3)]

        assert [a.status_code for a in answers] == [200, 200, 200]
        assert all(a.json()["data"] for a in answers)
        assert client.sandbox.stats()["faults"] == {"reset": 1}

    def test_given_storm_once_when_calling_past_two_periods_then_one_storm_only(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("rate-limit-storm:2@once",))

        statuses = _statuses(client, 110)

        failed = [i for i, status in enumerate(statuses) if status != 200]
        assert len(failed) == 2
        assert failed[1] == failed[0] + 1

    def test_given_storm_always_when_calling_then_throttled_from_the_storm_on(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("rate-limit-storm@always",))

        statuses = _statuses(client, 20)

        start = next(i for i, status in enumerate(statuses) if status != 200)
        assert 2 <= start <= 7  # the seeded start, calls 3 to 8
        assert all(status == 400 for status in statuses[start:])

    def test_given_reduce_data_once_when_the_same_big_page_is_asked_twice_then_served_the_second(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("reduce-data:100@once",))
        nested = f"id,messages.limit(20){{{DETAIL_FIELDS}}}"

        first = client.conversations(limit=25, fields=nested)
        second = client.conversations(limit=25, fields=nested)

        assert (first.status_code, second.status_code) == (500, 200)
        assert client.sandbox.stats()["faults"] == {"reduce-data": 1}

    def test_given_empty_page_once_when_walking_then_one_empty_page_only(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("empty-page:2@once",), conversations=12, messages="fixed:1")

        pages = client.walk(client.conversations(limit=2))

        assert [len(page["data"]) for page in pages].count(0) == 1
        assert sum(len(page["data"]) for page in pages) == 12

    @pytest.mark.parametrize(
        "faults",
        [("token-expiry:3@sometimes",), ("transient@never",), ("reduce-data@sometimes",)],
        ids=["threshold-without-draws", "unknown-mode", "data-fault-without-draws"],
    )
    def test_given_a_mode_the_profile_does_not_have_when_building_options_then_value_error(
        self, faults: tuple[str, ...]
    ) -> None:
        with pytest.raises(ValueError, match="mode"):
            SandboxOptions(faults=faults)

    def test_given_modes_when_parsing_then_default_mode_is_the_profiles_first(self) -> None:
        options = SandboxOptions(faults=("transient:5@once,token-expiry:3,slow@always,reset",))

        assert {(s.name, s.value, s.mode) for s in options.fault_specs()} == {
            ("transient", 5, "once"),
            ("token-expiry", 3, "always"),
            ("slow", 2000, "always"),
            ("reset", 5, "sometimes"),
        }


class TestHang:
    def test_given_hang_once_when_client_times_out_then_the_retry_is_answered_at_once(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("hang:600@once",))

        with pytest.raises(requests.exceptions.ReadTimeout):
            client.get("me", timeout=0.3)
        retry = client.get("me", timeout=5)

        assert retry.status_code == 200
        assert client.sandbox.stats()["faults"] == {"hang": 1}

    def test_given_hang_when_a_request_is_held_then_not_one_byte_comes_back(
        self, make_sandbox: Callable[..., Sandbox]
    ) -> None:
        # Not a status line, not a header: what the client meets is silence, so it is its read
        # timeout that ends the call (requests' ReadTimeout), not a broken or partial answer.
        sandbox = make_sandbox(faults=("hang:600@always",))
        address = urlsplit(sandbox.base_url)
        request = (
            f"GET /v26.0/me HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: Bearer {sandbox.access_token}\r\n\r\n"
        ).encode()

        with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
            connection.sendall(request)
            connection.settimeout(0.5)
            with pytest.raises(TimeoutError):
                connection.recv(1)

        assert sandbox.stats()["faults"] == {"hang": 1}

    def test_given_a_held_answer_when_the_sandbox_closes_then_its_thread_ends(
        self, make_sandbox: Callable[..., Sandbox]
    ) -> None:
        sandbox = make_sandbox(faults=("hang:600@always",))
        client = GraphClient(sandbox)
        with pytest.raises(requests.exceptions.ReadTimeout):
            client.get("me", timeout=0.2)
        held = [t for t in threading.enumerate() if t.name.startswith("Thread-")]

        sandbox.close()

        for thread in held:
            thread.join(timeout=5)
        assert not any(thread.is_alive() for thread in held)


class TestStaleCursor:
    def test_given_stale_cursor_when_paging_with_after_then_400_code_100_as_in_the_notes(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("stale-cursor",))
        first = client.conversations(limit=5)
        after = first.json()["paging"]["cursors"]["after"]

        refused = client.conversations(limit=5, after=after)

        assert first.status_code == 200  # no cursor, nothing stale
        assert refused.status_code == 400
        error = error_of(refused)
        assert error["message"] == (
            "(#100) The After Cursor specified exceeds the max limit supported by this endpoint"
        )
        assert (error["code"], error["type"]) == (100, "OAuthException")
        assert "error_subcode" not in error
        assert client.sandbox.stats()["faults"] == {"stale-cursor": 1}

    def test_given_stale_cursor_once_when_paging_then_that_cursor_stays_refused_and_no_other(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("stale-cursor@once",))
        first = client.conversations(limit=5).json()["paging"]["cursors"]["after"]
        refused = client.conversations(limit=5, after=first)
        again = client.conversations(limit=5, after=first)
        other = client.conversations(limit=4).json()["paging"]["cursors"]["after"]

        accepted = client.conversations(limit=5, after=other)

        assert (refused.status_code, again.status_code) == (400, 400)
        assert accepted.status_code == 200
        assert len(accepted.json()["data"]) == 5

    def test_given_stale_cursor_when_reading_the_messages_edge_with_after_then_refused_too(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("stale-cursor",), messages="fixed:30")
        conversation = client.sandbox.world.conversations("messenger")[0]["id"]
        after = client.get(f"{conversation}/messages", limit=10).json()["paging"]["cursors"][
            "after"
        ]

        refused = client.get(f"{conversation}/messages", limit=10, after=after)

        assert error_of(refused)["code"] == 100


class TestPermissionRevoked:
    def test_given_permission_revoked_after_n_when_calling_then_both_platforms_refused(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("permission-revoked:2",))

        before = [client.conversations("messenger"), client.conversations("instagram")]
        after = [client.conversations("messenger"), client.conversations("instagram")]
        me = client.get("me")
        other = client.conversations("messenger", token=client.sandbox.issue_token())

        assert [r.status_code for r in before] == [200, 200]
        codes = {error_of(r)["code"] for r in after}
        assert len(codes) == 1
        assert codes <= {200, 10}
        assert all(r.status_code == 403 for r in after)
        assert all("permission" in error_of(r)["message"] for r in after)
        assert me.status_code == 200  # /me needs a valid token only
        assert other.status_code == 200  # another token keeps its permissions
        assert client.sandbox.stats()["faults"] == {"permission-revoked": 2}

    def test_given_different_seeds_when_revoking_then_both_documented_codes_occur(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        codes = set()
        for seed in range(1, 9):
            client = make_client(faults=("permission-revoked:0",), seed=seed, conversations=2)
            codes.add(error_of(client.conversations("messenger"))["code"])

        assert codes == {200, 10}

    def test_given_permission_revoked_once_when_calling_then_one_refusal_then_answers(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("permission-revoked:1@once",))

        statuses = [client.conversations().status_code for _ in range(4)]

        assert statuses == [200, 403, 200, 200]


class TestUsageHigh:
    def test_given_usage_high_always_when_calling_then_200_answers_ask_to_wait(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("usage-high:2@always",))

        response = client.conversations()

        assert response.status_code == 200
        buc = json.loads(response.headers["X-Business-Use-Case-Usage"])
        (usage,) = buc[client.sandbox.page_id]
        assert usage["type"] == "messenger"
        assert usage["call_count"] == 120
        assert usage["estimated_time_to_regain_access"] == 2
        assert json.loads(response.headers["X-App-Usage"])["call_count"] == 120
        assert client.sandbox.stats()["faults"] == {"usage-high": 1}

    def test_given_usage_high_when_an_error_is_answered_then_no_usage_headers(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("usage-high@always",))

        response = client.get("nonexistent_object_id")

        assert response.status_code == 400
        assert "X-Business-Use-Case-Usage" not in response.headers


class TestAttachmentPaging:
    def test_given_a_message_with_an_attachment_when_read_then_its_list_has_paging_like_meta(
        self, graph: GraphClient
    ) -> None:
        _, message_id = _conversation_with_attachment(graph)

        attachments = graph.get(message_id, fields="attachments").json()["attachments"]

        assert len(attachments["data"]) == 1
        cursors = attachments["paging"]["cursors"]
        assert cursors["before"] == cursors["after"]
        next_url = urlsplit(attachments["paging"]["next"])
        assert next_url.path == f"/v26.0/{message_id}/attachments"
        assert parse_qs(next_url.query) == {"limit": ["25"], "after": [cursors["after"]]}

    def test_given_token_and_proof_in_query_when_read_then_attachment_next_carries_both(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(app_secret="app-secret-for-tests")
        conversation_id, message_id = _conversation_with_attachment(client)
        token = client.sandbox.access_token
        proof = appsecret_proof(token, "app-secret-for-tests")

        in_query = client.get(
            conversation_id,
            token=token,
            in_query=True,
            appsecret_proof=proof,
            fields=f"messages.limit(20){{{DETAIL_FIELDS}}}",
        ).json()
        in_header = client.get(
            conversation_id, appsecret_proof=proof, fields=f"messages.limit(20){{{DETAIL_FIELDS}}}"
        ).json()

        def attachment_next(body: dict) -> dict[str, list[str]]:
            message = next(m for m in body["messages"]["data"] if m["id"] == message_id)
            return parse_qs(urlsplit(message["attachments"]["paging"]["next"]).query)

        assert attachment_next(in_query)["access_token"] == [token]
        assert attachment_next(in_query)["appsecret_proof"] == [proof]
        assert "access_token" not in attachment_next(in_header)
        assert attachment_next(in_header)["appsecret_proof"] == [proof]

    def test_given_attachment_next_when_followed_then_an_empty_page(
        self, graph: GraphClient
    ) -> None:
        _, message_id = _conversation_with_attachment(graph)
        first = graph.get(f"{message_id}/attachments").json()

        following = graph.follow(first["paging"]["next"])

        assert len(first["data"]) == 1
        assert following.status_code == 200
        assert following.json() == {"data": []}


class TestTokenInLinks:
    def test_given_token_in_links_when_token_came_in_a_header_then_every_next_link_carries_it(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("token-in-links",), app_secret="app-secret-for-tests")
        token = client.sandbox.access_token
        proof = appsecret_proof(token, "app-secret-for-tests")
        conversation_id, message_id = _conversation_with_attachment(client)

        page = client.conversations(limit=5, appsecret_proof=proof).json()
        nested = client.get(
            conversation_id,
            appsecret_proof=proof,
            fields=f"messages.limit(20){{{DETAIL_FIELDS}}}",
        ).json()
        message = next(m for m in nested["messages"]["data"] if m["id"] == message_id)

        for link in (page["paging"]["next"], message["attachments"]["paging"]["next"]):
            query = parse_qs(urlsplit(link).query)
            assert query["access_token"] == [token]
            assert query["appsecret_proof"] == [proof]
        assert client.sandbox.stats()["faults"] == {"token-in-links": 2}


class TestLinkBase:
    def test_given_link_base_when_paging_then_links_point_there_and_cursors_still_work(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(link_base="https://elsewhere.example/")

        first = client.conversations(limit=5).json()
        after = first["paging"]["cursors"]["after"]
        second = client.conversations(limit=5, after=after)

        assert first["paging"]["next"].startswith("https://elsewhere.example/v26.0/")
        assert second.status_code == 200
        assert len(second.json()["data"]) == 5


class TestRepeatCursor:
    def test_given_repeat_cursor_when_paging_after_a_cursor_then_next_hands_it_back(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("repeat-cursor",), conversations=12, messages="fixed:1")
        first = client.conversations(limit=3).json()
        after = first["paging"]["cursors"]["after"]

        second = client.conversations(limit=3, after=after).json()

        assert "after=" in first["paging"]["next"]  # the first page was asked after nothing
        assert second["paging"]["cursors"]["after"] == after
        assert parse_qs(urlsplit(second["paging"]["next"]).query)["after"] == [after]
        assert len(second["data"]) == 3
        assert client.sandbox.stats()["faults"] == {"repeat-cursor": 1}

    def test_given_repeat_cursor_when_the_last_page_is_asked_then_it_still_ends_the_list(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("repeat-cursor",), conversations=4, messages="fixed:1")
        after = client.conversations(limit=3).json()["paging"]["cursors"]["after"]

        last = client.conversations(limit=3, after=after).json()

        assert "next" not in last["paging"]
        assert client.sandbox.stats()["faults"] == {}
