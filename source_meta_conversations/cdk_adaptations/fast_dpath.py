"""A fast path for ``dpath.get`` on literal paths (a process-wide patch, installed by run.py).

Replaces: ``dpath.get`` (dpath 2.2, as airbyte-cdk 7.39.1 calls it). Written for: airbyte-cdk
7.39.1.

Why: the CDK reads fields with ``dpath.get`` (the record extractor's ``data``, the substream
router's parent key and lazy pointer). ``dpath.get`` matches its path as a glob against every
node of the object, so reading ``data`` from a Graph page of 25 conversations with 20 nested
messages each walks the whole page, and reading a conversation's ``id`` walks all its nested
messages. Measured on 1,000 conversations x 20 messages, that walking was about a quarter of the
sync's CPU (docs/benchmarks.md).

A path without glob characters names one place, so it is looked up directly; any other path,
and any path the direct lookup does not find, goes to the original ``dpath.get`` unchanged, so
results (values, defaults, KeyError) are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dpath

from source_meta_conversations.cdk_adaptations.registry import (
    PrivateName,
    ProcessPatch,
    check_parameters,
)

_GLOB_CHARACTERS = frozenset("*?[]")
_original_get = dpath.get


def _literal_segments(glob: Any, separator: str | None) -> list[str] | None:
    """The path's segments when none of them is a glob, else None."""
    if isinstance(glob, str):
        if not separator:
            return None
        # As dpath splits it: only leading separators are dropped; an empty segment is the key
        # "" (the CDK allows empty keys), which is left to dpath itself.
        segments = glob.lstrip(separator).split(separator)
        if "" in segments:
            return None
    elif isinstance(glob, (list, tuple)):
        segments = list(glob)
    else:
        return None
    if not segments or not all(isinstance(segment, str) for segment in segments):
        return None
    if any(_GLOB_CHARACTERS.intersection(segment) for segment in segments):
        return None
    return segments


def fast_get(
    obj: Any, glob: Any, separator: str = "/", default: Any = dpath._DEFAULT_SENTINEL
) -> Any:
    """``dpath.get`` with a direct lookup for literal paths through mappings."""
    segments = _literal_segments(glob, separator)
    if segments is not None:
        current = obj
        for segment in segments:
            if isinstance(current, Mapping) and segment in current:
                current = current[segment]
            else:
                break
        else:
            return current
    return _original_get(obj, glob, separator, default)


PRIVATE_NAMES = (
    PrivateName("dpath", None, "_DEFAULT_SENTINEL", used_by="fast_dpath: dpath.get's default"),
)


def check() -> None:
    """Raise unless ``dpath.get`` still takes ``(obj, glob, separator, default)``."""
    check_parameters(_original_get, ("obj", "glob", "separator", "default"), "dpath.get")


def install() -> None:
    """Replace ``dpath.get`` with ``fast_get`` (idempotent)."""
    dpath.get = fast_get


PATCH = ProcessPatch(
    target="dpath.get",
    why="the CDK reads literal paths with a glob walk of the whole record (a quarter of the CPU)",
    check=check,
    install=install,
    private_names=PRIVATE_NAMES,
)
