"""SQLite JSON columns are read with `store.engine.loads_column`: the same value as `json.loads`,
or the same error, whatever the stored text (a row written by hand included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from dataops_platform.store.engine import loads_column, make_engine

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _outcome(loads, document: str) -> tuple:  # noqa: ANN001
    try:
        return ("value", json.dumps(loads(document), allow_nan=True))  # NaN compares by its text
    except ValueError as exc:
        return ("error", type(exc).__name__, str(exc))


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.sampled_from(["", " ", "\n", "\t "]), st.sampled_from(["", " ", "\n", "x", "1", "]"]))
def test_documents_with_space_and_junk_around(value, before: str, after: str) -> None:  # noqa: ANN001
    document = before + json.dumps(value) + after
    assert _outcome(loads_column, document) == _outcome(json.loads, document)


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_any_text(document: str) -> None:
    assert _outcome(loads_column, document) == _outcome(json.loads, document)


@pytest.mark.parametrize("stored", ['{"rows": 3}', ' {"rows": 3} ', '{"rows": NaN}', "[1, 2", "not json", '{"a": 1}{"b": 2}'])
def test_a_sqlite_store_reads_its_json_columns_as_json_loads(tmp_path: Path, stored: str) -> None:
    from sqlalchemy import JSON, Column, Integer, MetaData, Table, select

    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("doc", JSON))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (id, doc) VALUES (1, :doc)"), {"doc": stored})
    with engine.connect() as conn:
        assert _outcome(lambda _: conn.execute(select(table.c.doc)).scalar_one(), stored) == _outcome(json.loads, stored)
    engine.dispose()
