"""The Dagster side of the asset graph: owner, freshness windows and the downstream walk.

The graph itself (name, group = console panel, pool = task queue, deps, artifacts) is part of the
platform's own description, `dataops_platform.self_description`, which the lower layers (the spec
validator, the artifact builders) read without importing `defs/`. No Dagster import here either:
the CLI must stay fast.
"""

from __future__ import annotations

from datetime import timedelta

from dataops_platform.self_description import AUDIT, GRAPH, ROWS, AssetRow

__all__ = ["AUDIT", "FRESH_WITHIN", "GRAPH", "OWNER", "ROWS", "AssetRow", "downstream_of"]

OWNER = "team:platform"
# How stale an asset may get before Dagster flags it: the daily ops review reads the alerts and
# the SLA report, the weekly governance review the metrics and reports (an hour's grace each).
FRESH_WITHIN: dict[str, timedelta] = {
    "alerts": timedelta(days=1, hours=1),
    "sla_report": timedelta(days=1, hours=1),
    "platform_metrics": timedelta(days=7, hours=1),
    "platform_report": timedelta(days=7, hours=1),
    "test_report": timedelta(days=7, hours=1),
}


def downstream_of(*names: str) -> list[str]:
    """The named assets and everything that depends on them, in graph order."""
    wanted = set(names)
    for row in GRAPH:  # GRAPH lists every asset after its upstream assets
        if wanted.intersection(row.deps):
            wanted.add(row.name)
    return [row.name for row in GRAPH if row.name in wanted]
