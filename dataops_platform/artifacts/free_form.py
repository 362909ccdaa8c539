"""The experiments' free-form fields (metrics, deltas, params, the MLflow run), walked once a run.

pyarrow cannot hold an object of arbitrary keys, nor say whether one is empty, so these fields
are read from the records themselves (`columns.whole_records`: a projection's file parsed line by
line, nothing held). The metrics ask whether each is empty; the report asks the delta and the
value of each project's primary metric. Both read `experiment_facts`: one walk of a million
experiments (about 5 s) serves both, and what is kept is a few bytes a record, not its dicts.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from dataops_platform.artifacts.columns import Projection, whole_records
from dataops_platform.artifacts.files import PARSED


@dataclass(frozen=True)
class ExperimentFacts:
    """Per experiment, in the records' order."""

    with_summary: bytearray  # 1 when its metric_summary is not empty
    with_params: bytearray  # 1 when its params are not empty
    with_run: bytearray  # 1 when it holds an MLflow run
    delta: list[Any]  # with a baseline: its delta on its project's primary metric (None when absent); else None
    value: list[Any]  # with a baseline: its value of that metric; else None


def primary_metrics(policy: Any) -> dict[str, str]:
    """The primary metric of each project the governance policy's regression rules name (none for
    a policy, or a project's rule, that is not an object: what the report shows, not a verdict)."""
    rules = policy.get("regression") if isinstance(policy, dict) else None
    if not isinstance(rules, dict):
        return {}
    return {project: rule.get("primary_metric", "") for project, rule in rules.items() if isinstance(rule, dict)}


# [a weak reference to the records walked, the primary metrics asked, their facts]: a projection is
# the parse cache's value for an unchanged file (the same object for every reader of a run), and is
# not kept alive here once the cache lets it go; parsed records, which a caller may change in place,
# are walked every time.
_MEMO: list[Any] = []
PARSED.on_clear(_MEMO.clear)


def experiment_facts(records: Any, primary: dict[str, str]) -> ExperimentFacts:
    """The facts of the experiment `records` (a projection or parsed records), with `primary` the
    primary metric per project (`primary_metrics`; a project it does not name has none)."""
    if _MEMO and _MEMO[0]() is records and _MEMO[1] == primary:
        return _MEMO[2]
    _MEMO.clear()
    with_summary, with_params, with_run, deltas, values = bytearray(), bytearray(), bytearray(), [], []
    for e in whole_records(records):  # a field that is missing, or not an object where one is read, counts as empty
        if not isinstance(e, dict):  # as reading a field of it would: a rule reading this says it cannot evaluate
            raise TypeError(f"an experiment record is not an object: {e!r:.80}")
        summary, delta = e.get("metric_summary"), e.get("deltas")
        with_summary.append(bool(summary))
        with_params.append(bool(e.get("params")))
        with_run.append(bool(e.get("mlflow_run")))
        if e.get("baseline_ref"):
            metric = primary.get(e.get("project_id"), "")
            deltas.append(delta.get(metric) if isinstance(delta, dict) else None)
            values.append(summary.get(metric) if isinstance(summary, dict) else None)
        else:
            deltas.append(None)
            values.append(None)
    facts = ExperimentFacts(with_summary, with_params, with_run, deltas, values)
    if isinstance(records, Projection):
        _MEMO[:] = [weakref.ref(records), dict(primary), facts]
    return facts
