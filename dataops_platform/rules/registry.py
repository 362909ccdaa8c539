"""Rule results and the registry: name, guarded asset and the one-line description.

A rule reports two kinds of problems (issue 15):
- **violations**: the platform's records are inconsistent (integrity). ERROR, blocking: the
  downstream assets are not built on records that contradict each other.
- **findings**: the records are consistent but the organisation has something to act on (a
  regression found on the current release, an open alert past its SLA, a review still missing).
  WARN, never blocking: the SLA report, audit log, metrics and report are still built, and the
  finding is shown there (and kept as an alert where the spec says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PASSED, FINDING, FAILED = "passed", "finding", "failed"
CANNOT_EVALUATE = "cannot evaluate"  # how the violation of a rule whose input is missing or malformed starts


@dataclass
class RuleResult:
    name: str
    passed: bool  # no violation and no finding
    checked: int
    violations: list[str] = field(default_factory=list)  # integrity: blocking
    findings: list[str] = field(default_factory=list)  # governance findings: shown, never blocking

    @property
    def status(self) -> str:
        return FAILED if self.violations else FINDING if self.findings else PASSED

    @property
    def integrity_ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            "passed": self.passed,
            "status": self.status,
            "checked": self.checked,
            "violations": self.violations,
            "findings": self.findings,
        }


@dataclass(frozen=True)
class Rule:
    number: int
    name: str
    asset: str  # the asset whose check it is
    description: str
    fn: Callable[[Any], RuleResult]
    reads: tuple[str, ...] = ()  # other assets whose artifacts it needs (check ordering)


RULES: list[Rule] = []


def rule(number: int, asset: str, description: str, *, reads: tuple[str, ...] = ()):  # noqa: ANN201
    """Register a rule function returning (checked, violations) or (checked, violations, findings)."""

    def register(fn: Callable[..., tuple]) -> Callable[..., RuleResult]:
        def run(artifacts: Any) -> RuleResult:
            try:
                checked, violations, *rest = fn(artifacts)
            except (KeyError, TypeError, ValueError) as exc:  # an input artifact is missing or malformed
                problems = getattr(artifacts, "problems", {})
                detail = f"; {'; '.join(problems.values())}" if problems else ""
                return RuleResult(fn.__name__, False, 0, [f"{CANNOT_EVALUATE}: input {exc!r} missing or malformed{detail}"])
            findings = list(rest[0]) if rest else []
            return RuleResult(fn.__name__, not violations and not findings, checked, list(violations), findings)

        run.__name__ = fn.__name__
        RULES.append(Rule(number, fn.__name__, asset, description, run, reads))
        RULES.sort(key=lambda r: r.number)
        return run

    return register


def evaluate(artifacts: Any, numbers: set[int] | None = None) -> list[RuleResult]:
    """The registered rules (all 13: importing this package registers them) on `artifacts`."""
    return [r.fn(artifacts) for r in RULES if numbers is None or r.number in numbers]


@dataclass(frozen=True)
class MetricsSource:
    """What rule 13 needs from the layer above: the metrics recomputed from the artifacts, and the
    metrics a report quotes. The metrics count the other rules' results, so they are computed
    above the rules; `dataops_platform.metrics` provides itself here when it is imported, and the
    rules never import it (imports flow one way: metrics -> rules)."""

    compute: Callable[[Any], dict[str, Any]]
    quoted: Callable[[str], dict[str, str]]


_metrics: list[MetricsSource] = []


def provide_metrics(source: MetricsSource) -> None:
    _metrics[:] = [source]


def metrics_source() -> MetricsSource | None:
    return _metrics[0] if _metrics else None
