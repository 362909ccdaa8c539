"""The one contract every data source backend passes (the model: Dagster's storage test suites).

Each backend subclass of `SourceContract` says how to lay one dataset out in its storage; the
tests are shared: one dataset gives one digest whatever the backend, format, row order or key
order; one changed value gives another; the pin identifies the data; a bad source is refused.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.errors import InvalidInput
from dataops_platform.governance.datasets import DIGEST_ALGORITHM, ReadLimits, profile_source
from dataops_platform.sources import DataSource, open_source

LIMITS = ReadLimits(max_rows=10_000, max_bytes=10**8)


def dataset(change: bool = False) -> list[dict]:
    records = sample_records(40, seed=31)
    if change:
        records[17]["content_or_payload"] += " (edited)"
    return records


class SourceContract:
    """Subclass per backend; `make(records, where)` returns the source text for open_source."""

    def make(self, records: list[dict], where: Path) -> str:
        raise NotImplementedError

    def open(self, text: str) -> DataSource:
        return open_source(text)

    def test_same_records_same_digest_as_jsonl(self, tmp_path: Path) -> None:
        reference = profile_source(open_source(str(write_records(dataset(), tmp_path / "ref.jsonl"))), LIMITS)
        profile = profile_source(self.open(self.make(dataset(), tmp_path / "backend")), LIMITS)
        assert profile.digest == reference.digest
        assert profile.digest_algorithm == DIGEST_ALGORITHM
        assert profile.row_count == 40
        assert profile.quality_signals == reference.quality_signals

    def test_row_order_and_key_order_do_not_matter(self, tmp_path: Path) -> None:
        shuffled = dataset()
        random.Random(5).shuffle(shuffled)
        shuffled = [dict(reversed(list(r.items()))) for r in shuffled]
        a = profile_source(self.open(self.make(dataset(), tmp_path / "a")), LIMITS)
        b = profile_source(self.open(self.make(shuffled, tmp_path / "b")), LIMITS)
        assert a.digest == b.digest

    def test_one_changed_value_changes_the_digest(self, tmp_path: Path) -> None:
        a = profile_source(self.open(self.make(dataset(), tmp_path / "a")), LIMITS)
        b = profile_source(self.open(self.make(dataset(change=True), tmp_path / "b")), LIMITS)
        assert a.digest != b.digest

    def test_pin_identifies_the_data(self, tmp_path: Path) -> None:
        text = self.make(dataset(), tmp_path / "a")
        source = self.open(text)
        pin = source.pin()
        assert pin["kind"] == source.kind
        json.dumps(pin)  # storable
        assert self.open(text).pin() == pin  # the same data named again: the same pin
        self.make(dataset(change=True), tmp_path / "a")
        assert self.open(text).pin() != pin  # rewritten: another pin

    def test_schema_has_types(self, tmp_path: Path) -> None:
        profile = profile_source(self.open(self.make(dataset(), tmp_path / "a")), LIMITS)
        assert set(profile.schema_types) >= {"id", "metadata", "split_or_stage"}
        assert profile.schema_types["metadata"] == "object"


class TestJsonlFile(SourceContract):
    def make(self, records: list[dict], where: Path) -> str:
        return str(write_records(records, where / "data.jsonl"))


class TestCsvFile(SourceContract):
    def make(self, records: list[dict], where: Path) -> str:
        return str(write_records(records, where / "data.csv"))


class TestParquetFile(SourceContract):
    def make(self, records: list[dict], where: Path) -> str:
        return str(write_records(records, where / "data.parquet"))


class TestFileUri(SourceContract):
    def make(self, records: list[dict], where: Path) -> str:
        return write_records(records, where / "data.parquet").resolve().as_uri()


class TestPartitionedParquetDirectory(SourceContract):
    def make(self, records: list[dict], where: Path) -> str:
        for split in ("train", "test"):
            part = [r for r in records if r["split_or_stage"] == split]
            (where / f"split={split}").mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(part), where / f"split={split}" / "part-0.parquet")
        (where / "_SUCCESS").write_text("")
        return str(where)


class TestJsonlGlob(SourceContract):
    def make(self, records: list[dict], where: Path) -> str:
        for i in range(3):
            write_records(records[i::3], where / f"part-{i}.jsonl")
        return str(where / "part-*.jsonl")


class TestS3Object(SourceContract):
    @pytest.fixture(autouse=True)
    def _server(self, s3_server) -> None:  # noqa: ANN001
        self.s3 = s3_server
        self.bucket_name = s3_server.bucket()

    def make(self, records: list[dict], where: Path) -> str:
        local = write_records(records, where / "data.parquet")
        key = f"{where.name}/data.parquet"
        self.s3.client.put_object(Bucket=self.bucket_name, Key=key, Body=local.read_bytes())
        return f"s3://{self.bucket_name}/{key}"

    def open(self, text: str) -> DataSource:
        return open_source(text, settings=self.s3.settings())


class TestS3PartitionedPrefix(TestS3Object):
    def make(self, records: list[dict], where: Path) -> str:
        for i in range(2):
            local = write_records(records[i::2], where / f"part-{i}.jsonl")
            self.s3.client.put_object(Bucket=self.bucket_name, Key=f"{where.name}/part-{i}.jsonl", Body=local.read_bytes())
        return f"s3://{self.bucket_name}/{where.name}/"


class TestDeltaTable(SourceContract):
    """Written with deltalake in two commits: the latest table version holds all the rows."""

    def make(self, records: list[dict], where: Path) -> str:
        from deltalake import write_deltalake

        table = pa.Table.from_pylist(records)
        write_deltalake(str(where), table.slice(0, 25), mode="overwrite")
        write_deltalake(str(where), table.slice(25), mode="append")
        return f"delta:{where}"


class TestDeltaDirectoryRecognised(TestDeltaTable):
    def make(self, records: list[dict], where: Path) -> str:
        return super().make(records, where)[len("delta:") :]


class TestIcebergTable(SourceContract):
    """A real Iceberg table through pyiceberg's SQL catalog on SQLite."""

    @pytest.fixture(autouse=True)
    def _catalog(self, tmp_path: Path) -> None:
        from types import SimpleNamespace

        (tmp_path / "warehouse").mkdir()
        self.settings = SimpleNamespace(
            iceberg_catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}", iceberg_warehouse=(tmp_path / "warehouse").as_uri()
        )

    def make(self, records: list[dict], where: Path) -> str:
        from dataops_platform.sources.iceberg import catalog

        cat = catalog(self.settings, "test")
        cat.create_namespace_if_not_exists("legal")
        name = f"legal.t_{where.name}"
        table = pa.Table.from_pylist(records)
        if cat.table_exists(name):
            cat.drop_table(name)
        iceberg = cat.create_table(name, schema=table.schema)
        iceberg.append(table.slice(0, 25))
        iceberg.append(table.slice(25))
        return f"iceberg:{name}"

    def open(self, text: str) -> DataSource:
        return open_source(text, settings=self.settings)

    def test_pin_identifies_the_data(self, tmp_path: Path) -> None:
        text = self.make(dataset(), tmp_path / "a")
        pin = self.open(text).pin()
        assert pin["kind"] == "iceberg" and isinstance(pin["snapshot_id"], int)
        assert self.open(text).pin() == pin
        older = self.open(f"{text}@{pin['snapshot_id']}")
        assert older.pin() == pin


