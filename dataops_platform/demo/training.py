"""Real training for the reference scenario: a text classifier on a dataset version, logged to MLflow.

The label follows from the text, so clean data trains a near-perfect model and a version with
flipped labels genuinely scores worse; an invalid hyper-parameter makes scikit-learn raise.
"""

from __future__ import annotations

import time
from typing import Any

from dataops_platform.governance.datasets import version_records
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import show_version
from dataops_platform.tracking.client import Tracking, VersionRef

POSITIVE = "high_risk"


def train_and_evaluate(records: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, precision_score, recall_score

    train = [r for r in records if r["split_or_stage"] == "train"]
    test = [r for r in records if r["split_or_stage"] == "test"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2))
    x_train = vectorizer.fit_transform([r["content_or_payload"] for r in train])
    model = LogisticRegression(C=float(params["C"]), max_iter=int(params.get("max_iter", 200)), random_state=0)
    model.fit(x_train, [r["label"] for r in train])
    x_test = vectorizer.transform([r["content_or_payload"] for r in test])
    started = time.perf_counter()
    predicted = model.predict(x_test)
    latency_ms = (time.perf_counter() - started) * 1000 * 1000 / max(len(test), 1)  # per 1,000 records
    truth = [r["label"] for r in test]
    return {
        "f1": round(float(f1_score(truth, predicted, pos_label=POSITIVE)), 4),
        "precision": round(float(precision_score(truth, predicted, pos_label=POSITIVE, zero_division=0)), 4),
        "recall": round(float(recall_score(truth, predicted, pos_label=POSITIVE)), 4),
        "latency_ms": round(latency_ms, 3),
    }


def run_experiment(
    platform: Platform,
    tracking: Tracking,
    actor: str,
    version_id: str,
    params: dict[str, Any],
    run_name: str,
) -> str:
    """Train on a version as `actor` (who must be able to read it) inside a tracked MLflow run.

    The run's MLflow user is `actor`, so the sync records it as that user, who must hold
    experiment.log in the project (SPEC §9). Returns the run id. A training error marks the run
    FAILED and propagates.
    """
    version, _ = show_version(platform, actor, version_id)
    location = version.source_uri or (platform.settings.data_dir / version.data_location).as_uri()
    ref = VersionRef(version.version_id, version.content_digest, location, version.row_count)
    records = list(version_records(version, platform.settings))  # from where the data lives (small data)
    with tracking.run(version.project_id, ref, params | {"logged_by": actor}, run_name, user=actor) as run:
        run.log_metrics(train_and_evaluate(records, params))
    return run.run_id
