"""The CDK's standard acceptance suite, driven by ``acceptance-test-config.yml``, on a live sandbox.

The suite runs the connector in-process through ``SourceMetaConversations`` (the Python source
that adds the per-platform check and the state validation to the manifest), not through the
manifest-only ``DeclarativeSourceTestSuite``, which would bypass that class.

The scenarios' config (``secrets/sandbox_config.json``) names the sandbox's random port, so the
module fixture below starts the sandbox and writes it before the first test reads it, and
removes it afterwards. It is written to a file of this test run's own (``SANDBOX_CONFIG``), which
the scenarios read instead: two runs of the suite at once (each with its own sandbox) would
otherwise write, read and remove the same file. The suite does not collect the ``incremental``
section; the two tests at the end of the class run its entries.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog, Type
from airbyte_cdk.models.airbyte_protocol_serializers import (
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
)
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from airbyte_cdk.test.standard_tests._job_runner import IConnector
from airbyte_cdk.test.standard_tests.pytest_hooks import (  # noqa: F401  (pytest finds them here)
    pytest_generate_tests,
)

from integration_tests.conftest import ACCEPTANCE_SEED, CONVERSATIONS, ROOT
from meta_graph_sandbox import Sandbox, SandboxOptions
from source_meta_conversations import cdk_adaptations
from source_meta_conversations.source import SourceMetaConversations

ACCEPTANCE_CONFIG = ROOT / "acceptance-test-config.yml"
# Where this run writes the sandbox's config: one file per pytest process, not the shared
# `secrets/` path the acceptance config names.
SANDBOX_CONFIG = (
    Path(tempfile.gettempdir())
    / f"source-meta-conversations-acceptance-{os.getpid()}"
    / "sandbox_config.json"
)


def _sandbox_config_path() -> Path:
    """The config path the valid scenarios name (the first ``connection`` entry that succeeds)."""
    entries = yaml.safe_load(ACCEPTANCE_CONFIG.read_text())["acceptance_tests"]["connection"]
    return Path(next(e["config_path"] for e in entries["tests"] if e.get("status") == "succeed"))


def _config_path(path: str | Path) -> Path:
    """Where this run reads the config an entry names: the sandbox's is this run's own file."""
    return SANDBOX_CONFIG if Path(path) == _sandbox_config_path() else ROOT / path


@pytest.fixture(scope="module", autouse=True)
def cdk_adaptations_installed() -> None:
    """The suite builds the source in-process: install what the entrypoint (run.py) installs."""
    cdk_adaptations.install()


@pytest.fixture(scope="module", autouse=True)
def acceptance_sandbox() -> Iterator[Sandbox]:
    """Serve the sandbox and write the scenarios' config for as long as this module runs."""
    SANDBOX_CONFIG.parent.mkdir(mode=0o700, exist_ok=True)
    options = SandboxOptions(seed=ACCEPTANCE_SEED, conversations=CONVERSATIONS)
    with Sandbox(options) as sb:
        SANDBOX_CONFIG.write_text(json.dumps(sb.connector_config(platform="both"), indent=2))
        SANDBOX_CONFIG.chmod(0o600)  # it holds the sandbox's token
        try:
            yield sb
        finally:
            SANDBOX_CONFIG.unlink(missing_ok=True)
            SANDBOX_CONFIG.parent.rmdir()


def _incremental_entries() -> list[dict[str, Any]]:
    acceptance = yaml.safe_load(ACCEPTANCE_CONFIG.read_text())["acceptance_tests"]
    return list(acceptance.get("incremental", {}).get("tests", []))


class TestSourceMetaConversations(SourceTestSuiteBase):
    """The standard tests, plus the ``incremental`` entries of ``acceptance-test-config.yml``."""

    connector = SourceMetaConversations

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        """The repository root, where ``acceptance-test-config.yml`` is."""
        return ROOT

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        """The acceptance config's scenarios, each reading its config where this run keeps it."""
        return [
            scenario.model_copy(update={"config_path": _config_path(scenario.config_path)})
            if scenario.config_path is not None
            else scenario
            for scenario in super().get_scenarios()
        ]

    @classmethod
    def create_connector(cls, scenario: ConnectorTestScenario | None) -> IConnector:
        """The source built with the scenario's config, as ``run`` builds it from ``--config``."""
        config = (
            scenario.get_config_dict(connector_root=ROOT, empty_if_missing=True) if scenario else {}
        )
        return SourceMetaConversations(config=config or None)

    # The `incremental` section ----------------------------------------------------------
    @pytest.mark.parametrize(
        "entry", _incremental_entries(), ids=lambda e: Path(e["config_path"]).stem
    )
    def test_given_incremental_entry_when_read_from_its_future_state_then_no_records(
        self, entry: dict[str, Any]
    ) -> None:
        config = json.loads(_config_path(entry["config_path"]).read_text())
        catalog = _catalog(entry["configured_catalog_path"])
        states = _states(entry["future_state"]["future_state_path"])
        source = SourceMetaConversations(catalog=catalog, config=config, state=states)

        output = entrypoint_wrapper.read(source, config, catalog, states)

        assert output.errors == []
        assert output.records == []

    @pytest.mark.parametrize(
        "entry", _incremental_entries(), ids=lambda e: Path(e["config_path"]).stem
    )
    def test_given_incremental_entry_when_read_twice_then_second_read_from_first_state_is_empty(
        self, entry: dict[str, Any]
    ) -> None:
        config = json.loads(_config_path(entry["config_path"]).read_text())
        catalog = _catalog(entry["configured_catalog_path"])
        first = entrypoint_wrapper.read(SourceMetaConversations(catalog, config), config, catalog)
        assert first.errors == []
        assert {r.record.stream for r in first.records if r.record} == {
            s.stream.name for s in catalog.streams
        }
        states = _latest_states(first)

        second = entrypoint_wrapper.read(
            SourceMetaConversations(catalog, config, states), config, catalog, states
        )

        assert second.errors == []
        assert [(r.record.stream, r.record.data["id"]) for r in second.records if r.record] == []


def _catalog(path: str) -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalogSerializer.load(json.loads((ROOT / path).read_text()))


def _states(path: str) -> list[AirbyteStateMessage]:
    return [AirbyteStateMessageSerializer.load(s) for s in json.loads((ROOT / path).read_text())]


def _latest_states(output: entrypoint_wrapper.EntrypointOutput) -> list[AirbyteStateMessage]:
    latest: dict[str, AirbyteStateMessage] = {}
    for message in output.get_message_by_types([Type.STATE]):
        assert message.state is not None
        assert message.state.stream is not None
        latest[message.state.stream.stream_descriptor.name] = message.state
    return list(latest.values())
