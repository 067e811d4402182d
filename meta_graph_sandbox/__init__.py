"""A local Graph API that behaves like Meta's Conversations API, for demos, tests and benchmarks.

No machine that develops or tests this connector can reach Meta, so everything the connector
claims is shown against this sandbox. It follows ``graph-api-notes.md`` (paging, the 20-message
rule, errors, rate limits, auth) and is described in ``docs/sandbox.md``.

It is a development tool beside the connector, not part of its package or its wheel: import it
and run it (``python -m meta_graph_sandbox``) with the repository root on ``sys.path``.

    from meta_graph_sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(seed=7, conversations=30)) as sb:
        config = sb.connector_config()
"""

from meta_graph_sandbox.options import SandboxOptions
from meta_graph_sandbox.server import Sandbox
from meta_graph_sandbox.world import World

__all__ = ["Sandbox", "SandboxOptions", "World"]
