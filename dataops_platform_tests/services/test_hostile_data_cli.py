"""Issue 12, findings 6 and 7: hostile data files through `dataops version register`.

Each file once crashed registration (exit 1, a raw Python message, no audit record) or made the
platform do the work before asking whether the caller may. Now each is refused with exit 2, a
message naming the file, the line or field and the value, no traceback, and an audit record
with outcome `failed` (or `denied` for a caller without the permission, before the file is read).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance import datasets
from dataops_platform.governance.platform import Platform
from dataops_platform_tests.services.steps import audit_count, last_audit, snapshot

PROJECT = "p02_legal_sft"  # lena data_engineer (version.create), quinn qa (no version.create); dan is another tenant's

# Runs the real CLI entry point and reports, on stderr, every time the process opens the watched
# file (the interpreter's "open" audit event covers open(), os.open() and pathlib), so a test can
# prove a refusal came before the file was touched.
WATCHED_CLI = textwrap.dedent(
    """
    import os, sys
    watched = os.path.realpath(os.environ["DATAOPS_TEST_WATCH"])
    def hook(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            if os.path.realpath(os.fsdecode(args[0])) == watched:
                os.write(2, b"WATCHED FILE OPENED\\n")
    sys.addaudithook(hook)
    sys.argv = ["dataops", *sys.argv[1:]]
    from dataops_platform.cli.app import main
    main()
    """
)


def register(
    platform: Platform, path: Path | str, actor: str = "lena", *, watch: Path | None = None, json_errors: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ["--home", str(platform.settings.home_dir), "--as", actor, *(["--json"] if json_errors else [])]
    args += ["version", "register", PROJECT, str(path)]
    env = dict(os.environ)
    # Pins the limits the tests rely on, once settings.py reads them (DATAOPS_MAX_DATASET_*).
    env["DATAOPS_MAX_DATASET_ROWS"] = str(datasets.MAX_DATASET_ROWS)
    env["DATAOPS_MAX_DATASET_BYTES"] = str(datasets.MAX_DATASET_BYTES)
    if watch is not None:
        env["DATAOPS_TEST_WATCH"] = str(watch)
        command = [sys.executable, "-c", WATCHED_CLI, *args]
    else:
        command = [sys.executable, "-m", "dataops_platform.cli.app", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env, timeout=120)


def assert_refused(platform: Platform, result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 2, a clean message holding every `expected` text, nothing written, one `failed` audit record."""
    message = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in message, f"{text!r} not in {message!r}"
    record = last_audit(platform)
    assert (record.actor, record.action, record.outcome) == ("lena", "version.create", "failed")
    details = json.loads(record.details)
    assert details["error"] in ("invalid_input", "too_large"), details
    for text in expected:
        assert text in " ".join(details["message"].split())
    return message


@pytest.fixture
def before(sqlite_platform: Platform) -> tuple[dict, int]:
    return snapshot(sqlite_platform), audit_count(sqlite_platform)


def assert_nothing_written_but_one_audit(platform: Platform, before: tuple[dict, int]) -> None:
    rows, count = before
    assert snapshot(platform) == rows
    assert audit_count(platform) == count + 1


def records(n: int = 25, seed: int = 3) -> list[dict]:
    return sample_records(n, seed=seed)


def jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def good_lines(n: int = 25) -> list[str]:
    return [json.dumps(r) for r in records(n)]


def with_field(line: str, raw_json: str, name: str = "extra") -> str:
    """A JSONL line with one more field, written as raw JSON text."""
    return line[:-1] + f', "{name}": {raw_json}}}'


def csv_lines(path: Path) -> list[str]:
    write_records(records(), path)
    return path.read_text(encoding="utf-8").splitlines()


# -- finding 7 ---------------------------------------------------------------------------------------
def test_finding7_csv_field_over_limit(sqlite_platform: Platform, tmp_path: Path, before) -> None:
    lines = csv_lines(tmp_path / "long.csv")
    lines[4] = lines[4].replace("crm_export", "x" * 200_000)
    (tmp_path / "long.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = register(sqlite_platform, tmp_path / "long.csv")
    assert_refused(sqlite_platform, result, "long.csv", "line 5", "131,072 characters")
    assert_nothing_written_but_one_audit(sqlite_platform, before)


def test_finding7_csv_extra_column(sqlite_platform: Platform, tmp_path: Path, before) -> None:
    lines = csv_lines(tmp_path / "extra.csv")
    lines[3] += ",surprise"
    (tmp_path / "extra.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = register(sqlite_platform, tmp_path / "extra.csv")
    assert_refused(sqlite_platform, result, "extra.csv", "line 4 has 9 fields where the header has 8", "'surprise'")
    assert_nothing_written_but_one_audit(sqlite_platform, before)


def test_finding7_csv_missing_column(sqlite_platform: Platform, tmp_path: Path, before) -> None:
    lines = csv_lines(tmp_path / "short.csv")
    lines[6] = lines[6].rsplit(",", 1)[0]
    (tmp_path / "short.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = register(sqlite_platform, tmp_path / "short.csv")
    assert_refused(sqlite_platform, result, "short.csv", "line 7 has 7 fields where the header has 8", "missing values")
    assert_nothing_written_but_one_audit(sqlite_platform, before)


def test_finding7_huge_integer_jsonl(sqlite_platform: Platform, tmp_path: Path, before) -> None:
    lines = good_lines()
    lines[2] = with_field(lines[2], "9" * 5000)
    result = register(sqlite_platform, jsonl(tmp_path / "huge.jsonl", lines))
    assert_refused(sqlite_platform, result, "huge.jsonl", "line 3", "number of 5000 characters", "limit of 1000")
    assert_nothing_written_but_one_audit(sqlite_platform, before)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("NaN", "NaN is not JSON"), ("-Infinity", "-Infinity is not JSON"), ("1e999", "out of the range of a 64-bit float")],
)
def test_finding7_non_finite_numbers_jsonl(sqlite_platform: Platform, tmp_path: Path, before, literal, expected) -> None:
    """Decision: JSONL is RFC 8259 JSON, which has no NaN or Infinity; they are refused (write null)."""
    lines = good_lines()
    lines[0] = with_field(lines[0], literal, "score")
    result = register(sqlite_platform, jsonl(tmp_path / "nonfinite.jsonl", lines))
    assert_refused(sqlite_platform, result, "nonfinite.jsonl", "line 1", expected)
    assert_nothing_written_but_one_audit(sqlite_platform, before)


def _unhashable(tmp_path: Path, kind: str) -> tuple[Path, str, str]:
    rows = records()
    if kind == "jsonl object":
        rows[4]["id"] = {"a": 1}
        return write_records(rows, tmp_path / "ids.jsonl"), "line 5", "not an object {'a': 1}"
    if kind == "jsonl list":
        rows[4]["id"] = ["r1", "r2"]
        return write_records(rows, tmp_path / "ids.jsonl"), "line 5", "not a list ['r1', 'r2']"
    if kind == "parquet struct":
        for i, row in enumerate(rows):
            row["id"] = {"n": i}
        return write_records(rows, tmp_path / "ids.parquet"), "row 1", "not an object {'n': 0}"
    rows[4]["id"] = ["r1"]  # CSV: the writer turns it into JSON text in the cell
    return write_records(rows, tmp_path / "ids.csv"), "line 6", "not text holding a list in JSON '[\"r1\"]'"


@pytest.mark.parametrize("kind", ["jsonl object", "jsonl list", "parquet struct", "csv json cell"])
def test_finding7_unhashable_id(sqlite_platform: Platform, tmp_path: Path, before, kind: str) -> None:
    path, where, expected = _unhashable(tmp_path, kind)
    result = register(sqlite_platform, path)
    assert_refused(sqlite_platform, result, path.name, where, "id must be text or an integer", expected)
    assert_nothing_written_but_one_audit(sqlite_platform, before)


@pytest.mark.parametrize("kind", ["jsonl 100000 levels", "jsonl 40 levels", "csv cell"])
def test_finding7_deep_nesting(sqlite_platform: Platform, tmp_path: Path, before, kind: str) -> None:
    if kind == "csv cell":
        lines = csv_lines(tmp_path / "deep.csv")
        lines[2] = lines[2].replace("crm_export", '"' + "[" * 5000 + "]" * 5000 + '"')
        path = tmp_path / "deep.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        where = "line 3: field source"
    else:
        depth = 100_000 if "100000" in kind else 40
        lines = good_lines()
        lines[1] = with_field(lines[1], "[" * depth + "]" * depth)
        path = jsonl(tmp_path / "deep.jsonl", lines)
        where = "line 2"
    result = register(sqlite_platform, path)
    assert_refused(sqlite_platform, result, path.name, where, "nested more than 32 levels deep")
    assert_nothing_written_but_one_audit(sqlite_platform, before)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("jsonl value", "line 3: field content_or_payload is not valid UTF-8 (lone surrogate U+D800"),
        ("jsonl key", "line 3: field name '\\udfff' is not valid UTF-8 (lone surrogate U+DFFF"),
        ("jsonl nested NUL", "line 3: field metadata.topic contains a NUL character"),
        ("csv NUL", "line 3: field source contains a NUL character"),
        ("parquet NUL", "row 3: field source contains a NUL character"),
    ],
)
def test_finding7_surrogate_jsonl(sqlite_platform: Platform, tmp_path: Path, before, kind: str, expected: str) -> None:
    lines = good_lines()
    if kind == "jsonl value":
        lines[2] = lines[2].replace('"content_or_payload": "', '"content_or_payload": "\\ud800')
        path = jsonl(tmp_path / "text.jsonl", lines)
    elif kind == "jsonl key":
        lines[2] = with_field(lines[2], "1", "\\udfff")
        path = jsonl(tmp_path / "text.jsonl", lines)
    elif kind == "jsonl nested NUL":
        lines[2] = lines[2].replace('"topic": "', '"topic": "\\u0000')
        path = jsonl(tmp_path / "text.jsonl", lines)
    elif kind == "csv NUL":
        rows = records()
        rows[1]["source"] = "crm\x00export"
        path = write_records(rows, tmp_path / "text.csv")
    else:
        rows = records()
        rows[2]["source"] = "crm\x00export"
        path = write_records(rows, tmp_path / "text.parquet")
    result = register(sqlite_platform, path)
    assert_refused(sqlite_platform, result, path.name, expected)
    assert_nothing_written_but_one_audit(sqlite_platform, before)


