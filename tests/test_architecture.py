"""The package layering: arrows point one way, and no function-local import hides a cycle.

Models at the bottom (registry, accounts), policy and actions beside them, then the entry points:
the registry's endpoints, the worker, and on top the pages, the API and the CLI. A lower package
that must tell an upper one something sends a signal the upper one subscribes to (see
docs/architecture.md).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PORTUS = ROOT / "portus"
ENTRY_POINTS = (
    "portus.web",
    "portus.api",
    "portus.cli",
    "portus.server",
    "portus.background",
    "portus.registry_endpoints",
)

# What each package may not import: everything that sits above it.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "portus.registry": (*ENTRY_POINTS, "portus.webhooks"),
    "portus.accounts": (*ENTRY_POINTS, "portus.webhooks"),
    "portus.security": (*ENTRY_POINTS, "portus.webhooks"),
    "portus.webhooks": ENTRY_POINTS,
    "portus.policy": ENTRY_POINTS,
    "portus.importer": ENTRY_POINTS,
    "portus.registry_endpoints": ("portus.background", "portus.web", "portus.api", "portus.cli", "portus.server"),
    "portus.background": ("portus.web", "portus.api", "portus.cli", "portus.server", "portus.registry_endpoints"),
    # The layer-1 counters every process increments: they import nothing of Portus's.
    "portus.metrics": (*ENTRY_POINTS, "portus.registry", "portus.accounts", "portus.security", "portus.policy"),
}

# The one deliberate exception: portusctl starts without Django, and a subcommand sets Django up
# (setup_django) before it imports a module that defines or loads models; importing those at the top
# would raise AppRegistryNotReady before the command line is even parsed. Key: (module, imported module).
NEEDS_DJANGO = "loads models: imported after setup_django()"
LOCAL_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {
    ("portus.cli.admin", "portus.accounts.models"): NEEDS_DJANGO,
    ("portus.cli.admin", "portus.registry.deletion"): NEEDS_DJANGO,
    ("portus.cli.security", "portus.security.advisories"): NEEDS_DJANGO,
    ("portus.security.apps", "portus.security.scans"): "AppConfig.ready: models exist only once the apps are loaded",
    ("portus.webhooks.apps", "portus.webhooks.actions"): "AppConfig.ready: models exist only once the apps are loaded",
    ("portus.cli.admin", "portus.accounts.actions"): NEEDS_DJANGO,
    ("portus.cli.admin", "portus.registry.models"): NEEDS_DJANGO,
    ("portus.cli.admin", "portus.registry.actions"): NEEDS_DJANGO,
    ("portus.cli.admin", "portus.registry.distribution_config"): NEEDS_DJANGO,
    ("portus.cli.background", "portus.background.worker"): NEEDS_DJANGO,
    ("portus.cli.background", "portus.registry.models"): NEEDS_DJANGO,
    ("portus.cli.background", "portus.registry.activity"): NEEDS_DJANGO,
    ("portus.cli.background", "portus.registry.sync"): NEEDS_DJANGO,
    ("portus.cli.importer", "portus.importer.run"): NEEDS_DJANGO,
    ("portus.cli.importer", "portus.importer.source"): NEEDS_DJANGO,
    ("portus.cli.importer", "portus.registry.models"): NEEDS_DJANGO,
    ("portus.cli.server", "portus.accounts.actions"): NEEDS_DJANGO,
    ("portus.cli.server", "portus.accounts.models"): NEEDS_DJANGO,
    ("portus.cli.server", "portus.registry.actions"): NEEDS_DJANGO,
    ("portus.cli.server", "portus.registry.distribution_config"): NEEDS_DJANGO,
    (
        "portus.cli.server",
        "portus.registry.signing",
    ): "with the other set-up imports of `portusctl up`, after setup_django()",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PORTUS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def portus_sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PORTUS.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        yield module_name(path), ast.parse(path.read_text(), filename=str(path))


def imported_modules(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """The absolute names one import statement reads, relative imports resolved against MODULE."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".")
        base = ".".join(package[: len(package) - node.level])
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def all_imports(tree: ast.Module, module: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in imported_modules(node, module):
                yield node.lineno, name


def local_imports(tree: ast.Module, module: str) -> Iterator[tuple[int, str]]:
    """Imports of portus inside a function body: each one hides a dependency from a reader of the module's head."""
    seen: set[int] = set()  # a nested function is walked twice: once on its own, once inside its parent
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno not in seen:
                seen.add(node.lineno)
                names = imported_modules(node, module)
                if is_within(names[0], "portus"):
                    yield node.lineno, names[0]


SOURCES = dict(portus_sources())


def test_the_scan_reads_every_package_of_portus() -> None:
    packages = {name.split(".")[1] for name in SOURCES if name.count(".") >= 1}
    assert {"accounts", "registry", "registry_endpoints", "background", "web", "api", "cli"} <= packages


@pytest.mark.parametrize("lower", sorted(FORBIDDEN))
def test_a_lower_package_never_imports_the_packages_above_it(lower: str) -> None:
    upward = [
        f"{module}:{line} imports {name}"
        for module, tree in SOURCES.items()
        if is_within(module, lower)
        for line, name in all_imports(tree, module)
        if any(is_within(name, upper) for upper in FORBIDDEN[lower])
    ]
    assert upward == []


def test_the_layering_check_sees_an_upward_import() -> None:
    tree = ast.parse("from portus.web.views import dashboard\n\ndef f():\n    import portus.api.urls\n")
    names = [name for _, name in all_imports(tree, "portus.registry.models")]
    assert "portus.web.views.dashboard" in names and "portus.api.urls" in names
    assert [name for _, name in local_imports(tree, "portus.registry.models")] == ["portus.api.urls"]


def test_no_function_imports_portus_inside_its_body() -> None:
    hidden = [
        f"{module}:{line} imports {name} inside a function"
        for module, tree in SOURCES.items()
        for line, name in local_imports(tree, module)
        if (module, name) not in LOCAL_IMPORTS_ALLOWED
    ]
    assert hidden == []


def test_every_allowed_local_import_still_exists() -> None:
    present = {(module, name) for module, tree in SOURCES.items() for _, name in local_imports(tree, module)}
    assert set(LOCAL_IMPORTS_ALLOWED) <= present


def readme_layout() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


LAYOUT_NEEDS_NO_LINE = {"__init__", "__main__", "__pycache__", "apps", "migrations"}


def test_the_readme_layout_names_every_module_and_folder_of_portus() -> None:
    layout = readme_layout()
    places = [path for path in PORTUS.iterdir() if path.stem not in LAYOUT_NEEDS_NO_LINE]
    places += [
        path
        for package in PORTUS.iterdir()
        if package.is_dir() and package.name not in LAYOUT_NEEDS_NO_LINE
        for path in package.iterdir()
        if path.stem not in LAYOUT_NEEDS_NO_LINE and (path.is_dir() or path.suffix == ".py")
    ]
    unnamed = [
        str(path.relative_to(PORTUS)) for path in places if re.search(rf"\b{re.escape(path.stem)}\b", layout) is None
    ]
    assert unnamed == []


def test_the_readme_layout_names_nothing_that_is_gone() -> None:
    named = set(re.findall(r"\b(\w+)\.py\b", readme_layout())) | set(re.findall(r"(?<![/\w])(\w+)/", readme_layout()))
    present = {path.stem for path in PORTUS.rglob("*") if "__pycache__" not in path.parts}
    outside_portus = {"tests", "bench", "docs", "scripts", "portus", "templates", "static"}
    assert named - present - outside_portus == set()
