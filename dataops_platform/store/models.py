"""Typed ORM models for every object of SPEC §3.

Timestamps are `UtcDateTime`: stored as UTC, read back aware, the same instant on every backend.
JSON columns hold lists and small documents. The audit record's `at` is an ISO-8601 string
because its exact text is part of the hash chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dataops_platform.store.types import UtcDateTime

Id = String(64)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    max_projects: Mapped[int] = mapped_column(Integer)
    max_dataset_versions: Mapped[int] = mapped_column(Integer)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # One current release per project, held structurally rather than by a status scan. No foreign
    # key: it would make projects and dataset_versions mutually dependent; rule 6 checks it instead.
    current_release: Mapped[str | None] = mapped_column(String(64))


class Role(Base):
    __tablename__ = "roles"
    name: Mapped[str] = mapped_column(Id, primary_key=True)
    description: Mapped[str] = mapped_column(String(400), default="")
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)


class RoleAction(Base):
    __tablename__ = "role_actions"
    role: Mapped[str] = mapped_column(ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True)
    action: Mapped[str] = mapped_column(String(64), primary_key=True)


class Membership(Base):
    """A user's role in one project."""

    __tablename__ = "memberships"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    role: Mapped[str] = mapped_column(ForeignKey("roles.name"))


class PlatformMembership(Base):
    """A user's role for platform-wide actions (spec.apply); project actions never use it."""

    __tablename__ = "platform_memberships"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(ForeignKey("roles.name"))


class PlatformConfig(Base):
    """Spec sections that are documents rather than rows: policy, layers, APIs, queues, panels, rhythm."""

    __tablename__ = "platform_config"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


class IdCounter(Base):
    """Readable sequential ids (ds_v001, exp_007) allocated inside the serialised write transaction."""

    __tablename__ = "id_counters"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    version_id: Mapped[str] = mapped_column(Id, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    parent_version: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.version_id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    change_summary: Mapped[list[Any]] = mapped_column(JSON, default=list)
    data_location: Mapped[str] = mapped_column(String(500))
    source_format: Mapped[str] = mapped_column(String(16))
    content_digest: Mapped[str] = mapped_column(String(64), index=True)
    row_count: Mapped[int] = mapped_column(Integer)
    schema_fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    quality_signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    quality_failures: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rollback_candidate: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    validated_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    validated_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None]
    # Order of releases across the platform: timestamps tie under a frozen clock, ids need not
    # follow release order, so rollback compares this instead.
    release_seq: Mapped[int | None]
    retired_at: Mapped[datetime | None]
    # Where the data lives and what pins it (SPEC §3, issue 13). Versions registered before these
    # columns keep their canonical copy in data_location and the v0 digest algorithm.
    digest_algorithm: Mapped[str] = mapped_column(String(40), default="rowset-sha256/v1", server_default="sorted-lines-sha256/v0")
    source_uri: Mapped[str | None] = mapped_column(Text)
    source_kind: Mapped[str | None] = mapped_column(String(16))
    source_pin: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    copy_location: Mapped[str | None] = mapped_column(String(500))
    schema_types: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parent_diff: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verified_at: Mapped[datetime | None]
    verify_status: Mapped[str | None] = mapped_column(String(16))
    # Who produced the data outside the platform (issue 14): a team's Dagster run and asset,
    # `{"dagster_run_id", "dagster_asset_key", "dagster_code_location"}` (governance/provenance.py).
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Experiment(Base):
    __tablename__ = "experiments"
    experiment_id: Mapped[str] = mapped_column(Id, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    dataset_version: Mapped[str] = mapped_column(ForeignKey("dataset_versions.version_id"), index=True)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), index=True)
    metric_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    baseline_ref: Mapped[str | None] = mapped_column(String(64))
    deltas: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requires_review: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    # Only on a regressed experiment (SPEC §5): `data` (the baseline's training configuration doing
    # worse on this data: blocks the version) or `model_candidate` (other parameters: does not).
    regression_kind: Mapped[str | None] = mapped_column(String(16))
    run_ended_at: Mapped[datetime | None] = mapped_column(index=True)  # the MLflow sync cursor
    recorded_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]


class LineageEdge(Base):
    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint("source_ref", "target_ref", "edge_type", name="uq_lineage_edge"),
        Index("ix_lineage_source", "source_ref", "target_ref"),
        Index("ix_lineage_target", "target_ref", "source_ref"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    source_ref: Mapped[str] = mapped_column(String(128))
    target_ref: Mapped[str] = mapped_column(String(128))
    edge_type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class RollbackEvent(Base):
    __tablename__ = "rollback_events"
    rollback_id: Mapped[str] = mapped_column(Id, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    trigger_ref: Mapped[str | None] = mapped_column(String(128))
    from_version: Mapped[str] = mapped_column(ForeignKey("dataset_versions.version_id"))
    to_version: Mapped[str] = mapped_column(ForeignKey("dataset_versions.version_id"))
    executed_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    executed_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    impact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    review_ref: Mapped[str | None] = mapped_column(String(64))


class Alert(Base):
    __tablename__ = "alerts"
    alert_id: Mapped[str] = mapped_column(Id, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    related_object: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16), index=True)
    opened_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)
    # Set on alerts the platform raises itself (sync, sensors): what raised it, e.g.
    # `sla_risk:alert:alert_003`. Unique, so a repeated tick or a race can never open a second one.
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True, index=True)


class ExceptionApproval(Base):
    __tablename__ = "exception_approvals"
    exception_id: Mapped[str] = mapped_column(Id, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.version_id"), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    follow_up: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    effective_from: Mapped[datetime | None]
    expires_at: Mapped[datetime]


class IncidentReview(Base):
    __tablename__ = "incident_reviews"
    review_id: Mapped[str] = mapped_column(Id, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    related_refs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    symptom: Mapped[str] = mapped_column(Text)
    impact_scope: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[str] = mapped_column(Text)
    mitigation: Mapped[str] = mapped_column(Text)
    fix_items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    author: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class AuditRecord(Base):
    """One link of the hash chain (SPEC §7). Rows are only ever inserted."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_project_action", "project", "action"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str | None] = mapped_column(String(64))
    tenant: Mapped[str | None] = mapped_column(String(64))
    project: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_ref: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ApiToken(Base):
    """A REST API bearer token. Only its sha256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"
    token_id: Mapped[str] = mapped_column(Id, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class NotificationDelivery(Base):
    """One event for one channel (the outbox, SPEC §6): inserted in the transaction of the change
    that caused it, then claimed, sent and retried by the dispatcher (dataops_platform.notify).
    `event_id` is the event's CloudEvents id, the same on every attempt, so a receiver can drop
    duplicates; one event reaches a channel once however many routes match it."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "channel_id", name="uq_notification_event_channel"),
        Index("ix_notification_due", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str | None] = mapped_column(String(128), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    escalate_to: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))  # pending, sending, delivered, dead, cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    occurred_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class GraphChange(Base):
    """One row written, as the change feed's triggers saw it (store/feed.py): never written by code."""

    __tablename__ = "graph_changes"
    __table_args__ = {"sqlite_autoincrement": True}
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tbl: Mapped[str] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(Text)  # None: rows the trigger cannot name changed (a TRUNCATE)
    link: Mapped[str | None] = mapped_column(Text)
    token: Mapped[str | None] = mapped_column(String(16))  # random: tells this store's change apart from another's
