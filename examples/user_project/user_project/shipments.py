"""Synthetic shipments: the records the team's transport system would export.

Each record has the fields the platform's quality gate reads (id, source, content_or_payload,
metadata, quality_signals, split_or_stage, audit_trace) plus a `label` (late / on_time) that
follows from the shipment's features. `label_noise` flips that share of labels: the "degraded"
export a broken upstream join would give (it passes the quality gate: only training notices).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

CARRIERS = {"nordlys": 0.0, "havfrue": 0.8, "tindra": 1.6}
FEATURES = ("distance_km", "weight_kg", "evening_pickup", "carrier_risk")


def shipment_records(rows: int, seed: int, label_noise: float = 0.0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records = []
    for i in range(rows):
        carrier = rng.choice(sorted(CARRIERS))
        features = {
            "distance_km": round(rng.uniform(5, 600), 1),
            "weight_kg": round(rng.uniform(0.2, 40), 2),
            "evening_pickup": int(rng.random() < 0.3),
            "carrier_risk": CARRIERS[carrier],
        }
        score = (
            0.008 * features["distance_km"] + 0.05 * features["weight_kg"] + 1.2 * features["evening_pickup"]
            + features["carrier_risk"] - 3.4 + rng.gauss(0, 0.35)
        )  # fmt: skip
        late = score > 0
        if rng.random() < label_noise:
            late = not late
        ident = f"shp{seed:03d}{i:05d}"
        records.append(
            {
                "id": ident,
                "source": "fjord_tms_export",
                "content_or_payload": f"shipment {ident} by {carrier}: {features['distance_km']} km, {features['weight_kg']} kg",
                "metadata": {"carrier": carrier, "features": features},
                "quality_signals": {"geocoded": True, "weight_checked": True},
                "split_or_stage": "test" if i % 4 == 0 else "train",
                "audit_trace": {"exported_by": "tms-nightly", "seed": seed},
                "label": "late" if late else "on_time",
            }
        )
    return records


def write_jsonl(records: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
