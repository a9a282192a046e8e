"""Imports point one way: a test reads every module's imports with ``ast`` and checks the layers.

Between packages: ``events`` <- ``coordinator``, ``daemon``, ``workload`` <- ``bench``;
``coordinator`` and ``daemon`` never import each other, and ``bench`` reaches an
architecture only through its registry (a dotted name in a string, never an import).
Inside ``bench`` and ``daemon`` the sub-packages are ranked: a module may import its own
sub-package and those ranked below it, never one above. So nothing imports a command.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("events", "coordinator", "daemon", "workload", "bench")

#: Which top-level packages each package may import (besides itself).
ALLOWED = {
    "events": set(),
    "coordinator": {"events"},
    "workload": {"events"},
    "daemon": {"events"},
    "bench": {"events", "workload"},
}

#: Crossings allowed on purpose, each with its reason.
EXCEPTIONS = {
    # The shipped daemon config wires the workload's simulated services as in-process
    # subscribers, so `python -m daemon` runs out of the box; nothing else in daemon/
    # knows the workload.
    ("daemon.server.subscribers.simulated", "workload"),
    # The bench starts the nats-server its jetstream runs share with the transport's own
    # EmbeddedNats (one way to find, start and stop the binary); it reaches the router
    # itself only through the registry, like every other architecture.
    ("bench.host.nats", "daemon"),
}

#: Sub-packages from the top down: a module may import only its own or a lower one.
RANKS = {
    "bench": [
        "__main__",
        "cli",
        "commands",
        "report",
        "experiments",
        "memory",
        "http",
        "analysis",
        "run",
        "routers",
        "host",
        "architectures",
        "schema",
        "quantiles",
        "exits",
    ],
    "daemon": ["__main__", "__init__", "server", "jetstream", "journal", "router"],
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, source: str) -> set[str]:
    """Absolute names of the project modules ``path`` (whose text is ``source``) imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _rank(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    order = RANKS.get(parts[0])
    if order is None:
        return None
    sub = parts[1] if len(parts) > 1 else "__init__"
    if sub not in order:
        return None
    return sub, order.index(sub)


def _violations(planted: dict[Path, str] | None = None) -> list[str]:
    """Every import against the direction; ``planted`` replaces some files' text."""
    planted = planted or {}
    known = {_module_name(p) for p in _modules()}
    found: list[str] = []
    for path in _modules():
        module = _module_name(path)
        top = module.split(".")[0]
        for target in sorted(_imports(path, planted.get(path) or path.read_text())):
            other = target.split(".")[0]
            if (module, other) in EXCEPTIONS or other == top:
                pass
            elif other not in ALLOWED[top]:
                found.append(f"{module} imports {target} ({top} may not import {other})")
                continue
            if other != top or (target not in known and target.rpartition(".")[0] not in known):
                continue
            mine, theirs = _rank(module), _rank(target)
            if mine is None or theirs is None or mine[0] == theirs[0]:
                continue
            if theirs[1] < mine[1]:
                found.append(f"{module} imports {target}: {theirs[0]} is above {mine[0]}")
    return found


def test_every_subpackage_is_ranked() -> None:
    """Every sub-package of bench/ and daemon/ has a place in the ranking."""
    expected: list[str] = []
    actual = [
        f"{pkg}.{child.name}"
        for pkg in RANKS
        for child in sorted((ROOT / pkg).iterdir())
        if child.is_dir() and (child / "__init__.py").exists() and child.name not in RANKS[pkg]
    ]
    assert expected == actual


def test_imports_point_one_way() -> None:
    """No module imports a package or sub-package above it."""
    assert _violations() == []


@pytest.mark.parametrize(
    ("module", "target"),
    [
        ("bench.run.worker", "bench.commands.run"),
        ("bench.analysis.stats", "bench.report.summary"),
        ("daemon.router.central", "daemon.server.config"),
        ("events.model", "daemon"),
    ],
)
def test_the_check_catches_an_upward_import(module: str, target: str) -> None:
    """An import planted against the direction is reported (the check is not vacuous)."""
    source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    planted = {source: source.read_text() + f"\nimport {target}\n"}
    assert any(v.startswith(f"{module} imports {target}") for v in _violations(planted))


def test_every_package_folder_says_what_it_holds() -> None:
    """Every package folder has a one-line docstring in its ``__init__.py``."""
    missing = [
        str(init.relative_to(ROOT))
        for pkg in PACKAGES
        for init in sorted((ROOT / pkg).rglob("__init__.py"))
        if not (ast.get_docstring(ast.parse(init.read_text())) or "").strip()
    ]
    assert missing == []
