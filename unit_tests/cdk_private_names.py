"""Finds, in the connector's source, every private name of the airbyte-cdk (or dpath) it touches.

A private name is one with a single leading underscore (``_x``, not ``__x__``). It counts as the
CDK's when the code:

- imports it from a module of ``airbyte_cdk`` or ``dpath``;
- reads or writes it on an object other than ``self``/``cls`` (``source._concurrent_source``),
  and the CDK or dpath defines a name so spelled anywhere (a method, a class attribute, a
  ``self._x =`` assignment, a module-level name);
- in a class that derives from a CDK class, defines a method so named or uses ``self._x``, and
  that CDK class (or one of its bases) has it: an override, or a read of its state.

Assigning an object's ``__class__`` or changing its ``__dict__`` (``x.__dict__.update(...)``) is
found too: it adapts the object's internals, whatever the names. Reading ``__dict__`` is not.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from source_meta_conversations.cdk_adaptations.registry import named_in_methods

LIBRARIES = ("airbyte_cdk", "dpath")
CLASS = "__class__"
DICT = "__dict__"
DICT_MUTATORS = frozenset({"update", "clear", "pop", "popitem", "setdefault", "__setitem__"})


@dataclass(frozen=True, order=True)
class Use:
    """One use of a private CDK name: where, and which name."""

    path: str
    line: int
    name: str


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _library_of(module: str | None) -> bool:
    return bool(module) and str(module).split(".")[0] in LIBRARIES


@cache
def library_private_names() -> frozenset[str]:
    """Every private name the installed CDK and dpath define, anywhere in their source."""
    names: set[str] = set()
    for library in LIBRARIES:
        root = Path(importlib.import_module(library).__file__ or "").parent
        for path in root.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
    return frozenset(name for name in names if _is_private(name))


def _imported_library_names(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Local name -> (module, name) for every name the module imports from the CDK or dpath."""
    imported: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _library_of(node.module):
            for alias in node.names:
                imported[alias.asname or alias.name] = (str(node.module), alias.name)
    return imported


def _library_bases(node: ast.ClassDef, imported: dict[str, tuple[str, str]]) -> list[type]:
    bases: list[type] = []
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in imported:
            module, name = imported[base.id]
            value = getattr(importlib.import_module(module), name, None)
            if isinstance(value, type):
                bases.append(value)
    return bases


def _base_has(bases: list[type], name: str) -> bool:
    return any(hasattr(base, name) or named_in_methods(base, name) for base in bases)


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, imported: dict[str, tuple[str, str]]) -> None:
        self.path = path
        self.imported = imported
        self.uses: set[Use] = set()
        self._bases: list[list[type]] = []

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if _library_of(node.module):
            for alias in node.names:
                if _is_private(alias.name):
                    self.uses.add(Use(self.path, node.lineno, alias.name))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bases.append(_library_bases(node, self.imported))
        for item in node.body:
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if _is_private(item.name) and _base_has(self._bases[-1], item.name):
                self.uses.add(Use(self.path, item.lineno, item.name))
        self.generic_visit(node)
        self._bases.pop()

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr == CLASS:
                self.uses.add(Use(self.path, node.lineno, CLASS))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in DICT_MUTATORS
            and isinstance(func.value, ast.Attribute)
            and func.value.attr == DICT
        ):
            self.uses.add(Use(self.path, node.lineno, DICT))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = node.attr
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if _is_private(name):
            if owner in ("self", "cls"):
                bases = self._bases[-1] if self._bases else []
                if _base_has(bases, name):
                    self.uses.add(Use(self.path, node.lineno, name))
            elif name in library_private_names():
                self.uses.add(Use(self.path, node.lineno, name))
        self.generic_visit(node)


def private_uses(package: Path) -> list[Use]:
    """Every use of a private CDK (or dpath) name in the ``.py`` files under ``package``."""
    uses: set[Use] = set()
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        scanner = _Scanner(str(path.relative_to(package.parent)), _imported_library_names(tree))
        scanner.visit(tree)
        uses |= scanner.uses
    return sorted(uses)
