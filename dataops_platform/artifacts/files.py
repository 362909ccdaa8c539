"""Artifact names, their files (the seed's names, SPEC §8), and reading/writing them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARTIFACT_FILES: dict[str, str] = {
    "platform_scope": "processed/platform_scope.json",
    "architecture_spec": "processed/architecture_spec.json",
    "api_catalog": "processed/api_catalog.json",
    "task_queues": "processed/task_queues.json",
    "governance_policy": "processed/governance_policy.json",
    "operating_model": "processed/operating_model.json",
    "dataset_versions": "processed/dataset_versions.jsonl",
    "experiment_runs": "processed/experiment_runs.jsonl",
    "lineage_graph": "processed/lineage_graph.json",
    "rollback_events": "processed/rollback_events.jsonl",
    "alerts": "processed/alerts.jsonl",
    "audit_log": "processed/audit_log.jsonl",
    "audit_anchor": "processed/audit_anchor.json",
    "incident_reviews": "processed/incident_reviews.jsonl",
    "sla_report": "processed/sla_report.json",
    "ui_panels": "console/ui_panels.json",
    "platform_metrics": "reports/p8_metrics.json",
    "report_md": "reports/p8_report.md",
    "report_pdf": "reports/p8_report.pdf",
    "test_results": "reports/p8_test_results.json",
    "test_report_md": "reports/p8_test_report.md",
}
# Written by test_report itself, so not yet present while it evaluates the rules.
TEST_REPORT_OUTPUTS = ("test_results", "test_report_md")


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def write_artifact(root: Path, name: str, value: Any) -> Path:
    """Write one artifact: JSONL for lists of records, JSON, Markdown or PDF bytes otherwise.

    On a local disk through a temporary file and a rename, so a reader never sees half a file;
    on an object store (a `universal_pathlib` root) one PUT, which is atomic there already."""
    path = root / ARTIFACT_FILES[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        data: str | bytes = "".join(json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) + "\n" for r in value)
    elif path.suffix == ".json":
        data = _dump(value) + "\n"
    else:
        data = value if isinstance(value, bytes) else str(value)
    local = isinstance(path, Path)
    target = path.with_suffix(path.suffix + ".tmp") if local else path
    if isinstance(data, bytes):
        target.write_bytes(data)
    else:
        target.write_text(data, encoding="utf-8")
    if local:
        target.replace(path)
    return path


def read_artifact(path: Path) -> Any:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".pdf":
        data = path.read_bytes()
        if not data.startswith(b"%PDF-"):
            raise ValueError("not a PDF file")
        return data
    return path.read_text()


class Artifacts(dict):
    """Parsed artifacts by name; `problems` names files that are missing or do not parse."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.problems: dict[str, str] = {}
        for name, relative in ARTIFACT_FILES.items():
            path = root / relative
            if not path.exists():
                self.problems[name] = f"{relative} is missing"
                continue
            try:
                self[name] = read_artifact(path)
            except (ValueError, UnicodeDecodeError) as exc:
                self.problems[name] = f"{relative} does not parse: {exc}"
