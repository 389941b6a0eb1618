"""Typing conventions mypy cannot see: a ``store`` parameter or field is typed (``Store``,
not ``Any``), and the document alias ``Doc`` has one home (``bioblocks.store``)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import bioblocks

SRC = Path(bioblocks.__file__).resolve().parent


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(SRC)), ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted(SRC.rglob("*.py"))]


def _store_annotations(tree: ast.Module) -> list[tuple[int, str]]:
    """Return ``(line, annotation or "")`` of every function parameter and annotated field
    named ``store``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if arg.arg == "store":
                    found.append((arg.lineno, "" if arg.annotation is None
                                  else ast.unparse(arg.annotation)))
        elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
              and node.target.id == "store"):
            found.append((node.lineno, ast.unparse(node.annotation)))
    return found


def test_store_parameters_are_typed() -> None:
    modules = _modules()
    assert len(modules) > 50  # the scan sees the package
    seen = [(name, line, ann) for name, tree in modules for line, ann in _store_annotations(tree)]
    assert len(seen) > 50  # jobs, pipeline, documents, api and cli all take a store
    assert {ann for _, _, ann in seen} >= {"Store", "Store | None"}
    untyped = [f"{name}:{line}: store: {ann or '(none)'}" for name, line, ann in seen
               if not ann or "Any" in ann]
    assert untyped == []


def test_doc_is_defined_once() -> None:
    homes = [
        name
        for name, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id == "Doc"
    ]
    assert homes == ["store/_store.py"]
    from bioblocks.store import Doc

    assert Doc == dict[str, Any]


def test_the_scan_finds_parameters_and_fields() -> None:
    tree = ast.parse("def f(a, store: Any, *, x=1): ...\n"
                     "async def g(store): ...\n"
                     "class C:\n    store: Store | None = None\n")
    assert _store_annotations(tree) == [(1, "Any"), (2, ""), (4, "Store | None")]
