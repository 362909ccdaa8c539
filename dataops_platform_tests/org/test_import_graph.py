"""The real import graph of `dataops_platform`, read from its source with `ast`: imports flow one
way, interfaces -> services -> store -> foundation, and no two packages import each other, however
indirectly. Every import counts, the ones inside functions too (a lazy import is still a
dependency: the artifact builders' lazy imports of the CLI and the REST app were the cycle of
issue 15).

A node is a subpackage (`dataops_platform.governance`) or a top-level module
(`dataops_platform.metrics`). `KNOWN_CYCLE_EDGES` lists the edges of cycles that existed before
this test and belong to other work; each names the cycle, where the edge is and what removes it.
The test fails on any other cycle, and on a listed edge that no longer exists (then delete it
from the list: the list only ever shrinks).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import dataops_platform

PACKAGE = Path(dataops_platform.__file__).parent
ROOT = "dataops_platform"

# Where each package and top-level module sits. A new one must be placed here (the test names it).
# mlflow: the integration, over tracking; client: the REST client, over the api models; dagster: over the client
INTERFACES = {"cli", "api", "defs", "definitions", "demo", "stack", "mlflow", "client", "dagster"}
SERVICES = {
    "governance", "tracking", "rules", "metrics", "report", "artifacts", "spec",
    "notify", "openlineage", "sources",
}  # fmt: skip
STORE = {"store"}
FOUNDATION = {"clock", "errors", "text", "settings", "self_description"}  # import nothing above them
TIER = {n: 0 for n in FOUNDATION} | {n: 1 for n in STORE} | {n: 2 for n in SERVICES} | {n: 3 for n in INTERFACES}
TIER_NAME = {0: "foundation", 1: "store", 2: "services", 3: "interfaces"}

# (importer, imported) -> why it is still here and what removes it. Temporary: remove an entry when
# its edge is gone (the test says so).
KNOWN_CYCLE_EDGES: dict[tuple[str, str], str] = {
    ("sources", "governance"): (
        "governance <-> sources: the source backends (sources/*.py) import dataset helpers from governance/datasets.py "
        "(ReadLimits, FORMATS, shown_path, arrow_records, iter_records, ...); moving those helpers into sources/ "
        "(dataset reading) removes it"
    ),
    ("governance", "notify"): (
        "governance <-> notify: the services enqueue notification events (governance/platform.py -> notify.outbox, "
        "alerts/versions/rollback/exceptions.py -> notify.events) while notify/service.py and dispatch.py use "
        "governance's Platform, audit and authz; the event payloads and the outbox table belong below both"
    ),
    ("governance", "tracking"): (
        "governance <-> tracking: governance/gate.py, experiments.py and versions.py import tracking.regression and "
        "tracking.sync.system_actor while tracking/sync.py records experiments through governance; the regression "
        "policy (pure) belongs with governance or below it"
    ),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _node(module: str) -> str | None:
    """`governance` for `dataops_platform.governance.gate`; None for the package itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == ROOT and len(parts) > 1 else None


def _imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported module, line) of every import in a module, relative ones resolved."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == ROOT:  # `from dataops_platform import self_description`
                out += [(f"{ROOT}.{alias.name}", node.lineno) for alias in node.names]
            else:
                out.append((target, node.lineno))
    return out


def import_graph() -> dict[str, dict[str, list[str]]]:
    """{importer node: {imported node: ["path:line", ...]}} over every source file of the package."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        source = _node(module)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, line in _imported(tree, module, path.name == "__init__.py"):
            imported = _node(target)
            if imported is not None and imported != source and imported != "__version__":
                graph[source][imported].append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _shown(graph: dict[str, dict[str, list[str]]], cycle: list[str]) -> str:
    return "\n".join(f"  {a} -> {b}: {', '.join(graph[a][b][:3])}" for a, b in zip(cycle, cycle[1:], strict=False))


def test_the_walk_sees_the_real_imports() -> None:
    """The graph is read from the source, so a test of its shape proves something only if the walk
    finds what is there: a lazy import inside a function, a relative import, `from pkg import mod`."""
    graph = import_graph()
    assert "cli" in graph["definitions"] or "defs" in graph["definitions"]
    assert "self_description" in graph["spec"]  # `from dataops_platform import self_description as code`
    assert any(":" in where for where in graph["artifacts"]["governance"])
    nodes = {n for n in graph} | {m for targets in graph.values() for m in targets}
    assert {"governance", "store", "spec", "cli", "defs", "artifacts"} <= nodes


def test_every_package_and_module_has_a_tier() -> None:
    on_disk = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    on_disk |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    missing = sorted(on_disk - set(TIER))
    assert not missing, f"place {missing} in a tier of {__name__} (INTERFACES, SERVICES, STORE or FOUNDATION)"
    assert not set(TIER) - on_disk, f"tiers name modules that do not exist: {sorted(set(TIER) - on_disk)}"


def test_imports_flow_one_way_interfaces_services_store() -> None:
    """Nothing imports a tier above its own: services never import an interface (the artifacts get
    the CLI's and the REST API's tables through `artifacts.interfaces`), the store no service."""
    graph = import_graph()
    upward = [
        f"{a} ({TIER_NAME[TIER[a]]}) imports {b} ({TIER_NAME[TIER[b]]}): {', '.join(where[:3])}"
        for a, targets in sorted(graph.items())
        for b, where in sorted(targets.items())
        if a in TIER and b in TIER and TIER[b] > TIER[a]
    ]
    assert not upward, "imports against the flow interfaces -> services -> store -> foundation:\n" + "\n".join(upward)


def test_no_import_cycle_between_packages() -> None:
    graph = import_graph()
    edges = {a: set(targets) - {b for (x, b) in KNOWN_CYCLE_EDGES if x == a} for a, targets in graph.items()}
    cycle = find_cycle(edges)
    assert cycle is None, f"import cycle {' -> '.join(cycle)}:\n{_shown(graph, cycle)}"


def test_known_cycle_edges_still_exist() -> None:
    """A listed exception whose edge is gone must leave the list, so it cannot hide a new cycle later."""
    graph = import_graph()
    gone = [f"{a} -> {b}" for a, b in KNOWN_CYCLE_EDGES if b not in graph.get(a, {})]
    assert not gone, f"no longer imported, remove from KNOWN_CYCLE_EDGES: {gone}"
    # And each still closes a cycle: an edge that no longer does is no exception any more.
    for a, b in KNOWN_CYCLE_EDGES:
        others = {x: set(t) for x, t in graph.items()}
        others[a] = others[a] - {b}
        assert _reaches(others, b, a), f"{a} -> {b} closes no cycle now: remove it from KNOWN_CYCLE_EDGES"


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo += graph.get(node, ())
    return False


def test_find_cycle_finds_one_and_only_one_that_is_there() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y"}}) == ["y", "y"]
