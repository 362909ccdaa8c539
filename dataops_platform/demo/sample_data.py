"""Deterministic sample records with the fields SPEC §3 requires, written as JSONL, CSV or Parquet."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

TOPICS = ("contract", "refund", "privacy", "warranty", "liability", "delivery")


def sample_records(
    n: int,
    seed: int,
    *,
    source: str = "crm_export",
    label_noise: float = 0.0,
    splits: tuple[str, ...] = ("train", "test"),
    id_prefix: str = "r",
) -> list[dict[str, Any]]:
    """`n` records whose label follows from their text; `label_noise` flips that share of labels (a degraded version)."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        risky = rng.random() < 0.4
        text = f"{topic} question {i}: " + ("urgent escalation requested" if risky else "routine clarification")
        label = "high_risk" if risky else "normal"
        if rng.random() < label_noise:
            label = "normal" if risky else "high_risk"
        records.append(
            {
                "id": f"{id_prefix}{i:05d}",
                "source": source,
                "content_or_payload": text,
                "metadata": {"topic": topic, "length": len(text)},
                "quality_signals": {"language": "en", "pii_checked": True},
                "split_or_stage": splits[i % len(splits)],
                "audit_trace": {"ingested_by": "sample_data", "seed": seed},
                "label": label,
            }
        )
    return records


def write_records(records: list[dict[str, Any]], path: Path) -> Path:
    """Write records in the format named by the file suffix; nested fields become JSON text in CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    elif suffix == ".csv":
        fields = sorted({k for r in records for k in r})
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for r in records:
                writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        raise ValueError(f"unknown suffix {suffix!r}")
    return path
