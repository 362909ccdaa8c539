"""Dataset content: one digest per set of records, whatever the format or key order."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.errors import InvalidInput
from dataops_platform.governance.datasets import REQUIRED_FIELDS, profile_file


def _shuffled_keys(record: dict) -> dict:
    return {k: record[k] for k in reversed(list(record))}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_same_records_same_digest_in_every_format(tmp_path: Path, fmt: str) -> None:
    records = sample_records(30, seed=7)
    reference = profile_file(write_records(records, tmp_path / "ref.jsonl"))
    reordered = [_shuffled_keys(r) for r in reversed(records)]
    other = profile_file(write_records(reordered, tmp_path / f"other.{fmt}"))
    assert other.digest == reference.digest
    assert other.row_count == 30
    assert other.schema_fields == sorted(records[0])


def test_one_changed_value_changes_the_digest(tmp_path: Path) -> None:
    records = sample_records(30, seed=7)
    before = profile_file(write_records(records, tmp_path / "a.jsonl")).digest
    records[17]["metadata"]["topic"] = "something else"
    after = profile_file(write_records(records, tmp_path / "b.jsonl")).digest
    assert before != after


def test_quality_signals_are_computed_from_the_records(tmp_path: Path) -> None:
    records = sample_records(20, seed=3)
    records[1]["id"] = records[0]["id"]  # one duplicate
    records[2]["source"] = None
    profile = profile_file(write_records(records, tmp_path / "q.jsonl"))
    signals = profile.quality_signals
    assert signals["duplicate_id_rate"] == pytest.approx(1 / 20)
    assert signals["duplicate_ids"] == [records[0]["id"]]
    assert signals["null_rate"]["source"] == pytest.approx(1 / 20)
    assert signals["split_distribution"] == {"test": 10, "train": 10}
    labels = [r["label"] for r in records]
    assert signals["label_distribution"] == {lab: labels.count(lab) for lab in sorted(set(labels))}


def test_missing_required_field_names_the_field(tmp_path: Path) -> None:
    records = sample_records(5, seed=1)
    for r in records:
        del r["audit_trace"]
    with pytest.raises(InvalidInput) as err:
        profile_file(write_records(records, tmp_path / "m.jsonl"))
    assert err.value.field == "audit_trace"
    assert "audit_trace" in err.value.message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.jsonl", b"\xff\xfe not utf-8\n", "not UTF-8"),
        ("empty.jsonl", b"", "no records"),
        ("data.xlsx", b"whatever", "unknown data format"),
        ("broken.jsonl", b'{"id": 1}\n{not json\n', "line 2 is not JSON"),
        ("broken.parquet", b"PAR1 not really", "not a readable Parquet"),
    ],
)
def test_bad_files_are_refused_clearly(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as err:
        profile_file(path)
    assert expected in err.value.message
    assert str(path) in err.value.message


def test_required_fields_match_the_spec() -> None:
    assert set(REQUIRED_FIELDS) == {
        "id",
        "source",
        "content_or_payload",
        "metadata",
        "quality_signals",
        "split_or_stage",
        "audit_trace",
    }
