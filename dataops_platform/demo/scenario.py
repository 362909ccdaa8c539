"""The reference scenario of SPEC §12, played through the real services by the right users.

A deterministic clock and seeds; real data files; real scikit-learn training logged to MLflow;
the regression comes from a version with flipped labels judged by the policy, the failure from
a run that really raises. Nothing here writes a result: the metrics are computed afterwards from
what the services recorded.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dataops_platform.clock import FixedClock
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.demo.training import run_experiment
from dataops_platform.errors import InvalidInput
from dataops_platform.governance.alerts import acknowledge_alert, list_alerts, resolve_alert
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.reviews import FixItem, ReviewInput, add_review
from dataops_platform.governance.rollback import execute_rollback
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.governance.versions import register_version, release_version, validate_version
from dataops_platform.governance.watchers import open_quality_gate_alerts
from dataops_platform.settings import Settings
from dataops_platform.spec.loader import load_spec
from dataops_platform.tracking.client import Tracking
from dataops_platform.tracking.sync import sync_runs

EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "platform.yaml"
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday, outside every freeze window
SYSTEM = "dataops-system"
GOOD = {"C": 4.0, "max_iter": 300}

Progress = Callable[[str], None]


@dataclass
class DemoPlatform:
    platform: Platform
    tracking: Tracking
    clock: FixedClock


def _at(clock: FixedClock, minutes: float) -> None:
    clock.set(START + timedelta(minutes=minutes))


DEMO_MARKER = ".dataops_demo"  # written into every home the demo makes; only such a home is replaced


def refuse_foreign_home(home: Path, keep: tuple[str, ...] = ()) -> None:
    """The demo replaces its home whole: refuse, touching nothing, a non-empty home it did not make
    (a real organisation's store, audit log, data and MLflow runs). A home made by an earlier
    version of the demo is recognised by its `demo_data/` folder."""
    if not home.exists():
        return
    if not home.is_dir():
        raise InvalidInput(f"home {home} is not a directory", field="home", value=str(home))
    entries = [entry.name for entry in home.iterdir() if entry.name not in keep]
    if entries and DEMO_MARKER not in entries and "demo_data" not in entries:
        shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise InvalidInput(
            f"home {home} is not empty and was not made by the demo ({shown}); the demo would replace it whole. "
            "Pass another --home, or `dataops demo --force` to replace it anyway",
            field="home",
            value=str(home),
        )


def play_scenario(
    settings: Settings,
    spec_path: Path = EXAMPLE_SPEC,
    progress: Progress = print,
    keep: tuple[str, ...] = (),
    force: bool = False,
) -> DemoPlatform:
    """Run the whole story on a fresh home; raises if any step does not behave as the story needs.

    Everything in the home is replaced except the entries named in `keep` (a running stack lives
    in `stack/`; the caller then makes sure the stack's stores are empty). A non-empty home the
    demo did not make is refused unless `force` (`refuse_foreign_home`)."""
    if not force:
        refuse_foreign_home(settings.home_dir, keep)
    if settings.home_dir.exists():
        for entry in settings.home_dir.iterdir():
            if entry.name not in keep:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    settings.ensure_home()
    (settings.home_dir / DEMO_MARKER).write_text("made by `dataops demo`; the next demo may replace this home\n")
    clock = FixedClock(START)
    platform = Platform(settings, clock)
    tracking = Tracking(settings.tracking_uri, settings.mlflow_artifact_root)
    data = settings.home_dir / "demo_data"

    def version(actor: str, project: str, name: str, records: list, parent: str | None, summary: list[str]) -> str:
        path = write_records(records, data / name)
        return register_version(platform, actor, project, path, parent, summary).version_id

    def validate_and_release(version_id: str) -> None:
        validate_version(platform, "quinn", version_id)
        release_version(platform, "priya", version_id)

    progress("bootstrap: store, first admin, reference organisation")
    initialize(platform, "alice")
    apply_spec(platform, "alice", load_spec(spec_path), str(spec_path))

    progress("dataset versions: first cut per project")
    retail = version("dan", "p01_retail_search", "retail_v1.jsonl", sample_records(80, 11), None, ["initial crawl"])
    health = version(
        "hugo", "p03_clinical_qa", "health_v1.csv", sample_records(80, 13, source="ehr_notes"), None, ["de-identified notes"]
    )
    legal1 = version(
        "lena", "p02_legal_sft", "legal_v1.parquet", sample_records(80, 21, source="case_law"), None, ["seed corpus"]
    )
    for v in (retail, health, legal1):
        validate_and_release(v)

    progress("experiments: baseline training runs (scikit-learn, logged to MLflow)")
    run_experiment(platform, tracking, "dan", retail, GOOD, "retail-baseline")
    run_experiment(platform, tracking, "hugo", health, GOOD, "clinical-baseline")
    run_experiment(platform, tracking, "lena", legal1, GOOD, "legal-baseline")
    sync_runs(platform, tracking)

    _at(clock, 30)
    progress("p02: a larger version, evaluated, then released")
    legal2 = version(
        "lena",
        "p02_legal_sft",
        "legal_v2.jsonl",
        sample_records(120, 22, source="case_law"),
        legal1,
        ["fix duplicated chunking", "add 40 annotated cases"],
    )
    validate_version(platform, "quinn", legal2)
    run_experiment(platform, tracking, "lena", legal2, GOOD, "legal-v2-eval")
    sync_runs(platform, tracking)
    release_version(platform, "priya", legal2)

    _at(clock, 60)
    progress("p01: a new crawl; a run on it with an invalid configuration really raises")
    retail2 = version(
        "dan",
        "p01_retail_search",
        "retail_v2.jsonl",
        sample_records(60, 12, splits=("train",)),
        retail,
        ["new crawl, split step skipped"],
    )
    try:
        run_experiment(platform, tracking, "dan", retail2, {"C": -1.0, "max_iter": 300}, "retail-v2-bad-config")
    except ValueError:
        pass  # scikit-learn refused C=-1; the MLflow run is FAILED and sync records it
    else:
        raise RuntimeError("the misconfigured run was expected to fail")
    failure_alerts = sync_runs(platform, tracking).alerts
    _at(clock, 70)
    acknowledge_alert(platform, "omar", failure_alerts[0])
    _at(clock, 75)
    run_experiment(platform, tracking, "dan", retail, GOOD, "retail-rerun")
    sync_runs(platform, tracking)
    _at(clock, 82.5)
    resolve_alert(platform, "omar", failure_alerts[0], "invalid regularisation C=-1 in the run config; fixed and re-run")

    _at(clock, 120)
    progress("p01: the new crawl has no test split, so the quality gate rejects it")
    validate_version(platform, "quinn", retail2)
    gate_alerts = open_quality_gate_alerts(platform, SYSTEM)
    _at(clock, 135)
    acknowledge_alert(platform, "omar", gate_alerts[0])
    _at(clock, 155)
    resolve_alert(platform, "omar", gate_alerts[0], "split step restored in the ingestion job; version stays rejected")

    _at(clock, 170)
    progress("p02: a version with flipped labels is released, then its evaluation regresses")
    legal3 = version(
        "lena",
        "p02_legal_sft",
        "legal_v3.jsonl",
        sample_records(120, 23, source="case_law", label_noise=0.45),
        legal2,
        ["add high-risk refusal samples", "sync new evaluation labels"],
    )
    validate_and_release(legal3)
    _at(clock, 180)
    run_experiment(platform, tracking, "lena", legal3, GOOD, "legal-v3-eval")
    regression_alerts = sync_runs(platform, tracking).alerts
    _at(clock, 188)
    acknowledge_alert(platform, "omar", regression_alerts[0])

    _at(clock, 210)
    progress("p02: rollback to the last good release, then the incident review")
    event, _ = execute_rollback(
        platform, "priya", "p02_legal_sft", legal2, "f1 regression on the new labels", f"alert:{regression_alerts[0]}"
    )
    _at(clock, 232)
    resolve_alert(platform, "omar", regression_alerts[0], f"rolled back to {legal2} ({event.rollback_id})")
    _at(clock, 250)
    add_review(
        platform,
        "priya",
        ReviewInput(
            related=[f"alert:{regression_alerts[0]}", f"rollback:{event.rollback_id}", f"version:{legal3}"],
            symptom="f1 on the legal classifier fell far below the baseline after the new release",
            impact_scope=f"p02_legal_sft releases between {legal3} and the rollback; no other project",
            root_cause="the new refusal samples were labelled with an inverted mapping",
            mitigation=f"rolled back to {legal2}; labels under re-annotation",
            fix_items=(
                FixItem.parse("re-annotate the refusal samples|lena|2026-11-09"),
                FixItem.parse("add a label-agreement gate to validation|quinn|2026-11-16"),
            ),
        ),
    )
    open_after = [a.alert_id for a in list_alerts(platform, "omar", status="open")]
    if open_after:
        raise RuntimeError(f"alerts left open by the story: {open_after}")
    return DemoPlatform(platform, tracking, clock)