def test_finding7_long_path_component(sqlite_platform: Platform, tmp_path: Path, before) -> None:
    path = tmp_path / ("d" * 300) / "data.jsonl"
    result = register(sqlite_platform, path)
    assert_refused(sqlite_platform, result, "data.jsonl", "a path component of 300 bytes", "255-byte limit")
    assert_nothing_written_but_one_audit(sqlite_platform, before)


def test_finding7_symlink_loop(sqlite_platform: Platform, tmp_path: Path, before) -> None:
    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    result = register(sqlite_platform, tmp_path / "a.jsonl")
    assert_refused(sqlite_platform, result, "a.jsonl", "symlink loop")
    assert_nothing_written_but_one_audit(sqlite_platform, before)


@pytest.mark.parametrize("kind", ["directory", "fifo", "missing"])
def test_finding7_not_a_regular_file(sqlite_platform: Platform, tmp_path: Path, before, kind: str) -> None:
    """A FIFO nobody writes to would block a reader for ever: it is refused without being read."""
    path = tmp_path / "thing.jsonl"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    started = time.monotonic()
    result = register(sqlite_platform, path)
    expected = {"directory": "is a directory", "fifo": "is a FIFO", "missing": "no such file"}[kind]
    assert_refused(sqlite_platform, result, "thing.jsonl", expected)
    assert time.monotonic() - started < 60
    assert_nothing_written_but_one_audit(sqlite_platform, before)


