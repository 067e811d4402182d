"""The sandbox's own cost, one line of every bench's output.

The bench measures the connector; the sandbox answers it from the bench's own process, so the
bench says how long the sandbox takes per answer, to show it is not what is being measured: the
server time of the heaviest page the connector asks for (25 conversations, every field, 20
nested messages with every detail field), on its first read and re-read from the fragment cache,
and over HTTP on a keep-alive connection, as a client sees it. Wall-clock figures like these
belong here rather than in the tests (``unit_tests/sandbox/test_performance.py`` checks the work
behind them exactly). ``python -m meta_graph_sandbox.measure`` gives the fuller figures of
docs/sandbox.md.
"""

from __future__ import annotations

from meta_graph_sandbox import Sandbox, SandboxOptions
from meta_graph_sandbox.measure import http_times, page_times

PAGES = 12  # pages read, each for the first time: 12 x 25 conversations
PAGE_SIZE = 25


def sandbox_cost() -> str:
    """Median server time per page (first read, re-read) and per keep-alive call, in one line."""
    options = SandboxOptions(conversations=PAGES * PAGE_SIZE, messages="fixed:25")
    with Sandbox(options) as sandbox:
        handler = page_times(sandbox, PAGES)
        http = http_times(sandbox, PAGES)
    return (
        f"sandbox: a page of {PAGE_SIZE} conversations x 20 detailed messages "
        f"({handler['body_bytes'] / 1024:,.0f} KB) served in {handler['cold']['median_ms']:.1f} ms "
        f"on first read, {handler['warm']['median_ms']:.1f} ms re-read; over keep-alive HTTP "
        f"{http['page']['median_ms']:.1f} ms, GET /me {http['me']['median_ms']:.1f} ms "
        f"(medians of {PAGES})"
    )
