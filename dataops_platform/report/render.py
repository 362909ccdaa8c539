"""Render p8_report.md / p8_report.pdf and p8_test_results.json / p8_test_report.md.

The report quotes the metrics table verbatim from p8_metrics.json (rule 13 reads it back); the
PDF is drawn with matplotlib, no external binary. `render_report` and `render_test_report` are the
entry points the assets use; data.py gathers the figures, markdown.py and pdf.py (with charts.py)
draw the same figures twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dataops_platform.artifacts.files import ARTIFACT_FILES, MISSING, TEST_REPORT_OUTPUTS, Artifacts, version_of
from dataops_platform.metrics import CONTENT_RULES, content_rule_results
from dataops_platform.report.data import CheckRow, gather, organisation_name
from dataops_platform.report.markdown import checks_table, kpi_section, report_markdown
from dataops_platform.rules import RULES, RuleResult

# Written by the report asset itself (in memory while its own rules run) or after it.
REPORT_OUTPUTS = ("report_md", "report_pdf")


class ReportView(Mapping):
    """The artifacts as the report's own evaluation of rules 1 and 13 sees them.

    Rule 13 reads the report's KPI table: the view holds the one this report is writing (the only
    rows rule 13 quotes), not the previous report on disk. Rule 1 covers the artifacts written
    before the report; the report and the test report are written after, and test_report checks
    them. An overlay on `a` (nothing is copied or parsed to make it), standing for the same artifacts
    wherever results are remembered (`Artifacts.version`), so the content rules are evaluated once
    on it and on `a`."""

    def __init__(self, a: Any, kpi_markdown: str) -> None:
        self._base = a
        self._over: dict[str, Any] = {"report_md": kpi_markdown}
        self._hidden = frozenset({"report_pdf"})
        self.root = getattr(a, "root", None)
        self.not_yet_written = (*REPORT_OUTPUTS, *TEST_REPORT_OUTPUTS)
        self._problems: dict[str, str] | None = None

    @property
    def problems(self) -> dict[str, str]:
        """The artifacts' problems, asked when a rule needs them (rule 1 runs after the rules that
        read projections, which tell which files parse without parsing them again)."""
        if self._problems is None:
            problems = getattr(self._base, "problems", None)
            a = self._base
            self._problems = dict(problems) if problems is not None else {n: f"{n} missing" for n in ARTIFACT_FILES if n not in a}
        return self._problems

    def __getitem__(self, name: str) -> Any:
        if name in self._over:
            return self._over[name]
        if name in self._hidden:
            raise KeyError(name)
        return self._base[name]

    def __contains__(self, name: object) -> bool:
        return name in self._over or (name not in self._hidden and name in self._base)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def names(self) -> list[str]:
        """The artifacts present, without parsing any (`Artifacts.names`)."""
        names_of = getattr(self._base, "names", None)
        base = names_of() if names_of is not None else list(self._base)
        return [n for n in base if n not in self._hidden and n not in self._over] + list(self._over)

    def version(self, name: str) -> Any:
        if name in self._over:
            return self._over[name]
        if name in self._hidden:
            return MISSING
        return version_of(self._base, name)

    def parsed_once(self, name: str, fields: Any = None) -> Any:
        getter = getattr(self._base, "parsed_once", None)
        if getter is None or name in self._over or name in self._hidden:
            return self[name]
        return getter(name, fields)

    def projection(self, name: str, fields: Any = None) -> Any:
        getter = getattr(self._base, "projection", None)
        if getter is None or name in self._over or name in self._hidden:
            return self[name]
        return getter(name, fields)


Artifacts.register(ReportView)  # remembered like the artifacts it overlays (rule results, objects, rule 11's cursor)


def _scope(number: int, result: RuleResult) -> str:
    if number == 1:
        return f"the {result.checked} artifacts written before this report"
    if number == 13:
        return "p8_metrics.json vs this report's KPI table"
    return "the artifacts"


def evaluate_checks(view: ReportView) -> list[CheckRow]:
    """The 13 rules on the view: rules 2-12 once (shared with the metrics rule 13 recomputes)."""
    content = {r.name: r for r in content_rule_results(view)}
    rows = []
    for rule in RULES:
        result = content[rule.name] if rule.number in CONTENT_RULES else rule.fn(view)
        rows.append(
            CheckRow(
                number=rule.number,
                name=rule.name,
                asset=rule.asset,
                description=rule.description,
                passed=result.passed,
                checked=result.checked,
                violations=result.violations,
                scope=_scope(rule.number, result),
                findings=result.findings,
            )
        )
    return rows


def render_report(a: Any) -> tuple[str, bytes]:
    """(p8_report.md, p8_report.pdf) from the artifacts `a`; both show the same figures."""
    from dataops_platform.report.pdf import report_pdf

    view = ReportView(a, kpi_section(a["platform_metrics"]))
    data = gather(view, evaluate_checks(view))
    return report_markdown(data), report_pdf(data)


def render_test_report(a: Any) -> tuple[dict[str, Any], str]:
    # evaluate(a), with rules 2-12 evaluated once: rule 13 recomputes the metrics, which need them too.
    content = {r.name: r for r in content_rule_results(a)}
    results = [content[rule.name] if rule.number in CONTENT_RULES else rule.fn(a) for rule in RULES]
    passed = sum(r.passed for r in results)
    payload = {
        "total": len(results),
        "passed": passed,
        "failed": len(results) - passed,
        "results": [r.as_dict() for r in results],
    }
    rows = [
        CheckRow(rule.number, r.name, rule.asset, rule.description, r.passed, r.checked, r.violations, "", r.findings)
        for rule, r in zip(RULES, results, strict=True)
    ]
    held = sum(r.integrity_ok for r in results)
    with_findings = sum(bool(r.findings) for r in results)
    name = organisation_name(a)
    title = f"{name} test report" if name else "DataOps platform test report"
    summary = f"{passed}/{len(results)} consistency rules pass; integrity holds on {held}/{len(results)}"
    summary += f", {with_findings} with governance findings" if with_findings else ""
    markdown = f"# {title}\n\n{summary}.\n\n{checks_table(rows, with_scope=False)}\n"
    return payload, markdown
