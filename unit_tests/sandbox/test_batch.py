"""Batch requests: ``POST /`` with at most 50 operations, answered in order, failing per item."""

from __future__ import annotations

import json
from collections.abc import Callable

from unit_tests.sandbox.client import GraphClient, error_of


def _message_items(client: GraphClient, count: int) -> list[dict]:
    world = client.sandbox.world
    ids = [m["id"] for c in world.conversations("messenger") for m in world.messages(c["id"])[:3]]
    return [
        {"method": "GET", "relative_url": f"/v26.0/{mid}?fields=id,created_time,message"}
        for mid in ids[:count]
    ]


class TestBatch:
    def test_given_items_when_batched_then_results_in_request_order_with_json_bodies(
        self, graph: GraphClient
    ) -> None:
        items = _message_items(graph, 12)

        response = graph.batch(items)

        assert response.status_code == 200
        results = response.json()
        assert len(results) == 12
        for item, result in zip(items, results, strict=True):
            assert result["code"] == 200
            body = json.loads(result["body"])
            assert item["relative_url"].split("/")[2].startswith(body["id"])
            names = {h["name"] for h in result["headers"]}
            assert {"Content-Type", "facebook-api-version"} <= names

    def test_given_one_bad_item_when_batched_then_it_fails_alone(self, graph: GraphClient) -> None:
        items = _message_items(graph, 3)
        items.insert(1, {"method": "GET", "relative_url": "v26.0/999999999?fields=id"})

        results = graph.batch(items).json()

        assert [r["code"] for r in results] == [200, 400, 200, 200]
        error = json.loads(results[1]["body"])["error"]
        assert (error["code"], error["error_subcode"]) == (100, 33)

    def test_given_51_items_when_batched_then_error_100(self, graph: GraphClient) -> None:
        response = graph.batch(_message_items(graph, 51))

        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == 100
        assert "Maximum batch size is 50" in error["message"]
        assert graph.batch(_message_items(graph, 50)).status_code == 200

    def test_given_no_top_level_token_when_batched_then_error_104(self, graph: GraphClient) -> None:
        response = graph.batch(_message_items(graph, 2), token=None)

        assert response.status_code == 400
        assert error_of(response)["code"] == 104

    def test_given_bad_batch_parameter_when_posted_then_error_100(self, graph: GraphClient) -> None:
        response = graph.session.post(
            graph.url(""), data={"access_token": graph.sandbox.access_token, "batch": "{not json"}
        )

        assert response.status_code == 400
        assert error_of(response)["code"] == 100

    def test_given_include_headers_false_when_batched_then_items_have_no_headers(
        self, graph: GraphClient
    ) -> None:
        results = graph.batch(_message_items(graph, 2), include_headers="false").json()

        assert all(set(r) == {"code", "body"} for r in results)

    def test_given_items_when_batched_then_counted_one_call_and_each_item(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client()
        conversation = client.sandbox.world.conversations("instagram")[0]["id"]
        items = [
            *_message_items(client, 3),
            {"method": "GET", "relative_url": f"{conversation}?fields=id"},
            {"method": "GET", "relative_url": f"{client.sandbox.page_id}/conversations"},
        ]

        client.batch(items)

        stats = client.sandbox.stats()
        assert stats["calls"] == 1
        assert stats["by_route"]["batch"] == 1
        assert stats["batch_items"] == 5
        assert stats["batch_items_by_route"]["message"] == 3
        assert stats["by_platform"] == {"messenger": 4, "instagram": 1}

    def test_given_rate_limit_when_batched_then_each_item_counts_against_it(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(rate_limit=2)

        results = client.batch(_message_items(client, 5)).json()

        assert [r["code"] for r in results] == [200, 200, 400, 400, 400]
        assert json.loads(results[2]["body"])["error"]["code"] == 80006
        names = {h["name"] for h in results[2]["headers"]}
        assert "X-Business-Use-Case-Usage" in names
        assert client.sandbox.stats()["rate_limited"] == 3

    def test_given_batch_timeout_when_batched_then_unfinished_tail_is_null(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(faults=("batch-timeout:100",))

        results = client.batch(_message_items(client, 10)).json()

        cut = results.index(None)
        assert all(r is None for r in results[cut:])
        assert all(r["code"] == 200 for r in results[:cut])
        stats = client.sandbox.stats()
        assert stats["faults"]["batch-timeout"] == 1
        assert stats["batch_items"] == cut
