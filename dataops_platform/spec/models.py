"""Pydantic models of the platform spec. Unknown keys are errors, so a typo never goes unnoticed.

Field-level shape is checked by pydantic; references between sections (unknown tenant, role,
user, action; duplicate ids; quotas) by `cross_check`, which reports every problem with its path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dataops_platform.spec.actions import DEFAULT_ROLES, DEFAULT_SYSTEM_ACTIONS

Slug = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quota(StrictModel):
    max_projects: int = Field(ge=1)
    max_dataset_versions: int = Field(ge=1)


class TenantSpec(StrictModel):
    id: str = Slug
    name: str = Field(min_length=1)
    quota: Quota


class UserSpec(StrictModel):
    id: str = Slug
    name: str = Field(min_length=1)


class ProjectSpec(StrictModel):
    id: str = Slug
    tenant: str
    name: str = Field(min_length=1)
    domain: str = Field(min_length=1)
    owner: str
    members: dict[str, str] = Field(default_factory=dict, description="user id -> role name")


class RoleSpec(StrictModel):
    description: str = ""
    actions: list[str]


class SystemActorSpec(StrictModel):
    id: str = Slug
    name: str = "dataops platform automation"
    actions: list[str] = Field(default_factory=lambda: list(DEFAULT_SYSTEM_ACTIONS))
    # Platform-wide incidents (a failed governance run) belong to no project of their own: they
    # are raised in this one, whose ops team watches the platform.
    alert_project: str | None = None


class SeparationOfDuties(StrictModel):
    creator_cannot_release: bool = True
    requester_cannot_approve: bool = True


class QualityThresholds(StrictModel):
    min_rows: int = Field(default=1, ge=1)
    max_duplicate_id_rate: float = Field(default=0.0, ge=0, le=1)
    max_null_rate: float = Field(default=0.0, ge=0, le=1, description="per required field")
    required_splits: list[str] = Field(default_factory=list)


class GuardMetric(StrictModel):
    max: float | None = None
    min: float | None = None


class RegressionRule(StrictModel):
    primary_metric: str
    direction: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"
    tolerance: float = Field(ge=0)
    guards: dict[str, GuardMetric] = Field(default_factory=dict)


class SlaTarget(StrictModel):
    acknowledge_minutes: float = Field(gt=0)
    resolve_minutes: float = Field(gt=0)


class FreezeWindow(StrictModel):
    project: str
    start: datetime
    end: datetime
    reason: str


class ExceptionPolicy(StrictModel):
    max_days: int = Field(default=14, ge=1)
    waivable_rules: list[str] = Field(default_factory=lambda: ["experiment_status"])


class GovernancePolicy(StrictModel):
    quality_gate: QualityThresholds = Field(default_factory=QualityThresholds)
    quality_gate_by_project: dict[str, QualityThresholds] = Field(default_factory=dict)
    regression: dict[str, RegressionRule] = Field(default_factory=dict, description="project id -> rule")
    sla: dict[Literal["critical", "high", "medium", "low"], SlaTarget]
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    exceptions: ExceptionPolicy = Field(default_factory=ExceptionPolicy)


class LayerSpec(StrictModel):
    id: str = Slug
    name: str
    packages: list[str] = Field(min_length=1, description="Python packages that make up the layer")


class ApiSpec(StrictModel):
    id: str = Slug
    command: str = Field(description="the dataops CLI command that serves it")
    route: str | None = Field(default=None, pattern=r"^(GET|POST|PUT|DELETE) /api/v1/\S+$", description="the REST route")
    action: str
    description: str = ""


class QueueSpec(StrictModel):
    id: str = Slug
    limit: int = Field(ge=1, description="concurrent runs; becomes the Dagster pool limit")
    description: str = ""


class PanelSpec(StrictModel):
    id: str = Slug
    title: str


class RhythmSpec(StrictModel):
    """One meeting of the operating rhythm; it becomes a Dagster schedule of the same id."""

    id: str = Slug
    cron: str
    timezone: str = Field(description="IANA time zone the cron is read in, e.g. Europe/Berlin")
    assets: list[str] = Field(min_length=1, description="the governance assets (and their checks) the meeting needs fresh")
    description: str = ""


class PlatformSpec(StrictModel):
    """One YAML file that declares the organisation, its roles and its governance policy."""

    version: Literal[1] = 1
    tenants: list[TenantSpec] = Field(min_length=1)
    users: list[UserSpec] = Field(min_length=1)
    projects: list[ProjectSpec] = Field(default_factory=list)
    roles: dict[str, RoleSpec] = Field(
        default_factory=lambda: {name: RoleSpec(actions=list(acts)) for name, acts in DEFAULT_ROLES.items()}
    )
    platform_admins: list[str] = Field(default_factory=list)
    system_actor: SystemActorSpec = Field(default_factory=lambda: SystemActorSpec(id="dataops-system"))
    separation_of_duties: SeparationOfDuties = Field(default_factory=SeparationOfDuties)
    governance_policy: GovernancePolicy
    architecture: list[LayerSpec] = Field(default_factory=list)
    apis: list[ApiSpec] = Field(default_factory=list)
    task_queues: list[QueueSpec] = Field(default_factory=list)
    ui_panels: list[PanelSpec] = Field(default_factory=list)
    operating_rhythm: list[RhythmSpec] = Field(default_factory=list)
