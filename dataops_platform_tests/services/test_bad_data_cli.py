"""`dataops version register` on bad data: exit 2, a message naming file and field, nothing written."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance.platform import Platform
from dataops_platform_tests.services.steps import snapshot


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def _bad_file(tmp_path: Path, kind: str) -> tuple[Path, str]:
    records = sample_records(30, seed=5)
    if kind == "missing_field":
        for r in records:
            r.pop("split_or_stage")
        return write_records(records, tmp_path / "missing.jsonl"), "split_or_stage"
    if kind == "non_utf8":
        path = tmp_path / "latin1.csv"
        path.write_bytes("id,source\n1,caf\xe9\n".encode("latin-1"))
        return path, "not UTF-8"
    if kind == "empty":
        path = tmp_path / "empty.jsonl"
        path.write_bytes(b"")
        return path, "no records"
    if kind == "duplicates":
        for r in records[:5]:
            r["id"] = "dup"
        return write_records(records, tmp_path / "dups.csv"), "duplicate-id rate"
    path = tmp_path / "data.xml"
    path.write_text("<records/>")
    return path, "unknown data format"


@pytest.mark.parametrize("kind", ["missing_field", "non_utf8", "empty", "duplicates", "unknown_format"])
def test_bad_data_file_is_refused_and_nothing_is_written(sqlite_platform: Platform, tmp_path: Path, kind: str) -> None:
    path, expected = _bad_file(tmp_path, kind)
    data_dir = sqlite_platform.settings.data_dir
    rows_before, files_before = snapshot(sqlite_platform), _files(data_dir)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dataops_platform.cli.app",
            "--home",
            str(sqlite_platform.settings.home_dir),
            "--as",
            "lena",
            "version",
            "register",
            "p02_legal_sft",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert expected in message and path.name in message
    assert snapshot(sqlite_platform) == rows_before
    assert _files(data_dir) == files_before


def test_registered_content_is_immutable_and_content_addressed(sqlite_platform: Platform, tmp_path: Path) -> None:
    """Nothing is copied by default; `copy=True` keeps the ORIGINAL bytes, named by their sha256, read-only."""
    from dataops_platform.governance.versions import register_version

    path = write_records(sample_records(25, seed=9), tmp_path / "ok.parquet")
    jsonl = write_records(sample_records(25, seed=9), tmp_path / "ok.jsonl")
    files_before = sorted(p.name for p in sqlite_platform.settings.data_dir.rglob("*") if p.is_file())
    in_place = register_version(sqlite_platform, "lena", "p02_legal_sft", jsonl)
    assert in_place.copy_location is None and in_place.data_location == str(jsonl.resolve())
    assert sorted(p.name for p in sqlite_platform.settings.data_dir.rglob("*") if p.is_file()) == files_before
    version = register_version(sqlite_platform, "lena", "p02_legal_sft", path, copy=True)
    stored = sqlite_platform.settings.data_dir / version.copy_location
    file_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert stored.name == f"{file_sha}.parquet" and stored.read_bytes() == path.read_bytes()
    assert version.source_pin["files"][0]["sha256"] == file_sha
    assert version.content_digest == in_place.content_digest
    assert not stored.stat().st_mode & 0o222  # read-only
    path.unlink()  # the source file may go away; the version keeps its content
    assert stored.exists()
