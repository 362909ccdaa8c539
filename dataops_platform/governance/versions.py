"""Dataset versions: registration on real data, the lifecycle, the quality gate and release (SPEC §3, §5).

Lifecycle: draft -> validated | rejected; validated -> released; released -> deprecated | rolled_back.
Anything else is refused naming the current state and the allowed moves.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataops_platform.errors import DataOpsError, GateRefused, InvalidInput
from dataops_platform.governance import lineage
from dataops_platform.governance.authz import decide
from dataops_platform.governance.datasets import DatasetProfile, ReadLimits, profile_file, resolve_data_path, store_content
from dataops_platform.governance.gate import release_conditions
from dataops_platform.governance.listing import list_visible
from dataops_platform.governance.platform import Platform, _denial, tenant_counter
from dataops_platform.governance.policy import governance_policy, quality_thresholds
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


def check_can_register(platform: Platform, actor: str, project_id: str, parent: str | None = None) -> None:
    """Permission, visibility, parent and quota, decided in a read session before any data is touched:
    a caller who may not register (or may not see the project) never makes the platform read a byte.
    A denial is audited and raised exactly as `Platform.act` does (NotFound for another tenant), a
    bad parent or a full quota audited as failed; an allowed caller leaves no record here (the
    registration itself is audited). An upload route calls it before taking in the body."""
    problem: DataOpsError | None = None
    with platform.store.read() as session:
        decision = decide(session, actor, CREATE, project_id)
        if decision.allowed:
            try:
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
) -> DatasetVersion:
    """Register a data file as a new draft version (needs version.create).

    Order, so that no request costs more than its caller may spend: permission and visibility
    first (nothing is opened before), then parent and quota, then the file is read under the
    deployment's limits (`settings.max_dataset_rows` / `max_dataset_bytes`; TooLarge over them),
    then the version is written. `data_file` is resolved by `resolve_data_path(data_file, root)`:
    with `root` (the REST inbox) it must be a relative path inside it. Messages call the file
    `label`, by default the path as given (`<root name>/<path>` with a root), never where a root is.
    Every refusal is audited: denied (PermissionDenied, NotFound) or failed (InvalidInput,
    TooLarge, GateRefused); an unexpected error while reading is audited as failed, then raised.
    """
    text = str(data_file)
    if label is None:
        label = f"{root.name}/{text}" if root is not None and not Path(text).is_absolute() else text
    check_can_register(platform, actor, project_id, parent)
    try:
        path = resolve_data_path(text, root)
        profile: DatasetProfile = profile_file(path, label=label, limits=ReadLimits.from_settings(platform.settings))
    except InvalidInput as bad:
        platform.refuse(actor, CREATE, project=project_id, error=bad)
    except Exception as crash:  # a reader bug, not a refusal: audited like a crash inside act, then raised
        with platform.act(actor, CREATE, project=project_id):
            raise crash from None
        raise
    with platform.act(actor, CREATE, project=project_id) as op:
        session = op.session
        _check_parent(session, project_id, parent)
        _check_quota(session, project_id)
        limits = quality_thresholds(governance_policy(session), project_id)
        duplicate_rate = profile.quality_signals["duplicate_id_rate"]
        if duplicate_rate > limits.max_duplicate_id_rate:
            raise InvalidInput(
                f"{label}: duplicate-id rate {duplicate_rate} exceeds max_duplicate_id_rate "
                f"{limits.max_duplicate_id_rate} (e.g. ids {', '.join(profile.quality_signals['duplicate_ids'][:5])}); "
                "de-duplicate the file",
                field="id",
                value=duplicate_rate,
            )
        version = DatasetVersion(
            version_id=op.next_id("dataset_version", "ds_v"),
            project_id=project_id,
            parent_version=parent,
            status="draft",
            change_summary=list(change_summary or []),
            data_location=store_content(profile, platform.settings.data_dir),
            source_format=profile.source_format,
            content_digest=profile.digest,
            row_count=profile.row_count,
            schema_fields=profile.schema_fields,
            quality_signals=profile.quality_signals,
            quality_failures=[],
            created_by=actor,
            created_at=op.now,
        )
        session.add(version)
        session.flush()
        if parent:
            lineage.add_edge(
                session, project_id, ref("version", parent), ref("version", version.version_id), "derived_from", op.now
            )
        op.object_ref = ref("version", version.version_id)
        op.details = {"digest": profile.digest, "rows": profile.row_count, "parent": parent, "format": profile.source_format}
    return version


def validate_version(platform: Platform, actor: str, version_id: str) -> DatasetVersion:
    """Run the project's quality gate: the version becomes validated, or rejected with every failed threshold."""
    with platform.act(
        actor, "version.validate", project=version_project(version_id), object_ref=ref("version", version_id)
    ) as op:
        version = get_version(op.session, version_id)
        require_transition(version, "validate")
        limits = quality_thresholds(governance_policy(op.session), version.project_id)
        failures = quality_failures(version.quality_signals, version.row_count, limits)
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
