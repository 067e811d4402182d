"""The generated world: shapes as documented, determinism, and mutation between syncs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from meta_graph_sandbox import Sandbox, SandboxOptions
from meta_graph_sandbox.world import World
from unit_tests.sandbox.client import DETAIL_FIELDS, GraphClient

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")


def _all_details(world: World, platform: str) -> list[dict[str, Any]]:
    return [
        m for c in world.conversations(platform) for m in world.messages(c["id"]) if "from" in m
    ]


class TestShapes:
    def test_given_seed_when_generated_then_ids_look_like_meta_ids(
        self, shared_sandbox: Sandbox
    ) -> None:
        world = shared_sandbox.world
        messenger = world.conversations("messenger")
        instagram = world.conversations("instagram")

        assert shared_sandbox.page_id.isdigit()
        assert all(re.fullmatch(r"t_\d+", c["id"]) for c in messenger)
        assert all(c["id"].startswith("aWdG") for c in instagram)
        assert all(m["id"].startswith("m_") for m in world.messages(messenger[0]["id"]))
        assert all(m["id"].startswith("aWdG") for m in world.messages(instagram[0]["id"]))

    def test_given_world_when_listed_then_times_ordered_distinct_and_updated_is_newest_message(
        self, shared_sandbox: Sandbox
    ) -> None:
        world = shared_sandbox.world
        for platform in ("messenger", "instagram"):
            conversations = world.conversations(platform)
            keys = [(c["updated_time"], c["id"]) for c in conversations]
            assert keys == sorted(keys, reverse=True)
            for conversation in conversations:
                messages = world.messages(conversation["id"])
                times = [m["created_time"] for m in messages]
                assert all(TIMESTAMP.match(t) for t in times)
                assert times == sorted(times, reverse=True)
                assert len(set(times)) == len(times)
                assert conversation["updated_time"] == times[0]

    def test_given_mixed_distribution_then_short_long_and_over_100_conversations(
        self, shared_sandbox: Sandbox
    ) -> None:
        world = shared_sandbox.world
        counts = [len(world.messages(c["id"])) for c in world.conversations("messenger")]

        assert any(n <= 20 for n in counts)
        assert any(20 < n <= 60 for n in counts)
        assert any(n > 100 for n in counts)

    def test_given_longtail_and_fixed_then_counts_follow_the_option(self) -> None:
        longtail = World(seed=3, conversations=30, messages="longtail", platforms=("messenger",))
        fixed = World(seed=3, conversations=5, messages="fixed:4", platforms=("instagram",))

        assert (
            max(len(longtail.messages(c["id"])) for c in longtail.conversations("messenger")) > 500
        )
        assert {len(fixed.messages(c["id"])) for c in fixed.conversations("instagram")} == {4}

    def test_given_participants_then_messenger_name_email_and_instagram_username(
        self, shared_sandbox: Sandbox
    ) -> None:
        world = shared_sandbox.world
        messenger = world.conversations("messenger")[0]
        instagram = world.conversations("instagram")[0]

        assert all(set(p) == {"name", "email", "id"} for p in messenger["participants"]["data"])
        assert all(set(p) == {"username", "id"} for p in instagram["participants"]["data"])
        assert "message_count" in messenger
        assert "message_count" not in instagram

    def test_given_all_details_then_every_documented_kind_of_content_appears(
        self, shared_sandbox: Sandbox
    ) -> None:
        world = shared_sandbox.world
        messenger = _all_details(world, "messenger")
        instagram = _all_details(world, "instagram")
        both = messenger + instagram

        mime_types = {
            a["mime_type"] for m in both for a in m.get("attachments", {"data": []})["data"]
        }
        assert {"image/jpeg", "video/mp4", "application/pdf"} <= mime_types
        assert any(m["message"] == "" for m in both)
        assert any("sticker" in m for m in both)
        assert any("reactions" in m for m in both)
        assert {m["reply_to"]["is_self_reply"] for m in both if "reply_to" in m} == {True, False}
        assert any(m.get("is_unsupported") is True for m in both)
        assert all("is_unsupported" not in m or m["is_unsupported"] is True for m in both)
        assert all("tags" in m for m in messenger if not m.get("is_unsupported"))
        assert any("story" in m for m in instagram)
        # the guide: Instagram shares carry only the media URL
        assert all(
            set(s) == {"link"} for m in instagram for s in m.get("shares", {"data": []})["data"]
        )
        assert any("shares" in m for m in messenger)


class TestDeterminism:
    def test_given_same_seed_when_started_twice_then_same_world_and_same_answers(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        first = make_client(seed=42)
        second = make_client(seed=42)
        fields = f"id,updated_time,participants,messages.limit(20){{{DETAIL_FIELDS}}}"

        assert first.sandbox.world.summary() == second.sandbox.world.summary()
        assert first.sandbox.access_token == second.sandbox.access_token
        a = first.conversations("instagram", fields=fields, limit=5).text
        b = second.conversations("instagram", fields=fields, limit=5).text
        # The bodies differ only in the host:port inside next URLs.
        host = first.sandbox.base_url.replace("/", "\\/")
        other = second.sandbox.base_url.replace("/", "\\/")
        assert a.replace(host, "BASE") == b.replace(other, "BASE")

    def test_given_other_seed_when_started_then_different_world(self) -> None:
        first = World(seed=1, conversations=5)
        second = World(seed=2, conversations=5)

        assert first.summary() != second.summary()

    def test_given_message_id_of_another_seed_when_read_then_100_33(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client(seed=5)
        foreign = World(seed=6, conversations=3)
        message = foreign.messages(foreign.conversations("messenger")[0]["id"])[0]["id"]

        assert client.get(message).json()["error"]["error_subcode"] == 33


class TestMutation:
    def test_given_new_messages_when_added_then_conversation_moves_to_top_with_new_time(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client()
        world = client.sandbox.world
        before = world.conversations("messenger")
        newest_before = max(c["updated_time"] for p in ("messenger", "instagram")
                            for c in world.conversations(p))  # fmt: skip
        target = before[-1]["id"]

        ids = world.add_messages(target, 3, from_page=True)

        listed = client.conversations(fields="id,updated_time,message_count").json()["data"]
        messages = client.get(f"{target}/messages", fields="id,created_time,from").json()["data"]
        assert listed[0]["id"] == target
        assert listed[0]["message_count"] == len(world.messages(target))
        assert [m["id"] for m in messages[:3]] == list(reversed(ids))
        assert listed[0]["updated_time"] == messages[0]["created_time"]
        assert messages[2]["created_time"] > newest_before
        assert messages[0]["from"]["id"] == client.sandbox.page_id

    def test_given_new_conversation_when_added_then_first_in_its_platform(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client()
        world = client.sandbox.world

        new_id = world.add_conversation("instagram", messages=4)

        first = client.conversations("instagram", fields="id,participants").json()["data"][0]
        assert first["id"] == new_id
        assert len(world.messages(new_id)) == 4
        assert world.summary()["instagram"]["conversations"] == 31

    def test_given_admin_routes_when_used_then_world_changes_and_tokens_issued(
        self, make_client: Callable[..., GraphClient]
    ) -> None:
        client = make_client()
        world = client.sandbox.world
        target = world.conversations("messenger")[5]["id"]

        added = client.admin("POST", "messages", {"conversation_id": target, "count": 2}).json()
        created = client.admin("POST", "conversations", {"platform": "messenger", "messages": 3})
        summary = client.admin("GET", "world").json()
        token = client.admin("POST", "tokens", {"permissions": ["pages_messaging"]}).json()
        missing = client.admin("POST", "messages", {"conversation_id": "t_0", "count": 1})

        assert len(added["ids"]) == 2
        assert added["updated_time"] == world.conversations("messenger")[1]["updated_time"]
        assert summary["messenger"]["conversation_ids"][:2] == [
            created.json()["id"],
            target,
        ]
        assert client.get("me", token=token["access_token"]).status_code == 200
        assert client.conversations(token=token["access_token"]).status_code == 403
        assert missing.status_code == 404
        assert client.sandbox.stats()["calls"] == 2  # admin routes are not API calls

    @pytest.mark.parametrize(
        ("platform", "messages"), [("whatsapp", 1), ("messenger", 0)], ids=["platform", "empty"]
    )
    def test_given_bad_new_conversation_when_added_then_value_error(
        self, platform: str, messages: int
    ) -> None:
        with pytest.raises(ValueError, match=r"platform|at least one message"):
            World(seed=1, conversations=1).add_conversation(platform, messages)


class TestOptions:
    def test_given_single_platform_when_configured_then_config_names_it(self) -> None:
        with Sandbox(SandboxOptions(platforms=("Instagram",), conversations=2)) as sandbox:
            assert sandbox.connector_config(platform="x")["platform"] == "x"
            assert sandbox.connector_config()["platform"] == "instagram"
            assert sandbox.connector_config()["max_requests_per_second"] == 1000

    @pytest.mark.parametrize(
        "options",
        [{"platforms": ("whatsapp",)}, {"messages": "fixed:0"}, {"messages": "lots"}],
        ids=["platform", "fixed-zero", "distribution"],
    )
    def test_given_bad_option_when_built_then_value_error(self, options: dict) -> None:
        with pytest.raises(ValueError, match=r"platforms|messages"):
            SandboxOptions(**options)
