"""The package's shape, held by tests: import graph, layering, one owner of job state.

The import graph of ``src/bookmarkai_ml`` is built with :mod:`ast` from every ``import`` in
every module (inside functions and ``TYPE_CHECKING`` blocks too). It must have no cycle, and
the inner layers (``domain``, ``contracts``, ``services``, ``db``) must not import the entry
points (``api``, ``cli``, ``workers``); see docs/architecture.md, "Package layout". The greps
of the layout issue run here as tests, and so does the rule that only the job repository
(``db/jobs``) writes ``ml_jobs.status``.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = "bookmarkai_ml"
SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / PACKAGE

INNER_LAYERS = ("domain", "contracts", "services", "db")
ENTRY_POINTS = ("api", "cli", "workers")
JOB_STATE_OWNER = f"{PACKAGE}.db.jobs"  # the job repository: a module, or a package of them

Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    """``src/bookmarkai_ml/x/y.py`` -> ``bookmarkai_ml.x.y``; an ``__init__`` is its package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _base_of_relative(module: str, is_package: bool, level: int) -> str:
    """The package a ``from .`` (``level`` dots) import in ``module`` starts from."""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    return ".".join(parts[: len(parts) - (level - 1)])


def imported_modules(
    tree: ast.AST, module: str, modules: Iterable[str], *, is_package: bool = False
) -> set[str]:
    """The package modules ``tree`` imports, resolved as Python would find them.

    ``from bookmarkai_ml.x import y`` names the module ``bookmarkai_ml.x.y`` if there is one,
    else ``bookmarkai_ml.x``; ``import bookmarkai_ml.x.y`` names its longest known prefix.
    """
    known = set(modules)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                prefixes = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
                found.add(next((p for p in prefixes if p in known), ""))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                start = _base_of_relative(module, is_package, node.level)
                base = f"{start}.{base}" if base else start
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return {name for name in found if name in known and name != module}


def import_graph() -> Graph:
    modules = package_modules()
    return {
        name: imported_modules(
            ast.parse(path.read_text(), str(path)),
            name,
            modules,
            is_package=path.name == "__init__.py",
        )
        for name, path in modules.items()
    }


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One shortest cycle (as a closed path) through each strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm; the graph has ~100 nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_shortest_cycle(graph, component) for component in components]


