"""What an adaptation of the CDK declares: the private names it touches and the patches it installs.

Every adaptation lives in this package and is declared here, so that an upgrade of the
airbyte-cdk fails loudly in one place (at start-up and in ``make test``) instead of quietly
turning off checkpointing, memory bounds or single-flight reads:

- ``PrivateName``: one private (underscore) name of the CDK, or of a library the CDK reads with,
  that an adaptation reads, overrides or replaces. ``verify`` checks it still exists on its
  owner (a method or attribute of the class or one of its bases, or, for an instance attribute,
  a name its methods' compiled code reads or writes) and, for a method, that it is still on the
  class with the expected parameters.
- ``ProcessPatch``: a change to an object shared by the whole process (a module attribute, a
  class method), installed only by ``cdk_adaptations.install()``, which the entrypoint calls.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from types import CodeType
from typing import Any

# The airbyte-cdk release every adaptation was written against and tested with (the exact pin in
# setup.py and requirements.lock). An upgrade is: bump the pin, `make lock`, `make test`.
WRITTEN_FOR_CDK = "7.39.1"


class CdkAdaptationError(RuntimeError):
    """An adaptation's target is missing or changed shape in the installed airbyte-cdk."""


def installed_cdk_version() -> str:
    """The version of the airbyte-cdk installed in this environment."""
    return metadata.version("airbyte-cdk")


def _mismatch(what: str, problem: str) -> CdkAdaptationError:
    return CdkAdaptationError(
        f"source-meta-conversations adapts {what}, which {problem} in the installed airbyte-cdk "
        f"{installed_cdk_version()} (the connector was built and tested with airbyte-cdk "
        f"{WRITTEN_FOR_CDK}). Install the connector's pinned dependencies "
        "(pip install --require-hashes -r requirements.lock), or upgrade the connector."
    )


def _resolve(module: str, owner: str | None) -> Any:
    try:
        target: Any = importlib.import_module(module)
    except ImportError as error:
        raise _mismatch(f"module {module}", f"cannot be imported ({error})") from None
    if owner is None:
        return target
    for part in owner.split("."):
        if not hasattr(target, part):
            raise _mismatch(f"{module}.{owner}", "does not exist")
        target = getattr(target, part)
    return target


def _code_objects(value: Any) -> Iterator[CodeType]:
    """The code of a function, property or class/static method, and the code nested in it."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        for part in (value.fget, value.fset, value.fdel):
            yield from _code_objects(part)
        return
    code = getattr(value, "__code__", None)
    pending = [code] if isinstance(code, CodeType) else []
    while pending:
        current = pending.pop()
        yield current
        pending.extend(const for const in current.co_consts if isinstance(const, CodeType))


def named_in_methods(cls: type, name: str) -> bool:
    """Whether a method of ``cls`` or of one of its bases reads or writes an attribute ``name``.

    An instance attribute (``self._x = ...`` in ``__init__``) is not on the class: its name is in
    the compiled code of the class's methods (``co_names``), which this reads without parsing any
    source (``inspect.getsource`` costs a parse of the whole module per class).
    """
    for base in cls.__mro__:
        if base is object:
            continue
        for value in vars(base).values():
            if any(name in code.co_names for code in _code_objects(value)):
                return True
    return False


@dataclass(frozen=True)
class PrivateName:
    """A private name of the CDK (or of dpath) that an adaptation touches.

    ``owner`` is a class path inside ``module`` (None for a module-level name); ``parameters``,
    for a method, the names of its parameters as the adaptation calls or overrides them.
    """

    module: str
    owner: str | None
    name: str
    used_by: str
    parameters: tuple[str, ...] | None = None

    @property
    def qualified(self) -> str:
        """``module.Owner.name``."""
        return ".".join(part for part in (self.module, self.owner, self.name) if part)

    def verify(self) -> None:
        """Raise ``CdkAdaptationError`` unless the name exists with the expected parameters."""
        target = _resolve(self.module, self.owner)
        # A method must be on its class; an instance attribute is found in its methods' code.
        found = hasattr(target, self.name) or (
            self.parameters is None
            and isinstance(target, type)
            and named_in_methods(target, self.name)
        )
        if not found:
            raise _mismatch(self.qualified, f"no longer exists (used by {self.used_by})")
        if self.parameters is not None:
            check_parameters(getattr(target, self.name), self.parameters, self.qualified)


def check_parameters(
    function: Callable[..., Any], expected: tuple[str, ...], what: str, *, leading: bool = False
) -> None:
    """Raise ``CdkAdaptationError`` unless ``function``'s parameters are named ``expected``.

    With ``leading``, only its first parameters must be ``expected`` (an override that passes
    the rest through as ``**kwargs``).
    """
    try:
        actual = tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        raise _mismatch(what, "is no longer a function") from None
    if (actual[: len(expected)] if leading else actual) != expected:
        raise _mismatch(what, f"takes ({', '.join(actual)}) instead of ({', '.join(expected)})")


@dataclass
class ProcessPatch:
    """A process-wide change: what it replaces, why, and how it is checked and installed."""

    target: str
    why: str
    check: Callable[[], None]
    install: Callable[[], None]
    private_names: tuple[PrivateName, ...] = field(default_factory=tuple)
