"""Cost of the whole asset graph (every asset and check) as the governance store grows.

For each size N (default 100,000, 300,000 and 1,000,000 objects) a fresh SQLite home is initialised
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

Ids are allocated as the services allocate them (`Operation.next_id`): numbered per tenant,
`t01_retail.ds_v001`, and the id counters are left where a service would go on from.

Then, each step in a fresh subprocess (so peak RSS is that step's own):

  ceiling     one raw read of every table of the store with sqlite3, every row kept: the least a
              materialisation of the whole store has to do, measured in the same run
  first run   `materialize_all`: every asset and check (but rule 7's) in process on the home's
              own Dagster instance, on the fresh home
  refresh     after `--grow` (default 1,000) new objects: 20% draft/validated versions, 60%
              experiments on them, 20% low/medium alerts resolved inside their SLA, with their
              lineage edges and audit records (bulk inserts, the chain appended), the same
              `materialize_all` again: what a scheduled refresh after a busy hour costs

For each run the script prints the seconds, the peak RSS (getrusage ru_maxrss of that process),
the slowest steps and the check outcomes, then the goals of issue 17 for the largest size: 1M
objects materialised in <= 120 s at <= 2 GiB peak RSS and <= 10x the raw read's; a 1,000-object
refresh of a 1M home in <= 10 s; 10x the data in <= 11x the time.

    python bench/graph_scale.py                          # 100,000, 300,000 and 1,000,000 objects
    python bench/graph_scale.py --quick                  # 1,000 and 3,000: a smoke run
    python bench/graph_scale.py --sizes 100000 --profile /tmp/prof   # cProfile each run
    python bench/graph_scale.py --sizes 10000,100000 --grow 0        # first runs only

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
TENANT_OF = {p: t for p, t, _, _ in PROJECTS}
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
GOAL_SECONDS, GOAL_RATIO, GOAL_RSS, GOAL_RAW_RSS, GOAL_REFRESH = 120.0, 11.0, 2 * 1024**3, 10.0, 10.0
SIZES, QUICK_SIZES = (100_000, 300_000, 1_000_000), (1_000, 3_000)
GROW = 1_000  # objects added before the refresh


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
    counters: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, tenant) -> last number

    def new_id(self, kind: str, prefix: str, project: str) -> str:
        """The id the service would allocate (Operation.next_id): numbered per tenant, `t01_retail.ds_v001`."""
        tenant = TENANT_OF[project]
        n = self.counters[(kind, tenant)] = self.counters.get((kind, tenant), 0) + 1
        return f"{tenant}.{_id(prefix, n)}"


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
            "version_id": d.new_id("dataset_version", "ds_v", project), "project_id": project, "parent_version": parent,
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
                "exception_id": d.new_id("exception", "exc_", project), "project_id": project, "version_id": v["version_id"],
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
        if v["released_at"] and v["version_id"] not in waived:  # released, or released then deprecated
            status = "completed"  # the release gate held: nothing regressed/failed ships unwaived
        drafts.append((v["created_at"] + timedelta(minutes=rng.uniform(10, 4 * 24 * 60)), v, status))
    drafts.sort(key=lambda t: t[0])
    last_completed: dict[str, str] = {}
    for at, v, status in drafts:
        project = v["project_id"]
        eid = d.new_id("experiment", "exp_", project)
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
        project = obj["project_id"]
        aid = d.new_id("alert", "alert_", project)
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
            rid = d.new_id("review", "ir_", project)
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
    from sqlalchemy import update

    from dataops_platform.clock import FixedClock
    from dataops_platform.governance.bootstrap import initialize
    from dataops_platform.governance.platform import Platform
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
    insert_rows(platform, data)
    with platform.store.write() as session:
        for project, version in data.current.items():
            session.execute(update(models.Project).where(models.Project.id == project).values(current_release=version))
        write_counters(session, data)
    last_seq = append_audit(platform, data)
    platform.close()
    by_status: dict[str, int] = {}
    for v in data.versions:
        by_status[v["status"]] = by_status.get(v["status"], 0) + 1
    return {
        "versions": len(data.versions), "experiments": len(data.experiments), "alerts": len(data.alerts),
        "reviews": len(data.reviews), "exceptions": len(data.exceptions), "edges": len(data.edges),
        "audit_records": last_seq, "mlflow_runs": runs, "mlflow_seconds": round(t_runs, 2),
        "version_statuses": by_status, "seconds": round(time.perf_counter() - t0, 2),
    }  # fmt: skip


def write_counters(session: Any, data: Data) -> None:
    """The id counters the services allocate from (per tenant; release numbers per project)."""
    from dataops_platform.governance.platform import tenant_counter
    from dataops_platform.store import models

    last_release: dict[str, int] = {}
    for v in data.versions:
        if v["release_seq"]:
            last_release[v["project_id"]] = max(last_release.get(v["project_id"], 0), v["release_seq"])
    counters = {tenant_counter(kind, tenant): last for (kind, tenant), last in data.counters.items()}
    counters |= {tenant_counter("release", project): last for project, last in last_release.items()}
    for kind, last in counters.items():
        session.merge(models.IdCounter(kind=kind, last=last))


# -- the refresh: new objects after the first materialisation ------------------------------------
def grow(home: Path, k: int, seed: int) -> dict[str, Any]:
    """Child process: K new objects (20% versions, 60% experiments, 20% alerts) through bulk inserts
    with their lineage edges and audit records, as an hour of a busy platform adds them. The new
    versions are drafts and validated ones (nothing is released, so no gate is judged anew), the
    experiments are on them, the alerts are low/medium ones resolved inside their SLA."""
    from sqlalchemy import func, select

    from dataops_platform.clock import FixedClock
    from dataops_platform.governance.platform import Platform, tenant_counter
    from dataops_platform.settings import load_settings
    from dataops_platform.store import models

    t0 = time.perf_counter()
    rng = random.Random(seed + 1)
    settings = load_settings(home)
    now = datetime.now(UTC).replace(microsecond=0)
    platform = Platform(settings, FixedClock(now))
    d = Data()
    with platform.store.read() as session:
        stored = dict(session.execute(select(models.IdCounter.kind, models.IdCounter.last)).tuples().all())
        heads = dict(session.execute(select(models.Project.id, models.Project.current_release)).tuples().all())
        assert session.scalar(select(func.count()).select_from(models.DatasetVersion)) > 0, "fill the home first"
    for tenant in TENANT_OF.values():  # go on numbering where the fill stopped
        for kind in ("dataset_version", "experiment", "alert"):
            d.counters[(kind, tenant)] = stored.get(tenant_counter(kind, tenant), 0)
    projects = [p for p, _, _, _ in PROJECTS]
    weights = [w for _, _, w, _ in PROJECTS]
    engineer = {p: e for p, _, _, e in PROJECTS}
    n_versions, n_experiments = round(k * SHARE_VERSIONS), round(k * SHARE_EXPERIMENTS)
    n_alerts = k - n_versions - n_experiments
    start = now - timedelta(hours=1)

    def audit_entry(at: datetime, actor: str, project: str, action: str, ref: str, details: dict) -> None:
        d.audit.append((at, {"actor": actor, "role": ROLE_OF[actor], "tenant": TENANT_OF[project], "project": project,
                             "action": action, "object_ref": ref, "outcome": "allowed", "details": details}))  # fmt: skip

    def edge(project: str, source: str, target: str, edge_type: str, at: datetime) -> None:
        d.edges.append({"project_id": project, "source_ref": source, "target_ref": target, "edge_type": edge_type,
                        "created_at": at})  # fmt: skip

    last: dict[str, str] = dict(heads)
    for i in range(n_versions):
        project = rng.choices(projects, weights)[0]
        at = start + timedelta(seconds=3000 * i / max(1, n_versions))
        digest = f"{rng.getrandbits(256):064x}"
        rows = rng.randint(200, 50_000)
        status = rng.choice(("draft", "validated"))
        v = {
            "version_id": d.new_id("dataset_version", "ds_v", project), "project_id": project,
            "parent_version": last[project], "status": status, "change_summary": ["an hour's new batch"],
            "data_location": str(settings.data_dir / digest[:2] / f"{digest}.jsonl"), "source_format": "jsonl",
            "content_digest": digest, "row_count": rows,
            "schema_fields": [{"name": "id", "type": "string"}, {"name": "text", "type": "string"}],
            "quality_signals": {"rows": rows, "duplicate_id_rate": 0.0, "null_rate": 0.0, "splits": ["train", "test"],
                                "duplicate_ids": []},
            "quality_failures": [], "rollback_candidate": False, "created_by": engineer[project], "created_at": at,
            "validated_by": "quinn" if status == "validated" else None,
            "validated_at": at + timedelta(minutes=5) if status == "validated" else None,
            "released_by": None, "released_at": None, "release_seq": None, "retired_at": None,
        }  # fmt: skip
        last[project] = v["version_id"]
        d.versions.append(v)
        edge(project, f"version:{v['parent_version']}", f"version:{v['version_id']}", "derived_from", at)
        audit_entry(at, engineer[project], project, "version.create", f"version:{v['version_id']}",
                    {"digest": digest, "rows": rows, "parent": v["parent_version"], "format": "jsonl"})  # fmt: skip
    outcomes, outcome_weights = zip(*BAD_EXPERIMENT, strict=True)
    for _ in range(n_experiments):
        v = rng.choice(d.versions)
        project, at = v["project_id"], v["created_at"] + timedelta(minutes=rng.uniform(1, 9))
        status = rng.choices(outcomes, outcome_weights)[0]
        eid = d.new_id("experiment", "exp_", project)
        d.experiments.append({
            "experiment_id": eid, "project_id": project, "dataset_version": v["version_id"], "mlflow_run_id": None,
            "params": {"C": 1.0, "max_iter": 300}, "status": status,
            "metric_summary": {} if status == "failed" else {"f1": round(rng.uniform(0.7, 0.9), 4)},
            "baseline_ref": None, "deltas": {}, "requires_review": status != "completed", "alert_ids": [],
            "error": "ValueError: C must be > 0" if status == "failed" else None,
            "run_ended_at": at - timedelta(seconds=30), "recorded_by": SYSTEM, "recorded_at": at,
        })  # fmt: skip
        edge(project, f"version:{v['version_id']}", f"experiment:{eid}", "used", at)
        audit_entry(at, SYSTEM, project, "experiment.log", f"experiment:{eid}",
                    {"status": status, "dataset_version": v["version_id"], "mlflow_run_id": None})  # fmt: skip
    for _ in range(n_alerts):
        e = rng.choice(d.experiments)
        project, opened = e["project_id"], e["recorded_at"] + timedelta(minutes=1)
        severity = rng.choice(("medium", "low"))
        aid = d.new_id("alert", "alert_", project)
        ref = f"experiment:{e['experiment_id']}"
        d.alerts.append({
            "alert_id": aid, "project_id": project, "severity": severity, "category": "operational",
            "related_object": ref, "title": f"operational on {ref}", "status": "resolved", "opened_by": "omar",
            "opened_at": opened, "acknowledged_by": "omar", "acknowledged_at": opened + timedelta(minutes=2),
            "resolved_by": "omar", "resolved_at": opened + timedelta(minutes=20), "resolution_note": "re-run",
        })  # fmt: skip
        edge(project, ref, f"alert:{aid}", "triggered", opened)
        audit_entry(opened, "omar", project, "alert.open", f"alert:{aid}",
                    {"severity": severity, "category": "operational", "related_object": ref})  # fmt: skip
    insert_rows(platform, d)
    with platform.store.write() as session:
        write_counters(session, d)
    head = append_audit(platform, d)
    platform.close()
    return {"versions": len(d.versions), "experiments": len(d.experiments), "alerts": len(d.alerts),
            "edges": len(d.edges), "audit_records": len(d.audit), "audit_head": head,
            "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip


def insert_rows(platform: Any, data: Data) -> None:
    from sqlalchemy import insert

    from dataops_platform.store import models

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


def append_audit(platform: Any, data: Data) -> int:
    """The entries, in time order, as one real chain (`audit.append` inside `platform.write()`)."""
    from dataops_platform.governance import audit
    from dataops_platform.governance.platform import iso

    data.audit.sort(key=lambda t: t[0])
    seq = 0
    for i in range(0, len(data.audit), BATCH):
        entries = [audit.AuditEntry(at=iso(at), **kw) for at, kw in data.audit[i : i + BATCH]]
        with platform.write() as session:  # moves the audit anchor too
            seq = audit.append(session, entries).seq
    return seq


# -- the ceiling: one raw read of the store -------------------------------------------------------
def raw_read(home: Path) -> dict[str, Any]:
    """Child process: every row of every governance table, read with sqlite3 and kept (the least any
    materialisation of the whole store must do), timed, with this process's peak RSS. The change
    feed (graph_changes, the triggers' bookkeeping, as many rows again as the bulk fill wrote) and
    SQLite's own tables are not governance tables: left out."""
    import sqlite3

    t = time.perf_counter()
    conn = sqlite3.connect(home / "governance.db")
    tables = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        if name != "graph_changes" and not name.startswith("sqlite_")
    ]
    kept = {name: conn.execute(f'SELECT * FROM "{name}"').fetchall() for name in tables}
    conn.close()
    return {"seconds": round(time.perf_counter() - t, 3), "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "tables": len(kept), "rows": sum(len(r) for r in kept.values())}  # fmt: skip


# -- the materialisation -----------------------------------------------------------------------
def _rss_now() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu_seconds() -> float:
    """CPU time of this process (user + system): on a shared machine, less noisy than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def materialise(home: Path, profile: Path | None, full: bool = False) -> dict[str, Any]:
    """Child process: every asset and check (but rule 7's) through `materialize_all`, timed
    (with `full`, the record artifacts rebuilt from the whole store: `dataops materialize --full`)."""
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
    t, cpu = time.perf_counter(), _cpu_seconds()
    outcome = materialize_all(settings, selection=selection, full=full)  # type: ignore[arg-type] - an AssetSelection works too
    seconds, cpu = time.perf_counter() - t, _cpu_seconds() - cpu
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
    events = outcome_events(settings, outcome.run_id)
    materialised = {e.asset_key.to_user_string() for e in events}
    refreshed = {}  # record artifact -> (refresh mode, records rebuilt), from the asset metadata
    for e in events:
        metadata = e.event_specific_data.materialization.metadata
        if "dataops/refresh" in metadata:
            refreshed[e.asset_key.to_user_string()] = [metadata["dataops/refresh"].value, metadata["records_rebuilt"].value]
    return {
        "assets": len(ASSETS), "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 2), "peak_rss": peak,
        "rss_before": rss_before,
        "success": outcome.success,
        "checks": [{"name": c.name, "passed": c.passed} for c in outcome.checks],
        "materialised": sorted(materialised), "steps": steps, "artifact_bytes": artifact_bytes, "refreshed": refreshed,
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
    cpu = f" ({result['cpu_seconds']:.1f} s CPU)" if "cpu_seconds" in result else ""
    say(f"    {label}: {result['seconds']:.2f} s{cpu}, peak RSS {mib(result['peak_rss'])} "
        f"(after imports {mib(result['rss_before'])}), artifacts {mib(result['artifact_bytes'])}, "
        f"run {'succeeded' if result['success'] else 'FAILED'}")  # fmt: skip
    say("      slowest steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in slow))
    refreshed = result.get("refreshed", {})
    if refreshed:
        modes = (f"{k} {mode} ({rebuilt:,} rebuilt)" for k, (mode, rebuilt) in sorted(refreshed.items()))
        say("      record artifacts: " + ", ".join(modes))
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
    n: int, seed: int, mlflow_runs: int, keep: Path | None, profile: Path | None, grow_by: int
) -> dict[str, dict[str, Any]]:
    """Fill a fresh home, read it raw (the ceiling), materialise it (first run), then add `grow_by`
    objects and materialise again (refresh)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"dataops-graph-{n}-")) if keep is None else keep / f"home_{n}"
    home = tmp / "home" if keep is None else tmp
    if keep is not None and home.exists():
        shutil.rmtree(home)
    out: dict[str, dict[str, Any]] = {}
    try:
        say(f"[{n:,} objects] filling {home} ...")
        filled = run_child(["--child-fill", str(home), str(n), str(seed), str(mlflow_runs)])
        say(f"    {filled['versions']:,} versions {filled['version_statuses']}, {filled['experiments']:,} experiments "
            f"({filled['mlflow_runs']} with a real MLflow run, {filled['mlflow_seconds']:.1f} s), "
            f"{filled['alerts']:,} alerts")  # fmt: skip
        say(f"    + {filled['reviews']:,} incident reviews, {filled['exceptions']:,} exceptions, "
            f"{filled['edges']:,} lineage edges, {filled['audit_records']:,} audit records; "
            f"filled in {filled['seconds']:.1f} s, governance.db {mib(filled['db_bytes'])}")  # fmt: skip
        out["raw"] = run_child(["--child-raw", str(home)])
        say(f"    ceiling, one raw read of every table (sqlite3, all {out['raw']['rows']:,} rows kept): "
            f"{out['raw']['seconds']:.2f} s, peak RSS {mib(out['raw']['peak_rss'])}")  # fmt: skip
        # The refresh after growing, then a full rebuild of that same store: the same run's baseline.
        steps = [("first run", None)] + ([("refresh", grow_by), ("full rebuild", None)] if grow_by else [])
        for label, added in steps:
            if added:
                grown = run_child(["--child-grow", str(home), str(added), str(seed)])
                say(
                    f"    + {grown['versions']} versions, {grown['experiments']} experiments, {grown['alerts']} alerts, "
                    f"{grown['edges']} edges, {grown['audit_records']} audit records (bulk inserts, {grown['seconds']:.1f} s)"
                )
            prof = profile / f"graph_scale_{n}_{label.replace(' ', '_')}.pstats" if profile else None
            args = ["--child-materialise", str(home)] + (["--child-profile", str(prof)] if prof else [])
            result = run_child(args + (["--child-full"] if label == "full rebuild" else []))
            report_run(label, result)
            if prof:
                print_profile(prof)
            out[label] = result
        return out
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated object counts (default 100000,300000,1000000)")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,3000: a smoke run")
    parser.add_argument("--mlflow-runs", type=int, default=10, help="experiments with a real MLflow run (default 10)")
    parser.add_argument("--grow", type=int, default=GROW, help=f"objects added before the refresh (default {GROW:,}; 0: none)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="keep the homes under this directory")
    parser.add_argument("--profile", type=Path, help="cProfile each materialisation into this directory")
    parser.add_argument("--child-fill", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-grow", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-raw", help=argparse.SUPPRESS)
    parser.add_argument("--child-materialise", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_fill:
        home, n, seed, runs = args.child_fill
        print(json.dumps(fill(Path(home), int(n), int(seed), int(runs))))
        return 0
    if args.child_grow:
        home, k, seed = args.child_grow
        print(json.dumps(grow(Path(home), int(k), int(seed))))
        return 0
    if args.child_raw:
        print(json.dumps(raw_read(Path(args.child_raw))))
        return 0
    if args.child_materialise:
        print(json.dumps(materialise(Path(args.child_materialise), args.child_profile, args.child_full)))
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
    runs: dict[int, dict[str, dict[str, Any]]] = {}
    for n in sizes:
        runs[n] = bench_size(n, args.seed, args.mlflow_runs, args.keep, args.profile, args.grow)
        say()

    say("summary (seconds of materialize_all and peak RSS of the materialising process; the ceiling is one raw")
    say("read of every table of the same store, in a process of its own)")
    say(f"  {'objects':>9} {'raw read':>9} {'raw RSS':>9} {'first run':>10} {'x vs prev':>9} {'peak RSS':>10} "
        f"{'x raw RSS':>9} {'refresh':>9} {'peak RSS':>10} {'full':>9} {'refresh/full':>12}")  # fmt: skip
    for i, n in enumerate(sizes):
        r, first, again, full = runs[n]["raw"], runs[n]["first run"], runs[n].get("refresh"), runs[n].get("full rebuild")
        row = f"  {n:>9,} {r['seconds']:>8.2f}s {mib(r['peak_rss']):>9} {first['seconds']:>9.2f}s"
        row += f" {first['seconds'] / runs[sizes[i - 1]]['first run']['seconds']:>8.2f}x" if i else f" {'':>9}"
        row += f" {mib(first['peak_rss']):>10} {first['peak_rss'] / r['peak_rss']:>8.1f}x"
        row += f" {again['seconds']:>8.2f}s {mib(again['peak_rss']):>10}" if again else f" {'-':>9} {'':>10}"
        row += f" {full['seconds']:>8.2f}s {again['cpu_seconds'] / full['cpu_seconds']:>11.2f}x" if again and full else ""
        say(row)
    say()
    say(
        f"goals (issue 17, on 2 cores): 1M objects in <= {GOAL_SECONDS:g} s at <= 2 GiB and <= {GOAL_RAW_RSS:g}x the raw "
        f"read's RSS; a {GROW:,}-object refresh of 1M in <= {GOAL_REFRESH:g} s; 10x the data in <= {GOAL_RATIO:g}x the time"
    )
    ok = all(_only_expected_failures(r) for size in runs.values() for k, r in size.items() if k != "raw")
    big = max(sizes)
    first, again, raw = runs[big]["first run"], runs[big].get("refresh"), runs[big]["raw"]
    label = f"{big:,} objects"
    if big != 1_000_000:
        say(f"  (the largest size here is {label}, not 1,000,000: the figures below are for it, judged against the 1M goals)")
    say(f"  {label}: first run {first['seconds']:8.2f} s                  {verdict(first['seconds'] <= GOAL_SECONDS)}")
    say(f"  {label}: peak RSS {mib(first['peak_rss']):>10} <= 2 GiB          {verdict(first['peak_rss'] <= GOAL_RSS)}")
    k = first["peak_rss"] / raw["peak_rss"]
    say(f"  {label}: peak RSS {k:8.1f}x the raw read's          {verdict(k <= GOAL_RAW_RSS)}")
    if again:
        say("  (refresh/full: CPU seconds of the refresh over those of a full rebuild of the same grown store, same run)")
        say(f"  {label}: refresh after {args.grow:,} new objects {again['seconds']:8.2f} s  "
            f"{verdict(again['seconds'] <= GOAL_REFRESH)}")  # fmt: skip
    pairs = [(small, large) for small in sizes for large in sizes if large == 10 * small]
    for small, large in pairs:
        k = runs[large]["first run"]["seconds"] / runs[small]["first run"]["seconds"]
        say(f"  {large:,} / {small:,} first-run time {k:8.2f}x <= {GOAL_RATIO:g}x   {verdict(k <= GOAL_RATIO)}")
    if not pairs:
        say(f"  10x data in <= {GOAL_RATIO:g}x time: not measured (no sizes 10x apart)")
    if args.quick:
        say("  (quick run: indicative only)")
    return 0 if ok else 2


def _only_expected_failures(r: dict[str, Any]) -> bool:
    """The run 'fails' only if a selected check failed; every asset must still have materialised."""
    return len(r["materialised"]) == r["assets"]


if __name__ == "__main__":
    sys.exit(main())
