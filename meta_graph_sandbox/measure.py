"""Measure the sandbox's own cost, so the benchmark knows it is not measuring the sandbox.

``python -m meta_graph_sandbox.measure`` prints, as JSON:

- start-up time and resident memory for a large world (20,000 conversations x 5 messages per
  platform by default);
- server time for the heaviest page the connector asks for: 25 conversations, every
  conversation field, and 20 nested messages each with every detail field, first read ("cold",
  messages rendered for the first time) and re-read ("warm", from the fragment cache);
- the same page over HTTP on a keep-alive connection, as a client sees it.

The figures in docs/sandbox.md come from this script.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from typing import Any

from meta_graph_sandbox.api import ApiRequest
from meta_graph_sandbox.options import SandboxOptions
from meta_graph_sandbox.server import Sandbox

DETAIL_FIELDS = (
    "id,created_time,from,to,message,reply_to,attachments,shares,sticker,story,tags,reactions,"
    "is_unsupported"
)
CONVERSATION_FIELDS = (
    "id,updated_time,participants,is_owner,can_reply,folder,former_participants,is_subscribed,"
    "link,message_count,name,scoped_thread_key,senders,snippet,subject,unread_count,wallpaper"
)
PAGE_FIELDS = f"{CONVERSATION_FIELDS},messages.limit(20){{{DETAIL_FIELDS}}}"


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux), 0 elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def page_times(sandbox: Sandbox, pages: int) -> dict[str, Any]:
    """Time the handler for ``pages`` consecutive pages (cold), then page one again (warm)."""

    def request(after: str | None) -> ApiRequest:
        query = [("platform", "messenger"), ("limit", "25"), ("fields", PAGE_FIELDS)]
        if after:
            query.append(("after", after))
        return ApiRequest(
            "GET",
            f"/v26.0/{sandbox.page_id}/conversations",
            query,
            headers={"authorization": f"OAuth {sandbox.access_token}"},
            base="http://127.0.0.1",
        )

    cold: list[float] = []
    after: str | None = None
    size = 0
    for _ in range(pages):
        started = time.perf_counter()
        response = sandbox.api.handle(request(after))
        size = len(response.body())
        cold.append(time.perf_counter() - started)
        after = response.payload["paging"]["cursors"]["after"]
    warm: list[float] = []
    for _ in range(pages):
        started = time.perf_counter()
        sandbox.api.handle(request(None)).body()
        warm.append(time.perf_counter() - started)
    return {"cold": _ms(cold), "warm": _ms(warm), "body_bytes": size, "pages": pages}


def http_times(sandbox: Sandbox, pages: int) -> dict[str, Any]:
    """The same page over HTTP/1.1 keep-alive, timed by the client."""
    import requests  # the connector's dependency; the server itself needs only the stdlib

    session = requests.Session()
    url = f"{sandbox.base_url}/v26.0/{sandbox.page_id}/conversations"
    headers = {"Authorization": f"OAuth {sandbox.access_token}"}
    params = {"platform": "messenger", "limit": "25", "fields": PAGE_FIELDS}
    samples = []
    for _ in range(pages):
        started = time.perf_counter()
        response = session.get(url, params=params, headers=headers, timeout=30)
        response.content  # noqa: B018 - read the whole body inside the timing
        samples.append(time.perf_counter() - started)
    small = []
    for _ in range(pages):
        started = time.perf_counter()
        session.get(f"{sandbox.base_url}/v26.0/me", headers=headers, timeout=30).content  # noqa: B018
        small.append(time.perf_counter() - started)
    return {"page": _ms(samples), "me": _ms(small)}


def main(argv: list[str] | None = None) -> int:
    """Print the measurements as one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=20000)
    parser.add_argument("--messages", default="fixed:5")
    parser.add_argument("--pages", type=int, default=40)
    args = parser.parse_args(argv)

    before = rss_mb()
    started = time.perf_counter()
    big = Sandbox(SandboxOptions(conversations=args.conversations, messages=args.messages))
    startup = time.perf_counter() - started
    after = rss_mb()
    report: dict[str, Any] = {
        "world": {
            "conversations_per_platform": args.conversations,
            "messages": args.messages,
            "messages_total": sum(p["messages"] for p in big.world.summary().values()),
            "startup_s": round(startup, 2),
            "rss_mb_before": round(before, 1),
            "rss_mb_after": round(after, 1),
        }
    }
    del big
    gc.collect()
    # The page measurement needs conversations of 20+ messages: fixed:30 gives each 30.
    with Sandbox(SandboxOptions(conversations=2000, messages="fixed:30")) as sandbox:
        report["handler"] = page_times(sandbox, args.pages)
        report["http"] = http_times(sandbox, args.pages)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
