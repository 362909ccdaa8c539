"""version diff (rows and columns, exact numbers), the schema contract in the gate, version verify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance import alerts, versions
from dataops_platform.governance.platform import Platform
from dataops_platform.store.models import DatasetVersion

PROJECT = "p02_legal_sft"


def v1_records() -> list[dict]:
    return [r | {"score": i, "extra": "x"} for i, r in enumerate(sample_records(100, seed=41))]


def v2_records() -> list[dict]:
    """From V1: 7 removed, 5 changed, 11 added; column `extra` removed, `score` retyped, `lang` added.
    Rows compare on the columns both versions have, so the column changes alone change no row."""
    rows = v1_records()[7:]
    for r in rows[:5]:
        r["content_or_payload"] += " (revised)"
    rows += [r | {"id": f"new{i}"} for i, r in enumerate(sample_records(11, seed=42))]
    out = []
    for r in rows:
        r = dict(r)
        r.pop("extra", None)
        r["score"] = str(r.get("score", 0))  # retyped (integer -> string), same value
        r["lang"] = "en"
        out.append(r)
    return out


def cli(platform: Platform, actor: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dataops_platform.cli.app", "--home", str(platform.settings.home_dir), "--as", actor, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_diff_counts_rows_and_columns_exactly(sqlite_platform: Platform, tmp_path: Path) -> None:
    v1 = versions.register_version(sqlite_platform, "lena", PROJECT, write_records(v1_records(), tmp_path / "v1.parquet"))
    v2 = versions.register_version(
        sqlite_platform, "lena", PROJECT, write_records(v2_records(), tmp_path / "v2.jsonl"), parent=v1.version_id
    )
    result = cli(sqlite_platform, "lena", "--json", "version", "diff", v1.version_id, v2.version_id)
    assert result.returncode == 0, result.stderr
    diff = json.loads(result.stdout)
    assert (diff["rows_added"], diff["rows_removed"], diff["rows_changed"]) == (11, 7, 5)
    assert diff["columns_added"] == ["lang"]
    assert diff["columns_removed"] == ["extra"]
    assert diff["columns_type_changed"] == ["score"]
    assert diff["examples"]["removed"] == sorted(r["id"] for r in v1_records()[:5])
    assert diff["examples"]["added"] == sorted(f"new{i}" for i in range(11))[:5]
    assert set(diff["examples"]["changed"]) <= {r["id"] for r in v1_records()[7:12]}
    # The diff against the parent is recorded on the child: version show, the artifacts, the report.
    assert v2.parent_diff["rows_added"] == 11 and v2.parent_diff["columns_removed"] == ["extra"]
    shown = json.loads(cli(sqlite_platform, "lena", "--json", "version", "show", v2.version_id).stdout)
    assert shown["parent_diff"]["rows_changed"] == 5


def test_additive_only_refuses_a_removed_column_naming_it_and_allow_lets_it_through(
    sqlite_platform: Platform, tmp_path: Path
) -> None:
    v1 = versions.register_version(sqlite_platform, "lena", PROJECT, write_records(v1_records(), tmp_path / "v1.parquet"))
    child_rows = [{k: v for k, v in r.items() if k != "extra"} for r in v1_records()]
    v2 = versions.register_version(
        sqlite_platform, "lena", PROJECT, write_records(child_rows, tmp_path / "v2.parquet"), parent=v1.version_id
    )
    judged = versions.validate_version(sqlite_platform, "quinn", v2.version_id)
    assert judged.status == "rejected"
    assert any("columns removed" in f and "extra" in f and "additive_only" in f for f in judged.quality_failures)
    # allow: the same change passes the gate.
    with sqlite_platform.store.write() as session:
        from dataops_platform.store.models import PlatformConfig

        row = session.get(PlatformConfig, "governance_policy")
        row.value = row.value | {"schema_changes_by_project": {PROJECT: "allow"}}
    v3 = versions.register_version(
        sqlite_platform, "lena", PROJECT, write_records(child_rows, tmp_path / "v3.parquet"), parent=v1.version_id
    )
    assert versions.validate_version(sqlite_platform, "quinn", v3.version_id).status == "validated"


def test_verify_a_released_version_whose_file_changed_raises_data_drift(sqlite_platform: Platform, tmp_path: Path) -> None:
    path = write_records(sample_records(40, seed=43), tmp_path / "live.parquet")
    v = versions.register_version(sqlite_platform, "lena", PROJECT, path)
    versions.validate_version(sqlite_platform, "quinn", v.version_id)
    versions.release_version(sqlite_platform, "priya", v.version_id)
    ok = cli(sqlite_platform, "quinn", "--json", "version", "verify", v.version_id)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "ok"
    changed = sample_records(40, seed=43)
    changed[3]["label"] = "normal" if changed[3]["label"] == "high_risk" else "high_risk"
    pq.write_table(pa.Table.from_pylist(changed), path)
    drifted = cli(sqlite_platform, "quinn", "--json", "version", "verify", v.version_id)
    assert drifted.returncode == 4
    report = json.loads(drifted.stdout)
    assert report["status"] == "drifted" and report["found_digest"] != v.content_digest
    assert any("live.parquet changed" in c for c in report["pin_changes"])
    again = json.loads(cli(sqlite_platform, "quinn", "--json", "version", "verify", v.version_id).stdout)
    assert again["found_digest"] == report["found_digest"]
    path.unlink()
    gone = json.loads(cli(sqlite_platform, "quinn", "--json", "version", "verify", v.version_id).stdout)
    assert gone["status"] == "unreadable" and "does not exist" in gone["reason"]
    with sqlite_platform.store.read() as session:
        assert session.get(DatasetVersion, v.version_id).verify_status == "unreadable"
    # One alert per version and digest: verifying the same drift again opens nothing new.
    opened = [a for a in alerts.list_alerts(sqlite_platform, "omar") if a.category == "data_drift"]
    assert len(opened) == 2 and {a.related_object for a in opened} == {f"version:{v.version_id}"}


def test_version_records_reads_a_version_from_where_it_lives(sqlite_platform: Platform, tmp_path: Path) -> None:
    """What training reads (small data): the records of a version from its source, its copy, or a legacy canonical file."""
    from dataops_platform.governance.datasets import version_records

    expected = sorted(r["id"] for r in sample_records(25, seed=71))
    for name, copy in (("t.csv", False), ("t.parquet", True), ("t.jsonl", False)):
        v = versions.register_version(
            sqlite_platform, "lena", PROJECT, write_records(sample_records(25, seed=71), tmp_path / name), copy=copy
        )
        records = list(version_records(v, sqlite_platform.settings))
        assert sorted(r["id"] for r in records) == expected
        assert {r["split_or_stage"] for r in records} == {"train", "test"}
