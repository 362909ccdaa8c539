"""Dataset content: one digest per set of records, whatever the format or key order."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.errors import InvalidInput, TooLarge
from dataops_platform.governance import datasets
from dataops_platform.governance.datasets import REQUIRED_FIELDS, ReadLimits, profile_file, resolve_data_path
from dataops_platform.governance.platform import Platform


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


# -- issue 12: bounded, hostile-proof readers ---------------------------------------------------------
def _lines(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_row_limit_stops_reading(tmp_path: Path, fmt: str) -> None:
    path = write_records(sample_records(30, seed=2), tmp_path / f"rows.{fmt}")
    assert profile_file(path, limits=ReadLimits(max_rows=30, max_bytes=10**9)).row_count == 30
    with pytest.raises(TooLarge) as err:
        profile_file(path, limits=ReadLimits(max_rows=29, max_bytes=10**9))
    assert "over the limit of 29 rows" in err.value.message and "DATAOPS_MAX_DATASET_ROWS" in err.value.message
    assert err.value.facts["limit"] == "max_dataset_rows"


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_byte_limit(tmp_path: Path, fmt: str) -> None:
    path = write_records(sample_records(30, seed=2), tmp_path / f"bytes.{fmt}")
    with pytest.raises(TooLarge) as err:
        profile_file(path, limits=ReadLimits(max_rows=10**6, max_bytes=1000))
    assert "over the limit of 1,000 bytes" in err.value.message and "DATAOPS_MAX_DATASET_BYTES" in err.value.message


def test_parquet_whose_dictionary_expands_is_stopped_while_decoding(tmp_path: Path) -> None:
    """The footer counts encoded bytes: a dictionary page of one long value repeated decodes far
    larger, so the decoded batches are counted too."""
    n = 40_000
    records = sample_records(1, seed=4)[0]
    table = pa.table(
        {key: pa.array([json.dumps(value) if isinstance(value, dict) else value] * n) for key, value in records.items()}
    )
    table = table.set_column(0, "id", pa.array([f"r{i}" for i in range(n)]))
    table = table.set_column(2, "content_or_payload", pa.array(["x" * 2000] * n))
    path = tmp_path / "expands.parquet"
    pq.write_table(table, path, use_dictionary=True, compression="zstd")
    footer_bytes = sum(
        pq.ParquetFile(path).metadata.row_group(i).total_byte_size for i in range(pq.ParquetFile(path).metadata.num_row_groups)
    )
    limit = footer_bytes * 4
    assert n * 2000 > limit  # decoded, the text alone is far over the limit the footer stays under
    with pytest.raises(TooLarge) as err:
        profile_file(path, limits=ReadLimits(max_rows=10**6, max_bytes=limit))
    assert "(decoded)" in err.value.message


def test_limits_come_from_settings_when_set() -> None:
    assert ReadLimits.from_settings(object()) == ReadLimits(datasets.MAX_DATASET_ROWS, datasets.MAX_DATASET_BYTES)
    assert ReadLimits.from_settings(SimpleNamespace(max_dataset_rows=7, max_dataset_bytes=9)) == ReadLimits(7, 9)


@pytest.mark.parametrize(("value", "canonical"), [(7, "7"), ("r7", "r7"), (None, None)])
def test_scalar_ids_are_accepted(tmp_path: Path, value: object, canonical: object) -> None:
    records = sample_records(3, seed=5)
    records[0]["id"] = value
    profile = profile_file(write_records(records, tmp_path / "ids.jsonl"))
    assert canonical in [json.loads(line)["id"] for line in profile.canonical_lines]


@pytest.mark.parametrize("value", [True, 1.5, {"a": 1}, [1]])
def test_non_scalar_ids_are_refused_naming_line_and_value(tmp_path: Path, value: object) -> None:
    records = sample_records(3, seed=5)
    records[1]["id"] = value
    with pytest.raises(InvalidInput) as err:
        profile_file(write_records(records, tmp_path / "ids.jsonl"))
    assert "line 2: id must be text or an integer" in err.value.message
    assert err.value.value == repr(value)


def test_nan_in_a_csv_cell_is_text_not_json(tmp_path: Path) -> None:
    """Only JSON text is parsed in a CSV cell; `[NaN]` is not JSON, so it stays text."""
    records = sample_records(3, seed=5)
    records[0]["extra"] = "[NaN]"
    profile = profile_file(write_records(records, tmp_path / "nan.csv"))
    assert any(json.loads(line).get("extra") == "[NaN]" for line in profile.canonical_lines)


def test_32_levels_are_accepted_33_refused(tmp_path: Path) -> None:
    def nested(levels: int) -> object:  # levels of containers below the record itself
        value: object = "leaf"
        for _ in range(levels):
            value = [value]
        return value

    records = sample_records(3, seed=5)
    records[0]["extra"] = nested(31)  # the record is level 1
    assert profile_file(write_records(records, tmp_path / "ok.jsonl")).row_count == 3
    records[0]["extra"] = nested(32)
    with pytest.raises(InvalidInput) as err:
        profile_file(write_records(records, tmp_path / "deep.jsonl"))
    assert "nested more than 32 levels deep" in err.value.message


def test_a_line_separator_inside_a_jsonl_string_is_not_a_line_break(tmp_path: Path) -> None:
    records = sample_records(3, seed=5)
    records[0]["content_or_payload"] = "one\u2028two\x0cthree"
    path = tmp_path / "sep.jsonl"
    path.write_text(_lines(records).replace("\\u2028", "\u2028"), encoding="utf-8")
    assert profile_file(path).row_count == 3


def test_csv_duplicate_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("id,source,id\n1,a,2\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        profile_file(path)
    assert "header names column 'id' more than once" in err.value.message


# -- resolve_data_path: the one path check of the CLI and the REST inbox --------------------------------
@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    root = tmp_path / "srv" / "home" / "inbox"
    root.mkdir(parents=True)
    write_records(sample_records(3, seed=1), root / "ok.jsonl")
    (root / "sub").mkdir()
    write_records(sample_records(3, seed=1), root / "sub" / "ok.csv")
    write_records(sample_records(3, seed=1), tmp_path / "outside.jsonl")
    (root / "out.jsonl").symlink_to(tmp_path / "outside.jsonl")
    (root / "gone.jsonl").symlink_to(tmp_path / "no-such-file.jsonl")
    (root / "loop.jsonl").symlink_to(root / "loop.jsonl")
    (root / "dir.jsonl").mkdir()
    os.mkfifo(root / "fifo.jsonl")
    return root


def test_inbox_paths_inside_are_resolved(inbox: Path) -> None:
    assert resolve_data_path("ok.jsonl", inbox) == (inbox / "ok.jsonl").resolve()
    assert resolve_data_path("sub/../sub/ok.csv", inbox) == (inbox / "sub" / "ok.csv").resolve()


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("/etc/passwd", "must be relative to the data inbox (inbox/)"),
        ("../../../outside.jsonl", "leaves the data inbox (inbox/)"),
        ("../../../no-such-file.jsonl", "leaves the data inbox (inbox/)"),  # outside: existence never told
        ("sub/../../x.jsonl", "leaves the data inbox (inbox/)"),
        ("out.jsonl", "leaves the data inbox (inbox/) through a symbolic link"),
        ("gone.jsonl", "leaves the data inbox (inbox/) through a symbolic link"),
        ("loop.jsonl", "is a symlink loop"),
        ("dir.jsonl", "is a directory"),
        ("fifo.jsonl", "is a FIFO"),
        ("missing.jsonl", "does not exist"),
        ("x" * 256 + ".jsonl", "over the 255-byte limit"),
        ("a\x00.jsonl", "contains a NUL character"),
        ("a\udcff.jsonl", "is not valid UTF-8"),
        ("", "is empty"),
    ],
)
def test_inbox_refusals_never_show_where_the_inbox_is(inbox: Path, relative: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_data_path(relative, inbox)
    message = err.value.message
    assert expected in message
    assert str(inbox.parent) not in message and str(inbox.parent) not in str(err.value.value)
    if relative and "\x00" not in relative and "\udcff" not in relative and not relative.startswith("/"):
        assert f"inbox/{relative}"[:30] in message
    message.encode("utf-8")  # always storable text, whatever the path held


def test_without_a_root_the_callers_own_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_data_path(str(tmp_path / "missing.jsonl"))
    assert str(tmp_path / "missing.jsonl") in err.value.message


def test_register_from_the_inbox_names_files_relative_to_it(sqlite_platform: Platform) -> None:
    """What the REST route calls: refusals, audited as failed, call the file inbox/..., never by its server path."""
    from dataops_platform.governance.versions import register_version
    from dataops_platform_tests.services.steps import last_audit

    inbox = sqlite_platform.settings.inbox_dir
    mine = inbox / "t02_legal"  # the project's tenant's part of the inbox
    mine.mkdir(parents=True, exist_ok=True)
    records = sample_records(25, seed=6)
    records[3]["id"] = {"nested": True}
    write_records(records, mine / "bad.jsonl")
    for relative, expected in [
        ("bad.jsonl", "inbox/t02_legal/bad.jsonl: line 4: id must be"),
        ("../governance.db", "leaves your tenant's inbox"),
        ("../../governance.db", "leaves your tenant's inbox"),
    ]:
        with pytest.raises(InvalidInput) as err:
            register_version(sqlite_platform, "lena", "p02_legal_sft", relative, root=inbox)
        assert expected in err.value.message
        assert str(sqlite_platform.settings.home_dir) not in err.value.message
        record = last_audit(sqlite_platform)
        assert (record.actor, record.outcome) == ("lena", "failed")
        assert str(sqlite_platform.settings.home_dir) not in record.details
    write_records(sample_records(25, seed=6), mine / "good.jsonl")
    assert register_version(sqlite_platform, "lena", "p02_legal_sft", "good.jsonl", root=inbox).row_count == 25


def test_the_inbox_is_split_per_tenant(sqlite_platform: Platform) -> None:
    """A REST caller's path is relative to their tenant's part of the inbox: another tenant's file is
    neither read nor told to exist, whether named by `..` or reached through a symbolic link."""
    from dataops_platform.governance.versions import register_version
    from dataops_platform_tests.services.steps import last_audit

    inbox = sqlite_platform.settings.inbox_dir
    theirs, mine = inbox / "t01_retail", inbox / "t02_legal"
    for where in (theirs, mine):
        where.mkdir(parents=True, exist_ok=True)
    write_records(sample_records(25, seed=8), theirs / "retail_only.jsonl")
    (mine / "link.jsonl").symlink_to(theirs / "retail_only.jsonl")
    (mine / "linked_dir").symlink_to(theirs, target_is_directory=True)
    cases = [
        ("retail_only.jsonl", "inbox/t02_legal/retail_only.jsonl' does not exist"),  # only in the other tenant's part
        ("../t01_retail/retail_only.jsonl", "leaves your tenant's inbox"),
        ("sub/../../t01_retail/retail_only.jsonl", "leaves your tenant's inbox"),
        ("link.jsonl", "leaves"),
        ("linked_dir", "leaves"),
        ("linked_dir/*.jsonl", "leaves"),
        ("delta:../t01_retail", "leaves your tenant's inbox"),
    ]
    for relative, expected in cases:
        with pytest.raises(InvalidInput) as err:
            register_version(sqlite_platform, "lena", "p02_legal_sft", relative, root=inbox)
        assert expected in err.value.message, (relative, err.value.message)
        assert str(inbox) not in err.value.message
        assert (last_audit(sqlite_platform).actor, last_audit(sqlite_platform).outcome) == ("lena", "failed")
    # dan (t01_retail) registers his own file, and it is recorded relative to the inbox with its tenant
    own = register_version(sqlite_platform, "dan", "p01_retail_search", "retail_only.jsonl", root=inbox)
    assert own.source_uri == "inbox:t01_retail/retail_only.jsonl" and own.row_count == 25
    from dataops_platform.governance.versions import verify_version

    assert verify_version(sqlite_platform, "dan", own.version_id)["status"] == "ok"  # reopened where it was recorded
