"""Pydantic models of the platform spec. Unknown keys are errors, so a typo never goes unnoticed.

Field-level shape is checked by pydantic; references between sections (unknown tenant, role,
user, action; duplicate ids; quotas) by `cross_check`, which reports every problem with its path.

Every value a spec can hold is one the store and the services can hold too, so a spec that
validates never fails to apply for its size: integers that become columns fit PostgreSQL's
INTEGER (`INT32_MAX`), text that becomes a column fits its width, numbers are finite
(`allow_inf_nan=False`: NaN and infinity, even written as text, are refused), durations stay
inside what a datetime can add, and every time is an aware UTC instant (`clock.as_utc`: an aware
time is converted to UTC, a naive one *is* UTC), so comparing two bounds can never fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from dataops_platform.clock import as_utc
from dataops_platform.errors import InvalidInput
from dataops_platform.spec.actions import DEFAULT_ROLES, DEFAULT_SYSTEM_ACTIONS

SLUG_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
Slug = Field(pattern=SLUG_PATTERN)
RoleName = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
INT32_MAX = 2**31 - 1  # SQLite and PostgreSQL INTEGER columns
MAX_NAME = 200  # width of the name and domain columns
MAX_DESCRIPTION = 400  # width of roles.description
MAX_SLA_MINUTES = 525_600  # one year
MAX_EXCEPTION_DAYS = 3650


def _utc(moment: datetime) -> datetime:
    try:
        return as_utc(moment)
    except InvalidInput as exc:  # a ValueError is what pydantic reports with the field's path
        raise ValueError(exc.message) from None


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
# An MLflow user name as MLflow records it (`user_id`, 256 characters at most): no control
# characters, no surrounding blanks.
MlflowUserName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^\S(?:[^\x00-\x1f\x7f]*\S)?$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Quota(StrictModel):
    max_projects: int = Field(ge=1, le=INT32_MAX)
    max_dataset_versions: int = Field(ge=1, le=INT32_MAX)


class TenantSpec(StrictModel):
    id: str = Slug
    name: str = Field(min_length=1, max_length=MAX_NAME)
    quota: Quota


class UserSpec(StrictModel):
    """A platform user.

    `mlflow_users` lists the MLflow user names that *are* this user: what MLflow records as a run's
    `user_id` (the `mlflow.user` tag, by default the login of the machine that logged it), e.g. a
    laptop login `dsmith` or a service account `svc-retail-train`. The MLflow sync counts a run only
    when its MLflow user maps to a platform user holding `experiment.log` in the run's project
    (SPEC §9): a name equal to a platform user's id maps to that user implicitly; any other name
    maps only through this list. A name may be claimed by one user only and may not be another
    user's id. `spec apply` stores the explicit names as the platform config document
    `mlflow_users` ({mlflow user name: platform user id}), replaced as a whole on every apply.
    """

    id: str = Slug
    name: str = Field(min_length=1, max_length=MAX_NAME)
    mlflow_users: list[MlflowUserName] = Field(default_factory=list)


class ProjectSpec(StrictModel):
    id: str = Slug
    tenant: str
    name: str = Field(min_length=1, max_length=MAX_NAME)
    domain: str = Field(min_length=1, max_length=MAX_NAME)
    owner: str
    members: dict[str, str] = Field(default_factory=dict, description="user id -> role name")


class RoleSpec(StrictModel):
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    actions: list[str]


class SystemActorSpec(StrictModel):
    id: str = Slug
    name: str = Field(default="dataops platform automation", min_length=1, max_length=MAX_NAME)
    actions: list[str] = Field(default_factory=lambda: list(DEFAULT_SYSTEM_ACTIONS))
    # Platform-wide incidents (a failed governance run) belong to no project of their own: they
    # are raised in this one, whose ops team watches the platform.
    alert_project: str | None = None


class SeparationOfDuties(StrictModel):
    creator_cannot_release: bool = True
    requester_cannot_approve: bool = True


class QualityThresholds(StrictModel):
    min_rows: int = Field(default=1, ge=1, le=INT32_MAX)
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
    acknowledge_minutes: float = Field(gt=0, le=MAX_SLA_MINUTES)
    resolve_minutes: float = Field(gt=0, le=MAX_SLA_MINUTES)


class FreezeWindow(StrictModel):
    project: str
    start: UtcDatetime = Field(description="an ISO-8601 time; without an offset it is read as UTC")
    end: UtcDatetime
    reason: str


class ExceptionPolicy(StrictModel):
    max_days: int = Field(default=14, ge=1, le=MAX_EXCEPTION_DAYS)
    waivable_rules: list[str] = Field(default_factory=lambda: ["experiment_status"])


SchemaChanges = Literal["allow", "additive_only", "frozen"]


class GovernancePolicy(StrictModel):
    quality_gate: QualityThresholds = Field(default_factory=QualityThresholds)
    quality_gate_by_project: dict[str, QualityThresholds] = Field(default_factory=dict)
    regression: dict[str, RegressionRule] = Field(default_factory=dict, description="project id -> rule")
    sla: dict[Literal["critical", "high", "medium", "low"], SlaTarget]
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    exceptions: ExceptionPolicy = Field(default_factory=ExceptionPolicy)
    # Schema contract against the parent, judged by the quality gate (issue 13).
    schema_changes: SchemaChanges = "additive_only"
    schema_changes_by_project: dict[str, SchemaChanges] = Field(default_factory=dict)
    # Keep a content-addressed copy of the original bytes of every version registered in these projects.
    copy_data_by_project: dict[str, bool] = Field(default_factory=dict)


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
    limit: int = Field(ge=1, le=INT32_MAX, description="concurrent runs; becomes the Dagster pool limit")
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


# -- notifications (issue 16; checked further by dataops_platform.notify.spec_check) ---------------
NOTIFY_EVENTS = (
    "alert.opened",
    "alert.acknowledged",
    "alert.resolved",
    "sla.risk",
    "alert.escalated",
    "version.released",
    "version.release_refused",
    "rollback.executed",
    "exception.approved",
)
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
MAX_URL = 2000
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s<>,;]{1,64}@[^@\s<>,;]{1,255}$", max_length=320)]
OnCall = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]


class _ChannelBase(StrictModel):
    id: str = Slug
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="per delivery attempt")


class WebhookChannelSpec(_ChannelBase):
    """A signed webhook carrying CloudEvents 1.0 JSON; the HMAC secret is read from `secret_env`."""

    kind: Literal["webhook"]
    url: str = Field(min_length=1, max_length=MAX_URL)
    secret_env: str = Field(pattern=ENV_NAME_PATTERN)


class SlackChannelSpec(_ChannelBase):
    """A Slack incoming webhook: its URL in the spec (`url`) or, as Slack advises, in the environment (`url_env`)."""

    kind: Literal["slack"]
    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL)
    url_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)


class EmailChannelSpec(_ChannelBase):
    """Mail over SMTP (host, port, STARTTLS, sender and credentials from settings: DATAOPS_SMTP_*)."""

    kind: Literal["email"]
    to: list[EmailAddress] = Field(min_length=1, max_length=50)


ChannelSpec = Annotated[WebhookChannelSpec | SlackChannelSpec | EmailChannelSpec, Field(discriminator="kind")]


class RouteSpec(StrictModel):
    """Which events go to which channel; `escalate_to` is notified when an alert this route carried
    is not acknowledged within its severity's SLA `acknowledge_minutes`."""

    channel: str
    projects: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=1000)
    severities: list[Literal["critical", "high", "medium", "low"]] = Field(
        default_factory=lambda: ["critical", "high", "medium", "low"], min_length=1
    )
    categories: list[str] | None = Field(default=None, max_length=50)
    events: list[str] = Field(min_length=1, max_length=len(NOTIFY_EVENTS))
    escalate_to: str | None = None
    on_call: list[OnCall] = Field(default_factory=list, max_length=50, description="who is on call (shown in messages)")


class NotificationsSpec(StrictModel):
    channels: list[ChannelSpec] = Field(default_factory=list, max_length=100)
    routes: list[RouteSpec] = Field(default_factory=list, max_length=1000)


class PlatformSpec(StrictModel):
    """One YAML file that declares the organisation, its roles and its governance policy."""

    version: Literal[1] = 1
    tenants: list[TenantSpec] = Field(min_length=1)
    users: list[UserSpec] = Field(min_length=1)
    projects: list[ProjectSpec] = Field(default_factory=list)
    roles: dict[RoleName, RoleSpec] = Field(
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
    notifications: NotificationsSpec = Field(default_factory=NotificationsSpec)
