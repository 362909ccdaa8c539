"""The regression policy: completed or regressed is decided by the project's rule, never by hand (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass

from dataops_platform.spec.models import RegressionRule


@dataclass(frozen=True)
class Verdict:
    status: str  # completed | regressed
    deltas: dict[str, float]
    reasons: list[str]


def judge(metrics: dict[str, float], baseline: dict[str, float] | None, rule: RegressionRule | None) -> Verdict:
    """Compare a finished run against the baseline's metrics under the project's rule.

    Primary metric: regressed when worse than the baseline by more than the tolerance.
    Guard metrics: regressed when outside their absolute bounds (no baseline needed).
    """
    if rule is None:
        return Verdict("completed", {}, [])
    reasons: list[str] = []
    deltas: dict[str, float] = {}
    primary = rule.primary_metric
    if primary not in metrics:
        reasons.append(f"primary metric {primary!r} was not logged")
    elif baseline is not None and primary in baseline:
        delta = round(metrics[primary] - baseline[primary], 6)
        deltas[primary] = delta
        worse = -delta if rule.direction == "higher_is_better" else delta
        if worse > rule.tolerance:
            reasons.append(
                f"{primary} {metrics[primary]:.4f} vs baseline {baseline[primary]:.4f} "
                f"(delta {delta:+.4f}, tolerance {rule.tolerance})"
            )
    for name, guard in sorted(rule.guards.items()):
        value = metrics.get(name)
        if value is None:
            continue
        if baseline is not None and name in baseline:
            deltas[name] = round(value - baseline[name], 6)
        if guard.max is not None and value > guard.max:
            reasons.append(f"guard {name} {value:g} > max {guard.max:g}")
        if guard.min is not None and value < guard.min:
            reasons.append(f"guard {name} {value:g} < min {guard.min:g}")
    return Verdict("regressed" if reasons else "completed", deltas, reasons)
