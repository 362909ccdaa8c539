"""Asset checks that block downstream on the platform's verdict (SPEC §15): `dataops_checks(asset)`.

Both read the version the asset registered (its latest materialisation's `dataops/version_id`,
`metadata.py`) and ask the platform what it says about that version *now*:

- `dataops_quality_gate`: the version passed the quality gate (validated, or released since).
  A rejected version fails with its failed thresholds; a draft fails as not validated yet.
- `dataops_releasable`: the release gate's conditions that a client can see hold: the version is
  validated (or is the release), at least one experiment on it completed (`require_experiment`, the
  default: a training run that never reached the platform -- the wrong MLflow tracking URI, an
  MLflow user the platform does not know -- must not read as "nothing against it"), and no
  experiment on it is `failed` or a data regression without an approved, unexpired exception on
  that version and rule. The REST API has no dry-run release,
  so the freeze window and the separation of duties (who releases) are not checked here: the
  check's metadata says so, and `version release` still decides.

Both are blocking with ERROR severity: a failing one stops the assets downstream in the same run.
"""

# No `from __future__ import annotations` here: Dagster reads the decorated functions' `context`
# annotations at definition time and refuses them as strings.

from collections.abc import Sequence
from typing import Any

import dagster as dg

from dataops_platform.client import DataOpsClient
from dataops_platform.dagster.metadata import as_key, registered_ref
from dataops_platform.dagster.resource import DataOpsResource
from dataops_platform.errors import InvalidInput
from dataops_platform.governance.gate import EXPERIMENT_RULE, blocks_release

QUALITY_GATE, RELEASABLE = "quality_gate", "releasable"
CHECKS = (QUALITY_GATE, RELEASABLE)
PASSED_GATE = ("validated", "released")  # a released version passed the gate to get there
NOT_CHECKED = "freeze_window and separation_of_duties (decided by `version release`; the REST API has no dry-run release)"
DESCRIPTIONS = {
    QUALITY_GATE: "The version this asset registered passed the platform's quality gate (validated, not rejected).",
    RELEASABLE: "The version this asset registered is releasable: validated, a completed experiment on it, and no "
    "failed or data-regressed experiment on it without an approved exception.",
}


def quality_gate_result(version: Any) -> tuple[bool, str, dict[str, Any]]:
    failures = list(version.quality_failures or [])
    facts = {"dataops/quality_failure_count": len(failures)}
    if version.status in PASSED_GATE:
        return True, f"{version.version_id} passed the quality gate (status {version.status})", facts
    if version.status == "rejected":
        return (
            False,
            f"{version.version_id} was rejected by the quality gate: {'; '.join(failures) or 'no thresholds named'}",
            facts,
        )
    return False, f"{version.version_id} is {version.status}: it has not passed the quality gate (validate it first)", facts


def release_blockers(platform: DataOpsClient, version: Any, require_experiment: bool = True) -> list[str]:
    """The release conditions the client can see failing for `version`, worded as the gate words them."""
    if version.status == "released":
        return []
    failed = []
    if version.status != "validated":
        detail = f"; failed thresholds: {'; '.join(version.quality_failures)}" if version.quality_failures else ""
        failed.append(f"quality_gate: version is {version.status}, it must be validated (passed the quality gate){detail}")
    waived = {
        (x.version_id, x.rule) for x in platform.exception_list(version.project_id) if x.status == "approved"
    }  # the list gives the effective status: an expired approval reads `expired`
    on_version = [e for e in platform.experiment_list(version.project_id) if e.dataset_version == version.version_id]
    blocking = [e.experiment_id for e in on_version if blocks_release(e.status, e.regression_kind)]
    if blocking and (version.version_id, EXPERIMENT_RULE) not in waived:
        failed.append(f"{EXPERIMENT_RULE}: {', '.join(blocking)} on {version.version_id} with no approved, unexpired exception")
    if require_experiment and not any(e.status == "completed" for e in on_version):
        failed.append(
            f"no completed experiment on {version.version_id} is recorded: a training run the platform never synced "
            "counts as none (check MLFLOW_TRACKING_URI is the platform's store and that MLflow's user maps to a "
            "platform user), or pass require_experiment=False for a dataset without training"
        )
    return failed


def _evaluate(
    kind: str, context: dg.AssetCheckExecutionContext, resource: DataOpsResource, key: dg.AssetKey, require_experiment: bool
) -> dg.AssetCheckResult:
    try:
        ref = registered_ref(context.instance, key)
    except InvalidInput as exc:
        return dg.AssetCheckResult(passed=False, description=exc.message, metadata={"dataops/version_id": ""})
    with resource.connected() as platform:
        version = platform.version_show(ref.version_id)
        if kind == QUALITY_GATE:
            passed, why, facts = quality_gate_result(version)
        else:
            blockers = release_blockers(platform, version, require_experiment)
            passed = not blockers
            why = f"{version.version_id} is releasable as far as a client can tell" if passed else "; ".join(blockers)
            facts = {
                "dataops/blocker_count": len(blockers),
                "dataops/blockers": dg.MetadataValue.json(blockers),
                "dataops/not_checked": NOT_CHECKED,
            }
    metadata = {"dataops/version_id": version.version_id, "dataops/status": version.status, **facts}
    return dg.AssetCheckResult(passed=passed, description=why, metadata=metadata)


def _one_check(kind: str, key: dg.AssetKey, resource_key: str, require_experiment: bool) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name=f"dataops_{kind}",
        description=DESCRIPTIONS[kind],
        blocking=True,
        required_resource_keys={resource_key},
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        resource = getattr(context.resources, resource_key)
        if not isinstance(resource, DataOpsResource):
            raise InvalidInput(
                f"resource {resource_key!r} is a {type(resource).__name__}, not a DataOpsResource",
                field="resource_key",
                value=resource_key,
            )
        return _evaluate(kind, context, resource, key, require_experiment)

    return _check


def dataops_checks(
    asset: Any, *, checks: Sequence[str] = CHECKS, resource_key: str = "dataops", require_experiment: bool = True
) -> list[dg.AssetChecksDefinition]:
    """Blocking ERROR checks on `asset` (a key, a string, an AssetSpec or an asset definition with one
    key) that fail when the version it registered failed the quality gate or is not releasable.
    `checks` picks among "quality_gate" and "releasable"; `resource_key` names the DataOpsResource;
    `require_experiment` (releasable): a version nobody's training run was synced on is not releasable."""
    unknown = [c for c in checks if c not in CHECKS]
    if unknown or not checks or isinstance(checks, str) or len(set(checks)) != len(checks):
        raise InvalidInput(
            f"checks {list(checks)!r}: choose among {', '.join(CHECKS)}, each once", field="checks", value=list(checks)
        )
    if isinstance(asset, dg.AssetsDefinition):
        if len(asset.keys) != 1:
            raise InvalidInput("asset has several keys: pass the one key to check", field="asset", value=str(sorted(asset.keys)))
        key = next(iter(asset.keys))
    elif isinstance(asset, dg.AssetSpec):
        key = asset.key
    else:
        key = as_key(asset)
    return [_one_check(kind, key, resource_key, require_experiment) for kind in checks]
