"""`LocalClient`: the client's calls answered in this process, on the platform's own host.

The CLI talks to one of two things with the same methods and the same typed answers: a
`DataOpsClient` over REST (`--server`), or this, which calls the services as the user `--as` names
(taken at its word: whoever runs it can read the store anyway). Each answer is built with the REST
API's own response model from what its route returns, so a command prints the same table and the
same JSON in both modes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from dataops_platform.artifacts.build import row
from dataops_platform.client import models as m
from dataops_platform.governance.platform import Platform

T = TypeVar("T", bound=BaseModel)


def _rows(model: type[T], rows: Sequence[Any]) -> list[T]:
    return [model.model_validate(row(r)) for r in rows]


class LocalClient:
    """The platform in process, acting as `actor` (None only where the system actor may act: sync)."""

    def __init__(self, platform: Platform, actor: str | None) -> None:
        self.platform, self.actor = platform, actor

    @property
    def _user(self) -> str:
        from dataops_platform.errors import InvalidInput

        if not self.actor:
            raise InvalidInput("no acting user: pass --as USER or set DATAOPS_USER", field="--as", value=None)
        return self.actor

    @property
    def _reader(self) -> str:
        """The acting user of a listing, who must exist: a mistyped --as would otherwise read an empty
        platform (an action by an unknown user is refused and audited by the service itself)."""
        from dataops_platform.errors import InvalidInput
        from dataops_platform.store.models import User

        user = self._user
        with self.platform.store.read() as session:
            known = session.get(User, user) is not None
        if not known:
            raise InvalidInput(f"--as {user!r}: no such user in this platform (see the spec's users)", field="--as", value=user)
        return user

    # -- versions ------------------------------------------------------------------------------------
    def version_list(self, project: str | None = None) -> list[m.Version]:
        from dataops_platform.governance.versions import list_versions

        return _rows(m.Version, list_versions(self.platform, self._reader, project))

    def version_show(self, version_id: str) -> m.VersionDetail:
        from dataops_platform.api.versions import version_show

        return m.VersionDetail.model_validate(version_show(self.platform, self._user, version_id))

    def version_register(
        self,
        project: str,
        source: str | Path,
        parent: str | None = None,
        summary: Sequence[str] | None = None,
        copy: bool | None = None,
        provenance: Mapping[str, str] | None = None,
    ) -> m.RegisteredVersion:
        from dataops_platform.api.versions import _registered
        from dataops_platform.governance.versions import register_version

        extra = {"provenance": dict(provenance)} if provenance else {}
        # The path is the user's own: messages quote it as typed (register_version resolves it).
        version = register_version(self.platform, self._user, project, str(source), parent, list(summary or []) or None,
                                   label=str(source), copy=copy, **extra)  # fmt: skip
        return m.RegisteredVersion.model_validate(_registered(self.platform, version))

    def version_validate(self, version_id: str) -> m.Version:
        from dataops_platform.api.versions import version_validate

        return m.Version.model_validate(version_validate(self.platform, self._user, version_id))

    def version_release(self, version_id: str) -> m.Version:
        from dataops_platform.api.versions import version_release

        return m.Version.model_validate(version_release(self.platform, self._user, version_id))

    def version_deprecate(self, version_id: str) -> m.Version:
        from dataops_platform.api.versions import version_deprecate

        return m.Version.model_validate(version_deprecate(self.platform, self._user, version_id))

    def version_diff(self, old: str, new: str) -> m.VersionDiff:
        from dataops_platform.api.versions import version_diff

        return m.VersionDiff.model_validate(version_diff(self.platform, self._user, old, new))

    def version_verify(self, version_id: str) -> m.VerifyResult:
        from dataops_platform.api.versions import version_verify

        return m.VerifyResult.model_validate(version_verify(self.platform, self._user, version_id))

    def version_source(self, version_id: str) -> m.VersionSource:
        from dataops_platform.api.versions import version_source

        return m.VersionSource.model_validate(version_source(self.platform, self._user, version_id))

    def version_data(self, version_id: str, out: str | Path) -> Path:
        """The version's bytes copied to `out` (written aside, then renamed), as the data route serves them."""
        import shutil

        from dataops_platform.api.version_data import servable
        from dataops_platform.governance.versions import show_version

        version, _ = show_version(self.platform, self._user, version_id)
        served, out = servable(self.platform, version), Path(out)
        partial = out.with_name(f".{out.name}.partial")
        try:
            shutil.copyfile(served.path, partial)
            partial.replace(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return out

    # -- experiments and rollbacks --------------------------------------------------------------------
    def experiment_list(self, project: str | None = None) -> list[m.Experiment]:
        from dataops_platform.governance.experiments import list_experiments

        return _rows(m.Experiment, list_experiments(self.platform, self._reader, project))

    def experiment_sync(self) -> m.SyncReport:
        from dataops_platform.tracking.client import Tracking
        from dataops_platform.tracking.sync import sync_for_caller

        settings = self.platform.settings
        tracking = Tracking(settings.tracking_uri, settings.mlflow_artifact_root)
        return m.SyncReport.model_validate(sync_for_caller(self.platform, tracking, self.actor))

    def rollback_execute(
        self, project: str, to: str, reason: str, trigger: str | None = None, dry_run: bool = False
    ) -> m.RollbackResult:
        from dataops_platform.api.rollbacks import RollbackRequest, rollback_execute

        body = RollbackRequest(to=to, reason=reason, trigger=trigger, dry_run=dry_run)
        return m.RollbackResult.model_validate(rollback_execute(self.platform, self._user, project, body))

    def rollback_list(self, project: str) -> list[m.Rollback]:
        from dataops_platform.governance.listing import list_visible
        from dataops_platform.store.models import RollbackEvent

        return _rows(m.Rollback, list_visible(self.platform, self._reader, RollbackEvent, project))

    # -- alerts, exceptions, reviews ----------------------------------------------------------------
    def alert_list(self, project: str | None = None, status: str | None = None) -> list[m.Alert]:
        from dataops_platform.governance.alerts import list_alerts

        return _rows(m.Alert, list_alerts(self.platform, self._reader, project, status))

    def alert_open(self, related_object: str, severity: str, category: str, title: str) -> m.Alert:
        from dataops_platform.governance.alerts import open_alert

        return m.Alert.model_validate(row(open_alert(self.platform, self._user, related_object, severity, category, title)))

    def alert_ack(self, alert_id: str) -> m.Alert:
        from dataops_platform.governance.alerts import acknowledge_alert

        return m.Alert.model_validate(row(acknowledge_alert(self.platform, self._user, alert_id)))

    def alert_resolve(self, alert_id: str, note: str) -> m.Alert:
        from dataops_platform.governance.alerts import resolve_alert

        return m.Alert.model_validate(row(resolve_alert(self.platform, self._user, alert_id, note)))

    def alert_sla(self, project: str | None = None) -> m.SlaReport:
        from dataops_platform.governance.alerts import sla_status

        return m.SlaReport.model_validate(sla_status(self.platform, self._reader, project))

    def exception_list(self, project: str | None = None) -> list[m.ExceptionRecord]:
        from dataops_platform.governance.exceptions import list_exceptions

        return _rows(m.ExceptionRecord, list_exceptions(self.platform, self._reader, project))

    def exception_request(
        self, version: str, rule: str, reason: str, expires_at: datetime, follow_up: str | None = None
    ) -> m.ExceptionRecord:
        from dataops_platform.governance.exceptions import request_exception

        made = request_exception(self.platform, self._user, version, rule, reason, expires_at, follow_up)
        return m.ExceptionRecord.model_validate(row(made))

    def exception_approve(self, exception_id: str) -> m.ExceptionRecord:
        from dataops_platform.governance.exceptions import approve_exception

        return m.ExceptionRecord.model_validate(row(approve_exception(self.platform, self._user, exception_id)))

    def review_list(self, project: str | None = None) -> list[m.Review]:
        from dataops_platform.governance.reviews import list_reviews

        return _rows(m.Review, list_reviews(self.platform, self._reader, project))

    def review_add(
        self,
        related: Sequence[str],
        symptom: str,
        impact_scope: str = "",
        root_cause: str = "",
        mitigation: str = "",
        fix_items: Sequence[Mapping[str, str]] = (),
    ) -> m.Review:
        from dataops_platform.governance.reviews import FixItem, ReviewInput, add_review

        items = tuple(FixItem.parse(f"{f['description']}|{f['owner']}|{f['due']}") for f in fix_items)
        review = ReviewInput(list(related), symptom, impact_scope, root_cause, mitigation, items)
        return m.Review.model_validate(row(add_review(self.platform, self._user, review)))

    # -- lineage and audit ---------------------------------------------------------------------------
    def lineage_impact(self, ref: str, depth: int | None = None, upstream: bool = False) -> m.Impact:
        from dataops_platform.api.lineage import lineage_impact

        return m.Impact.model_validate(lineage_impact(self.platform, self._user, ref, depth, upstream))

    def lineage_export(self, project: str | None = None, openlineage: bool = False) -> m.LineageGraph | m.OpenLineageExport:
        from dataops_platform.api.lineage import lineage_export

        answer = lineage_export(self.platform, self._user, openlineage, project)
        return (m.OpenLineageExport if openlineage else m.LineageGraph).model_validate(answer)

    def audit_list(
        self,
        project: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[m.AuditRecord]:
        from dataops_platform.governance.audit_service import AuditFilter, list_records

        flt = AuditFilter(project, actor, action, since, until, limit)
        return _rows(m.AuditRecord, list_records(self.platform, self._reader, flt))

    def audit_verify(self) -> m.AuditVerification:
        from dataops_platform.api.audit import audit_verify

        return m.AuditVerification.model_validate(audit_verify(self.platform, self._user))

    # -- tokens, spec, metrics, notifications ------------------------------------------------------------
    def token_list(self) -> list[m.Token]:
        from dataops_platform.api.tokens import token_list

        return [m.Token.model_validate(t) for t in token_list(self.platform, self._reader)["items"]]

    def token_create(self, user: str, expires_at: datetime | None = None) -> m.TokenCreated:
        from dataops_platform.api.tokens import TokenCreate, token_create

        body = TokenCreate(user=user, expires_at=expires_at)
        return m.TokenCreated.model_validate(token_create(self.platform, self._user, body))

    def token_revoke(self, token_id: str) -> m.Token:
        from dataops_platform.api.tokens import token_revoke

        return m.Token.model_validate(token_revoke(self.platform, self._user, token_id))

    def notify_list(self, project: str | None = None, status: str | None = None, limit: int = 200) -> list[m.Delivery]:
        from dataops_platform.notify.service import delivery_dict, list_deliveries

        rows = list_deliveries(self.platform, self._reader, project, status, limit)
        return [m.Delivery.model_validate(delivery_dict(r)) for r in rows]

    def notify_retry(self, delivery_id: int) -> m.Delivery:
        from dataops_platform.notify.service import delivery_dict, retry_delivery

        return m.Delivery.model_validate(delivery_dict(retry_delivery(self.platform, self._user, delivery_id)))

    def notify_test(self, channel: str) -> m.Delivery:
        from dataops_platform.notify.service import delivery_dict, test_channel

        return m.Delivery.model_validate(delivery_dict(test_channel(self.platform, self._user, channel)))
