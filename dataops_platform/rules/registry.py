"""Rule results and the registry: name, guarded asset, severity and the one-line description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RuleResult:
    name: str
    passed: bool
    checked: int
    violations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.name, "passed": self.passed, "checked": self.checked, "violations": self.violations}


@dataclass(frozen=True)
class Rule:
    number: int
    name: str
    asset: str  # the asset whose check it is
    description: str
    fn: Callable[[Any], RuleResult]
    integrity: bool = True  # ERROR and blocking; hygiene rules only WARN
    reads: tuple[str, ...] = ()  # other assets whose artifacts it needs (check ordering)


RULES: list[Rule] = []


def rule(number: int, asset: str, description: str, *, integrity: bool = True, reads: tuple[str, ...] = ()):  # noqa: ANN201
    def register(fn: Callable[..., tuple[int, list[str]]]) -> Callable[..., RuleResult]:
        def run(artifacts: Any) -> RuleResult:
            try:
                checked, violations = fn(artifacts)
            except (KeyError, TypeError, ValueError) as exc:  # an input artifact is missing or malformed
                problems = getattr(artifacts, "problems", {})
                detail = f"; {'; '.join(problems.values())}" if problems else ""
                return RuleResult(fn.__name__, False, 0, [f"cannot evaluate: input {exc!r} missing or malformed{detail}"])
            return RuleResult(fn.__name__, not violations, checked, violations)

        run.__name__ = fn.__name__
        RULES.append(Rule(number, fn.__name__, asset, description, run, integrity, reads))
        RULES.sort(key=lambda r: r.number)
        return run

    return register


def evaluate(artifacts: Any, numbers: set[int] | None = None) -> list[RuleResult]:
    from dataops_platform.rules import checks  # noqa: F401 - registers the rules

    return [r.fn(artifacts) for r in RULES if numbers is None or r.number in numbers]
