"""Start-up shortcuts (startup.py): they change nothing but the time the CDK's import takes."""

from __future__ import annotations

import ast
import enum
import gc
import inspect

from airbyte_protocol_dataclasses.models import airbyte_protocol

from source_meta_conversations.cdk_adaptations.startup import cached_class_sources, frozen_when_done


def test_cached_class_sources_give_what_inspect_gives_and_are_undone() -> None:
    classes = [enum.Enum, airbyte_protocol.AirbyteMessage, airbyte_protocol.Type, a_function]
    expected = [inspect.getsource(c) for c in classes]
    with cached_class_sources():
        assert [inspect.getsource(c) for c in classes] == expected
        assert [inspect.getsource(c) for c in classes] == expected  # from the cache
        assert isinstance(ast.parse("x = 1").body[0], ast.Assign)  # other parses: not cached
    assert inspect.getsource.__module__ == "inspect"
    assert ast.parse.__module__ == "ast"


def a_function() -> None:
    """A function, for the source lookups above."""


def test_frozen_when_done_restores_the_collector() -> None:
    assert gc.isenabled()
    with frozen_when_done():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with frozen_when_done():
            pass
        assert not gc.isenabled()  # a collector turned off by the caller stays off
    finally:
        gc.enable()
