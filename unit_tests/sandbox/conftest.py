"""Fixtures for the sandbox tests: real servers on loopback, started and stopped per need."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from meta_graph_sandbox import Sandbox, SandboxOptions
from unit_tests.sandbox.client import GraphClient


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    """One default sandbox per module, for tests that only read and do not count calls."""
    with Sandbox(SandboxOptions(seed=7)) as sandbox:
        yield sandbox


@pytest.fixture
def graph(shared_sandbox: Sandbox) -> GraphClient:
    """A client of the shared sandbox."""
    return GraphClient(shared_sandbox)


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start a sandbox with chosen options; every one is closed when the test ends."""
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options.setdefault("seed", 7)
        sandbox = Sandbox(SandboxOptions(**options)).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.close()


@pytest.fixture
def make_client(make_sandbox: Callable[..., Sandbox]) -> Callable[..., GraphClient]:
    """Start a sandbox with chosen options and return a client of it."""

    def make(**options: Any) -> GraphClient:
        return GraphClient(make_sandbox(**options))

    return make
