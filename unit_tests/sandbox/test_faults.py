"""Fault profiles: each serves what Meta serves now and then, deterministically for a seed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import requests

from meta_graph_sandbox import SandboxOptions
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
