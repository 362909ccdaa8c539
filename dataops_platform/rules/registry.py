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

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dataops_platform.artifacts.columns import Projection
from dataops_platform.artifacts.files import PARSED, Artifacts, same_version, version_of

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
        def judge(artifacts: Any) -> RuleResult:
            try:
                checked, violations, *rest = fn(artifacts)
            except (KeyError, TypeError, ValueError) as exc:  # an input artifact is missing or malformed
                problems = getattr(artifacts, "problems", {})
                detail = f"; {'; '.join(problems.values())}" if problems else ""
                return RuleResult(fn.__name__, False, 0, [f"{CANNOT_EVALUATE}: input {exc!r} missing or malformed{detail}"])
            findings = list(rest[0]) if rest else []
            return RuleResult(fn.__name__, not violations and not findings, checked, list(violations), findings)

        def run(artifacts: Any) -> RuleResult:
            return _remembered(fn.__name__, judge, artifacts)

        run.__name__ = fn.__name__
        RULES.append(Rule(number, fn.__name__, asset, description, run, reads))
        RULES.sort(key=lambda r: r.number)
        return run

    return register


# rule name -> (what stood for each artifact it read, by name: `files.version_of`; its result)
_results: dict[str, tuple[dict[str, Any], RuleResult]] = {}


class _Reading(Mapping):
    """The artifacts as one rule sees them, noting which it reads (and whether it looked at anything
    else: the problems, the list of names). Its attribute dict is the artifacts' own, so what a rule
    keeps on the artifacts between rules (`checks._objects`) is shared with the next rule. Reading
    a projection of an artifact (`projection`) reads that artifact; so does the root, for rule 11's
    cursor, which only says where a walk may start, never what it finds."""

    __slots__ = ("__dict__", "_inner", "exact", "projected", "read", "wider")

    def __init__(self, inner: Any, *, exact: bool = False) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "read", {})
        object.__setattr__(self, "wider", False)
        object.__setattr__(self, "exact", exact)  # projections are the parsed records
        object.__setattr__(self, "projected", False)  # a projection was read
        self.__dict__ = inner.__dict__

    def _note(self, name: str) -> None:
        if name not in self.read:
            self.read[name] = version_of(self._inner, name)

    def __getitem__(self, name: str) -> Any:
        self._note(name)
        return self._inner[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def __contains__(self, name: object) -> bool:
        present = name in self._inner
        if isinstance(name, str):
            self._note(name)
        return present

    def projection(self, name: str, fields: Any = None) -> Any:
        self._note(name)
        if self.exact:
            parsed_once = getattr(self._inner, "parsed_once", None)
            return parsed_once(name, fields) if parsed_once is not None else self._inner[name]
        value = self._inner.projection(name, fields)
        if isinstance(value, Projection) or (isinstance(value, dict) and any(isinstance(v, Projection) for v in value.values())):
            object.__setattr__(self, "projected", True)  # a record list, or a JSON artifact's lists
        return value

    @property
    def root(self) -> Any:
        return self._inner.root

    def __iter__(self) -> Iterator[str]:
        object.__setattr__(self, "wider", True)
        return iter(self._inner)

    def __len__(self) -> int:
        object.__setattr__(self, "wider", True)
        return len(self._inner)

    def __getattr__(self, name: str) -> Any:  # `problems`, and anything else the artifacts offer
        object.__setattr__(self, "wider", True)
        return getattr(self._inner, name)


Artifacts.register(_Reading)  # what reads an `Artifacts` (the audit chain's cursor) reads the view the same way


def _remembered(name: str, judge: Callable[[Any], RuleResult], artifacts: Any) -> RuleResult:
    """`judge(artifacts)`, or the result it gave on the very same inputs earlier in this process.

    One run evaluates each content rule in its check, then again for the metrics, the report and
    the test report, each on its own `Artifacts`, whose parsed values the parse cache shares
    (`artifacts.files.PARSED`): a rule is judged again only when an artifact it read is not the
    same any more (`Artifacts.version`: the platform's own file unchanged, or the very same parsed
    value; artifacts are never changed in place). A plain dict, and an evaluation that looked at
    more than artifacts by name (rule 1 reads the problems), is judged every time."""
    if not isinstance(artifacts, Artifacts):
        return judge(artifacts)
    seen = _results.get(name)
    if seen is not None and all(same_version(version_of(artifacts, n), v) for n, v in seen[0].items()):
        return _copy(seen[1])
    _results.pop(name, None)  # the old inputs are not kept alive while these are judged
    view = _Reading(artifacts)
    result = judge(view)
    if result.violations and view.projected:
        # A violation is never reported on projections alone: judged again on the parsed records,
        # whose verdict stands (artifacts.columns). Findings are not: shown, never blocking, and
        # an organisation always has some.
        view = _Reading(artifacts, exact=True)
        result = judge(view)
    if not view.wider:
        _results[name] = (dict(view.read), result)
    return _copy(result)


def _copy(result: RuleResult) -> RuleResult:
    return replace(result, violations=list(result.violations), findings=list(result.findings))


PARSED.on_clear(_results.clear)


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
