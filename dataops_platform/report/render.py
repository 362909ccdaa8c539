"""Render p8_report.md / p8_report.pdf and p8_test_results.json / p8_test_report.md.

The report quotes the metrics table verbatim from p8_metrics.json (rule 13 reads it back);
the PDF is drawn with matplotlib, no external binary.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from dataops_platform.metrics import CONTENT_RULES, P08_TABLE, content_rule_results, headline_table
from dataops_platform.rules import RULES


def _checks_markdown(results: list[Any]) -> str:
    lines = ["| # | rule | result | checked | violations |", "|---|---|---|---|---|"]
    numbers = {r.name: r.number for r in RULES}
    for r in results:
        lines.append(
            f"| {numbers[r.name]} | {r.name} | {'pass' if r.passed else 'FAIL'} | {r.checked} | {'; '.join(r.violations[:3])} |"
        )
    return "\n".join(lines)


def render_report(a: Any) -> tuple[str, bytes]:
    metrics = a["platform_metrics"]
    versions = a["dataset_versions"]
    per_project: dict[str, Counter] = {}
    for v in versions:
        per_project.setdefault(v["project_id"], Counter())[v["status"]] += 1
    content_rules = content_rule_results(a)  # rules 2-12
    markdown = (
        "\n\n".join(
            [
                "# P08 DataOps platform report",
                f"Generated from the artifacts at {metrics.get('generated_at', '')}.",
                "## Overview KPIs",
                headline_table(metrics),
                "## Versions by project",
                "\n".join(
                    f"- {p}: " + ", ".join(f"{n} {s}" for s, n in sorted(c.items())) for p, c in sorted(per_project.items())
                ),
                "## Rollbacks",
                "\n".join(
                    f"- {r['rollback_id']}: {r['project_id']} {r['from_version']} -> {r['to_version']} "
                    f"(trigger {r['trigger_ref']}, review {r['review_ref']})"
                    for r in a["rollback_events"]
                )
                or "none",
                "## Consistency rules 2-12 (rules 1 and 13 are in p8_test_report.md)",
                _checks_markdown(content_rules),
            ]
        )
        + "\n"
    )
    return markdown, _pdf(metrics, a)


def _pdf(metrics: dict[str, Any], a: Any) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": "P08 DataOps platform report", "CreationDate": None}) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.08, 0.95, "P08 DataOps platform report", fontsize=18, weight="bold")
        rows = [(k, str(metrics[k])) for k in P08_TABLE]
        table = fig.add_axes([0.08, 0.45, 0.84, 0.45])
        table.axis("off")
        table.table(cellText=rows, colLabels=["metric", "value"], loc="upper left", cellLoc="left")
        ax = fig.add_axes([0.12, 0.08, 0.8, 0.28])
        statuses = ["completed", "regressed", "failed"]
        ax.bar(statuses, [metrics[f"experiments_{s}"] for s in statuses], color=["#4c9a2a", "#d9a441", "#c0392b"])
        ax.set_title("Experiment status distribution")
        pdf.savefig(fig)
        plt.close(fig)
    return buffer.getvalue()


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
    markdown = f"# P08 test report\n\n{passed}/{len(results)} consistency rules pass.\n\n{_checks_markdown(results)}\n"
    return payload, markdown
