"""Peak memory bounded: a dataset whose rows, held as Python objects, would need several times the
address space the registering process is allowed (RLIMIT_AS) registers within that limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROWS = 3_000_000  # about 2 KB a row as Python dicts: some 6 GB the old reader would have held
LIMIT = 2 * 1024**3  # address space of the registering process

REGISTER = r"""
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]), int(sys.argv[3])))
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import register_version
from dataops_platform.settings import Settings
platform = Platform(Settings(home=Path(sys.argv[1]), max_dataset_rows=10_000_000, max_dataset_bytes=1 << 40))
v = register_version(platform, "lena", "p02_legal_sft", sys.argv[2])
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(json.dumps({"rows": v.row_count, "digest": v.content_digest, "peak_rss_kib": int(hwm)}))
"""


def write_big(path: Path) -> None:
    writer = None
    for start in range(0, ROWS, 500_000):
        idx = np.arange(start, start + 500_000)
        text = pc.binary_join_element_wise("question ", pa.array(idx).cast(pa.string()), ": routine clarification", "")
        n = len(idx)
        table = pa.table(
            {
                "id": pc.binary_join_element_wise("r", pa.array(idx).cast(pa.string()), ""),
                "source": pa.array(["crm_export"] * n),
                "content_or_payload": text,
                "metadata": pa.StructArray.from_arrays([pa.array(["refund"] * n), pc.utf8_length(text)], ["topic", "length"]),
                "quality_signals": pa.StructArray.from_arrays(
                    [pa.array(["en"] * n), pa.array([True] * n)], ["language", "pii_checked"]
                ),
                "split_or_stage": pa.array(np.where(idx % 5 == 0, "test", "train")),
                "audit_trace": pa.StructArray.from_arrays([pa.array(["test"] * n)], ["ingested_by"]),
                "label": pa.array(np.where(idx % 3 == 0, "high_risk", "normal")),
            }
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def test_register_more_data_than_the_process_may_hold(sqlite_platform, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "big.parquet"
    write_big(path)
    result = subprocess.run(
        [sys.executable, "-c", REGISTER, str(sqlite_platform.settings.home_dir), str(path), str(LIMIT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["rows"] == ROWS
    assert out["peak_rss_kib"] * 1024 < LIMIT
