"""Small steps the service tests share, each acting through the real services as the right user."""

from __future__ import annotations

import itertools
from pathlib import Path

from sqlalchemy import func, select

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import register_version, release_version, validate_version
from dataops_platform.store.models import AuditRecord, DatasetVersion
from dataops_platform_tests.helpers import objects_snapshot

PROJECT = "p02_legal_sft"  # lena data_engineer, quinn qa, priya platform_pm, omar ops
_seeds = itertools.count(100)


def data_file(tmp_path: Path, n: int = 30, **kwargs) -> Path:
    seed = next(_seeds)
    return write_records(sample_records(n, seed=seed, **kwargs), tmp_path / f"data_{seed}.jsonl")


def registered(
    platform: Platform, tmp_path: Path, parent: str | None = None, project: str = PROJECT, actor: str = "lena"
) -> DatasetVersion:
    return register_version(platform, actor, project, data_file(tmp_path), parent=parent, change_summary=["test"])


def validated(platform: Platform, tmp_path: Path, parent: str | None = None, **kw) -> DatasetVersion:
    version = registered(platform, tmp_path, parent, **kw)
    return validate_version(platform, "quinn", version.version_id)


def released(platform: Platform, tmp_path: Path, parent: str | None = None, **kw) -> DatasetVersion:
    version = validated(platform, tmp_path, parent, **kw)
    return release_version(platform, "priya", version.version_id)


def audit_count(platform: Platform) -> int:
    with platform.store.read() as session:
        return session.scalar(select(func.count()).select_from(AuditRecord))


def last_audit(platform: Platform) -> AuditRecord:
    with platform.store.read() as session:
        return session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).one()


def snapshot(platform: Platform) -> dict[str, list]:
    """Every governance row except the audit log, to prove a refused action changed nothing."""
    return objects_snapshot(platform)
