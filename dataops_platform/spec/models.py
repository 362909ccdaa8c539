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

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from dataops_platform.clock import as_utc
from dataops_platform.errors import InvalidInput
from dataops_platform.spec.actions import DEFAULT_ROLES, DEFAULT_SYSTEM_ACTIONS

SLUG_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
Slug = Field(pattern=SLUG_PATTERN)
RoleName = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
INT32_MAX = 2**31 - 1  # SQLite and PostgreSQL INTEGER columns
MAX_NAME = 200  # width of the name and domain columns
MAX_SHORT_NAME = 40
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
    id: str = Field(default="dataops-system", pattern=SLUG_PATTERN)
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
    config_params: list[Annotated[str, Field(min_length=1, max_length=250)]] | None = Field(
        default=None,
        max_length=200,
        description="the params that are the training configuration (regression attribution); "
        "unset: every param both runs logged, provenance excluded",
    )


class SlaTarget(StrictModel):
    acknowledge_minutes: float = Field(gt=0, le=MAX_SLA_MINUTES)
    resolve_minutes: float = Field(gt=0, le=MAX_SLA_MINUTES)


# Minutes to acknowledge and to resolve, per severity, when a spec sets none.
DEFAULT_SLA: dict[str, SlaTarget] = {
    "critical": SlaTarget(acknowledge_minutes=15, resolve_minutes=60),
    "high": SlaTarget(acknowledge_minutes=30, resolve_minutes=120),
    "medium": SlaTarget(acknowledge_minutes=120, resolve_minutes=480),
    "low": SlaTarget(acknowledge_minutes=480, resolve_minutes=2880),
}


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
    sla: dict[Literal["critical", "high", "medium", "low"], SlaTarget] = Field(default_factory=lambda: dict(DEFAULT_SLA))
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    exceptions: ExceptionPolicy = Field(default_factory=ExceptionPolicy)
    # Schema contract against the parent, judged by the quality gate (issue 13).
    schema_changes: SchemaChanges = "additive_only"
    schema_changes_by_project: dict[str, SchemaChanges] = Field(default_factory=dict)
    # Keep a content-addressed copy of the original bytes of every version registered in these projects.
    copy_data_by_project: dict[str, bool] = Field(default_factory=dict)


def _display_text(value: str) -> str:
    # A name that titles the report and the artifacts: one line of visible text. Control and
    # format characters (a newline, a bidi override, a zero-width space) would break or disguise it.
    for i, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValueError(
                f"holds the invisible or control character U+{ord(char):04X} at position {i}; write one line of visible text"
            )
    if value != value.strip():
        raise ValueError("starts or ends with blanks; remove them")
    return value


DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME), AfterValidator(_display_text)]
ShortName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT_NAME), AfterValidator(_display_text)]


class QueueOverride(StrictModel):
    """A spec's change to one of the platform's task queues (`self_description.QUEUES`)."""

    limit: int = Field(ge=1, le=INT32_MAX, description="concurrent steps; becomes the Dagster pool limit")


class PanelOverride(StrictModel):
    """A spec's change to one of the platform's console panels (`self_description.PANELS`)."""

    title: DisplayName


class OrganisationSpec(StrictModel):
    """Who runs this platform: the name the report and the artifacts carry (SPEC §15)."""

    name: DisplayName
    short_name: ShortName | None = Field(default=None, description="for tight places (page headers); defaults to name")


class RhythmSpec(StrictModel):
    """One meeting of the operating rhythm; it becomes a Dagster schedule of the same id."""

    id: str = Slug
    cron: str
    timezone: str = Field(description="IANA time zone the cron is read in, e.g. Europe/Berlin")
    assets: list[str] = Field(min_length=1, description="the governance assets (and their checks) the meeting needs fresh")
    description: str = ""


# The operating rhythm of SPEC §8 when a spec declares none (`operating_rhythm: []` declares none).
DEFAULT_RHYTHM: tuple[RhythmSpec, ...] = (
    RhythmSpec(
        id="daily_ops_review",
        cron="0 9 * * *",
        timezone="UTC",
        assets=["alerts", "sla_report"],
        description="alerts and SLA report",
    ),
    RhythmSpec(
        id="weekly_governance_review",
        cron="0 10 * * 1",
        timezone="UTC",
        assets=["platform_metrics", "platform_report", "test_report"],
        description="metrics, checks and platform report",
    ),
)


# -- notifications (issue 16; checked further by dataops_platform.spec.notifications) --------------
# The alert categories (SPEC §3) a route may filter on; the alert service accepts exactly these.
ALERT_CATEGORIES = (
    "regression", "run_failure", "quality_gate", "sla_risk", "freshness", "operational", "notification_failure", "data_drift",
)  # fmt: skip
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
    """One YAML file that declares an organisation's own world: tenants, projects, users, roles,
    policy, rhythm and notifications. Only tenants and users are required; every other section has
    a default (`dataops spec validate` names the sections it took from defaults).

    The platform's own architecture layers, API catalog, task queues and console panels come from
    its code (`dataops_platform.self_description`); a spec may only override a queue's limit
    (`task_queues`) or a panel's title (`ui_panels`), keyed by their ids.
    """

    version: Literal[1] = 1
    organisation: OrganisationSpec | None = Field(
        default=None, description="the organisation's name; without it a neutral name is made from the tenants' names"
    )
    tenants: list[TenantSpec] = Field(min_length=1)
    users: list[UserSpec] = Field(min_length=1)
    projects: list[ProjectSpec] = Field(default_factory=list)
    roles: dict[RoleName, RoleSpec] = Field(
        default_factory=lambda: {name: RoleSpec(actions=list(acts)) for name, acts in DEFAULT_ROLES.items()}
    )
    # None (the section left out): the platform admins stay who they are (after `dataops init`, its
    # admin). A list is the complete list of admins: applying it revokes everyone it does not name.
    platform_admins: list[str] | None = None
    system_actor: SystemActorSpec = Field(default_factory=SystemActorSpec)
    separation_of_duties: SeparationOfDuties = Field(default_factory=SeparationOfDuties)
    governance_policy: GovernancePolicy = Field(default_factory=GovernancePolicy)
    task_queues: dict[str, QueueOverride] = Field(default_factory=dict, description="queue id -> override")
    ui_panels: dict[str, PanelOverride] = Field(default_factory=dict, description="panel id -> override")
    operating_rhythm: list[RhythmSpec] = Field(default_factory=lambda: list(DEFAULT_RHYTHM))
    notifications: NotificationsSpec = Field(default_factory=NotificationsSpec)

    @model_validator(mode="after")
    def _default_alert_project(self) -> PlatformSpec:
        # A failed governance run must be raised somewhere someone watches: unless the spec says
        # otherwise (`alert_project: null` included), in the first project it declares.
        if "alert_project" not in self.system_actor.model_fields_set and self.projects:
            actor = self.system_actor.model_copy(update={"alert_project": self.projects[0].id})
            object.__setattr__(self, "system_actor", actor)
        return self
