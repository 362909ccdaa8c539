"""The 13 rules. Each returns (objects checked, violations[, findings]); each names the offending ids.

A violation is an integrity failure: the platform's records disagree with each other (blocking).
A finding is a consistent record the organisation has to act on (shown, alerted, never blocking):
which is which, rule by rule, is in docs/findings.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dataops_platform.artifacts.columns import Projection, column, only, projected, record_at, rows_where, whole_records
from dataops_platform.artifacts.files import ARTIFACT_FILES, PARSED, Artifacts
from dataops_platform.governance.audit import GENESIS_HASH, chain_hash
from dataops_platform.governance.chain import _JSON_ESCAPED_BYTES, _encode_json_str
from dataops_platform.governance.gate import (
    EXPERIMENT_RULE,
    ExperimentFacts,
    judge_released,
    regression_finding,
    rollback_candidate,
    waiver_valid_at,
)
from dataops_platform.rules.chain_cursor import open_cursor
from dataops_platform.rules.registry import metrics_source, rule

FIVE_ROLES = ("admin", "platform_pm", "data_engineer", "qa", "ops")
LEGAL_STATUSES = ("draft", "validated", "rejected", "released", "deprecated", "rolled_back")
LAYER_COUNT = 4
CREATING_ACTION = {
    "version": "version.create",
    "experiment": "experiment.log",
    "alert": "alert.open",
    "rollback": "rollback.execute",
    "review": "review.write",
    "exception": "exception.request",
}


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# Each object artifact: its kind of ref and the field of its id.
_OBJECT_SOURCES = (
    ("dataset_versions", "version", "version_id"),
    ("experiment_runs", "experiment", "experiment_id"),
    ("alerts", "alert", "alert_id"),
    ("rollback_events", "rollback", "rollback_id"),
    ("incident_reviews", "review", "review_id"),
)


def _objects(a: Any) -> dict[str, str]:
    """Every real object's ref and its project, from the object artifacts that are present (their
    projections where `a` offers them, `columns.projected`).

    Rules 5, 9, 10, 11 and 12 all need it, each check on its own `Artifacts` whose projections and
    parsed values the process's parse cache shares: built once per process and kept while the
    object artifacts read are the very same values (identity; they are never changed in place). A
    plain mapping (a test's dict, changed in place between calls) is built every time."""
    sources = [_records_or_none(a, name) for name, _, _ in _OBJECT_SOURCES]
    if not isinstance(a, Artifacts) or getattr(a, "exact", False):  # an exact re-judgement's records are read once, not kept
        return _build_objects(sources)
    if _OBJECTS_MEMO and all(x is y for x, y in zip(_OBJECTS_MEMO[0], sources, strict=True)):
        return _OBJECTS_MEMO[1]
    _OBJECTS_MEMO.clear()  # the old values are not kept alive while the new ones are built
    out = _build_objects(sources)
    _OBJECTS_MEMO[:] = [sources, out]
    return out


def _records_or_none(a: Any, name: str) -> Any:
    """The artifact's records, or none when it is missing or does not parse (rule 1 says so)."""
    try:
        return projected(a, name)
    except KeyError:
        return []


_OBJECTS_MEMO: list[Any] = []  # [the object artifacts' records, by identity; the objects built from them]
PARSED.on_clear(_OBJECTS_MEMO.clear)


def _build_objects(sources: list[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    versions, *others = sources
    ids, projects = column(versions, "version_id"), column(versions, "project_id")
    for vid, pid, exceptions in zip(ids, projects, column(versions, "exceptions"), strict=True):
        out[f"version:{vid}"] = pid
        for x in exceptions:
            out[f"exception:{x['exception_id']}"] = x["project_id"]
    for records, (_, kind, key) in zip(others, _OBJECT_SOURCES[1:], strict=True):
        out.update(zip([f"{kind}:{x}" for x in column(records, key)], column(records, "project_id"), strict=True))
    return out


def _projects(a: Any) -> dict[str, dict]:
    return {p["id"]: p for p in a.get("platform_scope", {}).get("projects", [])}


@rule(1, "test_report", "Every artifact of SPEC §8 exists and parses.")
def required_artifacts_present(a: Any) -> tuple[int, list[str]]:
    required = [n for n in ARTIFACT_FILES if n not in getattr(a, "not_yet_written", ())]
    return len(required), [a.problems[n] for n in required if n in a.problems]


@rule(2, "platform_scope", "Five roles exist, every action is granted, every project has an owner, SoD is configured.")
def role_permission_model_complete(a: Any) -> tuple[int, list[str]]:
    scope = a["platform_scope"]
    roles = {name: r for name, r in scope["roles"].items() if not r["is_system"]}
    users = {u["id"] for u in scope["users"]}
    out = [f"role {name} missing" for name in FIVE_ROLES if name not in roles]
    granted = {action for r in roles.values() for action in r["actions"]}
    out += [f"action {action} granted to no role" for action in scope["actions"] if action not in granted]
    out += [f"project {p['id']} has no known owner ({p['owner']!r})" for p in scope["projects"] if p["owner"] not in users]
    sod = scope["separation_of_duties"]
    out += [
        f"separation_of_duties.{k} not enabled" for k in ("creator_cannot_release", "requester_cannot_approve") if not sod.get(k)
    ]
    return len(roles) + len(scope["actions"]) + len(scope["projects"]) + 2, out


@rule(3, "architecture_spec", "Four layers; every code component maps to exactly one layer.")
def architecture_layers_complete(a: Any) -> tuple[int, list[str]]:
    spec = a["architecture_spec"]
    out = [] if len(spec["layers"]) == LAYER_COUNT else [f"{len(spec['layers'])} layers, expected {LAYER_COUNT}"]
    owners: dict[str, list[str]] = {}
    for layer in spec["layers"]:
        for package in layer["packages"]:
            owners.setdefault(package, []).append(layer["id"])
    for component in spec["components"]:
        layers = owners.get(component, [])
        if len(layers) != 1:
            out.append(f"component {component} is in {len(layers)} layers {layers}")
    out += [f"layer package {p} does not exist in code" for p in owners if p not in spec["components"]]
    return len(spec["components"]), out


@rule(
    4,
    "api_catalog",
    "Every catalogued API exists in code; every queue is a pool used by an asset; every panel is an asset group.",
    reads=("task_queues", "ui_panels"),
)
def api_queue_ui_present(a: Any) -> tuple[int, list[str]]:
    apis, queues, panels = a["api_catalog"]["apis"], a["task_queues"], a["ui_panels"]
    out = [f"api {x['id']} ({x['command']!r}) has no command in the CLI" for x in apis if not x.get("implemented_by")]
    out += [f"api {x['id']} route {x['route']!r} is not served by the REST API" for x in apis if x.get("route_served") is False]
    out += [f"queue {q['id']} is a pool no asset uses" for q in queues["queues"] if not q["assets"]]
    declared = {q["id"] for q in queues["queues"]}
    out += [f"pool {p} used in code is not a declared queue" for p in queues["pools_in_code"] if p not in declared]
    out += [f"panel {p['id']} is not an asset group" for p in panels["panels"] if not p["assets"]]
    titled = {p["id"] for p in panels["panels"]}
    out += [f"asset group {g} is not a declared panel" for g in panels["asset_groups_in_code"] if g not in titled]
    return len(apis) + len(queues["queues"]) + len(panels["panels"]), out


@rule(
    5,
    "lineage_graph",
    "Every object belongs to a project of one tenant; no reference crosses tenants.",
    reads=("platform_scope",),
)
def tenant_project_boundaries(a: Any) -> tuple[int, list[str]]:
    projects = _projects(a)
    tenants = {t["id"] for t in a["platform_scope"]["tenants"]}
    objects = _objects(a)
    out = [f"project {pid} in unknown tenant {p['tenant_id']}" for pid, p in projects.items() if p["tenant_id"] not in tenants]
    tenant_of = {ref: projects.get(pid, {}).get("tenant_id") for ref, pid in objects.items()}
    out += [f"{ref} in unknown project {pid}" for ref, pid in objects.items() if pid not in projects]

    def cross(src: str, dst: str) -> None:
        if src in tenant_of and dst in tenant_of and tenant_of[src] != tenant_of[dst]:
            out.append(f"{src} ({tenant_of[src]}) -> {dst} ({tenant_of[dst]}) crosses tenants")

    edges = projected(a, "lineage_graph")["edges"]
    for source, target in zip(column(edges, "source"), column(edges, "target"), strict=True):
        cross(source, target)
    experiments = projected(a, "experiment_runs")
    for eid, vid in zip(column(experiments, "experiment_id"), column(experiments, "dataset_version"), strict=True):
        cross(f"experiment:{eid}", f"version:{vid}")
    for al in projected(a, "alerts"):
        cross(f"alert:{al['alert_id']}", al["related_object"])
    for rb in a["rollback_events"]:
        cross(f"rollback:{rb['rollback_id']}", f"version:{rb['from_version']}")
        cross(f"rollback:{rb['rollback_id']}", f"version:{rb['to_version']}")
    for rv in a["incident_reviews"]:
        for ref in rv["related_refs"]:
            cross(f"review:{rv['review_id']}", ref)
    return len(objects) + len(edges), out


_NO_PROJECT = object()  # what a version that does not exist belongs to: equal to no project id
_LINK_FIELDS = ("version_id", "project_id", "status", "parent_version", "released_at", "is_current_release")


@rule(6, "dataset_versions", "Parents exist in the same project, no cycles, statuses legal, one current release.")
def version_lineage_links_valid(a: Any) -> tuple[int, list[str]]:
    read = only(projected(a, "dataset_versions"), *_LINK_FIELDS)
    versions = {v["version_id"]: v for v in read}
    out = []
    # Walking up the parents from a version ends outside the known versions (None here) or at the
    # first version met twice. Every walk is remembered for each version it passes, so the whole
    # rule is linear in the versions, not in versions x depth (long lines are thousands deep).
    first_repeat: dict[str, str | None] = {}
    for vid, v in versions.items():
        if v["status"] not in LEGAL_STATUSES:
            out.append(f"{vid} has illegal status {v['status']!r}")
        parent = v["parent_version"]
        if parent is not None and (parent not in versions or versions[parent]["project_id"] != v["project_id"]):
            out.append(f"{vid} has parent {parent} outside its project or missing")
        if vid not in first_repeat:
            _walk_parents(vid, parent, versions, first_repeat)
        if first_repeat[vid] is not None:
            out.append(f"{vid} is on a parent cycle through {first_repeat[vid]}")
        if v["status"] in ("released", "deprecated", "rolled_back") and not v["released_at"]:
            out.append(f"{vid} is {v['status']} but was never released")
    current: dict[str, list[str]] = {}
    for vid, v in versions.items():
        if v["is_current_release"]:
            current.setdefault(v["project_id"], []).append(vid)
            if v["status"] != "released":
                out.append(f"{vid} is the current release but {v['status']}")
    out += [f"project {p} has {len(c)} current releases {c}" for p, c in current.items() if len(c) > 1]
    return len(versions), out


def _walk_parents(vid: str, parent: str | None, versions: dict[str, dict], first_repeat: dict[str, str | None]) -> None:
    """Record, for `vid` and every version on its parent walk, the first version that walk meets twice.

    A walk that reaches a version already recorded ends as that version's walk does: the versions
    before it on this walk are not on any cycle (a cycle's versions are all recorded together), so
    the first repeat is where the recorded walk enters its cycle, or, when the recorded version is
    on the cycle, that version itself, which is what it has recorded."""
    path, index = [vid], {vid: 0}
    cursor, found, known = parent, None, False
    while cursor in versions:
        if cursor in first_repeat:
            found, known = first_repeat[cursor], True
            break
        if cursor in index:
            found = cursor
            break
        index[cursor] = len(path)
        path.append(cursor)
        cursor = versions[cursor]["parent_version"]
    if found is None or known:
        for node in path:
            first_repeat[node] = found
        return
    entry = index[found]  # the walk's versions from here on are the cycle: each first meets itself again
    for i, node in enumerate(path):
        first_repeat[node] = found if i < entry else node


@rule(
    7,
    "experiment_runs",
    "Every experiment references a version of its own project and an existing MLflow run.",
    reads=("dataset_versions",),
)
def experiments_reference_versions(a: Any) -> tuple[int, list[str], list[str]]:
    versions = {v["version_id"]: v["project_id"] for v in only(projected(a, "dataset_versions"), "version_id", "project_id")}
    out, findings = [], []
    experiments = projected(a, "experiment_runs")
    for e in only(experiments, "experiment_id", "project_id", "dataset_version", "mlflow_run_id", "mlflow_run"):
        if versions.get(e["dataset_version"], _NO_PROJECT) != e["project_id"]:
            out.append(f"{e['experiment_id']} references {e['dataset_version']}, not a version of {e['project_id']}")
        run = e["mlflow_run"]
        if not e["mlflow_run_id"] or not run:
            out.append(f"{e['experiment_id']} has no existing MLflow run ({e['mlflow_run_id']!r})")
        elif run.get("lifecycle_stage") == "deleted":
            # Deleted in the MLflow UI, not yet garbage-collected: the record still holds, someone has to decide.
            findings.append(
                f"{e['experiment_id']}: MLflow run {e['mlflow_run_id']} is deleted in MLflow; restore it "
                f"(`mlflow runs restore --run-id {e['mlflow_run_id']}`) before `mlflow gc` removes what the record cites"
            )
    return len(experiments), out, findings


@rule(
    8,
    "experiment_runs",
    "No version was released past a blocking experiment without an exception valid at release time.",
    reads=("dataset_versions",),
)
def release_gate_respected(a: Any) -> tuple[int, list[str], list[str]]:
    """The gate as it stood at release time (integrity) and the data regressions standing on each
    current release now (findings); see governance/gate.py."""
    out, findings = [], []
    released = [v for v in projected(a, "dataset_versions") if v["released_at"]]
    on_version: dict[Any, list[dict]] = {}  # experiments by version, in artifact order
    if released:  # only the experiments on released versions become dicts
        for e in rows_where(projected(a, "experiment_runs"), "dataset_version", {v["version_id"] for v in released}):
            on_version.setdefault(e["dataset_version"], []).append(e)
    for v in released:
        vid, exceptions = v["version_id"], v["exceptions"]
        experiments = [ExperimentFacts.of(e) for e in on_version.get(vid, ())]
        if not experiments:
            continue
        waived_then = any(
            waiver_valid_at(x["rule"], x["status"], x["approved_at"], x["effective_from"], x["expires_at"], v["released_at"])
            for x in exceptions
        )
        waived_now = any(x["rule"] == EXPERIMENT_RULE and x["effective_status"] == "approved" for x in exceptions)
        verdict = judge_released(v["released_at"], experiments, waived_then, waived_now)
        if verdict.bypassed:
            out.append(
                f"{vid} was released at {v['released_at']} past {', '.join(verdict.bypassed)}, recorded before the release, "
                "with no exception valid at that time: the gate was bypassed"
            )
        if verdict.standing and v["is_current_release"]:
            releases = [(x["version_id"], x["status"], x["release_seq"]) for x in released if x["project_id"] == v["project_id"]]
            candidate = rollback_candidate(releases, v["release_seq"])
            findings.append(regression_finding(v["project_id"], vid, verdict.standing, candidate))
    return len(released), out, findings


@rule(
    9,
    "incident_reviews",
    "Rollback targets are earlier released versions of the same project; each has a trigger and a review.",
    reads=("dataset_versions", "experiment_runs", "alerts", "rollback_events"),
)
def rollback_events_valid(a: Any) -> tuple[int, list[str], list[str]]:
    # Only the versions the rollbacks name (a handful, of a million) become dicts.
    named = {v for rb in a["rollback_events"] for v in (rb["to_version"], rb["from_version"])}
    versions = {v["version_id"]: v for v in rows_where(projected(a, "dataset_versions"), "version_id", named)}
    reviews = {r["review_id"]: r for r in a["incident_reviews"]}
    relating: dict[str, list[str]] = {}  # rollback ref -> the reviews that name it
    for r in a["incident_reviews"]:
        for related in r["related_refs"]:
            relating.setdefault(related, []).append(r["review_id"])
    objects = _objects(a)
    out, findings = [], []
    for rb in a["rollback_events"]:
        rid, to, frm = rb["rollback_id"], versions.get(rb["to_version"]), versions.get(rb["from_version"])
        if to is None or frm is None or to["project_id"] != rb["project_id"] or frm["project_id"] != rb["project_id"]:
            out.append(f"{rid}: versions missing or outside {rb['project_id']}")
            continue
        if not to["release_seq"] or not frm["release_seq"] or to["release_seq"] >= frm["release_seq"]:
            out.append(f"{rid}: target {to['version_id']} is not an earlier release than {frm['version_id']}")
        if frm["status"] != "rolled_back":
            out.append(f"{rid}: abandoned {frm['version_id']} is {frm['status']}, not rolled_back")
        trigger, review, named_by = rb["trigger_ref"], rb["review_ref"], relating.get(f"rollback:{rid}", [])
        if trigger and trigger not in objects:
            out.append(f"{rid}: trigger {trigger!r} names no object")
        # Writing a review of a rollback sets its review_ref (governance/reviews.py): the two must agree.
        if review and review not in reviews:
            out.append(f"{rid}: review_ref {review!r} names no incident review")
        elif review and review not in named_by:
            out.append(f"{rid}: review_ref {review} is a review that does not name the rollback")
        elif not review and named_by:
            out.append(f"{rid}: reviewed by {named_by[0]}, but its review_ref is empty")
        elif not review:
            findings.append(f"{rid}: no incident review yet (`dataops review add --rollback {rid} ...`)")
        if not trigger and not (review in reviews and not review_missing(reviews[review])):
            findings.append(f"{rid}: no trigger recorded; its complete incident review has to say what caused it")
    return len(a["rollback_events"]), out, findings


@rule(
    10,
    "sla_report",
    "Every alert references an existing object; timestamps ordered; open alerts inside SLA.",
    reads=("alerts", "dataset_versions", "experiment_runs", "rollback_events", "platform_scope"),
)
def alerts_linked_and_closed(a: Any) -> tuple[int, list[str], list[str]]:
    objects = _objects(a)
    projects = {f"project:{pid}" for pid in _projects(a)}  # platform-wide alerts are raised on a project
    breached = {b["alert_id"]: b for b in a["sla_report"]["breaches"]}
    out, findings = [], []
    alerts = projected(a, "alerts")
    for al in alerts:
        aid = al["alert_id"]
        if al["related_object"] not in objects and al["related_object"] not in projects:
            out.append(f"{aid} references missing {al['related_object']}")
        opened, acked, resolved = _t(al["opened_at"]), _t(al["acknowledged_at"]), _t(al["resolved_at"])
        if (acked and acked < opened) or (resolved and (resolved < opened or (acked and resolved < acked))):
            out.append(f"{aid} timestamps out of order")
        expected = "resolved" if resolved else "acknowledged" if acked else "open"
        if al["status"] != expected:
            out.append(f"{aid} status {al['status']} contradicts its timestamps ({expected})")
        elif al["status"] != "resolved" and aid in breached:
            problems = "; ".join(breached[aid].get("problems", [])) or "past its targets"
            move = "acknowledge or resolve" if al["status"] == "open" else "resolve"
            findings.append(f"{aid} ({al['severity']}) is {al['status']} outside its SLA ({problems}): {move} it")
    return len(alerts), out, findings


_CHAIN_FIELDS = ("seq", "at", "actor", "role", "tenant", "project", "action", "object_ref", "outcome", "details", "prev_hash")


def chain_problems(records: list[dict], anchor: dict | None, verified: tuple[int, str] = (0, GENESIS_HASH)) -> list[str]:
    """The chain's first problem, or none. `verified` = (n, hash of record n) when records 1..n are
    known to walk cleanly (rule 11's cursor, rules/chain_cursor.py): the walk starts after them,
    and meets every later record, and the anchor, exactly as a walk from seq 1 would."""
    done, prev = verified
    expected = done + 1
    sha256, encode_str, escaped = hashlib.sha256, _encode_json_str, _JSON_ESCAPED_BYTES
    # Of a projection (which holds none of the chain's hashes), the records themselves, parsed line
    # by line from its file from record `done` on, none kept (columns.whole_records).
    for r in whole_records(records[done:] if done else records):
        if r["seq"] != expected:
            return [f"audit seq {expected} missing (next is {r['seq']})"]
        if r["prev_hash"] != prev:
            return [f"audit seq {r['seq']} prev_hash breaks the chain"]
        fields = [r[k] for k in _CHAIN_FIELDS]
        seq, at, actor, role, tenant, project, action, ref, outcome, details, prev_hash = fields
        stored, digest = r["hash"], None
        if role is not None and tenant is not None and project is not None and ref is not None:
            # governance.chain.verify_span's fast path, byte-identical to chain_hash whenever it is
            # taken (prev_hash equals the previous record's verified hash: plain hex); anything
            # else, or a mismatch, is recomputed with chain_hash before it is judged.
            try:
                middle = '","'.join((at, actor, role, tenant, project, action, ref, outcome))
                raw = middle.encode()
                if type(seq) is int and len(raw) - len(raw.translate(None, escaped)) == 14:
                    digest = sha256(f'[{seq},"{middle}",{encode_str(details)},"{prev_hash}"]'.encode()).hexdigest()
            except TypeError:
                pass
        if digest != stored and chain_hash(*fields) != stored:
            return [f"audit seq {r['seq']} content does not match its hash"]
        prev, expected = stored, expected + 1
    if records and anchor is not None and anchor.get("unusable"):
        return [f"audit anchor {', '.join(anchor['unusable'])}: the tail of the chain cannot be checked "
                "(an admin re-anchors: `dataops audit reanchor --reason ...`)"]  # fmt: skip
    if anchor and type(anchor.get("seq")) is int and anchor["seq"] < 0:  # would index from the end
        return [f"audit anchor seq {anchor['seq']} names no record: the anchor is not one the platform wrote"]
    if anchor and anchor.get("seq", 0) > expected - 1:
        return [f"audit seq {expected} missing: anchor saw seq {anchor['seq']}"]
    if anchor and anchor.get("seq") and records and record_at(records, anchor["seq"] - 1)["hash"] != anchor["hash"]:
        return [f"audit seq {anchor['seq']} differs from the anchored head"]
    return []


# The only (action, object_ref) pairs rule 11 asks about: records of every other action (validations,
# acknowledgements, reads...) are not put in the set (bench/audit_chain_cursor.py measures both ways).
_AUDITED_ACTIONS = frozenset((*CREATING_ACTION.values(), "version.release"))


def _allowed_rows(records: Projection, field: str, values: Iterable[str]) -> Any:
    """The rows of allowed audit records whose `field` is one of `values`, filtered by pyarrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = records.rows_table()
    chosen = pc.is_in(t[field], value_set=pa.array(sorted(values), pa.string()))
    return t.filter(pc.and_(pc.equal(t["outcome"], "allowed"), chosen))


def allowed_audited(records: Any) -> set[tuple[str, str]]:
    """(action, object_ref) of every allowed record whose action creates or releases an object."""
    audited = _AUDITED_ACTIONS
    if isinstance(records, Projection):  # filtered by pyarrow: only the pairs asked about become Python strings
        kept = _allowed_rows(records, "action", audited)
        return set(zip(kept.column("action").to_pylist(), kept.column("object_ref").to_pylist(), strict=True))
    return {(r["action"], r["object_ref"]) for r in records if r["outcome"] == "allowed" and r["action"] in audited}


def allowed_refs(records: Any, wanted: set[str]) -> set[str]:
    """The refs of `wanted` that an allowed audit record names."""
    if isinstance(records, Projection):
        return set(_allowed_rows(records, "object_ref", wanted).column("object_ref").to_pylist())
    return {r["object_ref"] for r in records if r["outcome"] == "allowed" and r["object_ref"] in wanted}


@rule(
    11,
    "audit_log",
    "Every mutation has an audit record; the hash chain verifies.",
    reads=("dataset_versions", "experiment_runs", "alerts", "rollback_events", "incident_reviews"),
)
def audit_trail_intact(a: Any) -> tuple[int, list[str]]:
    records = projected(a, "audit_log")  # the largest artifact: its columns, where they can be read (artifacts.columns)
    # On an `Artifacts` root the walk may start after the prefix a previous clean walk verified
    # (chain_cursor: whoever can write the artifacts can write that state too); a plain mapping,
    # or any doubt about the state, walks from seq 1. Only a clean result moves the cursor.
    cursor = open_cursor(a, records)
    out = chain_problems(records, a.get("audit_anchor"), cursor.start if cursor else (0, GENESIS_HASH))
    if cursor is not None and not out:
        cursor.remember()
    allowed = allowed_audited(records)
    objects = _objects(a)
    for ref in objects:
        kind = ref.partition(":")[0]
        if (CREATING_ACTION[kind], ref) not in allowed:
            out.append(f"{ref} has no allowed {CREATING_ACTION[kind]} audit record")
    for v in projected(a, "dataset_versions"):
        if v["released_at"] and ("version.release", f"version:{v['version_id']}") not in allowed:
            out.append(f"version:{v['version_id']} was released without an audit record")
    return len(records) + len(objects), out


def review_missing(review: dict) -> list[str]:
    missing = [k for k in ("symptom", "impact_scope", "root_cause", "mitigation") if not (review.get(k) or "").strip()]
    items = review.get("fix_items") or []
    if not items or any(not all(i.get(k) for k in ("description", "owner", "due")) for i in items):
        missing.append("fix_items")
    return missing


SERIOUS = ("high", "critical")


@rule(
    12,
    "incident_reviews",
    "Every high/critical alert and every rollback has a complete review once it is due.",
    reads=("alerts", "rollback_events", "sla_report", "dataset_versions", "experiment_runs"),
)
def incident_reviews_complete(a: Any) -> tuple[int, list[str], list[str]]:
    """A review is due for a high/critical alert once it is resolved or outside its SLA (an alert
    opened a minute ago is still being handled), and for a rollback as soon as it happened. A
    missing or incomplete review is a finding; a review naming what does not exist is a violation."""
    breached = {b["alert_id"] for b in a["sla_report"]["breaches"]}
    serious = [x for x in projected(a, "alerts") if x["severity"] in SERIOUS]
    due = [f"alert:{x['alert_id']}" for x in serious if x["status"] == "resolved" or x["alert_id"] in breached]
    due += [f"rollback:{x['rollback_id']}" for x in a["rollback_events"]]
    out, findings = [], []
    objects = _objects(a) if a["incident_reviews"] else {}
    about: dict[str, list[dict]] = {}  # reviews by the refs they relate, in artifact order, each once
    for r in a["incident_reviews"]:
        for related in r["related_refs"]:
            if related not in objects:
                out.append(f"review {r['review_id']} relates {related}, which does not exist")
            elif (target := objects[related]) != r["project_id"]:
                out.append(f"review {r['review_id']} of {r['project_id']} relates {related} of {target}")
            listed = about.setdefault(related, [])
            if not listed or listed[-1] is not r:
                listed.append(r)
    for ref in due:
        reviews = about.get(ref, [])
        kind, _, object_id = ref.partition(":")
        if not reviews:
            findings.append(f"{ref} has no incident review (`dataops review add --{kind} {object_id} ...`)")
        elif all(review_missing(r) for r in reviews):
            findings.append(f"{ref}: review {reviews[0]['review_id']} lacks {', '.join(review_missing(reviews[0]))}")
    return len(serious) + len(a["rollback_events"]) + len(a["incident_reviews"]), out, findings


@rule(
    13,
    "platform_report",
    "Metrics recomputed from the artifacts equal the reported ones; the report quotes them.",
    reads=("platform_metrics",),
)
def metrics_consistent(a: Any) -> tuple[int, list[str]]:
    # The metrics are computed above the rules (they count the rules' results): the metrics module
    # provides its computation to the registry, so this rule receives it instead of importing it.
    source = metrics_source()
    if source is None:
        return 0, ["cannot recompute the metrics: no metrics computation was provided (import dataops_platform.metrics)"]
    reported = a["platform_metrics"]
    recomputed = source.compute(a)
    out = [
        f"metric {k}: reported {reported.get(k)!r}, recomputed {v!r}"
        for k, v in recomputed.items()
        if k != "generated_at" and reported.get(k) != v
    ]
    quoted = source.quoted(a.get("report_md", ""))
    out += [f"report quotes {k} = {v}, metrics say {reported.get(k)!r}" for k, v in quoted.items() if str(reported.get(k)) != v]
    if not quoted:
        out.append("the report quotes no metrics")
    return len(recomputed) + len(quoted), out
