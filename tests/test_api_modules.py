"""How portus/api is put together: one router module per resource, request and response shapes in
portus/api/schemas.py, shared helpers in neutral modules; no router imports another."""

from __future__ import annotations

import ast
from pathlib import Path

import portus.api

API = Path(portus.api.__file__).parent


def parsed() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(API.glob("*.py"))}


def is_router(module: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "router" for t in node.targets)
        for node in module.body
    )


def imported_modules(module: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(module):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_resources_are_routers() -> None:
    routers = {name for name, module in parsed().items() if is_router(module)}
    assert {"users", "teams", "namespaces", "repositories", "tags", "search", "stars", "comments"} <= routers


def test_only_urls_imports_the_routers() -> None:
    modules = parsed()
    routers = {f"portus.api.{name}" for name, module in modules.items() if is_router(module)}
    crossings = {
        (f"portus.api.{name}", other)
        for name, module in modules.items()
        for other in imported_modules(module) & routers
        if name != "urls"  # urls assembles the routers
    }
    assert not crossings


def test_routers_and_helpers_declare_no_request_or_response_shapes_of_their_own() -> None:
    declared = {
        (name, node.name)
        for name, module in parsed().items()
        if name not in ("schemas", "params")  # params: the base body and parameter types
        for node in ast.walk(module)
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id in ("Schema", "Body") for base in node.bases)
    }
    assert not declared
