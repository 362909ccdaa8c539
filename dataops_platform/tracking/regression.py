"""The regression policy: completed, regressed or failed is decided by the project's rule, never by hand (SPEC §5).

A NaN or infinite value of a metric the rule watches (the primary metric and every guard; every
metric when the project has no rule) is never `completed` and never a baseline: the run is
`failed`, its error naming the metric and the value, so it raises the usual run_failure alert and
the release gate blocks its version. MLflow's SQL stores keep +/-inf as +/-1.797e308 (the largest
float), so a value of that size is read as the infinity it stands for.

Which kind of regression (SPEC §5, docs/findings.md): a regressed run whose **training
configuration** equals its baseline's is a data regression (same model, worse on this data: it
blocks the version); one whose configuration differs is a model-candidate regression (a worse
model, not worse data: it blocks nothing). The training configuration is the project's
`config_params` when its regression rule names them; otherwise every param **both** runs logged,
except provenance params that say who or what logged the run rather than how it trains
(`PROVENANCE_PARAMS`, and names under the `dataops.` and `mlflow.` namespaces). A param only one
of the two runs logged (a git sha, a date, a path) is bookkeeping, not a different model: calling
it one would switch the gate off for a data regression, so the doubt goes to the blocking side.
Values compare as numbers when both read as numbers (`1`, `1.0` and `1e0` are one `C`), else as
trimmed text. A regression with no baseline to compare (a guard breached on a project's first
run) cannot be blamed on the model: it is a data regression.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from dataops_platform.spec.models import RegressionRule

DATA_REGRESSION, MODEL_CANDIDATE = "data", "model_candidate"  # Experiment.regression_kind
REGRESSION_KINDS = (DATA_REGRESSION, MODEL_CANDIDATE)
PROVENANCE_PARAMS = frozenset({"logged_by"})  # who logged a run is not how it trains
PROVENANCE_PREFIXES = ("dataops.", "mlflow.")


def training_config(params: dict[str, Any] | None, names: list[str] | None = None) -> dict[str, str]:
    """The params that make up a run's training configuration (all but provenance, or exactly `names`)."""
    return {
        str(k): str(v)
        for k, v in (params or {}).items()
        if (k in names if names is not None else k not in PROVENANCE_PARAMS and not str(k).startswith(PROVENANCE_PREFIXES))
    }


def _same_value(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    a, b = a.strip(), b.strip()
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    return x == y or (math.isnan(x) and math.isnan(y))


def _compared(
    params: dict[str, Any] | None, baseline_params: dict[str, Any] | None, rule: RegressionRule | None
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    names = rule.config_params if rule is not None else None
    mine, theirs = training_config(params, names), training_config(baseline_params, names)
    keys = sorted(set(mine) | set(theirs)) if names is not None else sorted(set(mine) & set(theirs))
    return mine, theirs, keys


def regression_kind(
    params: dict[str, Any] | None, baseline_params: dict[str, Any] | None, rule: RegressionRule | None = None
) -> str:
    """`data` when the run trains like its baseline (or there is no baseline), else `model_candidate`."""
    if baseline_params is None:
        return DATA_REGRESSION
    return MODEL_CANDIDATE if config_differences(params, baseline_params, rule) else DATA_REGRESSION


def config_differences(
    params: dict[str, Any] | None, baseline_params: dict[str, Any] | None, rule: RegressionRule | None = None
) -> list[str]:
    """`name: baseline -> run` for each configuration param that differs (for alert titles and tags)."""
    mine, theirs, keys = _compared(params, baseline_params, rule)
    return [f"{k}: {theirs.get(k, '-')} -> {mine.get(k, '-')}" for k in keys if not _same_value(mine.get(k), theirs.get(k))]


@dataclass(frozen=True)
class Verdict:
    status: str  # completed | regressed | failed
    deltas: dict[str, float]
    reasons: list[str]


def is_finite_number(value: Any) -> bool:
    """A real, finite number: not NaN, not +/-inf (nor MLflow's stand-in for it), not a bool or a text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and abs(value) < sys.float_info.max


def metric_text(value: float) -> str:
    """How a non-finite metric value is written where JSON must stay valid: NaN, Infinity, -Infinity."""
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def non_finite(metrics: dict[str, float], names: list[str] | None = None) -> dict[str, str]:
    """The non-finite values among `metrics` (only `names`, when given), as text."""
    watched = metrics if names is None else [n for n in names if n in metrics]
    return {name: metric_text(metrics[name]) for name in watched if not is_finite_number(metrics[name])}


def watched_metrics(rule: RegressionRule | None) -> list[str] | None:
    """The metrics whose value decides the verdict: the primary and the guards; all (None) without a rule."""
    return None if rule is None else [rule.primary_metric, *sorted(rule.guards)]


def judge(metrics: dict[str, float], baseline: dict[str, Any] | None, rule: RegressionRule | None) -> Verdict:
    """Compare a finished run against the baseline's metrics under the project's rule.

    Non-finite watched metric: failed (never completed, never compared). Primary metric:
    regressed when worse than the baseline by more than the tolerance. Guard metrics: regressed
    when outside their absolute bounds (no baseline needed). Only finite baseline values are
    compared, so a damaged baseline row can never produce a NaN delta.
    """
    bad = non_finite(metrics, watched_metrics(rule))
    if bad:
        return Verdict(
            "failed",
            {},
            [
                f"metric {name} = {text} is not a finite number: a run with a NaN or infinite "
                f"{'primary or guard ' if rule is not None else ''}metric is never completed"
                for name, text in sorted(bad.items())
            ],
        )
    if rule is None:
        return Verdict("completed", {}, [])
    base = {k: float(v) for k, v in (baseline or {}).items() if is_finite_number(v)}
    reasons: list[str] = []
    deltas: dict[str, float] = {}
    primary = rule.primary_metric
    if primary not in metrics:
        reasons.append(f"primary metric {primary!r} was not logged")
    elif primary in base:
        delta = round(metrics[primary] - base[primary], 6)
        deltas[primary] = delta
        worse = -delta if rule.direction == "higher_is_better" else delta
        if worse > rule.tolerance:
            reasons.append(
                f"{primary} {metrics[primary]:.4f} vs baseline {base[primary]:.4f} "
                f"(delta {delta:+.4f}, tolerance {rule.tolerance})"
            )
    for name, guard in sorted(rule.guards.items()):
        value = metrics.get(name)
        if value is None:
            continue
        if name in base:
            deltas[name] = round(value - base[name], 6)
        if guard.max is not None and value > guard.max:
            reasons.append(f"guard {name} {value:g} > max {guard.max:g}")
        if guard.min is not None and value < guard.min:
            reasons.append(f"guard {name} {value:g} < min {guard.min:g}")
    return Verdict("regressed" if reasons else "completed", deltas, reasons)
