"""Cost of registering and diffing dataset versions at scale (issue 13), beside ceilings measured in the same run.

Generates sample-shaped records (the SPEC §3 fields, nested metadata / quality_signals / audit_trace,
split and label, and float columns as real data has: a top-level `score` and `metadata.mean_radius`)
vectorised with pyarrow, writes them as Parquet (and CSV / JSONL for the first size), then, each in a
fresh subprocess so peak RSS (VmHWM) is that step's own:

  register     `versions.register_version` in a fresh SQLite home (permission, streaming profile,
               digest, pin, version row) -- the real path
  diff         `versions.diff_versions` of two registered versions (V2 = V1 with 1% removed,
               1% changed, 1% added)
  legacy       today's path before issue 13, at the first size: the row-by-row v0 digest
               (`datasets.legacy_digest`: every record checked and canonicalised as Python objects)
  sha256       sha256 of the file's bytes (what DVC does)
  pyarrow      a full `pyarrow.parquet.read_table` (Parquet only)
  count        a DuckDB `count(*)` scan when DuckDB is importable (it is not a dependency: put it on
               PYTHONPATH to get this ceiling), else a pyarrow dataset `count_rows()`

Goals: 10M Parquet rows registered in <= 15 s at <= 1 GiB peak RSS and <= 5x the pyarrow-read ceiling;
a diff of two 10M-row versions in <= 30 s. The summary marks each MET / NOT MET and prints the
ratios to the same-run ceilings (the machine may be shared: the ratios travel better than seconds).

    python bench/dataset_scale.py                       # 1M (Parquet, CSV, JSONL) and 10M Parquet, diff at 10M
    python bench/dataset_scale.py --sizes 100000 --diff-rows 100000 --formats parquet   # smoke run
    python bench/dataset_scale.py --sizes 10000000 --formats parquet --no-legacy         # the 10M case again
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "platform.yaml"


def generate(rows: int, path: Path, fmt: str, seed: int = 1, change: bool = False) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    chunk = 1_000_000
    topics = pa.array(["contract", "refund", "privacy", "warranty", "liability", "delivery"])
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        idx = np.arange(start, start + n)
        topic_codes, draws = rng.integers(0, 6, n), rng.random(n)  # drawn for every row, so V1 and V2 agree
        if change:  # V2: drop 1% (idx % 100 == 0), change 1% (idx % 100 == 1), add 1% new ids
            keep = idx % 100 != 0
            idx, topic_codes, draws = idx[keep], topic_codes[keep], draws[keep]
            n = len(idx)
        ids = pc.binary_join_element_wise("r", pa.array(idx).cast(pa.string()), "")
        topic = topics.take(pa.array(topic_codes))
        risky = draws < 0.4
        text = pc.binary_join_element_wise(
            topic,
            " question ",
            pa.array(idx).cast(pa.string()),
            ": ",
            pa.array(np.where(risky, "urgent escalation requested", "routine clarification")),
            "",
        )
        text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
        topic = topic.combine_chunks() if isinstance(topic, pa.ChunkedArray) else topic
        if change:
            text = pc.if_else(pa.array(idx % 100 == 1), pc.binary_join_element_wise(text, " (revised)", ""), text)
        table = pa.table(
            {
                "id": ids,
                "source": pa.array(["crm_export"] * n),
                "content_or_payload": text,
                "metadata": pa.StructArray.from_arrays(
                    [topic, pc.utf8_length(text), pa.array(6.98 + draws * 21.13)], ["topic", "length", "mean_radius"]
                ),
                "quality_signals": pa.StructArray.from_arrays(
                    [pa.array(["en"] * n), pa.array([True] * n)], ["language", "pii_checked"]
                ),
                "split_or_stage": pa.array(np.where(idx % 5 == 0, "test", "train")),
                "audit_trace": pa.StructArray.from_arrays(
                    [pa.array(["bench"] * n), pa.array([seed] * n)], ["ingested_by", "seed"]
                ),
                "label": pa.array(np.where(risky, "high_risk", "normal")),
                "score": pa.array(np.round(draws * 100, 2)),  # like 17.99: floats with a few decimals
            }
        )
        if change and start == 0:
            extra = max(1, rows // 100)
            new_ids = pc.binary_join_element_wise("new", pa.array(np.arange(extra)).cast(pa.string()), "")
            added = table.slice(0, extra).set_column(0, "id", new_ids)
            table = pa.concat_tables([table, added])
        if fmt == "parquet":
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        elif fmt == "jsonl":
            with path.open("a", encoding="utf-8") as fh:
                for batch in table.to_batches(100_000):
                    fh.write("".join(json.dumps(r) + "\n" for r in batch.to_pylist()))
        else:
            flat = table
            for name in ("metadata", "quality_signals", "audit_trace"):
                col = table[name].to_pylist()
                flat = flat.set_column(flat.schema.get_field_index(name), name, pa.array([json.dumps(v) for v in col]))
            options = pacsv.WriteOptions(include_header=start == 0)
            with path.open("ab") as fh:
                pacsv.write_csv(flat, fh, options)
    if writer:
        writer.close()


STEP = r"""
import hashlib, json, sys, time
from pathlib import Path
kind, arg1, arg2, home = sys.argv[1:5]
started = time.perf_counter()
out = {}
if kind == "sha256":
    h = hashlib.sha256()
    with open(arg1, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
elif kind == "pyarrow":
    import pyarrow.parquet as pq
    out["rows"] = pq.read_table(arg1).num_rows
elif kind == "count":
    try:
        import duckdb
    except ImportError:
        import pyarrow.dataset as ds
        out["rows"], out["engine"] = ds.dataset(arg1).count_rows(), "pyarrow"
    else:
        out["rows"] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{arg1}')").fetchall()[0][0]
        out["engine"] = f"duckdb {duckdb.__version__}"
elif kind == "legacy":
    from dataops_platform.governance.datasets import ReadLimits, legacy_digest
    from dataops_platform.sources import open_source
    out["digest_v0"] = legacy_digest(open_source(arg1), ReadLimits(100_000_000, 1 << 40))[:12]
else:
    from dataops_platform.governance.platform import Platform
    from dataops_platform.governance.versions import register_version, diff_versions
    from dataops_platform.settings import Settings
    settings = Settings(home=Path(home), max_dataset_rows=100_000_000, max_dataset_bytes=1 << 40)
    platform = Platform(settings)
    if kind == "register":
        v = register_version(platform, "lena", "p02_legal_sft", arg1)
        out = {"rows": v.row_count, "version": v.version_id, "digest": v.content_digest[:12]}
    else:
        d = diff_versions(platform, "lena", arg1, arg2)
        out = {k: d[k] for k in ("rows_added", "rows_removed", "rows_changed")}
out["seconds"] = round(time.perf_counter() - started, 2)
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak.
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
out["peak_rss_mib"] = round(int(hwm) / 1024)
print(json.dumps(out))
"""


def step(kind: str, a: str, b: str = "", home: str = "") -> dict:
    result = subprocess.run([sys.executable, "-c", STEP, kind, a, b, home], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def fresh_home(base: Path, name: str) -> str:
    home = base / name
    shutil.rmtree(home, ignore_errors=True)
    for args in (["init", "--admin", "alice"], ["spec", "apply", str(SPEC)]):
        subprocess.run([sys.executable, "-m", "dataops_platform.cli.app", "--home", str(home), "--as", "alice", *args],
                       check=True, capture_output=True, cwd=ROOT)  # fmt: skip
    return str(home)


GIB = 1024


def summary(rows_out: list[dict]) -> list[str]:
    """Each register / diff figure beside its same-run ceilings, and the issue's goals MET / NOT MET."""
    out = []
    by = {}
    for r in rows_out:
        by.setdefault((r["rows"], r["format"], r["step"]), []).append(r)
    for (rows, fmt, kind), runs in sorted(by.items()):
        if kind not in ("register", "diff") or any("seconds" not in r for r in runs):
            continue
        ceilings = {c: by.get((rows, fmt, c), [{}])[0].get("seconds") for c in ("sha256", "pyarrow", "count")}
        legacy = by.get((rows, fmt, "legacy"), [{}])[0].get("seconds")
        for r in runs:
            ratios = ", ".join(f"{r['seconds'] / v:.1f}x {c}" for c, v in ceilings.items() if v)
            line = f"{rows:>11,} {fmt:8} {kind:8} {r['seconds']:7.2f} s {r['peak_rss_mib']:6} MiB  ({ratios})"
            if legacy:
                legacy_rss = by[(rows, fmt, "legacy")][0]["peak_rss_mib"]
                line += f"  legacy {legacy:.1f} s / {legacy_rss} MiB = {legacy / r['seconds']:.1f}x slower"
            if rows == 10_000_000 and fmt == "parquet" and kind == "register":
                read = ceilings["pyarrow"]
                goals = [
                    ("<= 15 s", r["seconds"] <= 15),
                    ("<= 1 GiB", r["peak_rss_mib"] <= GIB),
                    ("<= 5x pyarrow read", bool(read) and r["seconds"] <= 5 * read),
                ]
                line += "  goals: " + ", ".join(f"{g} {'MET' if ok else 'NOT MET'}" for g, ok in goals)
            if rows == 10_000_000 and kind == "diff":
                line += f"  goal <= 30 s {'MET' if r['seconds'] <= 30 else 'NOT MET'}"
            out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--formats", default="parquet,csv,jsonl", help="formats at the first size; later sizes Parquet only")
    parser.add_argument("--diff-rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each register / diff at 10M rows and more")
    parser.add_argument("--no-legacy", action="store_true", help="skip the pre-issue-13 baseline")
    parser.add_argument("--workdir", default=None, help="keep (and reuse) the generated files here")
    args = parser.parse_args()
    base = Path(args.workdir or tempfile.mkdtemp(prefix="dataset_scale_"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"work directory {base}")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows_out = []

    def made(path: Path, rows: int, fmt: str, **kw: bool) -> None:
        if path.exists():
            return
        t = time.perf_counter()
        generate(rows, path, fmt, **kw)
        print(
            f"generated {rows:,} rows as {fmt} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.0f} s",
            flush=True,
        )

    for i, size in enumerate(sizes):
        repeat = args.repeat if size >= 10_000_000 else 1
        for fmt in args.formats.split(",") if i == 0 else ["parquet"]:
            path = base / f"data_{size}.{fmt}"
            made(path, size, fmt)
            measured = [("sha256", step("sha256", str(path)))]
            if fmt == "parquet":
                measured += [("pyarrow", step("pyarrow", str(path))), ("count", step("count", str(path)))]
            for _ in range(repeat):
                measured.append(("register", step("register", str(path), home=fresh_home(base, f"home_{size}_{fmt}_{_}"))))
            if i == 0 and not args.no_legacy:
                measured.append(("legacy", step("legacy", str(path))))
            for kind, m in measured:
                print(f"  {size:>11,} {fmt:8} {kind:9} {m}", flush=True)
                rows_out.append({"rows": size, "format": fmt, "step": kind, **m})
    if args.diff_rows:
        n = args.diff_rows
        v1, v2 = base / f"diff_v1_{n}.parquet", base / f"diff_v2_{n}.parquet"
        made(v1, n, "parquet")
        made(v2, n, "parquet", change=True)
        home = fresh_home(base, f"home_diff_{n}")
        a, b = step("register", str(v1), home=home), step("register", str(v2), home=home)
        print(f"  registered diff inputs: {a} {b}", flush=True)
        for _ in range(args.repeat if n >= 10_000_000 else 1):
            d = step("diff", a.get("version", ""), b.get("version", ""), home=home)
            print(f"  {n:>11,} parquet  diff      {d}   (expected +{n // 100} -{n // 100} ~{n // 100})", flush=True)
            rows_out.append({"rows": n, "format": "parquet", "step": "diff", **d})
    (base / "results.json").write_text(json.dumps(rows_out, indent=1))
    print("summary (seconds, peak RSS, ratio to the same-run ceilings):")
    for line in summary(rows_out):
        print("  " + line)
    driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"results in {base / 'results.json'}; peak RSS of this driver {driver} MiB")


if __name__ == "__main__":
    main()
