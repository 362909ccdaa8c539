"""The 13 consistency rules as asset checks on the asset each guards.

Every check is blocking, but only an integrity violation fails it with ERROR (which stops the
downstream assets); a governance finding fails it with WARN, which Dagster never blocks on. Each
result carries the offending ids and the figures worth a trend in the UI.
"""

import dagster as dg

import dataops_platform.metrics  # noqa: F401 - provides rule 13 with the metrics computation
from dataops_platform.artifacts import collector
from dataops_platform.artifacts.files import PARSED, Artifacts
from dataops_platform.defs.graph import ROWS
from dataops_platform.defs.resources import GovernanceResource
from dataops_platform.rules import RULES, Rule

# Which asset writes each artifact, so a check waits for every artifact its rule reads.
WRITER = {artifact: row.name for row in ROWS.values() for artifact in row.artifacts}


def _make_check(rule: Rule) -> dg.AssetChecksDefinition:
    extra = sorted({WRITER[a] if a in WRITER else a for a in rule.reads} - {rule.asset})
    extra = [name for name in extra if name in ROWS]

    @dg.asset_check(
        asset=rule.asset,
        name=rule.name,
        description=f"Rule {rule.number}: {rule.description}",
        blocking=True,
        additional_deps=extra,
    )
    def _check(context: dg.AssetCheckExecutionContext, governance: GovernanceResource) -> dg.AssetCheckResult:
        with PARSED.step(context.run.run_id), collector.paused():
            result = rule.fn(Artifacts(governance.artifacts_dir))
        offending = "\n".join(f"- {v}" for v in result.violations[:200]) or "none"
        findings = "\n".join(f"- {f}" for f in result.findings[:200]) or "none"
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR if result.violations else dg.AssetCheckSeverity.WARN,
            description=f"Rule {rule.number}: {result.status}",
            metadata={  # numbers here are plotted over time by the UI: only what is worth a trend
                "objects_checked": result.checked,
                "violations": len(result.violations),
                "findings": len(result.findings),
                "violation_ratio": round(len(result.violations) / result.checked, 4) if result.checked else 0.0,
                "offending": dg.MetadataValue.md(offending),
                "findings_list": dg.MetadataValue.md(findings),
            },
        )

    return _check


CHECKS: list[dg.AssetChecksDefinition] = [_make_check(rule) for rule in RULES]
