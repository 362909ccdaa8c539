"""The governance policy and other applied spec sections, read back from the store as typed models."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dataops_platform.errors import InvalidInput
from dataops_platform.spec.models import GovernancePolicy, QualityThresholds, SeparationOfDuties
from dataops_platform.store.models import PlatformConfig


def config_document(session: Session, key: str) -> dict | None:
    row = session.get(PlatformConfig, key)
    return row.value if row else None


def governance_policy(session: Session) -> GovernancePolicy:
    document = config_document(session, "governance_policy")
    if document is None:
        raise InvalidInput(
            "no governance policy: apply a platform spec first (`dataops spec apply FILE`)",
            field="governance_policy",
            value=None,
        )
    return GovernancePolicy.model_validate(document)


def separation_of_duties(session: Session) -> SeparationOfDuties:
    document = config_document(session, "separation_of_duties")
    # Deny by default: with nothing configured, both separation rules hold.
    return SeparationOfDuties.model_validate(document) if document else SeparationOfDuties()


def quality_thresholds(policy: GovernancePolicy, project_id: str) -> QualityThresholds:
    return policy.quality_gate_by_project.get(project_id, policy.quality_gate)
