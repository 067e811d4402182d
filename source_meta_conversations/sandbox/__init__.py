"""A local Graph API that behaves like Meta's Conversations API, for demos, tests and benchmarks.

No machine that develops or tests this connector can reach Meta, so everything the connector
claims is shown against this sandbox. It follows ``graph-api-notes.md`` (paging, the 20-message
rule, errors, rate limits, auth) and is described in ``docs/sandbox.md``.

    from source_meta_conversations.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(seed=7, conversations=30)) as sb:
        config = sb.connector_config()
"""

from source_meta_conversations.sandbox.options import SandboxOptions
from source_meta_conversations.sandbox.server import Sandbox
from source_meta_conversations.sandbox.world import World

__all__ = ["Sandbox", "SandboxOptions", "World"]
