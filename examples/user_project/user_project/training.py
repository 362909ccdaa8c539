"""The team's model: a logistic regression on the shipment features, scored by F1 on `late`."""

from __future__ import annotations

from typing import Any

from user_project.shipments import FEATURES

PARAMS = {"C": 1.0, "max_iter": 300}  # the training configuration: the same in every run, so a worse score is the data's


def train_and_score(records: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """(metrics, params): fit on the train split, score on the test split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    def split(name: str) -> tuple[list[list[float]], list[int]]:
        rows = [r for r in records if r["split_or_stage"] == name]
        return [[float(r["metadata"]["features"][f]) for f in FEATURES] for r in rows], [int(r["label"] == "late") for r in rows]

    x_train, y_train = split("train")
    x_test, y_test = split("test")
    model = LogisticRegression(C=PARAMS["C"], max_iter=PARAMS["max_iter"]).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "f1": round(float(f1_score(y_test, predicted)), 4),
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
    }
    return metrics, dict(PARAMS)
