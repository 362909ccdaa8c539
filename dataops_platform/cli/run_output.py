"""What a materialisation did, for people and for --json: each rule that did not pass with its
offending ids (integrity violations and governance findings labelled apart), the steps that
failed, where Dagster's log is, and the exit code (0 while integrity holds, 1 when it is broken).
"""

from __future__ import annotations

from typing import Any

import typer

from dataops_platform.cli.output import console, labelled, plural, table
from dataops_platform.demo.materialize import CheckOutcome, MaterializeOutcome

SHOWN = 10  # offending ids printed per rule; --json gives them all
RESULT = {"passed": "passed", "finding": "FINDING (WARN)", "failed": "FAILED (ERROR)"}


def exit_code(outcome: MaterializeOutcome) -> int:
    """0 when every integrity rule holds (findings are printed, not fatal); 1 when integrity is
    broken or the run itself failed."""
    return 0 if outcome.integrity_ok else 1


def not_run(outcome: MaterializeOutcome) -> list[Any]:
    """The rules whose checks did not run (their asset was not built: something upstream failed)."""
    from dataops_platform.rules import RULES

    evaluated = {c.name for c in outcome.checks}
    return [rule for rule in RULES if rule.name not in evaluated]


def checks_table(outcome: MaterializeOutcome) -> None:
    rows = [(c.number, c.name, c.asset, RESULT[c.status]) for c in outcome.checks]
    rows += [(r.number, r.name, r.asset, "not run (upstream not built)") for r in not_run(outcome)]
    table("asset checks (Dagster)", ["rule", "check", "asset", "result"], sorted(rows, key=lambda r: (r[0] or 99, r[1])))


def _order(c: CheckOutcome) -> tuple[int, str]:
    return (c.number if c.number is not None else 99, c.name)


def _items(kind: str, items: list[str]) -> None:
    for item in items[:SHOWN]:
        console.print(f"    {kind}: {item}", highlight=False)
    if len(items) > SHOWN:
        console.print(f"    ... and {len(items) - SHOWN} more (`dataops materialize --json` lists them all)")


def explain(outcome: MaterializeOutcome) -> None:
    """Each rule that did not pass, integrity failures first, then the failed steps and a summary."""
    failed, findings = outcome.integrity_failures, outcome.finding_checks
    for c in sorted(failed, key=_order):
        count = plural(len(c.violations), "violation")
        console.print(
            labelled("FAILED", "bold red", f" rule {c.number} {c.name} on {c.asset}: integrity broken ({count}); "
                     "the assets downstream of it were not built"),
            highlight=False,
        )  # fmt: skip
        _items("violation", c.violations)
        _items("finding", c.findings)
        if c.note:
            console.print(f"    note: {c.note}", highlight=False)
    for c in sorted(findings, key=_order):
        count = plural(len(c.findings), "finding")
        console.print(
            labelled("FINDING", "yellow", f" rule {c.number} {c.name} on {c.asset}: {count} (governance; not blocking)"),
            highlight=False,
        )
        _items("finding", c.findings)
        if c.note:
            console.print(f"    note: {c.note}", highlight=False)
    for step, message in outcome.failed_steps:
        console.print(labelled("step failed", "bold red", f": {step}: {message}"), highlight=False)
    passed = sum(c.passed for c in outcome.checks)
    verdict = (
        "integrity holds" if outcome.integrity_ok
        else f"integrity broken by {plural(len(failed), 'rule')}" if failed else "the run failed"
    )  # fmt: skip
    with_findings = f"{plural(len(findings), 'rule')} with findings" if findings else "no findings"
    skipped = f" ({len(not_run(outcome))} not run)" if not_run(outcome) else ""
    console.print(
        f"checks: {passed}/{len(outcome.checks)} passed{skipped}; {verdict}; {with_findings} (run {outcome.run_id})",
        highlight=False,
    )
    if outcome.log_path is not None:
        # Plain echo, not Rich: a path is copied and grepped, never wrapped or marked up.
        typer.echo(f"Dagster log: {outcome.log_path}")


def as_data(outcome: MaterializeOutcome) -> dict[str, Any]:
    """The outcome for --json: every check with its rule number, status, violations and findings."""
    return {
        "success": outcome.success,
        "integrity_ok": outcome.integrity_ok,
        "exit_code": exit_code(outcome),
        "run_id": outcome.run_id,
        "checks_passed": sum(c.passed for c in outcome.checks),
        "checks_total": len(outcome.checks),
        "checks": [c.as_dict() for c in sorted(outcome.checks, key=_order)],
        "not_run": [r.name for r in not_run(outcome)],
        "failed_checks": [c.name for c in outcome.failed_checks],
        "integrity_failures": [c.name for c in outcome.integrity_failures],
        "findings": [c.name for c in outcome.finding_checks],
        "failed_steps": [{"step": step, "error": message} for step, message in outcome.failed_steps],
        "log_path": str(outcome.log_path) if outcome.log_path else None,
    }
