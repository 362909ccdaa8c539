"""Cost of the whole asset graph (every asset and check) as the governance store grows.

For each size N (default 1,000, 10,000 and 100,000 objects) a fresh SQLite home is initialised
with examples/platform.yaml and filled with N objects spread over the spec's three projects:

  20% dataset versions   lines of versions per project (derived_from, with some forks), statuses
                         draft / validated / rejected / released / deprecated, one current release
                         per project, releases chained by supersedes edges
  60% experiments        on versions of their own project (used edges); completed, regressed or
                         failed -- regressed/failed never on a released version unless an approved
                         experiment_status exception waives it (waives edges)
  20% alerts             on experiments and versions (triggered edges); resolved, acknowledged or
                         open, unresolved ones recent, so open alerts stay inside their SLA

plus what keeps the rules meaningful: a complete incident review for every high/critical alert
(reviews edges) and a few approved exceptions. Every object gets the audit record of the action
that creates it (released versions also their version.release record), appended as one real
hash chain with `governance.audit.append` inside `platform.write()`. Rows go in with SQLAlchemy
core bulk inserts: the real services take one transaction per action and are far too slow for
100k objects, and the point here is the asset graph's cost, not the services'.

MLflow: `--mlflow-runs` experiments (default 10) get a real MLflow run in the home's MLflow store;
every other experiment has mlflow_run_id = None. Rule 7 (experiments_reference_versions) therefore
fails. It is a blocking check on experiment_runs, and a failed blocking check stops every asset
downstream, so its check is left out of the Dagster selection; the rule is still evaluated, with
all the others, by the test_report asset, and its outcome is printed.

Then, in a fresh subprocess per materialisation (so peak RSS is that run's own), `materialize_all`
runs every asset and check in process on the home's own Dagster instance, twice: the first run on
the fresh home, then a re-run over the artifacts the first one wrote. The re-run is the steady state
of a home materialised on a schedule, and it is slower: every check reads all artifacts, and on the
first run the early checks find most of them not written yet. For each run the script prints the
seconds, the peak RSS (getrusage ru_maxrss of that process), the slowest steps and the check
outcomes, then the 10x scaling ratios. Goals (from the issue): 100k objects in <= 60 s on a 2-core
machine, 10x more data in <= 11x the time, peak RSS <= 2 GiB; each is judged for both runs.

    python bench/graph_scale.py                          # 1,000, 10,000 and 100,000 objects
    python bench/graph_scale.py --quick                  # 1,000 and 3,000: a smoke run
    python bench/graph_scale.py --sizes 1000,10000 --profile /tmp/prof   # cProfile each run
    python bench/graph_scale.py --no-rerun              # first runs only

Exit status: 0 when every size materialised every selected asset and check (failed checks and
missed goals are reported, not failed); 2 when a materialisation did not complete.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

EXAMPLE_SPEC = REPO / "examples" / "platform.yaml"
ADMIN = "alice"
SYSTEM = "dataops-system"
# (project, tenant, share of the objects, its data engineer)
PROJECTS = (
    ("p01_retail_search", "t01_retail", 0.5, "dan"),
    ("p02_legal_sft", "t02_legal", 0.3, "lena"),
    ("p03_clinical_qa", "t03_health", 0.2, "hugo"),
)
ROLE_OF = {"dan": "data_engineer", "lena": "data_engineer", "hugo": "data_engineer", "quinn": "qa",
           "priya": "platform_pm", "omar": "ops", SYSTEM: "system"}  # fmt: skip
SHARE_VERSIONS, SHARE_EXPERIMENTS = 0.2, 0.6  # alerts: the rest
VERSION_STATUSES = (("validated", 40), ("released", 30), ("rejected", 12), ("draft", 10), ("deprecated", 8))
FORK_RATE = 0.1
EXCEPTION_PER_RELEASE = 0.05
BAD_EXPERIMENT = (("completed", 82), ("regressed", 12), ("failed", 6))
SLA = {"critical": (15, 60), "high": (30, 120), "medium": (120, 480), "low": (480, 2880)}  # the spec's targets
UNRESOLVED_ALERTS = 0.06  # open or acknowledged, all recent and low/medium
LATE_RESOLUTIONS = 0.03  # resolved, but outside the SLA (lowers compliance, breaks no rule)
BATCH = 10_000
RULE7_CHECK = "experiments_reference_versions"
GOAL_SECONDS, GOAL_RATIO, GOAL_RSS = 60.0, 11.0, 2 * 1024**3
SIZES, QUICK_SIZES = (1_000, 10_000, 100_000), (1_000, 3_000)


def say(line: str = "") -> None:
    print(line, flush=True)


def mib(n: float) -> str:
    return f"{n / 1024**2:,.0f} MiB"


# -- the data ----------------------------------------------------------------------------------
@dataclass
class Data:
    """Rows for the bulk inserts, the audit entries and the counters, all in memory."""

    versions: list[dict] = field(default_factory=list)
    experiments: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    reviews: list[dict] = field(default_factory=list)
    exceptions: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)
    audit: list[tuple[datetime, dict]] = field(default_factory=list)  # (at, AuditEntry kwargs)
    current: dict[str, str] = field(default_factory=dict)  # project -> current release
    releases: int = 0


def _id(prefix: str, n: int) -> str:
    return f"{prefix}{n:03d}"  # like Operation.next_id: width 3, grows


def generate(n: int, rng: random.Random, now: datetime, data_dir: Path) -> Data:
    """N objects (20% versions, 60% experiments, 20% alerts) and everything that goes with them."""
    d = Data()
    n_versions = max(3, round(n * SHARE_VERSIONS))
    n_experiments = round(n * SHARE_EXPERIMENTS)
    n_alerts = max(0, n - n_versions - n_experiments)
    start, end = now - timedelta(days=60), now - timedelta(days=4)
    span = (end - start).total_seconds()
    tenant = {p: t for p, t, _, _ in PROJECTS}
    engineer = {p: e for p, _, _, e in PROJECTS}

    def edge(project: str, source: str, target: str, edge_type: str, at: datetime) -> None:
        d.edges.append({"project_id": project, "source_ref": source, "target_ref": target, "edge_type": edge_type,
                        "created_at": at})  # fmt: skip

    def audit(at: datetime, actor: str, project: str, action: str, ref: str, details: dict) -> None:
        d.audit.append((at, {"actor": actor, "role": ROLE_OF[actor], "tenant": tenant[project], "project": project,
                             "action": action, "object_ref": ref, "outcome": "allowed", "details": details}))  # fmt: skip

    # Versions: one line per project with forks, in creation order (so parents come first).
    projects = [p for p, _, _, _ in PROJECTS]
    weights = [w for _, _, w, _ in PROJECTS]
    statuses, status_weights = zip(*VERSION_STATUSES, strict=True)
    by_project: dict[str, list[dict]] = {p: [] for p in projects}
    for i in range(n_versions):
        project = projects[i] if i < len(projects) else rng.choices(projects, weights)[0]
        line = by_project[project]
        created = start + timedelta(seconds=span * i / n_versions + rng.uniform(0, 30))
        parent = None
        if line:
            parent = (rng.choice(line) if rng.random() < FORK_RATE else line[-1])["version_id"]
        digest = f"{rng.getrandbits(256):064x}"
        rows = rng.randint(200, 50_000)
        v = {
            "version_id": _id("ds_v", i + 1), "project_id": project, "parent_version": parent,
            "status": rng.choices(statuses, status_weights)[0], "change_summary": [f"batch {i + 1} of {project}"],
            "data_location": str(data_dir / digest[:2] / f"{digest}.jsonl"), "source_format": "jsonl",
            "content_digest": digest, "row_count": rows,
            "schema_fields": [{"name": "id", "type": "string"}, {"name": "text", "type": "string"},
                              {"name": "label", "type": "int"}, {"name": "split", "type": "string"}],
            "quality_signals": {"rows": rows, "duplicate_id_rate": 0.0, "null_rate": round(rng.uniform(0, 0.01), 4),
                                "splits": ["train", "test"], "duplicate_ids": []},
            "quality_failures": [], "rollback_candidate": False, "created_by": engineer[project], "created_at": created,
            "validated_by": None, "validated_at": None, "released_by": None, "released_at": None,
            "release_seq": None, "retired_at": None,
        }  # fmt: skip
        line.append(v)
        d.versions.append(v)
    # Each project's newest release must be a released (not deprecated) version, and there must be one.
    for line in by_project.values():
        released = [v for v in line if v["status"] in ("released", "deprecated")]
        if not released:
            line[0]["status"] = "released"
        elif released[-1]["status"] == "deprecated":
            released[-1]["status"] = "released"
    previous: dict[str, str] = {}
    for v in d.versions:  # creation order is release order: released 2 h after creation
        project, vid, created = v["project_id"], v["version_id"], v["created_at"]
        edge_at = created
        if v["parent_version"]:
            edge(project, f"version:{v['parent_version']}", f"version:{vid}", "derived_from", edge_at)
        details = {"digest": v["content_digest"], "rows": v["row_count"], "parent": v["parent_version"], "format": "jsonl"}
        audit(created, engineer[project], project, "version.create", f"version:{vid}", details)
        if v["status"] != "draft":
            v["validated_by"], v["validated_at"] = "quinn", created + timedelta(hours=1)
        if v["status"] == "rejected":
            v["quality_failures"] = ["required_splits: test missing"]
        if v["status"] in ("released", "deprecated"):
            d.releases += 1
            at = created + timedelta(hours=2)
            v["released_by"], v["released_at"], v["release_seq"] = "priya", at, d.releases
            if project in previous:
                edge(project, f"version:{previous[project]}", f"version:{vid}", "supersedes", at)
            audit(at, "priya", project, "version.release", f"version:{vid}", {"previous_release": previous.get(project)})
            previous[project] = vid
            if v["status"] == "deprecated":
                v["retired_at"] = at + timedelta(days=1)
    d.current = dict(previous)
    for v in d.versions:
        if v["released_at"] and d.current[v["project_id"]] != v["version_id"]:
            v["rollback_candidate"] = True

    # Approved experiment_status exceptions on a few releases, valid at release time.
    waived: set[str] = set()
    for v in d.versions:
        if v["status"] == "released" and rng.random() < EXCEPTION_PER_RELEASE:
            project, at = v["project_id"], v["released_at"]
            x = {
                "exception_id": _id("exc_", len(d.exceptions) + 1), "project_id": project, "version_id": v["version_id"],
                "rule": "experiment_status", "reason": "known regression on a minority slice, fix scheduled",
                "follow_up": f"fix the cause of experiment_status on {v['version_id']}", "status": "approved",
                "requested_by": engineer[project], "requested_at": at - timedelta(minutes=40),
                "approved_by": "priya", "approved_at": at - timedelta(minutes=20),
                "effective_from": at - timedelta(minutes=20), "expires_at": at + timedelta(days=7),
            }  # fmt: skip
            d.exceptions.append(x)
            waived.add(v["version_id"])
            ref = f"exception:{x['exception_id']}"
            edge(project, f"version:{v['version_id']}", ref, "waives", x["requested_at"])
            details = {"version": v["version_id"], "rule": "experiment_status", "expires_at": x["expires_at"].isoformat()}
            audit(x["requested_at"], engineer[project], project, "exception.request", ref, details)
            audit(x["approved_at"], "priya", project, "exception.approve", ref, {})

    # Experiments on versions of their own project, ids in the order they were recorded.
    outcomes, outcome_weights = zip(*BAD_EXPERIMENT, strict=True)
    drafts = []
    for _ in range(n_experiments):
        v = rng.choice(d.versions)
        status = rng.choices(outcomes, outcome_weights)[0]
        if v["status"] == "released" and v["version_id"] not in waived:
            status = "completed"  # the release gate held: nothing regressed/failed ships unwaived
        drafts.append((v["created_at"] + timedelta(minutes=rng.uniform(10, 4 * 24 * 60)), v, status))
    drafts.sort(key=lambda t: t[0])
    last_completed: dict[str, str] = {}
    for i, (at, v, status) in enumerate(drafts):
        project, eid = v["project_id"], _id("exp_", i + 1)
        drop = 0.2 if status == "regressed" else 0.0
        f1 = round(rng.uniform(0.80, 0.93) - drop, 4)
        e = {
            "experiment_id": eid, "project_id": project, "dataset_version": v["version_id"], "mlflow_run_id": None,
            "params": {"C": rng.choice((0.5, 1.0, 2.0, 4.0)), "max_iter": 300},
            "status": status,
            "metric_summary": {} if status == "failed" else {"f1": f1, "latency_ms": round(rng.uniform(80, 600), 1)},
            "baseline_ref": last_completed.get(project),
            "deltas": {} if status == "failed" else {"f1": round(rng.uniform(-0.01, 0.02) - drop, 4)},
            "requires_review": status != "completed", "alert_ids": [],
            "error": "ValueError: C must be > 0" if status == "failed" else None,
            "run_ended_at": at - timedelta(minutes=1), "recorded_by": SYSTEM, "recorded_at": at,
        }  # fmt: skip
        if status == "completed":
            last_completed[project] = eid
        d.experiments.append(e)
        edge(project, f"version:{v['version_id']}", f"experiment:{eid}", "used", at)
        audit(at, SYSTEM, project, "experiment.log", f"experiment:{eid}",
              {"status": status, "dataset_version": v["version_id"], "mlflow_run_id": None})  # fmt: skip

    # Alerts: bad experiments and rejected versions first, then operational alerts on anything.
    bad = [("experiment", e) for e in d.experiments if e["status"] != "completed"]
    bad += [("version", v) for v in d.versions if v["status"] == "rejected"]
    rng.shuffle(bad)
    drafts = []
    for _ in range(n_alerts):
        if bad and rng.random() < 0.7:
            kind, obj = bad.pop()
        else:
            kind, obj = ("experiment", rng.choice(d.experiments)) if rng.random() < 0.6 else ("version", rng.choice(d.versions))
        if kind == "experiment":
            category = {"regressed": "regression", "failed": "run_failure"}.get(obj["status"], "operational")
            ref, born = f"experiment:{obj['experiment_id']}", obj["recorded_at"]
        else:
            category = "quality_gate" if obj["status"] == "rejected" else rng.choice(("freshness", "sla_risk"))
            ref, born = f"version:{obj['version_id']}", obj["validated_at"] or obj["created_at"]
        severity = rng.choices(("critical", "high", "medium", "low"),
                               (10, 30, 45, 15) if category == "regression" else (3, 9, 48, 40))[0]  # fmt: skip
        drafts.append((born + timedelta(minutes=rng.uniform(1, 600)), kind, obj, ref, category, severity))
    drafts.sort(key=lambda t: t[0])
    unresolved = max(1, round(len(drafts) * UNRESOLVED_ALERTS)) if drafts else 0
    for i, (opened, kind, obj, ref, category, severity) in enumerate(drafts):
        project, aid = obj["project_id"], _id("alert_", i + 1)
        recent = i >= len(drafts) - unresolved
        if recent and severity in ("critical", "high"):
            severity = "medium"  # still open: only low/medium, and young, so no SLA breach
        ack_target, resolve_target = SLA[severity]
        opener = SYSTEM if category in ("regression", "run_failure", "quality_gate") else "omar"
        a = {
            "alert_id": aid, "project_id": project, "severity": severity, "category": category, "related_object": ref,
            "title": f"{category} on {ref}", "status": "resolved", "opened_by": opener, "opened_at": opened,
            "acknowledged_by": "omar", "acknowledged_at": None, "resolved_by": None, "resolved_at": None,
            "resolution_note": None,
        }  # fmt: skip
        if recent:
            a["opened_at"] = opened = now - timedelta(minutes=rng.uniform(1, 30))
            if rng.random() < 0.5:
                a["status"], a["acknowledged_at"] = "acknowledged", opened + timedelta(seconds=30)
            else:
                a["status"], a["acknowledged_by"] = "open", None
        else:
            late = 1.5 if rng.random() < LATE_RESOLUTIONS else 1.0
            a["acknowledged_at"] = opened + timedelta(minutes=ack_target * rng.uniform(0.1, 0.6) * late)
            a["resolved_at"] = opened + timedelta(minutes=resolve_target * rng.uniform(0.65, 0.95) * late)
            a["resolved_by"], a["resolution_note"] = "omar", "fixed upstream and re-run"
        d.alerts.append(a)
        if kind == "experiment":
            obj["alert_ids"].append(aid)
        edge(project, ref, f"alert:{aid}", "triggered", opened)
        audit(opened, opener, project, "alert.open", f"alert:{aid}",
              {"severity": severity, "category": category, "related_object": ref})  # fmt: skip
        if severity in ("critical", "high"):  # a complete incident review, as rule 12 wants
            rid = _id("ir_", len(d.reviews) + 1)
            related = [f"alert:{aid}"] + ([ref] if kind == "version" else [])
            at = a["resolved_at"] + timedelta(hours=1)
            d.reviews.append({
                "review_id": rid, "project_id": project, "related_refs": related,
                "symptom": f"{category} on {ref}", "impact_scope": f"{project} only",
                "root_cause": "a bad upstream batch", "mitigation": "re-ran on the previous batch",
                "fix_items": [{"description": "add a check for this batch shape", "owner": engineer[project],
                               "due": (at + timedelta(days=7)).date().isoformat()}],
                "author": "priya", "created_at": at,
            })  # fmt: skip
            for r in related:
                edge(project, r, f"review:{rid}", "reviews", at)
            audit(at, "priya", project, "review.write", f"review:{rid}", {"related": related, "fix_items": 1})
    return d


def create_mlflow_runs(settings: Any, data: Data, count: int) -> int:
    """Real MLflow runs (the home's MLflow store) for `count` completed experiments, spread out."""
    from dataops_platform.tracking.client import Tracking, VersionRef

    candidates = [e for e in data.experiments if e["status"] == "completed"]
    if not candidates or count <= 0:
        return 0
    step = max(1, len(candidates) // count)
    picked = candidates[::step][:count]
    versions = {v["version_id"]: v for v in data.versions}
    tracking = Tracking(settings.tracking_uri, settings.mlflow_artifact_root)
    audit_of = {entry["object_ref"]: entry for _, entry in data.audit if entry["action"] == "experiment.log"}
    for e in picked:
        v = versions[e["dataset_version"]]
        ref = VersionRef(v["version_id"], v["content_digest"], Path(v["data_location"]).as_uri(), v["row_count"])
        with tracking.run(e["project_id"], ref, e["params"], f"bench-{e['experiment_id']}") as run:
            run.log_metrics(e["metric_summary"])
        e["mlflow_run_id"] = run.run_id
        audit_of[f"experiment:{e['experiment_id']}"]["details"]["mlflow_run_id"] = run.run_id
    return len(picked)


def fill(home: Path, n: int, seed: int, mlflow_runs: int) -> dict[str, Any]:
    """Child process: initialise the home, then insert N objects, their edges and audit chain."""
    from dataops_platform.settings import load_settings

    return fill_stores(load_settings(home), n, seed, mlflow_runs) | {"db_bytes": (home / "governance.db").stat().st_size}


def fill_stores(settings: Any, n: int, seed: int, mlflow_runs: int) -> dict[str, Any]:
    """Initialise the stores `settings` name (SQLite or PostgreSQL, local MLflow or a server), then
    insert N objects, their edges and audit chain."""
    from sqlalchemy import insert, update

    from dataops_platform.clock import FixedClock
    from dataops_platform.governance import audit
    from dataops_platform.governance.bootstrap import initialize
    from dataops_platform.governance.platform import Platform, iso
    from dataops_platform.governance.spec_apply import apply_spec
    from dataops_platform.spec.loader import load_spec
    from dataops_platform.store import models

    t0 = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    platform = Platform(settings, FixedClock(now - timedelta(days=61)))
    initialize(platform, ADMIN)
    apply_spec(platform, ADMIN, load_spec(EXAMPLE_SPEC), str(EXAMPLE_SPEC))
    data = generate(n, random.Random(seed), now, settings.data_dir)
    t_runs = time.perf_counter()
    runs = create_mlflow_runs(settings, data, mlflow_runs)
    t_runs = time.perf_counter() - t_runs
    for model, rows in (
        (models.DatasetVersion, data.versions),
        (models.ExceptionApproval, data.exceptions),
        (models.Experiment, data.experiments),
        (models.Alert, data.alerts),
        (models.IncidentReview, data.reviews),
        (models.LineageEdge, data.edges),
    ):
        for i in range(0, len(rows), BATCH):
            with platform.store.write() as session:
                session.execute(insert(model), rows[i : i + BATCH])
    counters = {"dataset_version": len(data.versions), "experiment": len(data.experiments), "alert": len(data.alerts),
                "review": len(data.reviews), "exception": len(data.exceptions), "release": data.releases}  # fmt: skip
    with platform.store.write() as session:
        for project, version in data.current.items():
            session.execute(update(models.Project).where(models.Project.id == project).values(current_release=version))
        for kind, last in counters.items():
            session.merge(models.IdCounter(kind=kind, last=last))
    data.audit.sort(key=lambda t: t[0])  # the chain in time order
    for i in range(0, len(data.audit), BATCH):
        entries = [audit.AuditEntry(at=iso(at), **kw) for at, kw in data.audit[i : i + BATCH]]
        with platform.write() as session:  # moves the audit anchor too
            head = audit.append(session, entries)
    platform.close()
    by_status: dict[str, int] = {}
    for v in data.versions:
        by_status[v["status"]] = by_status.get(v["status"], 0) + 1
    return {
        "versions": len(data.versions), "experiments": len(data.experiments), "alerts": len(data.alerts),
        "reviews": len(data.reviews), "exceptions": len(data.exceptions), "edges": len(data.edges),
        "audit_records": head.seq, "mlflow_runs": runs, "mlflow_seconds": round(t_runs, 2),
        "version_statuses": by_status, "seconds": round(time.perf_counter() - t0, 2),
    }  # fmt: skip


# -- the materialisation -----------------------------------------------------------------------
def _rss_now() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def materialise(home: Path, profile: Path | None) -> dict[str, Any]:
    """Child process: every asset and check (but rule 7's) through `materialize_all`, timed."""
    import dagster as dg

    from dataops_platform.defs.assets import ASSETS  # imported before the timer
    from dataops_platform.defs.checks import CHECKS
    from dataops_platform.demo.materialize import dagster_instance, materialize_all
    from dataops_platform.settings import load_settings

    settings = load_settings(home)
    rule7 = [c for c in CHECKS if any(k.name == RULE7_CHECK for k in c.check_keys)]
    selection = dg.AssetSelection.all(include_sources=False) - dg.AssetSelection.checks(*rule7)
    rss_before = _rss_now()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t = time.perf_counter()
    outcome = materialize_all(settings, selection=selection)  # type: ignore[arg-type] - an AssetSelection works too
    seconds = time.perf_counter() - t
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    steps: dict[str, float] = {}
    started: dict[str, float] = {}
    for entry in dagster_instance(settings).all_logs(outcome.run_id):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        if event.event_type_value == "STEP_START":
            started[entry.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in started:
            steps[entry.step_key] = entry.timestamp - started[entry.step_key]
    results_path = settings.artifacts_dir / "reports" / "p8_test_results.json"
    rules = json.loads(results_path.read_text())["results"] if results_path.exists() else []
    artifact_bytes = sum(p.stat().st_size for p in settings.artifacts_dir.rglob("*") if p.is_file())
    materialised = {
        e.asset_key.to_user_string() for e in outcome_events(settings, outcome.run_id)
    }  # fmt: skip
    return {
        "assets": len(ASSETS), "seconds": round(seconds, 3), "peak_rss": peak, "rss_before": rss_before,
        "success": outcome.success,
        "checks": [{"name": c.name, "passed": c.passed} for c in outcome.checks],
        "materialised": sorted(materialised), "steps": steps, "artifact_bytes": artifact_bytes,
        "rules": [{"rule": r["rule"], "passed": r["passed"], "checked": r["checked"], "violations": len(r["violations"]),
                   "first": r["violations"][:1]} for r in rules],
    }  # fmt: skip


def outcome_events(settings: Any, run_id: str) -> list[Any]:
    import dagster as dg

    from dataops_platform.demo.materialize import dagster_instance

    records = (
        dagster_instance(settings)
        .get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1000)
        .records
    )
    return [r.event_log_entry.dagster_event for r in records]


# -- the driver --------------------------------------------------------------------------------
def run_child(args: list[str]) -> dict[str, Any]:
    """Run this script as a child (its Dagster and MLflow logging is kept, and shown only on failure)."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        say("\n".join(proc.stderr.splitlines()[-40:]))
        raise RuntimeError(f"child {args[0]} exited with {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_profile(path: Path, limit: int = 25) -> None:
    import pstats

    say(f"    profile {path} (top {limit} by cumulative time, dataops_platform and json only):")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(r"dataops_platform|json|sqlalchemy/orm/loading", limit)


def report_run(label: str, result: dict[str, Any]) -> None:
    slow = sorted(result["steps"].items(), key=lambda kv: -kv[1])[:6]
    say(f"    {label}: {result['seconds']:.2f} s, peak RSS {mib(result['peak_rss'])} "
        f"(after imports {mib(result['rss_before'])}), artifacts {mib(result['artifact_bytes'])}, "
        f"run {'succeeded' if result['success'] else 'FAILED'}")  # fmt: skip
    say("      slowest steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in slow))
    checks = result["checks"]
    failed = [c["name"] for c in checks if not c["passed"]]
    say(f"      Dagster checks: {len(checks) - len(failed)}/{len(checks)} passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""))  # fmt: skip
    rules = result["rules"]
    bad = [r for r in rules if not r["passed"]]
    say(f"      test_report (all 13 rules): {len(rules) - len(bad)}/{len(rules)} pass"
        + "".join(f"\n        FAIL {r['rule']}: {r['violations']:,} of {r['checked']:,} checked, e.g. {r['first'][0]!r}"
                  for r in bad))  # fmt: skip


def bench_size(
    n: int, seed: int, mlflow_runs: int, keep: Path | None, profile: Path | None, rerun: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Fill a fresh home, materialise it (first run), then materialise it again (re-run)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"dataops-graph-{n}-")) if keep is None else keep / f"home_{n}"
    home = tmp / "home" if keep is None else tmp
    if keep is not None and home.exists():
        shutil.rmtree(home)
    try:
        say(f"[{n:,} objects] filling {home} ...")
        filled = run_child(["--child-fill", str(home), str(n), str(seed), str(mlflow_runs)])
        say(f"    {filled['versions']:,} versions {filled['version_statuses']}, {filled['experiments']:,} experiments "
            f"({filled['mlflow_runs']} with a real MLflow run, {filled['mlflow_seconds']:.1f} s), "
            f"{filled['alerts']:,} alerts")  # fmt: skip
        say(f"    + {filled['reviews']:,} incident reviews, {filled['exceptions']:,} exceptions, "
            f"{filled['edges']:,} lineage edges, {filled['audit_records']:,} audit records; "
            f"filled in {filled['seconds']:.1f} s, governance.db {mib(filled['db_bytes'])}")  # fmt: skip
        runs = []
        for label in ("first run", "re-run") if rerun else ("first run",):
            prof = profile / f"graph_scale_{n}_{label.replace(' ', '_')}.pstats" if profile else None
            result = run_child(["--child-materialise", str(home)] + (["--child-profile", str(prof)] if prof else []))
            report_run(label, result)
            if prof:
                print_profile(prof)
            runs.append(result)
        return runs[0], runs[1] if rerun else None
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated object counts (default 1000,10000,100000)")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,3000: a smoke run")
    parser.add_argument("--mlflow-runs", type=int, default=10, help="experiments with a real MLflow run (default 10)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="keep the homes under this directory")
    parser.add_argument("--profile", type=Path, help="cProfile each materialisation into this directory")
    parser.add_argument("--no-rerun", action="store_true", help="materialise each home once (no steady-state re-run)")
    parser.add_argument("--child-fill", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-materialise", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_fill:
        home, n, seed, runs = args.child_fill
        print(json.dumps(fill(Path(home), int(n), int(seed), int(runs))))
        return 0
    if args.child_materialise:
        print(json.dumps(materialise(Path(args.child_materialise), args.child_profile)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(QUICK_SIZES if args.quick else SIZES)
    say(f"asset graph scale benchmark: Python {host.python_version()}, {host.machine()}, {os.cpu_count()} CPUs, "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    say("Objects are bulk-inserted with SQLAlchemy core (one audit record per object, as a real chain via audit.append):")
    say("the real services are far too slow for 100k objects; what is measured is the asset graph's cost.")
    say(f"Only {args.mlflow_runs} experiments get a real MLflow run, the rest have mlflow_run_id = None, so rule 7 "
        f"fails; its blocking check ({RULE7_CHECK}) is left out of the Dagster selection so the assets downstream "
        "of experiment_runs still run. test_report still evaluates rule 7.")  # fmt: skip
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    say()
    first: dict[int, dict[str, Any]] = {}
    again: dict[int, dict[str, Any]] = {}
    for n in sizes:
        first[n], rerun = bench_size(n, args.seed, args.mlflow_runs, args.keep, args.profile, not args.no_rerun)
        if rerun is not None:
            again[n] = rerun
        say()

    say("summary (seconds of materialize_all; peak RSS of the materialising process)")
    say(f"  {'objects':>9} {'first run':>10} {'x vs prev':>10} {'re-run':>9} {'x vs prev':>10} {'peak RSS':>10}")
    for i, n in enumerate(sizes):
        row = f"  {n:>9,} {first[n]['seconds']:>9.2f}s"
        row += f" {first[n]['seconds'] / first[sizes[i - 1]]['seconds']:>9.2f}x" if i else f" {'':>10}"
        if n in again:
            row += f" {again[n]['seconds']:>8.2f}s"
            row += f" {again[n]['seconds'] / again[sizes[i - 1]]['seconds']:>9.2f}x" if i else f" {'':>10}"
        else:
            row += f" {'-':>9} {'':>10}"
        peak = max(r["peak_rss"] for r in (first[n], again.get(n, first[n])))
        say(row + f" {mib(peak):>10}")
    say()
    say("goals (the first run finds no artifacts yet, so its early checks parse less; the re-run is the")
    say("steady state of a home materialised on a schedule)")
    ok = all(r["success"] or _only_expected_failures(r) for r in [*first.values(), *again.values()])
    for label, runs in (("first run", first), ("re-run", again)):
        if not runs:
            continue
        if 100_000 in runs:
            s = runs[100_000]["seconds"]
            say(f"  {label:9} 100k objects in <= {GOAL_SECONDS:g} s:     {s:8.2f} s   {verdict(s <= GOAL_SECONDS)}")
        else:
            say(f"  {label:9} 100k objects in <= {GOAL_SECONDS:g} s:     not measured (no size 100000)")
        pairs = [(small, big) for small in sizes for big in sizes if big == 10 * small]
        for small, big in pairs:
            k = runs[big]["seconds"] / runs[small]["seconds"]
            say(f"  {label:9} {big:,} / {small:,} time <= {GOAL_RATIO:g}x: {k:8.2f}x   {verdict(k <= GOAL_RATIO)}")
        if not pairs:
            say(f"  {label:9} 10x data in <= {GOAL_RATIO:g}x time:   not measured (no sizes 10x apart)")
    peak = max(r["peak_rss"] for r in [*first.values(), *again.values()])
    say(f"  peak RSS <= 2 GiB:                      {mib(peak):>10}   {verdict(peak <= GOAL_RSS)}")
    if args.quick:
        say("  (quick run: indicative only)")
    return 0 if ok else 2


def _only_expected_failures(r: dict[str, Any]) -> bool:
    """The run 'fails' only if a selected check failed; every asset must still have materialised."""
    return len(r["materialised"]) == r["assets"]


if __name__ == "__main__":
    sys.exit(main())
