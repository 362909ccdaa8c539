"""A rule is judged once per set of inputs in a process (rules.registry): the checks, the metrics,
the report and the test report each build their own `Artifacts`, whose parsed values the parse
cache shares; a rule is judged again as soon as one artifact it read is another value."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dataops_platform.artifacts.files import PARSED, Artifacts, write_artifact
from dataops_platform.rules import evaluate, registry
from dataops_platform.settings import Settings


@pytest.fixture
def root(demo_home: tuple[Settings, object], tmp_path: Path) -> Path:
    PARSED.clear()
    target = tmp_path / "artifacts"
    shutil.copytree(demo_home[0].artifacts_dir, target)
    yield target
    PARSED.clear()


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count real judgements on artifacts: each one reads them through a new `_Reading` view."""
    made: list[int] = []

    class Counting(registry._Reading):
        __slots__ = ()

        def __init__(self, inner: object) -> None:
            made.append(1)
            super().__init__(inner)

    monkeypatch.setattr(registry, "_Reading", Counting)
    return made


def test_a_rule_is_judged_once_on_the_same_values_and_again_when_one_changes(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    first = evaluate(Artifacts(root), {7})[0]
    again = evaluate(Artifacts(root), {7})[0]  # another Artifacts on the same, unchanged files
    assert len(calls) == 1 and again.as_dict() == first.as_dict()
    again.violations.append("changed by a caller")
    assert evaluate(Artifacts(root), {7})[0].violations == first.violations, "callers get copies"
    runs = Artifacts(root)["experiment_runs"]
    write_artifact(root, "experiment_runs", [dict(runs[0], dataset_version="nowhere"), *runs[1:]])
    changed = evaluate(Artifacts(root), {7})[0]
    assert len(calls) == 2 and changed.violations and not first.violations
    versions = Artifacts(root)["dataset_versions"]
    write_artifact(root, "dataset_versions", versions)  # the same records, a new file: another value
    evaluate(Artifacts(root), {7})
    assert len(calls) == 3, "an input the rule read was replaced: judged again"


def test_rules_reading_more_than_artifacts_by_name_are_judged_every_time(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    assert evaluate(Artifacts(root), {1})[0].passed
    assert evaluate(Artifacts(root), {1})[0].passed
    assert len(calls) == 2, "rule 1 reads the problems: never remembered"
    (root / "processed" / "sla_report.json").unlink()
    assert not evaluate(Artifacts(root), {1})[0].passed, "rule 1 sees the file gone at once"
