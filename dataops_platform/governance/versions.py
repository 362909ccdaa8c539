"""Dataset versions: registration on real data, the lifecycle, the quality gate and release (SPEC §3, §5).

Lifecycle: draft -> validated | rejected; validated -> released; released -> deprecated | rolled_back.
Anything else is refused naming the current state and the allowed moves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataops_platform.errors import DataOpsError, GateRefused, InvalidInput
from dataops_platform.governance import lineage
from dataops_platform.governance.authz import decide
from dataops_platform.governance.datasets import DatasetProfile, ReadLimits, profile_source
from dataops_platform.governance.gate import release_conditions
from dataops_platform.governance.listing import list_visible
from dataops_platform.governance.platform import Platform, _denial, tenant_counter
from dataops_platform.governance.policy import governance_policy, quality_thresholds
from dataops_platform.governance.provenance import Provenance, as_record, parse_provenance
from dataops_platform.governance.refs import ref
from dataops_platform.notify.events import version_payload
from dataops_platform.spec.models import QualityThresholds
from dataops_platform.store.models import DatasetVersion, Project, Tenant

TRANSITIONS: dict[str, dict[str, str]] = {
    "draft": {"validate": "validated | rejected"},
    "validated": {"release": "released"},
    "released": {"deprecate": "deprecated", "rollback": "rolled_back"},
    "rejected": {},
    "deprecated": {},
    "rolled_back": {},
}
STATUSES = tuple(TRANSITIONS)


def require_transition(version: DatasetVersion, move: str) -> None:
    allowed = TRANSITIONS[version.status]
    if move not in allowed:
        moves = ", ".join(f"{m} -> {target}" for m, target in allowed.items()) or "none (final state)"
        raise GateRefused(
            f"cannot {move} {version.version_id}",
            [f"illegal transition: {version.version_id} is {version.status}; allowed from {version.status}: {moves}"],
        )


def version_project(version_id: str):  # noqa: ANN201 - a resolver for Platform.act / view
    return lambda session: v.project_id if (v := session.get(DatasetVersion, version_id)) else None


def get_version(session: Session, version_id: str) -> DatasetVersion:
    version = session.get(DatasetVersion, version_id)
    if version is None:  # only reachable after authorization resolved the project, so no leak
        raise InvalidInput(f"version {version_id!r} not found", field="version", value=version_id)
    return version


def quality_failures(signals: dict, row_count: int, limits: QualityThresholds) -> list[str]:
    failures = []
    if row_count < limits.min_rows:
        failures.append(f"row_count {row_count} < min_rows {limits.min_rows}")
    if signals["duplicate_id_rate"] > limits.max_duplicate_id_rate:
        failures.append(f"duplicate_id_rate {signals['duplicate_id_rate']} > {limits.max_duplicate_id_rate}")
    for field, rate in sorted(signals["null_rate"].items()):
        if rate > limits.max_null_rate:
            failures.append(f"null_rate[{field}] {rate} > {limits.max_null_rate}")
    for split in limits.required_splits:
        if split not in signals["split_distribution"]:
            failures.append(f"split {split!r} missing (required: {', '.join(limits.required_splits)})")
    return failures


def _check_parent(session: Session, project_id: str, parent_id: str | None) -> None:
    if parent_id is None:
        return
    parent = session.get(DatasetVersion, parent_id)
    if parent is None or parent.project_id != project_id:
        # A version of another project (maybe another tenant) answers exactly like a missing one.
        raise InvalidInput(f"--parent {parent_id!r}: no such version in project {project_id}", field="parent", value=parent_id)
    # A new version has no children yet, so its parent link cannot close a cycle; rule 6 re-checks.


def _check_quota(session: Session, project_id: str) -> None:
    project = session.get(Project, project_id)
    tenant = session.get(Tenant, project.tenant_id)
    count = session.scalar(
        select(func.count())
        .select_from(DatasetVersion)
        .join(Project, Project.id == DatasetVersion.project_id)
        .where(Project.tenant_id == tenant.id)
    )
    if count >= tenant.max_dataset_versions:
        raise GateRefused(
            f"cannot register a version in {project_id}",
            [f"tenant_quota: tenant {tenant.id} holds {count} of max_dataset_versions {tenant.max_dataset_versions}"],
        )


CREATE = "version.create"


def check_can_register(
    platform: Platform, actor: str, project_id: str, parent: str | None = None, provenance: Provenance | dict | None = None
) -> Provenance | None:
    """Permission, visibility, provenance, parent and quota, decided in a read session before any data is touched:
    a caller who may not register (or may not see the project) never makes the platform read a byte.
    A denial is audited and raised exactly as `Platform.act` does (NotFound for another tenant), a
    bad parent or a full quota audited as failed; an allowed caller leaves no record here (the
    registration itself is audited). An upload route calls it before taking in the body.
    Returns the provenance, parsed (`provenance.parse_provenance`)."""
    problem: DataOpsError | None = None
    parsed: Provenance | None = None
    with platform.store.read() as session:
        decision = decide(session, actor, CREATE, project_id)
        if decision.allowed:
            try:
                parsed = parse_provenance(provenance)
                _check_parent(session, project_id, parent)
                _check_quota(session, project_id)
            except DataOpsError as exc:
                problem = exc
    if not decision.allowed:
        # `refuse` decides again in the write transaction and audits the denial; should a role have
        # been granted meanwhile, the denial we acted on is audited as the failure instead.
        platform.refuse(actor, CREATE, project=project_id, error=_denial(decision, None))
    if problem is not None:
        platform.refuse(actor, CREATE, project=project_id, error=problem)
    return parsed


def profile_file(source: Any, limits: ReadLimits) -> DatasetProfile:
    """The one read of a registration (a seam the reader-bug test replaces)."""
    return profile_source(source, limits)


def register_version(
    platform: Platform,
    actor: str,
    project_id: str,
    data_file: Path | str,
    parent: str | None = None,
    change_summary: list[str] | None = None,
    *,
    root: Path | None = None,
    label: str | None = None,
    copy: bool | None = None,
    provenance: Provenance | dict | None = None,
    uploaded: bool = False,
) -> DatasetVersion:
    """Register data where it lives as a new draft version (needs version.create).

    `data_file` is a local file, a `file://` URI, a directory or a glob of JSONL / CSV / Parquet
    files (`dataops_platform.sources.open_source`; with `root`, the REST inbox, it must stay inside).
    Order, so that no request costs more than its caller may spend: permission and visibility
    first (nothing is opened before), then parent and quota, then the source is streamed once under
    the deployment's limits (TooLarge over them), then the version is written with the source, its
    pin, digest (`digest_algorithm`), typed schema and the diff against the parent. Nothing is
    copied unless `copy` (or the project's `copy_data_by_project` policy) asks; a copy keeps the
    original bytes, content-addressed. An `uploaded` file (the REST upload) is always kept, and its
    kept copy becomes the version's source. Every refusal is audited: denied (PermissionDenied, NotFound)
    or failed (InvalidInput, TooLarge, GateRefused); an unexpected error while reading is audited as
    failed, then raised.

    `provenance` (a team's Dagster run and asset, `governance/provenance.py`) is checked right
    after permission; it is kept on the version and in the audit record, and lineage gains the edge
    `dagster_run:<run id> -produced-> version:<id>`.
    """
    from dataops_platform.sources import open_source

    produced_by = check_can_register(platform, actor, project_id, parent, provenance)
    text = str(data_file)
    inbox = None
    if root is not None:
        try:
            inbox, text = tenant_inbox(platform, root, project_id, text)
        except InvalidInput as bad:
            platform.refuse(actor, CREATE, project=project_id, error=bad)
    if label is None:
        label = f"{root.name}/{text}" if root is not None and not Path(text).is_absolute() else text
    limits = ReadLimits.from_settings(platform.settings)
    try:
        source = open_source(text, root=root, label=label, settings=platform.settings)
        if inbox is not None:
            _stays_in(source, inbox, label)
        profile: DatasetProfile = profile_file(source, limits)
        pin = {} if uploaded else source.pin()  # an upload is pinned by its kept copy, below
        with platform.store.read() as session:
            policy = governance_policy(session)
            parent_row = session.get(DatasetVersion, parent) if parent else None
        keep_copy = policy.copy_data_by_project.get(project_id, False) if copy is None else copy
        parent_diff = _diff_against(platform, parent_row, source, profile, limits) if parent_row is not None else None
    except InvalidInput as bad:
        platform.refuse(actor, CREATE, project=project_id, error=bad)
    except Exception as crash:  # a reader bug, not a refusal: audited like a crash inside act, then raised
        with platform.act(actor, CREATE, project=project_id):
            raise crash from None
        raise
    pin = pin | {"digest": profile.digest, "digest_algorithm": profile.digest_algorithm}
    with platform.act(actor, CREATE, project=project_id) as op:
        session = op.session
        _check_parent(session, project_id, parent)
        _check_quota(session, project_id)
        limits_q = quality_thresholds(governance_policy(session), project_id)
        duplicate_rate = profile.quality_signals["duplicate_id_rate"]
        if duplicate_rate > limits_q.max_duplicate_id_rate:
            raise InvalidInput(
                f"{label}: duplicate-id rate {duplicate_rate} exceeds max_duplicate_id_rate "
                f"{limits_q.max_duplicate_id_rate} (e.g. ids {', '.join(profile.quality_signals['duplicate_ids'][:5])}); "
                "de-duplicate the file",
                field="id",
                value=duplicate_rate,
            )
        copied = source.copy_original(platform.settings.data_dir) if keep_copy or uploaded else None
        if uploaded:
            # An upload's file is gone when the request ends: the version's source is its kept copy
            # (read-only, content-addressed), so verify, diff and training re-read what was registered.
            source = _kept_copy_source(platform, copied, label)
            pin = source.pin() | {"digest": profile.digest, "digest_algorithm": profile.digest_algorithm}
            if len(pin["files"]) == 1:  # named as uploaded: the name a download is served under
                pin["files"][0]["name"] = Path(label).name
        # Identical content again is allowed (a re-release of the same data is a legitimate way out),
        # but never silent: the audit record, the CLI and the REST response name the earlier versions.
        same = sorted(session.scalars(_same_content(project_id, profile.digest, profile.digest_algorithm)))
        version = DatasetVersion(
            version_id=op.next_id("dataset_version", "ds_v"),
            project_id=project_id,
            parent_version=parent,
            status="draft",
            change_summary=list(change_summary or []),
            data_location=copied or _location(platform, source, profile),
            source_format=profile.source_format,
            content_digest=profile.digest,
            digest_algorithm=profile.digest_algorithm,
            row_count=profile.row_count,
            schema_fields=profile.schema_fields,
            schema_types=profile.schema_types,
            quality_signals=profile.quality_signals,
            quality_failures=[],
            source_uri=source.uri,
            source_kind=source.kind,
            source_pin=pin,
            copy_location=copied,
            parent_diff=parent_diff,
            provenance=as_record(produced_by),
            created_by=actor,
            created_at=op.now,
        )
        session.add(version)
        session.flush()
        if parent:
            lineage.add_edge(
                session, project_id, ref("version", parent), ref("version", version.version_id), "derived_from", op.now
            )
        if produced_by is not None:
            run = ref("dagster_run", produced_by.dagster_run_id)
            lineage.add_edge(session, project_id, run, ref("version", version.version_id), "produced", op.now)
        op.object_ref = ref("version", version.version_id)
        op.details = (
            {
                "digest": profile.digest,
                "rows": profile.row_count,
                "parent": parent,
                "format": profile.source_format,
                "source": source.uri,
                "copied": copied is not None,
            }
            | ({"same_content_as": same} if same else {})
            | ({"provenance": as_record(produced_by)} if produced_by else {})
        )
    return version


def _same_content(project_id: str, digest: str, algorithm: str | None):  # noqa: ANN202 - a Select
    return select(DatasetVersion.version_id).where(
        DatasetVersion.project_id == project_id,
        DatasetVersion.content_digest == digest,
        DatasetVersion.digest_algorithm == algorithm,
    )


def same_content_as(platform: Platform, version: DatasetVersion) -> list[str]:
    """The versions of `version`'s project registered before it with the same content (digest and
    algorithm): registering data already registered is told so, not refused."""
    query = _same_content(version.project_id, version.content_digest, version.digest_algorithm).where(
        DatasetVersion.version_id != version.version_id, DatasetVersion.created_at <= version.created_at
    )
    with platform.store.read() as session:
        return sorted(session.scalars(query))


# Paths a REST caller names are relative to their tenant's part of the inbox: `x.csv` is
# $DATAOPS_HOME/inbox/<tenant>/x.csv, recorded as `inbox:<tenant>/x.csv`.
REMOTE_SCHEMES = ("s3://", "iceberg:")


def tenant_inbox(platform: Platform, root: Path, project_id: str, text: str) -> tuple[Path | None, str]:
    """(the tenant's inbox directory, the path as the inbox reader takes it) of a path a REST
    caller names. The inbox is split per tenant, so no tenant reads, or learns of, another's files:
    a path that leaves `inbox/<tenant>/` lexically is refused before anything is looked at (links
    are checked once the source is open, `_stays_in`). S3 and Iceberg URIs pass unchanged (None)."""
    if text.startswith(REMOTE_SCHEMES) or text.startswith("file:") or os.path.isabs(text) or not text:
        return None, text  # URIs are the readers' to judge; the reader refuses file: and absolute paths naming the rule
    with platform.store.read() as session:
        tenant = session.get(Project, project_id).tenant_id
    scheme = "delta:" if text.startswith("delta:") else ""
    body = text[len(scheme) :]
    location, at, version = body.partition("@") if scheme else (body, "", "")
    normal = os.path.normpath(f"{tenant}/{location}")
    if normal != tenant and not normal.startswith(f"{tenant}{os.sep}"):
        raise InvalidInput(
            f"data file inbox/{tenant}/{location} leaves your tenant's inbox (inbox/{tenant}/); name a path inside it",
            field="DATAFILE",
            value=f"inbox/{tenant}/{location}",
        )
    return root / tenant, f"{scheme}{tenant}/{location}{at}{version}"


def _stays_in(source: Any, inbox: Path, label: str) -> None:
    """Every file the source reads lies in the tenant's inbox, links resolved: a link to another
    tenant's file is refused like a path that leaves the inbox."""
    top = inbox.resolve()
    paths = [p for p, _ in getattr(source, "files", ())]
    if getattr(source, "kind", None) == "delta":
        paths.append(Path(source.location))
    if any(not Path(p).resolve().is_relative_to(top) for p in paths):
        raise InvalidInput(
            f"data file {label} leaves your tenant's inbox (inbox/{inbox.name}/) through a symbolic link",
            field="DATAFILE",
            value=label,
        )


def _kept_copy_source(platform: Platform, copied: str, label: str) -> Any:
    """The kept copy as a source, opened by its file URI as verify will reopen it."""
    from dataops_platform.sources.base import open_source

    return open_source((platform.settings.data_dir / copied).resolve().as_uri(), label=label, settings=platform.settings)


def _location(platform: Platform, source: Any, profile: DatasetProfile) -> str:
    """Where the data is, as the version's data_location: a local file's absolute path (so readers
    of `data_dir / data_location` keep working), else the source URI."""
    files = getattr(source, "files", None)
    if source.kind == "local" and files and len(files) == 1 and not source.uri.startswith("inbox:"):
        return str(files[0][0])
    return source.uri


def _diff_against(platform: Platform, parent: DatasetVersion, source: Any, profile: DatasetProfile, limits: ReadLimits) -> dict:
    """The diff of a new profile against its parent: rows by id (a re-read of both), columns, signals."""
    from dataops_platform.governance import datasets

    try:
        parent_source = version_data_source(platform, parent)
        shared = set(_types(parent)) & set(profile.schema_types)
        old_rows = datasets.row_index(parent_source, limits, shared)
    except InvalidInput as gone:  # the parent's data moved or changed: the child still registers
        return {"error": f"parent {parent.version_id} could not be re-read: {gone.message}"}
    return (
        datasets.diff_rows(old_rows, datasets.row_index(source, limits, shared))
        | datasets.diff_columns(_types(parent), profile.schema_types)
        | {"signals": datasets.diff_signals(parent.quality_signals, profile.quality_signals)}
    )


def _types(version: DatasetVersion) -> dict[str, str]:
    return dict(version.schema_types) if version.schema_types else {f: "unknown" for f in version.schema_fields}


def version_data_source(platform: Platform, version: DatasetVersion) -> Any:
    """The version's data: its kept copy (or the canonical file of a legacy version), else its source."""
    from dataops_platform.governance.datasets import version_source
    from dataops_platform.sources.base import reopen_source

    kept = version_source(version, platform.settings)
    return kept if kept is not None else reopen_source(version.source_uri, platform.settings, pin=version.source_pin)


def validate_version(platform: Platform, actor: str, version_id: str) -> DatasetVersion:
    """Run the project's quality gate: the version becomes validated, or rejected with every failed threshold."""
    with platform.act(
        actor, "version.validate", project=version_project(version_id), object_ref=ref("version", version_id)
    ) as op:
        version = get_version(op.session, version_id)
        require_transition(version, "validate")
        policy = governance_policy(op.session)
        limits = quality_thresholds(policy, version.project_id)
        failures = quality_failures(version.quality_signals, version.row_count, limits)
        failures += schema_failures(
            op.session, version, policy.schema_changes_by_project.get(version.project_id, policy.schema_changes)
        )
        version.status = "rejected" if failures else "validated"
        version.quality_failures = failures
        version.validated_by, version.validated_at = actor, op.now
        op.details = {"status": version.status, "failed_thresholds": failures}
    return version


def release_version(platform: Platform, actor: str, version_id: str) -> DatasetVersion:
    """Release through the gate (quality, experiments/exceptions, freeze, separation of duties)."""
    with platform.act(actor, "version.release", project=version_project(version_id), object_ref=ref("version", version_id)) as op:
        version = get_version(op.session, version_id)
        if version.status not in ("draft", "validated", "rejected"):
            require_transition(version, "release")
        failed = release_conditions(op.session, version, actor, op.now)
        if failed:
            refused = version_payload(version, failed=failed)
            op.emit("version.release_refused", op.object_ref, op.project, refused, keep_on_rollback=True)
            raise GateRefused(f"release of {version_id} refused", failed)
        project = op.session.get(Project, version.project_id)
        previous = project.current_release
        if previous:
            op.session.get(DatasetVersion, previous).rollback_candidate = True
            lineage.add_edge(op.session, project.id, ref("version", previous), ref("version", version_id), "supersedes", op.now)
        version.status = "released"
        version.released_by, version.released_at = actor, op.now
        # Release order within the project (rollback compares it); per project, so it counts nothing of others.
        version.release_seq = op.next_number(tenant_counter("release", project.id))
        project.current_release = version_id
        op.emit("version.released", op.object_ref, op.project, version_payload(version, previous_release=previous))
        op.details = {"previous_release": previous}
    return version


def deprecate_version(platform: Platform, actor: str, version_id: str) -> DatasetVersion:
    """Retire a released version that is no longer the project's current release."""
    with platform.act(
        actor, "version.deprecate", project=version_project(version_id), object_ref=ref("version", version_id)
    ) as op:
        version = get_version(op.session, version_id)
        require_transition(version, "deprecate")
        project = op.session.get(Project, version.project_id)
        if project.current_release == version_id:
            raise GateRefused(
                f"cannot deprecate {version_id}",
                [f"current_release: {version_id} is the current release of {project.id}; release a successor or roll back first"],
            )
        version.status, version.retired_at, version.rollback_candidate = "deprecated", op.now, False
    return version


def list_versions(platform: Platform, actor: str, project_id: str | None = None) -> list[DatasetVersion]:
    """Versions the actor may read, in one project or across all of them."""
    return list_visible(platform, actor, DatasetVersion, project_id)


def show_version(platform: Platform, actor: str, version_id: str) -> tuple[DatasetVersion, bool]:
    """One version and whether it is its project's current release."""
    with platform.view(actor, project=version_project(version_id), object_ref=ref("version", version_id)) as session:
        version = get_version(session, version_id)
        return version, session.get(Project, version.project_id).current_release == version_id


# -- schema contract, diff, verify (issue 13) -----------------------------------------------------
def schema_failures(session: Session, version: DatasetVersion, contract: str) -> list[str]:
    """The schema contract against the parent: `allow` anything, `additive_only` (the default)
    refuses removed and retyped columns, `frozen` any change. Each failure names the columns."""
    if contract == "allow" or not version.parent_version:
        return []
    parent = session.get(DatasetVersion, version.parent_version)
    from dataops_platform.governance.datasets import diff_columns

    change = diff_columns(_types(parent), _types(version))
    failures = []
    if change["columns_removed"]:
        failures.append(
            f"schema_changes {contract}: columns removed against {parent.version_id}: {', '.join(change['columns_removed'])}"
        )
    if change["columns_type_changed"]:
        retyped = ", ".join(f"{c} ({t['from']} -> {t['to']})" for c, t in change["column_types"].items())
        failures.append(f"schema_changes {contract}: columns retyped against {parent.version_id}: {retyped}")
    if contract == "frozen" and change["columns_added"]:
        failures.append(f"schema_changes frozen: columns added against {parent.version_id}: {', '.join(change['columns_added'])}")
    return failures


DIFF_KEYS = ("rows_added", "rows_removed", "rows_changed", "examples", "columns_added", "columns_removed", "columns_type_changed")


def diff_versions(platform: Platform, actor: str, old_id: str, new_id: str) -> dict[str, Any]:
    """What changed from `old_id` to `new_id` (the actor must be able to read both): rows added,
    removed and changed by id (counts, example ids under `examples`), columns added, removed and
    retyped, and shifts of the split / label distributions and quality signals. Out of core: both
    sources are streamed into 40-byte-per-row indexes, never held as records."""
    from dataops_platform.governance import datasets

    rows = []
    for version_id in (old_id, new_id):
        with platform.view(actor, project=version_project(version_id), object_ref=ref("version", version_id)) as session:
            version = get_version(session, version_id)
            session.expunge(version)
            rows.append(version)
    old, new = rows
    limits = ReadLimits.from_settings(platform.settings)
    shared = set(_types(old)) & set(_types(new))  # rows compare on the columns both have
    indexes = datasets.row_indexes([version_data_source(platform, v) for v in rows], limits, shared)
    return (
        {"from": old.version_id, "to": new.version_id}
        | datasets.diff_rows(*indexes)
        | datasets.diff_columns(_types(old), _types(new))
        | {"signals": datasets.diff_signals(old.quality_signals, new.quality_signals)}
    )


DRIFT_SEVERITY = "high"


def verify_version(platform: Platform, actor: str, version_id: str) -> dict[str, Any]:
    """Re-read a version's recorded source and compare its pin and digest (needs read; audited).

    `status` is `ok`, `drifted` (the data under the version changed: digest or pin differ) or
    `unreadable` (the source is gone or refuses to be read; the reason is given). A released version
    that drifted or became unreadable raises a `data_drift` alert, once per version and digest."""
    from dataops_platform.governance import datasets
    from dataops_platform.sources.base import reopen_source

    target = ref("version", version_id)
    with platform.store.read() as session:
        project_id = version_project(version_id)(session)
        allowed = project_id is not None and decide(session, actor, "read", project_id).allowed
    if not allowed:  # verify records its result: a refusal is audited like any mutation's
        with platform.act(actor, "read", project=version_project(version_id), object_ref=target):
            pass  # act refuses (NotFound / PermissionDenied) and audits the denial before this line
    with platform.view(actor, project=version_project(version_id), object_ref=target) as session:
        version = get_version(session, version_id)
        session.expunge(version)
    limits = ReadLimits.from_settings(platform.settings)
    result: dict[str, Any] = {"version_id": version_id, "expected_digest": version.content_digest}
    result["digest_algorithm"] = version.digest_algorithm
    try:
        if version.source_uri is None:  # legacy: the canonical copy is all there is
            source = version_data_source(platform, version)
        else:
            source = reopen_source(version.source_uri, platform.settings)
        if version.digest_algorithm == datasets.LEGACY_DIGEST_ALGORITHM:
            found, pin = datasets.legacy_digest(source, limits), {}
        else:
            found, pin = datasets.profile_source(source, limits).digest, source.pin()
        result["found_digest"] = found
        recorded = {k: v for k, v in (version.source_pin or {}).items() if k not in ("digest", "digest_algorithm")}
        result["pin_changes"] = _pin_changes(recorded, pin) if recorded else []
        result["status"] = "ok" if found == version.content_digest and not result["pin_changes"] else "drifted"
    except InvalidInput as bad:
        result |= {"status": "unreadable", "found_digest": None, "pin_changes": [], "reason": bad.message}
    with platform.act(actor, "read", project=version_project(version_id), object_ref=ref("version", version_id)) as op:
        row = op.session.get(DatasetVersion, version_id)
        row.verify_status, row.verified_at = result["status"], op.now
        op.details = {k: result[k] for k in ("status", "found_digest")}
        released = row.status == "released"
    if released and result["status"] != "ok":
        result["alert_id"] = _drift_alert(platform, version, result)
    return result


def _pin_changes(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two pins, ignoring modification times when the content hash is equal."""
    if recorded.get("files") is not None and now.get("files") is not None:
        old = {f["name"]: f for f in recorded["files"]}
        new = {f["name"]: f for f in now["files"]}
        if len(old) == len(new) == 1:  # one file: its name is only the label it was read under
            ((name, was),), ((_, is_),) = old.items(), new.items()
            old, new = {name: was}, {name: is_}
        changes = [f"file {n} removed" for n in sorted(set(old) - set(new))]
        changes += [f"file {n} added" for n in sorted(set(new) - set(old))]
        changes += [
            f"file {n} changed (sha256 {old[n].get('sha256', '')[:12]} -> {new[n].get('sha256', '')[:12]})"
            for n in sorted(set(old) & set(new))
            if old[n].get("sha256") != new[n].get("sha256")
        ]
        return changes
    if recorded.get("objects") is not None and now.get("objects") is not None:
        old_objects = {o["key"]: o for o in recorded["objects"]}
        new_objects = {o["key"]: o for o in now["objects"]}
        changes = [f"object s3://{k} removed" for k in sorted(set(old_objects) - set(new_objects))]
        changes += [f"object s3://{k} added" for k in sorted(set(new_objects) - set(old_objects))]
        for k in sorted(set(old_objects) & set(new_objects)):
            a, b = old_objects[k], new_objects[k]
            if (a.get("etag"), a.get("version_id")) != (b.get("etag"), b.get("version_id")):
                changes.append(
                    f"object s3://{k} changed (ETag {a.get('etag')} -> {b.get('etag')}, "
                    f"VersionId {a.get('version_id')} -> {b.get('version_id')})"
                )
        return changes
    return [
        f"{k}: {recorded.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(recorded) | set(now)) if recorded.get(k) != now.get(k)
    ]


def _drift_alert(platform: Platform, version: DatasetVersion, result: dict[str, Any]) -> str | None:
    from dataops_platform.governance.alerts import CATEGORIES, open_alert
    from dataops_platform.tracking.sync import system_actor

    if "data_drift" not in CATEGORIES:  # until governance/alerts.py knows the category
        return None
    with platform.store.read() as session:
        actor = system_actor(session)
    what = result.get("reason") or f"digest {str(result['found_digest'])[:12]} instead of {version.content_digest[:12]}"
    alert = open_alert(
        platform,
        actor,
        ref("version", version.version_id),
        DRIFT_SEVERITY,
        "data_drift",
        f"data under released {version.version_id} changed: {what}"[:200],
        source_key=f"data_drift:{version.version_id}:{result.get('found_digest') or 'unreadable'}",
    )
    return alert.alert_id
