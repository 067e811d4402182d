"""Every adaptation of the airbyte-cdk's internals, in one package, installed by the entrypoint.

Where the CDK has a public extension point the connector uses it (custom components declared in
the manifest, interpolated ``concurrency_level``, the declarative source's public methods). What
is left needs a private name of the CDK, and lives here, each module saying why it exists, what
it replaces and the CDK version it was written for:

=========================  ==========================================================  =========
module                     what it changes                                             scope
=========================  ==========================================================  =========
fast_dpath                 ``dpath.get`` answers literal paths without a glob walk     process
page_size                  the retriever's ``PageSizeReducer`` grows back gradually    process
single_flight              ``CachedLimiterSession.send``: one call per page at once;   process
                           no broken 200 kept in the cache
cache_redaction            ``CachedLimiterSession.__init__``: the HTTP cache stores    process
                           no appsecret_proof or token (URLs, paging links)
startup                    ``inspect.getsource``/``ast.parse`` during the CDK import,  process,
                           then ``gc.freeze`` (run.py only)                            import
factory                    the source's component factory (lazy children, cursors,     source
                           the answer-window rate policy)
checkpoint_cursors         the cursors' classes: a checkpoint per conversations page;  source
                           a child's watermark kept when its listing fails
memory                     finished futures and per-partition cursors are not kept     source
interleave                 the children's parents read both platforms in turn          source
declarative_source         applies the above; skips the stream group when reading      source
                           together
=========================  ==========================================================  =========

``install()`` checks each private name and signature against the installed CDK and fails with one
message naming the installed and the expected CDK version, then installs the process-wide
patches. ``unit_tests/test_cdk_adaptations.py`` scans the package's source for private CDK names:
each must be in ``PRIVATE_NAMES`` and used only in this package.
"""

from __future__ import annotations

from typing import Any

from source_meta_conversations.cdk_adaptations.registry import (
    WRITTEN_FOR_CDK,
    CdkAdaptationError,
    PrivateName,
    installed_cdk_version,
)

# This package's modules import the CDK; it is imported lazily, so that run.py can import
# ``startup`` (and cache the CDK's own import) before the CDK is imported at all.


def _private_names() -> tuple[PrivateName, ...]:
    """Every private name of the CDK (or of dpath) that this package touches."""
    from source_meta_conversations.cdk_adaptations import (
        checkpoint_cursors,
        declarative_source,
        factory,
        fast_dpath,
        memory,
        page_size,
    )

    return (
        *fast_dpath.PRIVATE_NAMES,
        *page_size.PRIVATE_NAMES,
        *memory.PRIVATE_NAMES,
        *factory.PRIVATE_NAMES,
        *checkpoint_cursors.PRIVATE_NAMES,
        *declarative_source.PRIVATE_NAMES,
    )


def _checks() -> tuple[Any, ...]:
    """The shape checks of every adaptation, process-wide or per source."""
    from source_meta_conversations.cdk_adaptations import (
        declarative_source,
        factory,
        memory,
        process,
        startup,
    )

    return (
        *(patch.check for patch in process.PROCESS_PATCHES),
        memory.check,
        factory.check,
        declarative_source.check,
        startup.check,
        *(name.verify for name in _private_names()),
    )


def install() -> None:
    """Check every adaptation against the installed CDK, then install the process-wide patches.

    Idempotent. Raises ``CdkAdaptationError`` (naming the installed and the expected CDK version)
    when a target is missing or changed shape; nothing is installed then.
    """
    from source_meta_conversations.cdk_adaptations import process

    process.install(_checks())


def installed() -> bool:
    """Whether ``install`` has run in this process."""
    from source_meta_conversations.cdk_adaptations import process

    return process.installed()


def __getattr__(name: str) -> Any:
    """``PRIVATE_NAMES`` and ``CHECKS``, built on first use (they import the CDK)."""
    if name == "PRIVATE_NAMES":
        return _private_names()
    if name == "CHECKS":
        return _checks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECKS",
    "PRIVATE_NAMES",
    "WRITTEN_FOR_CDK",
    "CdkAdaptationError",
    "PrivateName",
    "install",
    "installed",
    "installed_cdk_version",
]
