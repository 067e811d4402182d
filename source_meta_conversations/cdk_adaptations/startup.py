"""Start-up: the CDK's import without re-reading the same source files dozens of times.

Replaces, only while run.py imports the CDK: ``inspect.getsource`` and ``ast.parse`` (restored
after), then freezes what the import built (``gc.freeze``). Written for: airbyte-cdk 7.39.1 on
Python 3.11 (on 3.13 and newer ``inspect`` no longer parses a module per class).

Why: importing ``airbyte_cdk`` builds the protocol's ``serpyco_rs`` serializers at module level
(``airbyte_cdk.models.airbyte_protocol_serializers``). Each one computes a JSON schema with the
attribute docstrings of every protocol class, read by ``attributes_doc`` with
``inspect.getsource`` on the class and on every class of its MRO. On Python < 3.13,
``inspect.getsource`` of a class parses its whole module with ``ast`` to find it, and nothing
is cached: ``enum.Enum``'s module (``enum.py``) is parsed once per protocol enum, the protocol
module once per protocol class: ~0.35 s of a ~1.3 s start-up, for docstrings the protocol
classes do not even have.

While the CDK is imported, :func:`cached_class_sources` answers a class's source from a cache
and parses each module once for ``inspect.findsource``. Both give exactly what the uncached
calls give (the same files, read once); they are undone when the import is over.
"""

from __future__ import annotations

import ast
import gc
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from source_meta_conversations.cdk_adaptations.registry import CdkAdaptationError


@contextmanager
def cached_class_sources() -> Iterator[None]:
    """``inspect.getsource`` memoised per object, and one ``ast.parse`` per module source."""
    original_getsource = inspect.getsource
    original_parse = ast.parse
    findsource_code = inspect.findsource.__code__
    sources: dict[Any, str] = {}
    trees: dict[str, ast.AST] = {}

    def getsource(obj: Any) -> str:
        try:
            source = sources.get(obj)
        except TypeError:  # not hashable: not cached
            return original_getsource(obj)
        if source is None:
            source = sources[obj] = original_getsource(obj)
        return source

    def parse(source: Any, *args: Any, **kwargs: Any) -> Any:
        # Only inspect.findsource's parse of a whole module (it reads the tree, never changes it).
        if args or kwargs or not isinstance(source, str):
            return original_parse(source, *args, **kwargs)
        if sys._getframe(1).f_code is not findsource_code:
            return original_parse(source)
        tree = trees.get(source)
        if tree is None:
            tree = trees[source] = original_parse(source)
        return tree

    inspect.getsource = getsource  # type: ignore[assignment]
    ast.parse = parse
    try:
        yield
    finally:
        inspect.getsource = original_getsource
        ast.parse = original_parse


@contextmanager
def frozen_when_done() -> Iterator[None]:
    """No garbage collection while the block runs, then what it built is frozen.

    The CDK's import (~1,060 modules) leaves some 100,000 objects that live as long as the
    process. The collector would scan them again and again: ~330 collections (~0.1 s) during
    the import, and again in every full collection of the sync. ``gc.freeze`` moves them to the
    permanent generation instead, as the ``gc`` docs advise for what a process builds once.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def check() -> None:
    """Raise unless ``inspect.findsource`` is still Python code that ``parse`` can recognise."""
    if not hasattr(inspect.findsource, "__code__"):
        raise CdkAdaptationError(
            "inspect.findsource is no longer a Python function on this interpreter; the start-up "
            "cache (cdk_adaptations/startup.py) cannot recognise its calls."
        )
