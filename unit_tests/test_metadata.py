"""metadata.yaml is a valid entry of Airbyte's registry and agrees with what is built and shipped.

``METADATA_SCHEMA`` transcribes the part of Airbyte's ``ConnectorMetadataDefinitionV0`` (airbytehq/
airbyte, ``airbyte-ci/connectors/metadata_service/lib/metadata_service/models/src/``) that decides
whether a connector's metadata is accepted: the required fields, their types and enums, and the
keys ``data`` may hold (Airbyte refuses any other).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from airbyte_cdk.models.connector_metadata import MetadataFile

ROOT = Path(__file__).resolve().parent.parent
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text())
DATA: dict[str, Any] = METADATA["data"]
# Fixed for ever: Airbyte knows the connector by it, in every workspace that installed it.
DEFINITION_ID = "61b72de7-356b-4183-ae10-5ea291b1ef46"

UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["metadataSpecVersion", "data"],
    "additionalProperties": False,
    "properties": {
        "metadataSpecVersion": {"type": "string"},
        "data": {
            "type": "object",
            "required": [
                "name",
                "definitionId",
                "connectorType",
                "dockerRepository",
                "dockerImageTag",
                "license",
                "documentationUrl",
                "githubIssueLabel",
                "connectorSubtype",
                "releaseStage",
            ],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "icon": {"type": "string"},
                "definitionId": {"type": "string", "pattern": UUID},
                "connectorBuildOptions": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"baseImage": {"type": "string"}},
                },
                "connectorTestSuitesOptions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["suite"],
                        "properties": {
                            "suite": {
                                "enum": [
                                    "unitTests",
                                    "integrationTests",
                                    "acceptanceTests",
                                    "liveTests",
                                ]
                            }
                        },
                    },
                },
                "connectorType": {"enum": ["destination", "source"]},
                "dockerRepository": {"type": "string", "pattern": r"^airbyte/[a-z0-9-]+$"},
                "dockerImageTag": {"type": "string", "pattern": r"^\d+\.\d+\.\d+(-[\w.]+)?$"},
                "supportsDbt": {"type": "boolean"},
                "supportsNormalization": {"type": "boolean"},
                "license": {"type": "string"},
                "documentationUrl": {"type": "string", "pattern": r"^https://"},
                "externalDocumentationUrls": {"type": "array"},
                "githubIssueLabel": {"type": "string"},
                "maxSecondsBetweenMessages": {"type": "integer"},
                "releaseDate": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "protocolVersion": {"type": "string"},
                "erdUrl": {"type": "string"},
                "connectorSubtype": {
                    "enum": [
                        "api",
                        "database",
                        "datalake",
                        "file",
                        "custom",
                        "message_queue",
                        "unknown",
                        "vectorstore",
                    ]
                },
                "releaseStage": {"enum": ["alpha", "beta", "generally_available", "custom"]},
                "supportLevel": {"enum": ["community", "certified", "archived"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "registryOverrides": {"type": "object"},
                "allowedHosts": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"hosts": {"type": "array", "items": {"type": "string"}}},
                },
                "releases": {"type": "object"},
                "normalizationConfig": {"type": "object"},
                "suggestedStreams": {"type": "object"},
                "resourceRequirements": {"type": "object"},
                "ab_internal": {"type": "object"},
                "remoteRegistries": {"type": "object"},
                "supportsRefreshes": {"type": "boolean"},
                "supportsFileTransfer": {"type": "boolean"},
                "supportsDataActivation": {"type": "boolean"},
                "connectorIPCOptions": {"type": "object"},
                "generated": {"type": "object"},
            },
        },
    },
}


def _dockerfile_label(name: str) -> str:
    found = re.search(rf"^LABEL {re.escape(name)}=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert found, f"Dockerfile has no LABEL {name}"
    return found.group(1)


class TestRegistryShape:
    def test_given_the_metadata_when_validated_then_airbytes_schema_accepts_it(self) -> None:
        jsonschema.validate(METADATA, METADATA_SCHEMA)

    def test_given_the_metadata_when_read_by_the_cdk_then_it_loads(self) -> None:
        metadata = MetadataFile.from_file(ROOT / "metadata.yaml")

        assert metadata.data.language.value == "python"

    def test_given_the_definition_id_when_read_then_it_is_the_one_airbyte_knows(self) -> None:
        assert DATA["definitionId"] == DEFINITION_ID

    def test_given_the_connector_when_described_then_a_low_code_python_api_source(self) -> None:
        assert (DATA["connectorType"], DATA["connectorSubtype"]) == ("source", "api")
        assert {"language:python", "cdk:low-code"} <= set(DATA["tags"])
        assert DATA["githubIssueLabel"] == "source-meta-conversations"
        assert DATA["supportLevel"] == "community"


class TestAgreement:
    def test_given_the_version_when_read_everywhere_then_metadata_setup_and_image_agree(
        self,
    ) -> None:
        setup_version = re.search(r'version="([^"]+)"', (ROOT / "setup.py").read_text())

        assert setup_version is not None
        assert DATA["dockerImageTag"] == setup_version.group(1)
        assert DATA["dockerImageTag"] == _dockerfile_label("io.airbyte.version")
        assert DATA["dockerRepository"] == _dockerfile_label("io.airbyte.name")

    def test_given_the_base_image_when_read_then_the_dockerfiles_default(self) -> None:
        default = re.search(r"^ARG BASE_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)

        assert default is not None
        assert DATA["connectorBuildOptions"]["baseImage"] == default.group(1)
        assert "@sha256:" in default.group(1)

    def test_given_the_docs_url_when_read_then_the_specs_and_a_page_of_the_repository(
        self,
    ) -> None:
        manifest = yaml.safe_load(
            (ROOT / "source_meta_conversations" / "manifest.yaml").read_text()
        )

        assert DATA["documentationUrl"] == manifest["spec"]["documentation_url"]
        assert DATA["documentationUrl"].endswith("/docs/meta-conversations.md")
        assert (ROOT / "docs" / "meta-conversations.md").exists()

    def test_given_the_allowed_hosts_when_read_then_the_default_graph_host_only(self) -> None:
        manifest = yaml.safe_load(
            (ROOT / "source_meta_conversations" / "manifest.yaml").read_text()
        )
        default_url = manifest["spec"]["connection_specification"]["properties"]["base_url"][
            "default"
        ]

        assert DATA["allowedHosts"]["hosts"] == [urlsplit(default_url).hostname]


class TestIcon:
    @pytest.fixture
    def icon(self) -> str:
        return (ROOT / DATA["icon"]).read_text()

    def test_given_the_icon_when_parsed_then_a_small_svg(self, icon: str) -> None:
        root = ET.fromstring(icon)  # noqa: S314 (our own file)

        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.get("viewBox") is not None
        assert len(icon) < 4000

    def test_given_the_icon_when_read_then_it_references_nothing_outside_itself(
        self, icon: str
    ) -> None:
        assert re.search(r"href=|<image|url\((?!#)|@import", icon) is None
