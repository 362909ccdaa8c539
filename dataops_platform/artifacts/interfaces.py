"""The interface tables the API catalog is checked against, provided by the interfaces themselves.

The `api_catalog` artifact resolves each catalogued API against the real `dataops` command table
and the real REST route table (consistency rule 4). The artifacts sit below the CLI and the REST
app (interfaces -> services -> store), so they never import them: each interface declares a
provider under the entry point group `dataops_platform.interface_tables` (pyproject.toml), a
function returning its `InterfaceTables`. Package metadata rather than a registry filled at import
time, so the tables are there in every process that builds artifacts (the CLI, the Dagster code
location, a Celery worker, a test calling `dg.materialize`) without that process importing the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "dataops_platform.interface_tables"


@dataclass(frozen=True)
class InterfaceTables:
    """What one interface serves: commands ('group command' -> 'module:function') and routes
    ({"method", "path", "endpoint"})."""

    commands: dict[str, str] = field(default_factory=dict)
    routes: list[dict[str, str]] = field(default_factory=list)


InterfaceTablesProvider = Callable[[], InterfaceTables]


class InterfaceTablesMissing(RuntimeError):
    """No interface declared its tables: the package's metadata is older than its code."""


@dataclass(frozen=True)
class CollectedTables:
    providers: list[str]  # entry point names, e.g. ["cli", "rest"]
    commands: dict[str, str]
    routes: list[dict[str, str]]


def collect_interface_tables() -> CollectedTables:
    """Every declared interface's tables, merged (commands by name, routes sorted by path and method)."""
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if not found:
        raise InterfaceTablesMissing(
            f"no interface declares its command or route table (entry point group {ENTRY_POINT_GROUP!r} is empty): "
            "the installed package metadata is older than the code; reinstall it (`make setup`, or "
            "`pip install -e .`)"
        )
    commands: dict[str, str] = {}
    routes: list[dict[str, str]] = []
    for ep in found:
        provider: InterfaceTablesProvider = ep.load()
        tables = provider()
        commands |= tables.commands
        routes += tables.routes
    return CollectedTables(
        [ep.name for ep in found], dict(sorted(commands.items())), sorted(routes, key=lambda r: (r["path"], r["method"]))
    )