# -- bad sources, the same rules for every backend ------------------------------------------------
def test_a_glob_matching_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="the glob matches no JSONL, CSV or Parquet file"):
        open_source(str(tmp_path / "nothing-*.parquet"))


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="is a directory holding no JSONL, CSV or Parquet file"):
        open_source(str(tmp_path / "empty"))


def test_clashing_schemas_across_files_are_refused_naming_the_column(tmp_path: Path) -> None:
    records = dataset()
    pq.write_table(pa.Table.from_pylist(records[:20]), tmp_path / "a.parquet")
    retyped = [r | {"label": 1} for r in records[20:]]
    pq.write_table(pa.Table.from_pylist(retyped), tmp_path / "b.parquet")
    with pytest.raises(InvalidInput) as err:
        profile_source(open_source(str(tmp_path)), LIMITS)
    assert (
        "b.parquet has a schema that clashes" in err.value.message
        and "label is int64 here but string before" in err.value.message
    )


def test_mixed_formats_are_refused(tmp_path: Path) -> None:
    write_records(dataset()[:20], tmp_path / "a.jsonl")
    write_records(dataset()[20:], tmp_path / "b.csv")
    with pytest.raises(InvalidInput, match="mixes data formats"):
        open_source(str(tmp_path))


def test_rows_over_the_limit_across_files_are_refused(tmp_path: Path) -> None:
    from dataops_platform.errors import TooLarge

    for i in range(3):
        write_records(dataset()[i::3], tmp_path / f"p{i}.jsonl")
    with pytest.raises(TooLarge, match="over the limit of 30 rows"):
        profile_source(open_source(str(tmp_path)), ReadLimits(max_rows=30, max_bytes=10**8))


def test_an_unknown_delta_version_is_refused_naming_the_latest(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(tmp_path / "t"), pa.Table.from_pylist(dataset()))
    with pytest.raises(InvalidInput, match=r"table version 7 does not exist \(latest is 0\)"):
        open_source(f"delta:{tmp_path / 't'}@7")
    with pytest.raises(InvalidInput, match="is not a Delta table"):
        (tmp_path / "plain").mkdir()
        open_source(f"delta:{tmp_path / 'plain'}")


def test_a_delta_version_reads_that_version(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(tmp_path / "t"), pa.Table.from_pylist(dataset()[:20]))
    write_deltalake(str(tmp_path / "t"), pa.Table.from_pylist(dataset()[20:]), mode="append")
    first = open_source(f"delta:{tmp_path / 't'}@0")
    assert first.pin()["table_version"] == 0 and first.uri.endswith("@0")
    assert profile_source(first, LIMITS).row_count == 20
    assert profile_source(open_source(f"delta:{tmp_path / 't'}"), LIMITS).row_count == 40


def test_an_unknown_iceberg_snapshot_or_table_is_refused(tmp_path: Path) -> None:
    from types import SimpleNamespace

    settings = SimpleNamespace(iceberg_catalog_uri=f"sqlite:///{tmp_path / 'c.db'}", iceberg_warehouse=tmp_path.as_uri())
    suite = TestIcebergTable()
    suite.settings = settings
    text = suite.make(dataset(), tmp_path / "x")
    with pytest.raises(InvalidInput, match="snapshot 123 does not exist"):
        open_source(f"{text}@123", settings=settings)
    with pytest.raises(InvalidInput, match="no such Iceberg table"):
        open_source("iceberg:legal.nope", settings=settings)
    with pytest.raises(InvalidInput, match="no Iceberg catalog configured"):
        open_source(text, settings=SimpleNamespace())
