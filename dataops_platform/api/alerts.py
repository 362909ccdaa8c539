"""Alerts and the SLA report over them."""

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from dataops_platform.api.common import Actor, Input, Limit, ObjectId, Offset, Page, Plat, ProjectFilter, noun_router, page
from dataops_platform.api.records import record_model
from dataops_platform.artifacts.build import row
from dataops_platform.governance import alerts
from dataops_platform.store.models import Alert as AlertRow

router = noun_router("alerts")

Alert = record_model(
    AlertRow, "Alert", "An alert on a governed object: severity, category, its open -> acknowledged -> resolved life."
)


class AlertPage(Page[Alert]):  # type: ignore[valid-type]
    """A page of the alerts the caller may read."""


class AlertOpen(Input):
    related_object: str = Field(max_length=128)
    severity: str = Field(max_length=16)
    category: str = Field(max_length=32)
    title: str = Field(max_length=400)


class Note(Input):
    note: str = Field(max_length=4000)


class SlaTarget(BaseModel):
    acknowledge_minutes: float
    resolve_minutes: float


class SlaBreach(BaseModel):
    alert_id: str
    severity: str
    problems: list[str]


class SlaRisk(BaseModel):
    alert_id: str
    severity: str
    minutes_to_resolve_breach: float


class SlaAlert(BaseModel):
    alert_id: str
    severity: str
    status: str
    minutes_to_acknowledge: float | None
    minutes_to_resolve: float | None
    within_sla: bool


class SlaReport(BaseModel):
    """SLA compliance of the alerts the caller may read, at the platform clock's now."""

    generated_at: str
    targets: dict[str, SlaTarget]
    alert_count: int
    resolved_count: int
    compliance_rate: float
    mean_time_to_acknowledge_minutes: float | None
    acknowledged_count: int
    resolved_unacknowledged_count: int
    mean_time_to_recovery_minutes: float | None
    breaches: list[SlaBreach]
    open_risks: list[SlaRisk]
    alerts: list[SlaAlert]


@router.get("/alerts", response_model=AlertPage)
def alert_list(
    plat: Plat, user: Actor, project: ProjectFilter = None, status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Limit = 100, offset: Offset = 0,
) -> Any:  # fmt: skip
    return page(alerts.list_alerts(plat, user, project, status), limit, offset)


@router.post("/alerts", status_code=201, response_model=Alert)
def alert_open(plat: Plat, user: Actor, body: AlertOpen) -> Any:
    return row(alerts.open_alert(plat, user, body.related_object, body.severity, body.category, body.title))


@router.post("/alerts/{alert_id}/ack", response_model=Alert)
def alert_ack(plat: Plat, user: Actor, alert_id: ObjectId) -> Any:
    return row(alerts.acknowledge_alert(plat, user, alert_id))


@router.post("/alerts/{alert_id}/resolve", response_model=Alert)
def alert_resolve(plat: Plat, user: Actor, alert_id: ObjectId, body: Note) -> Any:
    return row(alerts.resolve_alert(plat, user, alert_id, body.note))


@router.get("/sla", response_model=SlaReport)
def alert_sla(plat: Plat, user: Actor, project: ProjectFilter = None) -> Any:
    return alerts.sla_status(plat, user, project)
