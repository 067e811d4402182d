"""Tokens, appsecret_proof, permissions per platform, the Page id and the Instagram link."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest

from unit_tests.sandbox.client import GraphClient, error_of


def _proof(token: str, secret: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


class TestTokens:
    def test_given_no_token_when_calling_then_400_error_104(self, graph: GraphClient) -> None:
        response = graph.conversations(token=None)

        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == 104
        assert error["type"] == "OAuthException"
        assert error["message"] == "An access token is required to request this resource."

    def test_given_unknown_token_when_calling_then_190_subcode_467(
        self, graph: GraphClient
    ) -> None:
        response = graph.conversations(token="EAAnotatoken")

        assert response.status_code == 400
        error = error_of(response)
        assert (error["code"], error["error_subcode"]) == (190, 467)
        assert error["type"] == "OAuthException"

    @pytest.mark.parametrize(
        ("issue", "subcode"),
        [({"expired": True}, 463), ({"role_on_page": False}, 492)],
        ids=["expired", "no-role-on-page"],
    )
    def test_given_issued_token_when_calling_then_190_with_subcode(
        self, graph: GraphClient, issue: dict, subcode: int
    ) -> None:
        token = graph.sandbox.issue_token(**issue)

        for response in (graph.conversations(token=token), graph.get("me", token=token)):
            assert response.status_code == 400
            error = error_of(response)
            assert (error["code"], error["error_subcode"]) == (190, subcode)

    @pytest.mark.parametrize("scheme", ["Bearer", "OAuth", "oauth"])
    def test_given_authorization_header_when_calling_then_accepted(
        self, graph: GraphClient, scheme: str
    ) -> None:
        response = graph.session.get(
            graph.url(f"{graph.sandbox.page_id}/conversations"),
            headers={"Authorization": f"{scheme} {graph.sandbox.access_token}"},
        )

        assert response.status_code == 200

    def test_given_token_as_query_parameter_when_calling_then_accepted(
        self, graph: GraphClient
    ) -> None:
        response = graph.conversations(token=graph.sandbox.access_token, in_query=True)

        assert response.status_code == 200

    def test_given_page_token_when_calling_me_then_the_page(self, graph: GraphClient) -> None:
        body = graph.get("me").json()

        assert body == {"id": graph.sandbox.page_id, "name": body["name"]}
        assert body["id"].isdigit()
        assert graph.get("me", fields="id").json() == {"id": graph.sandbox.page_id}


class TestAppsecretProof:
    def test_given_app_secret_when_proof_missing_wrong_or_right_then_100_100_200(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(app_secret="s3cret")
        token = client.sandbox.access_token

        missing = client.conversations()
        wrong = client.conversations(appsecret_proof=_proof(token, "other"))
        right = client.conversations(appsecret_proof=_proof(token, "s3cret"))

        assert missing.status_code == wrong.status_code == 400
        assert error_of(missing)["code"] == error_of(wrong)["code"] == 100
        assert error_of(missing)["message"] == (
            "API calls from the server require an appsecret_proof argument"
        )
        assert error_of(wrong)["message"] == "Invalid appsecret_proof provided in the API argument"
        assert right.status_code == 200

    def test_given_app_secret_when_batching_then_top_level_proof_required(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(app_secret="s3cret")
        token = client.sandbox.access_token
        items = [{"method": "GET", "relative_url": "me"}]

        without = client.batch(items)
        with_proof = client.batch(items, appsecret_proof=_proof(token, "s3cret"))

        assert error_of(without)["code"] == 100
        assert with_proof.json()[0]["code"] == 200

    def test_given_app_secret_when_config_built_then_it_carries_the_secret(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(app_secret="s3cret", rate_limit=2)

        config = client.sandbox.connector_config()

        assert config == {
            "page_id": client.sandbox.page_id,
            "access_token": client.sandbox.access_token,
            "platform": "both",
            "base_url": client.sandbox.base_url,
            "api_version": "v26.0",
            "app_secret": "s3cret",
            "max_requests_per_second": 2,
        }


class TestPermissions:
    def test_given_token_without_instagram_manage_messages_then_instagram_403_messenger_200(
        self, graph: GraphClient
    ) -> None:
        token = graph.sandbox.issue_token(
            ["pages_manage_metadata", "pages_read_engagement", "pages_messaging", "instagram_basic"]
        )
        instagram_conversation = graph.sandbox.world.conversations("instagram")[0]["id"]

        messenger = graph.conversations("messenger", token=token)
        instagram = graph.conversations("instagram", token=token)
        instagram_node = graph.get(instagram_conversation, token=token)

        assert messenger.status_code == 200
        for response in (instagram, instagram_node):
            assert response.status_code == 403
            error = error_of(response)
            assert error["code"] == 200
            assert "instagram_manage_messages" in error["message"]

    def test_given_token_without_instagram_basic_then_instagram_403_code_10(
        self, graph: GraphClient
    ) -> None:
        token = graph.sandbox.issue_token(
            ["pages_manage_metadata", "pages_read_engagement", "pages_messaging",
             "instagram_manage_messages"]
        )  # fmt: skip

        error = error_of(graph.conversations("instagram", token=token))

        assert error["code"] == 10
        assert "instagram_basic" in error["message"]

    def test_given_token_without_pages_messaging_then_messenger_403_instagram_200(
        self, graph: GraphClient
    ) -> None:
        token = graph.sandbox.issue_token(
            ["pages_manage_metadata", "pages_read_engagement", "instagram_basic",
             "instagram_manage_messages"]
        )  # fmt: skip

        messenger = graph.conversations("messenger", token=token)
        instagram = graph.conversations("instagram", token=token)

        assert messenger.status_code == 403
        assert error_of(messenger)["code"] == 230
        assert "pages_messaging" in error_of(messenger)["message"]
        assert instagram.status_code == 200


class TestObjects:
    def test_given_wrong_page_id_when_listing_then_100_subcode_33(self, graph: GraphClient) -> None:
        response = graph.get("1234567/conversations")

        assert response.status_code == 400
        error = error_of(response)
        assert (error["code"], error["error_subcode"]) == (100, 33)
        assert error["message"].startswith(
            "Unsupported get request. Object with ID '1234567' does not exist, cannot be loaded "
            "due to missing permissions, or does not support this operation."
        )

    def test_given_page_without_instagram_when_listing_instagram_then_100_subcode_2534013(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(instagram_linked=False)

        instagram = client.conversations("instagram")
        messenger = client.conversations("messenger")

        assert instagram.status_code == 400
        error = error_of(instagram)
        assert (error["code"], error["error_subcode"]) == (100, 2534013)
        assert messenger.status_code == 200

    def test_given_platform_in_any_case_or_missing_when_listing_then_accepted(
        self, graph: GraphClient
    ) -> None:
        page = graph.sandbox.page_id
        missing = graph.get(f"{page}/conversations").json()
        upper = graph.conversations("MESSENGER").json()
        instagram = graph.conversations("Instagram").json()

        assert missing["data"] == upper["data"]
        assert instagram["data"][0]["id"].startswith("aWdG")

    def test_given_unknown_platform_when_listing_then_error_100(self, graph: GraphClient) -> None:
        error = error_of(graph.conversations("whatsapp"))

        assert error["code"] == 100
        assert "platform" in error["message"]

    def test_given_version_prefix_or_none_when_calling_then_same_answer_and_version_header(
        self, graph: GraphClient
    ) -> None:
        with_version = graph.get("me", version="v25.0")
        without = graph.get("me", version=None)
        expired = graph.get("me", version="v19.0")

        assert with_version.json() == without.json() == expired.json()
        assert with_version.headers["facebook-api-version"] == "v25.0"
        assert without.headers["facebook-api-version"] == "v26.0"
        assert expired.headers["facebook-api-version"] == "v24.0"

    def test_given_removed_ids_parameter_when_calling_then_error(self, graph: GraphClient) -> None:
        response = graph.get("", ids="1,2")

        assert response.status_code == 400
        assert error_of(response)["code"] == 12

    def test_given_unknown_edge_when_calling_then_error_2500(self, graph: GraphClient) -> None:
        error = error_of(graph.get(f"{graph.sandbox.page_id}/feed"))

        assert error["code"] == 2500
        assert error["message"] == "Unknown path components: /feed"