# -- finding 6 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_finding6_permission_before_parsing(sqlite_platform: Platform, tmp_path: Path, fmt: str) -> None:
    """A caller without version.create (403 / exit 3) or from another tenant (404 / exit 2
    not_found) is answered before the file is opened at all: the interpreter's audit hook sees
    no open of it, while the same command by a permitted user does open it."""
    path = write_records(sample_records(2000, seed=8), tmp_path / f"big.{fmt}")
    count = audit_count(sqlite_platform)

    denied = register(sqlite_platform, path, "quinn", watch=path)
    assert denied.returncode == 3, denied.stderr
    assert "permission denied" in denied.stderr and "version.create" in denied.stderr
    assert "WATCHED FILE OPENED" not in denied.stderr
    assert (last_audit(sqlite_platform).actor, last_audit(sqlite_platform).outcome) == ("quinn", "denied")

    hidden = register(sqlite_platform, path, "dan", watch=path, json_errors=True)
    assert hidden.returncode == 2, hidden.stderr
    assert json.loads(hidden.stderr.splitlines()[-1])["error"] == "not_found"
    assert "WATCHED FILE OPENED" not in hidden.stderr
    assert (last_audit(sqlite_platform).actor, last_audit(sqlite_platform).outcome) == ("dan", "denied")
    assert audit_count(sqlite_platform) == count + 2

    allowed = register(sqlite_platform, path, "lena", watch=path)
    assert allowed.returncode == 0, allowed.stderr
    assert "WATCHED FILE OPENED" in allowed.stderr  # the hook does see the reader open the file


