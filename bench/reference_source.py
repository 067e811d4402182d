"""Run ``bench/reference_manifest.yaml`` (the seed guide's three-step plan) as an Airbyte source.

``python -m bench.reference_source read --config CONFIG --catalog CATALOG`` speaks the Airbyte
protocol like the connector's console script. It uses the CDK's ``YamlDeclarativeSource`` and
its stock entrypoint only: no component of the connector, so the bench compares the connector
with what the CDK does on its own for the guide's plan.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource

MANIFEST_PATH = Path(__file__).with_name("reference_manifest.yaml")


def build(argv: list[str]) -> YamlDeclarativeSource:
    """The reference source, with the config, catalog and state named on the command line."""
    config_path = AirbyteEntrypoint.extract_config(argv)
    catalog_path = AirbyteEntrypoint.extract_catalog(argv)
    state_path = AirbyteEntrypoint.extract_state(argv)
    config: Any = YamlDeclarativeSource.read_config(config_path) if config_path else None
    catalog: Any = YamlDeclarativeSource.read_catalog(catalog_path) if catalog_path else None
    state: Any = YamlDeclarativeSource.read_state(state_path) if state_path else []
    return YamlDeclarativeSource(
        path_to_yaml=str(MANIFEST_PATH), catalog=catalog, config=config, state=state
    )


def main(argv: list[str] | None = None) -> None:
    """Run one Airbyte protocol command (spec, check, discover, read)."""
    args = sys.argv[1:] if argv is None else argv
    launch(build(args), args)


if __name__ == "__main__":
    main()
