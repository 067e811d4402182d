"""``graph_call``: what a request is for, read from its URL only."""

from __future__ import annotations

import pytest

from source_meta_conversations.components.graph_calls import GraphCall, graph_call

GRAPH = "https://graph.facebook.com/v26.0"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"{GRAPH}/104839588217347/conversations?platform=instagram&limit=25",
            GraphCall("conversations", "104839588217347", "instagram"),
        ),
        (
            f"{GRAPH}/104839588217347/conversations",
            GraphCall("conversations", "104839588217347", None),
        ),
        (
            f"{GRAPH}/t_1/messages?fields=id,created_time&after=QVFI",
            GraphCall("messages", "t_1", None),
        ),
        # Legacy Messenger ids carry characters escaped in a path.
        (
            f"{GRAPH}/mid.1457764197618%3A41d1/messages/",
            GraphCall("messages", "mid.1457764197618:41d1", None),
        ),
        (f"{GRAPH}/me?fields=id", GraphCall(None, None, None)),
        ("", GraphCall(None, None, None)),
        (None, GraphCall(None, None, None)),
    ],
    ids=["listing", "listing-without-platform", "edge", "escaped-id", "other", "empty", "none"],
)
def test_given_a_url_when_read_then_its_edge_object_and_platform(
    url: str | None, expected: GraphCall
) -> None:
    assert graph_call(url) == expected