def _corrupt_data_pages(path: Path) -> None:
    """Overwrite every data page, keeping the footer: reading any data would now fail."""
    raw = bytearray(path.read_bytes())
    footer = int.from_bytes(raw[-8:-4], "little")
    data_end = len(raw) - 8 - footer
    raw[4:data_end] = b"\xff" * (data_end - 4)
    path.write_bytes(bytes(raw))


def test_finding6_parquet_over_row_limit_refused_from_metadata(sqlite_platform: Platform, tmp_path: Path, before) -> None:
    """Over max_dataset_rows, decided from the Parquet footer alone: the data pages are garbage,
    so any attempt to read them would answer "not a readable Parquet file" instead."""
    rows = datasets.MAX_DATASET_ROWS + 1
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"id": pa.array(range(rows), pa.int64())}), path, compression="zstd")
    _corrupt_data_pages(path)
    assert pq.ParquetFile(path).metadata.num_rows == rows
    result = register(sqlite_platform, path, json_errors=True)
    error = json.loads(result.stderr.splitlines()[-1])
    assert error["error"] == "too_large"
    message = assert_refused(sqlite_platform, result, "many.parquet", f"{rows:,} (from the Parquet footer) rows")
    assert f"limit of {datasets.MAX_DATASET_ROWS:,} rows" in message and "DATAOPS_MAX_DATASET_ROWS" in message
    assert "not a readable Parquet" not in message
    assert_nothing_written_but_one_audit(sqlite_platform, before)


def test_a_reader_bug_is_still_audited(sqlite_platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: should a reader ever raise something unexpected, the attempt is audited
    as failed (error "internal") like a crash inside Platform.act, then the error propagates."""
    from dataops_platform.governance import versions

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("reader bug")

    monkeypatch.setattr(versions, "profile_file", broken)
    count = audit_count(sqlite_platform)
    with pytest.raises(RuntimeError, match="reader bug"):
        versions.register_version(sqlite_platform, "lena", PROJECT, write_records(records(), tmp_path / "ok.jsonl"))
    assert audit_count(sqlite_platform) == count + 1
    record = last_audit(sqlite_platform)
    assert (record.actor, record.outcome, json.loads(record.details)["error"]) == ("lena", "failed", "internal")
