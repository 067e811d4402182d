"""The CDK's declarative source, with the per-source adaptations applied where it builds things.

Replaces, on each source (not process-wide), written for airbyte-cdk 7.39.1:

- the source's component factory (``_constructor``) with ``factory.GraphComponentFactory``;
- its ``ConcurrentSource``'s pool manager with one that prunes finished futures (memory.py);
- in the streams it builds, the per-partition cursor maps of global-cursor streams (memory.py)
  and the children's parent streams (interleave.py);
- ``_apply_stream_groups``: the manifest's stream group is skipped when the three streams read
  together (at Meta's rate). The CDK applies ``stream_groups`` unconditionally and offers no
  interpolation for them. Whether they read together is the manifest's ``concurrency_level``'s
  decision (``reads_streams_together``);
- ``configure``: returns the config the source was built with (``_config``), as the CDK's does,
  without first writing it to ``<temp_dir>/config.json``. That copy holds the token and the
  app secret, nothing of the CDK reads it back, and a killed process leaves it on disk.

``SourceMetaConversations`` (source.py) builds on this class and uses no private name itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airbyte_cdk.sources.declarative.concurrency_level import ConcurrencyLevel
from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
    ConcurrentDeclarativeSource,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream

from source_meta_conversations.cdk_adaptations import process
from source_meta_conversations.cdk_adaptations.factory import GraphComponentFactory
from source_meta_conversations.cdk_adaptations.interleave import interleave_parents
from source_meta_conversations.cdk_adaptations.memory import (
    keep_no_partition_cursors,
    prune_finished_futures,
)
from source_meta_conversations.cdk_adaptations.registry import PrivateName, check_parameters

_SOURCE = "airbyte_cdk.sources.declarative.concurrent_declarative_source"
PRIVATE_NAMES = (
    PrivateName(
        _SOURCE,
        "ConcurrentDeclarativeSource",
        "_concurrent_source",
        used_by="declarative_source: its pool manager is replaced (memory.py)",
    ),
    PrivateName(
        _SOURCE,
        "ConcurrentDeclarativeSource",
        "_apply_stream_groups",
        used_by="declarative_source: skipped when the streams read together",
        parameters=("self", "streams", "top_level_stream_names"),
    ),
    PrivateName(
        _SOURCE,
        "ConcurrentDeclarativeSource",
        "_config",
        used_by="declarative_source: configure returns it without a copy on disk",
    ),
)


def check() -> None:
    """Raise unless the source is still built from ``(catalog, config, state, path_to_yaml)``."""
    check_parameters(
        YamlDeclarativeSource.__init__,
        ("self", "path_to_yaml", "debug", "catalog", "config", "state", "config_path"),
        "YamlDeclarativeSource.__init__",
        leading=True,
    )
    check_parameters(
        ConcurrentDeclarativeSource.configure,
        ("self", "config", "temp_dir"),
        "ConcurrentDeclarativeSource.configure",
    )


def reads_streams_together(manifest: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Whether the children read each conversations page while the listing goes on.

    The manifest's ``concurrency_level`` decides: the streams read together exactly when it
    evaluates to its ``max_concurrency`` for this config (at Meta's rate), apart otherwise (only
    the local sandbox goes faster). Evaluated here with the CDK's own component, so the threshold
    is written once, in the manifest.
    """
    if not config:
        return False
    level = manifest["concurrency_level"]
    component = ConcurrencyLevel(
        default_concurrency=level["default_concurrency"],
        max_concurrency=level["max_concurrency"],
        config=config,
        parameters={},
    )
    return bool(component.get_concurrency_level() == level["max_concurrency"])


class AdaptedDeclarativeSource(YamlDeclarativeSource):
    """``YamlDeclarativeSource`` of ``manifest`` with this package's per-source adaptations.

    Refuses to build when the process-wide adaptations are not installed (the entrypoint and the
    test harness install them): without them the source would run, but make three calls per
    conversations page at Meta's rate and never grow a reduced page back.
    """

    def __init__(
        self,
        manifest: Path,
        catalog: Any = None,
        config: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> None:
        process.require_installed()
        super().__init__(path_to_yaml=str(manifest), catalog=catalog, config=config, state=state)
        self._together = reads_streams_together(self.resolved_manifest, config or {})
        self._constructor = GraphComponentFactory.like(self._constructor)
        prune_finished_futures(self._concurrent_source)

    @property
    def reads_together(self) -> bool:
        """Whether this source's three streams read the conversations pages together."""
        return self._together

    def streams(self, config: Mapping[str, Any]) -> list[AbstractStream]:
        """The manifest's streams; global-cursor streams keep no cursor per partition.

        ``read`` builds its streams here, so every read's cursors are set up so (memory.py), and
        the children read both platforms' pages side by side (interleave.py).
        """
        streams = super().streams(config)
        keep_no_partition_cursors(streams)
        interleave_parents(streams)
        return streams

    def _apply_stream_groups(
        self, streams: list[AbstractStream], top_level_stream_names: set[str] | None = None
    ) -> None:
        """The manifest's stream groups, unless the streams read together."""
        if self._together:
            return
        super()._apply_stream_groups(streams, top_level_stream_names)

    def configure(self, config: Mapping[str, Any], temp_dir: str) -> Mapping[str, Any]:
        """The config to run with, as the CDK's ``configure`` returns it, written nowhere.

        The CDK's (``DefaultConnectorMixin.configure``, airbyte-cdk 7.39.1) first copies it to
        ``<temp_dir>/config.json``: credentials on disk that nothing reads back.
        """
        return self._config or config
