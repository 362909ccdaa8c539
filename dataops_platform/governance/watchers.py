"""Platform-raised alerts that do not come from MLflow: versions the quality gate rejected.

The system actor opens them through the same service as everyone else; running it twice opens
nothing new (issue 5's sensors call this on every tick).
"""

from __future__ import annotations

from sqlalchemy import select

from dataops_platform.governance.alerts import open_alert
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.refs import ref
from dataops_platform.store.models import Alert, DatasetVersion


def open_quality_gate_alerts(platform: Platform, actor: str) -> list[str]:
    """One `quality_gate` alert per rejected version that has none yet; returns the new alert ids."""
    with platform.store.read() as session:
        rejected = session.scalars(
            select(DatasetVersion).where(DatasetVersion.status == "rejected").order_by(DatasetVersion.version_id)
        ).all()
        alerted = set(session.scalars(select(Alert.related_object).where(Alert.category == "quality_gate")))
    opened = []
    for version in rejected:
        target = ref("version", version.version_id)
        if target in alerted:
            continue
        alert = open_alert(
            platform,
            actor,
            target,
            "medium",
            "quality_gate",
            f"{version.version_id} rejected: {'; '.join(version.quality_failures)}"[:400],
            source_key=f"quality_gate:{target}",
        )
        opened.append(alert.alert_id)
    return opened