def _shortest_cycle(graph: Mapping[str, Iterable[str]], component: set[str]) -> list[str]:
    start = min(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(graph.get(node, ())):
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if succ in component and succ not in came_from:
                came_from[succ] = node
                queue.append(succ)
    raise AssertionError(f"no cycle through {start}")  # unreachable for a component


def _python_files(under: Path) -> list[Path]:
    return sorted(under.rglob("*.py"))


def _grep(pattern: str, under: Path, flags: int = 0) -> list[str]:
    """``file:line: text`` for each line under ``under`` matching ``pattern`` (like grep -rn)."""
    regex = re.compile(pattern, flags)
    return [
        f"{path.relative_to(SRC.parent)}:{number}: {line.strip()}"
        for path in _python_files(under)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if regex.search(line)
    ]


# The graph builder itself.


def test_from_import_resolves_to_the_submodule_or_the_package() -> None:
    modules = {"p", "p.a", "p.a.sub", "p.b", "p.c"}
    source = """
from p.a import sub, helper
import p.b.nothing
def f():
    from . import c
"""
    assert imported_modules(ast.parse(source), "p.x", modules) == {"p.a.sub", "p.a", "p.b", "p.c"}
    assert imported_modules(ast.parse("from .a import sub"), "p", modules, is_package=True) == {
        "p.a.sub"
    }


def test_cycles_are_reported_as_paths() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_covers_the_package() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.errors" in graph[f"{PACKAGE}.api.problems"]
    assert f"{PACKAGE}.config" in graph[f"{PACKAGE}.settings_docs"]


# The rules.


def test_the_import_graph_has_no_cycle() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("layer", INNER_LAYERS)
def test_inner_layers_do_not_import_the_entry_points(layer: str) -> None:
    offending = sorted(
        f"{source} imports {target}"
        for source, targets in import_graph().items()
        if _in(source, f"{PACKAGE}.{layer}")
        for target in targets
        if any(_in(target, f"{PACKAGE}.{entry}") for entry in ENTRY_POINTS)
    )
    assert not offending, "\n".join(offending)


def test_the_package_holds_no_test_server() -> None:
    servers = ("http.server", "socketserver")
    stubs = (p for p in ROOT.rglob("*stub*") if "__pycache__" not in p.parts)
    offending = [f"{p.relative_to(SRC)} is named like a stub" for p in stubs]
    for path in _python_files(ROOT):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if any(name in servers for name in names):
                offending.append(f"{path.relative_to(SRC)}:{node.lineno} imports a server module")
    assert not offending, "\n".join(offending)


# The three greps of the layout issue, line for line.


def test_messaging_does_not_import_the_workers() -> None:
    hits = _grep(r"^\s*(from|import) bookmarkai_ml\.workers", ROOT / "messaging")
    assert not hits, "\n".join(hits)


def test_services_do_not_build_adapters() -> None:
    pattern = r"^\s*(from|import) bookmarkai_ml\.(providers|media)|create_engine"
    hits = _grep(pattern, ROOT / "services")
    assert not hits, "\n".join(hits)


def test_no_getattr_with_an_f_string_name() -> None:
    hits = _grep(r'getattr\([^)]*f"', ROOT)
    assert not hits, "\n".join(hits)


# One owner of job state (docs/architecture.md).

JOB_STATUS_WRITES = (
    # raw SQL: UPDATE ml_jobs SET ... status = (before any WHERE)
    re.compile(r"UPDATE\s+ml_jobs\s+SET\b(?:(?!\bWHERE\b|;).){0,500}?\bstatus\s*=", re.I | re.S),
    # SQLAlchemy: update(Job) ... status=
    re.compile(r"\bupdate\(\s*(?:\w+\.)?Job\s*\)(?:(?!\bupdate\().){0,500}?\bstatus\s*=", re.S),
    # a status set to a JobStatus member: values(status=JobStatus.X), {"status": JobStatus.X}
    re.compile(r"""\bstatus["']?\s*[=:]\s*JobStatus\.[A-Z]"""),
    # ORM attribute assignment: job.status = ...
    re.compile(r"\.status\s*=(?!=)\s*(?:JobStatus\.|[\"'](?:queued|running|done|failed|cancel))"),
)


def test_only_the_job_repository_writes_job_status() -> None:
    offending = sorted(
        str(path.relative_to(SRC.parent))
        for path in _python_files(ROOT)
        if not _in(module_name(path), JOB_STATE_OWNER)
        and any(p.search(path.read_text()) for p in JOB_STATUS_WRITES)
    )
    assert not offending, f"ml_jobs.status is written outside {JOB_STATE_OWNER}: {offending}"


def test_the_job_status_patterns_match_the_known_forms() -> None:
    samples = [
        "UPDATE ml_jobs SET status = 'done', finished_at = now() WHERE id = :id",
        "update(Job)\n    .where(Job.id == job_id)\n    .values(status=JobStatus.FAILED)",
        'values = {"status": JobStatus.QUEUED, "attempts": 0}',
        "job.status = JobStatus.CANCELLED",
    ]
    for sample in samples:
        assert any(p.search(sample) for p in JOB_STATUS_WRITES), sample
    harmless = [
        "UPDATE ml_jobs SET lease_expires_at = now() WHERE status = 'running'",
        "UPDATE ml_budget_reservations SET status = 'released'",
        "done = sum(v.status in JobStatus.TERMINAL for v in views)",
    ]
    for sample in harmless:
        assert not any(p.search(sample) for p in JOB_STATUS_WRITES), sample
